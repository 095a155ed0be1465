"""Making a shipped model from a finished run: its 16-bit weights, its figures measured, its card.

:func:`export` takes the run a recipe (:data:`.registry.RECIPES`) trained, stores the averaged
weights in float16, and measures, on the data set's held-out split and with the course's own
evaluation (:func:`inpaint_lib.evaluation.complete` and :func:`~inpaint_lib.evaluation.score`):

- PixelCNN++: bits/dim of whole images and conditional bits/dim of the lower half given the upper
  (:func:`figures_of_likelihood`), both with the float32 weights and with the 16-bit ones the
  package ships (what the storage costs); a sweep of sampling temperatures (:func:`figures_of_completions`
  at each: L1, PSNR, SSIM, sharpness (the median over images, :func:`~inpaint_lib.metrics.median_over_images`),
  diversity of drawn lower halves and their bits/dim under the model), and the recommended
  temperature: the one whose completions have the truth's local detail (sharpness closest to 1);
- Pix2Pix: the completions' L1, PSNR, SSIM and sharpness, and their diversity when the generator
  has dropout (kept on, as the study's only noise).

The card also holds ``check``: the same figures on the first images of the split, small enough
for a test to recompute in CI, with the tolerance each may differ by (:func:`check_tolerances`).
"""

from __future__ import annotations

import datetime
import json
import math
import platform
from pathlib import Path

import torch
from torch import nn

from .. import data
from ..evaluation import complete, score
from ..masks import get_mask
from ..metrics import all_metrics, sharpness
from ..training import CHECKPOINT_NAME
from ..training.checkpoint import load_checkpoint
from ..training.log import read_log
from ..utils import REPO_ROOT, atomic_write, describe_machine, full_float32, host_float64, seed_everything
from .registry import FOLDER, RECIPES, card_path, family_trainer, sha256, upcast_into, weights_path

__all__ = ["TERMS", "STORAGE_DTYPE", "TEMPERATURES", "to_storage", "figures_of_likelihood", "figures_of_completions",
           "temperature_sweep", "recommended_temperature", "check_tolerances", "measure_check", "training_curve",
           "export"]

STORAGE_DTYPE = torch.float16
TEMPERATURES = (1.0, 0.95, 0.9, 0.85, 0.8, 0.7)
SEED = 0

# what the data sets' images may be used for; a card names the data its model learnt from
TERMS = {
    "tinyimagenet32": "Tiny ImageNet (Stanford CS231n), 200 ImageNet classes, box-downsampled to 32x32: derived from "
                      "ImageNet and under its terms of access, for non-commercial research and teaching only",
    "imagenet32": "downsampled ImageNet 32x32 (Chrabaszcz et al. 2017): under the ImageNet terms of access, for "
                  "non-commercial research and teaching only",
    "cifar10": "CIFAR-10 (Krizhevsky 2009), as published by its authors",
    "sample": "crops of the photographs scikit-image ships (their licences are in scikit-image's data folder)",
}

# figures a recomputation must reproduce closely (deterministic: float32 sums in another order), and
# figures of drawn samples, which another machine's arithmetic may draw differently (see check_tolerances)
EXACT_TOLERANCE = {"bpd": 1e-3, "conditional_bpd": 1e-3, "l1_x100": 0.01, "psnr": 0.01, "ssim": 1e-3,
                   "sharpness": 1e-3, "diversity": 0.01, "bpd_under_pixelcnnpp": 1e-3}


def to_storage(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict as shipped: floating tensors in :data:`STORAGE_DTYPE`, integer buffers unchanged."""
    return {k: (v.detach().to("cpu", STORAGE_DTYPE) if v.is_floating_point() else v.detach().cpu()).contiguous()
            for k, v in weights.items()}


@torch.no_grad()
def figures_of_likelihood(model: nn.Module, images: torch.Tensor, batch_size: int = 50) -> dict[str, float]:
    """Bits/dim of ``images`` (uint8 (N, 32, 32, 3)) and conditional bits/dim of their lower half, in one pass.

    From the per-pixel log-likelihoods ``log p(x_t | x_<t)`` of one teacher-forced pass:
    ``bpd = -sum_images sum_t log p / (N * 3 * 32 * 32 * ln 2)``, and ``conditional_bpd`` the mean over
    images of ``-sum_{t in lower half} log p / (3 * 512 * ln 2)``, which is
    :func:`~inpaint_lib.pixelcnnpp.conditional_bits_per_dim` (the lower half comes after the upper).
    Full float32 (no TF32) on the model's device; the sums in float64 on the host
    (:func:`inpaint_lib.utils.host_float64`: an Apple GPU has no float64).
    """
    from ..pixelcnnpp import discretized_mix_logistic_log_prob
    device = next(model.parameters()).device
    mask = get_mask("lower_half")
    nats, conditional = 0.0, []
    with full_float32():
        for start in range(0, len(images), batch_size):
            x = data.to_float(images[start: start + batch_size]).to(device)
            log_p = host_float64(discretized_mix_logistic_log_prob(x, model.eval()(x)))   # (B, H, W), nats
            nats -= log_p.sum().item()
            conditional.append(-(log_p * mask).sum(dim=(1, 2)) / (3 * mask.sum() * math.log(2)))
    return {"n_images": len(images), "bpd": nats / (len(images) * 3 * 32 * 32 * math.log(2)),
            "conditional_bpd": torch.cat(conditional).mean().item()}


def _method(model: nn.Module, family: str, config: dict, temperature: float):
    if family == "pixelcnnpp":
        from ..pixelcnnpp import inpainting_method
        return inpainting_method(model, seed=SEED, temperature=temperature)
    from ..pix2pix import inpainting_method
    return inpainting_method(model, dropout=bool(config.get("use_dropout")))


def _median_standard_error(v: torch.Tensor) -> float:
    """A distribution-free standard error of the median of ``v`` (1-D, no NaN): its 95 % interval / 3.92.

    The order statistics of ranks ``n/2 -+ 1.96 sqrt(n)/2`` (the normal approximation of
    Bin(n, 1/2)) bracket the median with about 95 % probability whatever the distribution; the
    interval between them is about 2 x 1.96 standard errors wide.
    """
    n = len(v)
    if n < 2:
        return 0.0
    ordered = v.sort().values
    half = 1.96 * math.sqrt(n) / 2
    low, high = max(0, math.floor(n / 2 - half)), min(n - 1, math.ceil(n / 2 + half) - 1)
    return ((ordered[high] - ordered[low]) / 3.92).item()


def _spread(samples: torch.Tensor, images: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """The standard error of each figure over images and completions (for the check's tolerance): that of
    the mean for the means, of the median for sharpness (:func:`~inpaint_lib.metrics.median_over_images`)."""
    values: dict[str, list[torch.Tensor]] = {}
    for sample in samples:
        for name, v in {**all_metrics(sample, images, mask), "sharpness": sharpness(sample, images, mask)}.items():
            values.setdefault(name, []).append(host_float64(v))
    out = {}
    for name, parts in values.items():
        v = torch.cat(parts)
        v = v[~torch.isnan(v)]
        if name == "sharpness":
            out[name] = _median_standard_error(v)
        else:
            out[name] = (v.std() / math.sqrt(len(v))).item() if len(v) > 1 else 0.0
    return out


@torch.no_grad()
def figures_of_completions(model: nn.Module, family: str, config: dict, images: torch.Tensor, n_completions: int,
                           temperature: float = 1.0, spread: bool = False) -> dict[str, float]:
    """Scores of ``n_completions`` lower halves per image (uint8 (N, 32, 32, 3)) drawn by ``model``.

    :func:`inpaint_lib.evaluation.score`: L1, PSNR, SSIM, sharpness (1 = the truth's local detail),
    the diversity of the completions (n >= 2) and, for PixelCNN++, their conditional bits/dim under
    the model itself. Seeded (:data:`SEED`): the same call draws the same pixels on the same
    machine. With ``spread``, also each metric's standard error (key ``"standard_error"``).
    """
    x = data.to_float(images)
    seed_everything(SEED)                     # Pix2Pix's dropout draws from the global generator
    # PixelCNN++'s sampler caches every activation of its batch: 100 images keep that to a few hundred MB
    completions = complete(_method(model, family, config, temperature), x, "lower_half", n=n_completions,
                           batch_size=100 if family == "pixelcnnpp" else 500)
    density = model if family == "pixelcnnpp" else None
    figures = score(completions, x, "lower_half", density_model=density)
    figures.pop("seconds_per_image")
    result = {"n_images": len(images), "n_completions": n_completions, **figures}
    if family == "pixelcnnpp":
        result["temperature"] = temperature
    if spread:
        result["standard_error"] = _spread(completions.samples, x, get_mask("lower_half"))
    return result


def temperature_sweep(model: nn.Module, family: str, config: dict, images: torch.Tensor, sweep_images: int,
                      reported_images: int) -> list[dict]:
    """:func:`figures_of_completions` (2 each) at every one of :data:`TEMPERATURES`, on the **last** ``sweep_images``
    of the split: the temperature is chosen on images that no reported figure (the first ``reported_images``, the
    check's) uses, so the figures at the chosen temperature are not fitted to it."""
    if sweep_images + reported_images > len(images):
        raise ValueError(f"{len(images)} held-out images cannot hold a sweep of {sweep_images} apart from the "
                         f"{reported_images} reported; lower sweep_images or completion_images")
    return [figures_of_completions(model, family, config, images[len(images) - sweep_images:], 2, t)
            for t in TEMPERATURES]


def recommended_temperature(sweep: list[dict]) -> float:
    """The temperature whose completions are as detailed as the truth: sharpness closest to 1.

    Sharpness is the median over images (:func:`inpaint_lib.evaluation.score`): exactly 1 for completions
    drawn from the true conditional distribution (:func:`~inpaint_lib.metrics.median_over_images`).
    """
    return min(sweep, key=lambda row: abs(row["sharpness"] - 1.0))["temperature"]


def _sampled(family: str, config: dict) -> bool:
    return family == "pixelcnnpp" or bool(config.get("use_dropout"))


def check_tolerances(family: str, config: dict, completions: dict) -> dict[str, float]:
    """How far a recomputed check figure may lie from the card's.

    Figures of a deterministic computation (likelihoods; completions of a generator without
    dropout): :data:`EXACT_TOLERANCE` (float32 sums in another order). Figures of drawn samples
    reproduce exactly on a machine like the exporter's, but a CPU with other vector instructions
    can round one draw to the neighbouring level, after which the samples go their own ways: four
    standard errors of the check's mean then (a false alarm about once in 15,000).
    """
    tolerance = dict(EXACT_TOLERANCE)
    if _sampled(family, config):
        for name, se in completions["standard_error"].items():
            tolerance[name] = max(EXACT_TOLERANCE.get(name, 0.0), 4 * se)
        tolerance["diversity"] = max(tolerance["diversity"], tolerance["l1_x100"])
        tolerance["bpd_under_pixelcnnpp"] = max(tolerance["bpd_under_pixelcnnpp"], 0.05)
    return tolerance


CHECK_IMAGES = {"likelihood": 500, "completions": 64}


def measure_check(model: nn.Module, family: str, config: dict, images: torch.Tensor, temperature: float,
                  counts: dict[str, int] | None = None, spread: bool = False) -> dict:
    """The check figures: the likelihood of the first ``counts["likelihood"]`` images (PixelCNN++) and the
    completions of the first ``counts["completions"]`` (2 each when drawn); :data:`CHECK_IMAGES` by default."""
    counts = counts or CHECK_IMAGES
    n = 2 if _sampled(family, config) else 1
    out = {"completions": figures_of_completions(model, family, config, images[:counts["completions"]], n,
                                                 temperature, spread)}
    if family == "pixelcnnpp":
        out["likelihood"] = figures_of_likelihood(model, images[:counts["likelihood"]])
    return out


CURVE_POINTS = 60


def training_curve(run_dir: Path) -> dict[str, list[float]]:
    """The run's log, thinned for the card: about :data:`CURVE_POINTS` rows, every row with a test figure, the last.

    Columns: step, seconds (training wall time) and the family's logged and test figures (None: not measured
    at that row), so that the card stays strict JSON.
    """
    log = read_log(run_dir)
    n = len(log["step"])
    tested = [k for k in log if k.startswith("test_")]
    stride = max(1, n // CURVE_POINTS)
    keep = [i for i in range(n) if i % stride == 0 or i == n - 1
            or any(not math.isnan(log[k][i]) for k in tested)]
    drop = {"epoch", "lr", "images_per_s", "skipped"}
    return {k: [None if math.isnan(log[k][i]) else round(log[k][i], 4) for i in keep] for k in log if k not in drop}


def _train_images(dataset: str, root) -> int:
    return len(data.load_split(dataset, "train", root=root))


def export(name: str, run_dir: str | Path | None = None, folder: str | Path | None = None,
           root: str | Path | None = None, likelihood_images: int | None = None, completion_images: int = 1000,
           sweep_images: int = 250, check_images: dict[str, int] | None = None, progress: bool = True) -> dict:
    """Write ``name.pt`` and ``name.json`` into ``folder`` (the package's) from the finished run.

    ``run_dir``: the run the recipe trained (default: its ``--run-dir``, under the repository).
    Measured on the held-out split of the run's data set (``root``: its data root): likelihoods on
    ``likelihood_images`` (None: all), completions of ``completion_images``, the temperature sweep
    on ``sweep_images``, the check on ``check_images`` (:data:`CHECK_IMAGES`). Returns the card.
    """
    recipe = RECIPES[name]
    run_dir = Path(run_dir) if run_dir is not None else REPO_ROOT / recipe.run_dir
    folder = Path(folder) if folder is not None else FOLDER
    state = load_checkpoint(run_dir / CHECKPOINT_NAME)
    family = state["kind"]
    cls = family_trainer(family)
    cls.check_checkpoint(state, run_dir / CHECKPOINT_NAME)
    config = state["config"]
    averaged = "ema" in state
    weights = state["ema"]["weights"] if averaged else state["networks"][cls.model_name]
    stored = to_storage(weights)
    build = cls._saved_config(state, device="cpu")
    full = upcast_into(cls.build_model(build), weights)
    shipped = upcast_into(cls.build_model(build), stored)

    dataset = config["dataset"]
    root = root if root is not None else config.get("data_root")
    split = data.held_out_split(dataset)
    images = data.load_split(dataset, split, root=root)
    say = print if progress else (lambda *a, **k: None)
    figures: dict = {"split": split}
    storage: dict = {"dtype": str(STORAGE_DTYPE).removeprefix("torch.")}
    temperature = 1.0
    if family == "pixelcnnpp":
        held = images[:likelihood_images] if likelihood_images else images
        say(f"{name}: likelihood of {len(held)} {dataset}/{split} images, float32 and 16-bit weights")
        exact = figures_of_likelihood(full, held)
        figures["likelihood"] = figures_of_likelihood(shipped, held)
        storage.update(bpd_float32=exact["bpd"], bpd_stored=figures["likelihood"]["bpd"],
                       cost_bpd=figures["likelihood"]["bpd"] - exact["bpd"],
                       conditional_cost_bpd=figures["likelihood"]["conditional_bpd"] - exact["conditional_bpd"])
        say(f"{name}: temperature sweep {TEMPERATURES} on the last {sweep_images} images, which no figure reports")
        reported = max(completion_images, (check_images or CHECK_IMAGES)["completions"])
        figures["temperatures"] = temperature_sweep(shipped, family, config, images, sweep_images, reported)
        figures["temperature_sweep_images"] = f"{split}[{len(images) - sweep_images}:]"
        temperature = recommended_temperature(figures["temperatures"])
        say(f"{name}: completions of {completion_images} images at T = 1 and T = {temperature}")
        figures["completions"] = figures_of_completions(shipped, family, config, images[:completion_images], 2)
        figures["completions_at_recommended_temperature"] = figures_of_completions(
            shipped, family, config, images[:completion_images], 2, temperature)
    else:
        n = 2 if _sampled(family, config) else 1
        say(f"{name}: completions of {completion_images} images")
        figures["completions"] = figures_of_completions(shipped, family, config, images[:completion_images], n)
        exact = figures_of_completions(full, family, config, images[:completion_images], n)
        storage.update(l1_x100_float32=exact["l1_x100"], l1_x100_stored=figures["completions"]["l1_x100"],
                       cost_l1_x100=figures["completions"]["l1_x100"] - exact["l1_x100"])
    check = measure_check(shipped, family, config, images, temperature, check_images, spread=True)
    check["tolerance"] = check_tolerances(family, config, check["completions"])
    check["completions"].pop("standard_error")

    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(weights_path(name, folder)) as f:
        torch.save(stored, f)
    payload = weights_path(name, folder).read_bytes()
    train_images = _train_images(dataset, root)
    steps = state["step"]
    model_card = {
        "name": name,
        "description": recipe.description,
        "family": family,
        "command": recipe.command,
        "config": config,
        "weights": {"file": f"{name}.pt", "sha256": sha256(payload), "bytes": len(payload),
                    "dtype": storage["dtype"], "parameters": sum(v.numel() for v in stored.values()
                                                                 if v.is_floating_point()),
                    "averaged": averaged, "ema_decay": config.get("ema_decay")},
        "data": {"dataset": dataset, "train_images": train_images, "eval_split": split, "eval_images": len(images),
                 "terms": TERMS.get(dataset, "see the data set's own terms")},
        "training": {"steps": steps, "epochs": round(steps * config["batch_size"] / train_images, 2),
                     "train_seconds": round(state.get("train_seconds", float("nan")), 1),
                     "compile_seconds": round(state.get("compile_seconds") or 0.0, 1),
                     "threads": config.get("threads"), "hardware": describe_machine(), "torch": torch.__version__,
                     "python": platform.python_version(), "legs": state.get("legs", [])},
        "figures": figures,
        "curve": training_curve(run_dir),
        "storage": storage,
        "check": check,
        "exported": datetime.date.today().isoformat(),
    }
    if family == "pixelcnnpp":
        model_card["recommended_temperature"] = temperature
    with atomic_write(card_path(name, folder)) as f:
        f.write((json.dumps(_strict(model_card), indent=1, allow_nan=False) + "\n").encode())
    return _strict(model_card)


def _strict(value):
    """``value`` with every NaN replaced by None, as strict JSON has no NaN (a figure that was not measured)."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value
