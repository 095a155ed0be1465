"""What torch.compile buys a PixelCNN++ training step, what it costs, and when it pays: the break-even.

    python benchmarks/bench_compile.py                    # the demo model on the CPU, 2 threads
    python benchmarks/bench_compile.py --preset seed --steps 6 --device cuda

Three runs of the same configuration, each in a fresh process (so nothing is cached in memory):
eager; compiled with an empty compile cache (cold); compiled again with the cache the cold run
left (warm: what a second run or a resume in the same environment pays). Each reports its
images/s (median over logged windows after the warm-up) and, compiled, the seconds of the
warm-up step that compiles.

The break-even is the eager training time after which compiling has paid for itself:
``T* = compile_seconds / (1 - eager_rate / compiled_rate)``. ``compile="auto"`` compiles runs
well beyond it (Trainer.decide_compile). Appends one JSON line to ``benchmarks/results/compile.jsonl``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recording import machine, report  # benchmarks/recording.py  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "compile.jsonl"


def one_run(args) -> dict:
    """Train ``--steps`` steps in this process and return its figures."""
    import torch

    from inpaint_lib.pixelcnnpp import PixelCNNppTrainer, make_config
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as run_dir:
        chosen = {"dataset": args.dataset} if args.dataset else {}
        config = make_config(args.preset, **chosen, device=args.device, run_dir=run_dir,
                             max_steps=args.steps, log_every=5, eval_every=0, checkpoint_every=10**9,
                             compile=args.mode == "compiled", amp=args.amp, progress=False)
        trainer = PixelCNNppTrainer(config)
        log = trainer.fit()
    rates = [rate for step, rate in zip(log["step"], log["images_per_s"], strict=True) if step > args.warmup]
    return {"images_per_s": statistics.median(rates), "compile_seconds": trainer.compile_seconds,
            "bf16": trainer.use_amp, "torch": torch.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--dataset", default=None, help="default: the preset's")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10, help="logged steps left out of the median")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (where the hardware has bf16)")
    parser.add_argument("--mode", choices=["eager", "compiled"], help=argparse.SUPPRESS)  # one run, in a child
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(one_run(args)))
        return
    child = [sys.executable, __file__, "--preset", args.preset, "--device", args.device, "--threads",
             str(args.threads), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    child += (["--dataset", args.dataset] if args.dataset else []) + (["--amp"] if args.amp else [])
    figures = {}
    with tempfile.TemporaryDirectory(prefix="compile_cache_") as cache:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
        runs = (("eager", "eager"), ("compiled_cold_cache", "compiled"), ("compiled_warm_cache", "compiled"))
        for name, mode in runs:
            done = subprocess.run(child + ["--mode", mode], env=env, capture_output=True, text=True, check=True)
            figures[name] = json.loads(done.stdout.strip().splitlines()[-1])
            print(name, figures[name], flush=True)
    eager, cold, warm = (figures[k] for k in ("eager", "compiled_cold_cache", "compiled_warm_cache"))
    speedup = statistics.mean([cold["images_per_s"], warm["images_per_s"]]) / eager["images_per_s"]
    break_even = cold["compile_seconds"] / (1 - 1 / speedup) if speedup > 1 else None
    result = {"benchmark": "compile_pixelcnnpp_training", "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "machine": machine(), "torch": eager["torch"],
              "preset": args.preset, "device": args.device, "threads": args.threads, "bf16": eager["bf16"],
              "steps": args.steps, "runs": figures, "speedup": round(speedup, 3),
              "break_even_eager_seconds": round(break_even) if break_even else None}
    report(RESULTS, result, record=not args.no_record)


if __name__ == "__main__":
    main()
