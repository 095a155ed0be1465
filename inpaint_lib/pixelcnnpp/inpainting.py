"""Inpainting with PixelCNN++: sampling the missing pixels given the known ones, and scoring completions.

PixelCNN++ factorises an image in raster order, ``p(x) = prod_t p(x_t | x_<t)``. To inpaint, the
known pixels are held fixed and each missing pixel is drawn, in raster order, from
``p(x_t | x_<t)`` with everything before it (known or already drawn) as the context
(:func:`inpaint`). For the course's lower-half mask this is an exact sample of
``p(lower half | upper half)``; for other masks the pixels *after* a missing one are not looked
at when it is drawn (the model cannot), so it is the usual autoregressive approximation.

When every missing pixel comes after every known one, the same factorisation gives the
conditional likelihood in one teacher-forced pass:

    log p(x_M | x_K) = sum_{t in M} log p(x_t | x_<t)          (K before M in raster order)

(:func:`conditional_bits_per_dim`), which scores any completion of the missing region
(:func:`score_completions`) and picks the most likely of several (:func:`best_of_n`).

Masks follow :mod:`inpaint_lib.masks`: a bool tensor, True where a pixel is missing, (H, W) or (B, H, W).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..masks import check_mask
from ..utils import storable_dtype
from .likelihood import discretized_mix_logistic_log_prob
from .sampling import check_generator, check_sampler, check_temperature, evaluating, fill_in_raster_order, quantize

__all__ = ["inpaint", "inpainting_method", "conditional_bits_per_dim", "score_completions", "BestOfN", "best_of_n"]

# -- input checks ---------------------------------------------------------------------------------

def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype the model computes in: images of another float dtype are cast to it."""
    return next(model.parameters()).dtype


def _shape_or_type(value) -> object:
    """For an error message: a tensor's shape, or the type name of anything else."""
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def _check_images(model: torch.nn.Module, images: torch.Tensor, what: str = "images") -> None:
    s = model.image_size
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3 \
            or tuple(images.shape[2:]) != (s, s):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{what} must have shape (B, 3, {s}, {s}) for this model, got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"{what} must be float in [-1, 1], got dtype {images.dtype}; "
                         "scale uint8 pixels as x / 127.5 - 1")


def _per_image_mask(mask: torch.Tensor, images: torch.Tensor, **requirements) -> torch.Tensor:
    """``mask`` checked against ``images`` (:func:`inpaint_lib.masks.check_mask`, with its ``requirements``),
    as one (B, H, W) mask per image."""
    mask = check_mask(mask, images, **requirements)
    return mask.expand(images.shape[0], *mask.shape[-2:])


# how a message about a mask that leaves nothing missing (or, for inpainting, nothing known) ends
_INPAINT_NEEDS = ("inpainting draws the missing pixels given the known ones (for unconditional samples use "
                  "inpaint_lib.pixelcnnpp.sample(model, n))")
_LIKELIHOOD_NEEDS = "the conditional likelihood is that of the missing pixels"


# -- sampling -------------------------------------------------------------------------------------

def inpaint(model: torch.nn.Module, images: torch.Tensor, mask: torch.Tensor, n_samples: int = 1,
            sampler: str = "fast", generator: torch.Generator | None = None, progress: bool = False,
            temperature: float = 1.0) -> torch.Tensor:
    """Complete the missing pixels of ``images`` with a PixelCNN++ ``model``: (n_samples, B, 3, H, W).

    ``images`` (B, 3, H, W) in [-1, 1] (the values of missing pixels are ignored); ``mask`` (H, W)
    or (B, H, W), True where missing. Each missing pixel is drawn from ``p(x_t | x_<t)`` in raster
    order; known pixels are returned unchanged. The ``n_samples`` completions of every image are
    drawn together, as one batch of ``n_samples * B``. ``generator`` (a ``torch.Generator`` on the
    model's device) makes the draw reproducible.

    ``sampler="naive"`` reruns the network for every pixel; ``"fast"`` recomputes only the rows a
    pixel changes (:mod:`.fast_sampling`) and draws the same pixels from the same generator
    (exactly in float64; in float32 a draw that falls right at a bin edge can, rarely, round
    to the neighbouring level, and the two samplers then go their own ways).
    ``temperature`` T < 1 draws from the sharpened mixture (logits / T, scales * T; see
    :mod:`.sampling`); 1, the default, is the model's own conditional distribution.
    The model runs in eval mode (restored afterwards) without gradients; to sample from EMA
    weights, load them into the model first. Drawn pixels lie on the 256 levels. The result is on
    the model's device, in the dtype of ``images`` (float64 images come back as float32 from an
    Apple GPU, which has no float64).
    """
    check_sampler(sampler)
    check_temperature(temperature)
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    _check_images(model, images)
    size = model.image_size
    batch = images.shape[0]
    mask = _per_image_mask(mask, images, some_missing=True, some_known=True, why=_INPAINT_NEEDS)
    device = _model_device(model)
    check_generator(generator, device)
    images, mask = images.to(device, storable_dtype(images.dtype, device)), mask.to(device)
    known = images.masked_fill(mask[:, None], 0.0)
    if not torch.isfinite(known).all() or known.abs().max() > 1:
        raise ValueError("the known pixels must be finite and in [-1, 1]; scale uint8 pixels as x / 127.5 - 1")

    x = known.to(_model_dtype(model)).repeat(n_samples, 1, 1, 1)   # copies: [all B images] * n_samples
    missing = mask.repeat(n_samples, 1, 1)
    out = fill_in_raster_order(model, x, missing, sampler, generator, progress, temperature).to(images.dtype)
    out = torch.where(missing[:, None], out, images.repeat(n_samples, 1, 1, 1))   # known pixels, bit for bit
    return out.view(n_samples, batch, 3, size, size)


def inpainting_method(model: torch.nn.Module, sampler: str = "fast", seed: int = 0, temperature: float = 1.0):
    """``method(masked, mask) -> one completion`` for :mod:`inpaint_lib.evaluation` (``evaluate``, ``complete``).

    Each call draws a new completion (one seeded generator runs through all calls), so calling
    the method n times gives n different completions of the same images, reproducibly; each is
    drawn at ``temperature`` (:func:`inpaint`).
    """
    check_sampler(sampler)
    check_temperature(temperature)
    generator = torch.Generator(_model_device(model)).manual_seed(seed)

    def method(masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return inpaint(model, masked, mask, sampler=sampler, generator=generator,
                       temperature=temperature)[0].to(masked.device)

    method.name = f"PixelCNN++ ({sampler} sampler{'' if temperature == 1 else f', T={temperature:g}'})"
    return method


# -- conditional likelihood -----------------------------------------------------------------------

def _check_suffix(mask: torch.Tensor) -> None:
    """Every missing pixel must come after every known one in raster order (per image)."""
    flat = mask.flatten(1)
    if not (flat[:, 1:] >= flat[:, :-1]).all():
        b = (flat[:, 1:] < flat[:, :-1]).any(dim=1).nonzero()[0].item()
        raise ValueError(f"the conditional likelihood is exact only when every missing pixel comes after every known "
                         f"pixel in raster order (e.g. the lower half); the mask of image {b} has a known pixel after "
                         "a missing one, whose marginal p(known) the model cannot give")


def _conditional_bpd(model: torch.nn.Module, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Bits/dim of the missing pixels given the known ones, one teacher-forced pass; checked inputs."""
    images, mask = images.to(device=_model_device(model), dtype=_model_dtype(model)), mask.to(_model_device(model))
    with evaluating(model):
        log_p = discretized_mix_logistic_log_prob(images, model(images))          # (B, H, W), nats
    nats = -(log_p * mask).sum(dim=(1, 2))
    return nats / (3 * mask.flatten(1).sum(dim=1) * math.log(2.0))


def conditional_bits_per_dim(model: torch.nn.Module, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``-log2 p(x_M | x_K) / (3 |M|)`` per image, (B,): the missing pixels' bits per sub-pixel given the known.

    One teacher-forced pass of the true ``images`` (B, 3, H, W) in [-1, 1], on the 256 bin centres
    (as the data loaders give them); the per-pixel log-probabilities (all three colours of a pixel)
    are summed over the missing pixels only. Exact when every missing pixel comes after every
    known pixel in raster order, as for the lower half: then ``p(x) = p(x_K) p(x_M | x_K)`` with
    ``p(x_M | x_K) = prod_{t in M} p(x_t | x_<t)``. Other masks raise ValueError. A mask with every
    pixel missing gives the unconditional bits/dim.
    """
    _check_images(model, images)
    mask = _per_image_mask(mask, images, some_missing=True, why=_LIKELIHOOD_NEEDS)
    _check_suffix(mask)
    return _conditional_bpd(model, images, mask)


def score_completions(model: torch.nn.Module, completions: torch.Tensor, mask: torch.Tensor,
                      images: torch.Tensor | None = None) -> torch.Tensor:
    """Conditional bits/dim (:func:`conditional_bits_per_dim`) of each completion of the missing region.

    ``completions`` (n, B, 3, H, W) or (B, 3, H, W) from any method (a PixelCNN++ sample, a
    Pix2Pix output, a baseline) in [-1, 1]. They are first quantised to the 256 levels, the only
    values the discrete likelihood gives mass to. The condition is the completion's own known
    pixels, or those of ``images`` (B, 3, H, W) when given: pass the true images so that a method
    that repaints the known region (Pix2Pix) is scored on its missing region alone. Returns (n, B)
    or (B,), lower is more likely.
    """
    single = isinstance(completions, torch.Tensor) and completions.dim() == 4
    if not isinstance(completions, torch.Tensor) or completions.dim() not in (4, 5):
        raise ValueError(f"completions must be (n, B, 3, H, W) or (B, 3, H, W), got {_shape_or_type(completions)}")
    stack = completions[None] if single else completions
    n, batch = stack.shape[:2]
    flat = stack.reshape(n * batch, *stack.shape[2:])
    _check_images(model, flat, "each completion")
    mask = _per_image_mask(mask, stack[0], some_missing=True, why=_LIKELIHOOD_NEEDS)
    _check_suffix(mask)
    if images is not None:
        _check_images(model, images, "images")
        if images.shape[0] != batch:
            raise ValueError(f"images hold {images.shape[0]} images but the completions {batch} per sample")
        m = mask.to(flat.device)[:, None]
        flat = torch.where(m.repeat(n, 1, 1, 1), flat, images.to(flat.device).repeat(n, 1, 1, 1))
    bits = _conditional_bpd(model, quantize(flat), mask.repeat(n, 1, 1))
    return bits[0:batch] if single else bits.view(n, batch)


class BestOfN(NamedTuple):
    images: torch.Tensor          # (B, 3, H, W): per image, the completion with the lowest score
    index: torch.Tensor           # (B,): which of the n completions it is
    bits_per_dim: torch.Tensor    # (n, B): every completion's conditional bits/dim


def best_of_n(model: torch.nn.Module, completions: torch.Tensor, mask: torch.Tensor,
              images: torch.Tensor | None = None) -> BestOfN:
    """Per image, the most likely of n completions (n, B, 3, H, W) under ``model``: lowest conditional bits/dim.

    Scores with :func:`score_completions` (quantised; known pixels from ``images`` when given);
    returns the chosen completions as they were passed, their indices and all the scores.
    """
    if not isinstance(completions, torch.Tensor) or completions.dim() != 5:
        raise ValueError("best_of_n needs several completions per image, (n, B, 3, H, W), got "
                         f"{_shape_or_type(completions)}")
    bits = score_completions(model, completions, mask, images)
    index = bits.argmin(dim=0).to(completions.device)
    chosen = completions[index, torch.arange(completions.shape[1], device=completions.device)]
    return BestOfN(chosen, index, bits)
