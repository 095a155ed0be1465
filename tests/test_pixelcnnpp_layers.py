"""The causal layers of PixelCNN++ against their definitions."""

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from inpaint_lib.pixelcnnpp import (
    NIN,
    DownRightShiftedConv2d,
    DownRightShiftedConvTranspose2d,
    DownShiftedConv2d,
    DownShiftedConvTranspose2d,
    GatedResNet,
    concat_elu,
    down_shift,
    image_and_border,
    right_shift,
)
from inpaint_lib.pixelcnnpp.layers import ElementDropout


def test_shifts_move_by_one_and_fill_with_zeros():
    x = torch.arange(1.0, 13.0).view(1, 1, 3, 4)
    d, r = down_shift(x), right_shift(x)
    assert torch.equal(d[0, 0, 0], torch.zeros(4)) and torch.equal(d[0, 0, 1:], x[0, 0, :2])
    assert torch.equal(r[0, 0, :, 0], torch.zeros(3)) and torch.equal(r[0, 0, :, 1:], x[0, 0, :, :3])


def _weights(layer):
    conv = getattr(layer, "conv", None) or layer.deconv
    return conv.weight, conv.bias


@pytest.mark.parametrize("stride", [1, 2])
def test_down_shifted_conv_is_a_padded_2x3_conv(stride):
    torch.manual_seed(0)
    layer = DownShiftedConv2d(4, 5, stride=stride)
    x = torch.randn(2, 4, 8, 8)
    w, b = _weights(layer)
    expected = F.conv2d(F.pad(x, (1, 1, 1, 0)), w, b, stride=stride)     # the original: pad, then convolve
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize("stride", [1, 2])
def test_down_right_shifted_conv_is_a_padded_2x2_conv(stride):
    torch.manual_seed(0)
    layer = DownRightShiftedConv2d(4, 5, stride=stride)
    x = torch.randn(2, 4, 8, 8)
    w, b = _weights(layer)
    torch.testing.assert_close(layer(x), F.conv2d(F.pad(x, (1, 0, 1, 0)), w, b, stride=stride))


def test_shifted_outputs_equal_convolution_then_shift():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6)
    down = DownShiftedConv2d(4, 3, (2, 3), shift_output_down=True)
    w, b = _weights(down)
    torch.testing.assert_close(down(x), down_shift(F.conv2d(F.pad(x, (1, 1, 1, 0)), w, b)))
    right = DownRightShiftedConv2d(4, 3, (2, 1), shift_output_right=True)
    w, b = _weights(right)
    torch.testing.assert_close(right(x), right_shift(F.conv2d(F.pad(x, (0, 0, 1, 0)), w, b)))


def test_transposed_convs_equal_the_cropped_full_transposed_conv():
    """The original computes the full transposed conv (output_padding 1) and crops it."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 5, 5)
    up = DownShiftedConvTranspose2d(4, 3)
    w, b = _weights(up)
    full = F.conv_transpose2d(x, w, b, stride=2, output_padding=1)       # (11, 12)
    torch.testing.assert_close(up(x), full[:, :, :10, 1:11])
    up = DownRightShiftedConvTranspose2d(4, 3)
    w, b = _weights(up)
    full = F.conv_transpose2d(x, w, b, stride=2, output_padding=1)       # (11, 11)
    torch.testing.assert_close(up(x), full[:, :, :10, :10])


def test_single_layer_receptive_fields():
    """Output (i, j) of the u conv reads rows i-1..i, columns j-1..j+1; of the ul conv rows i-1..i, columns j-1..j."""
    torch.manual_seed(0)
    for layer, cols in ((DownShiftedConv2d(1, 1), (3, 6)), (DownRightShiftedConv2d(1, 1), (3, 5))):
        x = torch.randn(1, 1, 8, 8, requires_grad=True)
        layer(x)[0, 0, 4, 4].backward()
        seen = (x.grad[0, 0] != 0).nonzero()
        assert seen[:, 0].min() == 3 and seen[:, 0].max() == 4
        assert seen[:, 1].min() == cols[0] and seen[:, 1].max() == cols[1] - 1


def test_weight_norm_is_the_pytorch_parametrization():
    layer = DownShiftedConv2d(4, 5)
    assert parametrize.is_parametrized(layer.conv, "weight")
    g, v = layer.conv.parametrizations.weight.original0, layer.conv.parametrizations.weight.original1
    torch.testing.assert_close(layer.conv.weight, g * v / v.flatten(1).norm(dim=1).view(-1, 1, 1, 1))
    up = DownShiftedConvTranspose2d(4, 5)     # per output filter: dim 1 of a transposed conv's weight
    assert up.deconv.parametrizations.weight.original0.shape == (1, 5, 1, 1)


def test_nin_is_a_per_pixel_linear_map():
    torch.manual_seed(0)
    layer = NIN(6, 4)
    x = torch.randn(2, 6, 3, 3)
    w, b = layer.conv.weight[:, :, 0, 0], layer.conv.bias
    expected = torch.einsum("oi,bihw->bohw", w, x) + b[None, :, None, None]
    torch.testing.assert_close(layer(x), expected)
    assert sum(p.numel() for p in layer.parameters()) == 6 * 4 + 4 + 4


def test_concat_elu_matches_its_definition_with_gradient():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(concat_elu(x), F.elu(torch.cat((x, -x), 1)))
    assert torch.autograd.gradcheck(concat_elu, (x,))
    x32 = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(concat_elu(x32), F.elu(torch.cat((x32, -x32), 1)), atol=1e-6, rtol=1e-6)


def test_dropout_drops_single_elements_at_the_right_rate():
    torch.manual_seed(0)
    drop = ElementDropout(0.5)
    y = drop(torch.ones(8, 16, 32, 32))
    assert set(y.unique().tolist()) == {0.0, 2.0}
    assert abs((y == 0).double().mean().item() - 0.5) < 0.01
    per_channel = (y == 0).double().mean(dim=(2, 3))         # channel-wise dropout would give 0 or 1 here
    assert 0.3 < per_channel.min() and per_channel.max() < 0.7
    assert abs((ElementDropout(0.2)(torch.ones(64, 64, 32)) == 0).double().mean().item() - 0.2) < 0.01
    drop.eval()
    x = torch.randn(3, 4)
    assert drop(x) is x


def test_gated_resnet_shapes_and_skip_input():
    torch.manual_seed(0)
    block = GatedResNet(6, DownRightShiftedConv2d, skip_channels=12, dropout=0.0)
    x, a = torch.randn(2, 6, 8, 8), torch.randn(2, 12, 8, 8)
    assert block(x, a=a).shape == x.shape
    with pytest.raises(ValueError, match="skip input"):
        block(x)
    plain = GatedResNet(6, DownShiftedConv2d)
    assert plain.nin_skip is None and plain(x).shape == x.shape


def test_gated_resnet_is_a_gated_residual():
    """out = x + a * sigmoid(b) with [a, b] = conv_out(ce(conv_in(ce(x)))): check by hand."""
    torch.manual_seed(0)
    block = GatedResNet(3, DownShiftedConv2d, dropout=0.0).eval()
    x = torch.randn(1, 3, 5, 5)
    h = block.conv_out(concat_elu(block.conv_input(concat_elu(x))))
    torch.testing.assert_close(block(x), x + h[:, :3] * torch.sigmoid(h[:, 3:]))


def test_border_channel_is_built_per_call():
    x = torch.zeros(5, 3, 4, 4)
    out = image_and_border(x)
    assert out.shape == (5, 4, 4, 4) and torch.equal(out[:, 3], torch.ones(5, 4, 4))
    assert image_and_border(x[:2]).shape == (2, 4, 4, 4)


# ---------------------------------------------------------------- memory format

CL = torch.channels_last


def test_border_channel_keeps_the_memory_format():
    x = torch.randn(2, 3, 4, 5)
    assert torch.equal(image_and_border(x), torch.cat((x, torch.ones(2, 1, 4, 5)), 1))
    out = image_and_border(x.contiguous(memory_format=CL))
    assert out.is_contiguous(memory_format=CL) and torch.equal(out, image_and_border(x))


@pytest.mark.parametrize("make", [lambda: DownShiftedConv2d(4, 6, shift_output_down=True),
                                  lambda: DownRightShiftedConv2d(4, 6, (2, 1), shift_output_right=True),
                                  lambda: DownShiftedConvTranspose2d(4, 6),
                                  lambda: DownRightShiftedConvTranspose2d(4, 6),
                                  lambda: NIN(4, 6)], ids=["down", "down-right", "up-down", "up-down-right", "nin"])
def test_channels_last_layers_keep_the_format_in_weight_output_and_gradients(make):
    """A channels_last layer convolves a channels_last input with a channels_last weight (what cuDNN and
    oneDNN run in that layout) and returns channels_last; g and v get gradients with their own strides."""
    torch.manual_seed(0)
    layer = make()
    layer_cl = make().to(memory_format=CL)
    layer_cl.load_state_dict(layer.state_dict())
    x = torch.randn(2, 4, 6, 6)
    x_cl = x.contiguous(memory_format=CL)
    wn = (getattr(layer_cl, "conv", None) or layer_cl.deconv).parametrizations.weight
    assert wn.original1.is_contiguous(memory_format=CL)
    w, _ = _weights(layer_cl)
    assert w.is_contiguous(memory_format=CL)
    torch.testing.assert_close(w, _weights(layer)[0])
    out = layer_cl(x_cl)
    assert out.is_contiguous(memory_format=CL)
    torch.testing.assert_close(out, layer(x))
    out.square().sum().backward()
    for p in layer_cl.parameters():
        assert p.grad.stride() == p.stride()


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "transposed"])
def test_nchw_weight_norm_is_pytorchs_bit_for_bit(transposed):
    """In NCHW the layers' weight norm computes what torch.nn.utils.parametrizations.weight_norm does, exactly."""
    from torch.nn.utils.parametrizations import weight_norm

    torch.manual_seed(0)
    if transposed:
        ours = DownRightShiftedConvTranspose2d(4, 6).deconv
        theirs = weight_norm(torch.nn.ConvTranspose2d(4, 6, 2, 2), dim=1)
    else:
        ours, theirs = DownShiftedConv2d(4, 6).conv, weight_norm(torch.nn.Conv2d(4, 6, (2, 3)))
    theirs.load_state_dict(ours.state_dict())
    assert torch.equal(ours.weight, theirs.weight)
    x = torch.randn(2, 4, 5, 5)
    ours(x).square().sum().backward()
    theirs(x).square().sum().backward()
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a.grad, b.grad)


def test_weight_norm_gradients_have_their_parameters_strides():
    """DDP compares strides exactly, size-1 dimensions included ("Grad strides do not match bucket view
    strides"): the (1, C, 1, 1) g of a transposed convolution must not be stored with strides (1, 1, 1, 1)."""
    layer = DownShiftedConvTranspose2d(4, 6)
    g = layer.deconv.parametrizations.weight.original0
    assert g.stride() == torch.empty(g.shape).stride()
    layer(torch.randn(2, 4, 3, 3)).sum().backward()
    for p in layer.parameters():
        assert p.grad.stride() == p.stride()


def test_channels_last_dropout_mask_is_laid_out_like_its_input():
    torch.manual_seed(0)
    x = torch.ones(4, 8, 16, 16).contiguous(memory_format=CL)
    y = ElementDropout(0.5)(x)
    assert y.is_contiguous(memory_format=CL) and set(y.unique().tolist()) == {0.0, 2.0}
    assert abs((y == 0).double().mean().item() - 0.5) < 0.02
