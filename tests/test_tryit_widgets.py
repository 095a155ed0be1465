"""Notebook 07's live panel (inpaint_lib.tryit_widgets), driven without a browser; skipped without ipycanvas."""

from __future__ import annotations

import pytest
import torch

from inpaint_lib import tryit
from inpaint_lib.masks import lower_half
from inpaint_lib.pixelcnnpp import inpaint

pytest.importorskip("ipywidgets")
pytest.importorskip("ipycanvas")

from inpaint_lib.tryit_widgets import CANVAS, TryIt, upscale  # noqa: E402


@pytest.fixture(autouse=True)
def agg_backend():
    import matplotlib
    matplotlib.use("Agg")


def test_the_canvas_shows_each_pixel_as_a_square_and_the_hole_tinted():
    image = tryit.load_image("coffee")
    plain = upscale(image)
    assert plain.shape == (CANVAS, CANVAS, 3) and plain.dtype.name == "uint8"
    assert (plain[:10, :10] == plain[0, 0]).all()
    tinted = upscale(image, lower_half())
    assert (tinted[:160] == plain[:160]).all() and (tinted[160:] != plain[160:]).any()


def test_the_panel_completes_the_painted_hole_row_by_row_and_shows_beliefs(tiny_pixelcnnpp):
    model = tiny_pixelcnnpp()
    app = TryIt(model, image="astronaut", methods=["repeat_last_row", "mirror"], temperature=0.8, seed=3)
    assert app.image.shape == (1, 3, 32, 32) and app.mask_kind.value == "lower_half"
    app.look_at(20, 5)
    assert "press Complete first" in app.status.value
    # paint a stroke with the mouse: the mask becomes the strokes
    app.mouse_down(20, 150)
    for x in range(30, 300, 10):
        app.mouse_move(x, 150 + x / 10)
    app.mouse_up(300, 180)
    assert app.mask_kind.value == "strokes"
    mask = app.current_mask()
    assert torch.equal(mask, tryit.stroke_mask(app.strokes, app.brush.value, CANVAS)) and mask.any()
    app.complete()
    assert "error" not in app.status.value and "pixels filled" in app.status.value, app.status.value
    assert app.steps_seen == int(mask.any(dim=1).sum())
    expected = inpaint(model, app.image, mask, generator=torch.Generator().manual_seed(3), temperature=0.8)[0]
    assert torch.equal(app.completion, expected), "the panel's completion is inpaint's, bit for bit"
    app.look_at_canvas(55, 155)                           # canvas point -> image pixel (15, 5)
    assert "b00020" not in app.status.value
    assert app.beliefs.at(15, 5).probs.shape == (3, 256)
    app.look_at(40, 0)
    assert "outside" in app.status.value


def test_the_panel_says_what_is_wrong_in_one_line(tiny_pixelcnnpp):
    app = TryIt(tiny_pixelcnnpp(), methods=[])
    app.mask_kind.value = "strokes"
    app.complete()
    assert "paint the hole" in app.status.value and app.completion is None
    app.mouse_down(-500, -500)                            # a stroke off the canvas touches nothing
    app.mouse_up(-500, -500)
    app.complete()
    assert "nothing missing" in app.status.value
    app._load(b"not an image")
    assert "does not decode" in app.status.value and "b00020" in app.status.value
    app.clear_strokes()
    assert app.strokes == []
