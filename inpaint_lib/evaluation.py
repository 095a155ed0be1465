"""How every inpainting method is scored: one protocol, several completions side by side, one results table.

A method is any callable ``method(masked_images, mask) -> prediction``. Each call is made the
same way (:func:`_complete_batch`): the masked pixels are removed (set to 0, mid-grey), the
method is timed, and the known pixels are pasted back (:func:`inpaint_lib.masks.composite`), so
only the missing region is ever scored, with the metrics of :mod:`inpaint_lib.metrics`.

- :func:`evaluate`: one completion of each of the first ``n_images`` of a split (splits are
  stored in a fixed shuffled order, so the first N are a fair subset), the mean of every metric;
- :func:`complete` and :func:`score`: ``n`` completions of the *same* images from each method, as
  the course's last notebook compares them: the metrics averaged over images and completions,
  their sharpness (is the method blurry? the median over images and completions), the diversity
  of the completions, and, given a PixelCNN++, the conditional likelihood of each completion's
  missing region under it;
- :class:`ResultsTable` and :func:`results_path`: the rows the notebooks add to and show.

Means over images follow one rule (:class:`_Means`): an image without a value for a metric (NaN:
SSIM when no whole window of it is missing) is left out of that metric's mean. Sharpness, a ratio
per image that explodes where the true region is nearly flat, is summarised by its median instead
(:func:`inpaint_lib.metrics.median_over_images`, which says why).
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .data import make_loader
from .masks import apply_mask, check_mask, composite, get_mask
from .metrics import all_metrics, diversity, median_over_images, sharpness
from .utils import REPO_ROOT, atomic_write, full_float32, host_float64, progress_bar, storable_dtype, synchronize

Method = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _as_mask(mask: torch.Tensor | str) -> torch.Tensor:
    """A mask, or the name of one (:func:`inpaint_lib.masks.get_mask`)."""
    return get_mask(mask) if isinstance(mask, str) else mask


def _complete_batch(method: Method, images: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, float]:
    """``composite(method(apply_mask(images, mask), mask), images, mask)`` and the seconds spent inside ``method``.

    On a GPU (CUDA, Apple's MPS) the clock stops after the device has finished
    (:func:`inpaint_lib.utils.synchronize`), so the time is that of the work, not of launching it.
    """
    masked = apply_mask(images, mask)
    began = time.perf_counter()
    prediction = method(masked, mask)
    synchronize(prediction.device)
    seconds = time.perf_counter() - began
    return composite(prediction.to(images), images, mask), seconds


class _Means:
    """Per-metric means over images: ``mean = sum of the values / their number``, NaN values left out.

    An image without a value for a metric (NaN) is left out of that metric's mean; a metric no
    image has a value for has mean NaN. Values are added batch by batch (:meth:`add`), each batch
    summed in float64 on the host (:func:`inpaint_lib.utils.host_float64`): exact, and no float64
    on the device (an Apple GPU has none).
    """

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, scores: dict[str, torch.Tensor]) -> None:
        for name, values in scores.items():
            present = values[~values.isnan()]
            self.sums[name] = self.sums.get(name, 0.0) + host_float64(present).sum().item()
            self.counts[name] = self.counts.get(name, 0) + present.numel()

    def means(self) -> dict[str, float]:
        return {name: (self.sums[name] / self.counts[name] if self.counts[name] else math.nan) for name in self.sums}


@torch.no_grad()
def evaluate(method: Method, dataset: str = "sample", split: str = "test", mask: str | torch.Tensor = "lower_half",
             n_images: int | None = None, batch_size: int = 250, device: str | torch.device = "cpu",
             root: str | os.PathLike | None = None, progress: bool = True) -> dict[str, float]:
    """Score ``method`` on ``dataset``/``split``: mean of each metric over images, plus timing.

    Returns ``{"l1_x100", "l1_255", "mse", "psnr", "ssim", "n_images", "seconds_per_image"}``;
    ``seconds_per_image`` is the wall time spent inside ``method`` divided by the image count.
    On a GPU the method runs in full float32 (:func:`inpaint_lib.utils.full_float32`, no TF32).
    """
    with full_float32():
        return _evaluate(method, dataset, split, mask, n_images, batch_size, device, root, progress)


def _evaluate(method, dataset, split, mask, n_images, batch_size, device, root, progress) -> dict[str, float]:
    mask = _as_mask(mask)
    loader = make_loader(dataset, split, batch_size, shuffle=False, root=root, device=device)
    total = len(loader.images) if n_images is None else min(n_images, len(loader.images))
    means = _Means()
    seen, seconds = 0, 0.0
    bar = progress_bar(total=total, desc=f"evaluating on {dataset}/{split}", unit="img", enabled=progress, leave=False)
    for images in loader:
        images = images[: total - seen]
        completion, took = _complete_batch(method, images, mask)
        seconds += took
        means.add(all_metrics(completion, images, mask))
        seen += len(images)
        bar.update(len(images))
        if seen >= total:
            break
    bar.close()
    return {**means.means(), "n_images": seen, "seconds_per_image": seconds / max(seen, 1)}


@dataclass
class Completions:
    """``samples`` (n, B, 3, H, W): n completions of B images, known pixels pasted back."""

    samples: torch.Tensor
    seconds_per_image: float  # wall time of one completion of one image


def _check_inputs(images: torch.Tensor, mask: torch.Tensor | str) -> torch.Tensor:
    """The mask of :func:`complete` and :func:`score`, checked against their ``images``."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be a (B, 3, H, W) float batch in [-1, 1], got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    return check_mask(_as_mask(mask), images, some_missing=True, some_known=True,
                      why="a completion fills missing pixels from known ones; make the mask leave some of each")


def _rows(mask: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """The mask of images ``start:stop``: a per-image (B, H, W) mask is sliced with them, one (H, W) mask is shared."""
    return mask[start:stop] if mask.dim() == 3 else mask


@torch.no_grad()
def complete(method: Method, images: torch.Tensor, mask: torch.Tensor | str = "lower_half", n: int = 1,
             batch_size: int = 64) -> Completions:
    """Call ``method(masked, mask)`` ``n`` times on ``images`` (in batches) and paste the known pixels back.

    A deterministic method gives n equal completions (diversity 0); a sampler gives n different
    ones when it draws fresh random numbers on each call. ``seconds_per_image`` is the time spent
    inside ``method`` divided by ``n * B``.
    """
    mask = _check_inputs(images, mask)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    samples, seconds = [], 0.0
    for _ in range(n):
        parts = []
        for start in range(0, len(images), batch_size):
            completion, took = _complete_batch(method, images[start: start + batch_size],
                                               _rows(mask, start, start + batch_size))
            seconds += took
            parts.append(completion)
        samples.append(torch.cat(parts))
    return Completions(torch.stack(samples), seconds / (n * len(images)))


@torch.no_grad()
def score(completions: Completions, images: torch.Tensor, mask: torch.Tensor | str = "lower_half",
          density_model: torch.nn.Module | None = None) -> dict[str, float]:
    """Scores of ``completions`` of ``images``, each a mean over images and the n completions (:class:`_Means`),
    sharpness their median.

    Returns ``l1_x100, l1_255, mse, psnr, ssim`` (:func:`inpaint_lib.metrics.all_metrics` of every
    completion), ``sharpness`` (the median over images and completions of
    :func:`inpaint_lib.metrics.sharpness`, :func:`inpaint_lib.metrics.median_over_images`: 1 is as
    detailed as the truth, blur is below 1, noise above), ``diversity``
    (:func:`inpaint_lib.metrics.diversity`; only with n >= 2),
    ``bpd_under_pixelcnnpp`` (with ``density_model``: the conditional bits/dim of the completions'
    missing region given the true known region, :func:`inpaint_lib.pixelcnnpp.score_completions`)
    and ``seconds_per_image``.
    """
    mask = _check_inputs(images, mask)
    samples = completions.samples
    if samples.dim() != 5 or samples.shape[1:] != images.shape:
        raise ValueError(f"completions {tuple(samples.shape)} do not belong to images {tuple(images.shape)}; "
                         "pass the images they were made from")
    means, sharp = _Means(), []
    for sample in samples:
        means.add(all_metrics(sample, images, mask))
        sharp.append(sharpness(sample, images, mask))
    result = {**means.means(), "sharpness": median_over_images(torch.cat(sharp))}
    if len(samples) >= 2:
        result["diversity"] = host_float64(diversity(samples, mask)).mean().item()
    if density_model is not None:
        from .pixelcnnpp import score_completions  # only this optional score needs PixelCNN++
        device = next(density_model.parameters()).device
        # float64 completions or images (numpy's default) go to an Apple GPU as float32: it has no float64
        kind, truth_kind = storable_dtype(samples.dtype, device), storable_dtype(images.dtype, device)
        bits = torch.cat([score_completions(density_model, samples[:, start: start + 100].to(device, kind),
                                            _rows(mask, start, start + 100).to(device),
                                            images[start: start + 100].to(device, truth_kind)).cpu()
                          for start in range(0, len(images), 100)], dim=1)
        result["bpd_under_pixelcnnpp"] = host_float64(bits).mean().item()
    result["seconds_per_image"] = completions.seconds_per_image
    return result


class ResultsTable:
    """Rows of results, one per (method, dataset, split); adding a row again replaces it.

    Saved as CSV, so notebook after notebook can load the table, add its own methods and save it
    (:meth:`load`, :meth:`add`, :meth:`save`). Shown in a notebook as a markdown table.
    """

    KEY = ("method", "dataset", "split")
    COLUMNS = ("method", "dataset", "split", "n_images", "l1_x100", "l1_255", "psnr", "ssim", "mse",
               "seconds_per_image")

    def __init__(self, rows: list[dict] | None = None):
        self.rows: list[dict] = list(rows or [])

    def add(self, method: str, dataset: str, split: str, metrics: dict, **extra) -> ResultsTable:
        row = {"method": method, "dataset": dataset, "split": split, **metrics, **extra}
        key = tuple(row[k] for k in self.KEY)
        self.rows = [r for r in self.rows if tuple(r[k] for k in self.KEY) != key] + [row]
        return self

    def columns(self) -> list[str]:
        extra = [c for r in self.rows for c in r if c not in self.COLUMNS]
        return [c for c in self.COLUMNS if any(c in r for r in self.rows)] + list(dict.fromkeys(extra))

    def get(self, method: str, dataset: str | None = None, split: str | None = None) -> dict:
        for r in self.rows:
            if r["method"] == method and dataset in (None, r["dataset"]) and split in (None, r["split"]):
                return r
        raise KeyError(f"no row for method {method!r} ({dataset}/{split}) in the results table")

    def to_markdown(self, digits: int = 3) -> str:
        cols = self.columns()

        def fmt(v):
            if isinstance(v, float):
                return "" if math.isnan(v) else (f"{v:.2e}" if 0 < abs(v) < 10 ** -digits else f"{v:.{digits}f}")
            return "" if v is None else str(v)
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in self.rows]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the table as UTF-8 CSV; ``path`` is replaced whole or not at all (:func:`~.utils.atomic_write`)."""
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=self.columns())
        writer.writeheader()
        writer.writerows(self.rows)
        path = Path(path)
        with atomic_write(path) as f:
            f.write(text.getvalue().encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> ResultsTable:
        """Read a table saved by :meth:`save`; a missing file gives an empty table."""
        path = Path(path)
        if not path.exists():
            return cls()

        def parse(v: str):
            if v == "":
                return None
            try:
                return int(v)
            except ValueError:
                try:
                    return float(v)
                except ValueError:
                    return v
        with open(path, newline="", encoding="utf-8") as f:
            return cls([{k: (v if k in cls.KEY else parse(v)) for k, v in row.items()} for row in csv.DictReader(f)])


def results_path(dataset: str, split: str, root: str | os.PathLike | None = None) -> Path:
    """The course's shared results table for one split: ``runs/results/<dataset>_<split>.csv``.

    Notebook 01 writes the baselines' rows; notebooks 02 and 03 add their models'. (Notebook 06 keeps
    its own table, with diversity and time, in its run folder.)
    """
    return (Path(root) if root is not None else REPO_ROOT / "runs" / "results") / f"{dataset}_{split}.csv"


__all__ = ["Method", "evaluate", "Completions", "complete", "score", "ResultsTable", "results_path"]
