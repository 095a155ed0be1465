"""Pix2Pix networks: parity with the reference implementation, shapes, receptive fields, losses."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch import nn

from inpaint_lib.pix2pix import (
    GANLoss,
    NLayerDiscriminator,
    PixelDiscriminator,
    UnetGenerator,
    build_discriminator,
    count_parameters,
    init_weights,
    receptive_field_size,
    set_dropout,
)

# ---------------------------------------------------------------- parity with the reference implementation

def test_unet_parameter_count_matches_reference():
    assert count_parameters(UnetGenerator(3, 3, num_downs=5, ngf=64, norm="batch", image_size=32)) == 16_659_075


@pytest.mark.parametrize("n_layers, params", [(3, 2_768_705), (2, 666_433), (1, 139_585)])
def test_patchgan_parameter_count_matches_reference(n_layers, params):
    assert count_parameters(NLayerDiscriminator(6, ndf=64, n_layers=n_layers, norm="batch")) == params


def test_pixelgan_parameter_count_matches_reference():
    assert count_parameters(PixelDiscriminator(6, ndf=64, norm="batch")) == 9_024


def test_batch_norm_convs_have_no_bias_other_norms_do():
    def biased(net):
        return sum(m.bias is not None for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))
    # batch norm: only the generator's last up conv and the first and last conv of the PatchGAN
    assert biased(UnetGenerator(ngf=8)) == 1
    assert biased(NLayerDiscriminator(ndf=8)) == 2
    assert biased(PixelDiscriminator(ndf=8)) == 1
    assert biased(UnetGenerator(ngf=8, norm="instance")) == 10   # all 5 down + 5 up convs
    assert biased(NLayerDiscriminator(ndf=8, norm="none")) == 5


# ---------------------------------------------------------------- shapes

def test_generator_output_shape_and_range(random_images):
    g = UnetGenerator(ngf=8).eval()
    y = g(random_images(2))
    assert y.shape == (2, 3, 32, 32)
    assert y.abs().max() < 1  # tanh


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_generator_every_norm_runs(norm):
    assert UnetGenerator(ngf=4, norm=norm)(torch.randn(2, 3, 32, 32)).shape == (2, 3, 32, 32)


def test_generator_other_sizes_and_depths():
    assert UnetGenerator(ngf=4, num_downs=3, image_size=32)(torch.randn(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    assert UnetGenerator(ngf=4, num_downs=6, image_size=64)(torch.randn(2, 3, 64, 64)).shape == (2, 3, 64, 64)
    assert UnetGenerator(4, 1, ngf=4)(torch.randn(2, 4, 32, 32)).shape == (2, 1, 32, 32)


@pytest.mark.parametrize("make, side", [(lambda: NLayerDiscriminator(n_layers=3, ndf=8), 2),
                                        (lambda: NLayerDiscriminator(n_layers=2, ndf=8), 6),
                                        (lambda: NLayerDiscriminator(n_layers=1, ndf=8), 14),
                                        (lambda: PixelDiscriminator(ndf=8), 32)])
def test_discriminator_output_shapes(make, side):
    assert make()(torch.randn(2, 6, 32, 32)).shape == (2, 1, side, side)


def test_build_discriminator():
    assert isinstance(build_discriminator("patch", n_layers=1, ndf=8), NLayerDiscriminator)
    assert isinstance(build_discriminator("pixel", ndf=8), PixelDiscriminator)


def test_without_skips_is_an_encoder_decoder_with_fewer_parameters():
    plain = UnetGenerator(skip=False)
    assert count_parameters(plain) < 16_659_075
    assert plain(torch.randn(2, 3, 32, 32)).shape == (2, 3, 32, 32)


# ---------------------------------------------------------------- dropout

def test_reference_unet_at_32_has_no_dropout():
    assert not any(isinstance(m, nn.Dropout) for m in UnetGenerator().modules())


def test_dropout_option_adds_no_parameters_and_sits_in_the_three_levels_above_the_bottleneck():
    g = UnetGenerator(use_dropout=True)
    assert count_parameters(g) == 16_659_075
    assert g.dropout_levels == [3, 2, 1]
    dropped = [m for m in g.modules() if isinstance(m, nn.Dropout)]
    assert len(dropped) == 3 and all(m.p == 0.5 for m in dropped)
    # at 256x256 (num_downs=8) the placement is the reference's: the three extra 8*ngf levels
    assert UnetGenerator(ngf=4, num_downs=8, image_size=256, use_dropout=True).dropout_levels == [6, 5, 4]


def test_dropout_makes_eval_completions_differ_only_when_switched_on(random_images):
    torch.manual_seed(0)
    g = UnetGenerator(ngf=8, use_dropout=True).eval()
    x = random_images(2)
    with torch.no_grad():
        assert torch.equal(g(x), g(x))
        set_dropout(g, True)
        assert not torch.equal(g(x), g(x))
        assert not any(m.training for m in g.modules() if isinstance(m, nn.BatchNorm2d))


# ---------------------------------------------------------------- receptive fields

def measured_receptive_field(net: nn.Module, size: int = 160) -> int:
    """Side of the region of input pixels whose gradient reaches the centre output (float64, eval mode)."""
    net = net.double()
    x = torch.randn(1, net.input_nc, size, size, dtype=torch.float64, requires_grad=True)
    out = net(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    touched = x.grad[0].abs().sum(0) > 0
    rows, cols = touched.any(1).nonzero(), touched.any(0).nonzero()
    assert rows.numel() and cols.numel()
    height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert height == width
    return int(height)


@pytest.mark.parametrize("make, expected", [(lambda: NLayerDiscriminator(n_layers=3, ndf=4), 70),
                                            (lambda: NLayerDiscriminator(n_layers=2, ndf=4), 34),
                                            (lambda: NLayerDiscriminator(n_layers=1, ndf=4), 16),
                                            (lambda: PixelDiscriminator(ndf=4), 1)])
def test_receptive_field_analytic_equals_gradient_measured(make, expected):
    torch.manual_seed(0)
    net = make().eval()
    assert receptive_field_size(net) == expected
    assert measured_receptive_field(net) == expected


def test_receptive_field_from_a_layer_spec():
    assert receptive_field_size([(4, 2)] * 3 + [(4, 1)] * 2) == 70
    assert receptive_field_size([(3, 1, 2), (3, 1, 2)]) == 9
    assert receptive_field_size([]) == 1


def test_in_train_mode_batch_norm_lets_every_output_see_every_pixel():
    torch.manual_seed(0)
    net = NLayerDiscriminator(n_layers=1, ndf=4).double().train()
    x = torch.randn(2, 6, 64, 64, dtype=torch.float64, requires_grad=True)
    net(x)[0, 0, 0, 0].backward()
    assert (x.grad.abs().sum(1) > 0).all()  # both images, every pixel, far beyond the 16x16 field


# ---------------------------------------------------------------- bad input: one clear line each

def one_line_error(fn, *words):
    with pytest.raises(ValueError) as err:
        fn()
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message
    return message


def test_generator_size_not_divisible():
    one_line_error(lambda: UnetGenerator(num_downs=5, image_size=48), "48", "2**num_downs")


def test_generator_fed_another_size():
    g = UnetGenerator(ngf=4)
    one_line_error(lambda: g(torch.randn(1, 3, 64, 64)), "(B, 3, 32, 32)", "image_size=64")
    one_line_error(lambda: g(torch.randn(1, 4, 32, 32)), "(B, 3, 32, 32)")


@pytest.mark.parametrize("make", [lambda: NLayerDiscriminator(ndf=4), lambda: PixelDiscriminator(ndf=4)])
def test_discriminator_given_a_non_pair(make):
    one_line_error(lambda: make()(torch.randn(2, 3, 32, 32)), "(B, 6, H, W)", "torch.cat")


def test_unknown_gan_mode_and_norm():
    one_line_error(lambda: GANLoss("wgan"), "'wgan'", "vanilla", "lsgan")
    for make in (UnetGenerator, NLayerDiscriminator, PixelDiscriminator):
        one_line_error(functools.partial(make, norm="group"), "'group'", "batch", "instance", "none")
    one_line_error(lambda: build_discriminator("global"), "'global'", "patch", "pixel")


# ---------------------------------------------------------------- GAN losses

LOGITS = torch.tensor([[0.0, 2.0], [-1.0, 0.5]])


def test_vanilla_gan_loss_is_bce_on_logits():
    loss = GANLoss("vanilla")
    softplus = [math.log1p(math.exp(-z)) for z in (0.0, 2.0, -1.0, 0.5)]  # -log sigmoid(z)
    expected_real = sum(softplus) / 4                                       # (0.6931 + 0.1269 + 1.3133 + 0.4741) / 4
    expected_fake = sum(math.log1p(math.exp(z)) for z in (0.0, 2.0, -1.0, 0.5)) / 4
    assert loss(LOGITS, True).item() == pytest.approx(expected_real, rel=1e-6)
    assert loss(LOGITS, False).item() == pytest.approx(expected_fake, rel=1e-6)
    assert loss(LOGITS, True).item() == pytest.approx(0.651854, abs=1e-6)
    assert loss(torch.zeros(3, 1, 2, 2), False).item() == pytest.approx(math.log(2), rel=1e-6)


def test_lsgan_loss_is_mean_squared_distance_to_the_label():
    loss = GANLoss("lsgan")
    assert loss(LOGITS, True).item() == pytest.approx((1 + 1 + 4 + 0.25) / 4)
    assert loss(LOGITS, False).item() == pytest.approx((0 + 4 + 1 + 0.25) / 4)


# ---------------------------------------------------------------- init

def test_init_weights_statistics():
    torch.manual_seed(0)
    g = init_weights(UnetGenerator())
    convs = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    scales = torch.cat([m.weight for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    biases = torch.cat([m.bias for m in g.modules() if getattr(m, "bias", None) is not None])
    assert abs(convs.mean().item()) < 1e-4
    assert convs.std().item() == pytest.approx(0.02, rel=0.01)
    assert scales.mean().item() == pytest.approx(1.0, abs=2e-3)
    assert scales.std().item() == pytest.approx(0.02, rel=0.1)
    assert biases.abs().max().item() == 0
