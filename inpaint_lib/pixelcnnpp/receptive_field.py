"""Which input pixels an output pixel depends on, read off from gradients.

For an autoregressive image model the output at (i, j) must not depend on pixel (i, j) or any
pixel after it in raster order. The gradient shows it directly:

    map[c, p, q] = sum_over_a_few_images | d (sum of the outputs at (i, j)) / d x[c, p, q] |

is exactly zero wherever the output cannot see the input (no path through the network), and,
for random inputs and weights, non-zero wherever it can. The same picture works for any model
whose output ends in (..., H, W): PixelCNN++ and the original PixelCNN alike.
"""

from __future__ import annotations

import torch

__all__ = ["receptive_field_map", "unseen_context"]


def receptive_field_map(model: torch.nn.Module, position: tuple[int, int], image_size: int = 32,
                    output_channels: slice | list[int] | None = None, num_images: int = 2,
                    seed: int = 0) -> torch.Tensor:
    """The gradient map (3, H, W) of the outputs at ``position`` with respect to the input image.

    ``output_channels`` selects output channels along dim 1 (default: all), e.g. only the logits
    of the R colour of the original PixelCNN. The model is used as it is (call ``model.eval()``
    to switch dropout off). Inputs are ``num_images`` random images in [-1, 1] drawn with ``seed``.
    """
    i, j = position
    if not (0 <= i < image_size and 0 <= j < image_size):
        raise ValueError(f"position {position} lies outside a {image_size}x{image_size} image")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    x = (torch.rand(num_images, 3, image_size, image_size, generator=generator) * 2 - 1).to(device)
    x.requires_grad_(True)
    out = model(x)
    if output_channels is not None:
        out = out[:, output_channels]
    out[..., i, j].sum().backward()
    return x.grad.abs().sum(dim=0)




def unseen_context(model: torch.nn.Module, positions: list[tuple[int, int]] | None = None, image_size: int = 32,
                   num_images: int = 2, seed: int = 0, batch_size: int = 128) -> torch.Tensor:
    """How many pixels before each position, in raster order, the output there cannot see.

    ``positions``: (row, column) pairs; returns their counts, int64 of shape (len(positions),).
    Without it: every position, as an (H, W) map. 0 means the output conditions on the whole
    context the factorisation allows. It is :func:`receptive_field_map` at many positions at
    once: image b of a batch asks for the output at its own position, and since the images of a
    batch never interact (call ``model.eval()``: no dropout, no batch statistics), image b's
    gradient is that position's map. ``num_images`` random images per position, drawn with ``seed``.
    The counts depend on the architecture (depth, kernels, resampling), not on the width: a narrow
    model of the same depth gives the same counts, faster.
    """
    every = positions is None
    if every:
        positions = [(r, c) for r in range(image_size) for c in range(image_size)]
    if not all(0 <= r < image_size and 0 <= c < image_size for r, c in positions):
        raise ValueError(f"positions {positions} lie outside a {image_size}x{image_size} image")
    device = next(model.parameters()).device
    order = torch.arange(image_size * image_size, device=device).view(1, image_size, image_size)
    wanted = torch.tensor([r * image_size + c for r, c in positions], dtype=torch.long, device=device)
    generator = torch.Generator().manual_seed(seed)
    counts = torch.empty(len(wanted), dtype=torch.long)
    for start in range(0, len(wanted), batch_size):
        chunk = wanted[start: start + batch_size]
        n = len(chunk)
        x = (torch.rand(num_images * n, 3, image_size, image_size, generator=generator) * 2 - 1).to(device)
        x.requires_grad_(True)
        out = model(x).flatten(1, -3)  # (N, outputs, H, W), whatever the model's output layout
        asked = chunk.repeat(num_images)  # image k * n + b asks for the output at chunk[b]
        out[torch.arange(len(asked), device=device), :, asked // image_size, asked % image_size].sum().backward()
        seen = x.grad.abs().sum(1).view(num_images, n, image_size, image_size).sum(0) > 0
        earlier = order < chunk.view(-1, 1, 1)
        counts[start: start + n] = (earlier & ~seen).sum((1, 2)).cpu()
    return counts.view(image_size, image_size) if every else counts
