"""The course's first run on a GPU, in one command: correctness, speed, and a short training run.

    bash benchmarks/gpu_check.sh [OUT_DIR]      # installs the course against the machine's torch, then this
    python benchmarks/gpu_check.py --out runs/gpu_check.json

On a CUDA machine (about 8 minutes on an H200) each check runs at the sizes of record:

1. ``environment``: torch, CUDA, the GPU, bf16 in hardware;
2. ``unit_tests``: the fast test suite (``pytest -m "not slow"``), when pytest is installed;
3. ``pixelcnnpp_step``: the ``seed`` configuration's training step (batch 12; and the ``full``
   preset's batch 64) in bf16 with channels_last, eager and compiled: images/s, the FLOPs of
   one image's forward and backward pass (``torch.utils.flop_counter``), and the model FLOP
   utilisation against the dense bf16 peak (989 TFLOP/s on an H200 SXM; never the sparse figure);
4. ``synchronisations``: host reads per training step, counted with ``torch.cuda.set_sync_debug_mode``
   (a PixelCNN++ step should make one, its non-finite guard; a Pix2Pix step none);
5. ``resume``: a checkpoint loaded onto the GPU puts the optimiser's step counters where it reads them;
6. ``samplers``: naive and fast samplers on the same lower halves, time and ratio, and equality of
   their pixels in float64 (in float32 without TF32 they may part at a bin edge);
7. ``notebook_05``: two minutes of ``seed``-configuration training through notebook 05 under papermill.

Without a GPU the same checks run on the CPU at toy sizes in seconds (``--quick`` forces that
anywhere): the fallback that shows the script starts and every check runs. Everything goes into
one JSON file; a check that fails records its error and the others still run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recording import machine  # benchmarks/recording.py  # noqa: E402

DENSE_BF16_PEAK = {"H200": 989e12, "H100": 989e12, "A100": 312e12}  # FLOP/s, dense (not the sparse figures)


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in DENSE_BF16_PEAK.items() if key in name), None)


def environment(device: torch.device, quick: bool) -> dict:
    from inpaint_lib.utils import native_bf16
    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": str(device),
            "bf16_in_hardware": native_bf16(device), "quick": quick}
    if device.type == "cuda":
        info.update(gpu=torch.cuda.get_device_name(device), capability=torch.cuda.get_device_capability(device))
    return info


def unit_tests(device: torch.device, quick: bool) -> dict:
    if shutil.which("pytest") is None and subprocess.run([sys.executable, "-c", "import pytest"]).returncode:
        return {"skipped": "pytest is not installed here"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-m", "not slow", "-p", "no:cacheprovider",
                           "tests"], cwd=REPO, capture_output=True, text=True, timeout=600)
    return {"returncode": done.returncode, "summary": done.stdout.strip().splitlines()[-1:]}


def _pixelcnnpp_trainer(preset: str, device: torch.device, quick: bool, run_dir: str, **overrides):
    from inpaint_lib.pixelcnnpp import PixelCNNppTrainer, make_config
    tiny = dict(nr_resnet=1, nr_filters=16, batch_size=4) if quick else {}
    settings = {"max_steps": 10**6, "eval_every": 0, **tiny, **overrides}
    config = make_config(preset, dataset="sample", device=str(device), run_dir=run_dir, progress=False, **settings)
    return PixelCNNppTrainer(config)


def _images_per_second(trainer, batch: torch.Tensor, steps: int) -> float:
    for _ in range(2):
        trainer._step(batch)
    if batch.device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        trainer._step(batch)
    if batch.device.type == "cuda":
        torch.cuda.synchronize()
    return steps * len(batch) / (time.perf_counter() - started)


def _flops_per_image(trainer, batch: torch.Tensor) -> float:
    """FLOPs of one image's forward and backward pass of the model (matmuls and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    from inpaint_lib.pixelcnnpp.trainer import nats_per_dim
    model = trainer.model
    with FlopCounterMode(display=False) as counter:
        with trainer.autocast():
            out = model(batch)
        nats_per_dim(batch, out.float(), check_inputs=False).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(batch)


def pixelcnnpp_step(device: torch.device, quick: bool) -> dict:
    from inpaint_lib import data
    results, steps = {}, 3 if quick else 20
    presets = [("seed", 12), ("full", 64)] if not quick else [("seed", 4)]
    for preset, batch_size in presets:
        for compiled in (False, True):
            name = f"{preset}_batch{batch_size}_bf16_channels_last_{'compiled' if compiled else 'eager'}"
            with tempfile.TemporaryDirectory() as run_dir:
                trainer = _pixelcnnpp_trainer(preset, device, quick, run_dir, batch_size=batch_size, amp=True,
                                              channels_last=True, compile=compiled)
                images = data.load_split("sample", "train")[:batch_size]
                batch = trainer.to_input(data.to_float(images))
                started = time.perf_counter()
                if compiled:
                    trainer.warm_up(batch)
                compile_seconds = time.perf_counter() - started
                rate = _images_per_second(trainer, batch, steps)
                flops = _flops_per_image(trainer, batch)
                peak = peak_flops(device)
                results[name] = {"images_per_s": round(rate, 2), "gflop_per_image": round(flops / 1e9, 3),
                                 "compile_seconds": round(compile_seconds, 1) if compiled else 0.0,
                                 "bf16": trainer.use_amp, "channels_last": trainer.channels_last,
                                 "mfu": round(rate * flops / peak, 4) if peak else None}
    return results


def synchronisations(device: torch.device, quick: bool) -> dict:
    if device.type != "cuda":
        return {"skipped": "torch.cuda.set_sync_debug_mode needs a GPU (tests/ count host reads on the CPU)"}
    from inpaint_lib.pix2pix import Pix2PixTrainer
    from inpaint_lib.pix2pix import make_config as pix2pix_config
    counts = {}
    with tempfile.TemporaryDirectory() as run_dir:
        trainers = {"pixelcnnpp": _pixelcnnpp_trainer("seed", device, quick, run_dir + "/a"),
                    "pix2pix": Pix2PixTrainer(pix2pix_config("demo", device=str(device), run_dir=run_dir + "/b",
                                                             progress=False))}
        for name, trainer in trainers.items():
            batch = next(iter(trainer.loader))
            trainer._step(trainer.augment(batch))  # first step: lazy initialisation may synchronise
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("warn")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for _ in range(3):
                    trainer._step(trainer.augment(batch))
            torch.cuda.set_sync_debug_mode("default")
            counts[name] = {"syncs_per_step": len(caught) / 3, "first": [str(w.message)[:120] for w in caught[:2]]}
    return counts


def resume(device: torch.device, quick: bool) -> dict:
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = _pixelcnnpp_trainer("demo", device, True, run_dir, max_steps=2, checkpoint_every=1)
        trainer.fit()
        resumed = _pixelcnnpp_trainer("demo", device, True, run_dir, max_steps=2).load()
        steps = [s["step"].device.type for s in resumed.optimizer.state_dict()["state"].values()]
        return {"step_counter_devices": sorted(set(steps)), "fused": resumed.optimizer.defaults.get("fused")}


def samplers(device: torch.device, quick: bool) -> dict:
    from inpaint_lib import data
    from inpaint_lib.masks import lower_half
    from inpaint_lib.pixelcnnpp import PixelCNNpp, inpaint
    from inpaint_lib.utils import full_float32
    n = 1 if quick else 16
    torch.manual_seed(0)
    model = PixelCNNpp(nr_resnet=1, nr_filters=32, nr_logistic_mix=10).to(device).eval()
    images = data.to_float(data.load_split("sample", "test")[:n]).to(device)
    mask = lower_half().to(device)
    times = {}
    with full_float32():
        for sampler in ("fast", "naive"):
            generator = torch.Generator(device).manual_seed(0)
            started = time.perf_counter()
            inpaint(model, images, mask, sampler=sampler, generator=generator)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[sampler] = time.perf_counter() - started
        exact = model.double()
        few = images[:2].double()
        draws = [inpaint(exact, few, mask, sampler=s, generator=torch.Generator(device).manual_seed(1))
                 for s in ("naive", "fast")]
    return {"images": n, "fast_s": round(times["fast"], 3), "naive_s": round(times["naive"], 3),
            "ratio": round(times["naive"] / times["fast"], 1), "equal_in_float64": bool(torch.equal(*draws))}


def notebook_05(device: torch.device, quick: bool) -> dict:
    try:
        import papermill  # noqa: F401
    except ImportError:
        return {"skipped": "papermill is not installed here"}
    with tempfile.TemporaryDirectory() as out:
        budget = 10 if quick else 120
        preset = "demo" if quick else "seed"
        command = [sys.executable, "-m", "papermill", str(REPO / "notebooks" / "05_train_pixelcnnpp.ipynb"),
                   f"{out}/05.ipynb", "-p", "preset", preset, "-p", "dataset", "sample", "-p", "run_dir", f"{out}/run",
                   "-p", "device", str(device), "-p", "max_steps", str(10**6), "-p", "n_complete", "2",
                   "-y", f"overrides: {{time_budget_s: {budget}, eval_every: 0}}"]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=budget + 400)
        result = {"returncode": done.returncode, "seconds": round(time.perf_counter() - started, 1)}
        if done.returncode:
            result["stderr"] = done.stderr[-1500:]
        else:
            from inpaint_lib.training import read_log
            log = read_log(f"{out}/run")
            result.update(steps=int(log["step"][-1]), train_bpd_first=log["train_bpd"][0],
                          train_bpd_last=log["train_bpd"][-1], images_per_s=log["images_per_s"][-1])
        return result


CHECKS = [environment, unit_tests, pixelcnnpp_step, synchronisations, resume, samplers, notebook_05]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "gpu_check.json")
    parser.add_argument("--quick", action="store_true", help="toy sizes, on whatever device there is")
    parser.add_argument("--only", nargs="*", help="run only these checks")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    quick = args.quick or device.type != "cuda"
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(), "checks": {}}
    for check in CHECKS:
        if args.only and check.__name__ not in args.only:
            continue
        started = time.perf_counter()
        try:
            result = check(device, quick)
        except Exception as err:  # one check failing must not stop the others
            result = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()[-2000:]}
        result["seconds"] = round(time.perf_counter() - started, 1)
        report["checks"][check.__name__] = result
        print(f"{check.__name__}: {json.dumps(result)[:400]}", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))  # after every check: a timeout keeps what was done
    return report


if __name__ == "__main__":
    main()
