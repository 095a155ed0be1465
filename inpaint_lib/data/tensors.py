"""Pixels <-> model inputs: uint8 (N, H, W, 3) in 0..255  <->  float (N, 3, H, W) in [-1, 1]."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["to_float", "to_uint8"]


def to_float(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) with ``x = pixel / 127.5 - 1`` (0 -> -1, 255 -> 1)."""
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[-1] != 3:
        raise ValueError("to_float expects uint8 images of shape (N, H, W, 3), "
                         f"got {images.dtype} {tuple(images.shape)}")
    return images.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float (N, 3, H, W) in [-1, 1] -> uint8 (N, H, W, 3): ``round((x + 1) * 127.5)``, clamped to 0..255."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"to_uint8 expects float images of shape (N, 3, H, W), got {tuple(images.shape)}")
    pixels = ((images.detach().float() + 1.0) * 127.5).round_().clamp_(0, 255)
    return pixels.to(torch.uint8).permute(0, 2, 3, 1).contiguous()
