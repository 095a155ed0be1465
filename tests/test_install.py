"""Every student's machine: the supported Pythons and platforms, the CPU-only install, the Makefile's Python.

What runs here is Linux x86_64; the other rows of the support table are checked by resolving the lock
for them (``make lock-check``, run by CI) and, below, by the installer's decisions for each platform.
"""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from inpaint_lib.course import install

REPO = Path(__file__).resolve().parents[1]
PYENV = Path.home() / ".pyenv" / "versions"


@pytest.mark.parametrize("version", [(3, 11, 7), (3, 12, 1), (3, 13, 0)])
def test_supported_pythons_pass(version):
    install.check_python(version)


@pytest.mark.parametrize("version", [(3, 10, 13), (3, 14, 0), (2, 7, 18)])
def test_unsupported_python_is_one_line_naming_the_supported_ones(version):
    with pytest.raises(SystemExit) as stop:
        install.check_python(version)
    message = str(stop.value)
    assert "\n" not in message and f"Python {'.'.join(map(str, version))} is not supported" in message
    assert "3.11, 3.12, 3.13" in message


@pytest.mark.parametrize("system, machine, mac", [("Linux", "x86_64", ""), ("Linux", "aarch64", ""),
                                                  ("Darwin", "arm64", "14.5"), ("Darwin", "arm64", "15.1"),
                                                  ("Windows", "AMD64", "")])
def test_supported_platforms_pass(system, machine, mac):
    install.check_platform(system, machine, mac)


@pytest.mark.parametrize("system, machine, mac, words", [
    ("Darwin", "x86_64", "14.5", "Intel"), ("Darwin", "arm64", "13.6", "macOS 14"),
    ("Windows", "ARM64", "", "x86_64 only"), ("Linux", "riscv64", "", "x86_64 and aarch64"),
    ("FreeBSD", "amd64", "", "Linux, macOS 14+")])
def test_unsupported_platform_is_one_line(system, machine, mac, words):
    with pytest.raises(SystemExit) as stop:
        install.check_platform(system, machine, mac)
    assert "\n" not in str(stop.value) and words in str(stop.value)


def test_cpu_install_drops_exactly_the_cuda_packages_of_the_lock():
    lock = (REPO / "requirements.lock").read_text()
    cpu = install.cpu_requirements(lock)

    def pins(text):
        return {line.split("==")[0] for line in text.splitlines() if line[:1].isalnum()}
    dropped = pins(lock) - pins(cpu)
    assert dropped and all(name.startswith(("nvidia-", "cuda-", "triton")) for name in dropped)
    assert {"torch", "torchvision", "numpy"} <= pins(cpu)
    assert not any(name.startswith(("nvidia-", "cuda-", "triton")) for name in pins(cpu))


def test_install_commands_pin_uv_and_take_torch_from_the_cpu_index_only_when_asked():
    python = Path("/x/.venv/bin/python")
    default = install.install_commands(python, Path("requirements.lock"), cpu=False)
    cpu = install.install_commands(python, Path("cpu.lock"), cpu=True)
    assert default[0][-1] == f"uv=={install.UV_VERSION}"
    assert "--torch-backend" not in sum(default, []) and ["--torch-backend", "cpu"] == cpu[1][-4:-2]
    assert default[-1][-3:] == ["--no-deps", "-e", str(REPO)]
    assert install.venv_python(Path(".venv"), "Windows") == Path(".venv/Scripts/python.exe")
    assert install.venv_python(Path(".venv"), "Darwin") == Path(".venv/bin/python")


def _fake_uv(tmp_path: Path, failing_platform: str) -> str:
    """A stand-in for uv whose resolution fails for ``failing_platform`` and succeeds elsewhere."""
    script = tmp_path / "uv"
    script.write_text(f"#!/bin/sh\ncase \"$*\" in *'--python-platform {failing_platform} '*) "
                      "echo 'because torch==9 has no wheels' >&2; exit 1;; esac\nexit 0\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_lock_check_fails_when_a_supported_row_does_not_resolve(tmp_path, capsys):
    # Windows does not resolve (a bad pin: three Pythons), and the Intel Mac and macOS 13 do (the lock would pretend)
    assert install.check_lock(uv=_fake_uv(tmp_path, "x86_64-pc-windows-msvc")) == 3 + 2
    out = capsys.readouterr().out
    assert "FAIL Windows x86_64 (x86_64-pc-windows-msvc), Python 3.11: does not resolve" in out
    assert "FAIL macOS on Intel" in out and "ok   Linux aarch64" in out


def _make(tmp_path: Path, *pythons: Path, args: tuple[str, ...] = ("venv",), dry: bool = False):
    """``make args`` in the repository with a PATH that holds only ``pythons`` (each linked as its own name)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for python in pythons:
        (bin_dir / python.name).symlink_to(python)
    env = {"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/root")}
    command = ["/usr/bin/make", "-C", str(REPO), *(["-n"] if dry else []), *args, f"VENV={tmp_path / 'venv'}"]
    return subprocess.run(command, capture_output=True, text=True, env=env)


def test_make_without_a_supported_python_says_what_to_install(tmp_path):
    old = PYENV / "3.10.13" / "bin" / "python3.10"
    if not old.exists():
        pytest.skip("needs pyenv's Python 3.10 (the development machine has it)")
    result = _make(tmp_path, old)
    assert result.returncode != 0
    lines = [ln for ln in (result.stdout + result.stderr).splitlines() if ln.startswith("make: no Python")]
    assert lines == ["make: no Python 3.11, 3.12 or 3.13 found on the PATH; install one (python.org or your "
                     "package manager) or name it: make PYTHON=/path/to/python3.12"]
    assert not (tmp_path / "venv").exists()


def test_make_uses_whichever_supported_python_it_finds(tmp_path):
    newest = PYENV / "3.13.0" / "bin" / "python3.13"
    if not newest.exists():
        pytest.skip("needs pyenv's Python 3.13 (the development machine has it)")
    result = _make(tmp_path, newest, dry=True)
    assert result.returncode == 0, result.stderr
    assert f"python3.13 -m inpaint_lib.course.install --venv {tmp_path / 'venv'}" in result.stdout
    cpu = _make(tmp_path, args=("venv", "CPU=1"), dry=True)
    assert f"--venv {tmp_path / 'venv'} --cpu" in cpu.stdout


def test_installer_refuses_an_unsupported_python_in_one_line():
    old = PYENV / "3.10.13" / "bin" / "python3.10"
    if not old.exists():
        pytest.skip("needs pyenv's Python 3.10 (the development machine has it)")
    result = subprocess.run([str(old), "-m", "inpaint_lib.course.install", "--check"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("Python 3.10.13 is not supported")


def test_the_installer_needs_only_the_standard_library():
    # it runs first on a fresh machine, before torch or anything else is installed
    code = ("import sys; import inpaint_lib.course.install; "
            "sys.exit(sorted({'torch', 'numpy'} & set(sys.modules)) != [])")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_ci_tests_the_lowest_torch_that_pyproject_admits():
    import re
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    bounds = dict(re.fullmatch(r"([a-z-]+)>=([\d.]+)", d).groups() for d in project["dependencies"])
    makefile = (REPO / "Makefile").read_text()
    lowest = re.search(r"^LOWEST_TORCH\s*:=\s*(\S+)$", makefile, re.M)[1]
    vision = re.search(r"^LOWEST_VISION\s*:=\s*(\S+)$", makefile, re.M)[1]
    assert lowest.startswith(bounds["torch"]) and vision.startswith(bounds["torchvision"])
    assert project["requires-python"] == ">=3.11,<3.14"
    assert "make test-lowest-torch" in (REPO / ".ci" / "run").read_text()
    assert "make lock-check" in (REPO / ".ci" / "run").read_text()


def test_lock_check_goes_to_the_index_when_the_cache_lacks_what_it_needs(tmp_path, capsys):
    script = tmp_path / "uv"  # a cold cache: every --offline resolution fails for want of metadata
    script.write_text("#!/bin/sh\ncase \"$*\" in *--offline*) echo 'because x was not found in the cache' >&2; "
                      "exit 1;; *x86_64-apple-darwin*) exit 1;; esac\nexit 0\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    # online, every supported row resolves and the Intel Mac does not; macOS 13 resolves here (1 unexpected)
    assert install.check_lock(uv=str(script)) == 1
    assert "FAIL macOS 13 on Apple silicon" in capsys.readouterr().out
