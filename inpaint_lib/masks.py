"""Masks: which pixels of an image are missing.

Convention used everywhere in the course: a **mask is a boolean tensor that is True where a
pixel is missing** (the region to inpaint) and False where it is known. A single mask has shape
(H, W) and is shared by the whole batch; a per-image mask has shape (B, H, W). Images are
float tensors (B, C, H, W) in [-1, 1].

The course's task is :func:`lower_half`: rows H/2..H-1 are missing, rows 0..H/2-1 are given.

Whether a mask fits a batch of images is checked in one place, :func:`check_mask`, which every
module that takes a mask calls.
"""

from __future__ import annotations

import torch

__all__ = [
    "lower_half", "left_half", "centre_square", "random_rectangles", "MASKS", "get_mask", "check_mask",
    "broadcast_mask", "apply_mask", "composite", "missing_fraction",
]

IMAGE_SIZE = 32


def lower_half(height: int = IMAGE_SIZE, width: int = IMAGE_SIZE) -> torch.Tensor:
    """Rows ``height // 2`` and below are missing: the course's inpainting task."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[height // 2:] = True
    return mask


def left_half(height: int = IMAGE_SIZE, width: int = IMAGE_SIZE) -> torch.Tensor:
    """Columns 0..width/2-1 are missing."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[:, : width // 2] = True
    return mask


def centre_square(height: int = IMAGE_SIZE, width: int = IMAGE_SIZE, size: int = 16) -> torch.Tensor:
    """A ``size`` x ``size`` square in the middle of the image is missing."""
    if not 0 < size <= min(height, width):
        raise ValueError(f"centre square size must be in 1..{min(height, width)}, got {size}")
    mask = torch.zeros(height, width, dtype=torch.bool)
    top, left = (height - size) // 2, (width - size) // 2
    mask[top: top + size, left: left + size] = True
    return mask


def random_rectangles(batch: int, height: int = IMAGE_SIZE, width: int = IMAGE_SIZE, count: int = 2,
                      min_size: int = 6, max_size: int = 16, generator: torch.Generator | None = None) -> torch.Tensor:
    """A (batch, H, W) mask: ``count`` axis-aligned rectangles per image, sides in [min_size, max_size]."""
    if not 1 <= min_size <= max_size <= min(height, width):
        raise ValueError(f"need 1 <= min_size <= max_size <= {min(height, width)}, got {min_size}, {max_size}")
    mask = torch.zeros(batch, height, width, dtype=torch.bool)
    for b in range(batch):
        for _ in range(count):
            h, w = torch.randint(min_size, max_size + 1, (2,), generator=generator).tolist()
            top = torch.randint(0, height - h + 1, (1,), generator=generator).item()
            left = torch.randint(0, width - w + 1, (1,), generator=generator).item()
            mask[b, top: top + h, left: left + w] = True
    return mask


MASKS = {"lower_half": lower_half, "left_half": left_half, "centre_square": centre_square}


def get_mask(name: str, height: int = IMAGE_SIZE, width: int = IMAGE_SIZE) -> torch.Tensor:
    """The fixed (H, W) mask called ``name`` (one of :data:`MASKS`)."""
    if name not in MASKS:
        raise ValueError(f"unknown mask {name!r}; choose one of {', '.join(MASKS)}")
    return MASKS[name](height, width)


def check_mask(mask: torch.Tensor, images: torch.Tensor, some_missing: bool = False, some_known: bool = False,
               why: str = "") -> torch.Tensor:
    """Check that ``mask`` fits ``images`` (B, C, H, W) and return it on their device, its shape unchanged.

    The one mask check of the course. A mask fits when it is a bool tensor (True = missing) of
    shape (H, W), one mask shared by the batch, or (B, H, W), one mask per image. With
    ``some_missing`` every image must have at least one missing pixel, with ``some_known`` at
    least one known pixel; ``why`` (what the caller needs them for, and what to do instead) ends
    that message. Every failure is one ValueError line naming the shapes.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        got = f"shape {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be (B, C, H, W), got {got}")
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = f"dtype {mask.dtype}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a bool tensor (True = missing), got {got}")
    b, _, h, w = images.shape
    if mask.shape != (h, w) and mask.shape != (b, h, w):
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not fit images of shape {tuple(images.shape)}; "
                         f"expected ({h}, {w}), one mask for the batch, or ({b}, {h}, {w}), one per image")
    for wanted, pixels, what in ((some_missing, mask, "missing"), (some_known, ~mask, "known")):
        empty = ~pixels.flatten(-2).any(dim=-1)     # () for one shared mask, (B,) for one mask per image
        if wanted and empty.any():
            where = f" in image {empty.nonzero()[0].item()}" if mask.dim() == 3 else ""
            raise ValueError(f"the mask leaves nothing {what}{where}" + (f"; {why}" if why else ""))
    return mask.to(images.device)


def broadcast_mask(mask: torch.Tensor, images: torch.Tensor, **requirements) -> torch.Tensor:
    """``mask`` checked against ``images`` (B, C, H, W) as (1 or B, 1, H, W), so that it broadcasts over them.

    ``requirements`` are those of :func:`check_mask` (``some_missing``, ``some_known``, ``why``).
    """
    mask = check_mask(mask, images, **requirements)
    return mask[None, None] if mask.dim() == 2 else mask[:, None]


def apply_mask(images: torch.Tensor, mask: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """The model's input: missing pixels replaced by ``fill`` (0.0 is mid-grey on the [-1, 1] scale)."""
    return images.masked_fill(broadcast_mask(mask, images), fill)


def composite(prediction: torch.Tensor, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Known pixels from ``images``, missing pixels from ``prediction``: ``where(mask, prediction, images)``."""
    if prediction.shape != images.shape:
        raise ValueError(f"prediction shape {tuple(prediction.shape)} differs from images shape {tuple(images.shape)}")
    return torch.where(broadcast_mask(mask, images), prediction, images)


def missing_fraction(mask: torch.Tensor) -> float:
    """Fraction of pixels that are missing (0.5 for :func:`lower_half`)."""
    return mask.float().mean().item()
