"""Shared fixtures: where ../shared is, real data when CI provides it, and the small data, images and
models that several test files build.

Data roots: ``data_root`` (empty, per test), ``tiny_root`` (two tiny data sets, per session),
``real_data_root`` (Tiny ImageNet 32, from ../shared). Images: ``random_images`` (uniform noise in
[-1, 1]) and ``smooth_images`` (learnable colour ramps, uint8). Models: ``tiny_pixelcnnpp``.
The image and model fixtures are factories: call them with the sizes and seeds a test needs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

torch.set_num_threads(min(2, torch.get_num_threads()))


def shared_dir() -> Path:
    return Path(os.environ.get("INPAINT_SHARED") or REPO.parent / "shared")


def _need(path: Path, what: str) -> Path:
    """Return ``path``; skip when it is absent on a student's machine, fail when CI must have it."""
    if path.exists():
        return path
    if os.environ.get("INPAINT_REQUIRE_SHARED") == "1":
        pytest.fail(f"{what} is missing at {path}, and INPAINT_REQUIRE_SHARED=1 says it must be there")
    pytest.skip(f"{what} is not at {path} (it comes with the course's shared folder)")


@pytest.fixture(scope="session")
def golden_path() -> Path:
    """The reference discretized-logistic-mixture inputs and outputs (../shared/reference/dmol_golden.npz)."""
    return _need(shared_dir() / "reference" / "dmol_golden.npz", "the golden likelihood file")


@pytest.fixture(scope="session")
def real_data_root() -> Path:
    """A data root holding tinyimagenet32 ($INPAINT_DATA in CI)."""
    root = Path(os.environ.get("INPAINT_DATA") or shared_dir() / "data")
    _need(root / "tinyimagenet32" / "val.npz", "Tiny ImageNet 32")
    return root


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    """An empty data root, made $INPAINT_DATA for the test."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("INPAINT_DATA", str(root))
    return root


# ---------------------------------------------------------------- images


def make_random_images(n: int, size: int = 32, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(n, 3, size, size)`` uniform in [-1, 1] (the models' input range), from a generator of its own."""
    return (torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1).to(dtype)


def make_smooth_images(n: int, seed: int) -> np.ndarray:
    """``(n, 32, 32, 3)`` uint8: horizontal colour ramps plus a little noise (the lower half follows from the upper)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 32)[None, :, None, None]
    left, right = rng.uniform(0, 255, (n, 1, 1, 3)), rng.uniform(0, 255, (n, 1, 1, 3))
    images = left * (1 - t) + right * t + rng.normal(0, 4, (n, 32, 32, 3))
    return np.clip(images, 0, 255).astype(np.uint8)


@pytest.fixture
def random_images():
    """Factory: ``random_images(n, size=32, seed=0, dtype=torch.float32)``, noise images in [-1, 1]."""
    return make_random_images


@pytest.fixture
def smooth_images():
    """Factory: ``smooth_images(n, seed)``, uint8 colour ramps (as stored in a data set) that a model can learn."""
    return make_smooth_images


# ---------------------------------------------------------------- data sets


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A data root (read-only by convention: it is shared by the whole session) with two tiny data sets:

    - ``sample``: 48 train and 16 test images of :func:`make_smooth_images` (seeds 0 and 1), for Pix2Pix;
    - ``cifar10``: 64 train and 16 test images of 8x8 colour blocks plus noise, for PixelCNN++.
    """
    from inpaint_lib.data import save_split

    root = tmp_path_factory.mktemp("tiny_data")
    save_split(root / "sample" / "train.npz", make_smooth_images(48, 0))
    save_split(root / "sample" / "test.npz", make_smooth_images(16, 1))
    rng = np.random.default_rng(0)
    for split, n in (("train", 64), ("test", 16)):
        base = rng.integers(0, 256, (n, 4, 4, 3)).astype(np.float64)
        images = np.kron(base, np.ones((1, 8, 8, 1))) + rng.normal(0, 8, (n, 32, 32, 3))
        save_split(root / "cifar10" / f"{split}.npz", np.clip(images, 0, 255).astype(np.uint8))
    return root


# ---------------------------------------------------------------- models


@pytest.fixture
def tiny_pixelcnnpp():
    """Factory: a small PixelCNN++ in eval mode, its weights drawn after ``torch.manual_seed(seed)``.

    ``tiny_pixelcnnpp(nr_resnet=1, nr_filters=8, nr_logistic_mix=3, image_size=32, dtype=torch.float32,
    seed=0, **other_settings)``; call ``.train()`` on it for training mode.
    """

    def make(nr_resnet: int = 1, nr_filters: int = 8, nr_logistic_mix: int = 3, image_size: int = 32,
             dtype: torch.dtype = torch.float32, seed: int = 0, **settings):
        from inpaint_lib.pixelcnnpp import PixelCNNpp

        torch.manual_seed(seed)
        model = PixelCNNpp(nr_resnet=nr_resnet, nr_filters=nr_filters, nr_logistic_mix=nr_logistic_mix,
                           image_size=image_size, **settings)
        return model.to(dtype).eval()

    return make


# ---------------------------------------------------------------- device synchronisations


@pytest.fixture
def count_host_reads(monkeypatch):
    """Context manager factory: ``with count_host_reads() as reads: ...`` lists every tensor value read
    back to the host (``item``, ``bool``, ``tolist``: each a device synchronisation on a GPU) in the block."""
    import contextlib

    @contextlib.contextmanager
    def counting():
        reads: list[str] = []
        with monkeypatch.context() as patch:
            for name in ("item", "__bool__", "tolist"):
                original = getattr(torch.Tensor, name)

                def read(self, *args, _name=name, _original=original):
                    reads.append(_name)
                    return _original(self, *args)
                patch.setattr(torch.Tensor, name, read)
            yield reads
    return counting
