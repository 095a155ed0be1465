"""The original PixelCNN (van den Oord et al. 2016, arXiv 1601.06759), small, for contrast.

Causality comes from **masked convolutions**: a k x k filter whose weights at and after the
centre (in raster order) are zeroed, so the output at (i, j) reads only rows above and pixels
to the left. Within the centre pixel the colours are ordered R -> G -> B by splitting every
layer's channels into three groups (R, G, B, in that order):

- mask **A** (first layer): a group-c output sees the centre pixel's groups < c only
  (R sees nothing of it, G sees R, B sees R and G);
- mask **B** (later layers): a group-c output sees groups <= c of the centre (its own group
  carries on what it already knew).

Each sub-pixel gets a **256-way softmax** over its value; the loss is the categorical negative
log-likelihood in nats. Stacked 3x3 masked convolutions leave a **blind spot**: pixels above and
to the right that no path reaches (see :func:`inpaint_lib.pixelcnnpp.receptive_field_map`), one of
the things PixelCNN++ (and the gated PixelCNN before it) fixed with two shifted streams.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MaskedConv2d", "PixelCNN", "categorical_loss"]

NUM_LEVELS = 256


def _group(channel: int, channels: int) -> int:
    """Colour group (0 R, 1 G, 2 B) of a channel when ``channels`` are split in three equal blocks."""
    return channel * 3 // channels


class MaskedConv2d(nn.Conv2d):
    """A k x k convolution with weights at and after the centre masked out (type ``"A"`` or ``"B"``).

    ``mask[o, i, p, q] = 1`` if (p, q) is above the centre row, or in the centre row left of the
    centre; at the centre itself ``group(o) > group(i)`` (A) or ``group(o) >= group(i)`` (B).
    Both channel counts must be multiples of 3. ``out = conv(x, weight * mask) + bias``.
    """

    def __init__(self, mask_type: str, in_channels: int, out_channels: int, kernel_size: int):
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        if in_channels % 3 or out_channels % 3 or kernel_size % 2 == 0:
            raise ValueError("masked convolutions need channel counts divisible by 3 and an odd kernel size, got "
                             f"{in_channels}, {out_channels}, {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        c = kernel_size // 2
        mask = torch.zeros_like(self.weight)
        mask[:, :, :c, :] = 1                      # rows above
        mask[:, :, c, :c] = 1                      # left of the centre
        for o in range(out_channels):
            for i in range(in_channels):
                go, gi = _group(o, out_channels), _group(i, in_channels)
                if go > gi or (mask_type == "B" and go == gi):
                    mask[o, i, c, c] = 1
        self.mask_type = mask_type
        self.register_buffer("mask", mask)

    def extra_repr(self) -> str:
        return f"mask_type={self.mask_type}, " + super().extra_repr()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNN(nn.Module):
    """A small PixelCNN: 7x7 mask-A conv, ``num_layers`` 3x3 mask-B convs, two 1x1 mask-B convs, ReLUs.

    ``forward(x)``: images (B, 3, H, W) in [-1, 1] -> logits (B, 3, 256, H, W), the
    distribution of each sub-pixel's value given the sub-pixels before it.
    """

    def __init__(self, channels: int = 48, num_layers: int = 5, hidden: int = 96):
        super().__init__()
        if channels % 3 or hidden % 3:
            raise ValueError("channels and hidden must be multiples of 3 (one third per colour), "
                             f"got {channels}, {hidden}")
        layers: list[nn.Module] = [MaskedConv2d("A", 3, channels, 7), nn.ReLU()]
        for _ in range(num_layers):
            layers += [MaskedConv2d("B", channels, channels, 3), nn.ReLU()]
        layers += [MaskedConv2d("B", channels, hidden, 1), nn.ReLU(), MaskedConv2d("B", hidden, 3 * NUM_LEVELS, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"PixelCNN expects images of shape (B, 3, H, W), got {tuple(x.shape)}; "
                             "pass RGB channels first")
        b, _, h, w = x.shape
        # output channels are in three blocks of 256 (R, G, B), matching the mask's colour groups
        return self.net(x).view(b, 3, NUM_LEVELS, h, w)


def categorical_loss(x: torch.Tensor, logits: torch.Tensor, per_image: bool = False) -> torch.Tensor:
    """``-sum log softmax(logits)[value]`` over every sub-pixel, in nats (per image: (B,)).

    ``x`` in [-1, 1] is mapped to its value ``round((x + 1) * 127.5)`` in 0..255.
    """
    if x.dim() != 4 or x.shape[1] != 3 or logits.shape != (x.shape[0], 3, NUM_LEVELS, *x.shape[2:]):
        raise ValueError(f"expected x (B, 3, H, W) and logits (B, 3, 256, H, W), got {tuple(x.shape)} and "
                         f"{tuple(logits.shape)}; pass the PixelCNN output unchanged")
    target = torch.round((x.clamp(-1, 1) + 1) * 127.5).long()
    nll = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")   # (B, 3, H, W)
    return nll.sum(dim=(1, 2, 3)) if per_image else nll.sum()
