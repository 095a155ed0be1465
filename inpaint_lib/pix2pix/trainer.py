"""Training Pix2Pix for lower-half inpainting: what is its own on top of the course's one loop.

The same trainer serves the notebooks (02, 03) and the CLI (``python -m inpaint_lib.train pix2pix``);
the loop, logging, checkpoints and resuming are :mod:`inpaint_lib.training`'s.

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
upper half sees the same pixels for real and fake. It is not quite blind, though: D takes the
fake and the real batch in two separate passes, and train-mode batch norm normalises each with
its own batch statistics, which carry the lower half into every output. So such outputs are
weak, not chance, and with n_layers=1 (16x16 patches) they are a good share of the logged
D_real / D_fake.

The ``seed`` preset turns it off (``composite=False``) to be the original study's objective, so its
logged losses compare with the study's final values.

Logged, in the study's units (``log.csv`` in the run folder, means over ``log_every`` steps):
``D_real``, ``D_fake`` (the two halves of L_D before the 0.5), ``G_GAN``, ``G_L1`` =
``100 * mean |y_fake - y|`` over the whole image on the [-1, 1] scale (pix2pix's number when lambda = 100),
and ``G_L1_lower`` = the same over the missing pixels only (twice G_L1 when compositing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from .. import data
from ..evaluation import evaluate
from ..masks import apply_mask, composite, get_mask
from ..training import TrainConfig, Trainer, linear_decay, run_progress, step_linear_decay
from .augment import random_flip, random_shift
from .inference import inpainting_method
from .networks import GAN_MODES, NORMS, GANLoss, UnetGenerator, build_discriminator, init_weights

__all__ = ["Pix2PixConfig", "Pix2PixTrainer", "PRESETS", "NET_D", "make_config", "train", "load_trainer",
           "load_model", "load_or_train"]

NET_D = ("patch", "pixel", "none")

PRESETS: dict[str, dict[str, Any]] = {
    # A laptop CPU: the study's networks (ngf = ndf = 64) with what makes a short run generalise
    # (the README's time-to-quality ablation): lr 1e-3 with the linear decay over the second half,
    # left-right flips, an average of G's weights, batch 32, and the PixelGAN, which pulls least
    # against the L1 term. 1,200 steps on the sample set take a few minutes.
    "demo": dict(dataset="sample", batch_size=32, ngf=64, ndf=64, netD="pixel", lr=1e-3, flip=True, ema_decay=0.999,
                 max_steps=1200, decay_fraction=0.5, log_every=20, sample_every=200, checkpoint_every=400,
                 device="cpu", run_dir="runs/pix2pix-demo"),
    # The original study: reference U-Net and PatchGAN, batch 100, ngf = ndf = 64, its objective
    # (no compositing), on downsampled ImageNet. bf16 and channels_last act on CUDA only.
    "seed": dict(dataset="imagenet32", batch_size=100, ngf=64, ndf=64, composite=False, max_steps=None, epochs=2,
                 log_every=100, sample_every=2000, checkpoint_every=2000, amp=True, channels_last=True,
                 run_dir="runs/pix2pix-seed"),
}


@dataclass
class Pix2PixConfig(TrainConfig):
    """Everything a Pix2Pix run depends on (:class:`~inpaint_lib.training.TrainConfig` and these)."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    MODEL: ClassVar[str] = "pix2pix"

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
    # optimisation (and new defaults for common fields)
    decay_fraction: float = 0.5           # lr constant, then linear to 0 over this last fraction of the run
    max_steps: int | None = 1000
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    # bookkeeping
    run_dir: str = "runs/pix2pix"
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000

    def validate(self) -> Pix2PixConfig:
        super().validate()
        for key, allowed in {"netD": NET_D, "norm": NORMS, "gan_mode": GAN_MODES}.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"unknown {key} {getattr(self, key)!r}; choose one of {', '.join(allowed)}")
        if not 0 <= self.shift <= 8:
            raise ValueError(f"shift must be between 0 (off) and 8 pixels, got {self.shift}")
        for key in ("ngf", "ndf", "num_downs", "n_layers"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        if not 0.0 <= self.decay_fraction <= 1.0:
            raise ValueError(f"decay_fraction must be in [0, 1], got {self.decay_fraction}")
        return self


class Pix2PixTrainer(Trainer):
    """Pix2Pix on the course's loop: G (``self.model``), D, their Adam optimisers, the reference step."""

    config_class = Pix2PixConfig
    kind = "pix2pix"
    trained_by = "notebook 02 or 03, or `python -m inpaint_lib.train pix2pix`"
    model_name = "netG"
    checked_keys = ["num_downs", "ngf", "ndf", "netD", "n_layers", "norm", "use_dropout", "skip", "mask"]
    log_columns = ("G_L1", "G_GAN", "D_real", "D_fake", "G_L1_lower")
    eval_columns = ("l1_x100", "psnr")

    config: Pix2PixConfig

    @classmethod
    def build_model(cls, config: Pix2PixConfig) -> UnetGenerator:
        return init_weights(UnetGenerator(3, 3, config.num_downs, config.ngf, config.norm, config.use_dropout,
                                          skip=config.skip))

    def build(self) -> None:
        c = self.config
        self.mask = get_mask(c.mask).to(self.device)
        self.model = self._place(self.build_model(c))
        self.netD = None if c.netD == "none" else self._place(init_weights(
            build_discriminator(c.netD, 6, c.ndf, c.n_layers, c.norm)))
        # what the step calls: the networks themselves, or their compiled forward passes (same weights)
        self.G = torch.compile(self.model) if self.compiled else self.model
        self.D = torch.compile(self.netD) if self.compiled and self.netD is not None else self.netD
        self.gan_loss = GANLoss(c.gan_mode)
        self.optG = self.adam(self.model)
        self.optD = None if self.netD is None else self.adam(self.netD)
        self.optimizers = [o for o in (self.optG, self.optD) if o is not None]
        self._fixed_images = None

    @property
    def netG(self) -> nn.Module:
        """The generator being trained (``self.model``; the average of its weights is ``inference_model``)."""
        return self.model

    def networks(self) -> dict[str, nn.Module]:
        return {"netG": self.model, **({"netD": self.netD} if self.netD is not None else {})}

    def _place(self, net: nn.Module) -> nn.Module:
        net = net.to(self.device)
        return net.to(memory_format=torch.channels_last) if self.channels_last else net

    def lr_factor(self, step: int) -> float:
        """pix2pix's linear policy in steps (:func:`~inpaint_lib.training.step_linear_decay`); under a
        time budget the same shape over whichever of steps and time ends the run first."""
        c = self.config
        if c.time_budget_s is None:
            return step_linear_decay(step, self.total_steps, c.decay_fraction)
        return linear_decay(run_progress(step, self.total_steps, self.train_seconds, c.time_budget_s), c.decay_fraction)

    def augment(self, batch: torch.Tensor) -> torch.Tensor:
        c = self.config
        if c.flip:
            batch = random_flip(batch, seed=c.seed, step=self.step)
        if c.shift:
            batch = random_shift(batch, c.shift, seed=c.seed, step=self.step)
        return batch

    def optimise(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One reference step on ``real`` (B, 3, H, W) in [-1, 1]: D, then G; returns the detached losses."""
        c, G, D = self.config, self.G, self.D
        self.model.train()
        masked = apply_mask(real, self.mask)
        with self.autocast():
            generated = G(masked).float()
        fake = composite(generated, real, self.mask) if c.composite else generated
        losses: dict[str, torch.Tensor] = {}

        if D is not None:
            self.netD.train()
            self.netD.requires_grad_(True)
            self.optD.zero_grad(set_to_none=True)
            with self.autocast():
                pred_fake = D(torch.cat([masked, fake.detach()], 1))
                pred_real = D(torch.cat([masked, real], 1))
            loss_D_fake = self.gan_loss(pred_fake.float(), False)
            loss_D_real = self.gan_loss(pred_real.float(), True)
            (0.5 * (loss_D_fake + loss_D_real)).backward()
            self.optD.step()
            self.netD.requires_grad_(False)  # no weight gradients for D in G's step
            losses.update(D_real=loss_D_real.detach(), D_fake=loss_D_fake.detach())

        self.optG.zero_grad(set_to_none=True)
        l1 = (fake - real).abs().mean()
        loss_G = c.lambda_l1 * l1
        if D is not None:
            with self.autocast():
                pred = D(torch.cat([masked, fake], 1))
            loss_G_GAN = self.gan_loss(pred.float(), True)
            loss_G = loss_G + loss_G_GAN
            losses["G_GAN"] = loss_G_GAN.detach()
        loss_G.backward()
        self.optG.step()
        self.update_average()

        with torch.no_grad():
            losses["G_L1"] = 100 * l1.detach()
            # the mean over the missing pixels, by weighting with the mask (no data-dependent shapes, no sync)
            missing = self.mask.to(generated.dtype).expand(len(real), *self.mask.shape)
            losses["G_L1_lower"] = 100 * ((generated - real).abs().mean(1) * missing).sum() / missing.sum()
        return losses

    def describe(self) -> str:
        return f"netD {self.config.netD}"

    # -- using the generator
    def method(self, dropout: bool = False):
        """An inpainting method for :func:`inpaint_lib.evaluation.evaluate` (the averaged G when there is one)."""
        return inpainting_method(self.inference_model, dropout=dropout, device=self.device)

    @torch.no_grad()
    def complete(self, masked: torch.Tensor, dropout: bool = False) -> torch.Tensor:
        """The generator's prediction for masked images (eval mode; ``dropout`` keeps the dropout layers on)."""
        return self.method(dropout)(masked, self.mask)

    def evaluate(self, n_images: int | None = None) -> dict[str, float]:
        """The evaluation protocol's metrics of the averaged G on the first ``n_images`` held-out images."""
        c = self.config
        return evaluate(self.method(), c.dataset, self.test_split, c.mask, n_images=n_images, device=self.device,
                        root=c.data_root, progress=False)

    def save_samples(self) -> Path:
        """A PNG grid: masked inputs, G's outputs, truths (one row each), for the first held-out images.

        G's output is shown as it trains: with ``composite`` (the known half pasted back in the
        objective) the pasted image, otherwise G's raw output, upper half included.
        """
        from ..viz import save_grid
        if self._fixed_images is None:
            self._fixed_images = data.to_float(self.test_images()[: self.config.n_samples]).to(self.device)
        images = self._fixed_images
        masked = apply_mask(images, self.mask)
        completed = self.complete(masked)
        if self.config.composite:
            completed = composite(completed, images, self.mask)
        grid = torch.cat([masked, completed, images]).cpu()
        return save_grid(grid, self.run_dir / "samples" / f"step_{self.step:07d}.png", nrow=len(images))


make_config = Pix2PixConfig.from_preset
train = Pix2PixTrainer.train
load_trainer = Pix2PixTrainer.load_trainer
load_model = Pix2PixTrainer.load_model
load_or_train = Pix2PixTrainer.load_or_train
