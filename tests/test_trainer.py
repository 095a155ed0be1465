"""The one training loop (inpaint_lib.training.Trainer), on a toy family whose every number is known."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch

import inpaint_lib.training.trainer as trainer_module
from inpaint_lib.data import save_split
from inpaint_lib.training import CHECKPOINT_NAME, TrainConfig, Trainer, read_log, save_checkpoint
from inpaint_lib.training.checkpoint import load_checkpoint


@dataclass
class ToyConfig(TrainConfig):
    PRESETS: ClassVar[dict] = {"toy": dict(batch_size=4, max_steps=7, log_every=3, checkpoint_every=100)}
    MODEL: ClassVar[str] = "toy"
    evaluation_seconds: float = 0.0


class ToyTrainer(Trainer):
    """Its loss at step t is exactly t, so a log window's mean is known; evaluation can be made slow."""

    config_class = ToyConfig
    kind = "toy"
    log_columns = ("loss",)
    eval_columns = ("error",)

    @classmethod
    def build_model(cls, config):
        return torch.nn.Linear(1, 1)

    def build(self):
        self.model = self.build_model(self.config)
        self.optimizers = [torch.optim.SGD(self.model.parameters(), lr=self.config.lr)]
        self.samples_at = []

    def optimise(self, batch):
        self.optimizers[0].zero_grad()
        (self.model(batch.mean((1, 2, 3))[:, None]).sum() * 0).backward()
        self.optimizers[0].step()
        self.update_average()
        return {"loss": torch.tensor(float(self.step))}

    def evaluate(self, n_images=None):
        time.sleep(self.config.evaluation_seconds)
        return {"error": 10.0 * self.step}

    def save_samples(self):
        self.samples_at.append(self.step)


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    images = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3)).astype(np.uint8)
    save_split(root / "cifar10" / "train.npz", images)
    save_split(root / "cifar10" / "test.npz", images[:4])
    return root


def toy(root, run_dir, **overrides) -> ToyConfig:
    return ToyConfig.from_preset("toy", dataset="cifar10", data_root=str(root), run_dir=str(run_dir), device="cpu",
                                 progress=False, **overrides)


def test_the_log_holds_window_means_and_the_held_out_figures_where_evaluated(toy_root, tmp_path):
    log = ToyTrainer(toy(toy_root, tmp_path, eval_every=3)).fit()
    # rows at steps 3, 6 and the last step 7; losses are the means of t over the window's steps
    assert log["step"] == [3, 6, 7]
    assert log["loss"] == [1.0, 4.0, 6.0]
    assert log["test_error"] == [30.0, 60.0, 70.0]
    # 10 images in batches of 4 (the last one dropped): two batches per epoch
    assert log["epoch"] == [1, 2, 3]
    assert list(log) == ["step", "epoch", "lr", "seconds", "images_per_s", "loss", "test_error"]


def test_fit_continues_for_more_steps_and_samples_at_their_steps_and_at_the_end(toy_root, tmp_path):
    trainer = ToyTrainer(toy(toy_root, tmp_path, sample_every=3))
    trainer.fit(steps=4)
    assert trainer.step == 4 and trainer.samples_at == [3, 4]
    log = trainer.fit()
    assert trainer.step == 7 and trainer.samples_at == [3, 4, 6, 7]
    assert log["step"] == [3, 4, 6, 7] and all(math.isnan(e) for e in log["test_error"])


def test_evaluation_is_not_charged_to_the_time_budget(toy_root, tmp_path):
    trainer = ToyTrainer(toy(toy_root, tmp_path, eval_every=1, log_every=1, evaluation_seconds=0.2))
    began = time.perf_counter()
    trainer.fit()
    wall = time.perf_counter() - began
    assert wall > 7 * 0.2 and trainer.train_seconds < 0.5 * wall


def test_the_progress_bar_counts_seconds_under_a_time_budget(toy_root, tmp_path, monkeypatch):
    bars, real_bar = [], trainer_module.progress_bar

    def recording_bar(**kwargs):
        bars.append(kwargs)
        return real_bar(**{**kwargs, "enabled": False})
    monkeypatch.setattr(trainer_module, "progress_bar", recording_bar)
    ToyTrainer(toy(toy_root, tmp_path / "steps")).fit()
    ToyTrainer(toy(toy_root, tmp_path / "budget", max_steps=10**9, time_budget_s=0.3)).fit()
    assert (bars[0]["total"], bars[0]["unit"]) == (7, "step")
    assert (bars[1]["total"], bars[1]["unit"]) == (0.3, "s")  # not a billion steps


def test_a_checkpoint_of_another_family_or_a_family_that_cannot_share_processes(toy_root, tmp_path):
    trainer = ToyTrainer(toy(toy_root, tmp_path))
    trainer.fit(steps=2)
    state = trainer.state_dict()
    state["kind"] = "pix2pix"
    from inpaint_lib.training import save_checkpoint
    save_checkpoint(tmp_path / "other.pt", state)
    with pytest.raises(ValueError, match="is not a toy checkpoint of this course \\(kind 'pix2pix'\\)"):
        trainer.load(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="toy trains in one process, but torchrun started 2"):
        ToyTrainer(toy(toy_root, tmp_path), world_size=2)


def test_a_rebuilt_trainer_continues_exactly(toy_root, tmp_path):
    trainer = ToyTrainer(toy(toy_root, tmp_path, ema_decay=0.5))
    trainer.fit(steps=5)
    rebuilt = ToyTrainer.load_trainer(tmp_path, device="cpu")
    assert rebuilt.step == 5 and rebuilt.total_steps == 7
    assert torch.equal(rebuilt.ema.module.weight, trainer.ema.module.weight)
    model, info = ToyTrainer.load_model(tmp_path, device="cpu")
    assert info["step"] == 5 and not model.training and torch.equal(model.weight, trainer.ema.module.weight)
    assert read_log(tmp_path)["step"] == [3, 5]


def test_compile_auto_compiles_long_runs_only(toy_root, tmp_path):
    from inpaint_lib.training import parse_overrides
    from inpaint_lib.training.trainer import AUTO_COMPILE_MIN_SECONDS, AUTO_COMPILE_MIN_STEPS

    def decided(**settings) -> bool:
        return ToyTrainer(toy(toy_root, tmp_path, **settings)).compiled
    assert not decided()                                              # a notebook-sized run: 7 steps
    assert decided(max_steps=AUTO_COMPILE_MIN_STEPS)
    assert not decided(max_steps=AUTO_COMPILE_MIN_STEPS - 1)
    assert decided(max_steps=10**9, time_budget_s=AUTO_COMPILE_MIN_SECONDS)
    assert not decided(max_steps=10**9, time_budget_s=AUTO_COMPILE_MIN_SECONDS - 1)
    assert decided(compile=True) and not decided(compile=False, max_steps=10**6)
    assert parse_overrides(["compile=auto"], ToyConfig) == {"compile": "auto"}
    assert parse_overrides(["compile=true"], ToyConfig) == {"compile": True}
    with pytest.raises(ValueError, match="compile must be true, false or auto, got 'sometimes'"):
        toy(toy_root, tmp_path, compile="sometimes")


def test_more_processes_than_gpus_fails_in_one_line(toy_root, tmp_path, monkeypatch):
    """torchrun --nproc_per_node 2 on a one-GPU machine: said before any process group is made."""
    from inpaint_lib.pixelcnnpp import PixelCNNppTrainer, make_config
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    config = make_config("demo", dataset="cifar10", data_root=str(toy_root), run_dir=str(tmp_path), device="cuda")
    with pytest.raises(ValueError, match=r"more processes on this machine than it has GPUs \(1\); use --nproc"):
        PixelCNNppTrainer.train(config)


def test_each_process_that_trains_a_run_is_one_leg_in_its_checkpoint(toy_root, tmp_path):
    first = ToyTrainer(toy(toy_root, tmp_path, threads=1))
    first.fit(steps=2)
    first.load_state_dict(first.state_dict())  # what the compile warm-up does to undo its step
    first.fit(steps=1)  # the same process goes on: the same leg
    first.save()
    resumed = ToyTrainer(toy(toy_root, tmp_path, resume=True, threads=2))
    resumed.fit()
    legs = load_checkpoint(tmp_path / CHECKPOINT_NAME)["legs"]
    assert [(leg["first_step"], leg["last_step"], leg["threads"]) for leg in legs] == [(0, 3, 1), (3, 7, 2)]
    assert all(leg["device"] == "cpu" and leg["processes"] == 1 and leg["started"] and "bf16" in leg for leg in legs)
    assert sum(leg["seconds"] for leg in legs) == pytest.approx(resumed.train_seconds, abs=0.1)
    assert legs[0]["seconds"] == round(first.train_seconds, 1)


def test_a_checkpoint_from_before_legs_were_kept_counts_its_past_as_one_leg(toy_root, tmp_path):
    trainer = ToyTrainer(toy(toy_root, tmp_path))
    trainer.fit(steps=4)
    state = trainer.state_dict()
    del state["legs"]
    save_checkpoint(tmp_path / CHECKPOINT_NAME, state)
    ToyTrainer(toy(toy_root, tmp_path, resume=True)).fit()
    legs = load_checkpoint(tmp_path / CHECKPOINT_NAME)["legs"]
    assert [(leg["first_step"], leg["last_step"]) for leg in legs] == [(0, 4), (4, 7)]
    assert legs[0]["note"] == "trained before the run kept its legs" and "threads" not in legs[0]
