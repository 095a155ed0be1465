"""Speed of one PixelCNN++ training pass (forward, loss, backward), in images per second.

    python benchmarks/bench_pixelcnnpp.py                                  # small config of record, CPU
    python benchmarks/bench_pixelcnnpp.py --config seed --batch 4          # the original study's model
    python benchmarks/bench_pixelcnnpp.py --device cuda --config seed --batch 64 --amp --channels-last [--compile]

Settings of record, 2 CPU threads: ``small`` (nr_resnet=1, nr_filters=32) at batch 16, and
``seed`` (nr_resnet=5, nr_filters=160, the defaults) at batch 4; at these, on a CPU, the result is
compared with the reference PyTorch port's recorded speed on the development CPU
(:data:`REFERENCE_CPU_IMG_S`). Each repeat times
``--steps`` passes after ``--warmup`` untimed ones; the figure is the median over ``--repeats``.
Model FLOPs per image are counted once with ``torch.utils.flop_counter`` (forward + backward,
a multiply-add counted as 2); utilisation = achieved FLOP/s / ``--peak-tflops``.

Prints a table and appends one JSON line to ``benchmarks/results/pixelcnnpp.jsonl`` (unless --no-record).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inpaint_lib.pixelcnnpp import PixelCNNpp, discretized_mix_logistic_loss  # noqa: E402
from inpaint_lib.utils import synchronize  # noqa: E402
from recording import append_result, machine  # benchmarks/recording.py  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "pixelcnnpp.jsonl"
CONFIGS = {"small": dict(nr_resnet=1, nr_filters=32), "seed": dict(nr_resnet=5, nr_filters=160)}
REFERENCE_CPU_IMG_S = {("small", 16): 43.5, ("seed", 4): 0.96}


def sync(device: torch.device) -> None:
    synchronize(device)  # CUDA and Apple GPUs run asynchronously


def flops_per_image(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Forward + backward FLOPs of the model (convolutions and matrix products) per image."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
        discretized_mix_logistic_loss(x, model(x), check_inputs=False).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / x.shape[0]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", choices=sorted(CONFIGS), default="small")
    p.add_argument("--nr-resnet", type=int, help="override the config's nr_resnet")
    p.add_argument("--nr-filters", type=int, help="override the config's nr_filters")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=3, help="passes per timed repeat")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA, or a CPU with AVX512-BF16/AMX)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    p.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, for utilisation")
    p.add_argument("--no-record", action="store_true", help="print only; do not append to the results file")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = dict(CONFIGS[args.config])
    if args.nr_resnet:
        cfg["nr_resnet"] = args.nr_resnet
    if args.nr_filters:
        cfg["nr_filters"] = args.nr_filters
    torch.manual_seed(0)
    model = PixelCNNpp(**cfg, check_inputs=False).to(device).train()
    x = (torch.randint(0, 256, (args.batch, 3, 32, 32)) / 127.5 - 1).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    flops = flops_per_image(model, x)
    forward = torch.compile(model) if args.compile else model
    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16) if args.amp else contextlib.nullcontext()

    def step() -> None:
        with autocast():
            l = forward(x)
        discretized_mix_logistic_loss(x, l.float(), check_inputs=False).backward()
        model.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    rates = []
    for _ in range(args.repeats):
        sync(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync(device)
        rates.append(args.steps * args.batch / (time.perf_counter() - start))
    img_s = statistics.median(rates)

    result = {
        "benchmark": "pixelcnnpp_forward_backward",
        "machine": machine(),
        "torch": torch.__version__,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "config": {"name": args.config, **cfg, "nr_logistic_mix": 10, "batch": args.batch, "device": str(device),
                   "threads": torch.get_num_threads(), "amp_bf16": args.amp, "channels_last": args.channels_last,
                   "compile": args.compile, "repeats": args.repeats, "steps_per_repeat": args.steps,
                   "warmup": args.warmup},
        "img_per_s": round(img_s, 3),
        "img_per_s_repeats": [round(r, 3) for r in rates],
        "gflop_per_image": round(flops / 1e9, 3),
        "achieved_tflops": round(img_s * flops / 1e12, 4),
    }
    if args.peak_tflops:
        result["peak_tflops"] = args.peak_tflops
        result["utilisation"] = round(img_s * flops / 1e12 / args.peak_tflops, 4)
    reference = REFERENCE_CPU_IMG_S.get((args.config, args.batch)) if device.type == "cpu" else None
    if reference and not (args.nr_resnet or args.nr_filters):
        result["reference_img_per_s"] = reference
        result["speedup_vs_reference"] = round(img_s / reference, 3)

    rows = [("config", f"{args.config} {cfg} batch {args.batch} on {device} ({torch.get_num_threads()} threads)"),
            ("images/s (median)", f"{img_s:.2f}   repeats: {', '.join(f'{r:.2f}' for r in rates)}"),
            ("GFLOP/image (fwd+bwd)", f"{flops / 1e9:.2f}"), ("achieved TFLOP/s", f"{img_s * flops / 1e12:.4f}")]
    if "utilisation" in result:
        rows.append(("utilisation", f"{100 * result['utilisation']:.1f}% of {args.peak_tflops} TFLOP/s"))
    if "reference_img_per_s" in result:
        rows.append(("vs reference port", f"{result['speedup_vs_reference']:.2f}x of {reference} img/s"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    if not args.no_record:
        append_result(RESULTS, result)
    return result


if __name__ == "__main__":
    main()
