"""The baseline table: every naive method on a split, with the course's evaluation protocol.

    python benchmarks/baselines.py --dataset tinyimagenet32 --split val     # INPAINT_DATA=../shared/data
    python benchmarks/baselines.py                                          # the sample test split

Prints the table and appends it, with machine, torch version and date, to
benchmarks/results/baselines.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import torch

from inpaint_lib import baselines, data
from inpaint_lib.evaluation import ResultsTable, evaluate

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    return (f"{platform.machine()} {platform.processor() or ''} ({__import__('os').cpu_count()} cores), "
            f"{torch.get_num_threads()} threads, "
            f"python {platform.python_version()}, torch {torch.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="sample")
    parser.add_argument("--split", default="test")
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--n-images", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train = data.to_float(data.load_split(args.dataset, args.train_split))
    table = ResultsTable()
    start = time.perf_counter()
    for name, method in baselines.make_baselines(train).items():
        scores = evaluate(method, args.dataset, args.split, n_images=args.n_images, progress=False)
        table.add(name, args.dataset, args.split, scores)
    seconds = time.perf_counter() - start
    text = (f"\n## {args.dataset}/{args.split} — {datetime.date.today()} — {machine()}\n\n"
            f"train: {args.dataset}/{args.train_split} ({len(train)} images); total {seconds:.0f} s\n\n"
            f"{table.to_markdown()}\n")
    print(text)
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "baselines.md", "a") as f:
        f.write(text)


if __name__ == "__main__":
    main()
