"""The original PixelCNN: masks, sub-pixel causality, its blind spot, and its loss."""

import math

import pytest
import torch
import torch.nn.functional as F

from inpaint_lib.pixelcnnpp import PixelCNNpp, receptive_field_map, unseen_context
from inpaint_lib.pixelcnnpp.original_pixelcnn import MaskedConv2d, PixelCNN, categorical_loss

S = 32


def test_parameter_count():
    c, n, h = 48, 5, 96
    expected = (3 * c * 49 + c) + n * (c * c * 9 + c) + (c * h + h) + (h * 768 + 768)
    assert sum(p.numel() for p in PixelCNN(c, n, h).parameters()) == expected == 190_224


def test_mask_a_and_b_at_the_centre():
    a, b = MaskedConv2d("A", 3, 3, 3).mask[:, :, 1, 1], MaskedConv2d("B", 3, 3, 3).mask[:, :, 1, 1]
    assert a.tolist() == [[0, 0, 0], [1, 0, 0], [1, 1, 0]]      # G sees R, B sees R and G
    assert b.tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    m = MaskedConv2d("B", 6, 6, 3).mask[0, 0]
    assert m.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]


@pytest.fixture(scope="module")
def pixelcnn():
    torch.manual_seed(0)
    return PixelCNN(channels=24, num_layers=5, hidden=48).eval()


def test_sub_pixel_causality(pixelcnn):
    """Colour c at (i, j) sees strictly earlier pixels, and at (i, j) only the colours before c."""
    i, j = 10, 20
    for c in range(3):
        grad = receptive_field_map(pixelcnn, (i, j), output_channels=[c])
        flat = grad.flatten(1)                                  # (3 colours, S*S)
        assert torch.count_nonzero(flat[:, i * S + j + 1:]) == 0
        assert torch.count_nonzero(grad[c:, i, j]) == 0
        assert torch.count_nonzero(grad[:c, i, j]) == c


def test_blind_spot_that_pixelcnnpp_does_not_have(pixelcnn, tiny_pixelcnnpp):
    """Above-right pixels beyond the diagonal cone of stacked 3x3 masks get exactly zero gradient."""
    i, j = 16, 12
    past = torch.zeros(S, S, dtype=torch.bool)
    past.view(-1)[: i * S + j] = True
    window = torch.zeros(S, S, dtype=torch.bool)
    window[i - 3: i + 1, j - 8: j + 9] = True                   # a 4 x 17 neighbourhood, above and left
    near_past = past & window
    seen = receptive_field_map(pixelcnn, (i, j)).sum(0) != 0
    blind = near_past & ~seen
    assert blind.any() and blind[i - 1, j + 5]                  # the row just above, five to the right
    assert not (blind[i, :j].any())                             # the current row to the left is seen
    plus = tiny_pixelcnnpp()
    seen_pp = receptive_field_map(plus, (i, j)).sum(0) != 0
    assert seen_pp[near_past].all() and not seen_pp[~past].any()


def test_loss_is_the_categorical_nll_in_nats(pixelcnn):
    torch.manual_seed(0)
    x_int = torch.randint(0, 256, (2, 3, 8, 8))
    x = x_int / 127.5 - 1
    logits = pixelcnn(x)
    assert logits.shape == (2, 3, 256, 8, 8)
    log_p = F.log_softmax(logits, dim=2).gather(2, x_int.unsqueeze(2)).squeeze(2)
    torch.testing.assert_close(categorical_loss(x, logits), -log_p.sum())
    torch.testing.assert_close(categorical_loss(x, logits, per_image=True), -log_p.sum(dim=(1, 2, 3)))
    uniform = torch.zeros_like(logits)
    torch.testing.assert_close(categorical_loss(x, uniform), torch.tensor(2 * 3 * 64 * math.log(256.0)))


def test_bad_input():
    with pytest.raises(ValueError, match="multiples of 3"):
        PixelCNN(channels=32)
    with pytest.raises(ValueError, match="RGB"):
        PixelCNN(channels=6, num_layers=1, hidden=6)(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="logits"):
        categorical_loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 768, 8, 8))


def test_unseen_context_is_the_gradient_picture_at_many_positions_at_once(pixelcnn):
    """Per position, the earlier pixels whose gradient is exactly zero, as receptive_field_map counts them."""
    torch.manual_seed(0)
    plus = PixelCNNpp(nr_resnet=1, nr_filters=8, nr_logistic_mix=2, dropout=0.0).eval()
    positions = [(0, 0), (15, 15), (16, 16), (15, 3), (31, 31)]
    for model in (plus, pixelcnn):
        counts = unseen_context(model, positions, batch_size=2)        # two positions per pass: three passes
        for (i, j), count in zip(positions, counts.tolist(), strict=True):
            earlier = torch.arange(S * S).view(S, S) < i * S + j
            one_by_one = int((earlier & ~(receptive_field_map(model, (i, j)).sum(0) > 0)).sum())
            assert count == one_by_one, (model.__class__.__name__, (i, j))
    assert unseen_context(plus, [(15, 15), (16, 16)]).tolist() == [19, 0]  # one block per stage: far pixels missed
    assert unseen_context(pixelcnn, [(16, 16)]).item() > 0                  # the masked PixelCNN's blind spot
    with pytest.raises(ValueError, match="outside"):
        unseen_context(plus, [(32, 0)])
