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
    "seed_everything", "pick_device", "DEVICES", "native_bf16", "synchronize", "has_float64", "storable_dtype",
    "to_host", "host_float64", "describe_machine", "set_cpu_threads", "REPO_ROOT",
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


DEVICES = ("auto", "cpu", "cuda", "mps")  # what pick_device accepts ("cuda:N" too)


def _mps_available() -> bool:
    """Whether an Apple GPU is usable (macOS 12.3+ on Apple silicon, a torch built with MPS)."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(name: str | torch.device = "auto") -> torch.device:
    """The device to compute on: ``"auto"`` picks a CUDA GPU, else an Apple GPU (MPS), else the CPU.

    Any other ``name`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) is used as given when this
    machine has it; otherwise a one-line ValueError says what it has. On an Apple GPU the course
    computes in float32 throughout: the device has no float64 (the library keeps float64 sums on
    the host) and no bf16 autocast (:func:`native_bf16`).
    """
    if isinstance(name, str) and name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    here = ", ".join(["'cpu'", *(["'cuda'"] if torch.cuda.is_available() else []),
                      *(["'mps'"] if _mps_available() else [])])
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        device = None
    if device is None or device.type not in DEVICES:
        raise ValueError(f"unknown device {name!r}; the course runs on 'auto', 'cpu', 'cuda' (or 'cuda:N') and 'mps', "
                         f"and this machine has {here}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here; use device='cpu' or 'auto' "
                         f"(this machine has {here})")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} CUDA GPU(s); "
                         f"use 'cuda:0' to 'cuda:{torch.cuda.device_count() - 1}' or 'auto'")
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"device {name!r} asked for, but no Apple GPU (MPS) is available here; use device='cpu' or "
                         f"'auto' (this machine has {here})")
    return device


def synchronize(device: torch.device | str) -> None:
    """Wait until ``device`` has done the work queued on it (CUDA, MPS; nothing to wait for on the CPU).

    A GPU runs asynchronously: time a block after this, or the clock measures only the launches.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def has_float64(device: torch.device | str) -> bool:
    """Whether ``device`` computes in float64: every device but an Apple GPU (MPS)."""
    return torch.device(device).type != "mps"


def storable_dtype(dtype: torch.dtype, device: torch.device | str) -> torch.dtype:
    """``dtype``, or float32 where it is float64 and ``device`` has no float64 (an Apple GPU)."""
    return torch.float32 if dtype == torch.float64 and not has_float64(device) else dtype


def to_host(t: torch.Tensor) -> torch.Tensor:
    """A copy of ``t`` on the CPU, detached: always a copy, also of a tensor already there.

    The library does its float64 bookkeeping (exact sums of many float32 values) on such copies only,
    never on the model's device: an Apple GPU has no float64, and the guard test
    (tests/test_device_portability.py) tells host copies from device tensors by this explicit copy.
    """
    return t.detach().to("cpu", copy=True)


def host_float64(t: torch.Tensor) -> torch.Tensor:
    """``t`` copied to the CPU (:func:`to_host`), then in float64: where exact sums of device values are made."""
    return to_host(t).double()


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
    An Apple GPU (MPS): False. Its bf16 autocast is recent and little measured, so the trainers
    stay in float32 there (they never use float16 autocast, which would need a gradient scaler).
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
    elif _mps_available():
        info["gpu"] = "Apple GPU (MPS)"
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


class _QuietBar(tqdm):
    """A tqdm bar for output that keeps every write (an executed notebook, a log file).

    There a redraw cannot replace the one before: Jupyter stores each write as its own stream
    output, and a site built from the notebook (myst-nb merges a cell's streams, one line each)
    shows every one, so a bar that drew ``0%`` at its start and cleared itself at its end
    (``leave=False``) left a frozen ``0%`` line behind. This bar draws nothing in its first
    :data:`QUIET_REFRESH_S` seconds (``delay``), then with an interval that doubles after every
    redraw (5, 10, 20, 40 s, ...: a bar of T seconds leaves about log2(T / 5) lines, ten for an
    hour), and ends on one complete line when ``leave`` is True or when it has drawn anything; a
    ``leave=False`` bar that finishes within the delay writes nothing at all.
    """

    def display(self, *args, **kwargs):
        shown = super().display(*args, **kwargs)
        self.mininterval *= 2
        return shown

    def close(self) -> None:
        if not self.disable and hasattr(self, "last_print_t"):
            shown = self.last_print_t >= self.start_t + self.delay
            if self.leave or shown:
                self.leave, self.delay = True, 0  # draw the final state once, on its own line
        super().close()


def progress_bar(total: float, desc: str, unit: str = "step", initial: float = 0, enabled: bool = True,
                 leave: bool = True, unit_scale: bool = False) -> tqdm:
    """A tqdm bar that redraws often in a terminal and every few seconds anywhere else.

    In a notebook executed by papermill or nbval, or written to a log, each redraw stays in the
    output: the bar then waits :data:`QUIET_REFRESH_S` seconds before its first redraw, redraws ever
    less often (the interval doubles each time), and ends on one final line (none for a short
    ``leave=False`` bar), so a quick loop leaves at most that line and no frozen ``0%``.
    ``unit_scale`` shows large counts with SI prefixes (``unit="B"``: kB, MB, GB).
    """
    interactive = sys.stderr.isatty()
    bar = tqdm if interactive else _QuietBar
    return bar(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled, leave=leave,
               unit_scale=unit_scale, dynamic_ncols=interactive,
               mininterval=0.1 if interactive else QUIET_REFRESH_S, delay=0 if interactive else QUIET_REFRESH_S)


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
