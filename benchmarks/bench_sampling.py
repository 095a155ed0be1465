"""Speed of PixelCNN++ inpainting of the lower half: the naive sampler against the fast (row-cached) one.

    python benchmarks/bench_sampling.py                                   # the CPU setting of record
    python benchmarks/bench_sampling.py --device cuda --nr-resnet 5 --nr-filters 160
    python benchmarks/bench_sampling.py --unconditional                   # whole images: pixelcnnpp.sample

Setting of record: lower half of 32x32 images (rows 16..31, 512 pixels), batch 16,
nr_resnet=1, nr_filters=32, nr_logistic_mix=10, 2 CPU threads; ``speedup`` is naive time / fast
time (the recorded figures are in benchmarks/README.md and benchmarks/results/). The model is randomly
initialised: the work per pixel does not depend on the weights. Both samplers start from the same
seed, so they should draw the same pixels; ``identical`` says whether they did. In float32 the
row-wise convolutions may round differently from whole-map ones (other kernels, other summation
orders, about 1e-7), so a drawn value can in rare cases land on the other side of a bin edge, after
which the two runs part ways; ``fraction_identical`` shows how much of the output still agrees.
Each sampler runs ``--repeats`` times (``--naive-repeats`` for the slow one); medians are reported.
``--rows R`` samples only the first R rows of the lower half, for a quick look; ``--unconditional``
draws whole images from nothing instead (:func:`inpaint_lib.pixelcnnpp.sample`, 1,024 pixels).

``fast_profile`` says where the fast sampler's time goes, from two more runs: one with its phases
timed (the first pass over the rows above the first drawn one; the row passes at row starts and
ends; the per-pixel updates; reading the output; the draws; writing the pixels; on a GPU each
phase is synchronised, which adds waiting), and one under ``torch.profiler`` counting the torch
operations launched per drawn position, in all and per phase (the per-pixel cost is mostly
their launch overhead, a few microseconds each on a CPU or a GPU). ``--note`` is recorded as it is
(say what code was measured, e.g. for a comparison run of an older version).

Prints one JSON line and appends it to ``benchmarks/results/sampling.jsonl`` (unless --no-record).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import functools
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inpaint_lib.masks import lower_half  # noqa: E402
from inpaint_lib.pixelcnnpp.inpainting import inpaint  # noqa: E402
from inpaint_lib.pixelcnnpp.model import PixelCNNpp  # noqa: E402
from inpaint_lib.pixelcnnpp.sampling import sample  # noqa: E402
from inpaint_lib.utils import synchronize  # noqa: E402
from recording import machine, report  # benchmarks/recording.py  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "sampling.jsonl"


def images(batch: int) -> torch.Tensor:
    """Test images from the ``sample`` set (random ones if it cannot be loaded)."""
    try:
        from inpaint_lib.data import load_split, to_float
        return to_float(load_split("sample", "test")[:batch])
    except Exception as err:  # the speed does not depend on the picture
        print(f"(sample data unavailable: {err}; using random images)", file=sys.stderr)
        generator = torch.Generator().manual_seed(0)
        return torch.randint(0, 256, (batch, 3, 32, 32), generator=generator) / 127.5 - 1


def timed(model, x, mask, sampler: str, seed: int, device: torch.device) -> tuple[float, torch.Tensor]:
    generator = torch.Generator(device=device).manual_seed(seed)
    synchronize(device)
    start = time.perf_counter()
    if mask is None:                                   # unconditional: as many images as x has
        out = sample(model, len(x), generator=generator, sampler=sampler)
    else:
        out = inpaint(model, x, mask, sampler=sampler, generator=generator)
    synchronize(device)
    return time.perf_counter() - start, out


def profile_fast(model, x, mask, seed: int, device: torch.device) -> dict:
    """The fast sampler's time per phase (one timed run) and torch operations per drawn position (one profiled run)."""
    from torch.profiler import ProfilerActivity, profile, record_function

    from inpaint_lib.pixelcnnpp import fast_sampling, sampling

    net = fast_sampling.RowCachedPixelCNNpp
    phases = {"first_pass": (net, "__init__"), "refresh": (net, "refresh"), "update": (net, "update"),
              "output": (net, "output_at"), "write": (net, "set_pixel"),
              "draw": (sampling, "sample_from_discretized_mix_logistic")}
    originals = {name: getattr(owner, attr) for name, (owner, attr) in phases.items()}
    seconds, ops, calls = collections.Counter(), collections.Counter(), collections.Counter()

    def wrap(name, f, tag):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            if name == "update":                     # update(i, j): one pixel; update(i): the end of a row
                key = "pixel_update" if len(args) > 2 or kwargs.get("j") is not None else "refresh"
            else:
                key = name
            if tag:
                with record_function("phase:" + key):
                    return f(*args, **kwargs)
            start = time.perf_counter()
            out = f(*args, **kwargs)
            synchronize(device)
            seconds[key] += time.perf_counter() - start
            calls[key] += 1
            return out
        return wrapper

    def install(tag):
        for name, (owner, attr) in phases.items():
            setattr(owner, attr, wrap(name, originals[name], tag))

    try:
        install(tag=False)
        total, _ = timed(model, x, mask, "fast", seed, device)
        install(tag=True)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            timed(model, x, mask, "fast", seed, device)
    finally:
        for name, (owner, attr) in phases.items():
            setattr(owner, attr, originals[name])
    pixels = calls["draw"]
    for event in prof.events():                     # torch operations called directly (not from inside another)
        parent = event.cpu_parent
        if event.name.startswith("phase:") or not (parent is None or parent.name.startswith("phase:")):
            continue
        ops[parent.name[len("phase:"):] if parent is not None else "other"] += 1
    seconds["other"] = total - sum(seconds.values())
    def by_size(counts, scale, digits):
        return {k: round(v * scale, digits) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}

    return {"total_s": round(total, 3), "positions": pixels, "seconds": by_size(seconds, 1, 3),
            "ops_per_position": round(sum(ops.values()) / pixels, 1),
            "ops_per_position_by_phase": by_size(ops, 1 / pixels, 1)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
    p.add_argument("--nr-resnet", type=int, default=1)
    p.add_argument("--nr-filters", type=int, default=32)
    p.add_argument("--nr-logistic-mix", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3, help="timed runs of the fast sampler")
    p.add_argument("--naive-repeats", type=int, default=1, help="timed runs of the naive sampler")
    p.add_argument("--rows", type=int, default=16, help="sample only the first ROWS rows of the lower half")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--unconditional", action="store_true",
                   help="sample whole images from nothing (pixelcnnpp.sample) instead of the lower half")
    p.add_argument("--no-profile", action="store_true", help="skip the fast sampler's profile (fast_profile)")
    p.add_argument("--note", default=None, help="recorded as it is: what code was measured")
    p.add_argument("--no-record", action="store_true", help="print only; do not append to the results file")
    args = p.parse_args(argv)
    if not 1 <= args.rows <= 16:
        p.error(f"--rows must be in 1..16, got {args.rows}")

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    model = PixelCNNpp(args.nr_resnet, args.nr_filters, args.nr_logistic_mix).to(device).eval()
    x = images(args.batch).to(device)
    mask = lower_half()
    mask[16 + args.rows:] = False
    rows = 32 if args.unconditional else args.rows

    region = None if args.unconditional else mask
    timed(model, x[:2], region, "fast", args.seed, device)          # warm-up (kernels, allocator)
    fast = [timed(model, x, region, "fast", args.seed, device) for _ in range(args.repeats)]
    naive = [timed(model, x, region, "naive", args.seed, device) for _ in range(args.naive_repeats)]
    fast_s = statistics.median(t for t, _ in fast)
    naive_s = statistics.median(t for t, _ in naive)
    a, b = naive[0][1], fast[0][1]
    missing = torch.ones_like(a, dtype=torch.bool) if args.unconditional else \
        mask.to(device).expand_as(a[:, :, 0])[:, :, None].expand_as(a)

    result = {
        "benchmark": "pixelcnnpp_sample_unconditional" if args.unconditional else "pixelcnnpp_inpaint_lower_half",
        "machine": machine(),
        "torch": torch.__version__,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "config": {"batch": args.batch, "image_size": 32, "rows": rows, "pixels": 32 * rows,
                   "nr_resnet": args.nr_resnet, "nr_filters": args.nr_filters,
                   "nr_logistic_mix": args.nr_logistic_mix, "device": str(device),
                   "threads": torch.get_num_threads(), "repeats": args.repeats,
                   "naive_repeats": args.naive_repeats, "seed": args.seed},
        "naive_s": round(naive_s, 3),
        "fast_s": round(fast_s, 3),
        "speedup": round(naive_s / fast_s, 2),
        "naive_s_repeats": [round(t, 3) for t, _ in naive],
        "fast_s_repeats": [round(t, 3) for t, _ in fast],
        "identical": bool(torch.equal(a, b)),
        "fraction_identical": round((a == b)[missing].float().mean().item(), 4),
    }
    if not args.no_profile:
        result["fast_profile"] = profile_fast(model, x, region, args.seed, device)
    report(RESULTS, result, record=not args.no_record, note=args.note)
    return result


if __name__ == "__main__":
    main()
