import pytest
import torch

from inpaint_lib import masks


def test_lower_half_is_the_task():
    mask = masks.lower_half()
    assert mask.shape == (32, 32) and mask.dtype == torch.bool
    assert not mask[:16].any() and mask[16:].all()
    assert masks.missing_fraction(mask) == 0.5


def test_other_masks():
    assert masks.left_half()[:, :16].all() and not masks.left_half()[:, 16:].any()
    square = masks.centre_square(size=8)
    assert square.sum() == 64 and square[12:20, 12:20].all()
    rects = masks.random_rectangles(4, generator=torch.Generator().manual_seed(0))
    again = masks.random_rectangles(4, generator=torch.Generator().manual_seed(0))
    assert rects.shape == (4, 32, 32) and torch.equal(rects, again) and (rects.flatten(1).sum(1) >= 36).all()
    with pytest.raises(ValueError, match="unknown mask 'top_half'"):
        masks.get_mask("top_half")


def test_apply_mask_and_composite():
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    prediction = torch.rand(2, 3, 32, 32) * 2 - 1
    mask = masks.lower_half()
    masked = masks.apply_mask(images, mask, fill=0.25)
    assert torch.equal(masked[:, :, :16], images[:, :, :16]) and (masked[:, :, 16:] == 0.25).all()
    mixed = masks.composite(prediction, images, mask)
    assert torch.equal(mixed[:, :, :16], images[:, :, :16]) and torch.equal(mixed[:, :, 16:], prediction[:, :, 16:])
    per_image = torch.stack([masks.lower_half(), masks.left_half()])
    mixed = masks.composite(prediction, images, per_image)
    assert torch.equal(mixed[1, :, :, 16:], images[1, :, :, 16:])


@pytest.mark.parametrize("mask, message", [
    (torch.zeros(16, 32, dtype=torch.bool), r"does not fit images of shape \(2, 3, 32, 32\)"),
    (torch.zeros(3, 32, 32, dtype=torch.bool), "does not fit"),
    (torch.zeros(32, 32), "must be a bool tensor"),
])
def test_a_mask_of_the_wrong_shape_or_type(mask, message):
    with pytest.raises(ValueError, match=message):
        masks.apply_mask(torch.zeros(2, 3, 32, 32), mask)
