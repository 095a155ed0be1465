"""Checks for exercise 05: the moving average of the weights and its warm-up."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from ._common import _passed

__all__ = ["check_ema_decay", "check_ema_update"]

DECAYS = (0.9, 0.99, 0.9995)
STEPS = (0, 1, 2, 5, 10, 89, 90, 100, 500, 2000, 20_000)


def _decay_mistakes(decay: float, step: int) -> dict[str, float]:
    warm = (1 + step) / (10 + step)
    return {
        "no warm-up: the decay is the same at every step; at step t it is min(decay, (1 + t) / (10 + t))": decay,
        "max instead of min: the warm-up must keep the decay *below* (1 + t) / (10 + t) early on, and never above "
        "`decay`": max(decay, warm),
        "the decay never reaches `decay`: cap the warm-up with min(decay, ...)": warm,
        "the step is counted from 1: t is 0-based, so d_0 = (1 + 0) / (10 + 0) = 0.1": min(
            decay, (2 + step) / (11 + step)),
        "the warm-up is t / (10 + t), which starts at 0: it is (1 + t) / (10 + t)": min(decay, step / (10 + step)),
    }


def check_ema_decay(ema_decay: Callable) -> None:
    """``ema_decay(decay, step)``: the decay ``d_t = min(decay, (1 + t) / (10 + t))`` of 0-based step ``t``.

    Checked for three decays at steps from 0 to 20,000; a wrong answer that matches a known mistake at every
    one of them is named.
    """
    got: dict[tuple[float, int], float] = {}
    for decay in DECAYS:
        for step in STEPS:
            value = ema_decay(decay, step)
            if not isinstance(value, (int, float)) and not (isinstance(value, torch.Tensor) and value.numel() == 1):
                raise AssertionError(f"ema_decay({decay}, {step}): return one number, got {type(value).__name__}")
            got[decay, step] = float(value)
    wrong = [(d, t) for (d, t), v in got.items() if abs(v - min(d, (1 + t) / (10 + t))) > 1e-12]
    if not wrong:
        _passed("check_ema_decay")
        return
    for message in _decay_mistakes(0.9, 0):
        if all(abs(v - _decay_mistakes(d, t)[message]) < 1e-12 for (d, t), v in got.items()):
            raise AssertionError(f"ema_decay: {message}")
    d, t = wrong[0]
    raise AssertionError(f"ema_decay({d}, {t}) = {got[d, t]:.6g}, expected {min(d, (1 + t) / (10 + t)):.6g}")


def _toy_model() -> nn.Module:
    """Weights and batch-norm buffers (running mean and variance, and an integer step count)."""
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2))


def _reference(average: nn.Module, model: nn.Module, decay: float, step: int, how: str = "right") -> None:
    """The update as ``inpaint_lib.training.EMA`` makes it, or as one known mistake makes it."""
    d = decay if how == "no warm-up" else min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for a, w in zip(average.parameters(), model.parameters(), strict=True):
            if how == "wrong way":
                a.copy_(d * w + (1 - d) * a)
            else:
                a.lerp_(w, 1 - d)
        for a, w in zip(average.buffers(), model.buffers(), strict=True):
            if how == "buffers averaged" and a.is_floating_point():
                a.lerp_(w, 1 - d)
            elif how != "buffers kept":
                a.copy_(w)


_UPDATE_MISTAKES = {
    "wrong way": "the average moved the wrong way: it keeps d of itself and takes 1 - d of the new weights, "
                 "ema = d * ema + (1 - d) * w",
    "no warm-up": "the decay has no warm-up: use ema_decay(decay, step), min(decay, (1 + t) / (10 + t))",
    "buffers averaged": "the batch-norm buffers were averaged: buffers are statistics, not trained weights; copy "
                        "them from the model (a.copy_(w)) after each step",
    "buffers kept": "the buffers (batch-norm running statistics) were not updated: copy them from the model",
}


def check_ema_update(ema_update: Callable) -> None:
    """``ema_update(average, model, decay, step)``: move ``average`` (a copy of ``model``) towards it, in place.

    After 40 steps of a toy network whose weights and batch-norm statistics change at every step, the average
    must equal ``inpaint_lib.training.EMA``'s, parameter for parameter and buffer for buffer, and no gradient may
    flow into it. Recognised mistakes: the update the wrong way round, no warm-up, buffers averaged or not copied.
    """
    from ...training import EMA

    for decay in (0.9, 0.99):
        torch.manual_seed(0)
        model = _toy_model()
        library = EMA(model, decay)
        mine = copy.deepcopy(model).requires_grad_(False)
        variants = {name: copy.deepcopy(model).requires_grad_(False) for name in _UPDATE_MISTAKES}
        generator = torch.Generator().manual_seed(1)
        for step in range(40):
            with torch.no_grad():                                  # an "optimiser step" and a batch through BN
                for p in model.parameters():
                    p.add_(torch.randn(p.shape, generator=generator) * 0.1)
            model.train()(torch.randn(8, 4, generator=generator))
            result = ema_update(mine, model, decay, step)
            if result is not None and result is not mine:
                raise AssertionError("ema_update changes the average in place and returns nothing (or the average); "
                                     f"it returned {type(result).__name__}")
            library.update(model, step)
            for name, average in variants.items():
                _reference(average, model, decay, step, name)
        if any(p.grad is not None or p.requires_grad for p in mine.parameters()):
            raise AssertionError("the average's parameters require gradients: update them under torch.no_grad()")
        got = dict(mine.state_dict())
        expected = library.module.state_dict()
        if all(torch.allclose(got[k].double(), expected[k].double(), rtol=1e-6, atol=1e-7) for k in expected):
            continue
        for name, average in variants.items():
            theirs = average.state_dict()
            if all(torch.allclose(got[k].double(), theirs[k].double(), rtol=1e-6, atol=1e-7) for k in theirs):
                raise AssertionError(f"decay {decay}: {_UPDATE_MISTAKES[name]}")
        worst = max((got[k].double() - expected[k].double()).abs().max().item() for k in expected)
        raise AssertionError(f"decay {decay}: after 40 steps the average differs from inpaint_lib's by up to "
                             f"{worst:.3g}")
    _passed("check_ema_update")
