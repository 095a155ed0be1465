"""Sampling from the mixture follows the likelihood's own per-bin probabilities."""

import math

import pytest
import torch

from inpaint_lib.course.checks.ch06_sampling import chi_square
from inpaint_lib.pixelcnnpp import PixelCNNpp, channel_log_probs, quantize, sample, sample_from_discretized_mix_logistic
from inpaint_lib.pixelcnnpp.sampling import to_levels

K, N = 3, 200_000
LEVELS = torch.arange(256, dtype=torch.float64) / 127.5 - 1


def pixel_outputs(seed):
    """Network outputs (1, 10K, 1, 1) for one pixel: K components, a few bins wide, strong coupling."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(K, generator=g, dtype=torch.float64)
    means = torch.rand(3, K, generator=g, dtype=torch.float64) * 1.2 - 0.6
    log_scales = -3.5 + 0.5 * torch.rand(3, K, generator=g, dtype=torch.float64)
    raw_coeffs = torch.tensor([[1.0, -0.8, 0.6], [-1.2, 0.9, 0.5], [0.7, 0.4, -1.0]], dtype=torch.float64)
    return torch.cat((logits, torch.cat((means, log_scales, raw_coeffs), dim=1).flatten())).view(1, 10 * K, 1, 1)


def with_b_using_g_coefficient(l):
    """TEST DATA, a wrong coupling: B's coefficient on R replaced by G's coefficient on R."""
    wrong = l.clone()
    params = wrong[:, K:].view(1, 3, 3 * K, 1, 1)
    params[:, 1, 2 * K:] = params[:, 0, 2 * K:]
    return wrong


def conditional_pmf(l, fixed, c):
    """The model's P(x_c = v | the colours before c, as in ``fixed``) for v = 0..255, from the likelihood."""
    x = fixed.view(1, 3, 1, 1).expand(256, 3, 1, 1).clone()
    x[:, c] = LEVELS.view(256, 1, 1)
    log_pi = torch.log_softmax(l[0, :K, 0, 0], dim=0)
    log_p = channel_log_probs(x, l.expand(256, -1, -1, -1))[:, : c + 1, :, 0, 0].sum(dim=1)   # (256, K)
    p = torch.exp(log_pi + log_p).sum(dim=1)
    return p / p.sum()


def bound(df):
    """Six standard deviations above the chi-square mean: a false alarm has odds of about 1e-8."""
    return df + 6 * math.sqrt(2 * df)


def draw_levels(l, seed, temperature=1.0):
    x = sample_from_discretized_mix_logistic(l.expand(N, -1, -1, -1), torch.Generator().manual_seed(seed),
                                             temperature=temperature)
    return to_levels(x[:, :, 0, 0])                                                    # (N, 3)


def statistics(l_model, levels):
    """chi-square / bound for R, for G given each of the 3 likeliest R bins, for B given the 3 likeliest (R, G)."""
    ratios = []
    r_counts = torch.bincount(levels[:, 0], minlength=256).double()
    stat, df = chi_square(r_counts, conditional_pmf(l_model, torch.zeros(3, dtype=torch.float64), 0))
    ratios.append(("R", stat / bound(df)))
    for r in r_counts.argsort(descending=True)[:3]:
        rows = levels[levels[:, 0] == r]
        fixed = torch.stack((LEVELS[r], LEVELS[0], LEVELS[0]))
        stat, df = chi_square(torch.bincount(rows[:, 1], minlength=256).double(), conditional_pmf(l_model, fixed, 1))
        ratios.append((f"G|R={r}", stat / bound(df)))
    cells = levels[:, 0] * 256 + levels[:, 1]
    for cell in torch.bincount(cells).argsort(descending=True)[:3]:
        rows = levels[cells == cell]
        fixed = torch.stack((LEVELS[cell // 256], LEVELS[cell % 256], LEVELS[0]))
        stat, df = chi_square(torch.bincount(rows[:, 2], minlength=256).double(), conditional_pmf(l_model, fixed, 2))
        ratios.append((f"B|RG={cell // 256},{cell % 256}", stat / bound(df)))
    return ratios


@pytest.mark.parametrize("seed", [0, 1])
def test_samples_follow_the_likelihood_and_a_wrong_coupling_does_not(seed):
    l = pixel_outputs(seed)
    right = statistics(l, draw_levels(l, seed))
    assert all(ratio < 1 for _, ratio in right), right
    wrong = statistics(l, draw_levels(with_b_using_g_coefficient(l), seed))
    assert all(ratio < 1 for name, ratio in wrong if not name.startswith("B")), wrong   # R and G are unaffected
    assert max(ratio for name, ratio in wrong if name.startswith("B")) > 3, wrong        # B is far off


def tempered(l, temperature):
    """TEST ORACLE: the outputs of the tempered mixture, written out: logits / T, log scales + log T."""
    out = l.clone()
    out[:, :K] /= temperature
    params = out[:, K:].view(1, 3, 3 * K, 1, 1)
    params[:, :, K:2 * K] += math.log(temperature)
    return out


@pytest.mark.parametrize("temperature", [0.6, 1.5])
def test_samples_at_a_temperature_follow_the_tempered_mixture(temperature):
    """Drawn at T, the pixels follow the likelihood of the mixture with logits / T and scales * T (every
    colour, through the coupling), and not the model's own mixture."""
    l = pixel_outputs(0)
    levels = draw_levels(l, 3, temperature)
    assert all(ratio < 1 for _, ratio in statistics(tempered(l, temperature), levels))
    assert max(ratio for _, ratio in statistics(l, levels)) > 3


def test_temperature_one_is_the_models_own_draw_bit_for_bit_and_bad_values_are_refused():
    l = torch.randn(3, 30, 4, 5, generator=torch.Generator().manual_seed(0)) * 3
    plain = sample_from_discretized_mix_logistic(l, torch.Generator().manual_seed(1))
    assert torch.equal(sample_from_discretized_mix_logistic(l, torch.Generator().manual_seed(1), temperature=1.0),
                       plain)
    assert not torch.equal(sample_from_discretized_mix_logistic(l, torch.Generator().manual_seed(1),
                                                                temperature=0.8), plain)
    model = PixelCNNpp(nr_resnet=1, nr_filters=4, nr_logistic_mix=2, image_size=4)
    for bad in (0, -1.0, float("nan"), "0.8", True):
        with pytest.raises(ValueError, match="temperature must be a positive number") as info:
            sample(model, 1, temperature=bad)
        assert "\n" not in str(info.value)


def test_seeded_generator_reproduces_and_values_are_bin_centres():
    l = torch.randn(2, 50, 4, 4)
    a = sample_from_discretized_mix_logistic(l, torch.Generator().manual_seed(7))
    b = sample_from_discretized_mix_logistic(l, torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.shape == (2, 3, 4, 4)
    assert a.min() >= -1 and a.max() <= 1
    torch.testing.assert_close(quantize(a), a)
    c = sample_from_discretized_mix_logistic(l, torch.Generator().manual_seed(7), quantized=False)
    assert not torch.equal(c, quantize(c))


def test_quantize_and_levels():
    x = torch.tensor([-1.0, -1 + 0.9 / 255, -1 + 1.1 / 255, 0.0, 1.0, 1.3])
    assert to_levels(x).tolist() == [0, 0, 1, 128, 255, 255]      # 0.0 lies on the 127|128 edge: rounds to even
    torch.testing.assert_close(quantize(x), to_levels(x).float() / 127.5 - 1)


def test_unconditional_sample_from_a_tiny_model():
    torch.manual_seed(0)
    model = PixelCNNpp(nr_resnet=1, nr_filters=4, nr_logistic_mix=2, image_size=4).eval()
    a = sample(model, 2, generator=torch.Generator().manual_seed(3))
    b = sample(model, 2, generator=torch.Generator().manual_seed(3))
    assert a.shape == (2, 3, 4, 4) and torch.equal(a, b)
    torch.testing.assert_close(quantize(a), a)


@pytest.mark.parametrize("temperature", [1.0, 0.5, 0.8, 1.3])
def test_fast_unconditional_sampling_draws_the_naive_pixels(temperature):
    torch.manual_seed(0)
    model = PixelCNNpp(nr_resnet=2, nr_filters=8, nr_logistic_mix=3, image_size=8, dropout=0.5).double().train()
    naive = sample(model, 3, generator=torch.Generator().manual_seed(5), sampler="naive", temperature=temperature)
    fast = sample(model, 3, generator=torch.Generator().manual_seed(5), sampler="fast", temperature=temperature)
    assert model.training                                   # eval mode only while sampling
    assert torch.equal(naive, fast)
    assert len(naive.flatten(1).unique(dim=0)) == 3         # three different images, not one repeated
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(model, 1, sampler="cached")


# -- the draw: few operations, the plain formulas' numbers -------------------------------------------

def reference_draw(l, generator, quantized=True):
    """TEST ORACLE: the draw as the module docstring writes it, one formula per line (the former implementation)."""
    from inpaint_lib.pixelcnnpp import mixture_parameters
    logits, means, log_scales, coeffs = mixture_parameters(l)
    b, k, h, w = logits.shape

    def uniform(shape):
        return torch.rand(shape, generator=generator, dtype=l.dtype) * (1.0 - 2.0 * 1e-5) + 1e-5

    gumbel = -torch.log(-torch.log(uniform(logits.shape)))
    choice = (logits + gumbel).argmax(dim=1)
    index = choice[:, None, None].expand(b, 3, 1, h, w)
    mu, log_s, coef = (t.gather(2, index).squeeze(2) for t in (means, log_scales, coeffs))
    u = uniform(mu.shape)
    y = mu + torch.exp(log_s) * (torch.log(u) - torch.log1p(-u))

    def settle(v):
        v = v.clamp(-1.0, 1.0)
        return quantize(v) if quantized else v

    r = settle(y[:, 0])
    g = settle(y[:, 1] + coef[:, 0] * r)
    b_ = settle(y[:, 2] + coef[:, 1] * r + coef[:, 2] * g)
    return torch.stack((r, g, b_), dim=1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(16, 100, 1, 1), (3, 30, 4, 5), (1, 10, 8, 8)])
def test_draw_gives_the_plain_formulas_numbers_bit_for_bit(dtype, shape):
    for seed in range(5):
        l = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 3
        for quantized in (True, False):
            got = sample_from_discretized_mix_logistic(l, torch.Generator().manual_seed(seed), quantized)
            assert torch.equal(got, reference_draw(l, torch.Generator().manual_seed(seed), quantized))


def test_draw_works_with_autograd():
    """Drawn without no_grad (a student's loop may forget it): no in-place error, and gradients flow unquantised."""
    l = torch.randn(2, 30, 3, 3, requires_grad=True)
    sample_from_discretized_mix_logistic(l, torch.Generator().manual_seed(0))                  # quantised
    sample_from_discretized_mix_logistic(l, torch.Generator().manual_seed(0), quantized=False).sum().backward()
    assert l.grad is not None and l.grad.abs().sum() > 0


# -- what the samplers do to the model and the process ----------------------------------------------

@pytest.mark.parametrize("sampler", ["naive", "fast"])
def test_sampling_switches_the_models_range_check_off_and_restores_it(sampler, monkeypatch):
    torch.manual_seed(0)
    model = PixelCNNpp(nr_resnet=1, nr_filters=4, nr_logistic_mix=2, image_size=4).eval()
    assert model.check_inputs
    range_checks = []
    real_aminmax = torch.aminmax
    monkeypatch.setattr(torch, "aminmax", lambda *a, **k: range_checks.append(1) or real_aminmax(*a, **k))
    model(torch.zeros(1, 3, 4, 4))
    assert len(range_checks) == 1, "the spy sees the model's range check"
    seen = []                                              # check_inputs at every forward pass while sampling
    model.register_forward_pre_hook(lambda module, inputs: seen.append(module.check_inputs))
    sample(model, 2, generator=torch.Generator().manual_seed(0), sampler=sampler)
    assert len(range_checks) == 1, "sampling ran the range check"
    assert not any(seen)
    assert model.check_inputs is True                      # restored
    model.check_inputs = False
    sample(model, 1, generator=torch.Generator().manual_seed(0), sampler=sampler)
    assert model.check_inputs is False                     # an unchecked model stays unchecked


def test_the_models_state_is_restored_when_sampling_fails(monkeypatch):
    from inpaint_lib.pixelcnnpp import sampling

    def fail(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(sampling, "sample_rows_cached", fail)
    model = PixelCNNpp(nr_resnet=1, nr_filters=4, nr_logistic_mix=2, image_size=4).train()
    with pytest.raises(RuntimeError, match="interrupted"):
        sample(model, 1, sampler="fast")
    assert model.check_inputs is True and model.training


def test_samples_are_ordinary_tensors_and_the_thread_count_is_restored(monkeypatch):
    """Sampling runs in inference mode, but returns a tensor that can be written to and used with autograd;
    on a CPU the pixel loop runs on one thread (every draw is made there), and the count is restored."""
    from inpaint_lib.pixelcnnpp import sampling

    threads_at_draws = []
    real_draw = sampling.sample_from_discretized_mix_logistic

    def draw(l, generator=None, **options):
        threads_at_draws.append(torch.get_num_threads())
        return real_draw(l, generator, **options)

    monkeypatch.setattr(sampling, "sample_from_discretized_mix_logistic", draw)
    torch.manual_seed(0)
    model = PixelCNNpp(nr_resnet=1, nr_filters=4, nr_logistic_mix=2, image_size=4).eval()
    threads = torch.get_num_threads()
    for sampler in ("naive", "fast"):
        threads_at_draws.clear()
        out = sample(model, 2, generator=torch.Generator().manual_seed(0), sampler=sampler)
        assert not out.is_inference()
        out[:, :, 0, 0] = 0.0                                          # in place: allowed
        model(out.requires_grad_()).sum().backward()                   # through autograd: allowed
        assert torch.get_num_threads() == threads
        assert len(threads_at_draws) == 16
        if sampler == "fast":
            assert set(threads_at_draws) == {1}


def test_sample_refuses_a_generator_on_another_device_in_one_line():
    """The check ``inpaint`` makes too (one helper): a real CPU generator with a model on the meta device (no
    accelerator needed), and a generator that says it is on CUDA with a CPU model, refused before any draw."""
    import types

    def model():
        return PixelCNNpp(nr_resnet=1, nr_filters=4, nr_logistic_mix=2, image_size=4)

    with pytest.raises(ValueError, match=r"the generator is on cpu but the model on meta; "
                                         r"make it with torch.Generator\(device='meta'\)") as info:
        sample(model().to("meta"), 1, generator=torch.Generator())
    assert "\n" not in str(info.value)
    cuda_generator = types.SimpleNamespace(device=torch.device("cuda", 0))   # only its device is looked at
    with pytest.raises(ValueError, match=r"the generator is on cuda:0 but the model on cpu"):
        sample(model(), 1, generator=cuda_generator)
