#!/usr/bin/env bash
# The pilots that chose the shipped PixelCNN++'s network: three networks, 15 minutes each on one CPU thread
# (the other core stays free).
#
# Each pilot trains 15 minutes of wall time on Tiny ImageNet 32 train with the shipped recipe's schedule
# (linear decay over the last half, warm-up 100 steps, EMA), then is scored on the same first 2,000 val
# images (bits/dim and bits/dim of the lower half given the upper); benchmarks/time_to_quality.py records
# each in benchmarks/results/time_to_quality.jsonl.
#
# The rule, fixed before the numbers: the main run is 32 times as long as a pilot, so capacity counts
# for more than it does in 15 minutes. Take the pilot with the lowest bits/dim, unless a larger network
# is within 0.05 bits/dim of it: then the largest such network.
#
#   INPAINT_DATA=../shared/data nohup benchmarks/pilots_pixelcnnpp.sh > runs/pilots.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export OMP_NUM_THREADS=1
COMMON="lr_schedule=linear decay_fraction=0.5 warmup_steps=100 ema_decay=0.995"
declare -A PILOTS=([A]="nr_filters=48 nr_resnet=1" [B]="nr_filters=80 nr_resnet=1" [C]="nr_filters=64 nr_resnet=2")
for name in A B C; do
  if [ -f "runs/pilots/$name.done" ]; then continue; fi
  mkdir -p runs/pilots
  $PY benchmarks/time_to_quality.py pixelcnnpp --threads 1 --budget 900 --curve-every-steps 250 \
    --label "issue 29 pilot $name, 15 min on 1 thread: ${PILOTS[$name]}" --set ${PILOTS[$name]} $COMMON \
    --run-dir "runs/pilots/$name"
  touch "runs/pilots/$name.done"
done
