"""Learning-rate schedules, as multipliers of the configured rate, and the run's time budget.

A run ends after its number of steps or when its training time reaches its budget, whichever
comes first; :func:`run_progress` measures how much of it is done in the same terms, so a
schedule driven by that fraction ends exactly when the run does.
"""

from __future__ import annotations

__all__ = ["budget_spent", "run_progress", "linear_decay", "step_linear_decay", "warmup"]


def budget_spent(seconds: float, time_budget_s: float | None) -> bool:
    """True once ``seconds`` of training have reached ``time_budget_s`` (never when there is no budget)."""
    return time_budget_s is not None and seconds >= time_budget_s


def run_progress(step: int, total_steps: int, seconds: float = 0.0, time_budget_s: float | None = None) -> float:
    """How much of a run is done, in [0, 1]: ``max(step / total_steps, seconds / time_budget_s)``."""
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


def step_linear_decay(step: int, total_steps: int, decay_fraction: float) -> float:
    """The pix2pix linear policy, counted in steps: the multiplier of 0-based ``step``.

    With ``n_decay = round(decay_fraction * total_steps)`` and ``n_const = total_steps - n_decay``,

        f(s) = 1 - max(0, s + 1 - n_const) / (n_decay + 1),

    pix2pix's rule with n_epochs = n_const, n_epochs_decay = n_decay: 1 for the first n_const
    steps, then n_decay/(n_decay+1), ..., 1/(n_decay+1) for the last ones.
    """
    n_decay = round(total_steps * decay_fraction)
    n_const = total_steps - n_decay
    return 1.0 - max(0, step + 1 - n_const) / (n_decay + 1)


def warmup(step: int, warmup_steps: int) -> float:
    """Learning-rate multiplier of a linear warm-up: ``min(1, (step + 1) / warmup_steps)`` (1 without one)."""
    return 1.0 if warmup_steps <= 0 else min(1.0, (step + 1) / warmup_steps)
