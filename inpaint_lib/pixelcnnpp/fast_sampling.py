"""Fast conditional sampling for PixelCNN++: recompute only the activations a new pixel can change.

The naive sampler runs the whole network once per drawn pixel, although a pixel changes only a
thin slice of the activations. This module caches every activation of one forward pass and, for
each new pixel, recomputes just what depends on it (activation caching in the spirit of
Ramachandran et al. 2017, arXiv 1704.06001).

**Rows.** Every layer of PixelCNN++ is causal in rows:

- a stride-1 shifted convolution (2 x 3 or 2 x 2) reads rows r-1 and r of its input for output
  row r (the stream starts read rows r-2, r-1 or r-1 only); 1 x 1 layers and element-wise
  operations read row r only;
- a stride-2 down convolution maps input rows 2k-1, 2k to output row k;
- a stride-2 transposed convolution maps input row k to output rows 2k and 2k+1, and nothing else
  (its 2-row kernel at stride 2 never overlaps two input rows).

By induction through the network, an activation at row k of the 16 x 16 maps depends only on
image rows <= 2k, and at row m of the 8 x 8 maps only on image rows <= 4m. The u ("up") stream
starts shifted one row down, so its rows depend only on image rows strictly above: at 32 x 32 row
r on image rows < r, at 16 x 16 row k on rows < 2k, at 8 x 8 row m on rows < 4m. At level ``l``
(0: 32 x 32, 1: 16 x 16, 2: 8 x 8) image row i reaches row ``i >> l`` and no other, and row
``k`` of level ``l`` is final once image row ``k * 2**l`` is.

**Columns, in the ul stream.** The ul ("up-left") stream is the same in columns within a row: it
starts shifted one column right and its 2 x 2 kernels read columns c-1 and c, so at level 0 the
activation at (i, c) depends on pixels (i, < c) of its own row (and rows above); at level ``l``,
when ``i % 2**l == 0``, column c of row ``i >> l`` depends on pixels (i, <= c * 2**l - 1).

**The schedule.** To draw pixel (i, j) the network output at (i, j) is needed, given every pixel
before it in raster order:

- at the **start of image row i**, recompute row ``i >> l`` of every layer at the levels with
  ``i % 2**l == 0`` (:meth:`RowCachedPixelCNNpp.refresh`); the other levels' rows were final
  already (they depend on image rows <= ``(i >> l) * 2**l`` < i). This brings the u stream up to
  date with the rows above (it cannot change while row i is drawn). The ul stream is recomputed
  here only when the row's first drawn pixel is not in column 0: otherwise every ul column of
  the row is computed below, pixel by pixel, before anything reads it;
- **for each column j** from the row's first drawn pixel to its last, recompute only the ul
  stream, and only at column ``j >> l`` of row ``i >> l`` of the levels with
  ``i % 2**l == 0`` and ``j % 2**l == 0`` (:meth:`RowCachedPixelCNNpp.update`): that column depends
  on the pixel drawn just before, (i, j-1); every other activation the output at (i, j) reads is
  already final. Then read the output at (i, j) (:meth:`RowCachedPixelCNNpp.output_at`);
- at the **end of row i**, if known pixels follow the last drawn one, recompute the ul rows once
  (``update(i)`` without a column), since row i + 1 reads them.

An activation is computed exactly as its layer computes it on the whole map: the input rows and
columns its kernel reads are sliced from the cache and zero-padded where the layer's ``padding``
would put zeros, the layer's own weights are applied, and the layer's output shifts are applied
as the layer applies them (:func:`conv_at`, :func:`deconv_at`). The forward pass in
:meth:`RowCachedPixelCNNpp._network` mirrors :meth:`PixelCNNpp.forward` line for line (the same
lists, the same pop order); the module only ever reads the model's submodules.

**Cost.** Drawing a pixel recomputes a few hundred activations of a few dozen channels each: on
a CPU or a GPU the time goes to launching small operations (a few microseconds each), not to
arithmetic. So the per-pixel path is written for few, large operations:

- the weights are read once per sampling call (:func:`prepare`: weight norm applied, and each
  kernel laid out as one ``(kh * kw * C_in, C_out)`` matrix), so one output pixel is one
  ``addmm`` of its input window, flattened, with that matrix;
- the cache is kept in ``torch.channels_last`` layout (NCHW shapes, channels innermost in
  memory): a pixel's channels, ``t[:, :, r, c]``, are then a (N, C) matrix the ``addmm`` reads in
  place, and a kernel window is flattened by copying a few contiguous runs of channels;
- windows are padded only at the borders; one pixel's values stay (N, C) matrices throughout.

Run everything under ``torch.inference_mode()`` (or at least ``torch.no_grad()``) with the model
in eval mode (dropout off; it is then skipped).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from .layers import image_and_border

__all__ = ["conv_at", "deconv_at", "prepare", "Weights", "RowCachedPixelCNNpp", "sample_rows_cached",
           "iter_rows_cached", "LEVELS"]

LEVELS = 3  # 32x32, 16x16, 8x8: the model's NUM_STAGES
CACHE_FORMAT = torch.channels_last


class Weights(NamedTuple):
    """A convolution's weights, read once: ``weight`` and ``bias`` as the layer uses them (weight norm applied).

    ``matrix`` is the kernel for one output pixel: for a convolution ``(kh * kw * C_in, C_out)``, its rows
    in (kernel row, kernel column, channel) order, the order of a channels_last window flattened; for a
    transposed convolution ``(kh, kw, C_in, C_out)``, one ``C_in x C_out`` matrix per kernel tap.
    """

    weight: torch.Tensor
    bias: torch.Tensor | None
    matrix: torch.Tensor


def prepare(conv: nn.Module) -> Weights:
    """The :class:`Weights` of an ``nn.Conv2d`` or ``nn.ConvTranspose2d`` (weight-normalised or not)."""
    weight = conv.weight.detach()
    bias = None if conv.bias is None else conv.bias.detach()
    if isinstance(conv, nn.ConvTranspose2d):
        matrix = weight.permute(2, 3, 0, 1).contiguous()
    else:
        matrix = weight.permute(2, 3, 1, 0).reshape(-1, weight.shape[0]).contiguous()
    return Weights(weight, bias, matrix)


def _affine(x: torch.Tensor, bias: torch.Tensor | None, matrix: torch.Tensor) -> torch.Tensor:
    """``bias + x @ matrix`` for x (N, K): one ``addmm``."""
    return torch.mm(x, matrix) if bias is None else torch.addmm(bias, x, matrix)


class _Geometry(NamedTuple):
    """What a shifted convolution layer does besides its weights: padding, kernel, stride, output shifts."""

    left: int
    right: int
    top: int
    kh: int
    kw: int
    stride: int
    down: bool
    shift_right: bool


def _geometry(layer: nn.Module) -> _Geometry:
    left, right, top, _ = layer.padding
    (kh, kw), stride = layer.conv.kernel_size, layer.conv.stride[0]
    return _Geometry(left, right, top, kh, kw, stride, getattr(layer, "shift_output_down", False),
                     getattr(layer, "shift_output_right", False))


def _conv_row(geo: _Geometry, w: Weights, src: torch.Tensor, r: int) -> torch.Tensor:
    """Row ``r`` of the layer's output, (N, C', 1, W'): see :func:`conv_at`."""
    left, right, top, kh, _, stride, down, shift_right = geo
    q = r - 1 if down else r
    r0 = max(q, 0) * stride - top
    rows = src[:, :, max(r0, 0):max(r0 + kh, 0)]
    out = F.conv2d(F.pad(rows, (left, right, max(-r0, 0), 0)), w.weight, w.bias, stride)
    if shift_right:
        out = F.pad(out, (1, -1, 0, 0))
    return torch.zeros_like(out) if q < 0 else out


def _conv_pixel(geo: _Geometry, w: Weights, src: torch.Tensor, r: int, c: int) -> torch.Tensor:
    """Pixel (r, c) of the layer's output as a matrix (N, C'): one ``addmm`` of the window it reads."""
    left, _, top, kh, kw, stride, down, shift_right = geo
    q = r - 1 if down else r
    p = c - 1 if shift_right else c
    if q < 0 or p < 0:                                          # a shifted-in zero
        return src.new_zeros(src.shape[0], w.matrix.shape[1])
    r0, c0 = q * stride - top, p * stride - left
    width = src.shape[3]
    window = src[:, :, max(r0, 0):r0 + kh, max(c0, 0):min(c0 + kw, width)]
    if r0 < 0 or c0 < 0 or c0 + kw > width:                     # at a border: the layer's zero padding
        window = F.pad(window, (max(-c0, 0), max(c0 + kw - width, 0), max(-r0, 0), 0))
    return _affine(window.permute(0, 2, 3, 1).reshape(src.shape[0], -1), w.bias, w.matrix)


def conv_at(layer: nn.Module, src: torch.Tensor, r: int, c: int | None = None,
            weights: Weights | None = None) -> torch.Tensor:
    """Row ``r`` of ``layer(src)``, (N, C, 1, W'), or only its column ``c``, (N, C, 1, 1), reading only what it needs.

    The layer pads ``src`` by ``layer.padding`` = (left, right, top, bottom) and convolves with
    ``layer.conv`` (kernel kh x kw, stride s): output (q, p) reads input rows
    ``q*s - top .. q*s - top + kh - 1`` and columns ``p*s - left .. p*s - left + kw - 1``, zeros
    where an index falls outside the map (the bottom padding never reaches a row that exists).
    A layer with ``shift_output_down`` then moves its output one row down (row r is the
    convolution's row r - 1; row 0 is zero), one with ``shift_output_right`` one column right.
    A single pixel is one dot product per output channel (:func:`prepare`'s matrix), several times
    cheaper than a convolution call on so small an input. ``weights``: :func:`prepare` (layer.conv),
    read from the layer when not given.
    """
    w = prepare(layer.conv) if weights is None else weights
    if c is None:
        return _conv_row(_geometry(layer), w, src, r)
    return _conv_pixel(_geometry(layer), w, src, r, c)[:, :, None, None]


def _pixelwise(deconv: nn.ConvTranspose2d) -> bool:
    """Whether :func:`_deconv_pixel` is written for ``deconv``: the unpadded 2 x 2 kernel at stride 2."""
    return tuple(deconv.kernel_size) == (2, 2) and tuple(deconv.stride) == (2, 2) and tuple(deconv.padding) == (0, 0)


def _check_deconv_pixels(pixelwise: bool) -> None:
    if not pixelwise:
        raise NotImplementedError("column-wise transposed convolution is only written for the unpadded 2x2 kernel")


def _deconv_row(deconv: nn.ConvTranspose2d, w: Weights, src: torch.Tensor, r: int) -> torch.Tensor:
    out = F.conv_transpose2d(src[:, :, r // 2:r // 2 + 1], w.weight, w.bias, deconv.stride, deconv.padding,
                             deconv.output_padding, deconv.groups, deconv.dilation)
    return out[:, :, r % 2:r % 2 + 1]


def _deconv_pixel(w: Weights, src: torch.Tensor, r: int, c: int) -> torch.Tensor:
    """Pixel (r, c) of an unpadded 2 x 2 stride-2 transposed convolution (:func:`_pixelwise`), (N, C')."""
    return _affine(src[:, :, r // 2, c // 2], w.bias, w.matrix[r % 2, c % 2])


def deconv_at(layer: nn.Module, src: torch.Tensor, r: int, c: int | None = None,
              weights: Weights | None = None) -> torch.Tensor:
    """Row ``r`` (or only its column ``c``) of ``layer(src)`` for a stride-2 transposed convolution with 2-row kernels.

    Output rows 2k and 2k+1 come from input row k alone (two kernel rows at stride 2 never overlap),
    so row ``r // 2`` is transformed on its own and row ``r % 2`` of the result kept. Likewise in
    columns for the unpadded 2 x 2 kernel of the ul stream: output pixel (r, c) is input pixel
    (r // 2, c // 2) times the kernel tap (r % 2, c % 2), a product with a C_in x C_out matrix.
    """
    w = prepare(layer.deconv) if weights is None else weights
    if c is None:
        return _deconv_row(layer.deconv, w, src, r)
    _check_deconv_pixels(_pixelwise(layer.deconv))
    return _deconv_pixel(w, src, r, c)[:, :, None, None]


def _concat_elu(x: torch.Tensor) -> torch.Tensor:
    """:func:`~.layers.concat_elu` along dim 1 of a map or of a pixel's (N, C) matrix, in three operations.

    That function is an ``autograd.Function`` (with a backward for training) computing
    ``max(y, 0) + exp(min(y, 0)) - 1`` in seven operations; ``F.elu`` computes ``expm1`` instead,
    which can differ in the last bit (at most 6e-8 in float32), as much as the other summation
    orders here (the cached outputs stay within about 1.5e-7 of ``model(x)`` in float32).
    """
    return F.elu(torch.cat((x, -x), dim=1))


class RowCachedPixelCNNpp:
    """The activations of a :class:`~.model.PixelCNNpp` on a batch, kept up to date as pixels are drawn.

    ``x`` (N, 3, H, W) in [-1, 1] is the starting image; after :meth:`set_pixel` and the schedule in
    the module docstring, :meth:`output_at` returns what ``model(x)[:, :, i:i+1, j:j+1]`` would.
    ``start``: the image row the schedule will begin at (None: a first pass over the whole image).
    The first pass then covers only the image rows above it, rounded up to whole rows of the
    coarsest level (at least one): by causality those rows' activations are the same as in a pass
    over the whole image, and every row below is computed by :meth:`refresh` and :meth:`update`
    before anything reads it.
    Call everything under ``torch.inference_mode()`` (or ``torch.no_grad()``) with the model in eval
    mode (dropout off). The weights are read once, here (:func:`prepare`): change the model's
    parameters and build a new one.
    """

    def __init__(self, model: torch.nn.Module, x: torch.Tensor, start: int | None = None):
        if model.training:
            raise ValueError("put the model in eval mode (model.eval()) before sampling: dropout must be off")
        self.model = model
        with parametrize.cached():                         # weight norm computed once per convolution
            self.weights: dict[nn.Module, Weights] = {
                module: prepare(module) for module in model.modules()
                if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d))}
            # per layer, what a row or a pixel of it needs, looked up once here rather than at every pixel
            self.convs: dict[nn.Module, tuple[_Geometry, Weights]] = {
                layer: (_geometry(layer), self.weights[layer.conv]) for layer in model.modules()
                if hasattr(layer, "padding") and isinstance(getattr(layer, "conv", None), nn.Conv2d)}
            self.deconvs: dict[nn.Module, tuple[nn.ConvTranspose2d, Weights, bool]] = {
                layer: (layer.deconv, self.weights[layer.deconv], _pixelwise(layer.deconv)) for layer in model.modules()
                if isinstance(getattr(layer, "deconv", None), nn.ConvTranspose2d)}
            self.cache: dict[str, torch.Tensor] = {}
            self.level: dict[str, int] = {}
            # In a partial pass: per level, the row to compute (None: skip the level) and the column
            # (None: the whole row). Both None: a full pass over whole maps.
            self.rows: tuple[int | None, ...] | None = None
            self.cols: tuple[int | None, ...] = (None,) * LEVELS
            self.streams: tuple[str, ...] = ("u", "ul")
            self.height = x.shape[2]
            self._store("x", image_and_border(x), 0)
            unit = 1 << (LEVELS - 1)                      # rows per row of the coarsest level
            start = self.height if start is None else start
            self.top = min(self.height, max(unit, -(-start // unit) * unit))
            self.out = self._network()                     # fill the cache with one full pass (of the top rows)

    # -- the ways of running the network ------------------------------------------------------

    def refresh(self, i: int, ul: bool = True) -> None:
        """Recompute row ``i >> l`` of every layer at the levels ``l`` with ``i % 2**l == 0``: the u stream, and
        the ul stream unless ``ul=False`` (when every ul column of the row is recomputed pixel by pixel)."""
        rows = tuple(i >> l if i % (1 << l) == 0 else None for l in range(LEVELS))
        self._run(rows, (None,) * LEVELS, ("u", "ul") if ul else ("u",))

    def update(self, i: int, j: int | None = None) -> None:
        """Recompute the ul stream where pixel (i, j-1) reaches: level ``l`` when ``i % 2**l == 0``.

        With ``j``, only column ``j >> l`` and only at levels where also ``j % 2**l == 0``
        (the columns that depend on pixel (i, j-1)); without, the whole row ``i >> l``.
        """
        def active(l: int) -> bool:
            return i % (1 << l) == 0 and (j is None or j % (1 << l) == 0)
        rows = tuple(i >> l if active(l) else None for l in range(LEVELS))
        cols = tuple(None if j is None else j >> l for l in range(LEVELS))
        self._run(rows, cols, ("ul",))

    def _run(self, rows, cols, streams) -> None:
        self.rows, self.cols, self.streams = rows, cols, streams
        try:
            self._network()
        finally:
            self.rows, self.cols, self.streams = None, (None,) * LEVELS, ("u", "ul")

    # -- reading and writing ------------------------------------------------------------------

    def set_pixel(self, i: int, j: int, value: torch.Tensor, where: torch.Tensor | None = None) -> None:
        """Write ``value`` (N, 3) into pixel (i, j) of the images where ``where`` (N,) is True (None: all)."""
        pixel = self.cache["x"][:, :3, i, j]
        pixel.copy_(value if where is None else torch.where(where[:, None], value, pixel))

    def images(self) -> torch.Tensor:
        """The images as they stand, (N, 3, H, W): a view of the cache, in its channels_last layout."""
        return self.cache["x"][:, :3]

    def output_at(self, i: int, j: int) -> torch.Tensor:
        """The network output at pixel (i, j), (N, 10K, 1, 1): ``nin_out(elu(ul))`` of the last ul map there."""
        w = self.weights[self.model.nin_out.conv]
        return _affine(F.elu(self.cache[self.out][:, :, i, j]), w.bias, w.matrix)[:, :, None, None]

    # -- primitives: in a full pass they act on whole maps, otherwise on one row (N, C, 1, W) or on one
    #    pixel, whose values are (N, C) matrices -------------------------------------------------------

    def _active(self, level: int, stream: str) -> bool:
        return self.rows is None or (self.rows[level] is not None and stream in self.streams)

    def _store(self, name: str, value: torch.Tensor, level: int) -> str:
        """Keep ``value`` (a whole map, or the current row or pixel of one) in the cache under ``name``.

        In a full pass ``value`` is the map's top rows: the map is made, all zeros below them."""
        if self.rows is None:
            if name not in self.cache:
                n, c, _, w = value.shape
                self.cache[name] = torch.empty(n, c, self.height >> level, w, dtype=value.dtype, device=value.device,
                                               memory_format=CACHE_FORMAT).zero_()
                self.level[name] = level
            self.cache[name][:, :, :value.shape[2]] = value
        else:
            r, c = self.rows[level], self.cols[level]
            if c is None:
                self.cache[name][:, :, r:r + 1] = value
            else:
                self.cache[name][:, :, r, c] = value
        return name

    def _get(self, name: str) -> torch.Tensor:
        """The top rows of a cached map in a full pass (the first ``self.top`` image rows), else its current
        row (N, C, 1, W) or pixel (N, C)."""
        t = self.cache[name]
        level = self.level[name]
        if self.rows is None:
            return t[:, :, :self.top >> level]
        r, c = self.rows[level], self.cols[level]
        return t[:, :, r:r + 1] if c is None else t[:, :, r, c]

    def _conv(self, layer: torch.nn.Module, name: str, level: int) -> torch.Tensor:
        """``layer`` (a shifted convolution, stride 1 or 2) applied to the cached map ``name``."""
        if self.rows is None:
            return layer(self._get(name))
        src, r, c = self.cache[name], self.rows[level], self.cols[level]
        geo, w = self.convs[layer]
        return _conv_row(geo, w, src, r) if c is None else _conv_pixel(geo, w, src, r, c)

    def _deconv(self, layer: torch.nn.Module, name: str, level: int) -> torch.Tensor:
        """A stride-2 transposed convolution of the cached map ``name`` (one level coarser)."""
        if self.rows is None:
            return layer(self._get(name))
        src, r, c = self.cache[name], self.rows[level], self.cols[level]
        deconv, w, pixelwise = self.deconvs[layer]
        if c is None:
            return _deconv_row(deconv, w, src, r)
        _check_deconv_pixels(pixelwise)
        return _deconv_pixel(w, src, r, c)

    def _nin(self, nin: torch.nn.Module, t: torch.Tensor) -> torch.Tensor:
        """A 1 x 1 (network-in-network) layer on a map or row, or on a pixel's (N, C) matrix."""
        if t.dim() == 4:
            return nin(t)
        w = self.weights[nin.conv]
        return _affine(t, w.bias, w.matrix)

    # -- the network, mirroring PixelCNNpp.forward ------------------------------------------------

    def _gated(self, name: str, block: torch.nn.Module, x: str, skips: list[str], level: int, stream: str) -> str:
        """A :class:`~.layers.GatedResNet` block, step by step, keeping what its convolutions read.

        ``h = conv_input(ce(x)) [+ nin_skip(ce(a))]``, ``[h_a, h_b] = conv_out(dropout(ce(h)))``,
        ``out = x + h_a * sigmoid(h_b)``; ``a`` is the skip maps concatenated along channels.
        Dropout is the identity in eval mode, which :meth:`__init__` checks: it is not called.
        """
        if not self._active(level, stream):
            return name
        x_value = self._get(x)
        ce_x = self._store(name + ".ce_x", _concat_elu(x_value), level)
        h = self._conv(block.conv_input, ce_x, level)
        if block.nin_skip is not None:
            a = self._get(skips[0]) if len(skips) == 1 else torch.cat([self._get(s) for s in skips], dim=1)
            h = h + self._nin(block.nin_skip, _concat_elu(a))
        ce_h = self._store(name + ".ce_h", _concat_elu(h), level)
        h_a, h_b = self._conv(block.conv_out, ce_h, level).chunk(2, dim=1)
        return self._store(name, x_value + h_a * torch.sigmoid(h_b), level)

    def _resample(self, name: str, layer: torch.nn.Module, apply, src: str, level: int, stream: str) -> str:
        """A change of resolution into ``level`` (``apply`` is :meth:`_conv` or :meth:`_deconv`)."""
        if not self._active(level, stream):
            return name
        return self._store(name, apply(layer, src, level), level)

    def _network(self) -> str:
        """One pass (full or partial) in the order of ``PixelCNNpp.forward``; returns the last ul map's name."""
        m = self.model
        u0, ul0 = "u_init", "ul_init"
        if self._active(0, "u"):
            u0 = self._store(u0, self._conv(m.u_init, "x", 0), 0)
        if self._active(0, "ul"):
            ul0 = self._store(ul0, self._conv(m.ul_init_above, "x", 0) + self._conv(m.ul_init_left, "x", 0), 0)
        u_list, ul_list = [u0], [ul0]
        for s, blocks in enumerate(m.up):
            u, ul = u_list[-1], ul_list[-1]
            for b, (u_block, ul_block) in enumerate(blocks):
                u = self._gated(f"up{s}.{b}.u", u_block, u, [], s, "u")
                ul = self._gated(f"up{s}.{b}.ul", ul_block, ul, [u], s, "ul")
                u_list.append(u)
                ul_list.append(ul)
            if s < LEVELS - 1:
                u_list.append(self._resample(f"downsize{s}.u", m.downsize_u[s], self._conv, u, s + 1, "u"))
                ul_list.append(self._resample(f"downsize{s}.ul", m.downsize_ul[s], self._conv, ul, s + 1, "ul"))

        u, ul = u_list.pop(), ul_list.pop()
        for s, blocks in enumerate(m.down):
            level = LEVELS - 1 - s
            for b, (u_block, ul_block) in enumerate(blocks):
                u = self._gated(f"down{s}.{b}.u", u_block, u, [u_list.pop()], level, "u")
                ul = self._gated(f"down{s}.{b}.ul", ul_block, ul, [u, ul_list.pop()], level, "ul")
            if s < LEVELS - 1:
                u = self._resample(f"upsize{s}.u", m.upsize_u[s], self._deconv, u, level - 1, "u")
                ul = self._resample(f"upsize{s}.ul", m.upsize_ul[s], self._deconv, ul, level - 1, "ul")
        assert not u_list and not ul_list, "every up-pass output is used exactly once"
        return ul


@torch.inference_mode()
def iter_rows_cached(model: torch.nn.Module, x: torch.Tensor, missing: torch.Tensor, draw,
                     progress: bool = False) -> Iterator[tuple[int, torch.Tensor]]:
    """:func:`sample_rows_cached` one row at a time: yields ``(i, images)`` once row ``i``'s missing pixels are drawn.

    Only rows with a pixel missing in some image are yielded, in order. ``images`` (N, 3, H, W) is a view of
    the cache as it stands (rows after ``i`` still hold their starting values): copy it to keep it, and do not
    write to it. The pixels, and the random numbers used for them, are those of :func:`sample_rows_cached`,
    which is this generator run to its end. Each step runs in inference mode (the decorator enters it at every
    resumption and leaves it at every yield); between steps the caller may do anything but change the model's
    weights or mode.
    """
    width = x.shape[3]
    drawn_at = missing.any(dim=0).cpu()                       # (H, W): the positions drawn
    everywhere = missing.all(dim=0).cpu().tolist()            # [i][j]: drawn in every image (no merging)
    columns_of = [row.nonzero().flatten().tolist() for row in drawn_at]
    rows = [i for i, columns in enumerate(columns_of) if columns]
    net = RowCachedPixelCNNpp(model, x, start=rows[0])
    todo = range(rows[0], rows[-1] + 1)
    if progress:
        from tqdm import tqdm
        todo = tqdm(todo, desc="fast sampling", unit="row")
    # On a CPU the pixel loop runs on one thread: its operations are far too small to share (an OpenMP
    # fork and join per operation costs more than it saves, and on a busy machine every one of them
    # waits for a descheduled worker). The row passes keep every thread. Restored afterwards, and at every yield.
    threads = torch.get_num_threads()
    single = x.device.type == "cpu" and threads > 1
    try:
        for i in todo:
            columns = columns_of[i]
            net.refresh(i, ul=not columns or columns[0] > 0)
            if not columns:
                continue
            drawn = set(columns)
            if single:
                torch.set_num_threads(1)
            for j in range(columns[0], columns[-1] + 1):   # known pixels in between are passed, not skipped:
                net.update(i, j)                           # their activations depend on the pixels drawn before
                if j in drawn:
                    value = draw(net.output_at(i, j))[:, :, 0, 0]
                    net.set_pixel(i, j, value, None if everywhere[i][j] else missing[:, i, j])
            if single:
                torch.set_num_threads(threads)
            if columns[-1] < width - 1:
                net.update(i)          # known pixels after the last drawn one: row i + 1 reads them
            yield i, net.images()
    finally:
        torch.set_num_threads(threads)


@torch.inference_mode()
def sample_rows_cached(model: torch.nn.Module, x: torch.Tensor, missing: torch.Tensor, draw,
                       progress: bool = False) -> torch.Tensor:
    """Fill the ``missing`` (N, H, W) pixels of ``x`` (N, 3, H, W) in raster order with the activation cache.

    ``draw(l)`` turns the network output at one pixel, (N, 10K, 1, 1), into pixels (N, 3, 1, 1)
    (it holds the generator). It is called once per position missing in any image, in raster order,
    exactly as the naive sampler calls it, so both consume the same random numbers; images whose
    pixel is known there keep it. Returns the completed images (contiguous); ``x`` is not modified.
    Which positions are drawn is read to the host once, so a GPU is never waited for inside the loop.
    :func:`iter_rows_cached` is the same, row by row.
    """
    images = x
    for _, images in iter_rows_cached(model, x, missing, draw, progress):  # noqa: B007 (the last rows are the result)
        pass
    return images.contiguous()
