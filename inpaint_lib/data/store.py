"""The canonical npz store: where data sets live, how they are checked, read and written.

This module is a leaf of :mod:`inpaint_lib.data`: a data set that can be made offline (the
``sample`` set) registers its builder here (:func:`register_builder`), and :func:`load_split`
calls it on first use.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..utils import REPO_ROOT, atomic_write

__all__ = [
    "DatasetInfo", "DATASETS", "held_out_split", "register_builder", "DataError", "DatasetNotFound", "data_root",
    "dataset_path", "validate_images", "read_npz", "NPZ_READ_ERRORS", "load_split", "save_split",
]

IMAGE_SHAPE = (32, 32, 3)


@dataclass(frozen=True)
class DatasetInfo:
    """A data set of the store: its splits, the one held out for evaluation, and how to get it."""

    name: str
    splits: tuple[str, ...]
    held_out: str      # the split evaluation uses: "test", or "val" where there is no labelled test split
    how_to_get: str    # the instructions a DatasetNotFound for this data set ends with

    def __post_init__(self):
        if self.held_out not in self.splits:
            raise ValueError(f"data set {self.name!r}: held-out split {self.held_out!r} is not one of {self.splits}")


DATASETS: dict[str, DatasetInfo] = {info.name: info for info in (
    DatasetInfo("sample", ("train", "test"), "test",
                "it is built offline on first use: run `python -m inpaint_lib.data build-sample`"),
    DatasetInfo("imagenet32", ("train", "val"), "val",
                "download the 32x32 downsampled ImageNet (npz batches or the PNG tarballs of "
                "image-net.org/small) and run `python -m inpaint_lib.data convert imagenet32 SRC`"),
    DatasetInfo("tinyimagenet32", ("train", "val"), "val",
                "run `python -m inpaint_lib.data download tinyimagenet32` (or download tiny-imagenet-200.zip "
                "(Stanford CS231n) by hand and run `python -m inpaint_lib.data convert tinyimagenet32 SRC`)"),
    DatasetInfo("cifar10", ("train", "test"), "test",
                "run `python -m inpaint_lib.data convert cifar10 --download`"),
)}


def _dataset_info(dataset: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``dataset``, or a ValueError naming the known data sets."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown data set {dataset!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[dataset]


def held_out_split(dataset: str) -> str:
    """The split a data set holds out for evaluation: ``test`` or ``val``."""
    return _dataset_info(dataset).held_out


# data set -> build(root), which writes <root>/<data set>/<split>.npz for every split
Builder = Callable[[Path], dict[str, Path]]
_BUILDERS: dict[str, Builder] = {}


def register_builder(dataset: str, build: Builder) -> None:
    """Let :func:`load_split` make ``dataset`` on first use with ``build(root)``.

    ``build(root)`` must write ``<root>/<dataset>/<split>.npz`` for every split and return
    their paths. :mod:`inpaint_lib.data.sample` registers the ``sample`` set at import.
    """
    _BUILDERS[_dataset_info(dataset).name] = build


class DataError(ValueError):
    """A data file that exists but is not in the canonical format."""


class DatasetNotFound(FileNotFoundError):
    """A data set (or split) that is not in the data root."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """``root`` if given, else ``$INPAINT_DATA``, else ``data/`` in the repository."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("INPAINT_DATA") or REPO_ROOT / "data")


def dataset_path(dataset: str, split: str, root: str | os.PathLike | None = None) -> Path:
    """``<root>/<dataset>/<split>.npz``, after checking that the data set and split are known."""
    splits = _dataset_info(dataset).splits
    if split not in splits:
        raise ValueError(f"data set {dataset!r} has no split {split!r}; its splits are {', '.join(splits)}")
    return data_root(root) / dataset / f"{split}.npz"


def validate_images(images: np.ndarray, source: str = "images") -> np.ndarray:
    """Check ``images`` is uint8 (N, 32, 32, 3); raise one clear :class:`DataError` line otherwise."""
    if not isinstance(images, np.ndarray):
        raise DataError(f"{source}: expected a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise DataError(f"{source}: images must be uint8 0..255, got {images.dtype}; convert with "
                        "np.clip(x, 0, 255).astype(np.uint8) (or (x + 1) * 127.5 for [-1, 1] floats)")
    if images.ndim != 4 or images.shape[3] != 3:
        raise DataError(f"{source}: images must be (N, 32, 32, 3) RGB, got shape {images.shape}; "
                        "channels go last and grayscale must be repeated to 3 channels")
    if images.shape[1:3] != IMAGE_SHAPE[:2]:
        raise DataError(f"{source}: images must be 32x32, got {images.shape[1]}x{images.shape[2]}; "
                        "resize them with a converter (python -m inpaint_lib.data convert ...)")
    if len(images) == 0:
        raise DataError(f"{source}: holds no images")
    return images


# what np.load raises on a damaged, truncated or foreign file (zlib: damaged compressed bytes)
NPZ_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError)


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise DataError(f"{path} holds a single array (an .npy file), not an npz archive; write it in the "
                            "canonical format with inpaint_lib.data.save_split")
        with npz:
            if "images" not in npz.files:
                raise DataError(f"{path}: no 'images' array (has {', '.join(npz.files) or 'nothing'}); "
                                "write it in the canonical format with inpaint_lib.data.save_split")
            images = npz["images"]
            labels = npz["labels"] if "labels" in npz.files else None
    except DataError:
        raise
    except NPZ_READ_ERRORS as err:
        raise DataError(f"{path} is corrupt or truncated ({type(err).__name__}: {str(err)[:80]}); "
                        "delete it and convert or download it again") from None
    validate_images(images, str(path))
    if labels is not None and (labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer)):
        raise DataError(f"{path}: labels must be integers of shape ({len(images)},), got {labels.dtype} {labels.shape}")
    return images, labels


def _built_path(dataset: str, split: str, root) -> Path:
    """A data set with a builder is read from the data root when it is there; otherwise it is
    built (once) in the repository's own ``data/``, never in a data root that may be a shared,
    read-only folder."""
    path = data_root(root) / dataset / f"{split}.npz"
    if path.exists():
        return path
    path = REPO_ROOT / "data" / dataset / f"{split}.npz"
    if not path.exists():
        _BUILDERS[dataset](REPO_ROOT / "data")
    return path


def load_split(dataset: str, split: str, root: str | os.PathLike | None = None,
               with_labels: bool = False):
    """Read ``<root>/<dataset>/<split>.npz``: uint8 images (N, 32, 32, 3) [and int64 labels or None].

    A data set with a registered builder (the ``sample`` set) is built on first use (offline, a few
    seconds). Any other missing data set raises :class:`DatasetNotFound` saying where it was looked
    for and how to get it.
    """
    path = dataset_path(dataset, split, root)
    if not path.exists() and dataset in _BUILDERS:
        path = _built_path(dataset, split, root)
    if not path.exists():
        folder = path.parent
        what = "is an empty folder" if folder.is_dir() and not any(folder.iterdir()) else "is not there"
        raise DatasetNotFound(f"data set {dataset!r} split {split!r}: {path} {what} "
                              f"(data root {data_root(root)}, set by $INPAINT_DATA); {DATASETS[dataset].how_to_get}")
    images, labels = read_npz(path)
    if with_labels:
        return images, (labels.astype(np.int64) if labels is not None else None)
    return images


def save_split(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray | None = None) -> Path:
    """Write images (and labels) to ``path`` in the canonical format, whole or not at all
    (:func:`inpaint_lib.utils.atomic_write`)."""
    path = Path(path)
    validate_images(images, str(path))
    arrays = {"images": np.ascontiguousarray(images)}
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(images),):
            raise DataError(f"{path}: {len(labels)} labels for {len(images)} images")
        arrays["labels"] = labels
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path
