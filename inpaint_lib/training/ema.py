r"""An exponential moving average of a network's weights, with a warm-up.

After optimiser step ``t`` (0-based), every parameter of the averaged copy moves towards the
trained network's:

.. math::

    \bar\theta \leftarrow d_t\, \bar\theta + (1 - d_t)\, \theta, \qquad
    d_t = \min\Big(\text{decay}, \frac{1 + t}{10 + t}\Big).

Without the warm-up, ``d_t = decay`` from the start, and after ``t`` steps the random initial
weights still carry ``decay ** t`` of the average: 0.99 ** 150 = 0.22 after a 150-step notebook
run. With it the early steps average over few steps (d_0 = 0.1, d_90 = 0.9) and the initial
weights fade at once. Buffers (batch-norm statistics) are copied, not averaged.

The average is what the course evaluates, samples and ships: it is smoother than the last
step's weights, and on short runs clearly better.
"""

from __future__ import annotations

import copy

import torch

__all__ = ["EMA"]


class EMA:
    """An averaged copy (``ema.module``) of ``model``; call :meth:`update` after every optimiser step."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) for an average (0 turns it off), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).requires_grad_(False).eval()

    def decay_at(self, step: int) -> float:
        """``d_t = min(decay, (1 + t) / (10 + t))`` for 0-based step ``t``."""
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        """Move the average towards ``model``'s weights after 0-based step ``step``."""
        averaged = list(self.module.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in model.parameters()], 1.0 - self.decay_at(step))
        for mine, theirs in zip(self.module.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "weights": self.module.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """The averaged weights of a checkpoint. The decay stays this run's (a resumed run may change it)."""
        self.module.load_state_dict(state["weights"])
