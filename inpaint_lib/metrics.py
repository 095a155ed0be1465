"""How close is a completion to the truth, measured on the missing region only.

All functions take ``prediction`` and ``target`` as float tensors (B, 3, H, W) on the [-1, 1]
scale and a mask (True = missing; (H, W) or (B, H, W), see :mod:`inpaint_lib.masks`), and
return one value **per image**, shape (B,). Pixels that were given are never counted, so
pasting the known half back in changes nothing. To report a data set, average over images
(:mod:`inpaint_lib.evaluation` does); with the same mask for every image this equals the
average over all missing sub-pixels of the data set. Sharpness, a ratio per image, is the
exception: report its median (:func:`median_over_images`, which says why).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .masks import broadcast_mask
from .utils import to_host

__all__ = [
    "l1_x100", "l1_255", "mse", "psnr", "ssim", "METRICS", "all_metrics", "diversity", "sharpness",
    "median_over_images", "PSNR_MSE_FLOOR",
]

PSNR_MSE_FLOOR = 1e-10  # an exact completion would have infinite PSNR; this caps it at 106 dB
SSIM_WINDOW = 7


def _check(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mask as a weight of ``target``'s shape: 1 where missing, 0 where known."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape; "
                         "compare completions with the images they were made from")
    weight = broadcast_mask(mask, target, some_missing=True, why="metrics are computed on missing pixels only")
    return weight.expand_as(target).to(target.dtype)


def _masked_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (values * weight).flatten(1).sum(1) / weight.flatten(1).sum(1)


def l1_x100(prediction, target, mask) -> torch.Tensor:
    """``100 * mean |prediction - target|`` over the missing sub-pixels of each image, [-1, 1] scale.

    The original study's unit (pix2pix's G_L1 is this, averaged over the whole image).
    """
    weight = _check(prediction, target, mask)
    return 100.0 * _masked_mean((prediction - target).abs(), weight)


def l1_255(prediction, target, mask) -> torch.Tensor:
    """``mean |prediction - target|`` over the missing sub-pixels, in 0..255 pixel units (= l1_x100 * 1.275)."""
    weight = _check(prediction, target, mask)
    return 127.5 * _masked_mean((prediction - target).abs(), weight)


def mse(prediction, target, mask) -> torch.Tensor:
    """``mean (prediction - target)^2`` over the missing sub-pixels, on the [-1, 1] scale."""
    weight = _check(prediction, target, mask)
    return _masked_mean((prediction - target).square(), weight)


def psnr(prediction, target, mask) -> torch.Tensor:
    """``10 log10(range^2 / mse)`` in dB with range 2 on [-1, 1] (the same number as 255 on 0..255).

    MSE is that of the missing region of each image, floored at ``PSNR_MSE_FLOOR``.
    """
    return 10.0 * torch.log10(4.0 / mse(prediction, target, mask).clamp_min(PSNR_MSE_FLOOR))


def ssim(prediction, target, mask, window: int = SSIM_WINDOW) -> torch.Tensor:
    """Mean structural similarity over every ``window`` x ``window`` window lying wholly in the missing region.

    For each window and channel, with means mu, variances var (sample, /(n-1)) and covariance cov,
    ``SSIM = (2 mu_p mu_t + C1)(2 cov + C2) / ((mu_p^2 + mu_t^2 + C1)(var_p + var_t + C2))``,
    ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``, ``L = 2`` (the [-1, 1] range), uniform 7x7 windows:
    the settings of ``skimage.metrics.structural_similarity``, which gives the same number on the
    cropped missing rectangle. Windows that touch a known pixel are left out, so the given half
    cannot inflate the score. Images whose missing region holds no whole window get NaN.
    """
    weight = _check(prediction, target, mask)
    c1, c2, n = (0.01 * 2) ** 2, (0.03 * 2) ** 2, window * window
    p, t = prediction.float(), target.float()
    mean = lambda x: F.avg_pool2d(x, window, stride=1)  # noqa: E731
    mu_p, mu_t = mean(p), mean(t)
    var_p = (mean(p * p) - mu_p * mu_p) * n / (n - 1)
    var_t = (mean(t * t) - mu_t * mu_t) * n / (n - 1)
    cov = (mean(p * t) - mu_p * mu_t) * n / (n - 1)
    ssim_map = ((2 * mu_p * mu_t + c1) * (2 * cov + c2)) / ((mu_p ** 2 + mu_t ** 2 + c1) * (var_p + var_t + c2))
    inside = (mean(weight.float()) > 1 - 1e-6).to(ssim_map.dtype)  # window wholly missing
    count = inside.flatten(1).sum(1)
    return torch.where(count > 0, (ssim_map * inside).flatten(1).sum(1) / count.clamp_min(1),
                       torch.full_like(count, float("nan")))


METRICS = {"l1_x100": l1_x100, "l1_255": l1_255, "mse": mse, "psnr": psnr, "ssim": ssim}


def all_metrics(prediction, target, mask) -> dict[str, torch.Tensor]:
    """Every metric of :data:`METRICS`, each per image (B,)."""
    return {name: fn(prediction, target, mask) for name, fn in METRICS.items()}


def diversity(samples: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """How different ``n`` completions of the same image are, per image: (B,), in ``l1_x100``'s unit.

    ``samples`` is (n, B, 3, H, W) on the [-1, 1] scale: ``samples[k, b]`` is the k-th completion of
    image b (e.g. :func:`inpaint_lib.pix2pix.dropout_completions`); ``mask`` is True where
    pixels are missing, (H, W) or (B, H, W), and at least two completions are needed (n >= 2).

    For every missing sub-pixel (one channel of one missing pixel) of image b, take the standard
    deviation of its n values across the samples, with Bessel's correction,
    ``s = sqrt(sum_k (v_k - mean(v))^2 / (n - 1))``; then average s over the missing sub-pixels of
    image b (never over the known ones) and multiply by 100:

        diversity[b] = 100 * mean_{(c, i, j) missing} std_k samples[k, b, c, i, j].

    So 0 means the n completions are identical; a model whose completions scatter by +-0.1 around
    their mean on [-1, 1] scores about 10. For n = 2 it is ``l1_x100(samples[0], samples[1]) / sqrt(2)``.
    Known pixels do not count, so completions composited onto their inputs score the same as raw ones.
    """
    if samples.dim() != 5:
        raise ValueError(f"samples must be (n, B, C, H, W): n completions of each of B images, "
                         f"got shape {tuple(samples.shape)}; stack them with torch.stack(completions)")
    if len(samples) < 2:
        raise ValueError(f"diversity needs at least 2 completions per image, got n = {len(samples)}")
    spread = samples.float().std(dim=0, correction=1)  # (B, C, H, W)
    weight = _check(spread, spread, mask)
    return 100.0 * _masked_mean(spread, weight)


def sharpness(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """How much local detail a completion has, relative to the truth, per image: (B,).

    The summed absolute differences between horizontally and vertically neighbouring sub-pixels,
    over neighbour pairs that are both missing, of the prediction divided by the same sum for
    the target (over the missing pairs only)::

        sharpness[b] = sum |grad prediction_b| / sum |grad target_b|

    1 means as much local contrast as the real image; a blurry (averaged) completion scores well
    below 1, a flat one 0, a noisy one above 1. It says nothing about being *right*; pair it with L1.
    Over a data set, take the median of these ratios (:func:`median_over_images`), not their mean:
    on a nearly flat true region the denominator is close to 0 and one image's ratio can outweigh
    all the others.
    """
    weight = _check(prediction, target, mask)

    def total_variation(x: torch.Tensor) -> torch.Tensor:
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs() * weight[..., :, 1:] * weight[..., :, :-1]
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs() * weight[..., 1:, :] * weight[..., :-1, :]
        return dx.flatten(1).sum(1) + dy.flatten(1).sum(1)

    return total_variation(prediction) / total_variation(target).clamp_min(1e-12)


def median_over_images(values: torch.Tensor) -> float:
    """The median of per-image values (NaN left out; NaN when none is left): how a data set's sharpness is reported.

    With an even count it is the mean of the two middle values; computed in float64 on the host.
    Why the median of the per-image ratios ``r_b = A_b / B_b`` (``A`` the completion's summed
    absolute gradient, ``B`` the truth's; :func:`sharpness`) and not their mean or the ratio of sums:

    - *robust*: an almost flat true region (B_b near 0, a patch of sky) gives a huge r_b that
      decides the mean alone (on the course's ``sample`` test set the mean of a U-Net's ratios
      is about 1e11); the median does not move;
    - *calibrated at 1*: a method that draws its completion from the true distribution of the
      missing region given the known one makes A_b and B_b two independent draws of the same
      variable, so ``P(r_b > 1) = P(A_b > B_b) = 1/2`` for every image: the median is 1 exactly,
      on any mix of images. The mean of the ratios is not (``E[A/B] = E[A] E[1/B] >= 1`` by
      Jensen's inequality, with equality only when B is constant), and the ratio of sums
      ``sum_b A_b / sum_b B_b`` tends to 1 only as the images grow many, weighted towards the
      most textured ones;
    - *read per image*: a median of 0.7 says that half of the completions have at most 70 % of
      their truth's local detail (and ``P(r_b > 1)``, the share of completions busier than their
      truth, is 1/2 exactly when the median is 1).
    """
    present = sorted(v for v in to_host(values).flatten().tolist() if not math.isnan(v))  # Python floats: float64
    if not present:
        return float("nan")
    middle = len(present) // 2
    return present[middle] if len(present) % 2 else (present[middle - 1] + present[middle]) / 2
