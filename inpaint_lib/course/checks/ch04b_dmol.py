"""Checks for exercise 04b: the discretized logistic mixture likelihood."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ._common import _close, _diagnose, _grad_close, _passed

__all__ = ["check_log_bin_mass", "check_dmol_log_prob", "golden_path"]


def _bin_variant(x, mean, log_scale, half: float = 1 / 255, scale: str = "exp", edges: bool = True,
                 swap_edges: bool = False, fallback: bool = True, fallback_shift: bool = True,
                 pdf_log_s: bool = True, clamp: bool = True) -> torch.Tensor:
    """log P(bin of x) under a logistic(mean, exp(log_scale)): the library's four branches, and known wrong
    versions of them (a wider bin, the scale used wrongly, an edge bin missing or swapped, the fallback
    missing or incomplete)."""
    from ...pixelcnnpp.likelihood import softplus
    inv_s = {"exp": torch.exp(-log_scale), "mul": torch.exp(log_scale), "raw": 1 / log_scale}[scale]
    centred = x - mean
    plus, minus, mid = inv_s * (centred + half), inv_s * (centred - half), inv_s * centred
    mass = torch.sigmoid(plus) - torch.sigmoid(minus)
    log_pdf = mid - (log_scale if pdf_log_s else 0) - 2 * softplus(mid) - (math.log(127.5) if fallback_shift else 0)
    interior = torch.log(mass.clamp(min=1e-12) if clamp else mass)
    if fallback:
        interior = torch.where(mass > 1e-5, interior, log_pdf)
    if not edges:
        return interior
    low, high = plus - softplus(plus), -softplus(minus)
    if swap_edges:
        low, high = high, low
    return torch.where(x < -0.999, low, torch.where(x > 0.999, high, interior))


def _bin_reference(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, grad: bool = False):
    """The library's log P of each entry (flat float64 tensors), through ``channel_log_probs`` with one
    component and no coupling; with ``grad``, also d(sum)/d mean and d(sum)/d log_scale."""
    from ...pixelcnnpp import channel_log_probs
    n = x.numel()
    l = torch.zeros(1, 10, 1, n, dtype=torch.float64)
    for c in range(3):                               # every colour: the same mean and scale, coefficient 0
        l[0, 1 + 3 * c, 0], l[0, 2 + 3 * c, 0] = mean, log_scale
    l.requires_grad_(grad)
    log_p = channel_log_probs(x.view(1, 1, 1, n).expand(1, 3, 1, n), l)[0, 0, 0, 0]
    if not grad:
        return log_p.detach()
    log_p.sum().backward()
    return log_p.detach(), l.grad[0, 1, 0], l.grad[0, 2, 0]


def _bin_cases() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Values, means and log scales (float64) that exercise every branch, and which entry takes which."""
    g = torch.Generator().manual_seed(0)
    level = lambda n: torch.randint(1, 255, (n,), generator=g).double() / 127.5 - 1  # noqa: E731
    u = lambda n, a, b: a + (b - a) * torch.rand(n, generator=g, dtype=torch.float64)  # noqa: E731
    x_in = level(40)
    x_tail = level(30)
    xs = [x_in, -torch.ones(16, dtype=torch.float64), torch.ones(16, dtype=torch.float64), x_tail,
          torch.tensor([0.0, -0.2, 0.4], dtype=torch.float64)]
    means = [x_in + 0.05 * torch.randn(40, generator=g, dtype=torch.float64), u(16, -1.0, 0.6), u(16, -0.6, 1.0),
             x_tail + torch.where(torch.rand(30, generator=g) < 0.5, -1.0, 1.0).double() * u(30, 0.3, 0.8),
             torch.tensor([-0.9, 0.7, -0.5], dtype=torch.float64)]
    log_scales = [u(40, -4.0, -1.5), u(16, -4.0, -0.5), u(16, -4.0, -0.5), u(30, -5.0, -3.5),
                  torch.full((3,), -4.0, dtype=torch.float64)]       # the last three: bin mass exactly 0
    x, mean, log_scale = torch.cat(xs), torch.cat(means), torch.cat(log_scales)
    plus = (x - mean + 1 / 255) * torch.exp(-log_scale)
    minus = (x - mean - 1 / 255) * torch.exp(-log_scale)
    tiny = torch.sigmoid(plus) - torch.sigmoid(minus) <= 1e-5
    regions = {"edge 0": x < -0.999, "edge 255": x > 0.999}
    interior = ~regions["edge 0"] & ~regions["edge 255"]
    regions["interior"], regions["fallback"] = interior & ~tiny, interior & tiny
    return x, mean, log_scale, regions


def _describe(x, mean, log_scale, got, expected, index) -> str:
    i = int(index)
    return (f"e.g. x = {x[i].item():.4f} (value {round((x[i].item() + 1) * 127.5)}), mean = {mean[i].item():.4f}, "
            f"log_scale = {log_scale[i].item():.3f}: expected {expected[i].item():.6g}, got {got[i].item():.6g}")


def check_log_bin_mass(log_bin_mass: Callable) -> None:
    """``log_bin_mass(x, mean, log_scale)``: log of the mass a logistic gives the bin of x, elementwise.

    Compared with ``inpaint_lib.pixelcnnpp.channel_log_probs`` branch by branch: interior bins, the 0 and 255
    edge bins, tiny masses (the fallback), tails far enough out that a naive log sigmoid underflows, and the
    gradients with respect to the mean and the log scale (which must stay finite where a mass is exactly 0).
    """
    x, mean, log_scale, regions = _bin_cases()
    expected, grad_mean, grad_log_scale = _bin_reference(x, mean, log_scale, grad=True)
    m = mean.clone().requires_grad_(True)
    s = log_scale.clone().requires_grad_(True)
    got = log_bin_mass(x.clone(), m, s)
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"log_bin_mass must return a tensor, got {type(got).__name__}")
    if got.shape != x.shape:
        raise AssertionError(f"log_bin_mass must work elementwise: for x, mean and log_scale of shape "
                             f"{tuple(x.shape)} it returned shape {tuple(got.shape)}")
    got_values = got.detach()
    how = "z = (x - mean) / s with s = exp(log_scale)"
    mistakes = {
        "interior": {
            "the bin is x ± 1/255 (the levels are 2/255 apart, so half a bin is 1/255), not ± 1/127.5":
                _bin_variant(x, mean, log_scale, half=1 / 127.5),
            f"divide by the scale, do not multiply: {how}": _bin_variant(x, mean, log_scale, scale="mul"),
            f"the scale is exp(log_scale), not log_scale: {how}": _bin_variant(x, mean, log_scale, scale="raw"),
            "return the log of the mass, not the mass": expected.exp(),
        },
        "edge 0": {
            "the 0 edge bin is not handled: for x = -1 the probability is sigmoid((x + 1/255 - mean) / s), the "
            "whole mass below the bin's upper edge": _bin_variant(x, mean, log_scale, edges=False),
            "the edge bins are swapped: x = -1 (value 0) takes the left tail, log sigmoid((x + 1/255 - mean) / s); "
            "x = 1 (value 255) the right tail, log(1 - sigmoid((x - 1/255 - mean) / s))":
                _bin_variant(x, mean, log_scale, swap_edges=True),
        },
        "edge 255": {
            "the 255 edge bin is not handled: for x = 1 the probability is 1 - sigmoid((x - 1/255 - mean) / s), "
            "the whole mass above the bin's lower edge": _bin_variant(x, mean, log_scale, edges=False),
            "the edge bins are swapped: x = 1 (value 255) takes the right tail, log(1 - sigmoid((x - 1/255 - mean) "
            "/ s)); x = -1 (value 0) the left tail": _bin_variant(x, mean, log_scale, swap_edges=True),
        },
        "fallback": {
            "the tiny-probability fallback is missing: where the bin mass is at most 1e-5, use the density at the "
            "bin centre times the bin width, log pdf - log 127.5, with log pdf = z - log s - 2 softplus(z), "
            f"{how}": _bin_variant(x, mean, log_scale, fallback=False),
            "the tiny-probability fallback is missing (log of the mass everywhere): where the bin mass is at most "
            "1e-5, use log pdf - log 127.5, with log pdf = z - log s - 2 softplus(z), "
            f"{how}": _bin_variant(x, mean, log_scale, fallback=False, clamp=False),
            "the fallback must turn the density at the bin centre into a mass: subtract log 127.5 (the bin is "
            "2/255 wide)": _bin_variant(x, mean, log_scale, fallback_shift=False),
            "the fallback's log density is z - log s - 2 softplus(z): the - log s is missing":
                _bin_variant(x, mean, log_scale, pdf_log_s=False),
        },
    }
    names = {"interior": "interior bins", "edge 0": "the 0 edge bin (x = -1)", "edge 255": "the 255 edge bin (x = 1)",
             "fallback": "interior bins with a mass of at most 1e-5 (the fallback)"}
    for region in ("interior", "edge 0", "edge 255", "fallback"):
        sel = regions[region]
        if _close(got_values[sel], expected[sel], 1e-6):
            continue
        for message, value in mistakes[region].items():
            if _close(got_values[sel], value[sel], 1e-6):
                raise AssertionError(f"log_bin_mass: {message}")
        bad = ((got_values - expected).abs() > 1e-6 * (1 + expected.abs())) & sel
        worst = bad.nonzero()[0, 0]
        if region.startswith("edge") and not torch.isfinite(got_values[sel]).all():
            worst = (~torch.isfinite(got_values) & sel).nonzero()[0, 0]
            form, stable = (("log sigmoid(t)", "t - softplus(t) (or F.logsigmoid(t))") if region == "edge 0" else
                            ("log(1 - sigmoid(t))", "-softplus(t)"))
            raise AssertionError(f"log_bin_mass is not finite in {names[region]} "
                                 f"({_describe(x, mean, log_scale, got_values, expected, worst)}): {form} underflows "
                                 f"where the sigmoid rounds to {0 if region == 'edge 0' else 1}; "
                                 f"compute it as {stable}")
        if region == "fallback" and not torch.isfinite(got_values[sel]).all():
            worst = (~torch.isfinite(got_values) & sel).nonzero()[0, 0]
            raise AssertionError(f"log_bin_mass is not finite where the bin mass is tiny "
                                 f"({_describe(x, mean, log_scale, got_values, expected, worst)}): "
                                 f"{next(iter(mistakes['fallback']))}")
        raise AssertionError(f"log_bin_mass differs in {names[region]}: "
                             f"{_describe(x, mean, log_scale, got_values, expected, worst)}")

    # tails so far out that sigmoid rounds to exactly 0 or 1 (float64)
    far_x = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    far_mean = torch.tensor([0.95, -0.95], dtype=torch.float64)
    far_log_scale = torch.full((2,), -6.0, dtype=torch.float64)
    far = log_bin_mass(far_x, far_mean, far_log_scale).detach()
    far_expected = _bin_reference(far_x, far_mean, far_log_scale)
    for i, (form, stable) in enumerate([("log sigmoid(t)", "t - softplus(t) (or F.logsigmoid(t))"),
                                        ("log(1 - sigmoid(t))", "-softplus(t)")]):
        if not _close(far[i], far_expected[i], 1e-6):
            raise AssertionError(f"log_bin_mass: for x = {far_x[i]:.0f} with mean {far_mean[i]:.2f} and log_scale -6 "
                                 f"(t = {(far_x[i] - far_mean[i] + (1 - 2 * i) / 255) * math.exp(6):.0f}) it gives "
                                 f"{far[i].item():.6g} instead of {far_expected[i].item():.6g}: {form} underflows when "
                                 f"the sigmoid rounds to {1 - i if i else 0}; compute it as {stable}")

    got.sum().backward()
    for name, grad, reference in (("mean", m.grad, grad_mean), ("log_scale", s.grad, grad_log_scale)):
        if grad is None:
            raise AssertionError(f"log_bin_mass: no gradient reaches {name}: keep the computation in autograd")
        if not torch.isfinite(grad).all():
            i = int((~torch.isfinite(grad)).nonzero()[0, 0])
            raise AssertionError(f"log_bin_mass: the gradient with respect to {name} is {grad[i].item()} for x = "
                                 f"{x[i].item():.4f}, mean = {mean[i].item():.4f}, "
                                 f"log_scale = {log_scale[i].item():.2f}, "
                                 "where the bin mass is 0: torch.where backpropagates through the branch it does "
                                 "not pick too, and log(0) there gives inf * 0 = nan; clamp the mass before the log "
                                 "(mass.clamp(min=1e-12))")
        if not _grad_close(grad, reference, 1e-6):
            i = int(((grad - reference).abs()).argmax())
            raise AssertionError(f"log_bin_mass: the gradient with respect to {name} differs from the library's, e.g. "
                                 f"{grad[i].item():.6g} instead of {reference[i].item():.6g} for x = {x[i].item():.4f}")
    _passed("log_bin_mass")


def _dmol_variant(x: torch.Tensor, l: torch.Tensor, coupling: str = "tanh", clamp: bool = True,
                  swap_beta_gamma: bool = False, mix: str = "log_softmax") -> torch.Tensor:
    """log p(x) per pixel, (B, H, W), as the library computes it, and known wrong versions of it."""
    import torch.nn.functional as F
    b, c, h, w = l.shape
    k = c // 10
    logits, params = l[:, :k], l[:, k:].reshape(b, 3, 3 * k, h, w)
    means, log_scales, raw = params[:, :, :k], params[:, :, k:2 * k], params[:, :, 2 * k:]
    if clamp:
        log_scales = log_scales.clamp(min=-7.0)
    coeffs = {"tanh": torch.tanh(raw), "raw": raw, "none": torch.zeros_like(raw)}[coupling]
    r, g = x[:, 0:1].unsqueeze(2), x[:, 1:2].unsqueeze(2)
    beta, gamma = (coeffs[:, 2:3], coeffs[:, 1:2]) if swap_beta_gamma else (coeffs[:, 1:2], coeffs[:, 2:3])
    m = torch.cat((means[:, 0:1], means[:, 1:2] + coeffs[:, 0:1] * r, means[:, 2:3] + beta * r + gamma * g), dim=1)
    log_p = _bin_variant(x.unsqueeze(2), m, log_scales)                    # (B, 3, K, H, W)
    if mix == "per colour":
        return torch.logsumexp(F.log_softmax(logits, 1).unsqueeze(1) + log_p, dim=2).sum(1)
    weights = {"log_softmax": F.log_softmax(logits, 1), "none": logits, "softmax": F.softmax(logits, 1),
               "sum": F.log_softmax(logits, 1)}[mix]
    if mix == "sum":
        return (weights + log_p.sum(1)).sum(1)
    return torch.logsumexp(weights + log_p.sum(1), dim=1)


def golden_path():
    """Where the course's golden likelihood file is expected: ``$INPAINT_SHARED`` or ``../shared``, then
    ``reference/dmol_golden.npz``."""
    import os
    from pathlib import Path

    from ...utils import REPO_ROOT
    return Path(os.environ.get("INPAINT_SHARED") or REPO_ROOT.parent / "shared") / "reference" / "dmol_golden.npz"


def check_dmol_log_prob(dmol_log_prob: Callable) -> None:
    """``dmol_log_prob(x, l)``: log p(x) per pixel, (B, H, W), for images x in [-1, 1] and network outputs l.

    Compared with ``inpaint_lib.pixelcnnpp.discretized_mix_logistic_log_prob`` on random outputs (log scales
    below the -7 clamp included, edge values 0 and 255 included), with its gradient with respect to l, and
    with the golden file of the reference implementation (per-image losses, all-0 and all-255 images), when
    the file is where the course keeps it.
    """
    import numpy as np

    from ...pixelcnnpp import discretized_mix_logistic_log_prob

    g = torch.Generator().manual_seed(0)
    b, k, h, w = 2, 3, 4, 5
    logits = 2 * torch.randn(b, k, h, w, generator=g, dtype=torch.float64)
    means = torch.rand(b, 3, k, h, w, generator=g, dtype=torch.float64) * 2 - 1
    log_scales = torch.rand(b, 3, k, h, w, generator=g, dtype=torch.float64) * 7.5 - 8.5   # -8.5 .. -1
    coeffs = torch.randn(b, 3, k, h, w, generator=g, dtype=torch.float64)
    l = torch.cat((logits, torch.cat((means, log_scales, coeffs), dim=2).view(b, 9 * k, h, w)), dim=1)
    values = torch.randint(0, 256, (b, 3, h, w), generator=g)
    values[0, :, 0, 0], values[0, :, 0, 1], values[1, 0, 1, :] = 0, 255, 255
    x = values.double() / 127.5 - 1
    x_near = (means[:, :, 0] + 0.02 * torch.randn(b, 3, h, w, generator=g, dtype=torch.float64)).clamp(-1, 1)
    x_near = torch.round((x_near + 1) * 127.5) / 127.5 - 1                  # values near a component's mean

    for name, images in (("random values", x), ("values near the means", x_near)):
        where = f"dmol_log_prob ({name})"
        l_mine = l.clone().requires_grad_(True)
        got = dmol_log_prob(images.clone(), l_mine)
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"dmol_log_prob must return a tensor, got {type(got).__name__}")
        if got.shape == (b, 3, h, w):
            raise AssertionError(f"{where}: return one log probability per pixel, shape (B, H, W) = {(b, h, w)}: the "
                                 "three colours are summed inside each component, before the mixture's logsumexp")
        l_ref = l.clone().requires_grad_(True)
        expected = discretized_mix_logistic_log_prob(images, l_ref)
        _diagnose(where, got.detach(), expected.detach(), {
            "the mixture weights are not normalised: use log pi_k = log_softmax(logits) over the K components, not "
            "the raw logits": _dmol_variant(images, l, mix="none"),
            "add log pi_k = log_softmax(logits), not the probabilities pi_k = softmax(logits), to the components' "
            "log probabilities": _dmol_variant(images, l, mix="softmax"),
            "the channel coupling of the means is missing: m_G = mu_G + alpha r and m_B = mu_B + beta r + gamma g, "
            "with r and g the pixel's own red and green values": _dmol_variant(images, l, coupling="none"),
            "the coupling coefficients go through tanh: alpha, beta, gamma = tanh(raw coefficients)":
                _dmol_variant(images, l, coupling="raw"),
            "beta and gamma are swapped: m_B = mu_B + beta r + gamma g, with beta the coefficients of colour index "
            "1 and gamma those of index 2": _dmol_variant(images, l, swap_beta_gamma=True),
            "the log scales are not clamped: clamp them below at -7 (log_scales.clamp(min=-7)) before use":
                _dmol_variant(images, l, clamp=False),
            "the colours are mixed separately: a pixel has one mixture, so sum the three colours' log P inside "
            "each component, then take the logsumexp over the components": _dmol_variant(images, l, mix="per colour"),
            "the components are summed; the log of a mixture sum_k pi_k P_k is logsumexp_k(log pi_k + log P_k)":
                _dmol_variant(images, l, mix="sum"),
            "return log p(x), not the negative log-likelihood": -expected.detach(),
        }, tol=1e-6)
        got.sum().backward()
        expected.sum().backward()
        if l_mine.grad is None:
            raise AssertionError(f"{where}: no gradient reaches l: keep the computation in autograd")
        if not torch.isfinite(l_mine.grad).all():
            raise AssertionError(f"{where}: the gradient with respect to l is not finite: is the bin mass clamped "
                                 "before its log (mass.clamp(min=1e-12))?")
        if not _grad_close(l_mine.grad, l_ref.grad, 1e-6):
            raise AssertionError(f"{where}: log p is right but its gradient with respect to l differs from the "
                                 "library's (by up to "
                                 f"{(l_mine.grad - l_ref.grad).abs().max().item():.3g}): no .detach() or in-place "
                                 "changes of l")

    path = golden_path()
    if not path.exists():
        print(f"note: the golden file is not at {path} (it comes with the course's shared folder; set "
              "INPAINT_SHARED to the folder that holds reference/dmol_golden.npz); compared with inpaint_lib only")
    else:
        with np.load(path, allow_pickle=False) as f:
            golden = {key: f[key] for key in f.files}
        gx = torch.from_numpy(golden["x_int"]).double() / 127.5 - 1
        gl = torch.from_numpy(golden["l"]).double()
        with torch.no_grad():
            per_image = -dmol_log_prob(gx, gl).sum(dim=(1, 2))
            expected = torch.from_numpy(golden["per_image_random_f64"]).double()
            if not _close(per_image, expected, 1e-7):
                raise AssertionError(f"dmol_log_prob on the golden file ({path.name}): the negative log-likelihoods "
                                     f"per image are {per_image.tolist()}, the reference's {expected.tolist()}")
            for key, fill, what in (("loss_all0_f64", -1.0, "every sub-pixel 0 (x = -1): the 0 edge bin"),
                                    ("loss_all255_f64", 1.0, "every sub-pixel 255 (x = 1): the 255 edge bin")):
                loss = -dmol_log_prob(torch.full_like(gx, fill), gl).sum().item()
                if not math.isclose(loss, float(golden[key]), rel_tol=1e-7):
                    raise AssertionError(f"dmol_log_prob on the golden file, {what}: the loss is {loss:.6f} nats, "
                                         f"the reference's {float(golden[key]):.6f}")
        print(f"golden file {path.name}: the reference's losses reproduced (per image, all 0, all 255)")
    _passed("dmol_log_prob")
