"""The training log: one CSV row per logged step, kept consistent with the checkpoints.

On resume, rows past the checkpoint's step are dropped, so a crash between logging and
checkpointing never leaves duplicated or orphaned rows. :func:`read_log` gives the log back as
columns of floats, ready to plot: ``log = read_log(run); plt.plot(log["step"], log["lr"])``.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

__all__ = ["CSVLog", "read_log", "LOG_NAME"]

LOG_NAME = "log.csv"


class CSVLog:
    """Append-only CSV of dicts with a fixed set of columns."""

    def __init__(self, path: str | os.PathLike, columns: list[str], resume_step: int | None = None):
        self.path, self.columns = Path(path), list(columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows = _rows(self.path) if resume_step is not None and self.path.exists() else []
        rows = [r for r in rows if int(float(r["step"])) <= (resume_step or 0)]
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict) -> None:
        unknown = set(row) - set(self.columns)
        if unknown:
            raise ValueError(f"log row has columns the log does not: {sorted(unknown)}")
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns).writerow(row)


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_log(run_dir: str | os.PathLike) -> dict[str, list[float]]:
    """The columns of ``run_dir/log.csv`` as lists of floats (a cell left empty is NaN)."""
    path = Path(run_dir) / LOG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no training log at {path}; train first or pass the run's folder")
    rows = _rows(path)
    with open(path, newline="") as f:
        columns = next(csv.reader(f), [])
    return {k: [float(r[k]) if r[k] not in ("", None) else math.nan for r in rows] for k in columns}
