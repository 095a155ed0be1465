"""Pix2Pix networks: the U-Net generator, PatchGAN and PixelGAN discriminators, GAN losses.

Isola et al. 2017 (arXiv 1611.07004), built as in the PyTorch reference implementation
(junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``), so that parameter counts
match it exactly. The generator maps a masked image x (missing pixels 0) to a full image
G(x) in [-1, 1]; a discriminator D scores (input, image) pairs concatenated on channels,
``D(cat[x, y])``, so it judges whether y is a plausible completion *of this x*.

Conventions of the reference kept here:

- every convolution is 4x4 with stride 2 and padding 1 (the PixelGAN uses 1x1);
- a convolution followed by batch norm has no bias (the norm's shift replaces it); with
  ``norm="instance"`` (affine-free, as in the reference) or ``"none"`` the convolutions keep
  their bias. (The reference also drops the bias for ``"none"``, leaving the network with no
  shift at all; that looks like an oversight and is not copied.)
- weights start from N(0, 0.02), batch-norm scales from N(1, 0.02), biases at 0
  (:func:`init_weights`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

NORMS = ("batch", "instance", "none")
GAN_MODES = ("vanilla", "lsgan")


# --------------------------------------------------------------------------- normalisation

def _check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    return norm


def norm_layer(norm: str, channels: int) -> nn.Module:
    """``"batch"``: BatchNorm2d; ``"instance"``: InstanceNorm2d without affine parameters or
    running statistics (the reference's choice); ``"none"``: identity."""
    _check_norm(norm)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def _conv_bias(norm: str) -> bool:
    """A convolution feeding a norm layer needs a bias only when the norm has no shift of its own."""
    return _check_norm(norm) != "batch"


# --------------------------------------------------------------------------- generator

class UnetSkipConnectionBlock(nn.Module):
    """One level of the U-Net: ``y = cat[x, up(sub(down(x)))]`` (the outermost level returns
    ``up(sub(down(x)))`` alone, the innermost has no ``sub``).

    down: [LeakyReLU(0.2)] -> Conv 4x4/2 -> [norm]      halves the resolution
    up:   ReLU -> ConvTranspose 4x4/2 -> norm | Tanh    doubles it again
    The outermost level takes the raw input (no activation before its conv, no norm after it)
    and ends in Tanh; the innermost level has no norm after its down conv (its output is 1x1
    at 32x32, where batch statistics over one pixel would be degenerate in small batches).
    With ``skip=False`` the concatenation is left out: a plain encoder-decoder, for comparison.
    """

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", use_dropout: bool = False, skip: bool = True):
        super().__init__()
        self.outermost, self.skip = outermost, skip
        bias = _conv_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        # what the up path receives: the sub-level's output, which carries its own skip copy
        up_in = inner_nc if innermost or not skip else 2 * inner_nc

        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        if outermost:
            down = [downconv]
            up = [nn.ReLU(True), nn.ConvTranspose2d(up_in, outer_nc, kernel_size=4, stride=2, padding=1), nn.Tanh()]
        elif innermost:
            down = [nn.LeakyReLU(0.2, True), downconv]
            up = [nn.ReLU(True), nn.ConvTranspose2d(up_in, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias),
                  norm_layer(norm, outer_nc)]
        else:
            down = [nn.LeakyReLU(0.2, True), downconv, norm_layer(norm, inner_nc)]
            up = [nn.ReLU(True), nn.ConvTranspose2d(up_in, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias),
                  norm_layer(norm, outer_nc)]
        if use_dropout:
            up.append(nn.Dropout(0.5))
        middle = [] if submodule is None else [submodule]
        self.model = nn.Sequential(*down, *middle, *up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost or not self.skip:
            return self.model(x)
        # self.model starts with an in-place LeakyReLU, which rewrites x before the cat: the skip
        # carries LeakyReLU(x), exactly as in the reference implementation.
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """The pix2pix U-Net: ``num_downs`` halvings from ``image_size`` down to ``image_size / 2**num_downs``.

    Level i (0 = outermost) maps ``ngf * min(2**(i-1), 8)`` channels down to
    ``ngf * min(2**i, 8)`` and back; each level's output is concatenated with its input (skip
    connection), so the decoder at every resolution sees the encoder's features there. At
    32x32 with ``num_downs=5`` the bottleneck is 1x1 with 8*ngf channels and, with ``ngf=64``
    and batch norm, the network has 16,659,075 parameters, as the reference.

    Dropout. The reference puts Dropout(0.5) only in the extra 8*ngf levels that appear when
    ``num_downs > 5``; at 32x32 (``num_downs=5``) it has none, and pix2pix's only source of
    noise disappears. Here ``use_dropout=True`` follows the paper's text instead: Dropout(0.5)
    after the decoder output of the **three levels just above the bottleneck** (fewer if there
    are fewer intermediate levels). At 32x32, ``num_downs=5``, these are levels 3, 2 and 1,
    whose decoders output 4x4x(4*ngf), 8x8x(2*ngf) and 16x16x(ngf) features; at 256x256 with
    ``num_downs=8`` this is exactly the reference's placement. Dropout adds no parameters.

    The input must be (B, input_nc, image_size, image_size); anything else raises ValueError.
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, num_downs: int = 5, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = False, image_size: int = 32, skip: bool = True):
        super().__init__()
        _check_norm(norm)
        if num_downs < 2:
            raise ValueError(f"num_downs must be at least 2 (an outermost and an innermost level), got {num_downs}")
        if image_size % 2 ** num_downs:
            raise ValueError(f"image_size {image_size} does not divide by 2**num_downs = {2 ** num_downs}; "
                             f"use num_downs <= {_max_downs(image_size)} or an image size that is a multiple of "
                             f"{2 ** num_downs}")
        self.input_nc, self.output_nc, self.image_size = input_nc, output_nc, image_size
        self.num_downs, self.ngf, self.norm, self.use_dropout, self.skip = num_downs, ngf, norm, use_dropout, skip

        def width(i: int) -> int:  # channels between level i's down conv and up conv
            return ngf * min(2 ** i, 8)

        dropout_levels = set(range(max(1, num_downs - 4), num_downs - 1)) if use_dropout else set()
        block = UnetSkipConnectionBlock(width(num_downs - 2), width(num_downs - 1), innermost=True, norm=norm,
                                        skip=skip)
        for i in range(num_downs - 2, 0, -1):
            block = UnetSkipConnectionBlock(width(i - 1), width(i), submodule=block, norm=norm,
                                            use_dropout=i in dropout_levels, skip=skip)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True,
                                             norm=norm, skip=skip)
        self.dropout_levels = sorted(dropout_levels, reverse=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.input_nc, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"UnetGenerator was built for input (B, {expected[0]}, {expected[1]}, {expected[2]}), "
                             f"got {tuple(x.shape)}; build it with image_size={x.shape[-1]} (divisible by "
                             f"2**num_downs) or resize the input")
        return self.model(x)


def _max_downs(size: int) -> int:
    n = 0
    while size % 2 == 0 and size > 1:
        size //= 2
        n += 1
    return n


# --------------------------------------------------------------------------- discriminators

class _PairDiscriminator(nn.Module):
    """Common input check: a discriminator takes ``cat[masked input, image]`` on channels."""

    input_nc: int

    def _check(self, pair: torch.Tensor) -> None:
        if pair.dim() != 4 or pair.shape[1] != self.input_nc:
            raise ValueError(f"{type(self).__name__} expects (B, {self.input_nc}, H, W) pairs, got "
                             f"{tuple(pair.shape)}; pass torch.cat([masked_input, image], dim=1) "
                             f"(or build it with input_nc={pair.shape[1] if pair.dim() == 4 else '...'})")

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        self._check(pair)
        return self.model(pair)


class NLayerDiscriminator(_PairDiscriminator):
    """PatchGAN: ``n_layers`` stride-2 4x4 convs, then two stride-1 4x4 convs, one logit per patch.

    Channels grow ``ndf, 2 ndf, 4 ndf, 8 ndf`` (capped at 8 ndf); the first conv has no norm.
    Each output logit sees a square patch of the input (its receptive field, see
    :func:`receptive_field_size`): 70, 34, 16 pixels for ``n_layers`` 3, 2, 1. On 32x32 images the
    outputs are 2x2, 6x6, 14x14. A 70-pixel field covers the whole 32x32 image, so at this size
    the default n_layers=3 is effectively an image-level GAN; n_layers=1 is the paper's 16x16
    PatchGAN. With ndf=64 and batch norm: 2,768,705 / 666,433 / 139,585 parameters.
    """

    def __init__(self, input_nc: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        bias = _conv_bias(norm)
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        self.input_nc, self.ndf, self.n_layers, self.norm = input_nc, ndf, n_layers, norm
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, kernel_size=4, stride=2, padding=1),
                                   nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1  # the last of these convs keeps the resolution (-1 pixel)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=stride, padding=1, bias=bias),
                       norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)


class PixelDiscriminator(_PairDiscriminator):
    """PixelGAN (1x1 PatchGAN): three 1x1 convs, one logit per pixel, receptive field 1.

    It can only judge colour statistics of single (input, output) pixel pairs, not structure.
    With ndf=64 and batch norm: 9,024 parameters; output (B, 1, H, W).
    """

    def __init__(self, input_nc: int = 6, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        bias = _conv_bias(norm)
        self.input_nc, self.ndf, self.norm = input_nc, ndf, norm
        self.model = nn.Sequential(
            nn.Conv2d(input_nc, ndf, kernel_size=1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size=1, bias=bias), norm_layer(norm, ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, kernel_size=1, bias=bias))


def receptive_field_size(layers: nn.Module | Iterable[tuple[int, int] | tuple[int, int, int]]) -> int:
    """Side of the square input patch that one output of a chain of convolutions depends on.

    ``layers`` is a module whose convolutions run one after another (a discriminator), or a
    spec: ``(kernel, stride)`` or ``(kernel, stride, dilation)`` per conv, input side first.
    Going from the input to the output, with ``j`` the distance in input pixels between
    neighbouring outputs of the current layer (the product of the strides so far),

        r <- r + (k - 1) * d * j,   j <- j * s,    starting from r = 1, j = 1.

    For NLayerDiscriminator (4x4 convs, strides 2,2,2,1,1 for n_layers=3): 70; n_layers=2: 34;
    n_layers=1: 16; PixelDiscriminator: 1. Padding does not change the field, only where it
    lies. This is the field of the *convolutions*: in train mode batch norm mixes statistics of
    every pixel of every image in the batch into every output, so gradients then reach the
    whole input; measure it in eval mode.
    """
    if isinstance(layers, nn.Module):
        spec = [(m.kernel_size[0], m.stride[0], m.dilation[0]) for m in layers.modules()
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        if any(isinstance(m, nn.ConvTranspose2d) for m in layers.modules()):
            raise ValueError("receptive_field_size is for plain chains of convolutions (discriminators); "
                             "this module has transposed convolutions")
    else:
        spec = [tuple(layer) + (1,) * (3 - len(tuple(layer))) for layer in layers]
    r, j = 1, 1
    for k, s, d in spec:
        r += (k - 1) * d * j
        j *= s
    return r


def build_discriminator(kind: str, input_nc: int = 6, ndf: int = 64, n_layers: int = 3,
                        norm: str = "batch") -> nn.Module:
    """``"patch"``: :class:`NLayerDiscriminator`; ``"pixel"``: :class:`PixelDiscriminator`."""
    if kind == "patch":
        return NLayerDiscriminator(input_nc, ndf, n_layers, norm)
    if kind == "pixel":
        return PixelDiscriminator(input_nc, ndf, norm)
    raise ValueError(f"unknown discriminator {kind!r}; choose 'patch' (PatchGAN) or 'pixel' (PixelGAN)")


# --------------------------------------------------------------------------- losses and init

class GANLoss(nn.Module):
    """The GAN loss of a logit map against a constant target: 1 for "real", 0 for "fake".

    ``vanilla``: binary cross-entropy on logits, averaged over every logit,
        loss(z, real) = mean(-log sigmoid(z)),  loss(z, fake) = mean(-log(1 - sigmoid(z)));
    ``lsgan`` (least squares, Mao et al. 2017): loss(z, t) = mean((z - t)^2).
    A discriminator that cannot tell at all (sigmoid(z) = 1/2) scores log 2 = 0.693 either way
    under ``vanilla``; this is where a balanced game hovers.
    """

    def __init__(self, gan_mode: str = "vanilla", real_label: float = 1.0, fake_label: float = 0.0):
        super().__init__()
        if gan_mode not in GAN_MODES:
            raise ValueError(f"unknown gan_mode {gan_mode!r}; choose one of {', '.join(GAN_MODES)}")
        self.gan_mode = gan_mode
        self.real_label, self.fake_label = real_label, fake_label
        self.loss = nn.BCEWithLogitsLoss() if gan_mode == "vanilla" else nn.MSELoss()

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        target = torch.full_like(prediction, self.real_label if target_is_real else self.fake_label)
        return self.loss(prediction, target)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """Reference "normal" init: conv weights ~ N(0, gain), batch-norm scales ~ N(1, gain), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def _dropout_layers(net: nn.Module) -> list[nn.Dropout]:
    return [m for m in net.modules() if isinstance(m, nn.Dropout)]


def set_dropout(net: nn.Module, active: bool) -> nn.Module:
    """Switch only the dropout layers to train (``active``) or eval mode, leaving norms alone.

    With the generator in eval mode this draws a different completion per call: the
    stochastic pix2pix of the paper's test time, without batch statistics of the test batch.
    """
    for m in _dropout_layers(net):
        m.train(active)
    return net


__all__ = ["UnetGenerator", "UnetSkipConnectionBlock", "NLayerDiscriminator", "PixelDiscriminator",
           "build_discriminator", "receptive_field_size", "GANLoss", "init_weights", "count_parameters",
           "set_dropout", "norm_layer", "NORMS", "GAN_MODES"]
