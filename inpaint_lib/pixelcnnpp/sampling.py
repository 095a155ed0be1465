"""Drawing pixels from the discretized logistic mixture that PixelCNN++ outputs.

For every pixel, given its network output (:func:`~.likelihood.mixture_parameters`):

1. choose a component by the Gumbel-max trick: ``k = argmax_k (logit_k - log(-log u_k))``,
   ``u_k ~ U(0, 1)``, which picks k with probability ``pi_k = softmax(logits)_k``;
2. draw each colour from that component's logistic by inverting its CDF:
   ``y = mu + s (log u - log(1 - u))``;
3. couple the colours, R -> G -> B, exactly as the likelihood does:
   ``r = clip(y_R)``, ``g = clip(y_G + alpha r)``, ``b = clip(y_B + beta r + gamma g)``, clip to [-1, 1].

With ``quantized=True`` (the default) each colour is rounded to its bin centre *before* the
next colour uses it, so the samples follow exactly the per-bin probabilities of the likelihood,
which conditions G and B on the quantised pixel values. The original code coupled with the
unrounded values (``quantized=False``), which blurs G and B slightly.

Images are filled with such draws in raster order: :func:`sample` from nothing, and
:func:`~.inpainting.inpaint` around known pixels, both through :func:`_sample_naive` (one
full pass per pixel) or :func:`~.fast_sampling.sample_rows_cached` (the same pixels, cached).
"""

from __future__ import annotations

import contextlib
import functools

import torch
from torch.nn.utils import parametrize

from .fast_sampling import sample_rows_cached
from .likelihood import mixture_parameters

__all__ = [
    "quantize", "to_levels", "sample_from_discretized_mix_logistic", "SAMPLERS", "check_sampler", "evaluating",
    "fill_in_raster_order", "sample",
]

U_MIN = 1e-5  # uniform noise is drawn from (U_MIN, 1 - U_MIN), as in the original, so logs stay finite


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round values in [-1, 1] to the nearest of the 256 bin centres ``k / 127.5 - 1``."""
    return to_levels(x).to(x.dtype) / 127.5 - 1.0


def to_levels(x: torch.Tensor) -> torch.Tensor:
    """The bin index 0..255 of values in [-1, 1]: ``round((x + 1) * 127.5)`` as int64."""
    return torch.round((x.clamp(-1.0, 1.0) + 1.0) * 127.5).long()


def _uniform(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    u = torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)
    return u * (1.0 - 2.0 * U_MIN) + U_MIN


def sample_from_discretized_mix_logistic(l: torch.Tensor, generator: torch.Generator | None = None,
                                         quantized: bool = True) -> torch.Tensor:
    """One sample per pixel from network outputs l (B, 10K, H, W): images (B, 3, H, W) in [-1, 1].

    ``generator`` (on l's device) makes the draw reproducible; the noise for the component
    choice is drawn first, then the noise for the three colours.
    """
    logits, means, log_scales, coeffs = mixture_parameters(l)
    b, k, h, w = logits.shape
    gumbel = -torch.log(-torch.log(_uniform(logits.shape, logits, generator)))
    choice = (logits + gumbel).argmax(dim=1)                               # (B, H, W)
    index = choice[:, None, None].expand(b, 3, 1, h, w)
    mu, log_s, coef = (t.gather(2, index).squeeze(2) for t in (means, log_scales, coeffs))  # (B, 3, H, W)

    u = _uniform(mu.shape, mu, generator)
    y = mu + torch.exp(log_s) * (torch.log(u) - torch.log1p(-u))          # inverse logistic CDF

    def settle(v: torch.Tensor) -> torch.Tensor:
        v = v.clamp(-1.0, 1.0)
        return quantize(v) if quantized else v

    r = settle(y[:, 0])
    g = settle(y[:, 1] + coef[:, 0] * r)
    b_ = settle(y[:, 2] + coef[:, 1] * r + coef[:, 2] * g)
    return torch.stack((r, g, b_), dim=1)


SAMPLERS = ("naive", "fast")


def check_sampler(sampler: str) -> None:
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")


@contextlib.contextmanager
def evaluating(model: torch.nn.Module):
    """Eval mode, no gradients and weight norm computed once; the model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), parametrize.cached():
            yield
    finally:
        model.train(was_training)


def _sample_naive(model: torch.nn.Module, x: torch.Tensor, missing: torch.Tensor, draw,
                 progress: bool = False) -> torch.Tensor:
    """Fill the ``missing`` (N, H, W) pixels of ``x`` (N, 3, H, W), one full forward pass per position, in raster order.

    At position (i, j) the output ``model(x)[:, :, i, j]`` depends only on the pixels before (i, j),
    all of them final by then; images whose pixel (i, j) is known keep it (their draw is discarded).
    ``draw(l)`` turns the output at one pixel into pixels, as for
    :func:`.fast_sampling.sample_rows_cached`, which gives the same result with far less work.
    Returns the completed images; ``x`` is not modified.
    """
    x = x.clone()
    positions = missing.any(dim=0).nonzero().tolist()        # row-major: raster order
    if progress:
        from tqdm import tqdm
        positions = tqdm(positions, desc="naive sampling", unit="pixel")
    for i, j in positions:
        l = model(x)[:, :, i:i + 1, j:j + 1]
        value = draw(l)[:, :, 0, 0]
        x[:, :, i, j] = torch.where(missing[:, i, j, None], value, x[:, :, i, j])
    return x


def fill_in_raster_order(model: torch.nn.Module, x: torch.Tensor, missing: torch.Tensor, sampler: str = "fast",
                         generator: torch.Generator | None = None, progress: bool = False) -> torch.Tensor:
    """Draw the ``missing`` (N, H, W) pixels of ``x`` from the model, in raster order, with ``sampler``.

    The one mechanism behind :func:`sample` and :func:`~.inpainting.inpaint`: eval mode and no
    gradients (:func:`evaluating`), then :func:`_sample_naive` or
    :func:`~.fast_sampling.sample_rows_cached`, each pixel drawn with ``generator``.
    """
    draw = functools.partial(sample_from_discretized_mix_logistic, generator=generator)
    fill = sample_rows_cached if sampler == "fast" else _sample_naive
    with evaluating(model):
        return fill(model, x, missing, draw, progress)


def sample(model: torch.nn.Module, n: int, generator: torch.Generator | None = None,
           progress: bool = False, sampler: str = "fast") -> torch.Tensor:
    """``n`` unconditional images (n, 3, S, S) from a PixelCNN++ ``model``, pixel by pixel in raster order.

    Each pixel is drawn from ``p(x_t | x_<t)`` once all pixels before it are drawn: S * S draws.
    ``sampler="naive"`` runs the whole network for every pixel (S * S full passes); ``"fast"``
    (the default) recomputes only the activations a new pixel can change (the row cache of
    :mod:`.fast_sampling`, as in inpainting) and, given the same ``generator``, draws the same
    pixels. The model runs in eval mode (dropout off; its mode is restored afterwards).
    Returns quantised values in [-1, 1].
    """
    check_sampler(sampler)
    size = model.image_size
    weight = next(model.parameters())
    x = torch.zeros(n, 3, size, size, device=weight.device, dtype=weight.dtype)
    everything = torch.ones(n, size, size, dtype=torch.bool, device=weight.device)
    return fill_in_raster_order(model, x, everything, sampler, generator, progress)
