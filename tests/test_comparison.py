import math

import pytest
import torch

from inpaint_lib.baselines import RepeatLastRow
from inpaint_lib.comparison import Completions, complete, score
from inpaint_lib.masks import composite, lower_half
from inpaint_lib.metrics import all_metrics
from inpaint_lib.pixelcnnpp import PixelCNNpp, inpainting_method, score_completions


def images(n=6, seed=0):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_a_deterministic_method_gives_equal_completions_and_the_metrics_of_evaluate():
    x, mask = images(), lower_half()
    done = complete(RepeatLastRow(), x, mask, n=3, batch_size=4)  # ragged last batch
    assert done.samples.shape == (3, 6, 3, 32, 32) and done.seconds_per_image > 0
    assert torch.equal(done.samples[0], done.samples[2])
    assert torch.equal(done.samples[:, :, :, :16], x[None, :, :, :16].expand(3, -1, -1, -1, -1))  # known half kept
    scores = score(done, x, mask)
    expected = all_metrics(composite(RepeatLastRow()(x, mask), x, mask), x, mask)
    assert scores["l1_x100"] == pytest.approx(expected["l1_x100"].mean().item(), rel=1e-6)
    assert scores["psnr"] == pytest.approx(expected["psnr"].mean().item(), rel=1e-6)
    assert scores["diversity"] == 0.0


def test_pixelcnnpp_completions_differ_and_are_scored_under_the_model():
    torch.manual_seed(0)
    model = PixelCNNpp(nr_resnet=1, nr_filters=8, nr_logistic_mix=2).eval()
    x, mask = images(2), lower_half()
    done = complete(inpainting_method(model, seed=1), x, mask, n=2)
    assert not torch.equal(done.samples[0], done.samples[1])
    again = complete(inpainting_method(model, seed=1), x, mask, n=2)
    assert torch.equal(done.samples, again.samples)  # seeded
    scores = score(done, x, mask, density_model=model)
    assert scores["diversity"] > 0
    expected = score_completions(model, done.samples, mask, x).double().mean().item()
    assert scores["bpd_under_pixelcnnpp"] == pytest.approx(expected, rel=1e-6)
    assert math.isfinite(scores["ssim"])


def test_bad_inputs_fail_with_one_clear_line():
    x = images(2)
    with pytest.raises(ValueError, match="must leave some pixels missing and some known"):
        complete(RepeatLastRow(), x, torch.zeros(32, 32, dtype=torch.bool))
    with pytest.raises(ValueError, match="must leave some pixels missing and some known"):
        complete(RepeatLastRow(), x, torch.ones(32, 32, dtype=torch.bool))
    with pytest.raises(ValueError, match="does not fit images of 32x32"):
        complete(RepeatLastRow(), x, lower_half(16))
    with pytest.raises(ValueError, match="images must be a \\(B, 3, H, W\\)"):
        complete(RepeatLastRow(), x[:, :1], lower_half())
    with pytest.raises(ValueError, match="do not belong to images"):
        score(Completions(torch.zeros(2, 3, 3, 32, 32), 0.0), x, lower_half())


def test_per_image_masks_follow_their_images_through_the_batches():
    x = images(6)
    mask = lower_half().repeat(6, 1, 1)
    mask[0] = False
    mask[0, 20:26, 4:10] = True  # a 6x6 hole: no whole 7x7 window missing, so this image has no SSIM
    seen = []

    def zeros_where_missing(masked, batch_mask):
        seen.append(batch_mask.clone())
        return masked

    done = complete(zeros_where_missing, x, mask, batch_size=4)  # batches of 4 and 2 images
    assert [tuple(m.shape) for m in seen] == [(4, 32, 32), (2, 32, 32)]
    assert torch.equal(torch.cat(seen), mask)
    assert torch.equal(done.samples[0], torch.where(mask[:, None], torch.zeros_like(x), x))
    ssim = all_metrics(done.samples[0], x, mask)["ssim"]
    assert ssim[0].isnan() and ssim[1:].isfinite().all()
    assert score(done, x, mask)["ssim"] == pytest.approx(ssim[1:].double().mean().item(), rel=1e-9)
