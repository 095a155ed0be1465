"""Drawing pixels from the discretized logistic mixture that PixelCNN++ outputs.

For every pixel, given its network output (:func:`~.likelihood.mixture_parameters`):

1. choose a component by the Gumbel-max trick: ``k = argmax_k (logit_k - log(-log u_k))``,
   ``u_k ~ U(0, 1)``, which picks k with probability ``pi_k = softmax(logits)_k``;
2. draw each colour from that component's logistic by inverting its CDF:
   ``y = mu + s (log u - log(1 - u))``;
3. couple the colours, R -> G -> B, exactly as the likelihood does:
   ``r = clip(y_R)``, ``g = clip(y_G + alpha r)``, ``b = clip(y_B + beta r + gamma g)``, clip to [-1, 1].

**Temperature** ``T`` sharpens (T < 1) or flattens (T > 1) the mixture before drawing: the
component logits are divided by T and every logistic scale multiplied by T,
``pi_k ∝ exp(logit_k / T)``, ``s_k -> T s_k``. At ``T = 1`` (the default) the draw is from the
model's own distribution, bit for bit as without the option; below 1 the likeliest component
wins more often and each colour lies closer to its mean, which trades diversity for clean,
sharp samples, as is usual for undertrained likelihood models.

With ``quantized=True`` (the default) each colour is rounded to its bin centre *before* the
next colour uses it, so the samples follow exactly the per-bin probabilities of the likelihood,
which conditions G and B on the quantised pixel values. The original code coupled with the
unrounded values (``quantized=False``), which blurs G and B slightly.

Images are filled with such draws in raster order: :func:`sample` from nothing, and
:func:`~.inpainting.inpaint` around known pixels, both through :func:`_sample_naive` (one
full pass per pixel) or :func:`~.fast_sampling.sample_rows_cached` (the same pixels, cached),
in :func:`sampling_mode` (eval and inference mode, the model's range check off). All images of
a call are drawn together, as one batch: on a GPU the time per pixel hardly depends on the
batch size, so draw many images per call.
"""

from __future__ import annotations

import contextlib
import functools
import math

import torch
from torch.nn.utils import parametrize

from .fast_sampling import sample_rows_cached
from .likelihood import MIN_LOG_SCALE

__all__ = [
    "quantize", "to_levels", "sample_from_discretized_mix_logistic", "SAMPLERS", "check_sampler", "check_generator",
    "check_temperature",
    "evaluating", "sampling_mode", "fill_in_raster_order", "sample",
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
    return u.mul_(1.0 - 2.0 * U_MIN).add_(U_MIN)


def _settle(v: torch.Tensor, quantized: bool) -> torch.Tensor:
    """``v`` clipped to [-1, 1] and, if ``quantized``, rounded to its bin centre: :func:`quantize`'s numbers.

    The rounding runs in place on the clipped copy (fewer operations; autograd allows it there).
    """
    v = v.clamp(-1.0, 1.0)
    return v.add_(1.0).mul_(127.5).round_().div_(127.5).sub_(1.0) if quantized else v


def sample_from_discretized_mix_logistic(l: torch.Tensor, generator: torch.Generator | None = None,
                                         quantized: bool = True, temperature: float = 1.0) -> torch.Tensor:
    """One sample per pixel from network outputs l (B, 10K, H, W): images (B, 3, H, W) in [-1, 1].

    ``generator`` (on l's device) makes the draw reproducible; the noise for the component
    choice is drawn first, then the noise for the three colours. ``temperature`` T: the logits
    are divided by T and the (clamped) scales multiplied by T (module docstring); 1 changes nothing.

    The parameters are laid out as :func:`~.likelihood.mixture_parameters` reads them; only the
    chosen component's are gathered (one ``gather`` for means, log scales and coefficients) and
    clamped or passed through tanh: few operations, as this runs once per drawn pixel. The numbers
    are those of the formulas in the module docstring, bit for bit.
    """
    if l.dim() != 4 or l.shape[1] % 10 or l.shape[1] == 0:
        raise ValueError(f"l must have shape (B, 10*K, H, W), got {tuple(l.shape)}; pass the network output unchanged")
    b, c, h, w = l.shape
    k = c // 10
    logits = l[:, :k] if temperature == 1 else l[:, :k] / temperature
    params = l[:, k:].reshape(b, 3, 3, k, h, w)             # colour, (mean, log scale, coefficient), component
    minus_gumbel = torch.log(-torch.log(_uniform(logits.shape, logits, generator)))   # -(Gumbel noise)
    choice = (logits - minus_gumbel).argmax(dim=1)                                     # (B, H, W)
    chosen = params.gather(3, choice.view(b, 1, 1, 1, h, w).expand(b, 3, 3, 1, h, w))  # (B, 3, 3, 1, H, W)
    mu, log_s, coef = chosen[:, :, :, 0].unbind(2)                                     # each (B, 3, H, W)
    log_s = log_s.clamp(min=MIN_LOG_SCALE)
    if temperature != 1:
        log_s = log_s + math.log(temperature)                                          # s -> T s
    alpha, beta, gamma = torch.tanh(coef).unbind(1)

    u = _uniform(mu.shape, mu, generator)
    y = mu + torch.exp(log_s) * (torch.log(u) - torch.log1p(-u))          # inverse logistic CDF
    y_r, y_g, y_b = y.unbind(1)
    r = _settle(y_r, quantized)
    g = _settle(y_g + alpha * r, quantized)
    b_ = _settle(y_b + beta * r + gamma * g, quantized)
    return torch.stack((r, g, b_), dim=1)


SAMPLERS = ("naive", "fast")


def check_sampler(sampler: str) -> None:
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")


def check_generator(generator: torch.Generator | None, device: torch.device) -> None:
    """A one-line ValueError unless ``generator`` (if any) is on ``device``, the model's.

    Otherwise a CPU generator with a CUDA model would fail deep inside ``torch.rand``.
    """
    if generator is None:
        return
    where = generator.device
    if where.type != device.type or (where.index is not None and device.index is not None
                                     and where.index != device.index):
        raise ValueError(f"the generator is on {where} but the model on {device}; "
                         f"make it with torch.Generator(device={str(device)!r})")


def check_temperature(temperature: float) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive number (1: the model's own distribution), "
                         f"got {temperature!r}")


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


@contextlib.contextmanager
def sampling_mode(model: torch.nn.Module):
    """:func:`evaluating` for the samplers: in ``torch.inference_mode()`` and with the model's input check off.

    The samplers feed the model only values in [-1, 1] (checked known pixels, zeros, and draws,
    which are clipped), so ``model.check_inputs``'s range check would only cost one device
    synchronisation per pixel in the naive sampler. Tensors made here are inference tensors:
    copy results out before leaving (:func:`fill_in_raster_order` does). The model's mode and
    ``check_inputs`` are restored afterwards, also on an error.
    """
    check = getattr(model, "check_inputs", None)
    if check is not None:
        model.check_inputs = False
    try:
        with evaluating(model), torch.inference_mode():
            yield
    finally:
        if check is not None:
            model.check_inputs = check


def _sample_naive(model: torch.nn.Module, x: torch.Tensor, missing: torch.Tensor, draw,
                 progress: bool = False) -> torch.Tensor:
    """Fill the ``missing`` (N, H, W) pixels of ``x`` (N, 3, H, W), one full forward pass per position, in raster order.

    At position (i, j) the output ``model(x)[:, :, i, j]`` depends only on the pixels before (i, j),
    all of them final by then; images whose pixel (i, j) is known keep it (their draw is discarded).
    ``draw(l)`` turns the output at one pixel into pixels, as for
    :func:`.fast_sampling.sample_rows_cached`, which gives the same result with far less work.
    Returns the completed images; ``x`` is not modified. Run it in :func:`sampling_mode`: the
    model's range check would otherwise wait for the device at every pixel.
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
                         generator: torch.Generator | None = None, progress: bool = False,
                         temperature: float = 1.0) -> torch.Tensor:
    """Draw the ``missing`` (N, H, W) pixels of ``x`` from the model, in raster order, with ``sampler``.

    The one mechanism behind :func:`sample` and :func:`~.inpainting.inpaint`: eval mode, inference
    mode and the model's range check off (:func:`sampling_mode`), then :func:`_sample_naive` or
    :func:`~.fast_sampling.sample_rows_cached`, each pixel drawn with ``generator`` at
    ``temperature`` (:func:`sample_from_discretized_mix_logistic`). Returns an
    ordinary tensor (not an inference tensor): it can be changed in place and used with autograd.
    """
    check_temperature(temperature)
    draw = functools.partial(sample_from_discretized_mix_logistic, generator=generator, temperature=temperature)
    fill = sample_rows_cached if sampler == "fast" else _sample_naive
    with sampling_mode(model):
        out = fill(model, x, missing, draw, progress)
    return out.clone()


def sample(model: torch.nn.Module, n: int, generator: torch.Generator | None = None,
           progress: bool = False, sampler: str = "fast", temperature: float = 1.0) -> torch.Tensor:
    """``n`` unconditional images (n, 3, S, S) from a PixelCNN++ ``model``, pixel by pixel in raster order.

    Each pixel is drawn from ``p(x_t | x_<t)`` once all pixels before it are drawn: S * S draws.
    ``sampler="naive"`` runs the whole network for every pixel (S * S full passes); ``"fast"``
    (the default) recomputes only the activations a new pixel can change (the row cache of
    :mod:`.fast_sampling`, as in inpainting) and, given the same ``generator``, draws the same
    pixels. The model runs in eval mode (dropout off; its mode is restored afterwards).
    ``temperature`` < 1 draws from a sharpened mixture (module docstring; 1: the model's own).
    Returns quantised values in [-1, 1].
    """
    check_sampler(sampler)
    check_temperature(temperature)
    size = model.image_size
    weight = next(model.parameters())
    check_generator(generator, weight.device)
    x = torch.zeros(n, 3, size, size, device=weight.device, dtype=weight.dtype)
    everything = torch.ones(n, size, size, dtype=torch.bool, device=weight.device)
    return fill_in_raster_order(model, x, everything, sampler, generator, progress, temperature)
