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
(0: 32 x 32, 1: 16 x 16, 2: 8 x 8) image row i reaches row ``i >> l`` and no other.

**Columns, in the ul stream.** The ul ("up-left") stream is the same in columns within a row: it
starts shifted one column right and its 2 x 2 kernels read columns c-1 and c, so at level 0 the
activation at (i, c) depends on pixels (i, < c) of its own row (and rows above); at level ``l``,
when ``i % 2**l == 0``, column c of row ``i >> l`` depends on pixels (i, <= c * 2**l - 1).

**The schedule.** To draw pixel (i, j) the network output at (i, j) is needed, given every pixel
before it in raster order:

- at the **start of image row i**, recompute row ``i >> l`` of every layer at every level, both
  streams (:meth:`RowCachedPixelCNNpp.refresh`). This brings the u stream up to date with the rows
  above (it cannot change while row i is drawn) and finishes the 16 x 16 and 8 x 8 rows whose last
  image row was just completed;
- **for each column j** from the row's first drawn pixel to its last, recompute only the ul
  stream, and only at column ``j >> l`` of row ``i >> l`` of the levels with
  ``i % 2**l == 0`` and ``j % 2**l == 0`` (:meth:`RowCachedPixelCNNpp.update`): that column depends
  on the pixel drawn just before, (i, j-1); every other activation the output at (i, j) reads is
  already final. Then read the output at (i, j) (:meth:`RowCachedPixelCNNpp.output_at`);
- at the **end of row i**, if known pixels follow the last drawn one, recompute the ul rows once
  (``update(i)`` without a column), since row i + 1 reads them.

An activation is computed exactly as its layer computes it on the whole map: the input rows and
columns its kernel reads are sliced from the cache and zero-padded where the layer's ``padding``
would put zeros, the layer's own convolution module (``layer.conv`` / ``layer.deconv``) is applied,
and the layer's output shifts are applied as the layer applies them (:func:`conv_at`,
:func:`deconv_at`). The forward pass in :meth:`RowCachedPixelCNNpp._network` mirrors
:meth:`PixelCNNpp.forward` line for line (the same lists, the same pop order); the module only ever
reads the model's submodules.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .layers import concat_elu, image_and_border

__all__ = ["conv_at", "deconv_at", "RowCachedPixelCNNpp", "sample_rows_cached", "LEVELS"]

LEVELS = 3  # 32x32, 16x16, 8x8: the model's NUM_STAGES


def conv_at(layer: torch.nn.Module, src: torch.Tensor, r: int, c: int | None = None) -> torch.Tensor:
    """Row ``r`` of ``layer(src)``, (N, C, 1, W'), or only its column ``c``, (N, C, 1, 1), reading only what it needs.

    The layer pads ``src`` by ``layer.padding`` = (left, right, top, bottom) and convolves with
    ``layer.conv`` (kernel kh x kw, stride s): output (q, p) reads input rows
    ``q*s - top .. q*s - top + kh - 1`` and columns ``p*s - left .. p*s - left + kw - 1``, zeros
    where an index falls outside the map (the bottom padding never reaches a row that exists).
    A layer with ``shift_output_down`` then moves its output one row down (row r is the
    convolution's row r - 1; row 0 is zero), one with ``shift_output_right`` one column right.
    """
    left, right, top, _ = layer.padding
    (kh, kw), stride = layer.conv.kernel_size, layer.conv.stride[0]
    down = getattr(layer, "shift_output_down", False)
    shift_right = getattr(layer, "shift_output_right", False)
    q = r - 1 if down else r
    r0 = max(q, 0) * stride - top
    rows = src[:, :, max(r0, 0):max(r0 + kh, 0)]
    if c is None:
        out = layer.conv(F.pad(rows, (left, right, max(-r0, 0), 0)))
        if shift_right:
            out = F.pad(out, (1, -1, 0, 0))
        outside = q < 0
    else:
        p = c - 1 if shift_right else c
        c0 = max(p, 0) * stride - left
        width = src.shape[3]
        window = rows[:, :, :, max(c0, 0):min(c0 + kw, width)]
        out = _dot(layer.conv, F.pad(window, (max(-c0, 0), max(c0 + kw - width, 0), max(-r0, 0), 0)))
        outside = q < 0 or p < 0
    return torch.zeros_like(out) if outside else out


def deconv_at(layer: torch.nn.Module, src: torch.Tensor, r: int, c: int | None = None) -> torch.Tensor:
    """Row ``r`` (or only its column ``c``) of ``layer(src)`` for a stride-2 transposed convolution with 2-row kernels.

    Output rows 2k and 2k+1 come from input row k alone (two kernel rows at stride 2 never overlap),
    so row ``r // 2`` is transformed on its own and row ``r % 2`` of the result kept. Likewise in
    columns for the unpadded 2 x 2 kernel of the ul stream: output pixel (r, c) is input pixel
    (r // 2, c // 2) times the kernel tap (r % 2, c % 2), a product with a C_in x C_out matrix.
    """
    k = r // 2
    if c is None:
        return layer.deconv(src[:, :, k:k + 1])[:, :, r % 2:r % 2 + 1]
    deconv = layer.deconv
    if tuple(deconv.kernel_size) != (2, 2) or tuple(deconv.stride) != (2, 2) or tuple(deconv.padding) != (0, 0):
        raise NotImplementedError("column-wise transposed convolution is only written for the unpadded 2x2 kernel")
    weight = deconv.weight[:, :, r % 2, c % 2]                          # (C_in, C_out)
    return F.linear(src[:, :, k, c // 2], weight.t(), deconv.bias)[:, :, None, None]


def _dot(conv: torch.nn.Conv2d, window: torch.Tensor) -> torch.Tensor:
    """``conv`` applied to a window (N, C, kh, kw) exactly its kernel's size: one output pixel, (N, C', 1, 1).

    That is one dot product per output channel, ``b + <W, window>``, computed with ``F.linear`` on
    the convolution's own (weight-normalised) weight and bias: several times cheaper on a CPU than
    a convolution call on so small an input.
    """
    return F.linear(window.flatten(1), conv.weight.flatten(1), conv.bias)[:, :, None, None]


def _nin_at(nin: torch.nn.Module, t: torch.Tensor) -> torch.Tensor:
    """A 1 x 1 (network-in-network) layer on a map, or on one pixel (N, C, 1, 1) through :func:`_dot`."""
    return _dot(nin.conv, t) if t.shape[2:] == (1, 1) else nin(t)


class RowCachedPixelCNNpp:
    """The activations of a :class:`~.model.PixelCNNpp` on a batch, kept up to date as pixels are drawn.

    ``x`` (N, 3, H, W) in [-1, 1] is the starting image; after :meth:`set_pixel` and the schedule in
    the module docstring, :meth:`output_at` returns what ``model(x)[:, :, i:i+1, j:j+1]`` would.
    Call everything under ``torch.no_grad()`` with the model in eval mode (dropout off), and
    preferably inside ``torch.nn.utils.parametrize.cached()`` so the weight norm is computed once.
    """

    def __init__(self, model: torch.nn.Module, x: torch.Tensor):
        if model.training:
            raise ValueError("put the model in eval mode (model.eval()) before sampling: dropout must be off")
        self.model = model
        self.cache: dict[str, torch.Tensor] = {}
        self.level: dict[str, int] = {}
        # In a partial pass: per level, the row to compute (None: skip the level) and the column
        # (None: the whole row). Both None: a full pass over whole maps.
        self.rows: tuple[int | None, ...] | None = None
        self.cols: tuple[int | None, ...] = (None,) * LEVELS
        self.streams: tuple[str, ...] = ("u", "ul")
        self._store("x", image_and_border(x), 0)
        self.out = self._network()                         # fill the cache with one full pass

    # -- the ways of running the network ------------------------------------------------------

    def refresh(self, i: int) -> None:
        """Recompute row ``i >> l`` of every layer at every level ``l``, both streams."""
        self._run(tuple(i >> l for l in range(LEVELS)), (None,) * LEVELS, ("u", "ul"))

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

    def set_pixel(self, i: int, j: int, value: torch.Tensor, where: torch.Tensor) -> None:
        """Write ``value`` (N, 3) into pixel (i, j) of the images where ``where`` (N,) is True."""
        x = self.cache["x"]
        x[:, :3, i, j] = torch.where(where[:, None], value, x[:, :3, i, j])

    def images(self) -> torch.Tensor:
        return self.cache["x"][:, :3]

    def output_at(self, i: int, j: int) -> torch.Tensor:
        """The network output at pixel (i, j), (N, 10K, 1, 1): ``nin_out(elu(ul))`` of the last ul map there."""
        return _nin_at(self.model.nin_out, F.elu(self.cache[self.out][:, :, i:i + 1, j:j + 1]))

    # -- primitives: in a full pass they act on whole maps, otherwise on one row or one pixel ----

    def _active(self, level: int, stream: str) -> bool:
        return self.rows is None or (self.rows[level] is not None and stream in self.streams)

    def _where(self, level: int) -> tuple[slice, slice]:
        r, c = self.rows[level], self.cols[level]
        return slice(r, r + 1), (slice(None) if c is None else slice(c, c + 1))

    def _store(self, name: str, value: torch.Tensor, level: int) -> str:
        """Keep ``value`` (a whole map, or the current row or pixel of one) in the cache under ``name``."""
        if self.rows is None:
            self.cache[name] = value.contiguous()
            self.level[name] = level
        else:
            rows, cols = self._where(level)
            self.cache[name][:, :, rows, cols] = value
        return name

    def _get(self, name: str) -> torch.Tensor:
        """A cached map, or its current row (N, C, 1, W) or pixel (N, C, 1, 1)."""
        t = self.cache[name]
        if self.rows is None:
            return t
        rows, cols = self._where(self.level[name])
        return t[:, :, rows, cols]

    def _conv(self, layer: torch.nn.Module, name: str, level: int) -> torch.Tensor:
        """``layer`` (a shifted convolution, stride 1 or 2) applied to the cached map ``name``."""
        src = self.cache[name]
        return layer(src) if self.rows is None else conv_at(layer, src, self.rows[level], self.cols[level])

    def _deconv(self, layer: torch.nn.Module, name: str, level: int) -> torch.Tensor:
        """A stride-2 transposed convolution of the cached map ``name`` (one level coarser)."""
        src = self.cache[name]
        return layer(src) if self.rows is None else deconv_at(layer, src, self.rows[level], self.cols[level])

    # -- the network, mirroring PixelCNNpp.forward ------------------------------------------------

    def _gated(self, name: str, block: torch.nn.Module, x: str, skips: list[str], level: int, stream: str) -> str:
        """A :class:`~.layers.GatedResNet` block, step by step, keeping what its convolutions read.

        ``h = conv_input(ce(x)) [+ nin_skip(ce(a))]``, ``[h_a, h_b] = conv_out(dropout(ce(h)))``,
        ``out = x + h_a * sigmoid(h_b)``; ``a`` is the skip maps concatenated along channels.
        """
        if not self._active(level, stream):
            return name
        ce_x = self._store(name + ".ce_x", concat_elu(self._get(x)), level)
        h = self._conv(block.conv_input, ce_x, level)
        if block.nin_skip is not None:
            a = self._get(skips[0]) if len(skips) == 1 else torch.cat([self._get(s) for s in skips], dim=1)
            h = h + _nin_at(block.nin_skip, concat_elu(a))
        ce_h = self._store(name + ".ce_h", block.dropout(concat_elu(h)), level)
        h_a, h_b = self._conv(block.conv_out, ce_h, level).chunk(2, dim=1)
        return self._store(name, self._get(x) + h_a * torch.sigmoid(h_b), level)

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


@torch.no_grad()
def sample_rows_cached(model: torch.nn.Module, x: torch.Tensor, missing: torch.Tensor, draw,
                       progress: bool = False) -> torch.Tensor:
    """Fill the ``missing`` (N, H, W) pixels of ``x`` (N, 3, H, W) in raster order with the activation cache.

    ``draw(l)`` turns the network output at one pixel, (N, 10K, 1, 1), into pixels (N, 3, 1, 1)
    (it holds the generator). It is called once per position missing in any image, in raster order,
    exactly as the naive sampler calls it, so both consume the same random numbers; images whose
    pixel is known there keep it. Returns the completed images; ``x`` is not modified.
    """
    net = RowCachedPixelCNNpp(model, x)
    width = x.shape[3]
    any_missing = missing.any(dim=0)                          # (H, W): the positions drawn
    rows = any_missing.any(dim=1).nonzero().flatten().tolist()
    todo = range(rows[0], rows[-1] + 1)
    if progress:
        from tqdm import tqdm
        todo = tqdm(todo, desc="fast sampling", unit="row")
    for i in todo:
        net.refresh(i)
        columns = any_missing[i].nonzero().flatten().tolist()
        if not columns:
            continue
        drawn = set(columns)
        for j in range(columns[0], columns[-1] + 1):   # known pixels in between are passed, not skipped:
            net.update(i, j)                           # their activations depend on the pixels drawn before
            if j in drawn:
                value = draw(net.output_at(i, j))
                net.set_pixel(i, j, value[:, :, 0, 0], missing[:, i, j])
        if columns[-1] < width - 1:
            net.update(i)          # known pixels after the last drawn one: row i + 1 reads them
    return net.images().clone()
