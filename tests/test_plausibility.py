"""The classifier two-sample test (inpaint_lib.plausibility): unbiased on true images, sharp on the controls.

On the sample set's test split (600 images: 150 real and 150 fake held out), with a classifier
trained for 100 steps of 32 images (a few seconds each on one thread). Under the null hypothesis
the held-out accuracy is at most as spread as Bin(n, 1/2) / n, standard error 0.5 / sqrt(n) =
0.029 (over 40 seeds it came out 0.498 +- 0.033); the band of 4 standard errors around 0.5 is
left by chance about once in 15,000 (and, the test being seeded, the same way on every run).
"""

from __future__ import annotations

import math

import pytest
import torch

from inpaint_lib.data import load_split, to_float
from inpaint_lib.evaluation import Completions
from inpaint_lib.plausibility import (
    CONTROLS,
    binomial_summary,
    control_completions,
    two_sample_test,
    two_sample_tests,
)

N_IMAGES, QUICK = 600, {"steps": 100, "batch_size": 32}


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return to_float(load_split("sample", "test")[:N_IMAGES])


def _without_time(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "seconds"}


def test_true_against_true_is_near_half_and_a_method_that_returns_the_truth_is_judged_the_same(images):
    truth = two_sample_test(images, images, **QUICK)
    band = 4 * 0.5 / math.sqrt(truth["n_test"])
    assert truth["n_test"] == 300 and truth["n_train"] == 300
    assert abs(truth["accuracy"] - 0.5) <= band, truth
    assert truth["p_value"] > 1e-4 and truth["ci95_low"] < 0.5 < truth["ci95_high"], truth
    # the known region is always the truth's: an oracle that returns the true lower half under a
    # garbage upper half is judged exactly like the truth (same split, same classifier, same verdicts)
    oracle = images.clone()
    oracle[:, :, :16] = torch.rand(oracle[:, :, :16].shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert _without_time(two_sample_test(images, oracle, **QUICK)) == _without_time(truth)


def test_the_mean_colour_and_noise_controls_are_told_apart(images):
    controls = control_completions(images)
    assert list(controls) == list(CONTROLS)
    assert torch.equal(controls["truth"], images)
    flat = controls["mean colour of the known region"]
    assert torch.allclose(flat, images[:, :, :16].mean(dim=(2, 3), keepdim=True).expand_as(images), atol=1e-6)
    noise = controls["noise around the known mean colour"]
    assert ((noise - flat).abs()[:, :, 16:] <= 0.5 + 1e-6).all() and noise.abs().max() <= 1
    for name in CONTROLS[1:]:
        result = two_sample_test(images, controls[name], **QUICK)
        assert result["accuracy"] > 0.9 and result["p_value"] < 1e-20, (name, result)


def test_the_same_seed_gives_the_same_verdicts_and_leaves_the_global_random_state_alone(images):
    noise = control_completions(images[:200])["noise around the known mean colour"]
    state = torch.get_rng_state()
    first = two_sample_test(images[:200], noise, seed=3, steps=20)
    assert torch.equal(torch.get_rng_state(), state)
    assert _without_time(two_sample_test(images[:200], noise, seed=3, steps=20)) == _without_time(first)
    # a Completions object is read as its first completion of each image
    wrapped = Completions(torch.stack([noise, images[:200]]), 0.0)
    assert _without_time(two_sample_test(images[:200], wrapped, seed=3, steps=20)) == _without_time(first)


def test_two_sample_tests_runs_the_controls_first_on_the_same_split(images):
    results = two_sample_tests(images[:100], {"copy": images[:100]}, steps=1)
    assert list(results) == [*CONTROLS, "copy"]
    assert _without_time(results["copy"]) == _without_time(results["truth"])
    with pytest.raises(ValueError, match="names of controls"):
        two_sample_tests(images[:100], {"truth": images[:100]}, steps=1)


def test_binomial_summary_gives_the_exact_tail_and_the_wilson_interval():
    half = binomial_summary(5, 10)
    assert half["accuracy"] == 0.5 and half["p_value"] == pytest.approx(638 / 1024)
    assert half["stderr"] == pytest.approx(math.sqrt(0.25 / 10))
    none = binomial_summary(0, 10)
    assert none["ci95_low"] == 0 and none["ci95_high"] == pytest.approx(1.96 ** 2 / (10 + 1.96 ** 2))
    assert none["p_value"] == 1.0 and none["stderr"] == 0
    every = binomial_summary(10, 10)
    assert every["p_value"] == pytest.approx(1 / 1024) and every["ci95_high"] == 1.0
    assert binomial_summary(60, 100)["ci95_low"] == pytest.approx(0.5020, abs=1e-4)   # Wilson, z = 1.96


@pytest.mark.parametrize("call, message", [
    (lambda x: two_sample_test(x[:, :2], x[:, :2]), "must be a \\(N, 3, H, W\\)"),
    (lambda x: two_sample_test(((x + 1) * 127.5).to(torch.uint8), x), "must be float"),
    (lambda x: two_sample_test(x, (x + 1) * 127.5), "must lie in \\[-1, 1\\]"),
    (lambda x: two_sample_test(x, x.masked_fill(x > 0.9, float("nan"))), "NaN"),
    (lambda x: two_sample_test(x, x[:-1]), "do not belong to images"),
    (lambda x: two_sample_test(x[:12], x[:12]), "too few for a two-sample test"),
    (lambda x: two_sample_test(x, x, test_fraction=1.0), "test_fraction must lie"),
    (lambda x: two_sample_test(x, x, steps=0), "steps must be a positive int"),
    (lambda x: two_sample_test(x, x, mask=torch.zeros(32, 32, dtype=torch.bool)), "leaves nothing missing"),
    (lambda x: two_sample_test(x, x, mask=torch.ones(16, 16, dtype=torch.bool)), "does not fit"),
    (lambda x: two_sample_test(x, x, mask="upper_left"), "unknown mask"),
    (lambda x: binomial_summary(11, 10), "0 <= correct <= n"),
])
def test_bad_inputs_fail_with_one_clear_line(images, call, message):
    with pytest.raises(ValueError, match=message) as err:
        call(images[:64])
    assert "\n" not in str(err.value)


def test_a_control_as_a_method_fills_from_the_known_pixels_and_draws_fresh_noise_each_call():
    from inpaint_lib.masks import apply_mask, get_mask
    from inpaint_lib.plausibility import CONTROLS, control_method

    images = torch.rand(3, 3, 32, 32) * 2 - 1
    mask = get_mask("lower_half")
    noise = control_method(CONTROLS[2], seed=1)
    first, second = noise(apply_mask(images, mask), mask), noise(apply_mask(images, mask), mask)
    assert not torch.equal(first[..., 16:, :], second[..., 16:, :])
    flat = control_method(CONTROLS[1])(apply_mask(images, mask), mask)
    assert torch.allclose(flat[..., 16:, :].mean(dim=(2, 3)), images[..., :16, :].mean(dim=(2, 3)), atol=1e-6)
    with pytest.raises(ValueError, match="unknown control 'blur'"):
        control_method("blur")
