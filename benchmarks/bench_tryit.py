"""Speed of notebook 07's live path: the shipped PixelCNN++ filling one picture's hole row by row.

    python benchmarks/bench_tryit.py                          # lower half of scikit-image's astronaut, 1 and 2 threads
    python benchmarks/bench_tryit.py --mask centre_square --threads 1

What a student waits for, on one image (batch 1), with the shipped model (``inpaint_lib.pretrained``, 1.3 M
parameters) at the card's temperature: ``first_row_s``, from the call to the first partial completion that
:func:`inpaint_lib.tryit.fill_row_by_row` yields (the network's first pass over the rows above the hole, then one
row of draws); ``whole_s``, to the finished completion; ``beliefs_s``, the one pass and float64 arithmetic of
:func:`inpaint_lib.tryit.predictive_distributions` behind the click-a-pixel view. Medians of ``--repeats`` runs
after one warm-up, per thread count. ``--naive`` also times the naive sampler once (a full network pass per missing
pixel), the alternative to the row-cached steps, at the first thread count. ``identical`` checks that the last step
equals ``inpaint``'s completion from the same seed.

Prints one JSON line per thread count and appends it to ``benchmarks/results/tryit.jsonl`` (unless --no-record).
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

from inpaint_lib import pretrained, tryit  # noqa: E402
from inpaint_lib.pixelcnnpp import inpaint  # noqa: E402
from recording import machine, report  # benchmarks/recording.py  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "tryit.jsonl"


def timed_fill(model, image, mask, temperature: float, seed: int) -> tuple[float, float, torch.Tensor]:
    """Seconds to the first yielded row and to the last, and the completion."""
    began = time.perf_counter()
    first = None
    steps = tryit.fill_row_by_row(model, image, mask, generator=torch.Generator().manual_seed(seed),
                                  temperature=temperature)
    last = next(steps)
    first = time.perf_counter() - began
    for last in steps:  # noqa: B007 (the last step is what is kept)
        pass
    return first, time.perf_counter() - began, last.images


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image", default="astronaut")
    parser.add_argument("--mask", default="lower_half", choices=[k for k in tryit.MASK_KINDS
                                                                  if k not in ("rectangle", "strokes")])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--temperature", type=float, default=None, help="default: the card's recommended one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--naive", action="store_true", help="also time the naive sampler once")
    parser.add_argument("--note", default=None, help="recorded as it is (e.g. what else ran on the machine)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)

    model, card = pretrained.load("pixelcnnpp", device="cpu")
    temperature = card["recommended_temperature"] if args.temperature is None else args.temperature
    image = tryit.load_image(args.image)
    mask = tryit.make_mask(args.mask)
    results = []
    for k, threads in enumerate(args.threads):
        torch.set_num_threads(threads)
        timed_fill(model, image, mask, temperature, args.seed)                    # warm-up
        runs = [timed_fill(model, image, mask, temperature, args.seed) for _ in range(args.repeats)]
        beliefs = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            tryit.predictive_distributions(model, runs[0][2][0], temperature=temperature)
            beliefs.append(time.perf_counter() - began)
        once = inpaint(model, image, mask, generator=torch.Generator().manual_seed(args.seed), temperature=temperature)
        result = {
            "benchmark": "tryit_fill_row_by_row",
            "machine": machine(),
            "torch": torch.__version__,
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "config": {"model": "pretrained pixelcnnpp", "parameters": card["weights"]["parameters"],
                       "image": args.image, "mask": args.mask, "missing_pixels": int(mask.sum()),
                       "rows": int(mask.any(dim=1).sum()), "batch": 1, "temperature": temperature,
                       "threads": torch.get_num_threads(), "repeats": args.repeats, "seed": args.seed},
            "first_row_s": round(statistics.median(r[0] for r in runs), 3),
            "whole_s": round(statistics.median(r[1] for r in runs), 3),
            "beliefs_s": round(statistics.median(beliefs), 3),
            "first_row_s_repeats": [round(r[0], 3) for r in runs],
            "whole_s_repeats": [round(r[1], 3) for r in runs],
            "identical": bool(torch.equal(runs[0][2], once)),
        }
        if args.naive and k == 0:
            began = time.perf_counter()
            inpaint(model, image, mask, sampler="naive", generator=torch.Generator().manual_seed(args.seed),
                    temperature=temperature)
            result["naive_whole_s"] = round(time.perf_counter() - began, 3)
        report(RESULTS, result, record=not args.no_record, note=args.note)
        results.append(result)
    return results


if __name__ == "__main__":
    main()
