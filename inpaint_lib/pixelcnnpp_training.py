"""Training PixelCNN++: one core for notebook 05, the CLI and ``torchrun``.

The objective is the negative log-likelihood of the training images in nats per sub-pixel,
``loss = NLL(x) / (B * 3 * 32 * 32)``; divided by ln 2 it is the bits/dim the course reports.

What the original code did and this one does not (DESIGN.md, "known pitfalls"):
- the learning rate decays by ``lr_decay`` after **every step** (``lr_t = lr * lr_decay^t``),
  not once per epoch;
- test bits/dim divide by the true number of test images (the reference divided by one batch
  too few), and are computed with the **EMA weights**, which are also what gets sampled;
- a non-finite loss or gradient skips the step (counted; the run stops after ``max_nonfinite``).

Checkpoints hold model, EMA, optimiser, scheduler, every RNG state and the position in the
data, so a resumed run continues bitwise exactly where the checkpoint was taken.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from . import data
from .checkpoint import check_config, load_checkpoint, save_checkpoint
from .pixelcnnpp import PixelCNNpp, discretized_mix_logistic_loss
from .training import (EMA, CSVLog, NonFiniteGuard, budget_spent, linear_decay, read_csv, rng_state, run_progress,
                       set_rng_state, warmup)
from .utils import REPO_ROOT, native_bf16, pick_device, seed_everything

ARCHITECTURE_KEYS = ["nr_resnet", "nr_filters", "nr_logistic_mix"]
DATA_KEYS = ["dataset"]
LR_SCHEDULES = ("exponential", "linear")
LOG_COLUMNS = ["step", "epoch", "lr", "train_bpd", "grad_norm", "images_per_s", "skipped", "test_bpd", "seconds"]
CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class PixelCNNppConfig:
    """Every setting of a PixelCNN++ run. Presets fill it; anything can be overridden by name."""

    dataset: str = "sample"
    test_split: str | None = None      # None: the data set's held-out split (test or val)
    epochs: float | None = None        # train for this many epochs ...
    max_steps: int | None = 200        # ... or this many optimiser steps (max_steps wins when both are set;
                                       # make_config clears the preset's one when only the other is given)
    batch_size: int = 16               # global batch (split across processes under torchrun)
    nr_resnet: int = 1
    nr_filters: int = 32
    nr_logistic_mix: int = 10
    dropout: float = 0.5
    lr: float = 1e-3
    lr_schedule: str = "exponential"   # "exponential": lr * lr_decay**step, as the original;
                                       # "linear": constant, then to 0 over the last decay_fraction of the run
    lr_decay: float = 0.999995         # per step ("exponential")
    decay_fraction: float = 1.0        # ("linear") the run's length counts steps or time_budget_s, whichever ends it
    warmup_steps: int = 0              # linear warm-up from lr / warmup_steps
    betas: tuple[float, float] = (0.95, 0.9995)
    ema_decay: float = 0.9995
    amp: bool = False                  # bf16 autocast where the hardware has bf16 (CUDA; CPUs with AVX512-BF16/AMX)
    compile: bool = False              # torch.compile the model (CUDA)
    channels_last: bool = False        # channels_last memory format (CUDA)
    time_budget_s: float | None = None  # stop after this much training wall time (evaluation not counted)
    grad_clip: float | None = None     # clip the gradient norm (None: only measured)
    max_nonfinite: int = 20
    eval_every: int = 100              # steps between test bits/dim (on eval_images)
    eval_images: int | None = 500      # test images per evaluation during fit (evaluate() with no number: all)
    sample_every: int = 0              # steps between sample grids (0: only at the end)
    n_samples: int = 16
    log_every: int = 10
    checkpoint_every: int = 100
    num_workers: int = 0               # data is held in memory; kept for API symmetry, must stay 0
    seed: int = 0
    device: str = "auto"
    threads: int | None = None         # CPU threads (None: torch's default)
    run_dir: str = str(REPO_ROOT / "runs" / "pixelcnnpp")
    resume: bool = False

    def validate(self) -> "PixelCNNppConfig":
        if self.dataset not in data.DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(data.DATASETS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
        checks = {
            "batch_size": self.batch_size > 0, "nr_resnet": self.nr_resnet > 0, "nr_filters": self.nr_filters > 0,
            "nr_logistic_mix": self.nr_logistic_mix > 0, "dropout": 0 <= self.dropout < 1, "lr": self.lr > 0,
            "lr_decay": 0 < self.lr_decay <= 1, "ema_decay": 0 <= self.ema_decay < 1,
            "decay_fraction": 0 <= self.decay_fraction <= 1,
            "warmup_steps": self.warmup_steps >= 0,
            "eval_every": self.eval_every >= 0, "log_every": self.log_every > 0,
            "checkpoint_every": self.checkpoint_every > 0, "num_workers": self.num_workers == 0,
            "n_samples": self.n_samples > 0, "max_nonfinite": self.max_nonfinite >= 0,
            **{key: getattr(self, key) is None or getattr(self, key) > 0
               for key in ("max_steps", "epochs", "time_budget_s", "grad_clip", "eval_images")},
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"bad value for {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")
        if self.max_steps is None and self.epochs is None:
            raise ValueError("set max_steps or epochs")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


PRESETS: dict[str, dict[str, Any]] = {
    # CPU, minutes: a small model that learns visibly on the sample data set (a short run: the EMA
    # averages over ~100 steps, not the original's ~2,000). bf16 autocast where the CPU has bf16
    # instructions (1.5x the steps; float32 elsewhere). 15 minutes on Tiny ImageNet 32 on a 2-core
    # CPU give 3.774 bits/dim on val, 3.915 in float32 (benchmarks/time_to_quality.py; the reference port: 4.27).
    "demo": dict(nr_resnet=1, nr_filters=32, nr_logistic_mix=10, dropout=0.0, batch_size=16, lr=2e-3, ema_decay=0.99,
                 amp=True, max_steps=300, eval_every=100, eval_images=256, checkpoint_every=100),
    # the original study: 160 filters, 5 blocks, 10 mixtures, dropout 0.5, batch 12, lr 1e-3
    "seed": dict(nr_resnet=5, nr_filters=160, nr_logistic_mix=10, dropout=0.5, batch_size=12, lr=1e-3,
                 lr_decay=0.999995, max_steps=None, epochs=50, eval_every=5000, eval_images=2000,
                 checkpoint_every=2000, log_every=100),
    # the same model, made fast on one modern GPU
    "full": dict(nr_resnet=5, nr_filters=160, nr_logistic_mix=10, dropout=0.5, batch_size=64, lr=2e-3,
                 lr_decay=0.99999, max_steps=None, epochs=50, amp=True, channels_last=True,
                 eval_every=2000, eval_images=5000, checkpoint_every=2000, log_every=100),
}


def make_config(preset: str | None = "demo", **overrides) -> PixelCNNppConfig:
    """A config from ``preset`` with ``overrides``; unknown names or presets fail in one line."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    known = {f.name for f in dataclasses.fields(PixelCNNppConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} for pixelcnnpp; known: {', '.join(sorted(known))}")
    values = {**(PRESETS[preset] if preset else {}), **overrides}
    # asking for a length in epochs replaces the preset's length in steps, and the other way round
    if "epochs" in overrides and "max_steps" not in overrides:
        values["max_steps"] = None
    if "max_steps" in overrides and "epochs" not in overrides:
        values["epochs"] = None
    if "betas" in values:
        values["betas"] = tuple(values["betas"])
    return PixelCNNppConfig(**values).validate()


def held_out_split(dataset: str) -> str:
    return "test" if "test" in data.DATASETS[dataset][0] else "val"


def nats_per_dim(x: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood per sub-pixel: ``NLL(x) / (B * C * H * W)`` in nats."""
    return discretized_mix_logistic_loss(x, l) / x.numel()


class PixelCNNppTrainer:
    """Holds model, EMA, optimiser, scheduler, data and position; :meth:`fit` trains, :meth:`evaluate` scores."""

    def __init__(self, config: PixelCNNppConfig, rank: int = 0, world_size: int = 1):
        self.config = config.validate()
        self.rank, self.world_size = rank, world_size
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device = pick_device(config.device)
        # bf16 autocast when asked for (amp) and done in hardware here (utils.native_bf16)
        self.use_amp = config.amp and native_bf16(self.device)
        seed_everything(config.seed)
        self.model = PixelCNNpp(nr_resnet=config.nr_resnet, nr_filters=config.nr_filters,
                                nr_logistic_mix=config.nr_logistic_mix, dropout=config.dropout).to(self.device)
        if config.channels_last and self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.ema = EMA(self.model, config.ema_decay)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, betas=config.betas)
        self.guard = NonFiniteGuard(config.max_nonfinite)
        self.forward = self.model
        if world_size > 1:
            self.forward = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if config.compile:
            self.forward = torch.compile(self.forward)
        self.test_split = config.test_split or held_out_split(config.dataset)
        self.loader = data.make_loader(config.dataset, "train", config.batch_size, shuffle=True, seed=config.seed,
                                       drop_last=True, device=self.device, rank=rank, world_size=world_size)
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.train_seconds = 0.0  # training wall time so far, over every resumption (evaluation not counted)
        self._test_images = None
        # stepped once per training step; the multiplier can depend on the time spent (see lr_factor)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: self.lr_factor(step))

    def lr_factor(self, step: int) -> float:
        """The learning-rate multiplier of 0-based ``step``: warm-up times the configured decay.

        "exponential": ``lr_decay ** step``; "linear": :func:`inpaint_lib.training.linear_decay` of
        the run's progress, measured in steps or, under a time budget, in training seconds.
        """
        c = self.config
        if c.lr_schedule == "exponential":
            decay = c.lr_decay ** step
        else:
            decay = linear_decay(run_progress(step, self.total_steps, self.train_seconds, c.time_budget_s),
                                 c.decay_fraction)
        return warmup(step, c.warmup_steps) * decay

    # ---- bookkeeping ----------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return Path(self.config.run_dir)

    @property
    def total_steps(self) -> int:
        if self.config.max_steps is not None:
            return self.config.max_steps
        return math.ceil(self.config.epochs * len(self.loader))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def out_of_time(self) -> bool:
        """True once the training time has reached ``config.time_budget_s``."""
        return budget_spent(self.train_seconds, self.config.time_budget_s)

    def _shared_clock(self, seconds: float) -> float:
        """Process 0's training seconds, on every process of a torchrun job.

        Each process measures its own clock, and only process 0 evaluates (time not charged): the
        others spend that time waiting in the next all-reduce. With a time budget they must agree
        on when to stop (or they wait for each other forever) and on the linear schedule's learning
        rate, so all take process 0's figure. One tiny broadcast per step, only under a budget.
        """
        if self.world_size == 1 or self.config.time_budget_s is None:
            return seconds
        clock = torch.tensor([seconds], dtype=torch.float64, device=self.device)
        torch.distributed.broadcast(clock, src=0)
        return clock.item()

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "pixelcnnpp", "config": self.config.to_dict(), "model": self.model.state_dict(),
                "ema": self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "rng": rng_state(), "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "skipped": self.guard.skipped, "train_seconds": self.train_seconds}

    def save(self) -> Path | None:
        """Rank 0 writes ``run_dir/checkpoint.pt`` atomically."""
        if not self.is_main:
            return None
        return save_checkpoint(self.run_dir / CHECKPOINT_NAME, self.state_dict())

    def load(self, path: str | os.PathLike | None = None) -> "PixelCNNppTrainer":
        """Restore everything from a checkpoint made with the same architecture and data set."""
        path = Path(path or self.run_dir / CHECKPOINT_NAME)
        state = load_checkpoint(path, map_location=self.device)
        _require_pixelcnnpp(state, path)
        check_config(state["config"], self.config.to_dict(), ARCHITECTURE_KEYS + DATA_KEYS, what="the checkpoint")
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.guard.skipped = state["skipped"]
        self.train_seconds = state.get("train_seconds", 0.0)
        return self

    def autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.use_amp)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.channels_last and self.device.type == "cuda":
            return x.contiguous(memory_format=torch.channels_last)
        return x

    # ---- one step ---------------------------------------------------------------------------
    def train_step(self, x: torch.Tensor) -> dict[str, float]:
        """Forward, backward, guard, Adam step, per-step decay, EMA update."""
        self.model.train()
        lr = self.optimizer.param_groups[0]["lr"]  # the rate this step uses
        x = self._prepare(x)
        with self.autocast():
            l = self.forward(x)
        loss = nats_per_dim(x, l.float())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = self.config.grad_clip if self.config.grad_clip is not None else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        skipped = self.guard.should_skip(loss, grad_norm, self.step)
        if not skipped:
            self.optimizer.step()
            self.ema.update(self.model)
        self.scheduler.step()
        return {"train_bpd": loss.item() / math.log(2), "grad_norm": grad_norm.item(), "skipped": float(skipped),
                "lr": lr}

    # ---- evaluation -------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, n_images: int | None = None, batch_size: int = 100, use_ema: bool = True) -> float:
        """Test bits/dim: ``sum of NLL over the images / (n_images * 3 * 32 * 32 * ln 2)``, EMA weights."""
        if self._test_images is None:  # read once, not at every periodic evaluation
            self._test_images = data.load_split(self.config.dataset, self.test_split)
        images = self._test_images[:n_images] if n_images else self._test_images
        total = 0.0
        self.model.eval()
        with (self.ema.applied(self.model) if use_ema else contextlib.nullcontext()):
            for start in range(0, len(images), batch_size):
                x = self._prepare(data.to_float(images[start: start + batch_size]).to(self.device))
                l = self.model(x)  # float32 even when training under bf16 autocast: the figure of record
                total += discretized_mix_logistic_loss(x, l).double().item()
        return total / (len(images) * 3 * 32 * 32 * math.log(2))

    @torch.no_grad()
    def samples(self, n: int | None = None, seed: int = 1234) -> torch.Tensor:
        """Unconditional samples from the EMA model with fixed noise (the same every time)."""
        from .pixelcnnpp import sample
        self.model.eval()
        with self.ema.applied(self.model):
            return sample(self.model, n or self.config.n_samples, generator=torch.Generator(self.device).manual_seed(seed))

    # ---- the loop ---------------------------------------------------------------------------
    def fit(self, progress: bool = True) -> list[dict]:
        """Train to ``total_steps`` (resuming from the checkpoint when ``config.resume``); returns the log."""
        cfg = self.config
        if cfg.resume and (self.run_dir / CHECKPOINT_NAME).exists():
            self.load()
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        log = CSVLog(self.run_dir / "log.csv", LOG_COLUMNS, resume_step=self.step) if self.is_main else None
        bar = tqdm(total=self.total_steps, initial=self.step, desc="PixelCNN++", unit="step",
                   disable=not (progress and self.is_main))
        started, window_start, window_images = time.perf_counter(), time.perf_counter(), 0
        seconds_before, eval_seconds = self.train_seconds, 0.0  # evaluation is not charged to the time budget
        while self.step < self.total_steps and not self.out_of_time:
            self.loader.set_epoch(self.epoch)
            for x in self.loader.batches(start=self.batch_in_epoch):
                stats = self.train_step(x)
                self.step += 1
                self.batch_in_epoch += 1
                window_images += cfg.batch_size
                bar.update(1)
                bar.set_postfix(bpd=f"{stats['train_bpd']:.3f}")
                self.train_seconds = self._shared_clock(seconds_before + time.perf_counter() - started - eval_seconds)
                last = self.step == self.total_steps or self.out_of_time
                evaluate = cfg.eval_every and (self.step % cfg.eval_every == 0 or last)
                if self.is_main and (self.step % cfg.log_every == 0 or evaluate or last):
                    now = time.perf_counter()
                    row = {"step": self.step, "epoch": self.epoch, **stats, "skipped": self.guard.skipped,
                           "images_per_s": window_images / max(now - window_start, 1e-9),
                           "seconds": self.train_seconds}
                    if evaluate:
                        row["test_bpd"] = self.evaluate(cfg.eval_images)
                        eval_seconds += time.perf_counter() - now
                    log.write(row)
                    window_start, window_images = time.perf_counter(), 0
                if self.is_main and cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.save_samples()
                if self.step % cfg.checkpoint_every == 0 or last:
                    self.save()
                if last:
                    break
            else:
                self.epoch += 1
                self.batch_in_epoch = 0
                continue
            break
        bar.close()
        return log.read() if log else []

    def save_samples(self) -> Path:
        from .viz import save_grid
        return save_grid(self.samples(), self.run_dir / "samples" / f"step_{self.step:07d}.png")


def read_log(run_dir: str | os.PathLike) -> list[dict]:
    """The rows of ``run_dir/log.csv`` with numbers as floats (empty cells as None)."""
    return [{k: (float(v) if v not in ("", None) else None) for k, v in r.items()}
            for r in read_csv(Path(run_dir) / "log.csv")]


def _require_pixelcnnpp(state: dict, path: Path) -> None:
    if state.get("kind", "pixelcnnpp") != "pixelcnnpp" or not {"config", "model", "ema"} <= set(state):
        raise ValueError(f"{path} is not a PixelCNN++ checkpoint (kind {state.get('kind')!r}); "
                         "point at a run of notebook 05 or `python -m inpaint_lib.train pixelcnnpp`")


def load_model(run_dir: str | os.PathLike, device: str = "auto", ema: bool = True) -> tuple[PixelCNNpp, dict]:
    """The trained model of a run, in eval mode, and what it was: ``(model, {"config", "step", "path"})``.

    ``ema=True`` loads the EMA weights (what the run's test bits/dim and samples use). No data set
    is needed. A file that is not a PixelCNN++ checkpoint fails with one line saying what it is.
    """
    path = Path(run_dir) / CHECKPOINT_NAME
    state = load_checkpoint(path, map_location="cpu")
    _require_pixelcnnpp(state, path)
    config = state["config"]
    model = PixelCNNpp(nr_resnet=config["nr_resnet"], nr_filters=config["nr_filters"],
                       nr_logistic_mix=config["nr_logistic_mix"], dropout=config["dropout"])
    weights = dict(state["model"])
    if ema:
        weights.update(state["ema"]["shadow"])
    model.load_state_dict(weights)
    return model.to(pick_device(device)).eval(), {"config": config, "step": state["step"], "path": path}


def load_or_train(run_dir: str | os.PathLike, config: PixelCNNppConfig, train_missing: bool = True,
                  ) -> tuple[PixelCNNpp, str]:
    """The EMA model of the run in ``run_dir`` if it has a checkpoint; else ``config`` trained now.

    Returns (model in eval mode, what happened). With ``train_missing=False`` a missing
    checkpoint is an error that says what to run.
    """
    if (Path(run_dir) / CHECKPOINT_NAME).exists():
        model, info = load_model(run_dir, device=config.device)
        return model, (f"loaded {run_dir} (step {info['step']}, {info['config']['nr_filters']} filters, "
                       f"trained on {info['config']['dataset']})")
    if not train_missing:
        raise FileNotFoundError(f"no checkpoint at {Path(run_dir) / CHECKPOINT_NAME}; run notebook 05 "
                                "(or `python -m inpaint_lib.train pixelcnnpp`) or allow training a demo model here")
    trainer = train(dataclasses.replace(config, resume=False), progress=False)
    model, _ = load_model(config.run_dir, device=config.device)
    return model, (f"no checkpoint at {run_dir}: trained one here for {trainer.step} steps on {config.dataset} "
                   f"(saved in {config.run_dir})")


def config_keys() -> list[str]:
    return [f.name for f in dataclasses.fields(PixelCNNppConfig)]


def distributed_context() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) for a plain run."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def train(config: PixelCNNppConfig, progress: bool = True) -> PixelCNNppTrainer:
    """Train with ``config``; under ``torchrun`` every process calls this and DDP keeps them in step.

    With several processes each takes ``batch_size / world_size`` images of every global batch
    (gloo on CPU, NCCL on GPUs, one GPU per process); rank 0 writes logs and checkpoints.
    """
    rank, world, local_rank = distributed_context()
    if world == 1:
        trainer = PixelCNNppTrainer(config)
        trainer.fit(progress)
        return trainer
    import torch.distributed as dist
    use_cuda = config.device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
        config = dataclasses.replace(config, device=f"cuda:{local_rank}")
    dist.init_process_group("nccl" if use_cuda else "gloo")
    try:
        trainer = PixelCNNppTrainer(config, rank=rank, world_size=world)
        trainer.fit(progress)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return trainer
