"""Training Pix2Pix for lower-half inpainting: configuration, the training step, the loop, resuming.

The same core serves the notebooks (02, 03) and the CLI (``python -m inpaint_lib.train pix2pix``).

One step of the reference (Isola et al. 2017), with x the masked image, y the true image and
``G(x)`` the generator's full image:

1. generator forward, once: ``y_hat = G(x)``, then ``y_fake = composite(y_hat, y)`` (or ``y_hat``
   when ``composite=False``, as the reference);
2. discriminator step on the detached fake and on the real pair,
   ``L_D = 0.5 * (gan(D(x, y_fake), fake) + gan(D(x, y), real))``;
3. generator step, with D frozen,
   ``L_G = gan(D(x, y_fake), real) + lambda * mean|y_fake - y|``.

Compositing (``composite=True``, the default here). G's output is pasted into the known upper
half before both the L1 term and the discriminator see it: ``y_fake = where(mask, G(x), y)``.

- It is what is evaluated: every method is scored on the composited image, so the loss now
  measures exactly the completion and nothing else.
- Without it, G spends capacity and gradient redrawing pixels it is given, and D can tell fakes
  by flaws in the *known* half, a shortcut that teaches G nothing about the missing half.
  With it, real and fake pairs agree exactly above the seam, so all of D's signal is about the
  lower half and how it continues the upper one.
- The whole-image mean of the composited error is exactly half the lower-half mean (for the
  lower-half mask), so lambda = 100 weighs each missing pixel as the reference does.

One consequence for reading the logs: a PatchGAN output whose receptive field lies wholly in the
upper half sees the same pair for real and fake, so it cannot do better than chance (log 2 under
``vanilla``); with n_layers=1 (16x16 patches) that is a good share of the outputs, which pulls
the logged D_real / D_fake towards 0.69.

The ``seed`` preset turns it off (``composite=False``) to be the original study's objective, so its
logged losses compare with the study's final values.

Logged, in the study's units (``log.csv`` in the run folder, averaged over ``log_every`` steps):
``D_real``, ``D_fake`` (the two halves of L_D before the 0.5), ``G_GAN``, ``G_L1`` = 100 *
mean |y_fake - y| over the whole image on the [-1, 1] scale (pix2pix's number when lambda = 100),
and ``G_L1_lower`` = the same over the missing pixels only (twice G_L1 when compositing).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import check_config, load_checkpoint, save_checkpoint
from .training import CSVLog, budget_spent, linear_decay, read_csv, rng_state, run_progress, set_rng_state
from .data import DATASETS, load_split, make_loader, to_float
from .masks import apply_mask, composite, get_mask
from .pix2pix import GAN_MODES, NORMS, GANLoss, UnetGenerator, build_discriminator, init_weights, set_dropout
from .utils import native_bf16, pick_device, seed_everything

NET_D = ("patch", "pixel", "none")
LOG_COLUMNS = ("step", "epoch", "lr", "D_real", "D_fake", "G_GAN", "G_L1", "G_L1_lower", "seconds_per_step")
# what a checkpoint must agree on with the current configuration before its weights are loaded
ARCHITECTURE_KEYS = ["num_downs", "ngf", "ndf", "netD", "n_layers", "norm", "use_dropout", "skip", "mask"]
CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class Pix2PixConfig:
    """Everything a Pix2Pix run depends on. Build one with :func:`make_config` (preset + overrides)."""

    # data
    dataset: str = "sample"
    data_root: str | None = None          # None: $INPAINT_DATA or data/
    subset: int | None = None             # train on a seeded random subset of this many images
    mask: str = "lower_half"
    # networks
    num_downs: int = 5
    ngf: int = 64
    ndf: int = 64
    netD: str = "patch"                   # "patch" (PatchGAN), "pixel" (PixelGAN), "none" (L1-only U-Net)
    n_layers: int = 3                     # PatchGAN depth: 3 -> receptive field 70, 1 -> 16
    norm: str = "batch"
    use_dropout: bool = False
    skip: bool = True                     # False: the U-Net without its skip connections (notebook 02)
    # objective
    gan_mode: str = "vanilla"
    lambda_l1: float = 100.0
    composite: bool = True                # see the module docstring
    flip: bool = False                    # mirror a random half of each batch left-right (augmentation)
    shift: int = 0                        # move each image by up to this many pixels left/right and down
                                          # (reflection padding; augmentation, see random_shift)
    ema_decay: float = 0.0                # > 0: keep an exponential moving average of G's weights and complete with it
    # optimisation
    batch_size: int = 16
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    max_steps: int | None = 1000              # training length in steps, or
    epochs: int | None = None             # in epochs (exactly one of the two)
    decay_fraction: float = 0.5           # lr constant, then linear to 0 over this last fraction
    time_budget_s: float | None = None    # also stop after this much training wall time; the lr decay then
                                          # follows whichever of steps and time ends the run first
    # speed
    amp: bool = False                     # bf16 autocast where the hardware has bf16 (utils.native_bf16):
                                          # CUDA, or a CPU with AVX512-BF16/AMX; float32 elsewhere
    channels_last: bool = False           # CUDA only (on a CPU it slows the U-Net down)
    device: str = "auto"
    seed: int = 0
    # bookkeeping
    run_dir: str = "runs/pix2pix"
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000
    n_samples: int = 8
    resume: bool = False
    progress: bool = True

    def validate(self) -> "Pix2PixConfig":
        """Raise ``ValueError`` (one line) on a setting that cannot work."""
        choices = {"netD": NET_D, "norm": NORMS, "gan_mode": GAN_MODES}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"unknown {key} {getattr(self, key)!r}; choose one of {', '.join(allowed)}")
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        if (self.max_steps is None) == (self.epochs is None):
            raise ValueError(f"set exactly one of max_steps and epochs (got max_steps={self.max_steps}, epochs={self.epochs}); "
                             "e.g. max_steps=1000, epochs=None")
        if not 0 <= self.shift <= 8:
            raise ValueError(f"shift must be between 0 (off) and 8 pixels, got {self.shift}")
        for key in ("batch_size", "ngf", "ndf", "log_every", "sample_every", "checkpoint_every", "n_samples"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        if (self.max_steps or 1) <= 0 or (self.epochs or 1) <= 0:
            raise ValueError("max_steps and epochs must be positive")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0 turns the average off), got {self.ema_decay}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError(f"time_budget_s must be positive seconds or None, got {self.time_budget_s}")
        if not 0.0 <= self.decay_fraction <= 1.0:
            raise ValueError(f"decay_fraction must be in [0, 1], got {self.decay_fraction}")
        if len(self.betas) != 2:
            raise ValueError(f"betas must be two numbers, got {self.betas!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    # A laptop CPU: the study's networks (ngf = ndf = 64) with what makes a short run generalise
    # (benchmarks/time_to_quality.py, README): lr 1e-3 with the linear decay over the second half,
    # left-right flips, an average of G's weights, batch 32, and the PixelGAN, which pulls least
    # against the L1 term (in 15 minutes on Tiny ImageNet 32: L1x100 34.7, the PatchGAN 39.5).
    # 1,200 steps on the sample set take a few minutes; the issue-8 protocol trains it for 15
    # minutes on Tiny ImageNet 32 with time_budget_s=900.
    "demo": dict(dataset="sample", batch_size=32, ngf=64, ndf=64, netD="pixel", lr=1e-3, flip=True, ema_decay=0.999,
                 max_steps=1200, decay_fraction=0.5, log_every=20, sample_every=200, checkpoint_every=400,
                 device="cpu", run_dir="runs/pix2pix-demo"),
    # The original study: reference U-Net and PatchGAN, batch 100, ngf = ndf = 64, its objective
    # (no compositing), on downsampled ImageNet. bf16 and channels_last act on CUDA only.
    "seed": dict(dataset="imagenet32", batch_size=100, ngf=64, ndf=64, composite=False, max_steps=None, epochs=2,
                 log_every=100, sample_every=2000, checkpoint_every=2000, amp=True, channels_last=True,
                 run_dir="runs/pix2pix-seed"),
}


def config_keys() -> list[str]:
    return [f.name for f in dataclasses.fields(Pix2PixConfig)]


def make_config(preset: str | None = "demo", **overrides) -> Pix2PixConfig:
    """``Pix2PixConfig`` from a preset (``demo``, ``seed`` or None for the defaults) and overrides.

    Unknown keys raise one clear ``ValueError``. Setting ``epochs`` clears ``max_steps`` and the other
    way round, unless both are given.
    """
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    unknown = sorted(set(overrides) - set(config_keys()))
    if unknown:
        raise ValueError(f"unknown Pix2PixConfig key(s) {', '.join(map(repr, unknown))}; "
                         f"known keys: {', '.join(config_keys())}")
    values = dict(PRESETS[preset]) if preset is not None else {}
    if "epochs" in overrides and "max_steps" not in overrides:
        values["max_steps"] = None
    if "max_steps" in overrides and "epochs" not in overrides:
        values["epochs"] = None
    values.update(overrides)
    if "betas" in values:
        values["betas"] = tuple(values["betas"])
    return Pix2PixConfig(**values).validate()


def lr_factor(step: int, total_steps: int, decay_fraction: float) -> float:
    """The pix2pix linear policy, counted in steps: the lr multiplier for 0-based ``step``.

    With ``n_decay = round(decay_fraction * total_steps)`` and ``n_const = total_steps - n_decay``,

        factor(s) = 1 - max(0, s + 1 - n_const) / (n_decay + 1),

    pix2pix's rule with n_epochs = n_const, n_epochs_decay = n_decay: 1 for the first n_const
    steps, then n_decay/(n_decay+1), ..., 1/(n_decay+1) for the last ones.
    """
    n_decay = round(total_steps * decay_fraction)
    n_const = total_steps - n_decay
    return 1.0 - max(0, step + 1 - n_const) / (n_decay + 1)


def _augmentation_generator(seed: int, step: int, stream: int) -> torch.Generator:
    """A CPU generator that depends only on ``(seed, step)`` and the augmentation's ``stream``, so
    that a resumed run draws exactly what an uninterrupted one would, and augmentations draw apart."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step + 500_000 * stream)


def random_flip(images: torch.Tensor, seed: int, step: int) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2, drawn from ``(seed, step)`` alone.

    Mirrored photographs are as natural as the originals, and the lower-half task is symmetric
    left-right, so this doubles the variety of training pairs for free. The draw depends only on
    the seed and the step, so a resumed run flips exactly as an uninterrupted one.
    """
    generator = _augmentation_generator(seed, step, stream=0)
    flip = (torch.rand(len(images), generator=generator) < 0.5).to(images.device)
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def random_shift(images: torch.Tensor, max_shift: int, seed: int, step: int) -> torch.Tensor:
    """Move each image by (dy, dx), dy in [0, max_shift] down and dx in [-max_shift, max_shift], drawn from ``(seed, step)``.

    ``out[b, :, i, j] = padded[b, :, i + max_shift - dy, j + max_shift - dx]``, where ``padded``
    is the batch with ``max_shift`` rows mirrored above it and ``max_shift`` columns mirrored on
    either side. Only downward moves: the mirrored rows then land in the known upper half, and
    every pixel the network must predict is still a pixel of the photograph. Each image thus
    shows up at (max_shift + 1) * (2 max_shift + 1) positions: more distinct training pairs
    from the same photographs. (For the L1 U-Net in 15 CPU minutes on Tiny ImageNet 32 it did
    not lower the val error; see the README's time-to-quality ablation.)
    """
    b, _, h, w = images.shape
    generator = _augmentation_generator(seed, step, stream=1)
    dy = torch.randint(0, max_shift + 1, (b,), generator=generator)
    dx = torch.randint(-max_shift, max_shift + 1, (b,), generator=generator)
    padded = torch.nn.functional.pad(images, (max_shift, max_shift, max_shift, 0), mode="reflect")
    rows = (torch.arange(h)[None, :] + max_shift - dy[:, None]).to(images.device)  # (B, H)
    cols = (torch.arange(w)[None, :] + max_shift - dx[:, None]).to(images.device)  # (B, W)
    batch = torch.arange(b, device=images.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def _eval_split(dataset: str) -> str:
    return DATASETS[dataset][0][-1]


class Pix2PixTrainer:
    """Networks, optimisers, schedules and the loop of one Pix2Pix run.

    ``trainer.train_step(images)`` is one reference step on a batch; ``trainer.fit()`` runs the
    configured number of steps over the data set with logging, image grids and checkpoints, and
    picks up where a checkpoint left off when ``config.resume``. Nothing is written to disk
    until :meth:`fit` or :meth:`save`.
    """

    def __init__(self, config: Pix2PixConfig):
        self.config = config.validate()
        self.device = pick_device(config.device)
        self.use_amp = config.amp and native_bf16(self.device)
        self.channels_last = config.channels_last and self.device.type == "cuda"
        seed_everything(config.seed)
        self.mask = get_mask(config.mask).to(self.device)
        self.netG = self._prepare(init_weights(UnetGenerator(3, 3, config.num_downs, config.ngf, config.norm,
                                                             config.use_dropout, skip=config.skip)))
        self.netD = None if config.netD == "none" else self._prepare(init_weights(
            build_discriminator(config.netD, 6, config.ndf, config.n_layers, config.norm)))
        self.gan_loss = GANLoss(config.gan_mode)
        # the averaged generator: ema = d * ema + (1 - d) * w after every step (d warms up, see
        # ema_decay_at), batch-norm statistics copied
        self.netG_ema = copy.deepcopy(self.netG).requires_grad_(False) if config.ema_decay > 0 else None
        self.optG = self._adam(self.netG)
        self.optD = None if self.netD is None else self._adam(self.netD)
        self.step = 0
        self.train_seconds = 0.0  # training wall time so far, over every resumption
        self._loader = None
        # one LambdaLR per optimiser, stepped once per training step: step s runs at lr * lr_factor(s)
        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(o, self._lr_lambda)
                           for o in (self.optG, self.optD) if o is not None]
        self.history: list[dict[str, float]] = []

    # -- construction helpers
    def _prepare(self, net: nn.Module) -> nn.Module:
        net = net.to(self.device)
        return net.to(memory_format=torch.channels_last) if self.channels_last else net

    def _adam(self, net: nn.Module) -> torch.optim.Adam:
        # the fused kernel updates every tensor in one pass: on a 2-core CPU it is ~25% of a step faster
        fused = self.device.type in ("cpu", "cuda")
        return torch.optim.Adam(net.parameters(), lr=self.config.lr, betas=tuple(self.config.betas), fused=fused)

    @property
    def loader(self):
        if self._loader is None:
            c = self.config
            self._loader = make_loader(c.dataset, "train", c.batch_size, shuffle=True, subset=c.subset, seed=c.seed,
                                       drop_last=True, root=c.data_root, device=self.device)
        return self._loader

    @property
    def total_steps(self) -> int:
        c = self.config
        return c.max_steps if c.max_steps is not None else c.epochs * len(self.loader)

    def _lr_lambda(self, step: int) -> float:
        c = self.config
        if c.time_budget_s is None:
            return lr_factor(step, self.total_steps, c.decay_fraction)
        return linear_decay(run_progress(step, self.total_steps, self.train_seconds, c.time_budget_s), c.decay_fraction)

    @property
    def out_of_time(self) -> bool:
        """True once the training time has reached ``config.time_budget_s``."""
        return budget_spent(self.train_seconds, self.config.time_budget_s)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_amp)

    def _to_input(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images

    # -- one step
    def train_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One reference step on ``real`` (B, 3, H, W) in [-1, 1]; returns the detached losses."""
        c, D = self.config, self.netD
        real = self._to_input(real)
        masked = apply_mask(real, self.mask)
        with self.autocast():
            generated = self.netG(masked).float()
        fake = composite(generated, real, self.mask) if c.composite else generated
        logs: dict[str, torch.Tensor] = {}

        if D is not None:
            D.requires_grad_(True)
            self.optD.zero_grad(set_to_none=True)
            with self.autocast():
                pred_fake = D(torch.cat([masked, fake.detach()], 1))
                pred_real = D(torch.cat([masked, real], 1))
            loss_D_fake = self.gan_loss(pred_fake.float(), False)
            loss_D_real = self.gan_loss(pred_real.float(), True)
            (0.5 * (loss_D_fake + loss_D_real)).backward()
            self.optD.step()
            D.requires_grad_(False)  # no weight gradients for D in G's step
            logs.update(D_real=loss_D_real.detach(), D_fake=loss_D_fake.detach())

        self.optG.zero_grad(set_to_none=True)
        l1 = (fake - real).abs().mean()
        loss_G = c.lambda_l1 * l1
        if D is not None:
            with self.autocast():
                pred = D(torch.cat([masked, fake], 1))
            loss_G_GAN = self.gan_loss(pred.float(), True)
            loss_G = loss_G + loss_G_GAN
            logs["G_GAN"] = loss_G_GAN.detach()
        loss_G.backward()
        self.optG.step()
        if self.netG_ema is not None:
            self._update_ema()
        for scheduler in self.schedulers:
            scheduler.step()
        self.step += 1

        with torch.no_grad():
            logs["G_L1"] = 100 * l1.detach()
            logs["G_L1_lower"] = 100 * (generated - real).abs().mean(1).masked_select(
                self.mask.expand(len(real), *self.mask.shape)).mean()
        return logs

    def ema_decay_at(self, step: int) -> float:
        """The average's decay at 0-based ``step``: ``min(ema_decay, (1 + step) / (10 + step))``.

        The warm-up keeps the average from being dominated by the random initial weights in a
        short run (after 300 steps a plain 0.999 average would still give them weight 0.74).
        """
        return min(self.config.ema_decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def _update_ema(self) -> None:
        ema, live = self.netG_ema, self.netG
        weight = 1.0 - self.ema_decay_at(self.step)
        torch._foreach_lerp_(list(ema.parameters()), [p.detach() for p in live.parameters()], weight)
        for averaged, current in zip(ema.buffers(), live.buffers()):
            averaged.copy_(current)

    # -- inference
    @property
    def generator(self) -> nn.Module:
        """The generator that completes images: the weight average when ``ema_decay`` > 0, else G itself."""
        return self.netG_ema if self.netG_ema is not None else self.netG

    @torch.no_grad()
    def complete(self, masked: torch.Tensor, dropout: bool = False) -> torch.Tensor:
        """The generator's prediction for masked images (eval mode; ``dropout`` keeps the dropout layers on)."""
        return inpainting_method(self.generator, dropout=dropout, device=self.device)(masked, self.mask)

    def method(self, dropout: bool = False):
        """An inpainting method for :func:`inpaint_lib.evaluation.evaluate` (the averaged G when there is one)."""
        return inpainting_method(self.generator, dropout=dropout, device=self.device)

    # -- checkpoints
    @property
    def run_dir(self) -> Path:
        return Path(self.config.run_dir)

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_NAME

    def state_dict(self) -> dict[str, Any]:
        nets = {"netG": self.netG.state_dict(), "optG": self.optG.state_dict()}
        if self.netG_ema is not None:
            nets["netG_ema"] = self.netG_ema.state_dict()
        if self.netD is not None:
            nets.update(netD=self.netD.state_dict(), optD=self.optD.state_dict())
        return {"kind": "pix2pix", "config": self.config.to_dict(), "step": self.step,
                "train_seconds": self.train_seconds,
                "total_steps": self.total_steps, **nets,
                "schedulers": [s.state_dict() for s in self.schedulers], "rng": rng_state()}

    def save(self, path: str | os.PathLike | None = None) -> Path:
        return save_checkpoint(path or self.checkpoint_path, self.state_dict())

    def load(self, path: str | os.PathLike | None = None) -> "Pix2PixTrainer":
        """Restore networks, optimisers, schedules, step and random states from a checkpoint."""
        path = Path(path or self.checkpoint_path)
        state = load_checkpoint(path, map_location=self.device)
        if state.get("kind") != "pix2pix":
            raise ValueError(f"{path} is not a pix2pix checkpoint (kind {state.get('kind')!r}); "
                             "point --run-dir at a pix2pix run")
        check_config(state["config"], self.config.to_dict(), ARCHITECTURE_KEYS, what=f"checkpoint {path}")
        self.netG.load_state_dict(state["netG"])
        self.optG.load_state_dict(state["optG"])
        if self.netG_ema is not None:  # a run that had no average starts one from its current weights
            self.netG_ema.load_state_dict(state.get("netG_ema", state["netG"]))
        if self.netD is not None:
            self.netD.load_state_dict(state["netD"])
            self.optD.load_state_dict(state["optD"])
        for scheduler, saved in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(saved)
        self.step = state["step"]
        self.train_seconds = state.get("train_seconds", 0.0)
        set_rng_state(state["rng"])
        return self

    # -- the loop
    def batches(self):
        """Training batches from the current step on, epoch after epoch (reshuffled per epoch)."""
        per_epoch = len(self.loader)
        if per_epoch == 0:
            raise ValueError(f"batch_size {self.config.batch_size} is larger than the training set "
                             f"({len(self.loader.images)} images); lower batch_size")
        epoch, skip = divmod(self.step, per_epoch)
        while True:
            self.loader.set_epoch(epoch)
            for i, batch in enumerate(self.loader):
                if i >= skip:
                    yield batch
            epoch, skip = epoch + 1, 0

    def fixed_samples(self) -> torch.Tensor:
        """The first ``n_samples`` images of the evaluation split: the same pictures every time."""
        c = self.config
        images = load_split(c.dataset, _eval_split(c.dataset), c.data_root)[: c.n_samples]
        return to_float(images).to(self.device)

    def save_samples(self, images: torch.Tensor) -> Path:
        """A PNG grid: masked inputs, G's outputs, truths (one row each).

        G's output is shown as it trains: with ``composite`` (the known half pasted back in the
        objective) the pasted image, otherwise G's raw output, upper half included.
        """
        from .viz import save_grid
        masked = apply_mask(images, self.mask)
        completed = self.complete(masked)
        if self.config.composite:
            completed = composite(completed, images, self.mask)
        grid = torch.cat([masked, completed, images]).cpu()
        return save_grid(grid, self.run_dir / "samples" / f"step_{self.step:07d}.png", nrow=len(images))

    def fit(self, steps: int | None = None) -> list[dict[str, float]]:
        """Train up to ``total_steps`` (or ``steps`` more, or to the time budget); returns the new log rows.

        With ``config.resume`` the run continues from ``run_dir/checkpoint.pt``; without it a new
        run starts and overwrites what ``run_dir`` held. Ctrl-C (a notebook's stop button) saves
        a checkpoint before it stops.
        """
        c = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if c.resume and self.step == 0:
            self.load()
        log = CSVLog(self.run_dir / "log.csv", list(LOG_COLUMNS), resume_step=self.step or None)
        samples = self.fixed_samples()
        end = self.total_steps if steps is None else min(self.total_steps, self.step + steps)
        per_epoch = len(self.loader)
        sums: dict[str, torch.Tensor] = {}
        count, start = 0, time.perf_counter()
        fit_start, seconds_before = start, self.train_seconds
        from tqdm import tqdm
        bar = tqdm(total=end, initial=self.step, desc="pix2pix", unit="step", disable=not c.progress,
                   dynamic_ncols=True)
        self.netG.train()
        if self.netD is not None:
            self.netD.train()
        rows: list[dict[str, float]] = []
        in_step = False
        try:
            batches = self.batches()
            while self.step < end and not self.out_of_time:
                lr = self.optG.param_groups[0]["lr"]
                batch = next(batches)
                if c.flip:
                    batch = random_flip(batch, seed=c.seed, step=self.step)
                if c.shift:
                    batch = random_shift(batch, c.shift, seed=c.seed, step=self.step)
                in_step = True
                logs = self.train_step(batch)
                in_step = False
                self.train_seconds = seconds_before + time.perf_counter() - fit_start
                last = self.step == end or self.out_of_time
                for key, value in logs.items():
                    sums[key] = sums.get(key, 0) + value
                count += 1
                bar.update(1)
                if self.step % c.log_every == 0 or last:
                    row = {"step": self.step, "epoch": (self.step - 1) // per_epoch, "lr": lr,
                           **{k: (v / count).item() for k, v in sums.items()},
                           "seconds_per_step": (time.perf_counter() - start) / count}
                    log.write(row)
                    rows.append(row)
                    self.history.append(row)
                    bar.set_postfix({k: f"{row[k]:.3f}" for k in ("D_real", "D_fake", "G_GAN", "G_L1") if k in row})
                    sums, count, start = {}, 0, time.perf_counter()
                if self.step % c.sample_every == 0 or last:
                    self.save_samples(samples)
                if self.step % c.checkpoint_every == 0 or last:
                    self.save()
        except KeyboardInterrupt:
            # between steps the state is whole and is saved; inside one, D may have stepped and G not,
            # so the last checkpoint stands and resuming repeats that step from it
            if not in_step:
                self.save()
            raise
        finally:
            bar.close()
        return rows


def read_log(run_dir: str | os.PathLike) -> dict[str, list[float]]:
    """The columns of ``run_dir/log.csv`` as lists of floats (missing values are NaN)."""
    rows = read_csv(Path(run_dir) / "log.csv")
    return {k: [float(r[k]) if r[k] not in ("", None) else math.nan for r in rows] for k in LOG_COLUMNS}


# --------------------------------------------------------------------------- using a trained model

def inpainting_method(netG: nn.Module, dropout: bool = False, device: str | torch.device | None = None):
    """``method(masked, mask) -> G(masked)`` for :func:`inpaint_lib.evaluation.evaluate`.

    G runs in eval mode (batch norm with its running statistics). ``dropout=True`` keeps only the
    dropout layers active, so repeated calls give different completions (needs ``use_dropout``).
    """
    device = torch.device(device) if device is not None else next(netG.parameters()).device

    @torch.no_grad()
    def method(masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        was_training = netG.training
        netG.eval()
        set_dropout(netG, dropout)
        try:
            return netG(masked.to(device)).float().to(masked.device)
        finally:
            netG.train(was_training)

    method.name = "pix2pix" + (" (dropout)" if dropout else "")
    return method


@torch.no_grad()
def dropout_completions(netG: nn.Module, masked: torch.Tensor, mask: torch.Tensor, n: int = 8) -> torch.Tensor:
    """``n`` completions per masked image, drawn with the dropout layers on: (n, B, 3, H, W).

    Composited, so only the missing region varies. The spread across the first axis is what
    pix2pix offers as diversity; without ``use_dropout`` all n are the same image.
    """
    method = inpainting_method(netG, dropout=True)
    images = masked.to(next(netG.parameters()).device)
    return torch.stack([composite(method(images, mask), images, mask) for _ in range(n)]).to(masked.device)


def load_trainer(run_dir: str | os.PathLike, device: str = "auto") -> Pix2PixTrainer:
    """The trainer of a finished (or interrupted) run, rebuilt from its checkpoint's configuration."""
    path = Path(run_dir) / CHECKPOINT_NAME
    state = load_checkpoint(path)
    if state.get("kind") != "pix2pix":
        raise ValueError(f"{path} is not a pix2pix checkpoint (kind {state.get('kind')!r})")
    saved = {k: v for k, v in state["config"].items() if k in config_keys()}
    if "total_steps" in state:  # the schedule's length in steps: no data set is needed to rebuild it
        saved.update(max_steps=state["total_steps"], epochs=None)
    config = Pix2PixConfig(**{**saved, "device": device, "run_dir": str(run_dir), "resume": False})
    return Pix2PixTrainer(config).load(path)


def load_or_train(run_dir: str | os.PathLike, config: Pix2PixConfig, train_missing: bool = True,
                  ) -> tuple[Pix2PixTrainer, str]:
    """The trained run in ``run_dir`` if it has a checkpoint; else ``config`` trained now. Returns (trainer, what happened).

    Notebook 06 uses this to compare the models of notebooks 02 and 03 without depending on
    them: with ``train_missing=False`` a missing checkpoint is an error that says what to run.
    """
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINT_NAME).exists():
        trainer = load_trainer(run_dir, device=config.device)
        return trainer, (f"loaded {run_dir} (step {trainer.step}, netD {trainer.config.netD}, "
                         f"trained on {trainer.config.dataset})")
    if not train_missing:
        raise FileNotFoundError(f"no checkpoint at {run_dir / CHECKPOINT_NAME}; run the notebook that trains it "
                                "(02 or 03) or allow training a demo model here")
    trainer = train(dataclasses.replace(config, resume=False, progress=False))
    return trainer, (f"no checkpoint at {run_dir}: trained one here for {trainer.step} steps on {config.dataset} "
                     f"(netD {config.netD}, saved in {config.run_dir})")


def train(config: Pix2PixConfig) -> Pix2PixTrainer:
    """Build a trainer for ``config``, run it to the end, return it. One process: no torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1:
        raise ValueError(f"Pix2Pix trains in one process, but torchrun started {world_size}: they would each train the "
                         "same run and overwrite its checkpoint; run `python -m inpaint_lib.train pix2pix ...` without "
                         "torchrun (data-parallel training is for pixelcnnpp)")
    trainer = Pix2PixTrainer(config)
    trainer.fit()
    return trainer


__all__ = ["Pix2PixConfig", "PRESETS", "make_config", "config_keys", "lr_factor", "random_flip", "Pix2PixTrainer", "train", "load_or_train",
           "inpainting_method", "dropout_completions", "load_trainer", "read_log", "ARCHITECTURE_KEYS"]
