"""Time to quality: train one method for a fixed wall-time budget on a laptop-sized CPU, then score it.

The protocol: train for exactly ``--budget`` seconds (default 900, a quarter of an hour)
of training wall time with ``--threads`` (default 2) on Tiny ImageNet 32 train (30,000 images),
then evaluate on the val split. Evaluation time is not charged to the budget.

    export INPAINT_DATA=../shared/data
    python benchmarks/time_to_quality.py pixelcnnpp                 # demo preset, bits/dim
    python benchmarks/time_to_quality.py pix2pix                    # demo preset (PixelGAN)
    python benchmarks/time_to_quality.py pix2pix --set netD=patch   # any config override
    python benchmarks/time_to_quality.py l1                         # the U-Net with L1 alone
    python benchmarks/time_to_quality.py pixelcnnpp --label "no EMA" --set ema_decay=0.0
    python benchmarks/time_to_quality.py l1 --run-dir runs/ttq/l1     # keep the model for notebook 06

What is scored:

- ``pixelcnnpp``: test bits/dim of the EMA weights on the first ``--eval-images`` val images
  (default 2,000, as the reference figures), and the conditional bits/dim of the lower half
  given the upper half (:func:`inpaint_lib.pixelcnnpp.conditional_bits_per_dim`) on the same images.
- ``pix2pix`` / ``l1``: :func:`inpaint_lib.evaluation.evaluate` (the course's evaluation entry
  point: lower half, known half pasted back) on all 10,000 val images: L1x100, PSNR, SSIM.

Along the way a curve (metric against training seconds) is taken on the first
``--curve-images`` val images. Prints and appends one JSON line per run to
``benchmarks/results/time_to_quality.jsonl``; ``--report`` prints the recorded runs as a table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inpaint_lib import data  # noqa: E402
from inpaint_lib.pix2pix import Pix2PixConfig  # noqa: E402
from inpaint_lib.pixelcnnpp import PixelCNNppConfig  # noqa: E402
from inpaint_lib.training import parse_overrides  # noqa: E402
from recording import machine, report  # benchmarks/recording.py  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "time_to_quality.jsonl"
# the reference implementations' recorded figures under this protocol, for the printed comparison
REFERENCE = {"pixelcnnpp": "4.27 bits/dim (conditional 4.27)", "pix2pix": "L1x100 40.9, PSNR 12.1 dB",
             "l1": "L1x100 32.7, PSNR 14.3 dB"}


def run_pixelcnnpp(args, overrides: dict, run_dir: str) -> dict:
    from inpaint_lib.masks import get_mask
    from inpaint_lib.pixelcnnpp import PixelCNNppTrainer, conditional_bits_per_dim, make_config

    config = make_config(args.preset, dataset=args.dataset, test_split=args.split, device="cpu", run_dir=run_dir,
                         time_budget_s=args.budget, max_steps=10 ** 9, epochs=None, log_every=50,
                         eval_every=args.curve_every_steps, eval_images=args.curve_images,
                         checkpoint_every=10 ** 9, sample_every=0, **overrides)
    trainer = PixelCNNppTrainer(config)
    log = trainer.fit()
    curve = [(round(seconds, 1), int(step), round(bpd, 4))
             for seconds, step, bpd in zip(log["seconds"], log["step"], log["test_bpd"], strict=True)
             if not math.isnan(bpd)]
    started = time.perf_counter()
    bpd = trainer.evaluate(args.eval_images)["bpd"]
    images = data.to_float(data.load_split(args.dataset, args.split)[: args.eval_images])
    conditional, mask = [], get_mask("lower_half")
    with torch.no_grad():
        for start in range(0, len(images), 100):
            conditional.append(conditional_bits_per_dim(trainer.inference_model, images[start: start + 100], mask))
    return {"config": config.to_dict(), "steps": trainer.step, "train_seconds": round(trainer.train_seconds, 1),
            "images_per_s": round(trainer.step * config.batch_size / trainer.train_seconds, 1),
            "curve": {"columns": ["seconds", "step", f"bpd_first_{args.curve_images}"], "points": curve},
            "final": {"bpd": round(bpd, 4), "conditional_bpd": round(torch.cat(conditional).mean().item(), 4),
                      "n_images": len(images)},
            "eval_seconds": round(time.perf_counter() - started, 1)}


def run_pix2pix(args, overrides: dict, run_dir: str) -> dict:
    from inpaint_lib.evaluation import evaluate
    from inpaint_lib.pix2pix import Pix2PixTrainer, make_config

    if args.method == "l1":
        overrides = {"netD": "none", **overrides}
    config = make_config(args.preset, dataset=args.dataset, device="cpu", run_dir=run_dir, time_budget_s=args.budget,
                         max_steps=10 ** 9, epochs=None, progress=False, checkpoint_every=10 ** 9,
                         sample_every=10 ** 9, **overrides)
    trainer = Pix2PixTrainer(config)
    curve = []
    while not trainer.out_of_time:
        trainer.fit(steps=args.curve_every_steps)
        scores = evaluate(trainer.method(), args.dataset, args.split, n_images=args.curve_images, progress=False)
        curve.append((round(trainer.train_seconds, 1), trainer.step, round(scores["l1_x100"], 3),
                      round(scores["psnr"], 3)))
    started = time.perf_counter()
    final = evaluate(trainer.method(), args.dataset, args.split, n_images=args.eval_images, progress=False)
    return {"config": config.to_dict(), "steps": trainer.step, "train_seconds": round(trainer.train_seconds, 1),
            "images_per_s": round(trainer.step * config.batch_size / trainer.train_seconds, 1),
            "curve": {"columns": ["seconds", "step", f"l1_x100_first_{args.curve_images}",
                                  f"psnr_first_{args.curve_images}"], "points": curve},
            "final": {k: round(v, 4) for k, v in final.items()},
            "eval_seconds": round(time.perf_counter() - started, 1)}


def print_report() -> None:
    """The recorded runs, one line each: method, label, steps, final figures."""
    if not RESULTS.exists():
        raise SystemExit(f"nothing recorded yet in {RESULTS}")
    print("| date | method | label | budget s | steps | img/s | final |")
    print("|---|---|---|---|---|---|---|")
    for line in RESULTS.read_text().splitlines():
        r = json.loads(line)
        final = ", ".join(f"{k} {v}" for k, v in r["final"].items() if k not in ("n_images", "seconds_per_image"))
        print(f"| {r['date'][:16]} | {r['method']} | {r['label']} | {r['budget_s']} | {r['steps']} | "
              f"{r['images_per_s']} | {final} (n={r['final']['n_images']}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("method", nargs="?", choices=["pixelcnnpp", "pix2pix", "l1"])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--dataset", default="tinyimagenet32")
    parser.add_argument("--budget", type=float, default=900.0, help="training wall time in seconds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-images", type=int, default=None,
                        help="val images for the final score (default: 2,000 for pixelcnnpp, all for pix2pix/l1)")
    parser.add_argument("--curve-images", type=int, default=500, help="val images per point of the curve")
    parser.add_argument("--curve-every-steps", type=int, default=None,
                        help="steps between points of the curve (default 500 for pixelcnnpp, 1000 for pix2pix/l1)")
    parser.add_argument("--label", default="demo preset", help="what this run tries (for the ablation table)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--run-dir", default=None,
                        help="keep the run (checkpoint, log) here; default: a temporary folder")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--report", action="store_true", help="print the recorded runs and exit")
    args = parser.parse_args()
    if args.report:
        return print_report()
    if args.method is None:
        parser.error("name a method: pixelcnnpp, pix2pix or l1")
    torch.set_num_threads(args.threads)
    data.load_split(args.dataset, "train")  # fails early, with instructions, when the data set is missing
    args.split = data.held_out_split(args.dataset)  # val for Tiny ImageNet 32
    pixelcnnpp = args.method == "pixelcnnpp"
    args.eval_images = args.eval_images or (2000 if pixelcnnpp else None)
    args.curve_every_steps = args.curve_every_steps or (500 if pixelcnnpp else 1000)
    config_class = PixelCNNppConfig if pixelcnnpp else Pix2PixConfig
    try:
        overrides = parse_overrides(args.set, config_class)
    except ValueError as err:
        parser.error(str(err))
    train = run_pixelcnnpp if pixelcnnpp else run_pix2pix
    if args.run_dir:  # keep the trained model (notebook 06 can load it from here)
        figures = train(args, overrides, args.run_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="time_to_quality_") as run_dir:
            figures = train(args, overrides, run_dir)
    result = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
              "torch": torch.__version__, "threads": args.threads, "method": args.method, "label": args.label,
              "preset": args.preset, "overrides": overrides, "dataset": args.dataset, "split": args.split,
              "budget_s": args.budget,
              **figures, "reference": REFERENCE[args.method]}
    report(RESULTS, result, record=not args.no_record)


if __name__ == "__main__":
    main()
