"""Checkpoints that survive a crash, and that refuse to load into the wrong model.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(..., weights_only=True)`` (no pickled code is ever executed). It is written
atomically: first to a temporary file in the same folder, flushed to disk, then renamed over
the old one. A crash while writing therefore leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + ``fsync`` + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(dict(state), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first or pass the right --run-dir")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated file, not a torch file, unsafe pickle
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"checkpoint {path} cannot be read ({first_line}); delete it or resume from an older one") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a checkpoint of this course (it holds a {type(state).__name__}, not a dict); "
                         "point at a run folder written by its trainers")
    return state


def check_config(saved: Mapping[str, Any], current: Mapping[str, Any], keys: list[str] | None = None,
                 what: str = "checkpoint") -> None:
    """Raise ``ValueError`` naming every key (of ``keys``, default all) whose value differs.

    Used before loading weights so that a checkpoint from another architecture or data set
    fails with one clear line instead of a wall of shape mismatches.
    """
    keys = sorted(set(saved) | set(current)) if keys is None else keys
    diffs = [f"{k}={saved.get(k)!r} (now {current.get(k)!r})" for k in keys if saved.get(k) != current.get(k)]
    if diffs:
        raise ValueError(f"{what} was made with another configuration: {', '.join(diffs)}; "
                         "use a new run directory or the same settings")
