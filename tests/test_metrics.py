import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from inpaint_lib import metrics
from inpaint_lib.masks import lower_half


def pair(seed=0, b=3):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(b, 3, 32, 32, generator=g) * 2 - 1
    prediction = (target + 0.3 * torch.randn(b, 3, 32, 32, generator=g)).clamp(-1, 1)
    return prediction, target


def test_l1_units_and_region():
    target = torch.zeros(1, 3, 32, 32)
    prediction = target.clone()
    prediction[:, :, 16:] = 0.5           # missing half off by 0.5
    prediction[:, :, :16] = -1.0          # the known half is never counted
    mask = lower_half()
    assert metrics.l1_x100(prediction, target, mask).item() == pytest.approx(50.0)
    assert metrics.l1_255(prediction, target, mask).item() == pytest.approx(0.5 * 127.5)
    assert metrics.mse(prediction, target, mask).item() == pytest.approx(0.25)
    assert metrics.psnr(prediction, target, mask).item() == pytest.approx(10 * math.log10(4 / 0.25))


def test_psnr_matches_the_0_255_definition():
    prediction, target = pair()
    mask = lower_half()
    p = ((prediction + 1) * 127.5)[:, :, 16:]
    t = ((target + 1) * 127.5)[:, :, 16:]
    expected = 10 * torch.log10(255.0 ** 2 / (p - t).square().flatten(1).mean(1))
    assert torch.allclose(metrics.psnr(prediction, target, mask), expected, atol=1e-4)
    capped = 10 * math.log10(4 / metrics.PSNR_MSE_FLOOR)  # about 106 dB, not infinite
    assert metrics.psnr(target, target, mask).tolist() == pytest.approx([capped] * 3)


def test_ssim_equals_scikit_image_on_the_missing_rectangle():
    prediction, target = pair(seed=1)
    ours = metrics.ssim(prediction, target, lower_half())
    for i in range(len(target)):
        ref = structural_similarity(prediction[i, :, 16:].double().numpy(), target[i, :, 16:].double().numpy(),
                                    win_size=7, data_range=2.0, channel_axis=0)
        assert ours[i].item() == pytest.approx(ref, abs=1e-5)
    assert metrics.ssim(target, target, lower_half()).allclose(torch.ones(3))


def test_ssim_ignores_known_pixels_and_reports_nan_when_no_window_fits():
    prediction, target = pair(seed=2)
    scrambled = prediction.clone()
    scrambled[:, :, :16] = 1.0
    assert torch.equal(metrics.ssim(prediction, target, lower_half()), metrics.ssim(scrambled, target, lower_half()))
    thin = torch.zeros(32, 32, dtype=torch.bool)
    thin[:, :4] = True
    assert metrics.ssim(prediction, target, thin).isnan().all()


def test_metric_errors():
    prediction, target = pair()
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.l1_x100(prediction[:, :, :16], target, lower_half())
    with pytest.raises(ValueError, match="leaves nothing missing"):
        metrics.mse(prediction, target, torch.zeros(32, 32, dtype=torch.bool))


def test_all_metrics_are_per_image():
    prediction, target = pair(b=5)
    scores = metrics.all_metrics(prediction, target, lower_half())
    assert set(scores) == {"l1_x100", "l1_255", "mse", "psnr", "ssim"}
    assert all(v.shape == (5,) for v in scores.values())
    assert np.isclose(scores["l1_255"] / scores["l1_x100"], 1.275).all()


def test_diversity_of_identical_samples_is_zero():
    _, target = pair(b=4)
    samples = target.expand(5, *target.shape)
    assert torch.equal(metrics.diversity(samples, lower_half()), torch.zeros(4))


def test_diversity_of_a_known_spread():
    # per missing sub-pixel the values are base - a, base, base + a: sample std (n - 1) = a
    _, base = pair(b=2)
    a = torch.tensor([0.1, 0.3]).view(2, 1, 1, 1)
    samples = torch.stack([base - a, base, base + a])
    assert metrics.diversity(samples, lower_half()).tolist() == pytest.approx([10.0, 30.0], rel=1e-5)
    # two samples: std = |x - y| / sqrt(2), so diversity = l1_x100 / sqrt(2)
    x, y = pair(seed=3)
    expected = metrics.l1_x100(x, y, lower_half()) / math.sqrt(2)
    assert torch.allclose(metrics.diversity(torch.stack([x, y]), lower_half()), expected, atol=1e-4)
    # the spread is averaged per sub-pixel, not the std of the image means: +a and -a in two
    # halves of the missing region leave the mean unchanged but still count
    half = torch.zeros(1, 3, 32, 32)
    half[..., :16] = 0.2
    half[..., 16:] = -0.2
    assert metrics.diversity(torch.stack([half, -half]), lower_half()).item() == pytest.approx(
        100 * 0.4 / math.sqrt(2), rel=1e-5)


def test_diversity_ignores_known_pixels_and_uses_per_image_masks():
    g = torch.Generator().manual_seed(4)
    samples = torch.rand(4, 2, 3, 32, 32, generator=g) * 2 - 1
    scrambled = samples.clone()
    scrambled[:, :, :, :16] = torch.rand(4, 2, 3, 16, 32, generator=g)  # only known rows change
    assert torch.equal(metrics.diversity(samples, lower_half()), metrics.diversity(scrambled, lower_half()))
    # identical missing regions but different known ones: 0
    same = samples[:1].repeat(4, 1, 1, 1, 1)
    same[:, :, :, :16] = samples[:, :, :, :16]
    assert metrics.diversity(same, lower_half()).abs().max() < 1e-6
    # a (B, H, W) mask: each image is scored on its own missing pixels
    per_image = torch.stack([lower_half(), lower_half().flip(0)])
    expected = [metrics.diversity(samples[:, :1], lower_half()).item(),
                metrics.diversity(samples[:, 1:], lower_half().flip(0)).item()]
    assert metrics.diversity(samples, per_image).tolist() == pytest.approx(expected, rel=1e-6)


def test_diversity_errors():
    _, target = pair()
    with pytest.raises(ValueError, match=r"\(n, B, C, H, W\)"):
        metrics.diversity(target, lower_half())
    with pytest.raises(ValueError, match="at least 2"):
        metrics.diversity(target[None], lower_half())
    with pytest.raises(ValueError, match="does not fit"):
        metrics.diversity(torch.stack([target, target]), lower_half(16, 16))
    with pytest.raises(ValueError, match="leaves nothing missing"):
        metrics.diversity(torch.stack([target, target]), torch.zeros(32, 32, dtype=torch.bool))


def test_sharpness_is_one_for_the_truth_below_one_for_a_blur_and_zero_for_a_flat_fill():
    from inpaint_lib.metrics import sharpness
    torch.manual_seed(0)
    truth = torch.rand(2, 3, 32, 32) * 2 - 1
    mask = lower_half()
    assert torch.allclose(sharpness(truth, truth, mask), torch.ones(2))
    blurred = torch.nn.functional.avg_pool2d(truth, 3, stride=1, padding=1)
    assert (sharpness(blurred, truth, mask) < 0.6).all()
    assert torch.equal(sharpness(torch.zeros_like(truth), truth, mask), torch.zeros(2))
    # only pairs inside the missing region count: the known half may be anything
    changed = truth.clone()
    changed[:, :, :16] = 0
    assert torch.equal(sharpness(changed, truth, mask), sharpness(truth, truth, mask))


def test_median_over_images_leaves_out_nan_and_takes_the_middle_of_an_even_count():
    from inpaint_lib.metrics import median_over_images
    assert median_over_images(torch.tensor([3.0, 1.0, float("nan"), 2.0])) == 2.0
    assert median_over_images(torch.tensor([4.0, 1.0, 2.0, 3.0])) == 2.5
    assert math.isnan(median_over_images(torch.tensor([float("nan")])))
    assert median_over_images(torch.tensor([1e12, 1.0, 0.9])) == 1.0        # one flat truth does not decide it


def test_the_median_sharpness_of_draws_from_the_truths_own_distribution_is_one_and_the_mean_is_not():
    # truth and completion drawn independently from the same distribution: how much texture an image
    # has varies (a random scale each), so the per-image ratio A / B is above 1 half the time (its
    # median is 1) but its mean is far above 1 (E[A / B] = E[A] E[1 / B] > 1, and nearly flat truths,
    # B close to 0, make it explode)
    from inpaint_lib.metrics import median_over_images, sharpness
    g = torch.Generator().manual_seed(0)
    n = 4000
    truth = torch.randn(n, 3, 32, 32, generator=g) * torch.rand(n, 1, 1, 1, generator=g) ** 4
    drawn = torch.randn(n, 3, 32, 32, generator=g) * torch.rand(n, 1, 1, 1, generator=g) ** 4
    ratios = sharpness(drawn, truth, lower_half())
    assert (ratios > 1).double().mean() == pytest.approx(0.5, abs=0.03)
    assert abs(math.log(median_over_images(ratios))) < 0.3
    assert ratios.double().mean() > 10
