"""Checks for exercise 04a: down-shifted convolutions and causality."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from ._common import _close, _diagnose, _passed

__all__ = ["check_down_shifted_conv", "check_down_right_shifted_conv", "check_sees"]


def _dependence(fn: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...], position: tuple[int, int],
                seed: int = 0) -> torch.Tensor:
    """bool (H, W): True where the output of ``fn`` at ``position`` depends on the input pixel."""
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64, requires_grad=True)
    out = fn(x)
    i, j = position
    if 0 <= i < out.shape[-2] and 0 <= j < out.shape[-1]:
        out[..., i, j].sum().backward()
    return x.grad.abs().sum(dim=(0, 1)) > 0 if x.grad is not None else torch.zeros(shape[-2:], dtype=torch.bool)


def _check_shifted_conv(fn: Callable, kind: str) -> None:
    import torch.nn.functional as F

    from ...pixelcnnpp import DownRightShiftedConv2d, DownShiftedConv2d

    right = kind == "down-right-shifted"
    name = "down_right_shifted_conv2d" if right else "down_shifted_conv2d"
    g = torch.Generator().manual_seed(0)
    sizes = [(3, 3), (2, 2), (2, 1), (1, 2), (3, 1)] if right else [(3, 5), (2, 3), (1, 3), (2, 1), (4, 3)]
    for t, (kh, kw) in enumerate(sizes):
        torch.manual_seed(t)
        layer = (DownRightShiftedConv2d(3, 4, (kh, kw)) if right else DownShiftedConv2d(3, 4, (kh, kw))).double()
        weight, bias = layer.conv.weight.detach(), layer.conv.bias.detach()
        with torch.no_grad():
            bias += torch.randn(4, generator=g, dtype=torch.float64)     # a bias that shows where it goes
        x = torch.randn(2, 3, 7, 9, generator=g, dtype=torch.float64)
        where = f"{name} with a {kh}x{kw} filter"
        use_bias = t % 2 == 0
        got = fn(x.clone(), weight.clone(), bias.clone() if use_bias else None)
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"{where}: return a tensor, got {type(got).__name__}")
        b = bias if use_bias else None
        with torch.no_grad():
            expected = layer(x) if use_bias else layer(x) - bias.view(1, -1, 1, 1)
        if got.shape != expected.shape:
            if got.shape[:2] == expected.shape[:2] and got.shape[-2] != expected.shape[-2]:
                raise AssertionError(f"{where}: the output has {got.shape[-2]} rows for an input of 7: pad exactly "
                                     f"kh - 1 = {kh - 1} rows on top and none at the bottom, then a convolution "
                                     "without padding keeps the height")
            if got.shape[:2] == expected.shape[:2] and got.shape[-1] != expected.shape[-1]:
                cols = f"kw - 1 = {kw - 1} columns on the left" if right else \
                    f"(kw - 1) // 2 = {(kw - 1) // 2} columns on each side"
                raise AssertionError(f"{where}: the output has {got.shape[-1]} columns for an input of 9: pad "
                                     f"{cols}, then a convolution without padding keeps the width")
            raise AssertionError(f"{where}: expected a result of shape {tuple(expected.shape)}, got "
                                 f"{tuple(got.shape)}")

        def padded(left, right_, top, bottom, crop_rows=None, *, x=x, weight=weight, b=b):  # this pass's tensors
            out = F.conv2d(F.pad(x, (left, right_, top, bottom)), weight, b)
            return out[:, :, :crop_rows] if crop_rows is not None else out

        half = (kw - 1) // 2
        cols = (kw - 1, 0) if right else (half, half)
        mistakes = {}
        if kh > 1:
            mistakes[f"the padding rows are at the bottom instead of the top: the output at row i reads rows "
                     f"i .. i + {kh - 1}, below the pixel; pad kh - 1 rows on top, none at the bottom"] = \
                padded(*cols, 0, kh - 1)
            if kw % 2 == 1:
                with warnings.catch_warnings():               # 'same' with an even kernel: a padded copy
                    warnings.simplefilter("ignore")
                    same = F.conv2d(x, weight, b, padding="same")
                mistakes["symmetric ('same') padding centres the filter on the pixel, so row i reads the rows "
                         "below it; pad kh - 1 rows on top and none at the bottom"] = same
        mistakes["off by one row: row i reads rows up to i - 1 but not its own row i; pad kh - 1 rows on top "
                 f"(here {kh - 1}), not kh"] = padded(*cols, kh, 0, crop_rows=x.shape[-2])
        if right:
            mistakes[f"the columns are padded on the right: the output at column j reads columns j .. j + {kw - 1}, "
                     f"after the pixel; pad kw - 1 = {kw - 1} columns on the left, none on the right"] = \
                padded(0, kw - 1, kh - 1, 0)
            if kw % 2 == 1 and kw > 1:
                mistakes["the columns are centred, as in the down-shifted conv; the down-right-shifted conv pads "
                         f"kw - 1 = {kw - 1} columns on the left and none on the right, so column j reads "
                         "columns j - kw + 1 .. j"] = padded(half, half, kh - 1, 0)
        else:
            if kw > 1:
                mistakes[f"the columns are padded like the down-right-shifted conv (kw - 1 on the left); the "
                         f"down-shifted conv centres them: (kw - 1) // 2 = {half} on each side"] = \
                    padded(kw - 1, 0, kh - 1, 0)
                mistakes[f"the columns are padded on the right only; the down-shifted conv centres them: "
                         f"(kw - 1) // 2 = {half} on each side"] = padded(0, kw - 1, kh - 1, 0)
        if use_bias:
            mistakes["the bias is missing: pass it to the convolution"] = \
                padded(*cols, kh - 1, 0) - bias.view(1, -1, 1, 1)
        if not _close(got, expected, 1e-6):
            for message, value in mistakes.items():
                if _close(got, value, 1e-6):
                    raise AssertionError(f"{where}: {message}")
            # not a known mistake: say what the output at (3, 4) sees
            seen = _dependence(lambda v, weight=weight, b=b: fn(v, weight, b), (1, 3, 7, 9), (3, 4))
            rows, cols_seen = seen.any(1).nonzero().flatten().tolist(), seen.any(0).nonzero().flatten().tolist()
            want_cols = list(range(4 - kw + 1, 5)) if right else list(range(4 - half, 5 + half))
            if rows and max(rows) > 3:
                raise AssertionError(f"{where}: the output at row 3 depends on input row {max(rows)}, below it; "
                                     f"it may see rows {3 - kh + 1} .. 3 only")
            if rows != list(range(3 - kh + 1, 4)) or cols_seen != want_cols:
                raise AssertionError(f"{where}: the output at (3, 4) sees rows {rows} and columns {cols_seen}, "
                                     f"expected rows {list(range(3 - kh + 1, 4))} and columns {want_cols}")
            _diagnose(where, got, expected, {}, tol=1e-6)
    _passed(name)


def check_down_shifted_conv(down_shifted_conv2d: Callable) -> None:
    """``down_shifted_conv2d(x, weight, bias)``: the output at (i, j) reads rows i - kh + 1 .. i and
    columns j - (kw - 1) / 2 .. j + (kw - 1) / 2 of x.

    Compared with ``inpaint_lib.pixelcnnpp.DownShiftedConv2d`` (same weights) for several filter sizes, with
    and without bias, in float64; a wrong answer is told apart by where its padding went.
    """
    _check_shifted_conv(down_shifted_conv2d, "down-shifted")


def check_down_right_shifted_conv(down_right_shifted_conv2d: Callable) -> None:
    """``down_right_shifted_conv2d(x, weight, bias)``: the output at (i, j) reads rows i - kh + 1 .. i and
    columns j - kw + 1 .. j of x.

    Compared with ``inpaint_lib.pixelcnnpp.DownRightShiftedConv2d`` (same weights) for several filter sizes.
    """
    _check_shifted_conv(down_right_shifted_conv2d, "down-right-shifted")


def check_sees(sees: Callable) -> None:
    """``sees(layer, position, size)``: bool (size, size), True where the layer's output at ``position``
    depends on the input pixel (3 input channels).

    Compared with the gradient maps of ``inpaint_lib.pixelcnnpp.receptive_field_map`` for a plain 3x3 convolution,
    down-shifted and down-right-shifted convolutions (with and without their output shift), at the centre and at
    the borders, where nothing at all may be seen.
    """
    from torch import nn

    from ...pixelcnnpp import DownRightShiftedConv2d, DownShiftedConv2d, receptive_field_map

    torch.manual_seed(0)
    cases = [("a 3x3 convolution with padding 1", nn.Conv2d(3, 4, 3, padding=1), (4, 4), 8),
             ("a 2x3 down-shifted convolution", DownShiftedConv2d(3, 4, (2, 3)), (4, 4), 8),
             ("a 2x2 down-right-shifted convolution", DownRightShiftedConv2d(3, 4, (2, 2)), (5, 0), 8),
             ("a 3x5 down-shifted convolution", DownShiftedConv2d(3, 4, (3, 5)), (2, 6), 7),
             ("a down-shifted convolution with its output shifted down (the start of the u stream)",
              DownShiftedConv2d(3, 4, (2, 3), shift_output_down=True), (0, 3), 8),
             ("a down-right-shifted convolution with its output shifted right (the start of the ul stream)",
              DownRightShiftedConv2d(3, 4, (2, 2), shift_output_right=True), (3, 0), 6)]
    for name, layer, position, size in cases:
        where = f"sees({name}, {position}, size={size})"
        got = sees(layer, position, size)
        expected = receptive_field_map(layer, position, image_size=size).sum(0) > 0
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"{where}: return a bool tensor (size, size), got {type(got).__name__}")
        if got.shape == (3, size, size):
            raise AssertionError(f"{where}: return one map for the pixel, shape ({size}, {size}): sum |gradient| "
                                 f"over the images and the colour channels, got shape {tuple(got.shape)}")
        if got.shape != (size, size):
            raise AssertionError(f"{where}: expected a map of shape ({size}, {size}), got {tuple(got.shape)}")
        if got.dtype != torch.bool:
            raise AssertionError(f"{where}: return a bool map (True where the gradient is not zero), got dtype "
                                 f"{got.dtype}; compare with > 0 (of the absolute gradient) or != 0")
        if torch.equal(got, expected):
            continue
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1), requires_grad=True)
        layer(x).sum().backward()
        whole = x.grad.abs().sum((0, 1)) > 0
        if torch.equal(got, whole) and not torch.equal(whole, expected):
            raise AssertionError(f"{where}: your map is what the *whole* output sees: take the gradient of the "
                                 f"output at {position} only (out[:, :, i, j].sum().backward())")
        if torch.equal(got, expected.T):
            raise AssertionError(f"{where}: rows and columns are swapped: the map is indexed [row, column] "
                                 "like the image, position = (row i, column j)")
        missed = (expected & ~got).nonzero().tolist()
        extra = (got & ~expected).nonzero().tolist()
        if missed and not extra:
            raise AssertionError(f"{where}: your map misses pixels the output does see, e.g. {tuple(missed[0])}: "
                                 "are negative gradients dropped, or do they cancel in a sum? test the absolute "
                                 "gradient (x.grad.abs().sum(...) > 0)")
        raise AssertionError(f"{where}: your map marks pixels the output cannot see, e.g. "
                             f"{tuple((extra or missed)[0])}; expected rows "
                             f"{expected.any(1).nonzero().flatten().tolist()} and columns "
                             f"{expected.any(0).nonzero().flatten().tolist()}")
    _passed("sees")
