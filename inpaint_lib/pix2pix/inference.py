"""Using a trained Pix2Pix generator: an inpainting method for the evaluation, and dropout samples.

Pix2Pix has no noise vector z: its only source of randomness is dropout. With ``use_dropout``
and the dropout layers left on at test time, repeated calls give different completions; this is
the diversity the study's "mode collapse" verdict is about.
"""

from __future__ import annotations

import torch
from torch import nn

from ..masks import composite
from .networks import set_dropout

__all__ = ["inpainting_method", "dropout_completions"]


def inpainting_method(netG: nn.Module, dropout: bool = False, device: str | torch.device | None = None):
    """``method(masked, mask) -> G(masked)`` for :func:`inpaint_lib.evaluation.evaluate`.

    G runs in eval mode (batch norm with its running statistics). ``dropout=True`` keeps only the
    dropout layers active, so repeated calls give different completions (needs ``use_dropout``).
    """
    device = torch.device(device) if device is not None else next(netG.parameters()).device

    @torch.no_grad()
    def method(masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        was_training = netG.training
        netG.eval()
        set_dropout(netG, dropout)
        try:
            return netG(masked.to(device)).float().to(masked.device)
        finally:
            netG.train(was_training)

    method.name = "pix2pix" + (" (dropout)" if dropout else "")
    return method


@torch.no_grad()
def dropout_completions(netG: nn.Module, masked: torch.Tensor, mask: torch.Tensor, n: int = 8) -> torch.Tensor:
    """``n`` completions per masked image, drawn with the dropout layers on: (n, B, 3, H, W).

    Composited, so only the missing region varies. The spread across the first axis is what
    pix2pix offers as diversity; without ``use_dropout`` all n are the same image.
    """
    method = inpainting_method(netG, dropout=True)
    images = masked.to(next(netG.parameters()).device)
    return torch.stack([composite(method(images, mask), images, mask) for _ in range(n)]).to(masked.device)
