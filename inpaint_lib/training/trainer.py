"""The course's training loop, written once for every model.

    trainer = PixelCNNppTrainer(make_config("demo", run_dir="runs/mine"))
    trainer.fit()                # to the end of the run, or fit(steps=100) for 100 more
    trainer.evaluate()           # the figures of record on held-out images
    read_log(trainer.run_dir)    # the log as columns, ready to plot

A model family subclasses :class:`Trainer` and supplies only what is its own:

- :meth:`~Trainer.build`: its networks (``self.model`` is the one that is averaged, evaluated
  and shipped) and optimisers; :meth:`~Trainer.build_model` builds ``self.model`` from a config;
- :meth:`~Trainer.optimise`: one optimisation step on a batch, returning its losses as 0-d
  tensors (read only when a row is logged, so that a GPU is not made to wait every step);
- :meth:`~Trainer.lr_factor`: its learning-rate schedule; :meth:`~Trainer.evaluate`: its figures;
- optionally :meth:`~Trainer.augment`, :meth:`~Trainer.save_samples` and extra checkpoint state.

Everything else is here, once: device and bf16 decision, seeding, the data in epochs, the time
budget, the log window, the progress bar, Ctrl-C, checkpoints and exact resumption, and
``torchrun``. Each step of :meth:`Trainer.fit`:

1. take the next batch (epoch ``e`` is shuffled with ``seed + e``; a resumed run skips what it saw);
2. ``augment`` and ``optimise`` it, step the learning-rate schedules, count the step;
3. add the training time (evaluation and image grids are not charged to the budget);
4. every ``log_every`` steps write the window's mean losses, the learning rate, images/s and,
   every ``eval_every`` steps, the held-out figures; every ``sample_every`` steps an image grid;
5. every ``checkpoint_every`` steps, and at the end, an atomic checkpoint.

A checkpoint holds the networks, the average, the optimisers, the schedules, every random
number generator and the step, so a resumed run continues bitwise exactly where it stopped.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import math
import os
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from .. import data
from ..utils import (
    REPO_ROOT,
    describe_machine,
    native_bf16,
    pick_device,
    progress_bar,
    seed_everything,
    set_cpu_threads,
)
from .checkpoint import check_config, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import TrainConfig
from .ema import EMA
from .log import LOG_NAME, CSVLog, read_log
from .schedules import budget_spent

__all__ = ["Trainer", "NonFiniteGuard", "distributed_context", "compile_problem", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "checkpoint.pt"
# compile="auto" compiles a run this long: about twice the break-even that benchmarks/bench_compile.py
# measures on the 2-core CPU (README, "Performance"); the steps are the demo model's in that time
AUTO_COMPILE_MIN_SECONDS = 900
AUTO_COMPILE_MIN_STEPS = 3_000
# the columns every log has; a family adds its losses (log_columns) and held-out figures (eval_columns)
COMMON_COLUMNS = ("step", "epoch", "lr", "seconds", "images_per_s")


class NonFiniteGuard:
    """Count steps skipped for a non-finite loss or gradient; raise once there are more than ``max_skips``."""

    def __init__(self, max_skips: int = 20):
        self.max_skips, self.skipped = max_skips, 0

    def should_skip(self, loss: torch.Tensor, grad_norm: torch.Tensor, step: int) -> bool:
        """True when this step must not be applied.

        The one device synchronisation of a PixelCNN++ step: whether to call the optimiser has to
        be known on the host before it is called (both scalars are read in a single transfer).
        """
        if bool(torch.isfinite(torch.stack([loss.detach().float(), grad_norm.detach().float()])).all()):
            return False
        self.skipped += 1
        if self.skipped > self.max_skips:
            raise FloatingPointError(
                f"stopped at step {step}: {self.skipped} steps had a non-finite loss or gradient "
                f"(limit {self.max_skips}); lower the learning rate, or resume from the last checkpoint")
        return True


def _cxx_answers(path: str) -> bool:
    """Whether the compiler at ``path`` runs (``--version``; Apple's /usr/bin stubs fail without the tools)."""
    try:
        return subprocess.run([path, "--version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def compile_problem(device: torch.device) -> str | None:
    """Why ``torch.compile`` cannot work on ``device`` here and what fixes it, in one line; None when nothing stops it.

    A look, not a compile (milliseconds; compiling even a one-line function takes 20 s on a 2-core CPU):
    on the CPU, inductor's C++ compiler must be found and run: ``$CXX``, else inductor's own choice
    (g++; clang++ on macOS; on Windows ``cl``, which is found only in MSVC's developer prompt). On
    CUDA, inductor needs Triton. A problem this cannot see (missing Python headers, say) stops the
    compile in the warm-up step instead, which :meth:`Trainer.warm_up` handles the same way.
    """
    if device.type == "cuda":
        from torch.utils._triton import has_triton
        return None if has_triton() else "inductor compiles CUDA kernels with Triton, not installed here; install it"
    if device.type != "cpu":
        return None
    inductor = sys.modules.get("torch._inductor.config")  # read when loaded (a user may have set it), else mirrored
    if sys.platform == "win32":
        candidates = [os.environ.get("CXX", "cl")]
    elif os.environ.get("CXX"):
        candidates = [os.environ["CXX"]]
    elif inductor is not None and hasattr(inductor.cpp, "cxx"):  # torch 2.6 has no such setting
        cxx = inductor.cpp.cxx
        candidates = [c for c in (cxx if isinstance(cxx, (list, tuple)) else (cxx,)) if c]
    else:
        candidates = ["clang++" if sys.platform == "darwin" else "g++"]
    for cxx in candidates:
        path = shutil.which(cxx)
        if path and (sys.platform == "win32" or _cxx_answers(path)):
            return None
    return (f"inductor finds no working C++ compiler ({' or '.join(candidates)}); install g++ or clang++ "
            "(on Windows MSVC's Build Tools, used from their developer prompt) or set CXX to one")


def distributed_context() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) for a plain run."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


class _Window:
    """The steps since the last log row: summed losses (tensors, not yet read), images, time."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.steps, self.images, self.start = 0, 0, time.perf_counter()

    def add(self, losses: dict[str, torch.Tensor], images: int) -> None:
        for name, value in losses.items():
            self.sums[name] = self.sums.get(name, 0) + value
        self.steps += 1
        self.images += images

    def row(self) -> dict[str, float]:
        """Mean losses (the device is read here, not at every step) and images per second."""
        return {**{name: float(total) / self.steps for name, total in self.sums.items()},
                "images_per_s": self.images / max(time.perf_counter() - self.start, 1e-9)}


class Trainer:
    """One training run: configuration, networks, optimisers, schedules, position, and the loop."""

    config_class: ClassVar[type[TrainConfig]] = TrainConfig
    kind: ClassVar[str] = "model"            # stored in checkpoints; a checkpoint of another kind is refused
    trained_by: ClassVar[str] = "the CLI"    # what writes this kind of run, for error messages
    model_name: ClassVar[str] = "model"      # the key of self.model among networks()
    checked_keys: ClassVar[list[str]] = []   # config fields a checkpoint must share (architecture, data)
    log_columns: ClassVar[tuple[str, ...]] = ()
    eval_columns: ClassVar[tuple[str, ...]] = ()  # keys of evaluate() logged as test_<key>
    extra_columns: ClassVar[tuple[str, ...]] = ()  # the keys of extra_log()
    distributed: ClassVar[bool] = False      # trains under torchrun with several processes

    model: nn.Module
    optimizers: list[torch.optim.Optimizer]

    def __init__(self, config: TrainConfig, rank: int = 0, world_size: int = 1):
        if world_size > 1 and not self.distributed:
            raise ValueError(f"{self.kind} trains in one process, but torchrun started {world_size}: they would each "
                             f"train the same run and overwrite its checkpoint; run it without torchrun")
        self.config = config.validate()
        self.rank, self.world_size = rank, world_size
        set_cpu_threads(config.threads)
        self.device = pick_device(config.device)
        self.use_amp = config.amp and native_bf16(self.device)  # bf16 autocast where the hardware does bf16
        self.channels_last = config.channels_last and self.device.type == "cuda"
        # each process its own stream (dropout masks differ across processes; process 0 draws what a single
        # process would); the data order and augmentations are seeded with config.seed alone, so all agree
        seed_everything(config.seed + rank)
        self.step = 0
        self.train_seconds = 0.0  # training wall time so far, over every resumption (compiling included)
        self.compile_seconds = 0.0  # of which compiling, in the warm-up step of each fit
        self.legs: list[dict] = []  # one entry per process that trained this run: steps, seconds, machine
        self._leg_seconds_before: float | None = None  # train_seconds when this process's leg began
        self._loader = None
        self._test_images = None
        self.compiled = self.decide_compile()
        if self.compiled:  # compiled code is cached where a later run (or a resume) finds it again
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(REPO_ROOT / "runs" / "compile_cache"))
            if self.device.type == "cpu":
                # inductor's pool of compile worker processes stays alive beside the training and takes
                # the cores it needs (measured on 2 cores: 1.8 img/s compiled against 49 eager); compile here
                import torch._inductor.config as inductor_config
                inductor_config.compile_threads = 1
        self.build()
        self.ema = EMA(self.model, config.ema_decay) if config.ema_decay > 0 else None
        # one LambdaLR per optimiser, stepped once per training step: step s runs at lr * lr_factor(s)
        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(o, self.lr_factor) for o in self.optimizers]

    # ---- what a family supplies ----------------------------------------------------------------
    @classmethod
    def build_model(cls, config: TrainConfig) -> nn.Module:
        """The network that is averaged, evaluated and shipped, freshly initialised for ``config``."""
        raise NotImplementedError

    def build(self) -> None:
        """Set ``self.model`` (from :meth:`build_model`), the other networks, and ``self.optimizers``."""
        raise NotImplementedError

    def networks(self) -> dict[str, nn.Module]:
        """Every trained network by name, as the checkpoint stores them."""
        return {self.model_name: self.model}

    def optimise(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimisation step on ``batch``; call :meth:`update_average` after it. Returns 0-d loss tensors."""
        raise NotImplementedError

    def lr_factor(self, step: int) -> float:
        """The learning-rate multiplier of 0-based ``step``."""
        return 1.0

    def evaluate(self, n_images: int | None = None) -> dict[str, float]:
        """The family's figures of record on the first ``n_images`` held-out images (all when None)."""
        raise NotImplementedError

    def augment(self, batch: torch.Tensor) -> torch.Tensor:
        """The training batch as the model sees it (identity unless the family augments)."""
        return batch

    def save_samples(self) -> Path:
        """Write an image grid of the model's current output to ``run_dir/samples/``."""
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def describe(self) -> str:
        """A few words on what was trained, for messages."""
        return self.kind

    def decide_compile(self) -> bool:
        """Whether the networks' forward passes are compiled (``torch.compile``, CPU and CUDA alike).

        ``compile=True``/``False`` decide; ``"auto"`` compiles a run long enough to repay the
        compile time: a time budget of at least :data:`AUTO_COMPILE_MIN_SECONDS`, or, without one,
        at least :data:`AUTO_COMPILE_MIN_STEPS` steps. The notebooks' runs (hundreds of steps) stay
        eager. The rule uses the configuration only, so a resumed run decides as the first one did.

        Where compiling cannot work (:func:`compile_problem`: no C++ compiler, as on Windows without
        MSVC; no Triton for a GPU) ``"auto"`` trains eagerly and says why in one line, and
        ``compile=True`` stops with a one-line ValueError. ``"auto"`` does not compile on an Apple GPU
        (inductor's MPS backend is young); ``compile=True`` tries there.
        """
        c = self.config
        if c.compile == "auto":
            if c.time_budget_s is not None:
                wanted = c.time_budget_s >= AUTO_COMPILE_MIN_SECONDS
            else:
                wanted = self.total_steps >= AUTO_COMPILE_MIN_STEPS
            if wanted and self.device.type not in ("cpu", "cuda"):
                self._say(f"{self.kind}: compile=auto compiles on CPUs and CUDA GPUs only; "
                          f"training eagerly on {self.device.type}")
                return False
        else:
            wanted = bool(c.compile)
        problem = compile_problem(self.device) if wanted else None
        if problem is None:
            return wanted
        if c.compile is True:
            raise ValueError(f"compile=true, but {problem}; or set compile=false")
        self._say(f"{self.kind}: not compiling, training eagerly: {problem}")
        return False

    def _say(self, line: str) -> None:
        """Print one line of news about the run (process 0 only)."""
        if self.is_main:
            print(line, flush=True)

    def warm_up(self, batch: torch.Tensor) -> float:
        """Compile before the clock of the loop starts: one step on ``batch``, then everything put back.

        The first call of a compiled network compiles it (on a CPU, minutes). Doing that in a step
        whose effects are undone (weights, average, optimiser, random states) keeps it out of the
        logged images/s and leaves the run exactly as an eager one would find it. Returns its seconds.

        When the compiler fails (``BackendCompilerFailed``: no C++ compiler, missing headers, ...),
        ``compile="auto"`` goes on eagerly from the same state and says why in one line;
        ``compile=True`` stops with a one-line RuntimeError (the compiler's own error chained to it).
        """
        import torch._dynamo  # loaded already: torch.compile made the compiled networks
        started = time.perf_counter()
        saved = copy.deepcopy(self.state_dict())
        try:
            self.optimise(self.to_input(self.augment(batch)))
        except torch._dynamo.exc.BackendCompilerFailed as error:
            self.load_state_dict(saved)
            self._stop_compiling(error)
        else:
            self.load_state_dict(saved)
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - started

    def _stop_compiling(self, error: Exception) -> None:
        """After a failed compile: raise (``compile=True``), or put the eager networks back and say so."""
        cause = getattr(error, "inner_exception", None) or error  # the backend's own error (torch 2.6 words it so)
        lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
        why = next((line for line in lines if not line.endswith("raised:")), type(cause).__name__)
        if self.config.compile is True:
            raise RuntimeError(f"compile=true, but compiling failed: {why}; fix that, "
                               "or set compile=false") from error
        from torch._dynamo.eval_frame import OptimizedModule
        for name, value in list(vars(self).items()):  # each compiled network (G, D, forward, ...) by its original
            if isinstance(value, OptimizedModule):
                setattr(self, name, value._orig_mod)
        self.compiled = False
        self._say(f"{self.kind}: compiling failed ({why}); training eagerly")

    # ---- the run's facts -------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return Path(self.config.run_dir)

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_NAME

    @property
    def is_main(self) -> bool:
        """Process 0 writes logs, grids and checkpoints (the only process without torchrun)."""
        return self.rank == 0

    @property
    def test_split(self) -> str:
        return self.config.test_split or data.held_out_split(self.config.dataset)

    @property
    def loader(self) -> data.BatchLoader:
        """The training images, read on first use (a trainer rebuilt from a checkpoint needs none)."""
        if self._loader is None:
            c = self.config
            self._loader = data.make_loader(c.dataset, "train", c.batch_size, shuffle=True, subset=c.subset,
                                            seed=c.seed, drop_last=True, root=c.data_root, device=self.device,
                                            rank=self.rank, world_size=self.world_size)
        return self._loader

    def test_images(self) -> torch.Tensor:
        """The held-out images as uint8 (N, 32, 32, 3), read once."""
        if self._test_images is None:
            self._test_images = data.load_split(self.config.dataset, self.test_split, self.config.data_root)
        return self._test_images

    @property
    def total_steps(self) -> int:
        c = self.config
        return c.max_steps if c.max_steps is not None else math.ceil(c.epochs * len(self.loader))

    @property
    def out_of_time(self) -> bool:
        """True once the training time has reached ``config.time_budget_s``."""
        return budget_spent(self.train_seconds, self.config.time_budget_s)

    @property
    def inference_model(self) -> nn.Module:
        """What is evaluated, sampled and shipped: the average of the weights when ``ema_decay`` > 0, else the model."""
        return self.ema.module if self.ema is not None else self.model

    @property
    def columns(self) -> list[str]:
        return [*COMMON_COLUMNS, *self.log_columns, *(f"test_{k}" for k in self.eval_columns), *self.extra_columns]

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_amp)

    def to_input(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` on the trainer's device, in its memory format."""
        images = images.to(self.device, non_blocking=True)
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images

    def adam(self, net: nn.Module) -> torch.optim.Adam:
        """Adam over ``net``'s parameters with the run's rate and betas, as one fused kernel.

        The fused kernel updates every tensor in one pass (on the CPU as on CUDA) and keeps its step
        counters on the device: the per-tensor optimiser reads each counter back to the host.
        """
        fused = self.device.type in ("cpu", "cuda")
        return torch.optim.Adam(net.parameters(), lr=self.config.lr, betas=self.config.betas, fused=fused)

    def update_average(self) -> None:
        """Move the average of the weights (if any) towards ``self.model`` after this step's update."""
        if self.ema is not None:
            self.ema.update(self.model, self.step)

    # ---- one step -------------------------------------------------------------------------------
    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        """One step as :meth:`fit` takes it (augment, optimise, schedules, step count); its losses as floats."""
        return {name: float(value) for name, value in self._step(self.augment(batch)).items()}

    def _step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Optimise on an augmented batch, step the schedules, count the step."""
        losses = self.optimise(self.to_input(batch))
        for scheduler in self.schedulers:
            scheduler.step()
        self.step += 1
        return losses

    # ---- the loop -------------------------------------------------------------------------------
    def batches(self) -> Iterator[torch.Tensor]:
        """Training batches from the current step on, epoch after epoch."""
        per_epoch = len(self.loader)
        if per_epoch == 0:
            raise ValueError(f"batch_size {self.config.batch_size} is larger than the training set "
                             f"({len(self.loader.images)} images); lower batch_size")
        epoch, start = divmod(self.step, per_epoch)
        while True:
            self.loader.set_epoch(epoch)
            yield from self.loader.batches(start=start)
            epoch, start = epoch + 1, 0

    def fit(self, steps: int | None = None) -> dict[str, list[float]]:
        """Train to the end of the run (or ``steps`` more steps, or to the time budget); returns the log.

        With ``config.resume`` a run continues from ``run_dir``'s checkpoint when there is one.
        Ctrl-C (a notebook's stop button) between two steps saves a checkpoint before it stops.
        """
        c = self.config
        if c.resume and self.step == 0:
            if self.checkpoint_path.exists():
                self.load()
            elif self.is_main:
                print(f"{self.kind}: no checkpoint in {self.run_dir} to resume: starting a new run", flush=True)
        end = self.total_steps if steps is None else min(self.total_steps, self.step + steps)
        log = CSVLog(self.run_dir / LOG_NAME, self.columns, resume_step=self.step) if self.is_main else None
        if self.step < end and self._leg_seconds_before is None:
            self._begin_leg()
        if self.compiled and self.step < end:
            seconds = self.warm_up(next(self.batches()))
            self.compile_seconds += seconds
            self.train_seconds += seconds  # a time budget pays for the compiling (a 15-minute run gets 15)
            if self.compiled:  # else the warm-up said why it goes on eagerly
                self._say(f"{self.kind}: compiled in {seconds:.0f} s (charged to the training time)")
        budget = c.time_budget_s
        bar = progress_bar(total=budget if budget else end, initial=self.train_seconds if budget else self.step,
                           desc=self.kind, unit="s" if budget else "step", enabled=c.progress and self.is_main)
        started, seconds_before, not_charged = time.perf_counter(), self.train_seconds, 0.0
        window, in_step = _Window(), False
        try:
            batches = self.batches()
            while self.step < end and not self.out_of_time:
                lr = self.optimizers[0].param_groups[0]["lr"]  # the rate this step uses
                batch = self.augment(next(batches))
                in_step = True
                losses = self._step(batch)
                in_step = False
                self.train_seconds = self._shared_clock(seconds_before + time.perf_counter() - started - not_charged)
                window.add(losses, c.batch_size)
                bar.update((self.train_seconds - bar.n) if budget else 1)
                last = self.step == end or self.out_of_time
                evaluate = bool(c.eval_every) and (self.step % c.eval_every == 0 or last)
                if self.is_main and (self.step % c.log_every == 0 or evaluate or last):
                    paused = time.perf_counter()
                    row = {"step": self.step, "epoch": (self.step - 1) // len(self.loader), "lr": lr,
                           "seconds": self.train_seconds, **window.row(), **self.extra_log()}
                    if evaluate:
                        figures = self.evaluate(c.eval_images)
                        row.update({f"test_{k}": figures[k] for k in self.eval_columns})
                    log.write(row)
                    shown = {k: f"{row[k]:.3f}" for k in self.log_columns[:2] if k in row}
                    bar.set_postfix({"step": self.step, **shown}, refresh=False)
                    not_charged += time.perf_counter() - paused
                    window = _Window()
                if self.is_main and c.sample_every and (self.step % c.sample_every == 0 or last):
                    paused = time.perf_counter()
                    self.save_samples()
                    not_charged += time.perf_counter() - paused
                if self.step % c.checkpoint_every == 0 or last:
                    self.save()
        except KeyboardInterrupt:
            # between steps the state is whole and is saved; inside one (Pix2Pix: D stepped, G not)
            # it is not, so the last checkpoint stands and resuming repeats that step from it. Under
            # torchrun the processes may stop at different points, so the last checkpoint stands too.
            if not in_step and self.world_size == 1:
                self.save()
            raise
        finally:
            bar.close()
        return read_log(self.run_dir) if self.is_main else {}

    def extra_log(self) -> dict[str, float]:
        """Columns a family logs besides its window means (e.g. a count); their names are ``extra_columns``."""
        return {}

    def _shared_clock(self, seconds: float) -> float:
        """Process 0's training seconds, on every process of a torchrun job.

        Each process measures its own clock, and only process 0 evaluates (time not charged): the
        others spend that time waiting in the next all-reduce. With a time budget they must agree
        on when to stop (or they wait for each other forever) and on a time-driven learning rate,
        so all take process 0's figure. One tiny broadcast per step, only under a budget.

        The float64 seconds travel as their 64 bits in an int64 tensor: exact (every process gets
        process 0's figure bit for bit), carried by every backend, and no float64 on the device
        (an Apple GPU has none; float32 seconds would be exact only to 1/128 s after a day).
        """
        if self.world_size == 1 or self.config.time_budget_s is None:
            return seconds
        clock = torch.tensor([struct.unpack("<q", struct.pack("<d", seconds))[0]], dtype=torch.int64,
                             device=self.device)
        torch.distributed.broadcast(clock, src=0)
        return struct.unpack("<d", struct.pack("<q", clock.item()))[0]

    # ---- the run's legs -------------------------------------------------------------------------
    def _begin_leg(self) -> None:
        """Start this process's entry in :attr:`legs` (a run stopped and resumed is trained in legs).

        A checkpoint written before legs were kept gets one first entry for everything before it.
        """
        if not self.legs and self.step > 0:
            self.legs.append({"first_step": 0, "last_step": self.step, "seconds": round(self.train_seconds, 1),
                              "note": "trained before the run kept its legs"})
        machine = describe_machine()
        self.legs.append({"first_step": self.step, "last_step": self.step, "seconds": 0.0,
                          "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                          "device": machine.get("gpu") if self.device.type != "cpu" else "cpu",
                          "threads": torch.get_num_threads(), "processes": self.world_size,
                          "bf16": self.use_amp,
                          "cpu": f"{machine['cpu_model']}, {machine['cpu_count']} cores",
                          "torch": str(torch.__version__)})
        self._leg_seconds_before = self.train_seconds

    def _current_legs(self) -> list[dict]:
        """:attr:`legs`, this process's entry brought up to the present step and training time."""
        if self._leg_seconds_before is not None:
            self.legs[-1].update(last_step=self.step,
                                 seconds=round(self.train_seconds - self._leg_seconds_before, 1))
        return [dict(leg) for leg in self.legs]

    # ---- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {"kind": self.kind, "config": self.config.to_dict(), "step": self.step,
                 "train_seconds": self.train_seconds, "compile_seconds": self.compile_seconds,
                 "total_steps": self.total_steps, "legs": self._current_legs(),
                 "networks": {name: net.state_dict() for name, net in self.networks().items()},
                 "optimizers": [o.state_dict() for o in self.optimizers],
                 "schedulers": [s.state_dict() for s in self.schedulers],
                 "rng": self._rng_states(), "extra": self.extra_state()}
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return state

    def save(self, path: str | os.PathLike | None = None) -> Path | None:
        """Process 0 writes the checkpoint (default ``run_dir/checkpoint.pt``) atomically.

        Under torchrun every process must call it: the random states of all are gathered.
        """
        state = self.state_dict()
        if not self.is_main:
            return None
        return save_checkpoint(path or self.checkpoint_path, state)

    @classmethod
    def check_checkpoint(cls, state: dict, path: Path) -> None:
        if state.get("kind") != cls.kind or "networks" not in state:
            raise ValueError(f"{path} is not a {cls.kind} checkpoint of this course (kind {state.get('kind')!r}); "
                             f"point at a run of {cls.trained_by}")

    def load(self, path: str | os.PathLike | None = None) -> Trainer:
        """Restore everything from a checkpoint made with the same architecture (and data, where it matters).

        The file is read onto the CPU; each ``load_state_dict`` moves what it needs to the device.
        """
        path = Path(path or self.checkpoint_path)
        state = load_checkpoint(path)
        self.check_checkpoint(state, path)
        check_config(state["config"], self.config.to_dict(), self.checked_keys, what=f"checkpoint {path}")
        self._leg_seconds_before = None  # what trains from here on is a new leg (a warm-up's undo is not)
        return self.load_state_dict(state)

    def load_state_dict(self, state: dict[str, Any]) -> Trainer:
        """Put back what :meth:`state_dict` returned (checked by :meth:`load` when it comes from a file)."""
        for name, net in self.networks().items():
            net.load_state_dict(state["networks"][name])
        for optimizer, saved in zip(self.optimizers, state["optimizers"], strict=True):
            optimizer.load_state_dict(saved)
        for scheduler, saved in zip(self.schedulers, state["schedulers"], strict=True):
            scheduler.load_state_dict(saved)
        if self.ema is not None:  # a run that had no average starts one from its current weights
            self.ema.load_state_dict(state.get("ema") or {"weights": self.model.state_dict()})
        self.step, self.train_seconds = state["step"], state["train_seconds"]
        self.compile_seconds = state.get("compile_seconds", 0.0)
        self.legs = [dict(leg) for leg in state.get("legs", [])]
        self.load_extra_state(state["extra"])
        saved = state["rng"]
        set_rng_state(saved[self.rank] if isinstance(saved, list) else saved)
        return self

    def _rng_states(self) -> dict | list[dict]:
        """This process's random number generators; under torchrun every process's, gathered (a list by rank)."""
        if self.world_size == 1:
            return rng_state()
        states = [None] * self.world_size
        torch.distributed.all_gather_object(states, rng_state())
        return states

    # ---- a finished run -------------------------------------------------------------------------
    @classmethod
    def _saved_config(cls, state: dict, **changes) -> TrainConfig:
        # the schedule's length in steps, so that no data set is needed to rebuild the run
        return cls.config_class.from_saved(state["config"], max_steps=state["total_steps"], epochs=None, **changes)

    @classmethod
    def load_trainer(cls, run_dir: str | os.PathLike, device: str = "auto") -> Trainer:
        """The trainer of a finished (or interrupted) run, rebuilt from its checkpoint (random states included)."""
        path = Path(run_dir) / CHECKPOINT_NAME
        state = load_checkpoint(path)
        cls.check_checkpoint(state, path)
        return cls(cls._saved_config(state, device=device, run_dir=str(run_dir), resume=False)).load(path)

    @classmethod
    def load_model(cls, run_dir: str | os.PathLike, device: str = "auto", averaged: bool = True,
                   ) -> tuple[nn.Module, dict]:
        """The run's model in eval mode, and what it was: ``(model, {"config", "step", "path"})``.

        With ``averaged`` (the default) the weights are the run's average when it kept one (what
        its evaluation and samples used), else the last step's. Builds no optimiser, reads no data.
        """
        path = Path(run_dir) / CHECKPOINT_NAME
        state = load_checkpoint(path)
        cls.check_checkpoint(state, path)
        model = cls.build_model(cls._saved_config(state, device=device))
        use_average = averaged and "ema" in state
        model.load_state_dict(state["ema"]["weights"] if use_average else state["networks"][cls.model_name])
        return model.to(pick_device(device)).eval(), {"config": state["config"], "step": state["step"], "path": path}

    @classmethod
    def load_or_train(cls, run_dir: str | os.PathLike, config: TrainConfig, train_missing: bool = True,
                      ) -> tuple[Trainer, str]:
        """The run in ``run_dir`` if it has a checkpoint, else ``config`` trained now: ``(trainer, what happened)``.

        With ``train_missing=False`` a missing checkpoint is an error that says what to run.
        """
        run_dir = Path(run_dir)
        if (run_dir / CHECKPOINT_NAME).exists():
            trainer = cls.load_trainer(run_dir, device=config.device)
            return trainer, (f"loaded {run_dir} (step {trainer.step}, {trainer.describe()}, "
                             f"trained on {trainer.config.dataset})")
        if not train_missing:
            raise FileNotFoundError(f"no checkpoint at {run_dir / CHECKPOINT_NAME}; run {cls.trained_by} "
                                    "or allow training a demo model here")
        trainer = cls.train(dataclasses.replace(config, resume=False, progress=False))
        return trainer, (f"no checkpoint at {run_dir}: trained one here for {trainer.step} steps on {config.dataset} "
                         f"({trainer.describe()}, saved in {config.run_dir})")

    @classmethod
    def train(cls, config: TrainConfig) -> Trainer:
        """Build a trainer for ``config`` and run it to the end; under ``torchrun`` every process calls this.

        With several processes (a family with ``distributed``) each takes ``batch_size / world_size``
        images of every global batch (gloo on CPU, NCCL on GPUs, one GPU per process) and DDP keeps
        them in step; process 0 writes logs and checkpoints.
        """
        rank, world, local_rank = distributed_context()
        if world == 1 or not cls.distributed:
            trainer = cls(config, world_size=world)
            trainer.fit()
            return trainer
        import torch.distributed as dist
        use_cuda = config.device != "cpu" and torch.cuda.is_available()
        if use_cuda:
            if local_rank >= torch.cuda.device_count():
                raise ValueError(f"torchrun started more processes on this machine than it has GPUs "
                                 f"({torch.cuda.device_count()}); use --nproc_per_node {torch.cuda.device_count()} "
                                 "or fewer")
            torch.cuda.set_device(local_rank)
            config = dataclasses.replace(config, device=f"cuda:{local_rank}")
        else:  # gloo carries CPU tensors only: "auto" on a Mac trains on the CPU; "mps" is said to be one device
            if config.device not in ("auto", "cpu") and pick_device(config.device).type != "cpu":
                raise ValueError(f"torchrun's processes train on CUDA GPUs (NCCL) or on the CPU (gloo), not on "
                                 f"{config.device!r}; run without torchrun to train on it")
            config = dataclasses.replace(config, device="cpu")
        dist.init_process_group("nccl" if use_cuda else "gloo")
        try:
            trainer = cls(config, rank=rank, world_size=world)
            trainer.fit()
            dist.barrier()
        finally:
            dist.destroy_process_group()
        return trainer
