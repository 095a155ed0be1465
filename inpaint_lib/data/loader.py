"""Batches of model inputs: float tensors (B, 3, 32, 32) in [-1, 1].

32x32 images are small enough to keep a whole split in memory as uint8 (30,000 images are
92 MB), so :class:`BatchLoader` indexes that tensor directly: no worker processes, no per-item
Python calls, and a shuffle that is reproducible from ``(seed, epoch)`` alone, which is what
exact resumption needs. :class:`ImageDataset` is the same data as a ``torch.utils.data.Dataset``
for code that wants a ``DataLoader`` (for example with a ``DistributedSampler``).
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .store import load_split, validate_images
from .tensors import to_float

__all__ = ["ImageDataset", "BatchLoader", "make_loader"]


def _subset(images: np.ndarray, subset: int | None, seed: int) -> np.ndarray:
    if subset is None or subset >= len(images):
        return images
    if subset <= 0:
        raise ValueError(f"subset must be a positive number of images, got {subset}")
    keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:subset]
    return images[np.sort(keep.numpy())]


class ImageDataset(torch.utils.data.Dataset):
    """Item ``i`` is image ``i`` as a float tensor (3, 32, 32) in [-1, 1]."""

    def __init__(self, images: np.ndarray):
        self.images = torch.from_numpy(validate_images(images))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_float(self.images[index: index + 1])[0]


class BatchLoader:
    """Iterate over ``images`` in batches of float tensors (B, 3, 32, 32) in [-1, 1].

    With ``shuffle`` the order of epoch ``e`` is ``randperm(N)`` from a generator seeded with
    ``seed + e``; call :meth:`set_epoch` before iterating (training loops do). With several
    processes (``world_size`` > 1), global batch ``j`` is cut exactly as for one process and
    process ``rank`` takes its rows ``rank::world_size``: the processes together see what one
    process would, which is what makes data-parallel training equal to single-process training.
    """

    def __init__(self, images: np.ndarray, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, device: str | torch.device = "cpu", rank: int = 0, world_size: int = 1):
        if batch_size <= 0 or batch_size % world_size:
            raise ValueError(f"batch_size must be a positive multiple of the {world_size} processes, got {batch_size}")
        self.images = torch.from_numpy(validate_images(images))
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.drop_last, self.device = drop_last, torch.device(device)
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> torch.Tensor:
        """The indices of the current epoch, in the order all processes together visit them."""
        n = len(self.images)
        if not self.shuffle:
            return torch.arange(n)
        return torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + self.epoch))

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batches(self, start: int = 0):
        """The batches of the current epoch from batch number ``start`` on (a resumed run skips the rest)."""
        order = self.order()
        for number in range(start, len(self)):
            rows = order[number * self.batch_size: (number + 1) * self.batch_size][self.rank::self.world_size]
            yield to_float(self.images[rows].to(self.device, non_blocking=True))

    def __iter__(self):
        return self.batches()


def make_loader(dataset: str, split: str, batch_size: int, shuffle: bool = True, subset: int | None = None,
                seed: int = 0, drop_last: bool = False, root: str | os.PathLike | None = None,
                device: str | torch.device = "cpu", rank: int = 0, world_size: int = 1) -> BatchLoader:
    """A :class:`BatchLoader` over ``dataset``/``split``; ``subset`` keeps a seeded random subset of that size."""
    images = _subset(load_split(dataset, split, root), subset, seed)
    return BatchLoader(images, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last, device=device,
                       rank=rank, world_size=world_size)
