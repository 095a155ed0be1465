"""The package's public names: each module's ``__all__`` holds, and the families export what the notebooks use."""

import importlib
import inspect
import pkgutil
import re

import pytest

import inpaint_lib

# every module of the package, found by walking it (a new module is checked without being listed here)
MODULES = sorted(info.name for info in pkgutil.walk_packages(inpaint_lib.__path__, prefix="inpaint_lib."))

# the names the notebooks import from the two family packages
NOTEBOOK_NAMES = {
    "inpaint_lib.pix2pix": ["UnetGenerator", "NLayerDiscriminator", "PixelDiscriminator", "Pix2PixTrainer",
                            "make_config"],
    "inpaint_lib.pixelcnnpp": ["PixelCNNpp", "discretized_mix_logistic_loss", "bits_per_dim", "inpaint",
                               "PixelCNNppTrainer", "make_config"],
}


def defined_here(module) -> list[str]:
    """The public top-level functions and classes written in ``module`` itself (not imported into it)."""
    names = []
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        # functools.wraps / lru_cache / contextmanager keep the original function behind __wrapped__
        if not (inspect.isclass(obj) or inspect.isfunction(inspect.unwrap(obj))):
            continue
        if getattr(obj, "__module__", None) == module.__name__:
            names.append(name)
    return names


def test_the_walk_finds_the_whole_package():
    for name in ("inpaint_lib.utils", "inpaint_lib.pix2pix.networks", "inpaint_lib.pixelcnnpp.model",
                 "inpaint_lib.training.trainer", "inpaint_lib.data.store", "inpaint_lib.course.demo"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_every_public_definition_is_listed(name):
    module = importlib.import_module(name)  # every module must import, __all__ or not
    if not hasattr(module, "__all__"):
        return  # nothing promised (a skip per module would fill the -ra summary)
    listed = list(module.__all__)
    assert all(isinstance(n, str) for n in listed), f"{name}.__all__ must hold names (strings)"
    duplicates = sorted({n for n in listed if listed.count(n) > 1})
    assert not duplicates, f"{name}.__all__ lists {', '.join(duplicates)} more than once"
    missing = [n for n in listed if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists {', '.join(missing)}, which {name} does not have"
    unlisted = sorted(set(defined_here(module)) - set(listed))
    assert not unlisted, (f"{name}.__all__ leaves out {', '.join(unlisted)}, defined there: list each public "
                          "function and class, or start an internal one's name with _")


@pytest.mark.parametrize("package", sorted(NOTEBOOK_NAMES))
def test_family_packages_export_what_the_notebooks_use(package):
    module = importlib.import_module(package)
    names = NOTEBOOK_NAMES[package]
    missing = [n for n in names if n not in getattr(module, "__all__", ())]
    assert not missing, f"{package}.__all__ does not export {', '.join(missing)}, which the notebooks import"
    assert all(hasattr(module, n) for n in names)


def package_map() -> list[str]:
    """The modules named in the map of ``inpaint_lib``'s docstring, as full names (indentation = nesting)."""
    names, parents = [], []
    for line in inpaint_lib.__doc__.splitlines():
        entry = re.match(r"^( *)- ``([\w.]+)``", line)
        if entry:
            depth = len(entry[1]) // 2
            parents[depth:] = [entry[2]]
            names.append(".".join(["inpaint_lib", *parents]))
    return names


def test_the_package_docstring_maps_every_module():
    mapped = package_map()
    assert len(set(mapped)) == len(mapped), "a module is in the map of inpaint_lib/__init__.py twice"
    unmapped, gone = sorted(set(MODULES) - set(mapped)), sorted(set(mapped) - set(MODULES))
    assert not unmapped, f"add to the map in inpaint_lib/__init__.py's docstring: {', '.join(unmapped)}"
    assert not gone, f"the map in inpaint_lib/__init__.py's docstring names modules that are gone: {', '.join(gone)}"
