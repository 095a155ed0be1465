r"""The discretized logistic mixture likelihood of PixelCNN++, in nats, and bits/dim.

For each pixel the network outputs ``10 K`` numbers (``K = nr_logistic_mix``), laid out along
channels as in the original code::

    l[:, 0:K]                              logits of the mixture weights pi_k
    l[:, K:].view(B, 3, 3K, H, W)          per colour c (R, G, B):
        [:, c, 0:K]                        means mu_{c,k}
        [:, c, K:2K]                       log scales log s_{c,k} (clamped below at -7)
        [:, c, 2K:3K]                      coupling coefficients, through tanh:
                                           c=0: alpha (G on R), c=1: beta (B on R), c=2: gamma (B on G)

A pixel x = (r, g, b) in [-1, 1] (256 levels, bin centres ``k / 127.5 - 1``, half width 1/255) has

.. math::

    p(x) = \sum_k \pi_k \, P_k(r;\ \mu_R) \, P_k(g;\ \mu_G + \alpha r) \, P_k(b;\ \mu_B + \beta r + \gamma g)

where P_k(v; m) is the mass that the logistic distribution with mean m and scale s gives the
bin of v: colours are coupled linearly *inside* each mixture component, R -> G -> B.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "softplus", "mixture_parameters", "channel_log_probs", "discretized_mix_logistic_log_prob",
    "discretized_mix_logistic_loss", "bits_per_dim",
]

HALF_BIN = 1.0 / 255.0         # half the width of a bin on the [-1, 1] scale
LOG_BIN_DENSITY = math.log(127.5)  # log(1 / bin width): density -> mass in the fallback branch
EDGE = 0.999                   # |x| beyond this is the first or last bin (the original's test)
MIN_MASS = 1e-5                # below this bin mass the original switches to the density at the centre
MIN_LOG_SCALE = -7.0
SOFTPLUS_THRESHOLD = 20.0       # F.softplus's default: the identity above it


def softplus(t: torch.Tensor) -> torch.Tensor:
    """``log(1 + e^t) = max(t, 0) + log(1 + e^{-|t|})``, and exactly ``t`` above t = 20.

    The same function as ``F.softplus`` (including its switch to the identity above 20, which
    the reference gradients carry), written with ``exp`` and ``log``, which PyTorch vectorises
    on a CPU; its ``softplus`` kernel is slower there.
    """
    return torch.where(t > SOFTPLUS_THRESHOLD, t, t.clamp(min=0) + torch.log(1.0 + torch.exp(-t.abs())))


def _check(x: torch.Tensor, l: torch.Tensor, check_range: bool) -> int:
    """Validate shapes (free) and, if asked, that x lies in [-1, 1]; return K."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"x must be RGB images of shape (B, 3, H, W), got {tuple(x.shape)}; pass channels first")
    if l.dim() != 4 or l.shape[1] % 10 or l.shape[1] == 0:
        raise ValueError(f"l must have shape (B, 10*K, H, W) for K logistic components, got {tuple(l.shape)}; "
                         "pass the network output unchanged")
    if (l.shape[0], *l.shape[2:]) != (x.shape[0], *x.shape[2:]):
        raise ValueError(f"x {tuple(x.shape)} and l {tuple(l.shape)} must agree in batch size and image size")
    if check_range and not torch.compiler.is_compiling():
        lo, hi = torch.aminmax(x.detach())
        if lo < -1 or hi > 1:
            raise ValueError(f"x must lie in [-1, 1], got values in [{lo.item():.4g}, {hi.item():.4g}]; "
                             "scale uint8 pixels as x / 127.5 - 1")
    return l.shape[1] // 10


def mixture_parameters(l: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split the network output (B, 10K, H, W) into the mixture's parameters.

    Returns ``(logits, means, log_scales, coeffs)``: logits (B, K, H, W); the others
    (B, 3, K, H, W), with ``log_scales`` already clamped at -7 and ``coeffs = tanh(raw)``
    (index 0 along dim 1: alpha, 1: beta, 2: gamma). The means are *not* yet coupled.
    """
    if l.dim() != 4 or l.shape[1] % 10 or l.shape[1] == 0:
        raise ValueError(f"l must have shape (B, 10*K, H, W), got {tuple(l.shape)}; pass the network output unchanged")
    b, c, h, w = l.shape
    k = c // 10
    params = l[:, k:].reshape(b, 3, 3 * k, h, w)
    return (l[:, :k], params[:, :, :k],
            params[:, :, k:2 * k].clamp(min=MIN_LOG_SCALE),
            torch.tanh(params[:, :, 2 * k:]))


def _coupled_means(means: torch.Tensor, coeffs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Means of G and B shifted by the colours before them (x: (B, 3, H, W) -> (B, 3, K, H, W)).

    ``m_R = mu_R``, ``m_G = mu_G + alpha r``, ``m_B = mu_B + beta r + gamma g``.
    """
    r, g = x[:, 0:1].unsqueeze(2), x[:, 1:2].unsqueeze(2)      # (B, 1, 1, H, W)
    m_r = means[:, 0:1]
    m_g = means[:, 1:2] + coeffs[:, 0:1] * r
    m_b = means[:, 2:3] + coeffs[:, 1:2] * r + coeffs[:, 2:3] * g
    return torch.cat((m_r, m_g, m_b), dim=1)


def channel_log_probs(x: torch.Tensor, l: torch.Tensor, check_inputs: bool = True) -> torch.Tensor:
    """log P_k(x_c | x_<c): the log mass of each colour's bin under each component, (B, 3, K, H, W).

    With ``m`` the coupled mean, ``s`` the scale, ``sigma`` the logistic CDF and
    ``z(t) = (x + t - m) / s``, every entry takes exactly one of four branches, chosen with the
    original code's conditions and constants:

    ====================================  ==========================================================
    x < -0.999 (value 0, first bin)        log sigma(z(+1/255))            mass below the upper edge
    x > 0.999 (value 255, last bin)        log(1 - sigma(z(-1/255)))       mass above the lower edge
    interior, mass > 1e-5                  log(sigma(z(+1/255)) - sigma(z(-1/255)))  the bin's mass
    interior, mass <= 1e-5 (fallback)      log pdf(x) - log 127.5          density at the centre
                                                                           times the bin width 2/255
    ====================================  ==========================================================

    with ``log pdf(x) = z(0) - log s - 2 softplus(z(0))``. The fallback avoids the cancellation
    of two nearly equal CDFs far in a tail. Logs of sigmoids are taken as ``t - softplus(t)`` and
    ``-softplus(t)``, which stay finite where the sigmoid underflows.
    """
    _check(x, l, check_inputs)
    _, means, log_scales, coeffs = mixture_parameters(l)
    x = x.unsqueeze(2)                                          # (B, 3, 1, H, W)
    centered = x - _coupled_means(means, coeffs, x.squeeze(2))
    inv_s = torch.exp(-log_scales)
    plus_in = inv_s * (centered + HALF_BIN)                     # z at the bin's upper edge
    min_in = inv_s * (centered - HALF_BIN)                      # z at the bin's lower edge
    mid_in = inv_s * centered                                   # z at the bin centre

    log_cdf_plus = plus_in - softplus(plus_in)                # log sigma(z+)          (first bin)
    log_one_minus_cdf_min = -softplus(min_in)                 # log(1 - sigma(z-))     (last bin)
    cdf_delta = torch.sigmoid(plus_in) - torch.sigmoid(min_in)  # sigma(z+) - sigma(z-)  (interior)
    log_pdf_mid = mid_in - log_scales - 2.0 * softplus(mid_in)  # log density at the centre

    interior = torch.where(cdf_delta > MIN_MASS,
                           torch.log(cdf_delta.clamp(min=1e-12)),
                           log_pdf_mid - LOG_BIN_DENSITY)
    return torch.where(x < -EDGE, log_cdf_plus,
                       torch.where(x > EDGE, log_one_minus_cdf_min, interior))


def discretized_mix_logistic_log_prob(x: torch.Tensor, l: torch.Tensor, check_inputs: bool = True) -> torch.Tensor:
    """log p(x) per pixel, (B, H, W): ``logsumexp_k [log pi_k + sum_c log P_k(x_c | x_<c)]``."""
    log_pi = F.log_softmax(l[:, : l.shape[1] // 10], dim=1)     # log pi_k = logit_k - logsumexp(logits)
    return torch.logsumexp(log_pi + channel_log_probs(x, l, check_inputs).sum(dim=1), dim=1)


def discretized_mix_logistic_loss(x: torch.Tensor, l: torch.Tensor, per_image: bool = False,
                                  check_inputs: bool = True) -> torch.Tensor:
    """Negative log-likelihood of images x (B, 3, H, W) in [-1, 1] given network outputs l, in nats.

    ``-sum_{b, i, j} log p(x_{b,i,j})`` summed over everything (a scalar), or per image ((B,))
    with ``per_image=True``. Divide by ``ln 2`` and the number of sub-pixels for bits/dim
    (:func:`bits_per_dim`). ``check_inputs=False`` skips the range check of x (which costs a
    device synchronisation); shapes are always checked.
    """
    log_p = discretized_mix_logistic_log_prob(x, l, check_inputs)
    return -log_p.sum(dim=(1, 2)) if per_image else -log_p.sum()


def bits_per_dim(nats: torch.Tensor | float, num_images: int, image_shape: tuple[int, int, int] = (3, 32, 32)):
    r"""A summed negative log-likelihood in bits per sub-pixel,
    :math:`\text{bits/dim} = \frac{\text{nats}}{N \cdot C \cdot H \cdot W \cdot \ln 2}` for N images.

    Works on floats and tensors alike (a per-image loss with ``num_images=1`` gives per-image bits/dim).
    """
    if num_images < 1:
        raise ValueError(f"num_images must be at least 1, got {num_images}")
    return nats / (num_images * math.prod(image_shape) * math.log(2.0))
