"""What a bigger PixelCNN++ costs a student: seconds per completion of the lower half, sizes side by side.

    python benchmarks/bench_model_size.py                      # 48 filters (the first shipped model) and 80
    python benchmarks/bench_model_size.py --nr-filters 48 64 80 --threads 1 2

For each network size, thread count and batch (one completion, as the try-it notebook draws, and
16, as notebook 06 does), the fast sampler (:func:`inpaint_lib.pixelcnnpp.inpaint`) fills the
lower half of the first ``sample`` test images. The sizes are timed in turn within each repeat
(interleaved, so that a busy moment of a shared machine falls on all of them alike) and the
medians are reported, with each size's time as a multiple of the first size's. The networks are
randomly initialised: the work per pixel does not depend on the weights. Also recorded: the
parameters, and the time of one likelihood evaluation (a forward pass) of a batch of 16.

Prints one JSON line and appends it to ``benchmarks/results/model_size.jsonl`` (unless --no-record).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_sampling import images  # benchmarks/bench_sampling.py  # noqa: E402
from inpaint_lib.masks import lower_half  # noqa: E402
from inpaint_lib.pixelcnnpp.inpainting import inpaint  # noqa: E402
from inpaint_lib.pixelcnnpp.model import PixelCNNpp  # noqa: E402
from recording import machine, report  # benchmarks/recording.py  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "model_size.jsonl"
BATCHES = (1, 16)


def seconds(run) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        run()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nr-filters", type=int, nargs="+", default=[48, 80])
    p.add_argument("--nr-resnet", type=int, default=1)
    p.add_argument("--nr-logistic-mix", type=int, default=10)
    p.add_argument("--threads", type=int, nargs="+", default=[1])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--note", default=None, help="recorded as it is (e.g. what else ran on the machine)")
    p.add_argument("--no-record", action="store_true", help="print only; do not append to the results file")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    models = {f: PixelCNNpp(args.nr_resnet, f, args.nr_logistic_mix).eval() for f in args.nr_filters}
    x, mask = images(max(BATCHES)), lower_half()
    cases = [(threads, batch) for threads in args.threads for batch in BATCHES]
    times: dict = {(f, threads, batch): [] for f in models for threads, batch in cases}
    likelihood: dict = {(f, threads): [] for f in models for threads in args.threads}
    for repeat in range(args.repeats + 1):                       # the first round warms up, untimed
        for threads, batch in cases:
            torch.set_num_threads(threads)
            for f, model in models.items():
                generator = torch.Generator().manual_seed(args.seed)
                t = seconds(functools.partial(inpaint, model, x[:batch], mask, generator=generator, sampler="fast"))
                if repeat:
                    times[f, threads, batch].append(t)
                if batch == max(BATCHES):
                    t = seconds(functools.partial(model, x))
                    if repeat:
                        likelihood[f, threads].append(t)

    first = args.nr_filters[0]
    rows = []
    for f, model in models.items():
        row = {"nr_filters": f, "parameters": sum(p.numel() for p in model.parameters())}
        for threads, batch in cases:
            median = statistics.median(times[f, threads, batch])
            row[f"s_per_completion_batch{batch}_threads{threads}"] = round(median / batch, 4)
            row[f"ratio_batch{batch}_threads{threads}"] = round(median / statistics.median(
                times[first, threads, batch]), 2)
        for threads in args.threads:
            row[f"likelihood_s_batch16_threads{threads}"] = round(statistics.median(likelihood[f, threads]), 4)
        rows.append(row)
    result = {"benchmark": "pixelcnnpp_model_size", "machine": machine(), "torch": torch.__version__,
              "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "config": {"nr_resnet": args.nr_resnet, "nr_logistic_mix": args.nr_logistic_mix,
                         "threads": args.threads, "batches": list(BATCHES), "repeats": args.repeats,
                         "seed": args.seed, "region": "lower half (512 pixels)", "sampler": "fast"},
              "sizes": rows}
    report(RESULTS, result, record=not args.no_record, note=args.note)
    return result


if __name__ == "__main__":
    main()
