"""Shared fixtures: where ../shared is, and real data when CI provides it."""

from __future__ import annotations

import os
from pathlib import Path

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
    """The reference discretized-logistic-mixture inputs and outputs (DESIGN.md)."""
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
