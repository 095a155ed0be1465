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
