"""Speed of one Pix2Pix training iteration (D step + G step), in iterations per second.

    python benchmarks/bench_pix2pix.py                      # the recorded CPU setting
    python benchmarks/bench_pix2pix.py --device cuda --amp --channels-last --batch 100

Setting of record: batch 16, 32x32, U-Net num_downs=5 ngf=64, PatchGAN n_layers=3
ndf=64, 2 CPU threads. The step is the training core's own (:meth:`Pix2PixTrainer.train_step`),
so what is measured is what training runs. Each repeat times ``--steps`` iterations after
``--warmup`` untimed ones; the reported figure is the median over ``--repeats``. Batches come
from the ``sample`` training set (random images if it cannot be loaded).

Prints one JSON line and appends it to ``benchmarks/results/pix2pix.jsonl`` (unless --no-record);
on a CPU the line also carries the reference implementation's recorded speed at the setting of
record (:data:`REFERENCE_CPU_IT_S`, from the 2-core development CPU), for comparison.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inpaint_lib.pix2pix import Pix2PixTrainer, make_config  # noqa: E402
from inpaint_lib.utils import synchronize  # noqa: E402
from recording import machine, report  # benchmarks/recording.py  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "pix2pix.jsonl"
REFERENCE_CPU_IT_S = 4.3


def batches(batch: int, count: int = 8) -> list[torch.Tensor]:
    """``count`` training batches held in memory, so that loading is not what is timed."""
    try:
        from inpaint_lib.data import load_split, to_float
        images = load_split("sample", "train")[: batch * count]
        return list(to_float(images).split(batch))[: len(images) // batch]
    except Exception as err:  # no sample set on this machine: random images behave the same for speed
        print(f"(sample data unavailable: {err}; using random images)", file=sys.stderr)
        generator = torch.Generator().manual_seed(0)
        return [torch.rand(batch, 3, 32, 32, generator=generator) * 2 - 1 for _ in range(count)]


def sync(device: torch.device) -> None:
    synchronize(device)  # CUDA and Apple GPUs run asynchronously


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA, or a CPU with AVX512-BF16/AMX)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format (CUDA only)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=5, help="iterations per timed repeat")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--netD", default="patch", choices=["patch", "pixel", "none"])
    p.add_argument("--n-layers", type=int, default=3)
    p.add_argument("--no-record", action="store_true", help="print only; do not append to the results file")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    config = make_config(None, batch_size=args.batch, ngf=args.ngf, ndf=args.ndf, netD=args.netD,
                         n_layers=args.n_layers, device=args.device, amp=args.amp,
                         channels_last=args.channels_last, max_steps=10 ** 9, progress=False)
    trainer = Pix2PixTrainer(config)
    data = [b.to(trainer.device) for b in batches(args.batch)]
    i = 0
    for _ in range(args.warmup):
        trainer.train_step(data[i % len(data)])
        i += 1
    rates = []
    for _ in range(args.repeats):
        sync(trainer.device)
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(data[i % len(data)])
            i += 1
        sync(trainer.device)
        rates.append(args.steps / (time.perf_counter() - start))

    result = {
        "benchmark": "pix2pix_train_iteration",
        "machine": machine(),
        "torch": torch.__version__,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "config": {"batch": args.batch, "image_size": 32, "num_downs": 5, "ngf": args.ngf, "netD": args.netD,
                   "n_layers": args.n_layers, "ndf": args.ndf, "device": str(trainer.device),
                   "amp_bf16": trainer.use_amp, "channels_last": trainer.channels_last,
                   "threads": torch.get_num_threads(), "repeats": args.repeats, "steps_per_repeat": args.steps,
                   "warmup": args.warmup},
        "it_per_s": round(statistics.median(rates), 3),
        "it_per_s_repeats": [round(r, 3) for r in rates],
    }
    if trainer.device.type == "cpu":
        result["reference_cpu_it_per_s"] = REFERENCE_CPU_IT_S
    report(RESULTS, result, record=not args.no_record)
    return result


if __name__ == "__main__":
    main()
