"""Every inpainting method on the same images: several completions each, scored side by side.

:func:`inpaint_lib.evaluation.evaluate` streams one completion per image over a whole split.
Comparing methods as the course's last notebook does needs more of each method on the *same*
images: several completions (is the method diverse, or does it always give the same answer?),
how likely each completion is under a density model, and how long one takes.

- :func:`complete`: ``n`` completions per image from any method ``method(masked, mask)``, known
  pixels pasted back, timed;
- :func:`score`: the metrics of :mod:`inpaint_lib.metrics` averaged over images and completions,
  their sharpness (is the method blurry?), the diversity of the completions, and, given a PixelCNN++, the conditional bits/dim of each
  completion's missing region under it (:func:`inpaint_lib.pixelcnnpp.score_completions`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .masks import apply_mask, composite, get_mask
from .metrics import all_metrics, diversity, sharpness


@dataclass
class Completions:
    """``samples`` (n, B, 3, H, W): n completions of B images, known pixels pasted back."""

    samples: torch.Tensor
    seconds_per_image: float  # wall time of one completion of one image


def _check_inputs(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be a (B, 3, H, W) float batch in [-1, 1], got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    mask = get_mask(mask) if isinstance(mask, str) else mask
    if mask.shape[-2:] != images.shape[-2:]:
        raise ValueError(f"mask {tuple(mask.shape)} does not fit images of {images.shape[-2]}x{images.shape[-1]}; "
                         "make the mask for the images' size")
    if not mask.any() or mask.all():
        raise ValueError("the mask must leave some pixels missing and some known "
                         f"({int(mask.sum())} of {mask[0].numel() if mask.dim() == 3 else mask.numel()} missing)")
    return mask.to(images.device)


def _rows(mask: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """The mask of images ``start:stop``: a per-image (B, H, W) mask is sliced with them, one (H, W) mask is shared."""
    return mask[start:stop] if mask.dim() == 3 else mask


@torch.no_grad()
def complete(method, images: torch.Tensor, mask: torch.Tensor | str = "lower_half", n: int = 1,
             batch_size: int = 64) -> Completions:
    """Call ``method(masked, mask)`` ``n`` times on ``images`` (in batches) and paste the known pixels back.

    A deterministic method gives n equal completions (diversity 0); a sampler gives n different
    ones when it draws fresh random numbers on each call. ``seconds_per_image`` is the time spent
    inside ``method`` divided by ``n * B``.
    """
    mask = _check_inputs(images, mask)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    samples, seconds = [], 0.0
    for _ in range(n):
        parts = []
        for start in range(0, len(images), batch_size):
            batch, batch_mask = images[start: start + batch_size], _rows(mask, start, start + batch_size)
            masked = apply_mask(batch, batch_mask)
            began = time.perf_counter()
            prediction = method(masked, batch_mask)
            if prediction.device.type == "cuda":
                torch.cuda.synchronize()
            seconds += time.perf_counter() - began
            parts.append(composite(prediction.to(batch), batch, batch_mask))
        samples.append(torch.cat(parts))
    return Completions(torch.stack(samples), seconds / (n * len(images)))


@torch.no_grad()
def score(completions: Completions, images: torch.Tensor, mask: torch.Tensor | str = "lower_half",
          density_model: torch.nn.Module | None = None) -> dict[str, float]:
    """Scores of ``completions`` of ``images``, each a mean over images (and over the n completions).

    Returns ``l1_x100, l1_255, mse, psnr, ssim`` (:func:`inpaint_lib.metrics.all_metrics` of every
    completion), ``sharpness`` (:func:`inpaint_lib.metrics.sharpness`: 1 is as detailed as the truth,
    blur is below 1), ``diversity`` (:func:`inpaint_lib.metrics.diversity`; only with n >= 2),
    ``bpd_under_pixelcnnpp`` (with ``density_model``: conditional bits/dim of the completions'
    missing region given the true known region) and ``seconds_per_image``.
    """
    mask = _check_inputs(images, mask)
    samples = completions.samples
    if samples.dim() != 5 or samples.shape[1:] != images.shape:
        raise ValueError(f"completions {tuple(samples.shape)} do not belong to images {tuple(images.shape)}; "
                         "pass the images they were made from")
    sums: dict[str, float] = {}
    for sample in samples:
        for name, values in {**all_metrics(sample, images, mask), "sharpness": sharpness(sample, images, mask)}.items():
            # an image can have no SSIM (NaN: no whole 7x7 window missing); average over those that have one
            sums[name] = sums.get(name, 0.0) + values.double().nanmean().item()
    result = {name: total / len(samples) for name, total in sums.items()}
    if len(samples) >= 2:
        result["diversity"] = diversity(samples, mask).double().mean().item()
    if density_model is not None:
        from .pixelcnnpp import score_completions
        device = next(density_model.parameters()).device
        bits = torch.cat([score_completions(density_model, samples[:, start: start + 100].to(device),
                                            _rows(mask, start, start + 100).to(device),
                                            images[start: start + 100].to(device)).cpu()
                          for start in range(0, len(images), 100)], dim=1)
        result["bpd_under_pixelcnnpp"] = bits.double().mean().item()
    result["seconds_per_image"] = completions.seconds_per_image
    return result


__all__ = ["Completions", "complete", "score"]
