"""Naive inpainting methods: the floor every model in the course must clear.

Each baseline is an inpainting *method*: called as ``method(masked_images, mask)`` with float
images (B, 3, H, W) in [-1, 1] whose missing pixels hold the fill value, and a mask (True =
missing), it returns a full prediction (B, 3, H, W); only its missing pixels are used.
"""

from __future__ import annotations

import torch

from .masks import broadcast_mask, check_mask

__all__ = ["MeanColour", "RepeatLastRow", "MirrorUpperHalf", "NearestNeighbour", "make_baselines"]


class MeanColour:
    """Fill every missing pixel with the training set's mean colour (one RGB value)."""

    name = "mean colour"

    def __init__(self, train_images: torch.Tensor):
        self.colour = train_images.float().mean(dim=(0, 2, 3))

    def __call__(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.colour.to(masked)[None, :, None, None].expand_as(masked).clone()


class RepeatLastRow:
    """Each missing pixel copies the nearest known pixel above it in its column.

    For the lower-half mask every lower row repeats row H/2 - 1. A missing pixel with no known
    pixel above it keeps its fill value.
    """

    name = "repeat last row"

    def __call__(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        known = ~broadcast_mask(mask, masked).expand(masked.shape[0], 1, *masked.shape[2:])
        rows = torch.arange(masked.shape[2], device=masked.device)[None, None, :, None]
        # index of the last known row at or above each row: a running maximum of known row indices
        last_known = torch.where(known, rows, torch.full_like(rows, -1)).cummax(dim=2).values
        source = last_known.clamp_min(0).expand_as(masked)
        filled = masked.gather(2, source)
        return torch.where(last_known.expand_as(masked) >= 0, filled, masked)


class MirrorUpperHalf:
    """Reflect the image about its horizontal midline: row r is filled from row H - 1 - r."""

    name = "mirror upper half"

    def __call__(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return masked.flip(-2)


class NearestNeighbour:
    """Copy the missing region from the training image whose known region is closest (L2).

    ``argmin_j ||known(x) - known(train_j)||^2`` with ``||a - b||^2 = ||a||^2 - 2 a.b + ||b||^2``,
    batched as one matrix product per chunk of queries. The mask must be one (H, W) mask for the
    whole batch, since the comparison uses the same pixels of every training image.
    """

    name = "nearest neighbour"

    def __init__(self, train_images: torch.Tensor, chunk: int = 256):
        self.train = train_images.float()
        self.chunk = chunk
        self._cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def _train_features(self, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._cache is None or not torch.equal(self._cache[0], mask):
            known = (~mask).expand(3, *mask.shape)
            features = self.train[:, known]
            self._cache = (mask.clone(), features, features.square().sum(1))
        return self._cache[1], self._cache[2]

    def neighbours(self, masked: torch.Tensor, mask: torch.Tensor, k: int = 1) -> torch.Tensor:
        """The ``k`` training images whose known regions are closest, nearest first: (k, B, 3, H, W).

        Their missing regions are ``k`` plausible completions: notebook 02 takes their median,
        notebook 03 their spread.
        """
        if check_mask(mask, masked).dim() != 2:
            raise ValueError("nearest neighbour needs one (H, W) mask shared by the batch, "
                             f"got shape {tuple(mask.shape)}")
        mask = mask.cpu()
        train_features, train_sq = self._train_features(mask)
        queries = masked.float().cpu()[:, (~mask).expand(3, *mask.shape)]
        nearest = torch.cat([
            (train_sq[None] - 2 * q @ train_features.T).topk(k, dim=1, largest=False).indices  # ||q||^2: same for all j
            for q in queries.split(self.chunk)])
        return self.train[nearest.T].to(masked)

    def __call__(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.neighbours(masked, mask, k=1)[0]


def make_baselines(train_images: torch.Tensor) -> dict:
    """Every baseline, fitted on ``train_images`` (float (N, 3, H, W) in [-1, 1]), by name."""
    methods = [MeanColour(train_images), RepeatLastRow(), MirrorUpperHalf(), NearestNeighbour(train_images)]
    return {m.name: m for m in methods}
