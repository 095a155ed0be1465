"""Setting up the course on a student's machine: which systems and Pythons it supports, and ``.venv``.

    python -m inpaint_lib.course.install [--cpu]    # .venv with the pinned stack (what `make venv` runs)
    python -m inpaint_lib.course.install --check    # is the Python running this one the course supports?
    python -m inpaint_lib.course.install --check-lock   # does requirements.lock resolve on every supported platform?

Run it with the Python the course should use (``py -3.12 -m inpaint_lib.course.install`` on Windows,
``python3.13 -m ...`` elsewhere), from the repository's root. It needs the standard library only: it
is the first thing run on a fresh machine, before torch is installed.

One lock, ``requirements.lock``, serves every supported platform: a *universal* requirements file
(``uv pip compile --universal``), whose platform-specific lines carry environment markers (the CUDA
libraries ``; sys_platform == 'linux'``, ``colorama ; sys_platform == 'win32'``), so that pip, uv and
conda's pip section all install it. ``--cpu`` leaves out the CUDA libraries and takes torch's CPU
build from PyTorch's own wheel index (Linux; on macOS and Windows the PyPI wheels are CPU builds).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

__all__ = ["SUPPORTED_PYTHONS", "PLATFORMS", "UNSUPPORTED_PLATFORMS", "UV_VERSION", "check_python", "check_platform",
           "cpu_requirements", "venv_python", "install_commands", "install", "check_lock", "main"]

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK = REPO_ROOT / "requirements.lock"
UV_VERSION = "0.13.9"
SUPPORTED_PYTHONS = ((3, 11), (3, 12), (3, 13))
# The support table: (row, uv's --python-platform, environment for the resolution). macOS 14 is the
# oldest macOS that torch's arm64 wheels (macosx_14_0_arm64) install on.
PLATFORMS = (
    ("Linux x86_64", "x86_64-manylinux_2_28", {}),
    ("Linux aarch64", "aarch64-manylinux_2_28", {}),
    ("macOS 14+ on Apple silicon", "aarch64-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": "14.0"}),
    ("Windows x86_64", "x86_64-pc-windows-msvc", {}),
)
# Platforms that the lock must *not* claim: PyTorch publishes no wheels of the pinned torch for them.
UNSUPPORTED_PLATFORMS = (
    ("macOS on Intel", "x86_64-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": "14.0"}),
    ("macOS 13 on Apple silicon", "aarch64-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": "13.0"}),
)
# Packages that only torch's CUDA build needs (the GPU runtime libraries and the GPU kernel compiler).
CUDA_ONLY_PREFIXES = ("nvidia-", "cuda-", "triton")
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _versions(pythons=SUPPORTED_PYTHONS) -> str:
    return ", ".join(f"{major}.{minor}" for major, minor in pythons)


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> None:
    """Raise ``SystemExit`` with one line unless ``version`` is a Python the course supports."""
    if tuple(version[:2]) not in SUPPORTED_PYTHONS:
        found = ".".join(map(str, version[:3]))
        raise SystemExit(f"Python {found} is not supported: the course needs Python {_versions()} (torch has wheels "
                         "for these); install one (python.org, your package manager) and run this with it")


def check_platform(system: str = platform.system(), machine: str = platform.machine(),
                   mac_release: str = platform.mac_ver()[0]) -> None:
    """Raise ``SystemExit`` with one line on a platform the pinned torch has no wheels for.

    ``system`` and ``machine`` as :func:`platform.system` and :func:`platform.machine` give them;
    ``mac_release`` as :func:`platform.mac_ver` (``"14.5"``).
    """
    machine = machine.lower()
    if system == "Darwin":
        if machine not in ("arm64", "aarch64"):
            raise SystemExit("macOS on an Intel processor is not supported: PyTorch publishes no wheels of current "
                             "torch for Intel Macs; use Colab (see the README) or a Linux or Windows machine")
        major = int(mac_release.split(".")[0]) if mac_release else 14
        if major < 14:
            raise SystemExit(f"macOS {mac_release} is not supported: torch's wheels for Apple silicon need macOS 14 "
                             "or newer; update macOS, or use Colab (see the README)")
    elif system == "Windows":
        if machine not in ("amd64", "x86_64"):
            raise SystemExit(f"Windows on {machine} is not supported: torch's Windows wheels are for x86_64 only; "
                             "use WSL or Colab (see the README)")
    elif system == "Linux":
        if machine not in ("x86_64", "aarch64", "arm64"):
            raise SystemExit(f"Linux on {machine} is not supported: torch has wheels for x86_64 and aarch64 only")
    else:
        raise SystemExit(f"{system} is not supported: the course runs on Linux, macOS 14+ (Apple silicon) and "
                         "Windows x86_64")


def cpu_requirements(lock_text: str) -> str:
    """The lock without the packages that only torch's CUDA build needs (:data:`CUDA_ONLY_PREFIXES`)."""
    kept = []
    for line in lock_text.splitlines():
        name = line.split("==", 1)[0].strip().lower()
        if line[:1].isalnum() and name.startswith(CUDA_ONLY_PREFIXES):
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def venv_python(venv_dir: Path, system: str = platform.system()) -> Path:
    """The interpreter of the virtual environment ``venv_dir`` (``Scripts\\python.exe`` on Windows)."""
    return venv_dir / ("Scripts/python.exe" if system == "Windows" else "bin/python")


def install_commands(python: Path, requirements: Path, cpu: bool) -> list[list[str]]:
    """The commands that fill a new virtual environment whose interpreter is ``python``.

    uv (pinned) installs the exact pins, compiled to bytecode; with ``cpu``, torch and torchvision
    come from PyTorch's CPU index (uv's ``--torch-backend cpu``). Then the course package, editable.
    """
    uv = [str(python), "-m", "uv", "pip", "install", "--python", str(python)]
    backend = ["--torch-backend", "cpu"] if cpu else []
    return [[str(python), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"],
            [*uv, "--compile-bytecode", *backend, "-r", str(requirements)],
            [*uv, "--no-deps", "-e", str(REPO_ROOT)]]


def install(venv_dir: Path, cpu: bool = False) -> Path:
    """Create (or complete) ``venv_dir`` with the pinned stack and the course; returns its interpreter."""
    check_python()
    check_platform()
    python = venv_python(venv_dir)
    if not python.exists():
        print(f"creating {venv_dir} with Python {platform.python_version()}", flush=True)
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    requirements = LOCK
    if cpu:
        requirements = venv_dir / "requirements-cpu.lock"
        requirements.write_text(cpu_requirements(LOCK.read_text()))
    for command in install_commands(python, requirements, cpu):
        if subprocess.run(command).returncode != 0:
            raise SystemExit(f"install: `{' '.join(command)}` failed (its output is above); fix that and run again")
    (venv_dir / ".installed").touch()
    return python


def check_lock(lock: Path = LOCK, uv: str | None = None) -> int:
    """Resolve ``lock`` for every row of the support table and Python, with uv's ``--python-platform``.

    Nothing is installed; uv checks that each pinned release has a distribution for that platform
    and Python. The unsupported platforms must fail to resolve (the lock does not pretend). Prints
    one line per resolution; returns the number of unexpected outcomes.
    """
    uv = uv or shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    cases = [(row, tag, env, py, True) for row, tag, env in PLATFORMS for py in SUPPORTED_PYTHONS]
    cases += [(row, tag, env, SUPPORTED_PYTHONS[-1], False) for row, tag, env in UNSUPPORTED_PLATFORMS]

    def resolve(case, out: Path) -> subprocess.CompletedProcess:
        """From uv's cache when it holds what the resolution needs (a second), else from the package index."""
        _, tag, env, (major, minor), _ = case
        command = [uv, "pip", "compile", str(lock), "--python-platform", tag, "--python-version", f"{major}.{minor}",
                   "--no-header", "--quiet", "-o", str(out)]
        result = subprocess.run([*command, "--offline"], capture_output=True, text=True, env={**os.environ, **env})
        if result.returncode and ("network was disabled" in result.stderr or "not found in the cache" in result.stderr):
            result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
        return result

    unexpected = 0
    with tempfile.TemporaryDirectory() as tmp:
        # one after another: uv holds a lock on its cache, so resolutions started together wait for each other
        for i, case in enumerate(cases):
            row, tag, _, (major, minor), should_resolve = case
            result = resolve(case, Path(tmp) / f"{i}.txt")
            resolved = result.returncode == 0
            ok = resolved == should_resolve
            unexpected += not ok
            why = "" if resolved else ": " + next((ln.strip() for ln in result.stderr.splitlines()
                                                   if "because" in ln.lower()), result.stderr.strip()[-200:])
            print(f"{'ok  ' if ok else 'FAIL'} {row} ({tag}), Python {major}.{minor}: "
                  f"{'resolves' if resolved else 'does not resolve'}{'' if ok else ' (unexpected)'}{why}", flush=True)
    return unexpected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpaint_lib.course.install", description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=REPO_ROOT / ".venv", help="where to create the environment")
    parser.add_argument("--cpu", action="store_true",
                        help="leave out the CUDA libraries (Linux: torch's CPU build, about 4 GB less)")
    parser.add_argument("--check", action="store_true", help="only check this Python and platform")
    parser.add_argument("--check-lock", action="store_true", help="resolve the lock for every supported platform")
    args = parser.parse_args(argv)
    if args.check_lock:
        return 1 if check_lock() else 0
    check_python()
    check_platform()
    if args.check:
        print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}: supported")
        return 0
    python = install(args.venv, cpu=args.cpu)
    print(f"ready: {python}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
