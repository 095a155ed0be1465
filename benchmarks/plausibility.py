"""Plausibility of every method's completions by a classifier two-sample test, with its controls; sharpness three ways.

    INPAINT_DATA=../shared/data python benchmarks/plausibility.py --dataset tinyimagenet32 --split val
    python benchmarks/plausibility.py                           # the sample set's test split

For the first ``--n-images`` images of the split, one completion of the lower half by each method
(the naive baselines of :mod:`inpaint_lib.baselines`, fitted on ``--train-split``; the shipped
models of :mod:`inpaint_lib.pretrained`: the L1 U-Net, Pix2Pix with PixelGAN, PatchGAN and
PatchGAN + dropout, PixelCNN++ at T = 1 and at its card's recommended temperature), then
:func:`inpaint_lib.plausibility.two_sample_tests`: the held-out accuracy of a small classifier
told to separate true lower halves from completed ones given the upper half (0.5: indistinguishable
to it; 1: always told apart), with its standard error, Wilson 95 % interval and one-sided p-value,
and the controls run the same way (truth against truth: about 0.5; the known half's mean colour and
noise around it: about 1). Every method gets the same split and the same classifier start.

Beside it, per method: L1 x 100 (mean over images) and sharpness summarised three ways, the mean of
the per-image ratios, their median (what :func:`inpaint_lib.evaluation.score` reports) and the
ratio of sums ``sum |grad completion| / sum |grad truth|`` over all images (the evidence for the
median, :func:`inpaint_lib.metrics.median_over_images`).

Prints a table and one JSON line, appended (with machine, torch version and date) to
``benchmarks/results/plausibility.jsonl`` unless ``--no-record``. Run with one thread
(``--threads 1``, the default) on the 2-core CPU: a few minutes for 1,000 images.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inpaint_lib import baselines, data, pretrained  # noqa: E402
from inpaint_lib.evaluation import complete  # noqa: E402
from inpaint_lib.masks import get_mask  # noqa: E402
from inpaint_lib.metrics import l1_x100, median_over_images, sharpness  # noqa: E402
from inpaint_lib.plausibility import CONTROLS, control_completions, two_sample_tests  # noqa: E402
from inpaint_lib.utils import seed_everything  # noqa: E402
from recording import machine, report  # benchmarks/recording.py  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "plausibility.jsonl"
PIX2PIX = {"unet_l1": "L1 U-Net", "pix2pix_pixelgan": "Pix2Pix PixelGAN", "pix2pix_patchgan": "Pix2Pix PatchGAN",
           "pix2pix_dropout": "Pix2Pix PatchGAN + dropout"}


def total_variation(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image, the summed absolute neighbour differences over pairs of missing pixels (sharpness's numerator)."""
    w = mask.to(x.dtype)
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs() * w[..., :, 1:] * w[..., :, :-1]
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs() * w[..., 1:, :] * w[..., :-1, :]
    return dx.flatten(1).sum(1) + dy.flatten(1).sum(1)


def sharpness_three_ways(filled: torch.Tensor, images: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    ratios = sharpness(filled, images, mask).double()
    return {"sharpness_mean": ratios.mean().item(), "sharpness_median": median_over_images(ratios),
            "sharpness_ratio_of_sums": (total_variation(filled, mask).double().sum()
                                        / total_variation(images, mask).double().sum()).item()}


def completions_of_every_method(images: torch.Tensor, train: torch.Tensor, pixelcnnpp_images: int,
                                seed: int) -> tuple[dict[str, torch.Tensor], dict[str, float], dict]:
    """One completion of each image by each method: {name: (N, 3, H, W)}, seconds per image, notes."""
    out, seconds, notes = {}, {}, {}
    for name, method in baselines.make_baselines(train).items():
        done = complete(method, images, batch_size=250)
        out[name], seconds[name] = done.samples[0], done.seconds_per_image
    for name, label in PIX2PIX.items():
        model, card = pretrained.load(name)
        dropout = bool(card["config"].get("use_dropout"))
        seed_everything(seed)                       # Pix2Pix's dropout draws from the global generator
        from inpaint_lib.pix2pix import inpainting_method
        done = complete(inpainting_method(model, dropout=dropout), images, batch_size=250)
        out[label], seconds[label] = done.samples[0], done.seconds_per_image
    model, card = pretrained.load("pixelcnnpp")
    from inpaint_lib.pixelcnnpp import inpainting_method
    notes["pixelcnnpp_recommended_temperature"] = card["recommended_temperature"]
    notes["pixelcnnpp_images"] = pixelcnnpp_images
    for t in (1.0, card["recommended_temperature"]):
        label = f"PixelCNN++ T={t:g}"
        done = complete(inpainting_method(model, seed=seed, temperature=t), images[:pixelcnnpp_images], batch_size=100)
        out[label], seconds[label] = done.samples[0], done.seconds_per_image
    return out, seconds, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="sample")
    parser.add_argument("--split", default=None, help="default: the data set's held-out split")
    parser.add_argument("--train-split", default="train", help="what the baselines are fitted on")
    parser.add_argument("--n-images", type=int, default=1000)
    parser.add_argument("--pixelcnnpp-images", type=int, default=None,
                        help="fewer images for PixelCNN++ (sampling is the slow part); default: --n-images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=300, help="the classifier's training steps")
    parser.add_argument("--test-fraction", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = args.split or data.held_out_split(args.dataset)
    began = time.perf_counter()
    images = data.to_float(data.load_split(args.dataset, split)[: args.n_images])
    train = data.to_float(data.load_split(args.dataset, args.train_split))
    n_pcnn = min(args.pixelcnnpp_images or len(images), len(images))
    mask = get_mask("lower_half")
    filled, seconds, notes = completions_of_every_method(images, train, n_pcnn, args.seed)
    completing = time.perf_counter() - began
    settings = {"steps": args.steps, "test_fraction": args.test_fraction}
    full = {k: v for k, v in filled.items() if len(v) == len(images)}
    tests = two_sample_tests(images, full, "lower_half", args.seed, **settings)
    short = {k: v for k, v in filled.items() if len(v) < len(images)}
    if short:   # PixelCNN++ on fewer images (--pixelcnnpp-images): tested on those, a split of their own
        tests.update(two_sample_tests(images[:n_pcnn], short, "lower_half", args.seed, controls=False, **settings))
    controls = control_completions(images, mask, args.seed)
    rows = []
    for name, result in tests.items():
        completion = controls.get(name, filled.get(name))
        truth = images[: len(completion)]
        rows.append({"method": name, "control": name in CONTROLS, "n_images": len(completion),
                     **{k: result[k] for k in ("accuracy", "stderr", "ci95_low", "ci95_high", "p_value", "n_test",
                                                "n_correct", "n_train", "train_accuracy", "seconds")},
                     "l1_x100": l1_x100(completion, truth, mask).double().mean().item(),
                     **sharpness_three_ways(completion, truth, mask),
                     "completion_seconds_per_image": seconds.get(name)})
    print(f"\n{args.dataset}/{split}, first {len(images)} images; classifier {args.steps} steps, "
          f"test fraction {args.test_fraction}, seed {args.seed}\n")
    print("| method | C2ST accuracy | 95 % interval | p (vs 0.5) | n test | L1x100 | sharpness mean | median | "
          "ratio of sums |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['accuracy']:.3f} ± {r['stderr']:.3f} | {r['ci95_low']:.3f}-{r['ci95_high']:.3f} | "
              f"{r['p_value']:.2g} | {r['n_test']} | {r['l1_x100']:.1f} | {r['sharpness_mean']:.3g} | "
              f"{r['sharpness_median']:.3f} | {r['sharpness_ratio_of_sums']:.3f} |")
    result = {"benchmark": "plausibility_c2st", "machine": machine(), "torch": torch.__version__,
              "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "config": {"dataset": args.dataset, "split": split, "train_split": args.train_split,
                         "n_images": len(images), "seed": args.seed, "threads": args.threads, **settings, **notes},
              "completion_seconds": round(completing, 1), "total_seconds": round(time.perf_counter() - began, 1),
              "rows": rows}
    report(RESULTS, result, record=not args.no_record)


if __name__ == "__main__":
    main()
