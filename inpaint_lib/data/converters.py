"""Converters from the published forms of each data set to the canonical npz store.

Every converter writes ``<root>/<name>/<split>.npz`` (uint8 (N, 32, 32, 3) RGB, int64 labels
where the source has them), shows a progress bar, and never unpickles anything. A source that is
not there, or is not what the converter reads (an empty or damaged archive, a file where a folder
belongs), stops it with one :class:`DataError` line naming the path and what to give instead.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .store import NPZ_READ_ERRORS, DataError, data_root, dataset_path, read_npz, save_split

__all__ = [
    "planar_to_images", "convert_imagenet32", "convert_tinyimagenet", "convert_cifar10", "import_npz", "CONVERTERS",
]


def _existing(src: str | os.PathLike, what: str) -> Path:
    """``src`` as a path, or a :class:`DataError` when nothing is there; ``what`` is what to give instead."""
    src = Path(src)
    if not src.exists():
        raise DataError(f"{src} does not exist; give {what}")
    return src


def _not_an_archive(src: Path, kind: str, fix: str) -> DataError:
    return DataError(f"{src} is not a readable {kind} archive ({src.stat().st_size:,} bytes: empty, truncated or "
                     f"another format); {fix}")


def _rgb32(image: Image.Image) -> np.ndarray:
    """RGB (grayscale repeated), shrunk to 32x32 with the box filter (an exact 2x2 mean for 64x64)."""
    image = image.convert("RGB")
    if image.size != (32, 32):
        image = image.resize((32, 32), Image.BOX)
    return np.asarray(image, dtype=np.uint8)


# ---- imagenet32 ------------------------------------------------------------------------------

IMAGENET32_SOURCES = ("the folder of the npz batches (train_data_batch_*.npz, val_data.npz) or of the unpacked "
                      "PNG tarballs (train_32x32/, valid_32x32/)")


def _imagenet32_folder(src: str | os.PathLike) -> Path:
    src = _existing(src, IMAGENET32_SOURCES)
    if not src.is_dir():
        raise DataError(f"{src} is a file, but imagenet32 is converted from a folder (unpack the downloaded "
                        f"tarballs first): give {IMAGENET32_SOURCES}")
    return src


def planar_to_images(data: np.ndarray) -> np.ndarray:
    """(N, 3072) rows laid out R plane, G plane, B plane (each 32x32 row-major) -> (N, 32, 32, 3)."""
    if data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"expected 'data' of shape (N, 3072) (channel-planar 32x32x3), got {data.shape}")
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)).astype(np.uint8)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            data, labels = npz["data"], npz["labels"]
    except NPZ_READ_ERRORS as err:
        raise DataError(f"{path} is not a readable imagenet32 batch ({type(err).__name__}: {str(err)[:80]})") from None
    return planar_to_images(data), np.asarray(labels, dtype=np.int64) - 1  # published labels are 1..1000


def _convert_imagenet32_npz(src: str | os.PathLike, root=None) -> dict[str, Path]:
    """``train_data_batch_1..10.npz`` and ``val_data.npz`` (Chrabaszcz et al. 2017) -> train / val.

    Labels become 0..999 (the files store 1..1000).
    """
    src = _imagenet32_folder(src)
    batches = sorted(src.glob("train_data_batch_*.npz"), key=lambda p: int(re.findall(r"\d+", p.name)[-1]))
    found = {"train": batches, "val": [src / "val_data.npz"] if (src / "val_data.npz").exists() else []}
    if not any(found.values()):
        raise DataError(f"{src} holds no train_data_batch_*.npz or val_data.npz; "
                        "point at the folder of the npz batches")
    written = {}
    for split, files in found.items():
        if not files:
            continue
        parts = [_read_batch(p) for p in tqdm(files, desc=f"imagenet32 {split}", unit="file")]
        written[split] = save_split(dataset_path("imagenet32", split, root), np.concatenate([p[0] for p in parts]),
                                    np.concatenate([p[1] for p in parts]))
    return written


def _convert_imagenet32_png(src: str | os.PathLike, root=None) -> dict[str, Path]:
    """The image-net.org/small PNG folders ``train_32x32/`` and ``valid_32x32/`` -> train / val (no labels)."""
    src = _imagenet32_folder(src)
    written = {}
    for split, folder in (("train", "train_32x32"), ("val", "valid_32x32")):
        files = sorted((src / folder).glob("*.png"))
        if files:
            images = np.stack([_rgb32(Image.open(f)) for f in tqdm(files, desc=f"imagenet32 {split}", unit="img")])
            written[split] = save_split(dataset_path("imagenet32", split, root), images)
    if not written:
        raise DataError(f"{src} holds no train_32x32/*.png or valid_32x32/*.png; "
                        "point at the unpacked tarballs' folder")
    return written


def convert_imagenet32(src: str | os.PathLike, root=None) -> dict[str, Path]:
    """Either published form of imagenet32, recognised by its file names."""
    src = Path(src)
    if list(src.glob("*_data*.npz")):
        return _convert_imagenet32_npz(src, root)
    return _convert_imagenet32_png(src, root)


# ---- tinyimagenet32 ---------------------------------------------------------------------------

TINYIMAGENET_SOURCES = "the tiny-imagenet-200 folder or tiny-imagenet-200.zip (Stanford CS231n)"


class _Tree:
    """Read files of a folder or of a zip archive by their path below ``tiny-imagenet-200/``."""

    def __init__(self, src: Path):
        src = _existing(src, TINYIMAGENET_SOURCES)
        self.zip = None
        if src.is_file():
            try:
                self.zip = zipfile.ZipFile(src)
            except zipfile.BadZipFile:
                raise _not_an_archive(src, "zip", "download tiny-imagenet-200.zip again, or give the unpacked "
                                                  "tiny-imagenet-200 folder") from None
        names = self.zip.namelist() if self.zip else [str(p.relative_to(src)) for p in src.rglob("*") if p.is_file()]
        prefix = next((n[: n.index("wnids.txt")] for n in names if n.endswith("wnids.txt")), None)
        if prefix is None:
            raise DataError(f"{src} is not a tiny-imagenet-200 folder or zip (no wnids.txt found)")
        self.src, self.prefix = src, prefix
        self.names = {n[len(prefix):] for n in names if n.startswith(prefix)}

    def read(self, name: str) -> bytes:
        if name not in self.names:
            raise DataError(f"{self.src} has no {self.prefix}{name}; the download or unpacking is incomplete: "
                            "get tiny-imagenet-200 again")
        return self.zip.read(self.prefix + name) if self.zip else (self.src / (self.prefix + name)).read_bytes()


def convert_tinyimagenet(src: str | os.PathLike, root=None) -> dict[str, Path]:
    """CS231n ``tiny-imagenet-200`` (folder or zip): 64x64 JPEGs box-downsampled to 32x32.

    ``train/<wnid>/images/*.JPEG`` -> train, ``val/images`` with ``val/val_annotations.txt`` -> val.
    The label is the class's index in sorted WordNet-id order.
    """
    tree = _Tree(src)
    wnids = sorted(tree.read("wnids.txt").decode().split())
    label_of = {w: i for i, w in enumerate(wnids)}
    train = sorted(n for n in tree.names if n.startswith("train/") and n.endswith(".JPEG"))
    val_rows = [line.split("\t") for line in tree.read("val/val_annotations.txt").decode().splitlines() if line.strip()]
    splits = {"train": [(n, label_of[n.split("/")[1]]) for n in train],
              "val": [(f"val/images/{row[0]}", label_of[row[1]]) for row in sorted(val_rows)]}
    written = {}
    for split, items in splits.items():
        if not items:
            continue
        images = np.stack([_rgb32(Image.open(io.BytesIO(tree.read(name))))
                           for name, _ in tqdm(items, desc=f"tinyimagenet32 {split}", unit="img")])
        labels = np.array([lab for _, lab in items])
        written[split] = save_split(dataset_path("tinyimagenet32", split, root), images, labels)
    return written


# ---- cifar10 -----------------------------------------------------------------------------------

CIFAR10_BINARY_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_BINARY_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"


def _read_cifar10_binary(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch: records of 1 label byte + 3072 channel-planar pixel bytes."""
    if len(raw) % 3073:
        raise DataError(f"a CIFAR-10 binary batch has a multiple of 3073 bytes, this one has {len(raw)}: truncated?")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
    return planar_to_images(records[:, 1:]), records[:, 0].astype(np.int64)


def convert_cifar10(src: str | os.PathLike | None = None, root=None, download: bool = False) -> dict[str, Path]:
    """CIFAR-10 from its *binary* release (no pickle): ``data_batch_1..5.bin`` -> train, ``test_batch.bin`` -> test.

    ``src`` is the tarball or its unpacked folder; with ``download`` torchvision's downloader
    fetches the tarball (checked by MD5) into ``<root>/cifar10/raw``.
    """
    if download:
        from torchvision.datasets.utils import download_url
        raw_dir = data_root(root) / "cifar10" / "raw"
        download_url(CIFAR10_BINARY_URL, str(raw_dir), md5=CIFAR10_BINARY_MD5)
        src = raw_dir / Path(CIFAR10_BINARY_URL).name
    if src is None:
        raise DataError("give the CIFAR-10 binary tarball or folder, or pass --download")
    src = _existing(src, "the CIFAR-10 binary tarball (cifar-10-binary.tar.gz) or its unpacked folder, "
                         "or pass --download")
    if src.is_file():
        try:
            with tarfile.open(src) as tar:
                files = {Path(m.name).name: tar.extractfile(m).read() for m in tar.getmembers()
                         if m.name.endswith(".bin")}
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile):
            raise _not_an_archive(src, "tar", "download cifar-10-binary.tar.gz again (or pass --download), or give "
                                              "the unpacked folder") from None
    else:
        files = {p.name: p.read_bytes() for p in src.rglob("*.bin")}
    plan = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
    written = {}
    for split, names in plan.items():
        present = [n for n in names if n in files]
        if present:
            parts = [_read_cifar10_binary(files[n]) for n in tqdm(present, desc=f"cifar10 {split}", unit="file")]
            written[split] = save_split(dataset_path("cifar10", split, root), np.concatenate([p[0] for p in parts]),
                                        np.concatenate([p[1] for p in parts]))
    if not written:
        raise DataError(f"{src} holds no CIFAR-10 binary batches (data_batch_*.bin, test_batch.bin)")
    return written


# ---- the canonical npz itself ----------------------------------------------------------------

def import_npz(src: str | os.PathLike, name: str, split: str, root=None) -> Path:
    """Check an npz already in the canonical format and copy it to ``<root>/<name>/<split>.npz``."""
    src = _existing(src, "the path of a canonical npz file")
    if not src.is_file():
        raise DataError(f"{src} is a folder; give the path of a canonical npz file in it")
    images, labels = read_npz(src)
    return save_split(dataset_path(name, split, root), images, labels)


CONVERTERS = {"imagenet32": convert_imagenet32, "tinyimagenet32": convert_tinyimagenet, "cifar10": convert_cifar10}
