"""Pictures: image grids (masked input | completions | truth) and loss curves."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from .data.tensors import to_uint8

__all__ = ["show_images", "show_inpainting", "plot_curves", "save_figure", "save_grid"]


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
