"""Augmenting Pix2Pix's training batches: left-right flips and downward shifts.

Each draw depends only on the run's seed and the step, never on a global generator, so a
resumed run augments exactly as an uninterrupted one would.
"""

from __future__ import annotations

import torch

__all__ = ["random_flip", "random_shift"]


def _augmentation_generator(seed: int, step: int, stream: int, device: torch.device) -> torch.Generator:
    """A generator on the batch's device that depends only on ``(seed, step)`` and the augmentation's
    ``stream``, so that a resumed run draws exactly what an uninterrupted one would, augmentations draw
    apart, and nothing is copied between host and device (a GPU's draws differ from a CPU's)."""
    return torch.Generator(device).manual_seed(seed * 1_000_003 + step + 500_000 * stream)


def random_flip(images: torch.Tensor, seed: int, step: int) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2, drawn from ``(seed, step)`` alone.

    Mirrored photographs are as natural as the originals, and the lower-half task is symmetric
    left-right, so this doubles the variety of training pairs for free. The draw depends only on
    the seed and the step, so a resumed run flips exactly as an uninterrupted one.
    """
    generator = _augmentation_generator(seed, step, stream=0, device=images.device)
    flip = torch.rand(len(images), generator=generator, device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def random_shift(images: torch.Tensor, max_shift: int, seed: int, step: int) -> torch.Tensor:
    """Move each image by (dy, dx), dy in [0, max_shift] down and dx in [-max_shift, max_shift].

    The shifts are drawn from ``(seed, step)``.

    ``out[b, :, i, j] = padded[b, :, i + max_shift - dy, j + max_shift - dx]``, where ``padded``
    is the batch with ``max_shift`` rows mirrored above it and ``max_shift`` columns mirrored on
    either side. Only downward moves: the mirrored rows then land in the known upper half, and
    every pixel the network must predict is still a pixel of the photograph. Each image thus
    shows up at (max_shift + 1) * (2 max_shift + 1) positions: more distinct training pairs
    from the same photographs. (What it does for the L1 U-Net is measured in the README's
    time-to-quality ablation.)
    """
    b, _, h, w = images.shape
    device = images.device
    generator = _augmentation_generator(seed, step, stream=1, device=device)
    dy = torch.randint(0, max_shift + 1, (b,), generator=generator, device=device)
    dx = torch.randint(-max_shift, max_shift + 1, (b,), generator=generator, device=device)
    padded = torch.nn.functional.pad(images, (max_shift, max_shift, max_shift, 0), mode="reflect")
    rows = torch.arange(h, device=device)[None, :] + max_shift - dy[:, None]  # (B, H)
    cols = torch.arange(w, device=device)[None, :] + max_shift - dx[:, None]  # (B, W)
    batch = torch.arange(b, device=images.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()
