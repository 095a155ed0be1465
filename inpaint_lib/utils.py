"""Seeding, devices and threads, the repository's paths, atomic file writes, progress bars.

The small services every other module uses; this module imports nothing else of the course.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import random
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import torch
from tqdm import tqdm

__all__ = [
    "seed_everything", "pick_device", "native_bf16", "describe_machine", "set_cpu_threads", "REPO_ROOT",
    "atomic_write", "full_float32", "QUIET_REFRESH_S", "progress_bar", "run_dir", "check_parameters",
]


def seed_everything(seed: int) -> torch.Generator:
    """Seed python's ``random``, numpy and torch (CPU and CUDA) with ``seed``.

    Returns a CPU ``torch.Generator`` seeded the same way, for code that wants its own
    stream of random numbers (data shuffling, sampling) independent of global state.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else CPU; otherwise ``name`` is used as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here; use device='cpu' or 'auto'")
    return device


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # not Linux
        return frozenset()
    return next((frozenset(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), frozenset())


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` does bfloat16 arithmetic in hardware, so that bf16 autocast speeds it up.

    CUDA: GPUs from Ampere on. CPU: the AVX512-BF16 or AMX-BF16 instructions (recent Xeon and
    EPYC processors; read from /proc/cpuinfo, so Linux only). Without them oneDNN emulates bf16
    and autocast would slow the CPU down, so the trainers then stay in float32.
    """
    if device.type == "cuda":
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # older torch: no emulation argument
            return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())
    return False


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # not Linux
        return platform.processor() or platform.machine()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())


def describe_machine() -> dict:
    """The machine a figure is measured on: uname, CPU model, cores, bf16 in hardware, the GPU when there is one."""
    info = {"uname": " ".join(platform.uname()), "processor": platform.processor() or platform.machine(),
            "cpu_model": _cpu_model(), "cpu_count": os.cpu_count(), "cpu_bf16": native_bf16(torch.device("cpu"))}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def set_cpu_threads(threads: int | None = None) -> int:
    """Use ``threads`` intra-op threads on the CPU (default: ``$INPAINT_THREADS`` or torch's own).

    Returns the number now in use.
    """
    if threads is None and os.environ.get("INPAINT_THREADS"):
        threads = int(os.environ["INPAINT_THREADS"])
    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


REPO_ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Open ``path`` for writing so that it is replaced whole or not at all.

    The bytes go to a temporary file in the same folder (a unique name, so two writers never
    share one), are flushed and ``fsync``-ed to disk, and the file is then renamed over ``path``
    (``os.replace`` is atomic). A crash or an exception while writing leaves the old file as it
    was and no temporary file behind::

        with atomic_write(run / "checkpoint.pt") as f:
            torch.save(state, f)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """Run a block in true float32 on CUDA: no TF32 in cuDNN convolutions or matrix products.

    GPUs from Ampere on run float32 convolutions as TF32 by default (a 10-bit mantissa, about 3
    decimal digits), which is fine for training but not for a figure of record, nor for comparing
    two computations that must agree. The previous settings come back after the block; on a CPU
    the flags have no effect.
    """
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


# seconds between redraws of a progress bar that does not write to a terminal (a notebook, a log
# file): each redraw is kept in an executed notebook's output, so they are few
QUIET_REFRESH_S = 5.0


def progress_bar(total: float, desc: str, unit: str = "step", initial: float = 0, enabled: bool = True,
                 leave: bool = True) -> tqdm:
    """A tqdm bar that redraws often in a terminal and every few seconds anywhere else.

    In a notebook executed by papermill or nbval, or written to a log, each redraw stays in the
    output; at most one every :data:`QUIET_REFRESH_S` seconds keeps it a few lines long.
    """
    interactive = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled, leave=leave,
                dynamic_ncols=interactive, mininterval=0.1 if interactive else QUIET_REFRESH_S)


def run_dir(name: str, root: str | os.PathLike | None = None):
    """``runs/<name>/`` in the repository (or under ``root``), created: where a run writes everything."""
    path = Path(root) / name if root is not None else REPO_ROOT / "runs" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_parameters(namespace: dict, before: set, expected: list[str]) -> None:
    """Fail in one line when a notebook got a parameter it does not have.

    papermill only warns about an unknown ``-p name value`` and injects it anyway, where
    nothing reads it: a typo would silently run the defaults. ``before`` is ``set(globals())``
    taken just before the parameters cell (keep it in a name starting with "_"); every public
    name defined since must be expected.
    """
    unknown = sorted(n for n in set(namespace) - set(before) - set(expected) if not n.startswith("_"))
    if unknown:
        raise ValueError(f"unknown notebook parameter(s) {', '.join(unknown)}; this notebook takes "
                         f"{', '.join(expected)}")
