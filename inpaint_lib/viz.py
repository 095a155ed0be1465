"""Pictures: image grids (masked input | completions | truth), loss curves, and diagrams of networks."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

from .data.tensors import to_uint8

__all__ = ["show_images", "show_inpainting", "plot_curves", "save_figure", "save_grid", "NetworkNode",
           "trace_network", "draw_network"]


def _pixels(images: torch.Tensor):
    return to_uint8(images.cpu()).numpy()


def show_images(images: torch.Tensor, ncols: int = 8, title: str | None = None, scale: float = 1.0):
    """A grid of float images (N, 3, H, W) in [-1, 1]; returns the matplotlib figure."""
    n = len(images)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * scale, nrows * scale), squeeze=False)
    for ax, img in zip(axes.flat, _pixels(images), strict=False):  # the last row may have axes to spare
        ax.imshow(img, interpolation="nearest")
    for ax in axes.flat:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_inpainting(masked: torch.Tensor, completions: dict[str, torch.Tensor], truth: torch.Tensor,
                    n: int = 8, scale: float = 1.1):
    """One row per image: masked input | one column per completion | truth. Returns the figure.

    ``completions`` maps a column title to a batch aligned with ``masked`` and ``truth``.
    """
    n = min(n, len(truth))
    columns = {"masked input": masked, **completions, "truth": truth}
    fig, axes = plt.subplots(n, len(columns), figsize=(len(columns) * scale, n * scale), squeeze=False)
    for col, (title, batch) in enumerate(columns.items()):
        for row, img in enumerate(_pixels(batch[:n])):
            axes[row, col].imshow(img, interpolation="nearest")
            axes[row, col].axis("off")
        axes[0, col].set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def plot_curves(curves: dict[str, tuple], xlabel: str = "step", ylabel: str = "loss", title: str | None = None,
                logy: bool = False):
    """Line plot of named curves, each ``(x_values, y_values)``. Returns the figure."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, (x, y) in curves.items():
        ax.plot(list(x), list(y), label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def save_figure(fig, path: str | os.PathLike, close: bool = False) -> Path:
    """Save ``fig`` as PNG under ``path`` (folders created); the figure stays open unless ``close``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    if close:
        plt.close(fig)
    return path


def save_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int = 8) -> Path:
    """Write float images (N, 3, H, W) in [-1, 1] to ``path`` as one PNG grid (torchvision's layout)."""
    from torchvision.utils import save_image
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image((images.detach().float().cpu() + 1) / 2, path, nrow=nrow, padding=1)
    return path


# -- diagrams of networks, drawn from the model object ------------------------------------------------------


@dataclass
class NetworkNode:
    """One box of a network diagram: a module as one forward pass ran it."""

    name: str                       # its path in the model (``named_modules``)
    module: nn.Module
    input_shape: tuple[int, ...]    # (C, H, W) of its first input
    output_shape: tuple[int, ...]
    inputs: list[int] = field(default_factory=list)   # the nodes whose outputs it reads (-1: the image)


def _outermost(model: nn.Module, units: tuple[type, ...]) -> list[tuple[str, nn.Module]]:
    """The modules of the classes ``units`` that lie inside no other such module, in definition order."""
    chosen = []
    for name, module in model.named_modules():
        if isinstance(module, units) and module is not model \
                and not any(name.startswith(outer + ".") for outer, _ in chosen):
            chosen.append((name, module))
    return chosen


def _tensors(values) -> list[torch.Tensor]:
    return [v for v in values if isinstance(v, torch.Tensor)]


def trace_network(model: nn.Module, example: torch.Tensor, units: tuple[type, ...] = (nn.Conv2d, nn.ConvTranspose2d),
                  ) -> list[NetworkNode]:
    """The ``units`` of ``model`` (outermost modules of those classes) in the order one forward pass runs them,
    with their shapes and the data flow between them.

    Who feeds whom is read off autograd's graph of that pass: from each unit's inputs the graph
    is walked back to the nearest units' outputs, through every concatenation, addition and
    activation in between; reaching the example image means the unit reads the input (-1).
    So a skip connection appears exactly where the model's code routes a tensor around the
    units between two others. ``example``: one input batch (B, C, H, W); the model runs in
    eval mode, its mode restored afterwards.
    """
    nodes: list[NetworkNode] = []
    produced: dict[object, int] = {}      # grad_fn of a unit's output -> the unit's index
    started: list[list[object]] = []      # per unit, where its tensor inputs come from (grad_fns, or IMAGE)
    image = example.detach().clone().requires_grad_(True)

    def record(module, args, kwargs, output):
        inputs = _tensors([*args, *kwargs.values()])
        started.append([_IMAGE if t is image else t.grad_fn for t in inputs if t is image or t.grad_fn is not None])
        out = output if isinstance(output, torch.Tensor) else _tensors(output)[0]
        nodes.append(NetworkNode(names[module], module, tuple(inputs[0].shape[1:]), tuple(out.shape[1:])))
        if out.grad_fn is not None:
            produced[out.grad_fn] = len(nodes) - 1

    chosen = _outermost(model, units)
    if not chosen:
        raise ValueError(f"{type(model).__name__} has no module of the classes {[u.__name__ for u in units]} to draw")
    names = {module: name for name, module in chosen}
    hooks = [module.register_forward_hook(record, with_kwargs=True) for _, module in chosen]
    was_training = model.training
    try:
        with torch.enable_grad():
            model.eval()(image)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    for node, roots in zip(nodes, started, strict=True):
        node.inputs = sorted(_sources(roots, produced, image))
    return nodes


_IMAGE = object()   # stands for the example image among the grad_fns a unit reads


def _sources(roots: list[object], produced: dict[object, int], image: torch.Tensor) -> set[int]:
    """The units whose outputs the autograd nodes ``roots`` derive from, -1 for the image itself."""
    found: set[int] = set()
    seen: set[object] = set()
    stack = list(roots)
    while stack:
        fn = stack.pop()
        if fn is _IMAGE:
            found.add(-1)
            continue
        if fn in seen:
            continue
        seen.add(fn)
        if fn in produced:
            found.add(produced[fn])
            continue
        leaf = getattr(fn, "variable", None)           # AccumulateGrad: a leaf, the image or a weight
        if leaf is not None:
            if leaf is image:
                found.add(-1)
            continue
        stack.extend(next_fn for next_fn, _ in fn.next_functions if next_fn is not None)
    return found


def _level(shape: tuple[int, ...]) -> float:
    """A diagram's height for a feature map of ``shape`` (C, H, W): log2 of its size."""
    return math.log2(shape[-1])


def _label(module: nn.Module) -> str:
    """A short name for a box: the class, with the stream of PixelCNN++'s gated blocks."""
    name = type(module).__name__
    conv = getattr(module, "conv_input", None)
    if conv is not None:                               # a gated ResNet block: say which stream it is on
        return "gated\n" + ("ul" if "Right" in type(conv).__name__ else "u")
    short = {"Conv2d": "conv", "ConvTranspose2d": "deconv", "DownShiftedConv2d": "u conv",
             "DownRightShiftedConv2d": "ul conv", "DownShiftedConvTranspose2d": "u deconv",
             "DownRightShiftedConvTranspose2d": "ul deconv", "NIN": "1x1"}
    return short.get(name, name)


def draw_network(model: nn.Module, example: torch.Tensor, units: tuple[type, ...] = (nn.Conv2d, nn.ConvTranspose2d),
                 title: str | None = None, stream=None):
    """A diagram of ``model`` from one forward pass of ``example`` (:func:`trace_network`): returns the figure.

    One box per unit, left to right in the order they run, at the height of its output's
    resolution (the finest at the top, so an encoder-decoder draws as a U); each box shows the
    unit and its output channels and size. Arrows show the data flow: straight from a unit to the
    next one that reads it, curved (a **skip connection**) from a unit to a later one that reads it
    past others; a longer skip arcs higher, so nested skips nest.

    ``stream``: for a network of two streams (PixelCNN++), a function of a unit's name giving
    ``"u"`` or ``"ul"`` (anything else: drawn between them). The u stream is drawn above the ul
    stream, in blue and orange, and a ul unit that runs right after a u unit at the same
    resolution shares its column, so the diagram is half as wide.
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    nodes = trace_network(model, example, units)
    top = _level(tuple(example.shape[1:]))
    bottom = min([top] + [_level(node.output_shape) for node in nodes])  # the coarsest resolution drawn
    lane_of = {"u": 0.25, "ul": -0.25} if stream else {}
    half = 0.21 if stream else 0.3                  # half a box's height
    where = {-1: (-1.0, top)}                        # unit -> (column, height); -1 the input
    column, column_level, lanes_in_column = -1, None, set()
    for i, node in enumerate(nodes):
        lane = stream(node.name) if stream else None
        level = _level(node.output_shape)
        if not (lane == "ul" and lanes_in_column == {"u"} and column_level == level):  # else: under its u unit
            column, column_level, lanes_in_column = column + 1, level, set()
        lanes_in_column.add(lane)
        where[i] = (float(column), level + lane_of.get(lane, 0.0))
    columns = column + 1
    spans = [abs(where[i][0] - where[j][0]) for i, node in enumerate(nodes) for j in node.inputs]
    spans = [span for span in spans if span > 1]    # a skip connection passes over at least one column

    def arc_height(span: float) -> float:
        return 0.3 + 0.045 * span

    rise = arc_height(max(spans)) if spans else 0.0
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * (columns + 2)),
                                    1.0 + (1.25 if stream else 0.75) * (top - bottom + 1)))
    colours = {"u": "#9ecae1", "ul": "#fdae6b"}
    for key, (x, y) in where.items():
        if key == -1:
            text, colour = f"input\n{example.shape[1]}x{example.shape[-1]}", "#dddddd"
        else:
            node = nodes[key]
            label = _label(node.module)
            if stream:
                kind = stream(node.name)
            else:
                kind = label.split("\n")[-1] if "gated" in label else label.split(" ")[0]
            colour = colours.get(kind, "#c7e9c0" if "deconv" in label else "#bcbddc")
            text = f"{label.replace(chr(10), ' ') if stream else label}\n{node.output_shape[0]}x{node.output_shape[-1]}"
        ax.add_patch(FancyBboxPatch((x - 0.42, y - half), 0.84, 2 * half, boxstyle="round,pad=0.02",
                                    facecolor=colour, edgecolor="black", linewidth=0.6))
        ax.text(x, y, text, ha="center", va="center", fontsize=7)
    skips = 0
    for i, node in enumerate(nodes):
        for j in node.inputs:
            (x0, y0), (x1, y1) = where[j], where[i]
            skip = x1 - x0 > 1
            skips += skip
            if x0 == x1:                             # down within a column: the u unit feeds the ul unit below it
                start, end, rad = (x0, y0 - half), (x1, y1 + half), 0.0
            else:
                start, end = (x0 + 0.42, y0), (x1 - 0.42, y1)
                # an arc's peak is about rad / 2 of its chord above the chord
                rad = -2 * arc_height(abs(x1 - x0)) / max(math.dist(start, end), 1.0) if skip else 0.0
            ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=7, linewidth=0.7,
                                         color="tab:red" if skip else "black",
                                         connectionstyle=f"arc3,rad={rad}", alpha=0.8))
    ax.set_xlim(-1.6, columns - 0.4)
    ax.set_ylim(bottom - 0.6, top + half + rise + 0.1)
    levels = range(int(bottom), int(top) + 1)
    ax.set_yticks(list(levels))
    ax.set_yticklabels([f"{2 ** k}x{2 ** k}" for k in levels], fontsize=8)
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_ylabel("resolution of the output", fontsize=8)
    ax.set_title(title or f"{type(model).__name__}: {len(nodes)} units, {skips} skip connections (red)", fontsize=9)
    fig.tight_layout()
    return fig
