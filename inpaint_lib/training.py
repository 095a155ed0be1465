"""What every training run needs besides its model: exact resumption, EMA weights, logs, guards.

- :func:`rng_state` / :func:`set_rng_state`: every random number generator as plain tensors and
  numbers (so checkpoints load with ``weights_only=True``), for bitwise-exact resumption.
- :class:`EMA`: an exponential moving average of the weights, ``ema = d * ema + (1 - d) * w``.
- :class:`CSVLog`: one row per logged step; on resume, rows past the checkpoint are dropped so a
  crash between logging and checkpointing never leaves duplicated or orphaned rows.
- :class:`NonFiniteGuard`: skip a step whose loss or gradient is NaN/inf, count it, and stop the
  run with a clear message after too many.
- :func:`run_progress`, :func:`linear_decay`, :func:`warmup`: learning-rate schedules that follow
  the run's length in steps *or* in wall time (a time budget), whichever ends it first.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import random
from pathlib import Path

import numpy as np
import torch


def rng_state() -> dict:
    """The state of python's ``random``, numpy's global generator and torch's (CPU and CUDA)."""
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
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    py = state["python"]
    gauss = None if math.isnan(py["gauss"]) else py["gauss"]
    random.setstate((py["version"], tuple(py["internal"].cpu().tolist()), gauss))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].cpu().numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached"]))
    torch.set_rng_state(state["torch"].cpu())  # a checkpoint loaded onto a GPU brings its states there
    if "cuda" in state and torch.cuda.is_available():
        # one state per GPU of the machine that saved it; a machine with fewer GPUs restores its own
        for index, device_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(device_state.cpu(), index)


class EMA:
    """Exponential moving average of a model's parameters (buffers are copied as they are).

    After each optimiser step: ``ema_p = decay * ema_p + (1 - decay) * p``. Evaluate with the
    averaged weights inside ``with ema.applied(model): ...``; the training weights come back after.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.shadow = {name: p.detach().clone() for name, p in model.named_parameters()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        names, params = zip(*model.named_parameters())
        shadows = [self.shadow[n] for n in names]
        torch._foreach_lerp_(shadows, [p.detach() for p in params], 1.0 - self.decay)

    @contextlib.contextmanager
    def applied(self, model: torch.nn.Module):
        saved = {name: p.detach().clone() for name, p in model.named_parameters()}
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(self.shadow[name])
        try:
            yield model
        finally:
            with torch.no_grad():
                for name, p in model.named_parameters():
                    p.copy_(saved[name])

    def state_dict(self) -> dict:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        """The averaged weights of a checkpoint. The decay stays this run's (a resumed run may change it)."""
        if set(state["shadow"]) != set(self.shadow):
            raise ValueError("EMA weights are for another model; use a new run directory")
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)


class CSVLog:
    """Append-only CSV of dicts with a fixed set of columns, kept consistent with checkpoints."""

    def __init__(self, path: str | os.PathLike, columns: list[str], resume_step: int | None = None):
        self.path, self.columns = Path(path), list(columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows = self.read() if resume_step is not None and self.path.exists() else []
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

    def read(self) -> list[dict]:
        return read_csv(self.path)


def read_csv(path: str | os.PathLike) -> list[dict]:
    """The rows of a CSV log as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class NonFiniteGuard:
    """Count steps skipped for a non-finite loss or gradient; raise once there are more than ``max_skips``."""

    def __init__(self, max_skips: int = 20):
        self.max_skips, self.skipped = max_skips, 0

    def should_skip(self, loss: torch.Tensor, grad_norm: torch.Tensor, step: int) -> bool:
        """True when this step must not be applied (one device sync per step, for two scalars)."""
        if bool(torch.isfinite(loss).item()) and bool(torch.isfinite(grad_norm).item()):
            return False
        self.skipped += 1
        if self.skipped > self.max_skips:
            raise FloatingPointError(
                f"stopped at step {step}: {self.skipped} steps had a non-finite loss or gradient "
                f"(limit {self.max_skips}); lower the learning rate, or resume from the last checkpoint")
        return True


def budget_spent(seconds: float, time_budget_s: float | None) -> bool:
    """True once ``seconds`` of training have reached ``time_budget_s`` (never when there is no budget)."""
    return time_budget_s is not None and seconds >= time_budget_s


def run_progress(step: int, total_steps: int, seconds: float = 0.0, time_budget_s: float | None = None) -> float:
    """How much of a run is done, in [0, 1]: ``max(step / total_steps, seconds / time_budget_s)``.

    A run ends at ``total_steps`` or when its training time reaches ``time_budget_s``, whichever
    comes first, so a schedule driven by this fraction reaches its end exactly when the run does.
    """
    done = step / total_steps if total_steps else 0.0
    if time_budget_s:
        done = max(done, seconds / time_budget_s)
    return min(max(done, 0.0), 1.0)


def linear_decay(progress: float, decay_fraction: float) -> float:
    """Learning-rate multiplier: 1, then linearly to 0 over the last ``decay_fraction`` of the run.

        f(p) = min(1, (1 - p) / decay_fraction)      (f = 1 throughout when decay_fraction = 0)
    """
    if decay_fraction <= 0:
        return 1.0
    return min(1.0, (1.0 - progress) / decay_fraction)


def warmup(step: int, warmup_steps: int) -> float:
    """Learning-rate multiplier of a linear warm-up: ``min(1, (step + 1) / warmup_steps)`` (1 without one)."""
    return 1.0 if warmup_steps <= 0 else min(1.0, (step + 1) / warmup_steps)
