#!/usr/bin/env bash
# The course's GPU check (benchmarks/gpu_check.py) on a machine with its own CUDA torch and no
# package registry: the course is installed against that torch (no dependencies fetched), then
# every check runs and writes OUT_DIR/gpu_check.json.
#   bash benchmarks/gpu_check.sh [OUT_DIR [gpu_check.py options, e.g. --only environment samplers]]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/gpu_check}"
shift || true
python="${PYTHON:-python3}"
mkdir -p "$out"
if ! "$python" -c "import inpaint_lib" 2>/dev/null; then
  # --no-build-isolation: build with the setuptools already there instead of downloading one
  if ! "$python" -m pip install --quiet --no-deps --no-build-isolation -e . >"$out/install.log" 2>&1; then
    echo "gpu_check: pip could not install the course here (see $out/install.log); using PYTHONPATH=$PWD"
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  fi
fi
"$python" -c "import torch; print('gpu_check: torch', torch.__version__, 'cuda', torch.cuda.is_available())"
"$python" benchmarks/gpu_check.py --out "$out/gpu_check.json" "$@"
