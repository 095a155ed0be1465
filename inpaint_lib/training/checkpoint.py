"""Checkpoints that survive a crash, that refuse to load into the wrong model, and that resume exactly.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(..., weights_only=True)`` (no pickled code is ever executed). It is written with
:func:`inpaint_lib.utils.atomic_write`: a crash while writing leaves the previous checkpoint intact.

Bitwise-exact resumption needs every random number generator's state as well as the weights:
:func:`rng_state` gives them as plain tensors and numbers, :func:`set_rng_state` puts them back.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..utils import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint", "check_config", "rng_state", "set_rng_state"]


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temp file, ``fsync``, rename)."""
    with atomic_write(path) as f:
        torch.save(dict(state), f)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first or pass the right --run-dir")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated file, not a torch file, unsafe pickle
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"checkpoint {path} cannot be read ({first_line}); "
                         "delete it or resume from an older one") from None
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


def rng_state() -> dict:
    """The state of python's ``random``, numpy's global generator and torch's (CPU, CUDA, Apple GPU)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss": gauss if gauss is not None else float("nan")},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    py = state["python"]
    gauss = None if math.isnan(py["gauss"]) else py["gauss"]
    random.setstate((py["version"], tuple(py["internal"].cpu().tolist()), gauss))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].cpu().numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached"]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        # one state per GPU of the machine that saved it; a machine with fewer GPUs restores its own
        for index, device_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(device_state.cpu(), index)
    if "mps" in state and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"].cpu())
