"""The shipped models: exported from a run, checked on load, their cards' figures recomputed.

Two halves: tiny runs trained here by a recipe's command and exported into a temporary folder
(the whole path, every error), and the models the package ships (checksums, sizes, the card's
command, the storage cost, and each card's check figures recomputed on Tiny ImageNet 32 val).
"""

from __future__ import annotations

import json
import math
import tomllib

import pytest
import torch

from inpaint_lib import pretrained
from inpaint_lib.pretrained import RECIPES, Recipe
from inpaint_lib.pretrained.export import STORAGE_DTYPE, TEMPERATURES, export, measure_check
from inpaint_lib.pretrained.registry import FOLDER, card_path, weights_path
from inpaint_lib.training import CHECKPOINT_NAME
from inpaint_lib.training.__main__ import PROGRAM, config_from_command
from inpaint_lib.training.__main__ import main as train_main
from inpaint_lib.training.checkpoint import load_checkpoint
from inpaint_lib.utils import REPO_ROOT

TINY_COMMANDS = {
    "pixelcnnpp": "pixelcnnpp --dataset cifar10 --max-steps 4 --set nr_filters=8 nr_logistic_mix=3 batch_size=8 "
                  "eval_every=0 checkpoint_every=2 compile=false progress=false",
    "pix2pix": "pix2pix --dataset sample --max-steps 4 --set ngf=8 ndf=8 batch_size=8 use_dropout=true netD=patch "
               "sample_every=0 checkpoint_every=2 progress=false",
}


@pytest.fixture
def tiny_export(tiny_root, tmp_path, monkeypatch):
    """Factory: train a tiny model of ``family`` with its recipe's command, export it into a temporary folder."""
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))

    def make(family: str):
        name = f"tiny_{family}"
        command = f"{PROGRAM} {TINY_COMMANDS[family]} --run-dir {tmp_path / name}"
        monkeypatch.setitem(RECIPES, name, Recipe(f"a tiny {family} for the tests", command))
        assert train_main(command.split()[len(PROGRAM.split()):]) == 0
        folder = tmp_path / "shipped"
        model_card = export(name, tmp_path / name, folder=folder, completion_images=4, sweep_images=2,
                            check_images={"likelihood": 8, "completions": 2}, progress=False)
        return name, folder, model_card

    return make


@pytest.mark.parametrize("family", ["pixelcnnpp", "pix2pix"])
def test_export_stores_the_average_in_16_bits_and_load_gives_it_back(tiny_export, tmp_path, family):
    name, folder, model_card = tiny_export(family)
    assert pretrained.available(folder) == [name]
    model, loaded_card = pretrained.load(name, folder=folder)
    assert loaded_card == model_card and not model.training
    state = load_checkpoint(tmp_path / name / CHECKPOINT_NAME)
    average = state["ema"]["weights"]
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            assert value.dtype == torch.float32
            assert torch.equal(value, average[key].to(STORAGE_DTYPE).float()), key
        else:
            assert torch.equal(value, average[key])
    stored = torch.load(weights_path(name, folder), weights_only=True)
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {STORAGE_DTYPE}
    assert model_card["weights"]["bytes"] == weights_path(name, folder).stat().st_size
    assert model_card["training"]["steps"] == 4 and model_card["data"]["train_images"] in (48, 64)
    assert [(leg["first_step"], leg["last_step"]) for leg in model_card["training"]["legs"]] == [(0, 4)]
    cls, config = config_from_command(model_card["command"])
    assert cls.kind == family and config.to_dict() == model_card["config"]


def test_the_list_says_in_how_many_legs_a_model_was_trained(monkeypatch):
    from inpaint_lib.pretrained import __main__ as cli
    shipped = json.loads(card_path("unet_l1").read_text())
    for legs, expected in (([{}], "15 min, "), ([{}, {}, {}], "15 min in 3 legs, ")):
        monkeypatch.setattr(cli, "card", lambda name, c=dict(shipped, training=dict(shipped["training"], legs=legs)): c)
        assert expected in cli._summary("unet_l1")


def test_the_dropout_generators_completions_differ_and_pixelcnnpp_has_a_temperature(tiny_export):
    _, _, pix2pix_card = tiny_export("pix2pix")
    assert pix2pix_card["figures"]["completions"]["diversity"] > 0          # dropout kept on
    _, _, pixelcnnpp_card = tiny_export("pixelcnnpp")
    sweep = pixelcnnpp_card["figures"]["temperatures"]
    assert [row["temperature"] for row in sweep] == list(TEMPERATURES)
    best = min(sweep, key=lambda row: abs(row["sharpness"] - 1))
    assert pixelcnnpp_card["recommended_temperature"] == best["temperature"]
    assert abs(pixelcnnpp_card["storage"]["cost_bpd"]) < 0.05


def test_a_corrupt_or_missing_file_or_a_card_of_another_architecture_is_one_line(tiny_export):
    name, folder, model_card = tiny_export("pixelcnnpp")
    path = weights_path(name, folder)
    good = path.read_bytes()
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(ValueError, match=r"does not match its card \(sha256") as info:
        pretrained.load(name, folder=folder)
    assert "\n" not in str(info.value)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="the weights of 'tiny_pixelcnnpp' are missing"):
        pretrained.load(name, folder=folder)
    path.write_bytes(good)
    other = json.loads(card_path(name, folder).read_text())
    other["config"]["nr_filters"] = 16
    card_path(name, folder).write_text(json.dumps(other))
    with pytest.raises(ValueError, match="belong to another architecture than the card") as info:
        pretrained.load(name, folder=folder)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="no shipped model 'gan9000'; the course ships pixelcnnpp"):
        pretrained.load("gan9000")


# -- the models the package ships ------------------------------------------------------------------

SHIPPED = pretrained.available()
MB = 1_000_000


def test_the_shipped_files_fit_the_size_caps_and_are_package_data():
    sizes = {name: weights_path(name).stat().st_size for name in SHIPPED}
    assert all(size <= 10 * MB for size in sizes.values()), sizes
    assert sum(sizes.values()) <= 30 * MB, sizes
    package_data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert set(package_data["inpaint_lib.pretrained"]) >= {"*.pt", "*.json"}


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_model_loads_and_its_card_says_how_it_was_made(name):
    model, model_card = pretrained.load(name)
    assert model_card["command"] == RECIPES[name].command
    cls, config = config_from_command(model_card["command"])
    assert config.to_dict() == model_card["config"], "the card's command builds another configuration"
    assert cls.kind == model_card["family"]
    assert model_card["weights"]["parameters"] == sum(v.numel() for v in model.state_dict().values()
                                                      if v.is_floating_point())
    assert model_card["data"]["terms"] and model_card["training"]["torch"]
    if model_card["family"] == "pixelcnnpp":
        assert abs(model_card["storage"]["cost_bpd"]) <= 0.005


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_cards_check_figures_are_recomputed_on_tiny_imagenet_val(name, real_data_root):
    from inpaint_lib import data
    model, model_card = pretrained.load(name)
    check = model_card["check"]
    images = data.load_split(model_card["data"]["dataset"], model_card["figures"]["split"], root=real_data_root)
    counts = {part: check[part]["n_images"] for part in ("likelihood", "completions") if part in check}
    again = measure_check(model, model_card["family"], model_card["config"], images,
                          model_card.get("recommended_temperature", 1.0), {"likelihood": 0, **counts})
    tolerance = check["tolerance"]
    for part in ("likelihood", "completions"):
        for key, value in check.get(part, {}).items():
            if isinstance(value, float) and not math.isnan(value):
                assert abs(again[part][key] - value) <= tolerance.get(key, 1e-6), (part, key, again[part][key], value)


def test_the_package_folder_holds_nothing_but_cards_weights_and_code():
    stray = [p.name for p in FOLDER.iterdir()
             if p.suffix not in (".py", ".pt", ".json") and p.name != "__pycache__"]
    assert not stray, stray


def test_the_recommended_temperature_is_chosen_on_images_no_reported_figure_uses():
    figures = pretrained.card("pixelcnnpp")["figures"]
    start = int(figures["temperature_sweep_images"].removeprefix(f"{figures['split']}[").removesuffix(":]"))
    reported = max(figures["completions"]["n_images"], figures["completions_at_recommended_temperature"]["n_images"])
    assert start >= reported, f"the sweep's images ({figures['temperature_sweep_images']}) overlap the reported ones"
    assert start + figures["temperatures"][0]["n_images"] == figures["likelihood"]["n_images"]
