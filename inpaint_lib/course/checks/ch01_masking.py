"""Checks for exercise 01: masking and PSNR."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ... import masks, metrics
from ._common import _diagnose, _passed

__all__ = ["check_lower_half_mask", "check_psnr"]


def check_lower_half_mask(lower_half_mask: Callable[[int, int], torch.Tensor]) -> None:
    """``lower_half_mask(height, width)``: bool (H, W), True on rows ``height // 2`` and below."""
    mask = lower_half_mask(32, 32)
    if not isinstance(mask, torch.Tensor):
        raise AssertionError(f"lower_half_mask must return a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise AssertionError(f"the mask must be a bool tensor (True = missing), got dtype {mask.dtype}; "
                             "compare with a condition or use torch.zeros(..., dtype=torch.bool)")
    if mask.shape != (32, 32):
        raise AssertionError(f"lower_half_mask(32, 32) must have shape (32, 32), got {tuple(mask.shape)}")
    if mask[:16].all() and not mask[16:].any():
        raise AssertionError("your mask marks the UPPER half as missing: True must be the lower rows")
    if not mask[16].all():
        raise AssertionError("row 16 is not missing: is the mask shifted down by one row?")
    if mask[15].any():
        raise AssertionError("row 15 is marked missing: is the mask shifted up by one row? rows 0..15 are given")
    for h, w in ((32, 32), (8, 5), (7, 3), (64, 32)):
        got = lower_half_mask(h, w)
        if got.shape != (h, w):
            raise AssertionError(f"lower_half_mask({h}, {w}) has shape {tuple(got.shape)}: height first, then width")
        if not torch.equal(got, masks.lower_half(h, w)):
            raise AssertionError(f"lower_half_mask({h}, {w}) differs from the expected mask: the first missing row "
                                 f"is height // 2 = {h // 2}")
    _passed("lower_half_mask")


def check_psnr(psnr: Callable) -> None:
    """``psnr(prediction, target, mask)``: per-image PSNR in dB on the missing pixels, range 2 on [-1, 1]."""
    g = torch.Generator().manual_seed(0)
    target = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    prediction = (target + 0.2 * torch.randn(4, 3, 32, 32, generator=g)).clamp(-1, 1)
    prediction[:, :, :16] = target[:, :, :16] + 0.5  # known pixels far off: they must not count
    mask = masks.lower_half()
    got = psnr(prediction, target, mask)
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"psnr must return a tensor of one value per image, got {type(got).__name__}")
    expected = metrics.psnr(prediction, target, mask)
    whole = 10 * torch.log10(4 / (prediction - target).square().flatten(1).mean(1))
    mse = (prediction - target)[:, :, 16:].square().flatten(1).mean(1)
    _diagnose("psnr", got, expected, {
        "one value per image is expected, shape (B,): average the squared error per image, not over the batch":
            10 * torch.log10(4 / mse.mean()),
        "the known (upper) pixels are counted too: average the squared error over the missing pixels only": whole,
        "the peak value is wrong: on the [-1, 1] scale the range is 2, so PSNR = 10 log10(2**2 / MSE)":
            10 * torch.log10(1 / mse),
        "a peak of 255 is for pixels in 0..255; these images are on the [-1, 1] scale (range 2)":
            10 * torch.log10(255 ** 2 / mse),
        "use log10, not the natural log: PSNR is in decibels": 10 * torch.log(4 / mse),
        "PSNR is 10 log10(peak**2 / MSE); you used 20 log10 of a squared ratio": 20 * torch.log10(4 / mse),
        "the formula needs the MSE, you used the mean absolute error":
            10 * torch.log10(4 / (prediction - target)[:, :, 16:].abs().flatten(1).mean(1)),
    })
    other = masks.centre_square()
    _diagnose("psnr with a centre-square mask", psnr(prediction, target, other),
              metrics.psnr(prediction, target, other),
              {"only the lower half is used: use the mask you are given, not a fixed half":
                   10 * torch.log10(4 / mse)})
    assert math.isfinite(float(psnr(target, target + 1e-3, mask)[0])), "psnr of a near-perfect guess must be finite"
    _passed("psnr")
