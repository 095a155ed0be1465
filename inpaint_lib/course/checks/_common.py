"""What every chapter's checks share: closeness, naming a recognised mistake, the pass line."""

from __future__ import annotations

import torch


def _close(a, b, tol: float = 1e-4) -> bool:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and torch.allclose(a, b, rtol=tol, atol=tol)


def _diagnose(name: str, got, expected, mistakes: dict[str, object], tol: float = 1e-4) -> None:
    """Pass when ``got`` matches ``expected``; otherwise name the first known mistake it matches."""
    if _close(got, expected, tol):
        return
    for message, value in mistakes.items():
        if _close(got, value, tol):
            raise AssertionError(f"{name}: {message}")
    got_t, exp_t = torch.as_tensor(got), torch.as_tensor(expected)
    if got_t.shape != exp_t.shape:
        raise AssertionError(f"{name}: expected a result of shape {tuple(exp_t.shape)}, got {tuple(got_t.shape)}")
    worst = (got_t.double() - exp_t.double()).abs().max().item()
    raise AssertionError(f"{name}: differs from inpaint_lib's answer by up to {worst:.4g} "
                         f"(expected e.g. {exp_t.flatten()[:3].tolist()}, got {got_t.flatten()[:3].tolist()})")


def _passed(what: str) -> None:
    print(f"✓ {what}: all checks passed")


def _grad_close(a: torch.Tensor | None, b: torch.Tensor | None, tol: float = 1e-4) -> bool:
    if a is None or b is None:
        return a is None and b is None
    scale = max(1.0, float(b.abs().max()))
    return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), rtol=tol, atol=tol * scale))
