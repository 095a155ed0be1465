"""What every benchmark records beside its figures: the machine, and one JSON line per run."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # not Linux
        return platform.processor() or platform.machine()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())


def machine() -> dict:
    """The machine a figure was measured on: uname, CPU model, cores, bf16 in hardware, the GPU when there is one."""
    from inpaint_lib.utils import native_bf16
    info = {"uname": " ".join(platform.uname()), "processor": platform.processor() or platform.machine(),
            "cpu_model": _cpu_model(), "cpu_count": os.cpu_count(), "cpu_bf16": native_bf16(torch.device("cpu"))}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def append_result(path: Path, result: dict) -> None:
    """Append ``result`` as one JSON line to ``path`` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(result) + "\n")


def report(path: Path, result: dict, record: bool = True) -> None:
    """Print ``result`` as one JSON line and, when ``record``, append it to ``path``."""
    print(json.dumps(result))
    if record:
        append_result(path, result)
