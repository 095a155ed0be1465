"""Your own photograph and mask, completed live, and what PixelCNN++ believes at every pixel (notebook 07).

Four steps, each tested here and drawn by the notebook (statically with matplotlib, or live with the widgets of
:mod:`inpaint_lib.tryit_widgets`):

1. **An image, as the models see it** (:func:`load_image`): a file, its bytes, a PIL image, an array, a photograph
   that scikit-image ships (:func:`shipped_photographs`: ``"astronaut"``, ``"coffee"``, ...) or an image of a data
   set (``"sample:test:5"``) becomes a (1, 3, 32, 32) float tensor in [-1, 1] on the 256 levels, made exactly as the
   course's data sets are (:func:`open_image`, then :func:`shrink`).
2. **A mask** (True = missing; :func:`make_mask`): the lower half (the course's task), a rectangle, or brush
   strokes drawn on an enlarged canvas (:func:`stroke_mask`). :func:`known_after_missing` counts the known pixels
   that PixelCNN++ cannot look at when it draws a missing one.
3. **Completions**: PixelCNN++ row by row (:func:`fill_row_by_row`, a generator of partial completions, the fast
   sampler's own steps), and every other method of the course at once (:func:`make_methods`,
   :func:`complete_all`); each completion's bits/dim under PixelCNN++ (:func:`completion_bits_per_dim`).
4. **Beliefs** (:func:`predictive_distributions`): at every pixel, the three distributions the sampler draws from,
   over the 256 levels of red, of green given the red drawn, and of blue given both, with the values drawn; and from
   them the surprise (bits) of each drawn pixel and the entropy of each distribution, as maps.

Static figures of each step: :func:`show_task`, :func:`show_filling`, :func:`show_completions`,
:func:`show_distributions`, :func:`show_uncertainty`. Whether the notebook also builds the live widgets is decided by
:func:`wants_widgets` (``interactive = "auto"``, ``True`` or ``False``; the environment variable
``INPAINT_STATIC=1`` turns "auto" off).
"""

from __future__ import annotations

import functools
import importlib.util
import io
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .data.tensors import to_float, to_uint8
from .masks import IMAGE_SIZE, centre_square, left_half, lower_half
from .pixelcnnpp.fast_sampling import iter_rows_cached
from .pixelcnnpp.likelihood import HALF_BIN, discretized_mix_logistic_log_prob, mixture_parameters
from .pixelcnnpp.sampling import (
    check_generator,
    check_temperature,
    evaluating,
    quantize,
    sample_from_discretized_mix_logistic,
    sampling_mode,
    to_levels,
)
from .utils import host_float64

__all__ = [
    "PHOTO_SUFFIXES", "PHOTO_ALIASES", "shipped_photographs", "open_image", "shrink", "load_image",
    "MASK_KINDS", "rectangle_mask", "stroke_mask", "make_mask", "check_task_mask", "HiddenContext",
    "known_after_missing",
    "RowStep", "fill_row_by_row", "METHODS", "make_methods", "complete_all", "completion_bits_per_dim",
    "LEVELS", "PixelBelief", "Beliefs", "predictive_distributions",
    "show_task", "show_filling", "show_completions", "show_distributions", "show_uncertainty",
    "WIDGET_PACKAGES", "missing_widget_packages", "wants_widgets",
]

LEVELS = 256
WHITE = (255, 255, 255)

# ---------------------------------------------------------------------------------------------------------------
# 1. an image, as the models see it
# ---------------------------------------------------------------------------------------------------------------

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff", ".bmp", ".webp")
# the names skimage.data gives some of its photographs, beside their file names
PHOTO_ALIASES = {"cat": "chelsea", "immunohistochemistry": "ihc", "motorcycle": "motorcycle_left",
                 "colorwheel": "color", "camera_man": "camera"}


def shipped_photographs() -> dict[str, Path]:
    """The pictures scikit-image ships (``skimage/data``, no download), by name: ``{"astronaut": path, ...}``.

    The course's ``sample`` data set is cut from eight of them (:data:`inpaint_lib.data.sample.SAMPLE_PHOTOS`);
    some are grayscale (camera, coins, moon, page, text), one has an alpha channel (logo).
    """
    from .data.sample import _photo_folder  # the one place that finds skimage/data (with its install hint)

    folder = _photo_folder()
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in PHOTO_SUFFIXES}


def _dataset_image(reference: str) -> Image.Image | None:
    """``"dataset:split:index"`` (e.g. ``"sample:test:5"``) -> that 32x32 image, or None when it is not of that form."""
    parts = reference.split(":")
    if len(parts) != 3 or not parts[2].isdigit() or len(parts[0]) < 2:  # "C:..." is a Windows drive, not a data set
        return None
    from .data import DATASETS, load_split

    dataset, split, index = parts[0], parts[1], int(parts[2])
    if dataset not in DATASETS:
        return None
    images = load_split(dataset, split)
    if index >= len(images):
        raise ValueError(f"{dataset}/{split} has {len(images)} images, so there is no image {index}; "
                         f"use an index from 0 to {len(images) - 1}")
    return Image.fromarray(images[index])


def _decode(data: bytes, what: str) -> Image.Image:
    """The first frame of an encoded image, decoded now (not lazily), with its EXIF orientation applied."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Image.DecompressionBombError as err:
        raise ValueError(f"{what} is too large to decode safely ({err}); shrink it below 80 megapixels first") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        reason = str(err).split("\n")[0] or type(err).__name__
        raise ValueError(f"{what} does not decode as an image ({reason}); give a PNG or JPEG file (or any format "
                         "Pillow reads)") from None
    try:
        return ImageOps.exif_transpose(image)  # a phone's photograph stands the right way up
    except (OSError, ValueError, TypeError):
        return image  # a broken orientation tag: the pixels as stored


def _array_image(array: np.ndarray, what: str) -> Image.Image:
    """An (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array of uint8, uint16, bool or floats in [0, 1] -> a PIL image."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        hint = "; move the channels last (array.transpose(1, 2, 0))" if a.ndim == 3 and a.shape[0] in (1, 3, 4) \
            else ""
        raise ValueError(f"{what} of shape {a.shape} is not an image: give (H, W) gray, (H, W, 3) RGB or "
                         f"(H, W, 4) RGBA{hint}")
    if a.dtype == np.uint8:
        pixels = a
    elif a.dtype == np.uint16:
        pixels = np.rint(a / 257.0).astype(np.uint8)               # 16 bit -> 8 bit: 65535 -> 255
    elif a.dtype == bool:
        pixels = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise ValueError(f"{what} holds floats outside [0, 1]; scale them to [0, 1] (or give uint8 pixels)")
        pixels = np.rint(a * 255.0).astype(np.uint8)
    else:
        raise ValueError(f"{what} has dtype {a.dtype}; give uint8, uint16, bool or floats in [0, 1]")
    return Image.fromarray(np.ascontiguousarray(pixels))


def _sixteen_bit(image: Image.Image, what: str) -> Image.Image:
    """A 16-bit gray image (PIL modes ``I;16*``, and ``I`` holding 0..65535) scaled to 8 bits, rounded."""
    a = np.asarray(image).astype(np.int64)
    if a.size and (a.min() < 0 or a.max() > 65535):
        raise ValueError(f"{what} has mode {image.mode} with values outside 0..65535; save it as an 8- or 16-bit "
                         "PNG or as a JPEG")
    return Image.fromarray(np.rint(a / 257.0).astype(np.uint8))


def _rgb(image: Image.Image, what: str, background: tuple[int, int, int]) -> Image.Image:
    """``image`` in mode RGB: gray replicated, 16 bit scaled to 8, transparency composited on ``background``."""
    mode = image.mode
    if mode == "P":
        mode = "PA" if "transparency" in image.info else "P"
    if mode.startswith("I;16") or mode == "I":
        image, mode = _sixteen_bit(image, what), "L"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        under = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(under, rgba).convert("RGB")
    if mode == "F":
        raise ValueError(f"{what} has mode F (32-bit floating point), which has no fixed 0..255 scale; save it as an "
                         "8- or 16-bit PNG, or pass the array with values in [0, 1]")
    try:
        return image.convert("RGB")  # RGB, L, 1, P, CMYK, YCbCr, RGBX: Pillow's own conversions
    except (ValueError, OSError) as err:
        raise ValueError(f"{what} has mode {image.mode}, which does not convert to RGB ({err}); save it as an RGB "
                         "PNG or JPEG") from None


def open_image(source, background: tuple[int, int, int] = WHITE) -> Image.Image:
    """Any picture a student has, as a full-size PIL image in mode RGB.

    ``source`` is one of: a path (``str`` or ``os.PathLike``) to an image file; the name of a photograph that
    scikit-image ships (:func:`shipped_photographs`, e.g. ``"astronaut"``, ``"coffee"``, ``"chelsea"``,
    ``"rocket"``; also skimage.data's aliases such as ``"cat"``); an image of a data set as
    ``"dataset:split:index"`` (``"sample:test:5"``, ``"tinyimagenet32:val:0"``); the file's bytes (what an
    upload widget gives); a ``PIL.Image.Image``; a numpy array (H, W), (H, W, 3) or (H, W, 4) of uint8, uint16,
    bool or floats in [0, 1] (what ``skimage.data.astronaut()`` returns).

    Colours: grayscale is replicated into R, G and B; 16-bit pixels are scaled to 8 bits
    (``round(v / 257)``: 65535 -> 255); **transparency is composited onto** ``background`` (white, as an image
    viewer shows a cut-out on a page), never dropped, so a transparent region does not turn into whatever colour
    its hidden pixels happen to hold. Palette, CMYK and YCbCr images take Pillow's conversion to RGB. A file's
    first frame is used (GIF, TIFF), turned the right way up by its EXIF orientation (phones' photographs).

    Errors are one line naming the problem and the fix: a file that is missing or does not decode, an array of
    the wrong shape or dtype, a mode with no 0..255 scale (32-bit floats).
    """
    if isinstance(source, Image.Image):
        what, image = "the PIL image", source
        image.load()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        what = f"the {len(source):,} bytes given"
        if len(source) == 0:
            raise ValueError("the image is empty (0 bytes); upload or read the file again")
        image = _decode(bytes(source), what)
    elif isinstance(source, np.ndarray):
        what, image = "the array", _array_image(source, "the array")
    elif isinstance(source, torch.Tensor):
        t = source.detach().cpu()
        if t.dim() == 4 and t.shape[0] == 1:
            t = t[0]
        if t.dim() != 3 or t.shape[0] != 3 or not t.is_floating_point():
            raise ValueError(f"a tensor image must be float (3, H, W) or (1, 3, H, W) in [-1, 1], got "
                             f"{t.dtype} {tuple(source.shape)}")
        what, image = "the tensor", Image.fromarray(to_uint8(t[None])[0].numpy())
    elif isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        path = Path(text).expanduser()
        if path.is_file():
            what, image = str(path), _decode(path.read_bytes(), str(path))
        elif isinstance(source, str) and (from_data := _dataset_image(text)) is not None:
            what, image = text, from_data
        else:
            photos = shipped_photographs() if isinstance(source, str) else {}
            name = PHOTO_ALIASES.get(text, text)
            if name not in photos:
                raise ValueError(f"no image file {text!r} (looked in {Path.cwd()}) and no photograph of that name; "
                                 f"give a path to an image file, 'dataset:split:index', or one of {', '.join(photos)}")
            what = f"scikit-image's {name!r}"
            image = _decode(photos[name].read_bytes(), what)
    else:
        raise ValueError(f"cannot read an image from a {type(source).__name__}; give a path, bytes, a PIL image, a "
                         "numpy array or a photograph's name such as 'astronaut'")
    return _rgb(image, what, background)


def shrink(image: Image.Image, size: int = IMAGE_SIZE) -> torch.Tensor:
    """A PIL RGB image centre-cropped to a square and box-filtered to ``size`` x ``size``: (1, 3, size, size), [-1, 1].

    The square is the largest one in the middle (a landscape photograph loses its left and right edges, a portrait
    its top and bottom). It is reduced the way the course's data sets are made: with Pillow's box filter, each
    output pixel the plain average of the input pixels under it (partial pixels weighted by their area), as
    :mod:`inpaint_lib.data.converters` shrinks Tiny ImageNet's 64x64 images and :mod:`inpaint_lib.data.sample` its
    crops. An image already ``size`` pixels square is kept as it is; a smaller one is refused (enlarging would
    invent detail the models never saw): ``ValueError`` "tiny image".
    """
    if image.mode != "RGB":
        raise ValueError(f"shrink takes an RGB image, got mode {image.mode}; read it with open_image")
    width, height = image.size
    if min(width, height) < size:
        raise ValueError(f"tiny image: {width}x{height} pixels, but the models need at least {size}x{size}; use a "
                         f"larger picture (it is centre-cropped to a square and shrunk, never enlarged)")
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    if side != size:
        square = square.resize((size, size), Image.BOX)
    return to_float(np.array(square, dtype=np.uint8)[None])   # a copy: torch wants a writable array


def load_image(source, size: int = IMAGE_SIZE, background: tuple[int, int, int] = WHITE) -> torch.Tensor:
    """``source`` (see :func:`open_image`) as the models see it: (1, 3, size, size) float32 in [-1, 1].

    :func:`open_image` (RGB, transparency onto ``background``, 16 bit to 8), then :func:`shrink` (centre square,
    box filter). The values lie on the 256 levels ``k / 127.5 - 1``, like every data set's.
    """
    return shrink(open_image(source, background), size)


# ---------------------------------------------------------------------------------------------------------------
# 2. masks
# ---------------------------------------------------------------------------------------------------------------

MASK_KINDS = ("lower_half", "left_half", "centre_square", "rectangle", "strokes")


def check_task_mask(mask: torch.Tensor) -> torch.Tensor:
    """``mask`` if it is one bool (H, W) mask with something missing and something known, else a one-line ValueError."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.dim() != 2:
        got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"a mask is one bool (H, W) tensor, True where a pixel is missing; got {got}")
    if not mask.any():
        raise ValueError("the mask leaves nothing missing, so there is nothing to inpaint; draw over (or choose) the "
                         "part of the image to remove")
    if mask.all():
        raise ValueError("the mask leaves nothing known, so there is no photograph left to go on; leave part of the "
                         "image unmasked (for a sample from nothing use inpaint_lib.pixelcnnpp.sample)")
    return mask


def rectangle_mask(top: int, left: int, height: int, width: int, size: int = IMAGE_SIZE) -> torch.Tensor:
    """Pixels ``top .. top + height - 1`` x ``left .. left + width - 1`` of a ``size`` x ``size`` image are missing."""
    values = (top, left, height, width)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError(f"a rectangle is four ints (top, left, height, width), got {values!r}")
    if top < 0 or left < 0 or height < 1 or width < 1 or top + height > size or left + width > size:
        raise ValueError(f"the rectangle (top, left, height, width) = {values} does not lie inside the {size}x{size} "
                         f"image; keep top + height and left + width at most {size}, height and width at least 1")
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[top:top + height, left:left + width] = True
    return check_task_mask(mask)


def _segments(strokes, what: str = "strokes") -> np.ndarray:
    """The strokes' segments as an (S, 2, 2) array of ((x0, y0), (x1, y1)); a single-point stroke is one dot."""
    if isinstance(strokes, np.ndarray) or not isinstance(strokes, Sequence) or isinstance(strokes, str):
        raise ValueError(f"{what} must be a list of strokes, each a list of (x, y) points, got "
                         f"{type(strokes).__name__}")
    segments = []
    for k, stroke in enumerate(strokes):
        try:
            points = np.asarray(stroke, dtype=np.float64)
        except (TypeError, ValueError):
            points = np.empty(0)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0 or not np.isfinite(points).all():
            raise ValueError(f"stroke {k} must be a non-empty list of (x, y) points in canvas pixels, got {stroke!r}")
        if len(points) == 1:
            points = np.repeat(points, 2, axis=0)
        segments.append(np.stack([points[:-1], points[1:]], axis=1))
    return np.concatenate(segments) if segments else np.empty((0, 2, 2))


def stroke_mask(strokes, radius: float = 16.0, canvas_size: int = 320, size: int = IMAGE_SIZE,
                check: bool = True) -> torch.Tensor:
    """The pixels a brush of ``radius`` touched, painting ``strokes`` on a ``canvas_size`` square canvas: (size, size).

    ``strokes`` is a list of polylines, each a list of (x, y) points in canvas pixels (x to the right, y down, as
    a drawing canvas and an image count them; (0, 0) is the top-left corner), the path the brush's centre took.
    The canvas shows the 32x32 image enlarged, so each image pixel is a ``canvas_size / size`` square of it. An image
    pixel is missing when the brush touched its square: any of 4 x 4 points spread evenly over the square lies
    within ``radius`` of a stroke. Points outside the canvas are allowed (a stroke off the edge).
    ``check``: refuse (one line) a mask with nothing missing or nothing known (:func:`check_task_mask`).
    """
    if not isinstance(canvas_size, int) or canvas_size < size:
        raise ValueError(f"canvas_size must be an int of at least {size} (the canvas shows the image enlarged), "
                         f"got {canvas_size!r}")
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not math.isfinite(radius) or radius < 0:
        raise ValueError(f"the brush radius must be a number of canvas pixels >= 0, got {radius!r}")
    segments = _segments(strokes)
    cell = canvas_size / size
    offsets = (np.arange(4) + 0.5) / 4                                     # 4 x 4 points inside each square
    centre = (np.arange(size)[:, None] + offsets[None]).reshape(-1) * cell  # (4 * size,) along each axis
    ys, xs = np.meshgrid(centre, centre, indexing="ij")
    points = np.stack([xs.ravel(), ys.ravel()], axis=1)                    # (P, 2) as (x, y)
    touched = np.zeros(len(points), dtype=bool)
    for chunk in np.array_split(segments, max(1, len(segments) // 64)) if len(segments) else []:
        a, b = chunk[:, 0], chunk[:, 1]                                    # (S, 2)
        ab = b - a
        length2 = (ab ** 2).sum(1)
        ap = points[:, None, :] - a[None]                                  # (P, S, 2)
        t = np.clip((ap * ab[None]).sum(2) / np.where(length2 > 0, length2, 1.0)[None], 0.0, 1.0)
        nearest = a[None] + t[..., None] * ab[None]
        touched |= (((points[:, None, :] - nearest) ** 2).sum(2) <= radius ** 2).any(1)
    mask = torch.from_numpy(touched.reshape(4 * size, 4 * size).reshape(size, 4, size, 4).any(axis=(1, 3)).copy())
    return check_task_mask(mask) if check else mask


def make_mask(kind: str = "lower_half", rectangle: Sequence[int] | None = None, strokes=None,
              brush_radius: float = 16.0, canvas_size: int = 320, size: int = IMAGE_SIZE) -> torch.Tensor:
    """The (size, size) mask of ``kind`` (one of :data:`MASK_KINDS`), checked (:func:`check_task_mask`).

    ``"lower_half"`` (the course's task), ``"left_half"``, ``"centre_square"`` (16 x 16), ``"rectangle"`` (needs
    ``rectangle = (top, left, height, width)``, :func:`rectangle_mask`) and ``"strokes"`` (needs ``strokes``,
    drawn with ``brush_radius`` on a ``canvas_size`` canvas, :func:`stroke_mask`).
    """
    if kind == "lower_half":
        return lower_half(size, size)
    if kind == "left_half":
        return left_half(size, size)
    if kind == "centre_square":
        return centre_square(size, size, size // 2)
    if kind == "rectangle":
        if rectangle is None or len(rectangle) != 4:
            raise ValueError(f"mask 'rectangle' needs rectangle = (top, left, height, width), got {rectangle!r}")
        return rectangle_mask(*rectangle, size=size)
    if kind == "strokes":
        if not strokes:
            raise ValueError("mask 'strokes' needs strokes: a list of polylines [[x, y], ...] in canvas pixels "
                             f"(0..{canvas_size}); draw some, or choose another mask")
        return stroke_mask(strokes, brush_radius, canvas_size, size)
    raise ValueError(f"unknown mask {kind!r}; choose one of {', '.join(MASK_KINDS)}")


class HiddenContext(NamedTuple):
    """The known pixels PixelCNN++ cannot look at when it draws a missing one (:func:`known_after_missing`)."""

    count: int                 # known pixels that come after at least one missing pixel in raster order
    pixels: torch.Tensor       # (H, W) bool: those known pixels
    per_missing: torch.Tensor  # (H, W) int64: at each missing pixel, how many known pixels come after it (0 elsewhere)


def known_after_missing(mask: torch.Tensor) -> HiddenContext:
    """Which known pixels come *after* a missing one in raster order (row by row, left to right).

    PixelCNN++ models ``p(x_t | x_<t)``: its output at pixel t depends only on the pixels before t (the causal,
    shifted convolutions guarantee it). So when the sampler draws a missing pixel t, every known pixel after t is
    invisible to it: a missing rectangle is filled from the rows above it and the pixels to its left on its own
    rows, and its lower edge is drawn without knowing the known pixels right under it (a seam can show there). The
    draw is then from the usual autoregressive approximation, not from ``p(missing | all known)``, and the
    conditional likelihood ``p(x_M | x_K)`` is not what one pass of the model gives
    (:func:`completion_bits_per_dim` says how it scores such masks). For the lower half the count is 0: every
    known pixel comes first, and the sample is exact.
    """
    mask = check_task_mask(mask)
    flat = mask.flatten()
    known = ~flat
    # known pixels at or after each position (a reversed cumulative sum): at a missing one, those after it
    after = known.flip(0).long().cumsum(0).flip(0)
    seen_missing = flat.long().cumsum(0) > 0
    pixels = known & seen_missing
    per_missing = torch.where(flat, after, torch.zeros_like(after))
    return HiddenContext(int(pixels.sum()), pixels.view_as(mask), per_missing.view_as(mask))


# ---------------------------------------------------------------------------------------------------------------
# 3. completions
# ---------------------------------------------------------------------------------------------------------------

class RowStep(NamedTuple):
    """One step of :func:`fill_row_by_row`: the completions once ``row``'s missing pixels are drawn."""

    row: int                 # the image row just completed
    images: torch.Tensor     # (n_samples, B, 3, H, W): rows <= row final; later missing pixels still 0 (mid-grey)
    step: int                # 1, 2, ... : how many rows with missing pixels are done
    steps: int               # how many rows have missing pixels (the last step has step == steps)


def _model_device_dtype(model: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    weight = next(model.parameters())
    return weight.device, weight.dtype


def _check_image_batch(model: torch.nn.Module, images: torch.Tensor) -> None:
    s = model.image_size
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3 \
            or tuple(images.shape[2:]) != (s, s) or not images.is_floating_point():
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be float (B, 3, {s}, {s}) in [-1, 1] for this model, got {got}; "
                         "load_image gives (1, 3, 32, 32)")


def fill_row_by_row(model: torch.nn.Module, images: torch.Tensor, mask: torch.Tensor, n_samples: int = 1,
                    generator: torch.Generator | None = None, temperature: float = 1.0,
                    progress: bool = False) -> Iterator[RowStep]:
    """PixelCNN++ filling the missing pixels of ``images`` in raster order, yielding after each row that has any.

    ``images`` (B, 3, H, W) in [-1, 1], ``mask`` (H, W) True where missing (:func:`check_task_mask`). Each step
    draws one row's missing pixels, left to right, each from ``p(x_t | x_<t)`` at ``temperature``, and yields a
    :class:`RowStep` holding copies of the completions so far (known pixels exact, rows not yet reached still 0).

    These are the fast sampler's own steps (:func:`~inpaint_lib.pixelcnnpp.fast_sampling.iter_rows_cached`, which
    :func:`~inpaint_lib.pixelcnnpp.inpaint` runs to its end), with the same checks and the same draws: **the last
    step's images equal** ``inpaint(model, images, mask, n_samples, sampler="fast", generator=g,
    temperature=temperature)`` **bit for bit** for a generator ``g`` seeded alike (for float32 images and model;
    images of another dtype are first cast to the model's). The model runs in eval mode, without gradients, only
    while a step is computed; between steps it is as the caller left it, and stopping early (``break``) is fine.
    """
    check_temperature(temperature)
    if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    _check_image_batch(model, images)
    mask = check_task_mask(mask)
    if tuple(mask.shape) != tuple(images.shape[2:]):
        raise ValueError(f"the mask {tuple(mask.shape)} does not fit images {tuple(images.shape)}")
    device, dtype = _model_device_dtype(model)
    check_generator(generator, device)
    images = images.to(device=device, dtype=dtype)
    mask = mask.to(device)
    batch, size = images.shape[0], images.shape[2]
    known = images.masked_fill(mask, 0.0)
    if not torch.isfinite(known).all() or known.abs().max() > 1:
        raise ValueError("the known pixels must be finite and in [-1, 1]; scale uint8 pixels as x / 127.5 - 1")
    x = known.repeat(n_samples, 1, 1, 1)
    missing = mask.expand(batch, size, size).repeat(n_samples, 1, 1)
    truth = images.repeat(n_samples, 1, 1, 1)
    draw = functools.partial(sample_from_discretized_mix_logistic, generator=generator, temperature=temperature)
    steps = int(mask.any(dim=1).sum())
    rows = iter_rows_cached(model, x, missing, draw, progress)
    try:
        for step in range(1, steps + 1):
            with sampling_mode(model):                 # eval mode and the input check off, for this step only
                row, current = next(rows)
            current = current.clone()                  # out of inference mode: an ordinary tensor
            out = torch.where(missing[:, None], current, truth)   # the known pixels, bit for bit (as inpaint)
            yield RowStep(row, out.view(n_samples, batch, 3, size, size), step, steps)
    finally:
        rows.close()


# the inpainting methods the notebook offers, by the name used in its parameters: (label, what it is)
METHODS = {
    "pixelcnnpp": ("PixelCNN++", "the shipped PixelCNN++, sampled pixel by pixel"),
    "unet_l1": ("L1 U-Net", "the shipped U-Net trained with the L1 loss alone"),
    "pix2pix_pixelgan": ("Pix2Pix PixelGAN", "the shipped Pix2Pix with a 1x1 discriminator"),
    "pix2pix_patchgan": ("Pix2Pix PatchGAN", "the shipped Pix2Pix with a 70x70 discriminator"),
    "pix2pix_dropout": ("Pix2Pix + dropout", "the shipped Pix2Pix (PatchGAN), its dropout on: a new answer per call"),
    "mean_colour": ("mean colour", "the training images' mean colour"),
    "repeat_last_row": ("repeat last row", "each missing pixel copies the nearest known pixel above it"),
    "mirror": ("mirror upper half", "the image reflected about its horizontal midline"),
    "nearest_neighbour": ("nearest neighbour", "the missing region of the training image whose known one is closest"),
}


def make_methods(names: Sequence[str], train_images: torch.Tensor | None = None,
                 pixelcnnpp_model: torch.nn.Module | None = None, device: str | torch.device = "cpu", seed: int = 0,
                 temperature: float = 1.0) -> dict:
    """The inpainting methods ``names`` (keys of :data:`METHODS`) as ``{label: method(masked, mask)}``, in that order.

    The networks are the course's shipped models (:func:`inpaint_lib.pretrained.load`); ``pixelcnnpp_model``, when
    given, is used instead of loading the shipped PixelCNN++ (it samples with ``seed`` at ``temperature``, as
    :func:`inpaint_lib.pixelcnnpp.inpainting_method`). ``mean_colour`` and ``nearest_neighbour`` need
    ``train_images`` (float (N, 3, 32, 32)): the data they average or search.
    """
    from . import baselines, pretrained
    from .pix2pix import inference as pix2pix_inference
    from .pixelcnnpp import inpainting_method

    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(map(repr, unknown))}; choose from {', '.join(METHODS)}")
    needs_data = [n for n in names if n in ("mean_colour", "nearest_neighbour")]
    if needs_data and train_images is None:
        raise ValueError(f"{' and '.join(needs_data)} need training images: pass train_images")
    methods = {}
    for name in names:
        label = METHODS[name][0]
        if name == "pixelcnnpp":
            model = pixelcnnpp_model if pixelcnnpp_model is not None else pretrained.load(name, device=device).model
            methods[label] = inpainting_method(model, seed=seed, temperature=temperature)
        elif name in ("unet_l1", "pix2pix_pixelgan", "pix2pix_patchgan", "pix2pix_dropout"):
            netG = pretrained.load(name, device=device).model
            methods[label] = pix2pix_inference.inpainting_method(netG, dropout=name == "pix2pix_dropout")
        elif name == "mean_colour":
            methods[label] = baselines.MeanColour(train_images)
        elif name == "repeat_last_row":
            methods[label] = baselines.RepeatLastRow()
        elif name == "mirror":
            methods[label] = baselines.MirrorUpperHalf()
        else:
            methods[label] = baselines.NearestNeighbour(train_images)
    return methods


@torch.no_grad()
def complete_all(methods: dict, images: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each method's completion of ``images`` (B, 3, H, W): ``{label: (B, 3, H, W)}``, the known pixels pasted back.

    Called as the evaluation calls a method (:func:`inpaint_lib.evaluation.complete`): the missing pixels set to 0
    (mid-grey), ``method(masked, mask)``, then the known pixels of ``images`` composited over its prediction.
    """
    from .evaluation import complete

    mask = check_task_mask(mask)
    return {label: complete(method, images, mask, n=1).samples[0] for label, method in methods.items()}


def completion_bits_per_dim(model: torch.nn.Module, completions: torch.Tensor, mask: torch.Tensor,
                            images: torch.Tensor | None = None) -> torch.Tensor:
    """Bits/dim of each completion's missing pixels under PixelCNN++ (at T = 1, the model's own): (B,), lower: likelier.

    ``-sum_{t missing} log2 p(x_t | x_<t) / (3 |M|)`` from one teacher-forced pass over each completion (quantised
    to the 256 levels; its known pixels replaced by those of ``images`` when given, so that a method that repaints
    the known region is scored on its missing region alone). When no known pixel comes after a missing one (the
    lower half; :func:`known_after_missing` counts 0) this is the exact conditional likelihood
    ``-log2 p(x_M | x_K) / (3 |M|)``, and equals :func:`inpaint_lib.pixelcnnpp.score_completions`. Otherwise it is
    what the sampler's factorisation gives the missing pixels (each scored given the pixels before it, the drawn
    ones included), not ``p(x_M | x_K)``, which the model cannot give; it still ranks completions of one mask.
    """
    _check_image_batch(model, completions)
    mask = check_task_mask(mask)
    device, dtype = _model_device_dtype(model)
    x = completions.to(device, dtype)
    m = mask.to(device)
    if images is not None:
        _check_image_batch(model, images)
        x = torch.where(m, x, images.to(device, dtype))
    x = quantize(x)
    with evaluating(model):
        log_p = discretized_mix_logistic_log_prob(x, model(x))          # (B, H, W) nats
    nats = -(log_p * m).sum(dim=(1, 2))
    return (nats / (3 * m.sum() * math.log(2.0))).to(completions.device)


# ---------------------------------------------------------------------------------------------------------------
# 4. beliefs: the predictive distribution at every pixel
# ---------------------------------------------------------------------------------------------------------------

CHANNELS = ("R", "G", "B")


class PixelBelief(NamedTuple):
    """What PixelCNN++ believed at one pixel of an image, given the pixels before it (:meth:`Beliefs.at`)."""

    row: int
    col: int
    probs: torch.Tensor      # (3, 256) float64: P(R = v), P(G = v | r), P(B = v | r, g); each row sums to 1
    drawn: tuple[int, int, int]   # the pixel's levels r, g, b (0..255): drawn, or given at a known pixel
    bits: float              # -log2 P(r) P(g | r) P(b | r, g): how surprising the pixel is
    entropy: tuple[float, float, float]  # each distribution's entropy, bits


class Beliefs(NamedTuple):
    """The three predictive distributions at every pixel of one image (:func:`predictive_distributions`)."""

    probs: torch.Tensor      # (H, W, 3, 256) float64: P(R = v), P(G = v | r), P(B = v | r, g) at each pixel
    levels: torch.Tensor     # (H, W, 3) int64: the image's own levels (those drawn at the missing pixels)
    bits: torch.Tensor       # (H, W) float64: -log2 of the image's pixel under the three distributions, summed
    entropy: torch.Tensor    # (H, W) float64: H(R) + H(G | r) + H(B | r, g) in bits, along the pixel's values
    temperature: float

    def at(self, row: int, col: int) -> PixelBelief:
        h, w = self.bits.shape
        if not (0 <= row < h and 0 <= col < w):
            raise ValueError(f"pixel ({row}, {col}) is outside the {h}x{w} image; rows and columns count from 0")
        ent = _entropy(self.probs[row, col])
        return PixelBelief(row, col, self.probs[row, col], tuple(self.levels[row, col].tolist()),
                           float(self.bits[row, col]), tuple(ent.tolist()))


def _entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy in bits along the last dimension (0 log 0 = 0)."""
    return -(probs * torch.log2(torch.where(probs > 0, probs, torch.ones_like(probs)))).sum(-1)


def _bin_masses(mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """The mass each of the 256 bins gets from logistics of ``mean``, ``log_scale`` (any shape S): (S..., 256).

    The sampler's bins: level v takes the draws that round to its centre ``v / 127.5 - 1`` (edges at the centres
    +- 1/255), the first and last level everything below and above, as the draw is clipped to [-1, 1] first. A bin
    below the mean gets ``sigma(z_upper) - sigma(z_lower)``, one above it the same mass as
    ``sigma(-z_lower) - sigma(-z_upper)``: the difference of the two small tail probabilities, never of two numbers
    near 1, so a bin far in either tail keeps its (tiny) mass to float64's relative precision instead of cancelling
    to 0. The masses add up to 1 to float64 rounding.
    """
    edges = host_float64(torch.arange(LEVELS - 1)) / 127.5 - 1.0 + HALF_BIN      # on the host, as ``mean`` is
    z = (edges - mean[..., None]) * torch.exp(-log_scale)[..., None]           # (S..., 255), the inner edges
    inf = torch.full_like(z[..., :1], math.inf)
    lower, upper = torch.cat((-inf, z), dim=-1), torch.cat((z, inf), dim=-1)    # each bin's edges, (S..., 256)
    left_tail = torch.sigmoid(upper) - torch.sigmoid(lower)
    right_tail = torch.sigmoid(-lower) - torch.sigmoid(-upper)
    return torch.where(lower > 0, right_tail, left_tail)


@torch.no_grad()
def predictive_distributions(model: torch.nn.Module, image: torch.Tensor, temperature: float = 1.0) -> Beliefs:
    """At every pixel t of ``image`` (1, 3, H, W), the distributions PixelCNN++ draws x_t from, given x_<t.

    One teacher-forced pass over the image gives, at each pixel, the network's logistic mixture for it. Pixels never
    change once drawn, so over a finished completion this pass returns exactly the distributions the sampler drew
    each missing pixel from (up to float32 rounding: the fast sampler's cached activations lie within about 1e-7 of
    a full pass). From the mixture, with temperature T as the sampler applies it (logits / T, scales x T), in
    float64:

    - ``P(R = v) = sum_k pi_k L_k(v; mu_R)``, where ``L_k`` is component k's mass in the bin of level v
      (:func:`_bin_masses`);
    - ``P(G = v | r) = sum_k w_k L_k(v; mu_G + alpha r)`` with ``w_k ∝ pi_k L_k(r; mu_R)``: the colours are
      coupled inside each component, so knowing the red drawn reweights the components (Bayes);
    - ``P(B = v | r, g)`` likewise, ``w_k ∝ pi_k L_k(r) L_k(g | r)``, mean ``mu_B + beta r + gamma g``.

    Each sums to 1 (to float64 rounding, about 1e-15), and their product at the image's (r, g, b) is the mixture's
    probability of that pixel. At T = 1 that is the likelihood's
    (:func:`~inpaint_lib.pixelcnnpp.likelihood.discretized_mix_logistic_log_prob`) wherever every component gives
    the pixel's bins more than 1e-5 (below, the likelihood takes the density at the bin centre times the bin's width,
    the original code's guard against cancellation; the masses here are computed from the nearer tail instead and stay
    exact). The masses are those of the sampler, which draws a logistic value, clips it to [-1, 1] and rounds it to a
    level (its uniform noise is kept within (1e-5, 1 - 1e-5), which cuts the logistic's tails beyond about 11.5
    scales). One image of 32x32 takes about half a second on one CPU thread (the shipped model, 10 components).
    """
    check_temperature(temperature)
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[0] != 1:
        got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"predictive_distributions takes one image (1, 3, H, W), got {got}; pass images[i:i + 1]")
    _check_image_batch(model, image)
    device, dtype = _model_device_dtype(model)
    x = quantize(image.to(device, dtype))
    with evaluating(model):
        l = model(x)
    # float64 only on host copies (an Apple GPU has no float64): logits (K, H, W); means, log_scales, coeffs
    # (3, K, H, W); the log scales clamped as the sampler clamps them
    logits, means, log_scales, coeffs = (host_float64(t[0]) for t in mixture_parameters(l))
    log_pi = torch.log_softmax(logits / temperature, dim=0)
    log_scales = log_scales + math.log(temperature)
    levels = to_levels(host_float64(x[0]))                                  # (3, H, W) int64
    values = levels.double() / 127.5 - 1.0                                  # the bin centres the sampler couples with
    r, g = values[0], values[1]                                             # (H, W)
    alpha, beta, gamma = coeffs[0], coeffs[1], coeffs[2]                    # (K, H, W)
    coupled = (means[0], means[1] + alpha * r, means[2] + beta * r + gamma * g)   # each (K, H, W)
    log_w = log_pi                    # the component weights before each colour: pi, then reweighted (Bayes)
    per_colour, chosen = [], []
    for c in range(3):                # one colour at a time: (K, H, W, 256) float64 is 21 MB for 10 components
        masses = _bin_masses(coupled[c], log_scales[c])
        stuck = ~torch.isfinite(log_w.amax(dim=0, keepdim=True))   # every component gave an earlier colour 0 mass
        w = torch.softmax(torch.where(stuck, log_pi, log_w), dim=0)  # (float64 underflow far in a tail): the prior
        probs_c = (w[..., None] * masses).sum(dim=0)                       # (H, W, 256)
        per_colour.append(probs_c)
        chosen.append(probs_c.gather(-1, levels[c][..., None])[..., 0])
        log_w = log_w + torch.log(masses.gather(-1, levels[c][None, :, :, None].expand(len(w), -1, -1, 1))[..., 0])
    probs = torch.stack(per_colour, dim=2)                                  # (H, W, 3, 256)
    chosen = torch.stack(chosen)                                            # (3, H, W)
    bits = -torch.log2(chosen).sum(dim=0)
    return Beliefs(probs, levels.permute(1, 2, 0).contiguous(), bits, _entropy(probs).sum(dim=-1), float(temperature))


# ---------------------------------------------------------------------------------------------------------------
# static figures (matplotlib): what the widgets show live
# ---------------------------------------------------------------------------------------------------------------

def _rgb_pixels(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) in [-1, 1] -> (H, W, 3) uint8 for imshow."""
    t = image.detach().cpu()
    return to_uint8(t if t.dim() == 4 else t[None])[0].numpy()


def _masked_picture(image: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """The image with its missing pixels painted grey-blue (for the eye only: the models get 0, mid-grey, there)."""
    pixels = _rgb_pixels(image).copy()
    pixels[mask.cpu().numpy()] = (170, 190, 215)
    return pixels


def show_task(image: torch.Tensor, mask: torch.Tensor, hidden: HiddenContext | None = None, title: str = ""):
    """The 32x32 image, its mask, and the masked input side by side (the known pixels after a missing one marked)."""
    import matplotlib.pyplot as plt

    hidden = hidden if hidden is not None else known_after_missing(mask)
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
    axes[0].imshow(_rgb_pixels(image), interpolation="nearest")
    axes[0].set_title("the image, 32x32", fontsize=9)
    picture = np.zeros((*mask.shape, 3), dtype=np.uint8) + 255
    picture[mask.cpu().numpy()] = (40, 40, 40)
    picture[hidden.pixels.cpu().numpy()] = (230, 120, 40)
    axes[1].imshow(picture, interpolation="nearest")
    axes[1].set_title(f"mask: {int(mask.sum())} missing (black)\n{hidden.count} known after a missing one (orange)",
                      fontsize=9)
    axes[2].imshow(_masked_picture(image, mask), interpolation="nearest")
    axes[2].set_title("the known pixels (the hole in blue)", fontsize=9)
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def show_filling(steps: Sequence[RowStep], mask: torch.Tensor, every: int = 1, ncols: int = 8):
    """A strip of partial completions, one per ``every``-th step of :func:`fill_row_by_row` (the last always shown).

    Pixels not drawn yet are shown in the mask's grey-blue, so the picture grows row by row as the sampler fills it.
    """
    import matplotlib.pyplot as plt

    chosen = [s for s in steps if (s.step - 1) % every == 0 or s.step == s.steps]
    if not chosen:
        raise ValueError("no steps to show: pass the RowSteps that fill_row_by_row yielded")
    rows = -(-len(chosen) // ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(ncols * 1.05, rows * 1.25), squeeze=False)
    height = mask.shape[0]
    for ax, s in zip(axes.flat, chosen, strict=False):
        not_yet = mask.cpu() & (torch.arange(height)[:, None] > s.row)
        ax.imshow(_masked_picture(s.images[0, 0], not_yet), interpolation="nearest")
        ax.set_title(f"row {s.row}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def show_completions(image: torch.Tensor, mask: torch.Tensor, completions: dict[str, torch.Tensor],
                     bits: dict[str, float] | None = None, truth: torch.Tensor | None = None, ncols: int = 7):
    """The masked input, each method's completion (with its bits/dim under PixelCNN++ when given), and the truth.

    ``ncols`` panels to a row.
    """
    import matplotlib.pyplot as plt

    panels = {"the known pixels": _masked_picture(image, mask),
              **{label: _rgb_pixels(c[:1]) for label, c in completions.items()}}
    if truth is not None:
        panels["the photograph"] = _rgb_pixels(truth)
    ncols = min(ncols, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.5 * ncols, 1.85 * nrows), squeeze=False)
    for ax, (label, pixels) in zip(axes.flat, panels.items(), strict=False):
        ax.imshow(pixels, interpolation="nearest")
        extra = f"\n{bits[label]:.2f} bits/dim" if bits and label in bits else ""
        ax.set_title(label + extra, fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def show_distributions(belief: PixelBelief, zoom: bool = True):
    """The three distributions at one pixel, R, G | r, B | r, g: bars over the 256 levels, the drawn value marked.

    ``zoom``: show only the levels that hold nearly all the probability (and the drawn one).
    """
    import matplotlib.pyplot as plt

    colours = ("tab:red", "tab:green", "tab:blue")
    given = ("", f" | R={belief.drawn[0]}", f" | R={belief.drawn[0]}, G={belief.drawn[1]}")
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.6))
    for c, ax in enumerate(axes):
        p = belief.probs[c].numpy()
        ax.bar(np.arange(LEVELS), p, width=1.0, color=colours[c], alpha=0.75)
        ax.axvline(belief.drawn[c], color="black", linestyle="--", linewidth=1)
        if zoom:
            where = np.nonzero(p > 1e-3 * p.max())[0]
            lo, hi = min(where.min(), belief.drawn[c]) - 3, max(where.max(), belief.drawn[c]) + 3
            ax.set_xlim(max(lo, -1), min(hi, LEVELS))
        ax.set_title(f"P({CHANNELS[c]}{given[c]})\ndrawn {belief.drawn[c]}: p = {p[belief.drawn[c]]:.3f}, "
                     f"entropy {belief.entropy[c]:.2f} bits", fontsize=8)
        ax.set_xlabel("level", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"pixel (row {belief.row}, column {belief.col}): {belief.bits:.2f} bits", fontsize=9)
    fig.tight_layout()
    return fig


def show_uncertainty(beliefs: Beliefs, mask: torch.Tensor, completion: torch.Tensor,
                     pixel: tuple[int, int] | None = None):
    """The completion beside two maps over its missing pixels: the bits of each drawn pixel, and the entropy.

    Known pixels are left blank in the maps (they were given, not drawn); ``pixel`` is circled.
    """
    import matplotlib.pyplot as plt

    m = mask.cpu().numpy()
    fig, axes = plt.subplots(1, 3, figsize=(9.5, 3.0))
    axes[0].imshow(_rgb_pixels(completion), interpolation="nearest")
    axes[0].set_title("the completion", fontsize=9)
    for ax, values, title in ((axes[1], beliefs.bits, "bits of each drawn pixel\n(-log2 p, R+G+B)"),
                              (axes[2], beliefs.entropy, "entropy of its distributions\n(bits, R+G+B)")):
        shown = np.where(m, values.numpy(), np.nan)
        im = ax.imshow(shown, cmap="magma", interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(title, fontsize=9)
    for ax in axes:
        ax.axis("off")
        if pixel is not None:
            ax.add_patch(plt.Circle((pixel[1], pixel[0]), 1.2, fill=False, color="cyan", linewidth=1.5))
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------------------
# static or live: whether the notebook builds the widgets
# ---------------------------------------------------------------------------------------------------------------

WIDGET_PACKAGES = ("ipywidgets", "ipycanvas")


def missing_widget_packages() -> list[str]:
    """The packages of :data:`WIDGET_PACKAGES` that are not installed (found without importing them)."""
    return [name for name in WIDGET_PACKAGES if importlib.util.find_spec(name) is None]


def wants_widgets(interactive: bool | str = "auto") -> bool:
    """Whether to build the live widgets: ``interactive`` is ``True``, ``False`` or ``"auto"``.

    ``"auto"`` (the notebook's default): yes when the widget packages are installed and the environment variable
    ``INPAINT_STATIC`` is not ``1``. No kernel can tell whether a browser is watching it (JupyterLab, papermill and
    nbval all run the same kernel), so the course's own runners say so: they pass ``-p interactive False`` (papermill)
    or set ``INPAINT_STATIC=1`` (nbval). ``True`` with a package missing is a one-line error naming the install.
    """
    if interactive not in (True, False, "auto"):
        raise ValueError(f"interactive must be True, False or 'auto', got {interactive!r}")
    if interactive is False:
        return False
    missing = missing_widget_packages()
    if interactive is True and missing:
        raise ValueError(f"the live version needs {' and '.join(missing)}; install them with "
                         f"`pip install {' '.join(missing)}` and restart the kernel, or set interactive = False")
    return not missing and os.environ.get("INPAINT_STATIC", "") != "1"
