"""The GPU check script starts and runs its checks here, without a GPU (its CPU fallback, at toy sizes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_check_runs_on_a_cpu_and_writes_its_json(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), str(tmp_path), "--only", "environment",
                           "resume", "samplers", "synchronisations"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    checks = json.loads((tmp_path / "gpu_check.json").read_text())["checks"]
    assert set(checks) == {"environment", "resume", "samplers", "synchronisations"}
    assert not [name for name, result in checks.items() if "error" in result], checks
    assert checks["environment"]["quick"] is True  # no GPU here: toy sizes
    assert checks["samplers"]["equal_in_float64"] is True and checks["samplers"]["ratio"] > 1
    assert checks["resume"]["fused"] is True
