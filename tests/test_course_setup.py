"""The course's own conventions: one pinned stack, clean notebooks, CI that runs the README's command."""

import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb")) + sorted((REPO / "solutions").glob("*.ipynb"))


def lock_pins() -> dict[str, str]:
    """Package -> pinned version; a package pinned twice (one pin per Python, by environment marker) -> the first."""
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==", 1)
            pins.setdefault(name.lower().replace("_", "-"), version.split(";")[0].strip())
    return pins


def test_every_top_level_requirement_is_pinned_in_the_lock():
    pins = lock_pins()
    for line in (REPO / "requirements.in").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name = re.split(r"[=<>!~\[ ]", line)[0].lower()
        assert name in pins, f"{name} is in requirements.in but not pinned in requirements.lock (make lock)"
        if "==" in line:
            assert pins[name] == line.split("==")[1], f"{name}: requirements.in and the lock disagree"


def test_environment_yml_describes_the_same_stack():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python>=3.11,<3.14" in deps and "pip" in deps, "conda's Python: the supported 3.11-3.13"
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "-r requirements.lock" in pip_section, "conda must install the same pins as the venv"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / ".ci" / "run").read_text()
    assert "make test" in (REPO / "README.md").read_text() and "make demo" in (REPO / "README.md").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test:.*\n\t.*python -m inpaint_lib.course test$", makefile, re.M)
    from inpaint_lib.course.__main__ import TEST_COMMANDS
    assert [c[:3] for c in TEST_COMMANDS] == [["-m", "pytest", "tests"], ["-m", "pytest", "--nbval-lax"]]
    assert TEST_COMMANDS[1][3:5] == ["notebooks", "solutions"]


def test_ci_lints_first_and_the_readme_command_still_runs_the_slow_tests():
    ci = (REPO / ".ci" / "run").read_text()
    assert "make lint" in ci and ci.index("make lint") < ci.index("make test"), ".ci/run lints before it tests"
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^lint:.*\n\t.*ruff check inpaint_lib tests benchmarks$", makefile, re.M)
    assert re.search(r'^test-fast:.*\n\t.*pytest -m "not slow" tests$', makefile, re.M)
    from inpaint_lib.course.__main__ import TEST_COMMANDS
    assert all("not slow" not in c for c in TEST_COMMANDS), "`make test` runs every test"
    assert "ruff" in lock_pins(), "ruff is pinned in requirements.lock like the rest of the stack"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_conventions(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3", "other kernels are not installed (NoSuchKernel)"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "strip the outputs"
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    if path.parent.name == "notebooks":
        assert re.match(r"\d\d_[a-z0-9_]+\.ipynb$", path.name)
        assert tagged == [1], "the first code cell after the imports is the tagged parameters cell"
    for i in tagged:
        for node in ast.parse(code[i].source).body:
            assert isinstance(node, ast.Assign), f"parameters cell of {path.name}: only assignments"
            ast.literal_eval(node.value)  # literals only: papermill overrides must be the whole story
        if path.parent.name == "notebooks":
            assert "run_dir" in code[i].source, f"{path.name}: the parameters cell must offer run_dir"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parent.name == "notebooks"], ids=lambda p: p.name)
def test_papermill_sees_every_parameter(path):
    """papermill must parse each line of the parameters cell, or `-p name value` is silently ignored."""
    import papermill
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assigned = [n.targets[0].id for n in ast.parse(cell.source).body]
    assert list(papermill.inspect_notebook(str(path))) == assigned


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parent.name == "notebooks"], ids=lambda p: p.name)
def test_every_notebook_refuses_a_misspelt_parameter_in_one_line(path, monkeypatch):
    """The notebook's first cells as papermill runs them (imports, parameters, the injected cell, the next
    cell), in this process: the cell after the parameters must stop on the unknown name before it does anything."""
    import matplotlib
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook
    matplotlib.use("Agg")
    monkeypatch.chdir(path.parent)
    nb = parameterize_notebook(load_notebook_node(str(path)), {"n_imagez": 3})   # as `papermill -p` does
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "injected-parameters" in code[2].metadata.get("tags", [])
    namespace: dict = {}
    for cell in code[:3]:
        exec(compile(cell.source, path.name, "exec"), namespace)
    with pytest.raises(ValueError, match=r"unknown notebook parameter\(s\) n_imagez; this notebook takes ") as info:
        exec(compile(code[3].source, path.name, "exec"), namespace)
    assert "\n" not in str(info.value)
    assert "dataset" in str(info.value) or "epochs" in str(info.value)


def test_check_parameters_catches_unknown_names():
    from inpaint_lib.utils import check_parameters
    before = {"torch", "np"}
    check_parameters({"torch": 1, "np": 2, "epochs": 3, "_": 4}, before, ["epochs"])
    with pytest.raises(ValueError, match="unknown notebook parameter\\(s\\) epoch; this notebook takes epochs"):
        check_parameters({"torch": 1, "epochs": 3, "epoch": 50}, before, ["epochs"])


def test_make_demo_points_notebook_06_at_the_runs_of_02_03_and_05(tmp_path, monkeypatch):
    """`make demo` writes every run under one folder; notebook 06 must be told where, or it retrains."""
    from inpaint_lib.course import demo as course
    calls = []
    monkeypatch.setattr(course, "run_notebook", lambda nb, out, parameters=None: calls.append((nb.stem, parameters))
                        or out / nb.name)
    course.demo(tmp_path, only=["02", "06"])
    assert calls[0] == ("02_unet", {})
    assert calls[1] == ("06_inpainting", {"unet_run": str(tmp_path / "02_unet" / "l1_unet"),
                                          "pixelgan_run": str(tmp_path / "03_pix2pix" / "pixelgan"),
                                          "patchgan_run": str(tmp_path / "03_pix2pix" / "patchgan"),
                                          "dropout_run": str(tmp_path / "03_pix2pix" / "patchgan_dropout"),
                                          "pixelcnnpp_run": str(tmp_path / "05_train_pixelcnnpp" / "demo")})
    # the same layout as the notebooks' own defaults, which write under runs/<notebook name>
    cell = next(c for c in nbformat.read(REPO / "notebooks" / "06_inpainting.ipynb", as_version=4).cells
                if "parameters" in c.metadata.get("tags", []))
    defaults = {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse(cell.source).body}
    for name, relative in course.UPSTREAM_RUNS["06_inpainting"].items():
        assert defaults[name] == f"runs/{relative}"


def test_demo_on_another_data_set_gives_each_notebook_the_parameters_it_declares():
    from inpaint_lib.course.demo import dataset_parameters, default_out, lecture_notebooks

    notebooks = {nb.stem[:2]: nb for nb in lecture_notebooks()}
    assert dataset_parameters(notebooks["00"], "tinyimagenet32") == {"dataset": "tinyimagenet32", "test_split": "val"}
    assert dataset_parameters(notebooks["05"], "tinyimagenet32") == {"dataset": "tinyimagenet32"}  # no test_split
    assert dataset_parameters(notebooks["06"], "cifar10") == {"dataset": "cifar10"}
    assert dataset_parameters(notebooks["01"], None) == {}
    assert default_out(None).name == "demo" and default_out("sample").name == "demo"
    assert default_out("tinyimagenet32").name == "demo-tinyimagenet32"


def test_demo_on_a_missing_data_set_stops_in_one_line(tmp_path, monkeypatch, capsys):
    from inpaint_lib.course.demo import main

    monkeypatch.setenv("INPAINT_DATA", str(tmp_path))
    assert main(["demo", "--dataset", "tinyimagenet32", "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "download tinyimagenet32" in error
    assert not (tmp_path / "out").exists()
