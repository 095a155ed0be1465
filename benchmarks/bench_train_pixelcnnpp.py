"""PixelCNN++ training: throughput, and bits/dim against wall time.

    # images/s of the training step (forward, backward, Adam, EMA) at a preset
    python benchmarks/bench_train_pixelcnnpp.py --preset demo --steps 60
    python benchmarks/bench_train_pixelcnnpp.py --preset seed --steps 20
    # time to quality: train for a wall-time budget, test bits/dim along the way and at the end
    INPAINT_DATA=../shared/data python benchmarks/bench_train_pixelcnnpp.py --preset demo \\
        --dataset tinyimagenet32 --time-budget 900 --eval-every 500 --eval-images 2000

Prints a summary and appends one JSON line (machine, torch version, date, config, figures) to
benchmarks/results/train_pixelcnnpp.jsonl. Throughput is the median over logged windows after
the first ``--warmup`` steps.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from inpaint_lib.pixelcnnpp import PixelCNNppConfig, PixelCNNppTrainer, make_config
from inpaint_lib.training import parse_overrides

RESULTS = Path(__file__).resolve().parent / "results"


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return (f"{platform.machine()} {platform.processor() or 'cpu'}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} threads")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--time-budget", type=float, default=None, help="seconds of training (time to quality)")
    parser.add_argument("--eval-every", type=int, default=0)
    parser.add_argument("--eval-images", type=int, default=None, help="test images per evaluation (default all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        overrides = parse_overrides(args.set, PixelCNNppConfig)
    except ValueError as err:
        parser.error(str(err))
    if args.dataset:
        overrides["dataset"] = args.dataset
    budget = args.time_budget
    run_dir = tempfile.mkdtemp(prefix="bench_pixelcnnpp_")
    config = make_config(args.preset, device=args.device, run_dir=run_dir, log_every=5, epochs=None,
                         max_steps=10 ** 9 if budget else args.steps, time_budget_s=budget,
                         eval_every=args.eval_every, eval_images=args.eval_images,
                         checkpoint_every=10 ** 9, **overrides)
    trainer = PixelCNNppTrainer(config)
    start = time.perf_counter()
    log = trainer.fit()
    wall = time.perf_counter() - start
    rates = [rate for step, rate in zip(log["step"], log["images_per_s"], strict=True) if step > args.warmup]
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(trainer.device),
        "torch": torch.__version__, "preset": args.preset, "dataset": config.dataset,
        "config": {k: config.to_dict()[k] for k in ("nr_resnet", "nr_filters", "nr_logistic_mix", "batch_size",
                                                   "dropout", "lr", "amp", "channels_last", "compile")},
        "steps": trainer.step, "wall_s": round(wall, 1),
        "images_per_s_median": round(statistics.median(rates), 2) if rates else None,
    }
    if budget:
        result["curve"] = [(round(seconds, 1), round(bpd, 4))
                           for seconds, bpd in zip(log["seconds"], log["test_bpd"], strict=True) if not math.isnan(bpd)]
        result["final_test_bpd"] = trainer.evaluate(args.eval_images)["bpd"]
    print(json.dumps(result, indent=1))
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "train_pixelcnnpp.jsonl", "a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
