"""The discretized logistic mixture likelihood against the golden file and its own definition."""

import math

import numpy as np
import pytest
import torch

from inpaint_lib.pixelcnnpp import (
    bits_per_dim,
    channel_log_probs,
    discretized_mix_logistic_log_prob,
    discretized_mix_logistic_loss,
)

# golden_path (tests/conftest.py) locates ../shared/reference/dmol_golden.npz ($INPAINT_SHARED
# overrides); it skips when the file is absent, and fails instead when INPAINT_REQUIRE_SHARED=1.


@pytest.fixture(scope="module")
def golden(golden_path):
    with np.load(golden_path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def inputs(golden, dtype):
    x = torch.from_numpy(golden["x_int"]).to(dtype) / 127.5 - 1
    return x, torch.from_numpy(golden["l"]).to(dtype)


@pytest.mark.parametrize("case, fill", [("loss_random_f64", None), ("loss_all0_f64", -1.0), ("loss_all255_f64", 1.0)])
def test_golden_loss_float64(golden, case, fill):
    x, l = inputs(golden, torch.float64)
    if fill is not None:
        x = torch.full_like(x, fill)
    loss = discretized_mix_logistic_loss(x, l).item()
    assert loss == pytest.approx(float(golden[case]), rel=1e-9)


def test_golden_per_image_float64(golden):
    x, l = inputs(golden, torch.float64)
    per_image = discretized_mix_logistic_loss(x, l, per_image=True).numpy()
    np.testing.assert_allclose(per_image, golden["per_image_random_f64"], rtol=1e-9)


def test_golden_gradient_float64(golden):
    """Our float64 gradient, rounded to float32, is the stored one: one float32 ulp (rtol 2^-23)
    plus 1e-14 absolute for entries that are O(1) terms cancelling to almost nothing (float64
    round-off differs with the order of the sums)."""
    x, l = inputs(golden, torch.float64)
    l.requires_grad_(True)
    discretized_mix_logistic_loss(x, l).backward()
    np.testing.assert_allclose(l.grad.numpy(), golden["grad_l_random_f64"].astype(np.float64),
                               rtol=2 ** -23, atol=1e-14)


def test_golden_float32(golden):
    x, l = inputs(golden, torch.float32)
    l.requires_grad_(True)
    loss = discretized_mix_logistic_loss(x, l)
    loss.backward()
    assert loss.item() == pytest.approx(float(golden["loss_random_f64"]), rel=1e-5)
    per_image = discretized_mix_logistic_loss(x, l.detach(), per_image=True).double().numpy()
    np.testing.assert_allclose(per_image, golden["per_image_random_f64"], rtol=1e-5)
    for case, fill in (("loss_all0_f64", -1.0), ("loss_all255_f64", 1.0)):
        value = discretized_mix_logistic_loss(torch.full_like(x, fill), l.detach()).item()
        assert value == pytest.approx(float(golden[case]), rel=1e-5)
    # float32 cancellation in sigma(z+) - sigma(z-) for narrow bins moves single entries by up
    # to ~0.3%; over the whole gradient the error is ~2e-4 of its norm
    g = golden["grad_l_random_f64"].astype(np.float64)
    assert np.linalg.norm(l.grad.double().numpy() - g) < 1e-3 * np.linalg.norm(g)


def test_golden_exercises_the_fallback_branch(golden):
    """About 20% of the random case's interior entries have bin mass <= 1e-5 (as the golden file's notes say)."""
    x, l = inputs(golden, torch.float64)
    log_p = channel_log_probs(x, l)
    interior = (x.abs() <= 0.999).unsqueeze(2).expand_as(log_p)
    fallback = (log_p < math.log(1e-5)) & interior
    assert 0.15 < fallback.double().mean().item() < 0.25


def one_pixel(k=3, seed=0, log_scale=-2.5):
    """Network outputs for a single pixel (1, 10k, 1, 1)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(k, generator=g, dtype=torch.float64)
    means = torch.rand(3, k, generator=g, dtype=torch.float64) * 1.6 - 0.8
    log_scales = log_scale + 0.5 * torch.randn(3, k, generator=g, dtype=torch.float64)
    coeffs = torch.randn(3, k, generator=g, dtype=torch.float64)
    params = torch.cat((means, log_scales, coeffs), dim=1)                   # (3, 3k)
    return torch.cat((logits, params.flatten())).view(1, 10 * k, 1, 1)


def test_each_branch_by_hand():
    """One component, R only matters: check the four branches against the logistic CDF directly."""
    l = torch.zeros(1, 10, 1, 1, dtype=torch.float64)
    mu, log_s = 0.1, -3.0
    l[0, 1, 0, 0], l[0, 2, 0, 0] = mu, log_s               # R mean and log scale (K = 1: index 1 mean, 2 log scale)
    s = math.exp(log_s)
    cdf = lambda v: 1 / (1 + math.exp(-(v - mu) / s))      # noqa: E731
    for value, expected in [
        (0, math.log(cdf(-1 + 1 / 255))),                                  # first bin: CDF at the upper edge
        (255, -math.log1p(math.exp((1 - 1 / 255 - mu) / s))),                # last bin: log(1 - CDF) at the lower edge
        (140, math.log(cdf(140 / 127.5 - 1 + 1 / 255) - cdf(140 / 127.5 - 1 - 1 / 255))),  # interior
    ]:
        x = torch.full((1, 3, 1, 1), value / 127.5 - 1, dtype=torch.float64)
        assert channel_log_probs(x, l)[0, 0, 0, 0, 0].item() == pytest.approx(expected, rel=1e-12)
    x = torch.full((1, 3, 1, 1), 30 / 127.5 - 1, dtype=torch.float64)   # far in the tail: mass < 1e-5
    z = (30 / 127.5 - 1 - mu) / s
    log_pdf = z - log_s - 2 * math.log1p(math.exp(z))
    assert channel_log_probs(x, l)[0, 0, 0, 0, 0].item() == pytest.approx(log_pdf - math.log(127.5), rel=1e-12)


def all_values(c: int, others: torch.Tensor) -> torch.Tensor:
    """(256, 3, 1, 1) pixels with colour c running over 0..255 and the others fixed."""
    x = others.expand(256, 3, 1, 1).clone()
    x[:, c] = (torch.arange(256, dtype=torch.float64) / 127.5 - 1).view(256, 1, 1)
    return x


@pytest.mark.parametrize("log_scale", [-4.5, -2.5, -0.5])
def test_every_conditional_is_normalised(log_scale):
    """For every component, sum over 256 values of P_k(x_c | x_<c) is 1.

    Exactly so without the fallback (the CDF differences telescope); bins under 1e-5 use the
    density at the centre instead, which is off by a fraction of their mass: 1.3e-6 here at the
    narrowest scale, hence the 1e-5 tolerance."""
    l = one_pixel(log_scale=log_scale)
    others = torch.tensor([0.2, -0.4, 0.6], dtype=torch.float64).view(1, 3, 1, 1)
    for c in range(3):
        probs = channel_log_probs(all_values(c, others), l.expand(256, -1, -1, -1))[:, c].exp()   # (256, K, 1, 1)
        np.testing.assert_allclose(probs.sum(dim=0).flatten().numpy(), 1.0, rtol=0, atol=1e-5)


def test_joint_pmf_sums_over_g_and_b_to_the_r_marginal():
    """sum_{g,b} p(r, g, b) = sum_k pi_k P_k(r): the full mixture, coupling included, is normalised
    over G and B (and the R marginal sums to 1 by the test above)."""
    l = one_pixel(k=2, seed=3, log_scale=-3.0)
    levels = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    gb = torch.stack(torch.meshgrid(levels, levels, indexing="ij")).view(1, 2, 256, 256)
    log_pi = torch.log_softmax(l[0, :2, 0, 0], dim=0)
    for r in (40, 128, 200):
        x = torch.cat((levels[r].view(1, 1, 1, 1).expand(1, 1, 256, 256), gb), dim=1)
        joint = discretized_mix_logistic_log_prob(x, l.expand(1, -1, 256, 256)).exp().sum().item()
        r_only = channel_log_probs(x[:, :, :1, :1], l)[0, 0, :, 0, 0]
        assert joint == pytest.approx(torch.exp(log_pi + r_only).sum().item(), rel=1e-5, abs=1e-9)


def test_bits_per_dim():
    assert bits_per_dim(3 * 32 * 32 * math.log(2) * 5, 5) == pytest.approx(1.0)
    assert bits_per_dim(torch.tensor(6 * 64 * math.log(2)), 2, (3, 8, 8)).item() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        bits_per_dim(1.0, 0)


@pytest.mark.parametrize("x, l, message", [
    (torch.zeros(2, 3, 4, 4), torch.zeros(2, 25, 4, 4), "10\\*K"),
    (torch.zeros(2, 1, 4, 4), torch.zeros(2, 100, 4, 4), "RGB"),
    (torch.zeros(2, 3, 4, 4), torch.zeros(3, 100, 4, 4), "agree"),
    (torch.full((2, 3, 4, 4), 1.5), torch.zeros(2, 100, 4, 4), r"\[-1, 1\]"),
])
def test_bad_input_gives_one_clear_line(x, l, message):
    with pytest.raises(ValueError, match=message) as err:
        discretized_mix_logistic_loss(x, l)
    assert "\n" not in str(err.value)
