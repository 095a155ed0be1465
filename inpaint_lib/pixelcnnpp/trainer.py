"""Training PixelCNN++: what is its own on top of the course's one loop (:mod:`inpaint_lib.training`).

The objective is the negative log-likelihood of the training images in nats per sub-pixel,
``loss = NLL(x) / (B * 3 * 32 * 32)``; divided by ln 2 it is the bits/dim the course reports.

Where the original code went wrong and this one does not (its known pitfalls):
- the learning rate decays by ``lr_decay`` after **every step** (``lr_t = lr * lr_decay^t``),
  not once per epoch;
- test bits/dim divide by the true number of test images (the original divided by one batch
  too few), and are computed with the **averaged weights**, which are also what gets sampled;
- a non-finite loss or gradient skips the step (counted; the run stops after ``max_nonfinite``).

It trains under ``torchrun`` with several processes (DDP: gloo on CPU, NCCL on GPUs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from .. import data
from ..training import NonFiniteGuard, TrainConfig, Trainer, linear_decay, run_progress, warmup
from ..utils import full_float32
from .likelihood import bits_per_dim, discretized_mix_logistic_loss
from .model import PixelCNNpp

__all__ = ["PixelCNNppConfig", "PixelCNNppTrainer", "PRESETS", "make_config", "train", "load_trainer",
           "load_model", "load_or_train", "nats_per_dim"]

LR_SCHEDULES = ("exponential", "linear")

PRESETS: dict[str, dict[str, Any]] = {
    # CPU, minutes: a small model that learns visibly on the sample data set; bf16 autocast where
    # the CPU has bf16 instructions (float32 elsewhere). Its 15-minute figures are in the README.
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


@dataclass
class PixelCNNppConfig(TrainConfig):
    """Every setting of a PixelCNN++ run (:class:`~inpaint_lib.training.TrainConfig` and these)."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    MODEL: ClassVar[str] = "pixelcnnpp"

    # the network
    nr_resnet: int = 1
    nr_filters: int = 32
    nr_logistic_mix: int = 10
    dropout: float = 0.5
    # optimisation (and new defaults for common fields)
    lr_schedule: str = "exponential"   # "exponential": lr * lr_decay**step, as the original;
                                       # "linear": constant, then to 0 over the last decay_fraction of the run
    lr_decay: float = 0.999995         # per step ("exponential")
    decay_fraction: float = 1.0        # ("linear") the run's length counts steps or time_budget_s, whichever ends it
    warmup_steps: int = 0              # linear warm-up from lr / warmup_steps
    betas: tuple[float, float] = (0.95, 0.9995)
    ema_decay: float = 0.9995
    grad_clip: float | None = None     # clip the gradient norm (None: only measured)
    max_nonfinite: int = 20
    eval_every: int = 100
    n_samples: int = 16
    run_dir: str = "runs/pixelcnnpp"

    def validate(self) -> PixelCNNppConfig:
        super().validate()
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
        checks = {"nr_resnet": self.nr_resnet > 0, "nr_filters": self.nr_filters > 0,
                  "nr_logistic_mix": self.nr_logistic_mix > 0, "dropout": 0 <= self.dropout < 1,
                  "lr_decay": 0 < self.lr_decay <= 1, "decay_fraction": 0 <= self.decay_fraction <= 1,
                  "warmup_steps": self.warmup_steps >= 0, "max_nonfinite": self.max_nonfinite >= 0,
                  "grad_clip": self.grad_clip is None or self.grad_clip > 0}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"bad value for {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")
        return self


def nats_per_dim(x: torch.Tensor, l: torch.Tensor, check_inputs: bool = True) -> torch.Tensor:
    """Mean negative log-likelihood per sub-pixel: ``NLL(x) / (B * C * H * W)`` in nats."""
    return discretized_mix_logistic_loss(x, l, check_inputs=check_inputs) / x.numel()


class PixelCNNppTrainer(Trainer):
    """PixelCNN++ on the course's loop: the model, Adam, the likelihood step, test bits/dim, samples."""

    config_class = PixelCNNppConfig
    kind = "pixelcnnpp"
    trained_by = "notebook 05 or `python -m inpaint_lib.train pixelcnnpp`"
    checked_keys = ["nr_resnet", "nr_filters", "nr_logistic_mix", "dataset"]
    log_columns = ("train_bpd", "grad_norm")
    eval_columns = ("bpd",)
    extra_columns = ("skipped",)
    distributed = True

    config: PixelCNNppConfig

    @classmethod
    def build_model(cls, config: PixelCNNppConfig) -> PixelCNNpp:
        return PixelCNNpp(nr_resnet=config.nr_resnet, nr_filters=config.nr_filters,
                          nr_logistic_mix=config.nr_logistic_mix, dropout=config.dropout)

    def build(self) -> None:
        c = self.config
        self.model = self.build_model(c).to(self.device)
        # the trainer's images come from uint8 pixels (data.to_float), in [-1, 1] by construction:
        # checking the range on the device would cost a synchronisation per forward pass
        self.model.check_inputs = False
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = self.adam(self.model)
        self.optimizers = [self.optimizer]
        self.guard = NonFiniteGuard(c.max_nonfinite)
        self.forward = self.model
        if self.world_size > 1:
            self.forward = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if self.compiled:
            self.forward = torch.compile(self.forward)

    def lr_factor(self, step: int) -> float:
        """Warm-up times the configured decay for 0-based ``step``.

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

    def optimise(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Forward, backward, guard, Adam step, average: ``train_bpd`` and the gradient norm."""
        self.model.train()
        with self.autocast():
            l = self.forward(x)
        loss = nats_per_dim(x, l.float(), check_inputs=False)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = self.config.grad_clip if self.config.grad_clip is not None else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        if not self.guard.should_skip(loss, grad_norm, self.step):
            self.optimizer.step()
            self.update_average()
        return {"train_bpd": loss.detach() / math.log(2), "grad_norm": grad_norm.detach()}

    def extra_log(self) -> dict[str, float]:
        return {"skipped": self.guard.skipped}

    def extra_state(self) -> dict[str, Any]:
        return {"skipped": self.guard.skipped}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.guard.skipped = state["skipped"]

    def describe(self) -> str:
        return f"{self.config.nr_filters} filters, {self.config.nr_resnet} blocks"

    @torch.no_grad()
    def evaluate(self, n_images: int | None = None, batch_size: int = 100) -> dict[str, float]:
        """Test bits/dim of the averaged weights: ``{"bpd": sum of NLL / (n_images * 3 * 32 * 32 * ln 2),
        "n_images": n_images}``, over the first ``n_images`` test images (None: every one).

        Always float32, also after training under bf16 autocast, and without TF32 on a GPU
        (:func:`inpaint_lib.utils.full_float32`): the figure of record. Each batch's NLL (float32) stays
        on the device; they are read once at the end and added up in float64 on the host, in batch
        order (no float64 on the device: an Apple GPU has none).
        """
        images = self.test_images()[:n_images] if n_images else self.test_images()
        model = self.inference_model.eval()
        batches = []
        with full_float32():
            for start in range(0, len(images), batch_size):
                x = self.to_input(data.to_float(images[start: start + batch_size]))
                batches.append(discretized_mix_logistic_loss(x, model(x), check_inputs=False))
        total = 0.0  # a plain loop, not sum(): Python's sum() of floats compensates, and the figure would move
        for nats in torch.stack(batches).tolist():
            total += nats
        return {"bpd": float(bits_per_dim(total, len(images))), "n_images": len(images)}

    @torch.no_grad()
    def samples(self, n: int | None = None, seed: int = 1234) -> torch.Tensor:
        """Unconditional samples of the averaged weights with fixed noise (the same every time)."""
        from .sampling import sample
        return sample(self.inference_model, n or self.config.n_samples,
                      generator=torch.Generator(self.device).manual_seed(seed))

    def save_samples(self) -> Path:
        from ..viz import save_grid
        return save_grid(self.samples(), self.run_dir / "samples" / f"step_{self.step:07d}.png")


make_config = PixelCNNppConfig.from_preset
train = PixelCNNppTrainer.train
load_trainer = PixelCNNppTrainer.load_trainer
load_model = PixelCNNppTrainer.load_model
load_or_train = PixelCNNppTrainer.load_or_train
