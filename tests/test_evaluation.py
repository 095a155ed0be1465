"""The evaluation layer: evaluate, complete and score; the one mask check they share; the results table."""

import math
import os
import time

import numpy as np
import pytest
import torch

from inpaint_lib import masks, metrics
from inpaint_lib.baselines import RepeatLastRow
from inpaint_lib.data import save_split, to_float
from inpaint_lib.evaluation import Completions, ResultsTable, complete, evaluate, score
from inpaint_lib.masks import check_mask, composite, lower_half
from inpaint_lib.metrics import all_metrics
from inpaint_lib.pixelcnnpp import PixelCNNpp, inpaint, inpainting_method, score_completions


def images(n=6, seed=0):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def stored_split(data_root, n=6, seed=0):
    """``n`` random uint8 images saved as cifar10/test; returns them as the loader gives them."""
    pixels = np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    save_split(data_root / "cifar10" / "test.npz", pixels)
    return to_float(pixels)


def mask_without_ssim_for_image_0(n):
    """Lower half for every image but image 0, whose 6x6 hole holds no whole 7x7 window: it has no SSIM."""
    mask = lower_half().repeat(n, 1, 1)
    mask[0] = False
    mask[0, 20:26, 4:10] = True
    return mask


# ---------------------------------------------------------------- complete and score

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


def test_score_reports_the_median_sharpness_over_images_and_completions_which_a_flat_truth_cannot_sway():
    x, mask = images(5), lower_half()
    x[0, :, 16:] = 0.25                                   # one true lower half without any detail
    noisy = Completions(torch.stack([x + 0.05 * images(5, seed=1), x + 0.05 * images(5, seed=2)]).clamp(-1, 1), 0.0)
    per_image = torch.cat([metrics.sharpness(sample, x, mask) for sample in noisy.samples])
    assert per_image.max() > 1e6                          # the flat truth's ratio explodes; the mean with it
    assert score(noisy, x, mask)["sharpness"] == metrics.median_over_images(per_image)
    assert 0 < score(noisy, x, mask)["sharpness"] < 1.2


def test_bad_inputs_fail_with_one_clear_line():
    x = images(2)
    with pytest.raises(ValueError, match="the mask leaves nothing missing; a completion fills missing pixels"):
        complete(RepeatLastRow(), x, torch.zeros(32, 32, dtype=torch.bool))
    with pytest.raises(ValueError, match="the mask leaves nothing known; a completion fills missing pixels"):
        complete(RepeatLastRow(), x, torch.ones(32, 32, dtype=torch.bool))
    per_image = lower_half().repeat(2, 1, 1)
    per_image[1] = True
    with pytest.raises(ValueError, match="leaves nothing known in image 1"):
        score(Completions(x[None], 0.0), x, per_image)
    with pytest.raises(ValueError, match=r"does not fit images of shape \(2, 3, 32, 32\); expected \(32, 32\)"):
        complete(RepeatLastRow(), x, lower_half(16))
    with pytest.raises(ValueError, match="must be a bool tensor"):
        complete(RepeatLastRow(), x, lower_half().float())
    with pytest.raises(ValueError, match="images must be a \\(B, 3, H, W\\)"):
        complete(RepeatLastRow(), x[:, :1], lower_half())
    with pytest.raises(ValueError, match="do not belong to images"):
        score(Completions(torch.zeros(2, 3, 3, 32, 32), 0.0), x, lower_half())


def test_per_image_masks_follow_their_images_through_the_batches():
    x = images(6)
    mask = mask_without_ssim_for_image_0(6)
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


# ---------------------------------------------------------------- one protocol for evaluate and score

def test_evaluate_and_score_give_the_same_means_and_leave_out_images_without_a_value(data_root):
    """The same method on the same images: evaluate and complete + score agree, and both leave an image
    without an SSIM out of the SSIM mean (not counted as 0, not making the mean NaN)."""
    truth = stored_split(data_root)
    mask = mask_without_ssim_for_image_0(6)
    method = RepeatLastRow()
    evaluated = evaluate(method, "cifar10", "test", mask=mask, batch_size=6, progress=False)
    scored = score(complete(method, truth, mask, n=2, batch_size=6), truth, mask)
    per_image = all_metrics(composite(method(masks.apply_mask(truth, mask), mask), truth, mask), truth, mask)
    for name, values in per_image.items():
        present = values[~values.isnan()].double()
        assert evaluated[name] == pytest.approx(present.mean().item(), rel=1e-9), name
        assert scored[name] == pytest.approx(evaluated[name], rel=1e-9), name
    assert per_image["ssim"][0].isnan()
    # a metric that no image has a value for has mean NaN, in both
    thin = torch.zeros(32, 32, dtype=torch.bool)
    thin[:, :4] = True
    assert math.isnan(evaluate(method, "cifar10", "test", mask=thin, batch_size=4, progress=False)["ssim"])
    assert math.isnan(score(complete(method, truth, thin), truth, thin)["ssim"])


def test_evaluate_and_complete_time_the_method_alone(data_root):
    stored_split(data_root)
    calls = []

    def slow_method(masked, mask):
        calls.append(len(masked))
        time.sleep(0.05)
        return masked

    evaluated = evaluate(slow_method, "cifar10", "test", batch_size=4, progress=False)  # batches of 4 and 2
    assert calls == [4, 2] and evaluated["n_images"] == 6
    assert 2 * 0.05 / 6 <= evaluated["seconds_per_image"] < 2 * 0.05 / 6 + 0.05
    calls.clear()
    done = complete(slow_method, images(6), n=2, batch_size=4)
    assert calls == [4, 2, 4, 2]
    assert 4 * 0.05 / 12 <= done.seconds_per_image < 4 * 0.05 / 12 + 0.05


# ---------------------------------------------------------------- the one mask check

def test_check_mask_keeps_the_shape_and_moves_to_the_images_device():
    x = images(2)
    shared, per_image = lower_half(), lower_half().repeat(2, 1, 1)
    assert check_mask(shared, x).shape == (32, 32) and check_mask(per_image, x).shape == (2, 32, 32)
    assert check_mask(shared, x).device == x.device
    assert masks.broadcast_mask(shared, x).shape == (1, 1, 32, 32)
    assert masks.broadcast_mask(per_image, x).shape == (2, 1, 32, 32)
    check_mask(torch.zeros(32, 32, dtype=torch.bool), x)  # nothing required: an empty mask fits
    per_image[1] = False
    with pytest.raises(ValueError, match="leaves nothing missing in image 1; because"):
        check_mask(per_image, x, some_missing=True, why="because")
    check_mask(per_image, x, some_known=True)
    with pytest.raises(ValueError, match="images must be \\(B, C, H, W\\), got list"):
        check_mask(shared, [x])
    with pytest.raises(ValueError, match="must be a bool tensor \\(True = missing\\), got ndarray"):
        check_mask(shared.numpy(), x)


@pytest.mark.parametrize("call", [
    lambda x, m: masks.apply_mask(x, m),
    lambda x, m: metrics.l1_x100(x, x, m),
    lambda x, m: complete(RepeatLastRow(), x, m),
    lambda x, m: inpaint(PixelCNNpp(nr_resnet=1, nr_filters=8, nr_logistic_mix=2), x, m),
], ids=["masks", "metrics", "evaluation", "pixelcnnpp"])
def test_every_module_refuses_a_mask_that_does_not_fit_with_the_same_line(call):
    x, wrong = images(2), lower_half().repeat(3, 1, 1)
    expected = ("mask of shape (3, 32, 32) does not fit images of shape (2, 3, 32, 32); "
                "expected (32, 32), one mask for the batch, or (2, 32, 32), one per image")
    with pytest.raises(ValueError) as info:
        call(x, wrong)
    assert str(info.value) == expected


# ---------------------------------------------------------------- the results table

def test_results_table_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    path = ResultsTable().add("Pix2Pix (λ = 100)", "sample", "test", {"psnr": 12.5}).save(tmp_path / "results.csv")
    assert synced, "the table is fsync-ed before it replaces the old file"
    assert ResultsTable.load(path).get("Pix2Pix (λ = 100)")["psnr"] == 12.5
    before = path.read_bytes()

    class Unprintable:
        def __str__(self):
            raise RuntimeError("cannot be written")

    with pytest.raises(RuntimeError, match="cannot be written"):
        ResultsTable().add("broken", "sample", "test", {"psnr": Unprintable()}).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"], "no temporary file is left behind"
