"""Notebook 07's live version: paint a hole on your picture, watch PixelCNN++ fill it, click a pixel to look inside.

Built from ``ipywidgets`` and ``ipycanvas`` (``pip install ipywidgets ipycanvas``), which are imported only when a
:class:`TryIt` is made, so that importing this module, and the notebook's static path, never need them. Everything
shown comes from :mod:`inpaint_lib.tryit`: :func:`~.tryit.load_image`, :func:`~.tryit.stroke_mask`,
:func:`~.tryit.fill_row_by_row`, :func:`~.tryit.make_methods`, :func:`~.tryit.predictive_distributions` and the
figures drawn there.

The panel: a picture (a photograph scikit-image ships, or an uploaded file) shown enlarged on a canvas, on which the
mouse paints the hole with a brush (or a mask is chosen from a list); the temperature, the seed and the methods to
compare; *Complete*, which fills the hole row by row on a second canvas while it is drawn, then shows the other
methods' completions with their bits/dim; and a click on any pixel of the completion, which shows the model's three
distributions there. Errors (an image that does not decode, a hole with nothing in it) appear as one line in the
panel, never as a traceback.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from . import tryit
from .data.tensors import to_uint8

__all__ = ["CANVAS", "TryIt", "upscale"]

CANVAS = 320            # pixels of each canvas: the 32x32 image enlarged 10 times
HOLE = np.array((170, 190, 215), dtype=np.float64)   # the hole's tint (the figures' grey-blue)


def upscale(image: torch.Tensor, mask: torch.Tensor | None = None, size: int = CANVAS) -> np.ndarray:
    """(1, 3, 32, 32) in [-1, 1] -> (size, size, 3) uint8 for a canvas, each pixel a square; the hole tinted."""
    pixels = to_uint8(image.detach().cpu()[:1])[0].numpy().astype(np.float64)
    if mask is not None:
        m = mask.cpu().numpy()
        pixels[m] = 0.35 * pixels[m] + 0.65 * HOLE
    factor = size // pixels.shape[0]
    return np.ascontiguousarray(pixels.repeat(factor, axis=0).repeat(factor, axis=1).astype(np.uint8))


class TryIt:
    """The live panel of notebook 07 for a PixelCNN++ ``model`` (:meth:`show` displays it in a notebook).

    ``image``, ``mask``, ``methods``, ``temperature``, ``seed`` and ``dataset`` start the controls at the notebook's
    parameters (``methods``: keys of :data:`~.tryit.METHODS` shown beside PixelCNN++; ``dataset``: the training
    images of the mean-colour and nearest-neighbour baselines). The handlers (:meth:`complete`,
    :meth:`look_at`, the mouse's) are ordinary methods, so the panel can be driven, and tested, without a browser.
    """

    def __init__(self, model: torch.nn.Module, image: str = "astronaut", mask: str = "lower_half",
                 methods: list[str] | None = None, temperature: float = 0.9, seed: int = 0, dataset: str = "sample",
                 brush_radius: float = 16.0):
        import ipywidgets as w
        from ipycanvas import MultiCanvas

        self.model = model
        self.device = next(model.parameters()).device
        self.dataset = dataset
        self._methods: dict[str, object] = {}             # made once, on first use
        self._train_images: torch.Tensor | None = None
        self.strokes: list[list[tuple[float, float]]] = []
        self._drawing = False
        self.image: torch.Tensor | None = None
        self.completion: torch.Tensor | None = None
        self.beliefs: tryit.Beliefs | None = None
        self.steps_seen = 0

        photos = list(tryit.shipped_photographs())
        self.picture = w.Dropdown(options=photos, value=image if image in photos else photos[0], description="picture")
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="your own")
        self.mask_kind = w.Dropdown(options=[k for k in tryit.MASK_KINDS if k != "rectangle"],
                                    value=mask if mask in tryit.MASK_KINDS and mask != "rectangle" else "lower_half",
                                    description="mask")
        self.brush = w.FloatSlider(value=brush_radius, min=4, max=60, step=2, description="brush")
        self.clear = w.Button(description="clear strokes")
        chosen = [m for m in (methods or []) if m in tryit.METHODS and m != "pixelcnnpp"]
        self.methods = w.SelectMultiple(options=[m for m in tryit.METHODS if m != "pixelcnnpp"], value=chosen,
                                        description="also", rows=5)
        self.temperature = w.FloatSlider(value=temperature, min=0.5, max=1.2, step=0.05, description="T")
        self.seed = w.IntText(value=seed, description="seed", layout=w.Layout(width="160px"))
        self.go = w.Button(description="Complete", button_style="primary")
        self.status = w.HTML()
        self.input_canvas = MultiCanvas(2, width=CANVAS, height=CANVAS)   # the picture, the brush strokes over it
        self.output_canvas = MultiCanvas(2, width=CANVAS, height=CANVAS)  # the completion, the chosen pixel's ring
        self.others = w.Output()
        self.belief_plot = w.Output()

        self.picture.observe(lambda _: self._load(self.picture.value), names="value")
        self.upload.observe(self._on_upload, names="value")
        self.mask_kind.observe(lambda _: self._redraw_input(), names="value")
        self.clear.on_click(lambda _: self.clear_strokes())
        self.go.on_click(lambda _: self.complete())
        self.input_canvas[1].on_mouse_down(self.mouse_down)
        self.input_canvas[1].on_mouse_move(self.mouse_move)
        self.input_canvas[1].on_mouse_up(self.mouse_up)
        self.input_canvas[1].on_mouse_out(self.mouse_up)
        self.output_canvas[1].on_mouse_down(self.look_at_canvas)

        controls = w.VBox([w.HBox([self.picture, self.upload]), w.HBox([self.mask_kind, self.brush, self.clear]),
                           w.HBox([self.methods, w.VBox([self.temperature, self.seed, self.go])]), self.status])
        canvases = w.HBox([w.VBox([w.HTML("<b>your picture</b>: paint the hole with the mouse"), self.input_canvas]),
                           w.VBox([w.HTML("<b>PixelCNN++</b>: click a pixel to look inside"), self.output_canvas])])
        self.widget = w.VBox([controls, canvases, self.others, self.belief_plot])
        # stable CSS classes, by which a browser finds the panel's parts (tests/test_tryit_browser.py)
        for part, name in ((self.widget, "panel"), (self.input_canvas, "input"), (self.output_canvas, "output"),
                           (self.go, "complete"), (self.status, "status"), (self.others, "others"),
                           (self.belief_plot, "beliefs")):
            part.add_class(f"tryit-{name}")
        self._load(self.picture.value)

    # -- showing ------------------------------------------------------------------------------------------------

    def show(self) -> None:
        """Display the panel in the notebook."""
        from IPython.display import display

        display(self.widget)

    def _say(self, text: str, error: bool = False) -> None:
        colour = "#b00020" if error else "#333"
        self.status.value = f"<span style='color:{colour}'>{text}</span>"

    def current_mask(self) -> torch.Tensor:
        """The hole as it stands: the strokes painted (mask "strokes") or the chosen mask; checked (one-line errors)."""
        if self.mask_kind.value == "strokes":
            if not self.strokes:
                raise ValueError("paint the hole on the picture with the mouse first (or choose another mask)")
            return tryit.stroke_mask(self.strokes, self.brush.value, CANVAS)
        return tryit.make_mask(self.mask_kind.value)

    def _redraw_input(self) -> None:
        if self.image is None:
            return
        try:
            mask = self.current_mask()
        except ValueError:
            mask = None                                  # nothing painted yet: the picture alone
        self.input_canvas[0].put_image_data(upscale(self.image, mask), 0, 0)

    # -- the picture ----------------------------------------------------------------------------------------------

    def _load(self, source) -> None:
        try:
            self.image = tryit.load_image(source)
        except ValueError as err:
            self._say(str(err), error=True)
            return
        self._say("Paint the hole (mask: strokes) or choose a mask, then press Complete.")
        self._redraw_input()

    def _on_upload(self, change) -> None:
        files = change["new"]
        if files:
            item = files[0] if isinstance(files, (tuple, list)) else next(iter(files.values()))
            self._load(bytes(item["content"]))

    # -- the brush ------------------------------------------------------------------------------------------------

    def mouse_down(self, x: float, y: float) -> None:
        self._drawing = True
        self.strokes.append([(x, y)])
        self.mask_kind.value = "strokes"                 # painting means painting the hole
        self._dab(x, y)

    def mouse_move(self, x: float, y: float) -> None:
        if self._drawing:
            self.strokes[-1].append((x, y))
            self._dab(x, y)

    def mouse_up(self, x: float, y: float) -> None:
        if self._drawing:
            self._drawing = False
            self.input_canvas[1].clear()
            self._redraw_input()

    def _dab(self, x: float, y: float) -> None:
        layer = self.input_canvas[1]
        layer.fill_style = "rgba(170, 190, 215, 0.6)"
        layer.fill_circle(x, y, self.brush.value)

    def clear_strokes(self) -> None:
        self.strokes = []
        self.input_canvas[1].clear()
        self._redraw_input()

    # -- completing -----------------------------------------------------------------------------------------------

    def _other_methods(self, names: list[str]) -> dict:
        if {"mean_colour", "nearest_neighbour"} & set(names) and self._train_images is None:
            from .data import load_split, to_float
            self._train_images = to_float(load_split(self.dataset, "train"))
        missing = [n for n in names if n not in self._methods]
        if missing:
            made = tryit.make_methods(missing, train_images=self._train_images, device=self.device)
            self._methods.update(dict(zip(missing, made.values(), strict=True)))
        return {tryit.METHODS[n][0]: self._methods[n] for n in names}

    @staticmethod
    def _figure(output, fig) -> None:
        """Show a matplotlib figure in an Output widget (replacing what was there) and close it."""
        import matplotlib.pyplot as plt
        from IPython.display import display

        output.clear_output(wait=True)
        with output:
            display(fig)
        plt.close(fig)

    def complete(self) -> None:
        """*Complete*: PixelCNN++ fills the hole row by row on the right canvas, then the other methods are shown."""
        try:
            mask = self.current_mask()
        except ValueError as err:
            self._say(str(err), error=True)
            return
        if self.image is None:
            return
        self.go.disabled = True
        self.output_canvas[1].clear()
        self.belief_plot.clear_output()
        image = self.image.to(self.device)
        generator = torch.Generator(self.device).manual_seed(int(self.seed.value))
        began, first = time.perf_counter(), None
        try:
            self.steps_seen = 0
            for step in tryit.fill_row_by_row(self.model, image, mask.to(self.device), generator=generator,
                                              temperature=self.temperature.value):
                first = first if first is not None else time.perf_counter() - began
                not_yet = mask & (torch.arange(mask.shape[0])[:, None] > step.row)
                self.output_canvas[0].put_image_data(upscale(step.images[0], not_yet), 0, 0)
                self.steps_seen += 1
                self._say(f"PixelCNN++ drawing row {step.row} ({step.step}/{step.steps})")
            self.completion = step.images[0]
            filled = time.perf_counter() - began
            self.beliefs = tryit.predictive_distributions(self.model, self.completion,
                                                          temperature=self.temperature.value)
            hidden = tryit.known_after_missing(mask)
            done = {"PixelCNN++": self.completion.cpu()}
            done.update({k: v.cpu() for k, v in
                         tryit.complete_all(self._other_methods(list(self.methods.value)), image, mask).items()})
            bits = {label: tryit.completion_bits_per_dim(self.model, c, mask, self.image).item()
                    for label, c in done.items()}
            self._figure(self.others, tryit.show_completions(self.image, mask, done, bits, truth=self.image))
            self._say(f"{int(mask.sum())} pixels filled: first row after {first:.2f} s, all after {filled:.2f} s; "
                      f"{hidden.count} known pixels come after a missing one and were not looked at. "
                      "Click a pixel of the completion to see the model's beliefs there.")
        except ValueError as err:
            self._say(str(err), error=True)
        finally:
            self.go.disabled = False

    # -- looking inside ---------------------------------------------------------------------------------------------

    def look_at_canvas(self, x: float, y: float) -> None:
        """A click at canvas point (x, y) on the completion: :meth:`look_at` the image pixel under it."""
        cell = CANVAS // self.model.image_size
        self.look_at(int(y // cell), int(x // cell))

    def look_at(self, row: int, col: int) -> None:
        """Show the three distributions at pixel (row, col) of the last completion, and ring it on the canvas."""
        if self.beliefs is None:
            self._say("press Complete first: the beliefs are those of a finished completion", error=True)
            return
        try:
            belief = self.beliefs.at(row, col)
        except ValueError as err:
            self._say(str(err), error=True)
            return
        cell = CANVAS // self.model.image_size
        ring = self.output_canvas[1]
        ring.clear()
        ring.stroke_style = "cyan"
        ring.line_width = 3
        ring.stroke_rect(col * cell, row * cell, cell, cell)
        self._figure(self.belief_plot, tryit.show_distributions(belief))
