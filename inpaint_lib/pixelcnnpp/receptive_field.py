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

__all__ = ["receptive_field_map"]


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
