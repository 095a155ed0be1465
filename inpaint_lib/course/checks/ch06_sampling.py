"""Checks for exercise 06: conditional sampling."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ... import masks
from ._common import _passed

__all__ = ["check_inpaint_lower_half"]


def _sampling_variants(model, x0: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """What known wrong sampling loops draw from ``x0`` with a generator seeded with ``seed``."""
    from ...pixelcnnpp import sample_from_discretized_mix_logistic as draw

    h, w = x0.shape[-2:]
    lower = [(i, j) for i in range(h // 2, h) for j in range(w)]
    missing = masks.lower_half(h, w)
    out: dict[str, torch.Tensor] = {}

    def run(name, loop):
        for start in (x0, x0.masked_fill(missing, 0.0)):         # missing pixels as given, or zeroed first
            gen = torch.Generator().manual_seed(seed)
            x = start.clone()
            with torch.no_grad():
                loop(x, gen)
            out[f"{name}#{len(out)}"] = x

    def one_pass_image(x, gen):
        x[:] = torch.where(missing, draw(model(x), gen), x)

    def one_pass_pixels(x, gen):
        l = model(x)
        for i, j in lower:
            x[:, :, i, j] = draw(l[:, :, i:i + 1, j:j + 1], gen)[:, :, 0, 0]

    def column_major(x, gen):
        for j in range(w):
            for i in range(h // 2, h):
                x[:, :, i, j] = draw(model(x)[:, :, i:i + 1, j:j + 1], gen)[:, :, 0, 0]

    def not_written_back(x, gen):
        seen = x.clone()
        for i, j in lower:
            x[:, :, i, j] = draw(model(seen)[:, :, i:i + 1, j:j + 1], gen)[:, :, 0, 0]

    def whole_image_per_pixel(x, gen):
        for i, j in lower:
            x[:, :, i, j] = draw(model(x), gen)[:, :, i, j]

    def row_per_pass(x, gen):
        for i in range(h // 2, h):
            x[:, :, i] = draw(model(x)[:, :, i:i + 1], gen)[:, :, 0]

    for name, loop in (("one pass", one_pass_image), ("one pass", one_pass_pixels), ("column-major", column_major),
                       ("not written back", not_written_back), ("whole image", whole_image_per_pixel),
                       ("row per pass", row_per_pass)):
        run(name, loop)
    return out


def check_inpaint_lower_half(inpaint_lower_half: Callable) -> None:
    """``inpaint_lower_half(model, images, generator)``: the lower half drawn pixel by pixel, (B, 3, H, W).

    With tiny seeded PixelCNN++ models (8x8 and 12x12 images) and a generator seeded the same way, your loop must
    draw exactly the pixels that ``inpaint(..., sampler="naive")`` draws, keep the known rows bit for bit, and
    leave the images it was given unchanged. Wrong loops are recognised by re-running them: all pixels from one
    pass, column-major order, the image not updated, a whole image or row drawn per pass, dropout left on.
    """
    from ...pixelcnnpp import PixelCNNpp, inpaint, quantize

    for size, batch, k, seed in ((8, 2, 2, 5), (12, 1, 3, 6)):
        torch.manual_seed(size)
        model = PixelCNNpp(nr_resnet=1, nr_filters=8, nr_logistic_mix=k, dropout=0.5, image_size=size)
        g = torch.Generator().manual_seed(seed)
        images = quantize(torch.rand(batch, 3, size, size, generator=g) * 2 - 1)
        mask = masks.lower_half(size, size)
        half = size // 2
        where = f"inpaint_lower_half on {batch} image{'s' if batch > 1 else ''} of {size}x{size}"
        expected = inpaint(model, images, mask, sampler="naive", generator=torch.Generator().manual_seed(seed))[0]
        given = images.clone()
        model.train()                                            # as a freshly trained model would be
        modes: list[bool] = []                                   # the model's mode at every pass
        hook = model.register_forward_pre_hook(lambda module, inputs, modes=modes: modes.append(module.training))
        try:
            got = inpaint_lower_half(model, given, torch.Generator().manual_seed(seed))
        finally:
            hook.remove()
        model.eval()
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"{where}: return the completed images as a tensor, got {type(got).__name__}")
        if got.shape != images.shape:
            raise AssertionError(f"{where}: return the completed images, shape (B, 3, H, W) = {tuple(images.shape)}, "
                                 f"got {tuple(got.shape)}")
        got = got.detach()
        if not torch.equal(got[:, :, :half], images[:, :, :half]):
            rows = (got[:, :, :half] != images[:, :, :half]).any(0).any(0).any(1).nonzero().flatten().tolist()
            raise AssertionError(f"{where}: known pixels changed (rows {rows}): draw only rows {half}..{size - 1} "
                                 f"(height // 2 and below) and leave rows 0..{half - 1} exactly as given")
        if torch.equal(got[:, :, half:], images[:, :, half:]):
            raise AssertionError(f"{where}: the missing rows come back as they went in: no pixel was drawn; loop "
                                 f"over rows {half}..{size - 1} and every column, and write each drawn pixel into "
                                 "the image")
        if not torch.allclose(got, quantize(got), atol=1e-6):
            raise AssertionError(f"{where}: the drawn values are not on the 256 levels: draw them with "
                                 "sample_from_discretized_mix_logistic, which rounds each colour to its bin")
        if torch.allclose(got, expected, atol=1e-6):
            if not torch.equal(given, images):
                raise AssertionError(f"{where}: the right pixels, but the images passed in were changed as well: "
                                     "work on a copy (x = images.clone())")
            continue
        if any(modes):
            raise AssertionError(f"{where}: the model was left in training mode, so dropout changes every pass "
                                 "(and uses other random numbers): call model.eval() before sampling")
        messages = {
            "one pass": "all missing pixels were drawn from one network pass, which never sees the pixels drawn "
                        "after it: run the model again for every pixel, on the image with every pixel drawn so far",
            "column-major": "the pixels were drawn column by column; the model's order is raster order, row by "
                            "row: for i in the missing rows, for j in the columns",
            "not written back": "each pixel was drawn from a pass over the image as given: write pixel (i, j) "
                                "into the image (x[:, :, i, j] = ...) before the next pass, so that later pixels "
                                "are drawn given it",
            "whole image": "a whole image was drawn at every step and only pixel (i, j) kept: right in "
                           "distribution, but it uses the random numbers differently (and far more of them); "
                           "draw from the output at (i, j) alone, model(x)[:, :, i:i+1, j:j+1]",
            "row per pass": "a whole row was drawn from one pass: a pixel depends on the pixels to its left in "
                            "its row, drawn in the same step; run the model once per pixel",
        }
        for name, value in _sampling_variants(model, images, seed).items():
            if torch.allclose(got, value, atol=1e-6):
                name = name.split("#")[0]
                if name in ("one pass", "not written back"):         # the same pixels; told apart by the passes
                    name = "one pass" if len(modes) == 1 else "not written back"
                raise AssertionError(f"{where}: {messages[name]}")
        wrong = (got != expected).any(0).any(0)                  # (H, W)
        first = wrong.flatten().nonzero()[0, 0].item()
        i, j = divmod(first, size)
        if (i, j) == (half, 0):
            raise AssertionError(f"{where}: the first missing pixel ({half}, 0) already differs from inpaint_lib's: "
                                 "draw each pixel with sample_from_discretized_mix_logistic(l, generator), l = "
                                 "model(x)[:, :, i:i+1, j:j+1], passing the generator and drawing nothing else "
                                 "from it")
        raise AssertionError(f"{where}: the pixels agree with inpaint_lib's before ({i}, {j}) in raster order, but "
                             f"({i}, {j}) differs; your loop ran the model {len(modes)} times for {half * size} "
                             "missing pixels: run it on the updated image once per pixel, in raster order, and "
                             "write only pixel (i, j) back")
    _passed("inpaint_lower_half")
