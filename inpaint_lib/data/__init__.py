"""Data sets in the course's canonical format, the embedded ``sample`` set, converters, loaders.

Canonical format (every loader and converter reads or writes it)::

    <root>/<dataset>/<split>.npz   images: uint8 (N, 32, 32, 3) RGB   [labels: int64 (N,)]

``root`` is ``$INPAINT_DATA``, defaulting to ``data/`` in the repository. Files are read with
``allow_pickle=False``. Models see float tensors (B, 3, 32, 32) in [-1, 1]:
``x = pixel / 127.5 - 1``.
"""

from .loader import BatchLoader, ImageDataset, make_loader
from .sample import SAMPLE_PHOTOS, build_sample  # importing it registers the sample set's builder with the store
from .store import (
    DATASETS,
    DataError,
    DatasetInfo,
    DatasetNotFound,
    data_root,
    dataset_path,
    held_out_split,
    load_split,
    register_builder,
    save_split,
    validate_images,
)
from .tensors import to_float, to_uint8

__all__ = [
    "DATASETS", "DataError", "DatasetInfo", "DatasetNotFound", "data_root", "dataset_path", "held_out_split",
    "load_split", "register_builder", "save_split", "validate_images", "to_float", "to_uint8", "BatchLoader",
    "ImageDataset", "make_loader", "SAMPLE_PHOTOS", "build_sample",
]
