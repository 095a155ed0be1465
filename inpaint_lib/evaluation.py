"""One evaluation protocol and one results table for every inpainting method.

Protocol: take the first ``n_images`` of a split (splits are stored in a fixed shuffled order,
so the first N are a fair subset), remove the masked pixels (set to 0, mid-grey), ask the
method for a prediction, paste the known pixels back (:func:`inpaint_lib.masks.composite`),
and score the missing region with every metric of :mod:`inpaint_lib.metrics`, averaged over
images. A method is any callable ``method(masked_images, mask) -> prediction``.
"""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from .data import make_loader
from .masks import apply_mask, composite, get_mask
from .metrics import all_metrics

Method = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def evaluate(method: Method, dataset: str = "sample", split: str = "test", mask: str | torch.Tensor = "lower_half",
             n_images: int | None = None, batch_size: int = 250, device: str | torch.device = "cpu",
             root: str | os.PathLike | None = None, progress: bool = True) -> dict[str, float]:
    """Score ``method`` on ``dataset``/``split``: mean of each metric over images, plus timing.

    Returns ``{"l1_x100", "l1_255", "mse", "psnr", "ssim", "n_images", "seconds_per_image"}``;
    ``seconds_per_image`` is the wall time spent inside ``method`` divided by the image count.
    """
    mask = get_mask(mask) if isinstance(mask, str) else mask
    loader = make_loader(dataset, split, batch_size, shuffle=False, root=root, device=device)
    total = len(loader.images) if n_images is None else min(n_images, len(loader.images))
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    seen, seconds = 0, 0.0
    bar = tqdm(total=total, desc=f"evaluating on {dataset}/{split}", unit="img", disable=not progress, leave=False)
    for images in loader:
        images = images[: total - seen]
        masked = apply_mask(images, mask)
        start = time.perf_counter()
        prediction = method(masked, mask)
        if prediction.device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - start
        scores = all_metrics(composite(prediction.to(images), images, mask), images, mask)
        for name, values in scores.items():
            finite = values[~values.isnan()]
            sums[name] = sums.get(name, 0.0) + finite.double().sum().item()
            counts[name] = counts.get(name, 0) + finite.numel()
        seen += len(images)
        bar.update(len(images))
        if seen >= total:
            break
    bar.close()
    result = {name: (sums[name] / counts[name] if counts[name] else math.nan) for name in sums}
    result.update(n_images=seen, seconds_per_image=seconds / max(seen, 1))
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

    def add(self, method: str, dataset: str, split: str, metrics: dict, **extra) -> "ResultsTable":
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
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns())
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ResultsTable":
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
        with open(path, newline="") as f:
            return cls([{k: (v if k in cls.KEY else parse(v)) for k, v in row.items()} for row in csv.DictReader(f)])


def results_path(dataset: str, split: str, root: str | os.PathLike | None = None) -> Path:
    """The course's shared results table for one split: ``runs/results/<dataset>_<split>.csv``.

    Notebook 01 writes the baselines' rows; notebooks 02 and 03 add their models'. (Notebook 06 keeps
    its own table, with diversity and time, in its run folder.)
    """
    from .utils import REPO_ROOT
    return (Path(root) if root is not None else REPO_ROOT / "runs" / "results") / f"{dataset}_{split}.csv"
