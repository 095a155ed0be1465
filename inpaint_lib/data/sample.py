"""The embedded ``sample`` data set: 32x32 crops of the photographs scikit-image ships.

No download, ever: the photographs are files inside the installed ``scikit-image`` package.
The recipe is fixed, so every machine builds the same images:

- photographs: :data:`SAMPLE_PHOTOS` (the colour photos in ``skimage/data``; the stereo twin
  ``motorcycle_right`` and the synthetic charts are left out);
- split by place, so no test pixel was ever seen in training: in each photograph the crops
  lying entirely in the rightmost :data:`TEST_FRACTION` of the columns form ``test``, crops
  lying entirely left of that line form ``train``, crops across it are dropped;
- photographs larger than :data:`MAX_SIDE` pixels are first shrunk to it (box filter), so the
  big retina and Hubble images do not swamp the others;
- several scales: square windows of :data:`WINDOWS` pixels on a grid with stride
  window / 2, each shrunk to 32x32 with PIL's box filter (a plain average of the pixels
  under each output pixel);
- near-constant crops (pixel standard deviation below :data:`MIN_STD` on the 0..255 scale:
  black sky, background) are dropped;
- each split is put in a fixed pseudo-random order (numpy ``default_rng(0)``), so its first
  N images are a fair subset.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .store import register_builder, save_split

__all__ = ["SAMPLE_PHOTOS", "sample_arrays", "build_sample"]

SAMPLE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
                 "motorcycle_left.png", "retina.jpg", "rocket.jpg")
WINDOWS = (32, 48, 64, 96, 128)
TEST_FRACTION = 0.2
MIN_STD = 6.0
MAX_SIDE = 640


def _photo_folder() -> Path:
    """``skimage/data`` inside the installed scikit-image (found without importing it)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the sample data set is cut from scikit-image's photographs, but scikit-image "
                                  "is not installed; run `make venv` (or pip install -r requirements.lock)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _crops_of(photo: Image.Image, window: int, columns: tuple[int, int]) -> list[np.ndarray]:
    """All ``window``-sized squares on a stride-``window/2`` grid inside ``columns`` [start, stop), as 32x32."""
    stride = window // 2
    width, height = photo.size
    out = []
    for top in range(0, height - window + 1, stride):
        for left in range(columns[0], columns[1] - window + 1, stride):
            crop = photo.crop((left, top, left + window, top + window))
            if window != 32:
                crop = crop.resize((32, 32), Image.BOX)
            pixels = np.asarray(crop, dtype=np.uint8)
            if pixels.std() >= MIN_STD:
                out.append(pixels)
    return out


def sample_arrays() -> dict[str, np.ndarray]:
    """Build the ``train`` and ``test`` image arrays, uint8 (N, 32, 32, 3), from the recipe above."""
    splits: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    folder = _photo_folder()
    for name in tqdm(SAMPLE_PHOTOS, desc="building the sample data set", leave=False):
        photo = Image.open(folder / name).convert("RGB")
        if max(photo.size) > MAX_SIDE:
            scale = MAX_SIDE / max(photo.size)
            photo = photo.resize((round(photo.size[0] * scale), round(photo.size[1] * scale)), Image.BOX)
        width = photo.size[0]
        boundary = int(round(width * (1 - TEST_FRACTION)))
        for window in WINDOWS:
            splits["train"] += _crops_of(photo, window, (0, boundary))
            splits["test"] += _crops_of(photo, window, (boundary, width))
    arrays = {}
    for split, crops in splits.items():
        images = np.stack(crops)
        arrays[split] = images[np.random.default_rng(0).permutation(len(images))]
    return arrays


def build_sample(root: Path) -> dict[str, Path]:
    """Write ``<root>/sample/{train,test}.npz`` and return their paths."""
    return {split: save_split(Path(root) / "sample" / f"{split}.npz", images)
            for split, images in sample_arrays().items()}


register_builder("sample", build_sample)
