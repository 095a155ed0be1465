"""The shipped models: each a 16-bit weights file and its card, both in this folder, checked on load.

A model ``name`` is two files beside this module: ``name.pt`` (the averaged weights of a finished
run, stored in float16) and ``name.json`` (its card: how it was trained, on what, and what it
scores; :mod:`.export` writes both). :func:`load` reads the card, checks the weights file's
sha256 against it *before* unpickling anything (then ``torch.load(..., weights_only=True)``),
builds the network the card describes, checks that the weights fit it tensor by tensor, and
upcasts them to float32.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from ..utils import pick_device

__all__ = ["FOLDER", "RECIPES", "Recipe", "Pretrained", "available", "card", "load", "read_weights", "upcast_into",
           "weights_path", "card_path", "sha256", "family_trainer"]

FOLDER = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Recipe:
    """How a shipped model is made: the training command (run as printed) and what the model is."""

    description: str
    command: str

    @property
    def run_dir(self) -> str:
        """The run folder the command trains into (its ``--run-dir``)."""
        words = self.command.split()
        return words[words.index("--run-dir") + 1]


# The one place the shipped models' commands are written; `make pretrained` runs them and every
# card records the command that trained its weights.
_TIN = "--dataset tinyimagenet32 --epochs 100"
_PIX2PIX_15_MIN = f"python -m inpaint_lib.train pix2pix --preset demo {_TIN} --threads 2 --set ngf=24 " \
                  "time_budget_s=900 compile=false sample_every=0 checkpoint_every=1000 progress=false"
RECIPES: dict[str, Recipe] = {
    "pixelcnnpp": Recipe(
        "PixelCNN++ (1 gated ResNet block per stage, 80 filters, 10 logistics) trained 4.5 hours on a 2-core CPU",
        f"python -m inpaint_lib.train pixelcnnpp --preset demo {_TIN} --run-dir runs/pretrained/pixelcnnpp "
        "--threads 2 --resume --set nr_filters=80 nr_resnet=1 time_budget_s=16200 lr_schedule=linear "
        "decay_fraction=0.5 warmup_steps=100 ema_decay=0.9995 eval_every=4000 eval_images=500 checkpoint_every=250 "
        "log_every=100 compile=true progress=false"),
    "unet_l1": Recipe("the U-Net trained with the L1 loss alone (no discriminator), 15 minutes on a 2-core CPU",
                      f"{_PIX2PIX_15_MIN} netD=none --run-dir runs/pretrained/unet_l1"),
    "pix2pix_pixelgan": Recipe("Pix2Pix with the PixelGAN discriminator (1x1 patches), 15 minutes on a 2-core CPU",
                               f"{_PIX2PIX_15_MIN} netD=pixel --run-dir runs/pretrained/pix2pix_pixelgan"),
    "pix2pix_patchgan": Recipe("Pix2Pix with the 70x70 PatchGAN discriminator, 15 minutes on a 2-core CPU",
                               f"{_PIX2PIX_15_MIN} netD=patch --run-dir runs/pretrained/pix2pix_patchgan"),
    "pix2pix_dropout": Recipe("Pix2Pix (PatchGAN) whose generator keeps decoder dropout, the study's only noise "
                              "source, 15 minutes on a 2-core CPU",
                              f"{_PIX2PIX_15_MIN} netD=patch use_dropout=true "
                              "--run-dir runs/pretrained/pix2pix_dropout"),
}


class Pretrained(NamedTuple):
    model: nn.Module   # in eval mode, float32, on the device asked for
    card: dict         # the model's card (:func:`card`)


def weights_path(name: str, folder: str | Path | None = None) -> Path:
    return Path(folder or FOLDER) / f"{name}.pt"


def card_path(name: str, folder: str | Path | None = None) -> Path:
    return Path(folder or FOLDER) / f"{name}.json"


def _check_name(name: str) -> None:
    if name not in RECIPES:
        raise ValueError(f"no shipped model {name!r}; the course ships {', '.join(RECIPES)}")


def available(folder: str | Path | None = None) -> list[str]:
    """The names of the shipped models whose card and weights are both in the package (or ``folder``)."""
    return [name for name in RECIPES if card_path(name, folder).is_file() and weights_path(name, folder).is_file()]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def card(name: str, folder: str | Path | None = None) -> dict:
    """The card of model ``name``: command, data and terms, hardware, training time, figures, sha256."""
    _check_name(name)
    path = card_path(name, folder)
    if not path.is_file():
        raise FileNotFoundError(f"the card of {name!r} is missing ({path}); rebuild it with "
                                f"`python -m inpaint_lib.pretrained export {name}` or restore it with git")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"the card {path} is not valid JSON ({err}); restore it with git") from None


def family_trainer(family: str):
    """The trainer class of a model family (``"pixelcnnpp"``, ``"pix2pix"``): it builds the network."""
    from ..training.__main__ import trainer_class
    return trainer_class(family)


def _build(model_card: dict, name: str) -> nn.Module:
    cls = family_trainer(model_card["family"])
    try:
        config = cls.config_class.from_saved(model_card["config"], device="cpu")
    except (TypeError, ValueError) as err:
        raise ValueError(f"the card of {name!r} describes no {model_card['family']} this course can build "
                         f"({err}); restore it with git") from None
    return cls.build_model(config)


def _check_fit(model: nn.Module, weights: dict[str, torch.Tensor], name: str, folder: str | Path | None) -> None:
    """The weights have exactly the tensors, and shapes, of the network the card describes."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in weights.items()}
    if expected == got:
        return
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    what = (f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra
            else f"{wrong[0]} is {got[wrong[0]]}, the card's network has {expected[wrong[0]]}")
    raise ValueError(f"the weights {weights_path(name, folder).name} belong to another architecture than the card of "
                     f"{name!r} describes ({what}); re-export both with `python -m inpaint_lib.pretrained export "
                     f"{name}`")


def read_weights(name: str, model_card: dict, folder: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The state dict in ``name.pt``, after its sha256 matched the card's: 16-bit tensors as stored."""
    path = weights_path(name, folder)
    if not path.is_file():
        raise FileNotFoundError(f"the weights of {name!r} are missing ({path}); restore them with git "
                                f"(`git checkout -- {path.name}`) or rebuild them with `make pretrained`")
    data = path.read_bytes()
    digest = sha256(data)
    if digest != model_card["weights"]["sha256"]:
        raise ValueError(f"{path.name} does not match its card (sha256 {digest[:12]}..., the card says "
                         f"{model_card['weights']['sha256'][:12]}...): the file is corrupt or from another export; "
                         "restore both with git")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def upcast_into(model: nn.Module, weights: dict[str, torch.Tensor]) -> nn.Module:
    """``model`` in eval mode holding ``weights`` (e.g. the stored 16-bit ones), each cast to the model's own dtype."""
    reference = model.state_dict()
    model.load_state_dict({k: v.to(reference[k].dtype) for k, v in weights.items()})
    return model.eval()


def load(name: str, device: str | torch.device = "cpu", folder: str | Path | None = None) -> Pretrained:
    """Shipped model ``name`` in eval mode on ``device`` (float32), and its card.

    The network is the one the card's configuration builds (``PixelCNNpp`` or the U-Net
    generator); its weights are the run's average, stored in float16 and upcast here.
    ``folder``: where the two files are (default: the package's own).
    """
    model_card = card(name, folder)
    weights = read_weights(name, model_card, folder)
    model = _build(model_card, name)
    _check_fit(model, weights, name, folder)
    return Pretrained(upcast_into(model, weights).to(pick_device(str(device))), model_card)
