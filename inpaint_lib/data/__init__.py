"""Data sets in the course's canonical format, the embedded ``sample`` set, converters, loaders.

Canonical format (every loader and converter reads or writes it)::

    <root>/<dataset>/<split>.npz   images: uint8 (N, 32, 32, 3) RGB   [labels: int64 (N,)]

``root`` is ``$INPAINT_DATA``, defaulting to ``data/`` in the repository. Files are read with
``allow_pickle=False``. Models see float tensors (B, 3, 32, 32) in [-1, 1]:
``x = pixel / 127.5 - 1``.
"""

from .store import (DATASETS, DataError, DatasetNotFound, data_root, dataset_path, held_out_split, load_split,
                    save_split, validate_images)
from .tensors import to_float, to_uint8
from .loader import BatchLoader, ImageDataset, make_loader
from .sample import SAMPLE_PHOTOS, build_sample

__all__ = [
    "DATASETS", "DataError", "DatasetNotFound", "data_root", "dataset_path", "held_out_split", "load_split", "save_split",
    "validate_images", "to_float", "to_uint8", "BatchLoader", "ImageDataset", "make_loader",
    "SAMPLE_PHOTOS", "build_sample",
]
