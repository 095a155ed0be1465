"""The causal building blocks of PixelCNN++ (Salimans et al. 2017, arXiv 1701.05517).

PixelCNN++ keeps two streams of feature maps so that a pixel never sees itself or the future:

- the **u** ("up") stream sees only the rows *above* the current pixel. Its convolutions are
  *down-shifted*: a 2x3 filter applied to an input padded with one row on top and one column on
  each side, so the output at row i reads rows i-1 and i (and the stream is started one row down);
- the **ul** ("up-left") stream sees the rows above *and* the pixels to the left in the current
  row. Its convolutions are *down-right-shifted*: a 2x2 filter on an input padded with one row on
  top and one column on the left.

Neither shape has a blind spot, unlike the masked 3x3 convolutions of the original PixelCNN
(:mod:`.original_pixelcnn`).

Every convolution and the 1x1 "network in network" layer is weight-normalised (Salimans & Kingma
2016): ``w = g * v / ||v||``, the norm taken per output filter, as a PyTorch parametrization
(``torch.nn.utils.parametrize``; parameters ``original0`` = g, ``original1`` = v, as
``torch.nn.utils.parametrizations.weight_norm`` names them) that keeps the memory format of v.

**Memory format.** Every layer keeps the memory format of its input: put the model in
``torch.channels_last`` (``model.to(memory_format=torch.channels_last)``) and feed channels_last
images, and every convolution gets a channels_last input *and* a channels_last weight, the
layout cuDNN and oneDNN run channels_last convolutions in (a contiguous weight or input makes
them convert or fall back to NCHW).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

__all__ = [
    "down_shift", "right_shift", "concat_elu", "ElementDropout", "image_and_border", "DownShiftedConv2d",
    "DownRightShiftedConv2d", "DownShiftedConvTranspose2d", "DownRightShiftedConvTranspose2d", "NIN", "GatedResNet",
]


def down_shift(x: torch.Tensor) -> torch.Tensor:
    """Move a feature map one row down: ``out[:, :, i] = x[:, :, i - 1]``, zeros in row 0."""
    return F.pad(x, (0, 0, 1, -1))


def right_shift(x: torch.Tensor) -> torch.Tensor:
    """Move a feature map one column right: ``out[..., j] = x[..., j - 1]``, zeros in column 0."""
    return F.pad(x, (1, -1, 0, 0))


def concat_elu(x: torch.Tensor) -> torch.Tensor:
    """``concat_elu(x) = elu([x, -x])`` along channels: (B, C, H, W) -> (B, 2C, H, W).

    An ELU that keeps the information of both signs; the next layer sees twice the channels.
    Same numbers as ``F.elu(torch.cat((x, -x), 1))``, computed by :class:`_ConcatELU`.
    """
    return _ConcatELU.apply(x)


class _ConcatELU(torch.autograd.Function):
    """concat_elu with a hand-written backward, faster on a CPU than ``F.elu`` of a concatenation.

    Forward: with ``y = [x, -x]``, ``elu(y) = max(y, 0) + exp(min(y, 0)) - 1`` (PyTorch's CPU
    ``elu`` is not vectorised; ``exp`` is). Backward: ``elu'(y) = 1`` where ``y > 0`` and
    ``elu(y) + 1`` elsewhere, i.e. ``min(elu(y), 0) + 1``, so only the output is kept, and
    ``dL/dx = (g * elu'(y))[:C] - (g * elu'(y))[C:]``.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((x, -x), dim=1)
        negative_part = out.clamp(max=0).exp_().sub_(1.0)
        out.clamp_(min=0).add_(negative_part)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (out,) = ctx.saved_tensors
        grad_y = grad * out.clamp(max=0).add_(1.0)
        grad_pos, grad_neg = grad_y.chunk(2, dim=1)
        return grad_pos - grad_neg


class ElementDropout(nn.Module):
    """Dropout of single elements: ``x * m / P(keep)`` with ``m ~ Bernoulli(P(keep))`` per element.

    ``nn.Dropout`` does this too, but its Bernoulli sampler is slow on a CPU. There the mask
    is made from 16 random bits per element, ``keep = bits >= t`` with ``t`` the 16-bit
    threshold nearest to p (exact for p = 0.5; ``P(keep)`` is the exact rate the threshold
    gives), which costs far less. Elsewhere ``nn.functional.dropout`` is used as it is.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self._threshold = round(p * 2 ** 16) - 2 ** 15          # signed 16-bit threshold
        self._scale = 1.0 / (1.0 - round(p * 2 ** 16) / 2 ** 16)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        # compiled code takes F.dropout too: inductor cannot trace the int64 -> int16 view of the bits
        if x.device.type != "cpu" or x.numel() % 4 or torch.compiler.is_compiling():
            return F.dropout(x, self.p, training=True)
        bits = torch.empty(x.numel() // 4, dtype=torch.int64).random_(-2 ** 63, None)  # 4 x 16 bits per draw
        bits = bits.view(torch.int16)
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            b, c, h, w = x.shape                  # the mask in x's layout: (B, H, W, C) seen as (B, C, H, W)
            keep = bits.view(b, h, w, c).permute(0, 3, 1, 2) >= self._threshold
        else:
            keep = bits.view(x.shape) >= self._threshold
        return x * keep.to(x.dtype).mul_(self._scale)


def _contiguous_strides(shape: torch.Size) -> tuple[int, ...]:
    """The strides ``torch.empty(shape)`` has (row-major, a size-1 dimension included)."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


class _GradWithOwnStrides(torch.autograd.Function):
    """The identity, whose gradient comes back with exactly the strides of its input.

    AccumulateGrad keeps a gradient whose strides differ from its parameter's only in size-1
    dimensions, and DDP then copies it into its bucket (with a warning). Here such a gradient is
    copied once into the parameter's strides; one that has them already passes as it is.
    """

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        ctx.strides = t.stride()
        return t.view_as(t)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        if grad.stride() == ctx.strides:
            return grad
        return grad.new_empty_strided(grad.shape, ctx.strides).copy_(grad)


class _WeightNorm(nn.Module):
    """The weight-norm parametrization ``w = g * v / ||v||``, the norm over every dimension but ``dim``.

    ``torch.nn.utils.parametrizations.weight_norm`` computes ``w`` with ``torch._weight_norm``, which
    makes ``v`` contiguous and returns a contiguous ``w`` whatever the layout of ``v``: in a
    channels_last model every convolution would get an NCHW weight. Here a ``v`` with contiguous
    strides takes that same fused kernel (the same numbers, bit for bit); any other layout
    (channels_last) the same formula in element-wise operations, which keep ``v``'s layout in ``w``.

    Gradients come back with their parameter's exact strides, which DDP needs (its bucket views
    copy the parameters' strides, and it warns "Grad strides do not match bucket view strides" on
    any difference, even in a size-1 dimension, where AccumulateGrad lets one through):

    - ``g`` is stored with the strides of a fresh contiguous tensor. ``torch.norm_except_dim``
      gives the ``(1, C, 1, 1)`` g of a transposed convolution (``dim=1``) the strides
      ``(1, 1, 1, 1)``, while its gradient, a reduction, has ``(C, 1, 1, 1)``;
    - in channels_last that g has the strides ``(C, 1, C, C)`` and a 1x1 kernel's v ``(I, 1, I, I)``,
      which no gradient formula reproduces: there g and v pass through :class:`_GradWithOwnStrides`.
    """

    def __init__(self, dim: int = 0):
        super().__init__()
        self.dim = dim

    def forward(self, g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if v.stride() == _contiguous_strides(v.shape):
            return torch._weight_norm(v, g, self.dim)
        g, v = _GradWithOwnStrides.apply(g), _GradWithOwnStrides.apply(v)
        others = [d for d in range(v.dim()) if d != self.dim]
        return v * (g / torch.linalg.vector_norm(v, dim=others, keepdim=True))

    def right_inverse(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.norm_except_dim(weight, 2, self.dim)
        return g.clone(memory_format=torch.contiguous_format), weight


def _weight_norm(module: nn.Module, dim: int = 0) -> nn.Module:
    """Weight-normalise ``module.weight`` (:class:`_WeightNorm`): parameters ``original0`` = g, ``original1`` = v."""
    parametrize.register_parametrization(module, "weight", _WeightNorm(dim), unsafe=True)
    return module


def image_and_border(x: torch.Tensor) -> torch.Tensor:
    """Append a channel of ones: (B, C, H, W) -> (B, C+1, H, W).

    Convolutions pad with zeros, so after the first layer this channel is 1 on the image and 0
    on the padding: the network can tell a black pixel at the border from no pixel at all. It is
    made on every call from ``x`` itself, so it fits any batch size, and in ``x``'s memory format
    (a padding of the channel dimension with ones: ``torch.cat`` with a new, contiguous channel of
    ones would return a contiguous tensor for a channels_last ``x``).
    """
    return F.pad(x, (0, 0, 0, 0, 0, 1), value=1.0)


class DownShiftedConv2d(nn.Module):
    """2x3 (rows x columns) convolution that sees the current row and the rows above.

    ``out[i, j] = b + sum_{di in {-1, 0}, dj in {-1, 0, 1}} w[di, dj] x[i + di, j + dj]`` (stride 1),
    computed as a plain convolution of ``x`` zero-padded by (top 1, left 1, right 1).
    With ``shift_output_down=True`` the output is moved one row down (:func:`down_shift`), so
    that row i sees only rows < i: the start of the u stream (row 0 is then exactly zero, no
    bias). ``stride=2`` halves the resolution, keeping the causal alignment.
    """

    def __init__(self, in_channels: int, out_channels: int, filter_size: tuple[int, int] = (2, 3),
                 stride: int = 1, shift_output_down: bool = False):
        super().__init__()
        rows, cols = filter_size
        if cols % 2 != 1:
            raise ValueError(f"a down-shifted convolution needs an odd filter width, got {filter_size}")
        self.padding = ((cols - 1) // 2, (cols - 1) // 2, rows - 1, 0)   # F.pad order: left, right, top, bottom
        self.conv = _weight_norm(nn.Conv2d(in_channels, out_channels, filter_size, stride=stride))
        self.shift_output_down = shift_output_down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(F.pad(x, self.padding))
        return down_shift(out) if self.shift_output_down else out


class DownRightShiftedConv2d(nn.Module):
    """2x2 convolution that sees the current row and the row above, at and left of the column.

    ``out[i, j] = b + sum_{di in {-1, 0}, dj in {-1, 0}} w[di, dj] x[i + di, j + dj]``, computed as a
    plain convolution of ``x`` zero-padded by (top 1, left 1). With ``shift_output_right=True``
    the output moves one column right (:func:`right_shift`), so that pixel (i, j) sees only
    columns < j of its own row: the start of the ul stream.
    """

    def __init__(self, in_channels: int, out_channels: int, filter_size: tuple[int, int] = (2, 2),
                 stride: int = 1, shift_output_right: bool = False):
        super().__init__()
        rows, cols = filter_size
        self.padding = (cols - 1, 0, rows - 1, 0)
        self.conv = _weight_norm(nn.Conv2d(in_channels, out_channels, filter_size, stride=stride))
        self.shift_output_right = shift_output_right

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(F.pad(x, self.padding))
        return right_shift(out) if self.shift_output_right else out


class DownShiftedConvTranspose2d(nn.Module):
    """Stride-2 transposed 2x3 convolution: doubles the resolution of the u stream, causally.

    The full transposed convolution of an (H, W) map is (2H, 2W + 1) (plus one row and column of
    output padding in the original code); keeping the first 2H rows and columns 1 .. 2W is what
    keeps it causal. Here that crop is done by the layer's own arguments: ``padding=(0, 1)``
    removes one column on each side and ``output_padding=(0, 1)`` restores the right one.
    The weight norm is per output filter (``dim=1`` of a transposed convolution's weight).
    """

    def __init__(self, in_channels: int, out_channels: int, filter_size: tuple[int, int] = (2, 3), stride: int = 2):
        super().__init__()
        rows, cols = filter_size
        if (rows, cols, stride) != (2, 3, 2):
            raise ValueError("only the 2x3 stride-2 up-sampling of PixelCNN++ is provided, "
                             f"got {filter_size}, {stride}")
        self.deconv = _weight_norm(nn.ConvTranspose2d(in_channels, out_channels, filter_size, stride=stride,
                                                     padding=(0, 1), output_padding=(0, 1)), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconv(x)


class DownRightShiftedConvTranspose2d(nn.Module):
    """Stride-2 transposed 2x2 convolution: doubles the resolution of the ul stream, causally.

    Of the full (2H + 1, 2W + 1) output the first 2H rows and 2W columns are kept, which is
    exactly what a 2x2 stride-2 transposed convolution without padding produces.
    """

    def __init__(self, in_channels: int, out_channels: int, filter_size: tuple[int, int] = (2, 2), stride: int = 2):
        super().__init__()
        if (tuple(filter_size), stride) != ((2, 2), 2):
            raise ValueError("only the 2x2 stride-2 up-sampling of PixelCNN++ is provided, "
                             f"got {filter_size}, {stride}")
        self.deconv = _weight_norm(nn.ConvTranspose2d(in_channels, out_channels, filter_size, stride=stride), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconv(x)


class NIN(nn.Module):
    """Network in network: a weight-normalised 1x1 convolution, ``out[:, :, i, j] = W x[:, :, i, j] + b``.

    The same map as the original's dense layer applied to every pixel (same parameter count:
    ``out * in`` for v, ``out`` for g, ``out`` for b), done as a convolution so that no
    channels-last permutation is needed.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = _weight_norm(nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class GatedResNet(nn.Module):
    """The gated residual block of PixelCNN++, for either stream.

    With ``conv`` the stream's convolution class and ``ce`` = :func:`concat_elu`::

        h = conv_input(ce(x))                    # C -> C channels
        h = h + nin_skip(ce(a))                  # only if a skip input a is given
        h = conv_out(dropout(ce(h)))             # 2C -> 2C channels: [h_a, h_b]
        out = x + h_a * sigmoid(h_b)             # gated residual

    ``skip_channels`` is the channel count of ``a`` (0: the block takes none). Dropout zeroes
    single elements (:class:`ElementDropout`), as the original TensorFlow code does, not whole channels.
    """

    def __init__(self, channels: int, conv: type[nn.Module], skip_channels: int = 0, dropout: float = 0.5):
        super().__init__()
        self.conv_input = conv(2 * channels, channels)
        self.nin_skip = NIN(2 * skip_channels, channels) if skip_channels else None
        self.dropout = ElementDropout(dropout)
        self.conv_out = conv(2 * channels, 2 * channels)

    def forward(self, x: torch.Tensor, a: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv_input(concat_elu(x))
        if self.nin_skip is not None:
            if a is None:
                raise ValueError("this gated ResNet block was built with a skip input; pass it as a=...")
            h = h + self.nin_skip(concat_elu(a))
        h = self.conv_out(self.dropout(concat_elu(h)))
        h_a, h_b = h.chunk(2, dim=1)
        return x + h_a * torch.sigmoid(h_b)
