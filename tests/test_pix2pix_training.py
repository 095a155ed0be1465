"""Pix2Pix training core and CLI: learning, logging, exact resumption, clear errors."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import make_smooth_images
from inpaint_lib.evaluation import evaluate
from inpaint_lib.pix2pix import PRESETS, Pix2PixTrainer, load_or_train, load_trainer, make_config, read_log
from inpaint_lib.training import CHECKPOINT_NAME, step_linear_decay
from inpaint_lib.training.__main__ import main as cli_main
from inpaint_lib.training.checkpoint import load_checkpoint, save_checkpoint
from inpaint_lib.training.config import parse_value

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny(root, run_dir, **overrides):
    """A small Pix2Pix config on conftest's ``tiny_root`` (its sample set: 48 train, 16 test colour ramps)."""
    settings = dict(data_root=str(root), run_dir=str(run_dir), ngf=8, ndf=8, batch_size=8, max_steps=4, log_every=2,
                    sample_every=2, checkpoint_every=2, n_samples=4, progress=False, device="cpu")
    return make_config("demo", **{**settings, **overrides})


def fixed_batch(n: int = 8) -> torch.Tensor:
    from inpaint_lib.data import to_float
    return to_float(make_smooth_images(n, 2))


# ---------------------------------------------------------------- learning

@pytest.mark.parametrize("netD", ["patch", "pixel", "none"])
def test_l1_goes_down_on_a_fixed_batch(tmp_path, tiny_root, netD):
    trainer = Pix2PixTrainer(tiny(tiny_root, tmp_path, netD=netD, n_layers=1, lr=1e-3, max_steps=1000))
    batch = fixed_batch()
    losses = [trainer.train_step(batch)["G_L1_lower"] for _ in range(25)]
    assert losses[-1] < 0.5 * losses[0]
    assert all(np.isfinite(losses))


def test_logged_losses_and_compositing(tmp_path, tiny_root):
    batch = fixed_batch()
    gan = Pix2PixTrainer(tiny(tiny_root, tmp_path)).train_step(batch)
    assert set(gan) == {"D_real", "D_fake", "G_GAN", "G_L1", "G_L1_lower"}
    # composited: the known half is exact, so the whole-image mean is half the lower-half mean
    assert gan["G_L1"] == pytest.approx(gan["G_L1_lower"] / 2, rel=1e-5)
    raw = Pix2PixTrainer(tiny(tiny_root, tmp_path, composite=False)).train_step(batch)
    assert raw["G_L1"] != pytest.approx(raw["G_L1_lower"] / 2, rel=1e-3)
    l1_only = Pix2PixTrainer(tiny(tiny_root, tmp_path, netD="none"))
    assert l1_only.netD is None and set(l1_only.train_step(batch)) == {"G_L1", "G_L1_lower"}
    no_skips = Pix2PixTrainer(tiny(tiny_root, tmp_path, netD="none", skip=False))
    assert not no_skips.netG.skip and np.isfinite(no_skips.train_step(batch)["G_L1"])


def test_lr_policy_is_constant_then_linear_like_pix2pix(tmp_path, tiny_root):
    # pix2pix with n_epochs = n_epochs_decay = 5: five at 1, then 5/6 ... 1/6
    trainer = Pix2PixTrainer(tiny(tiny_root, tmp_path, max_steps=10))
    for step in range(7):
        expected = trainer.config.lr * step_linear_decay(step, 10, 0.5)
        assert trainer.optG.param_groups[0]["lr"] == pytest.approx(expected)
        assert trainer.optD.param_groups[0]["lr"] == pytest.approx(expected)
        trainer.train_step(fixed_batch())


def test_a_time_budget_stops_the_run_and_drives_the_lr_decay(tmp_path, tiny_root):
    trainer = Pix2PixTrainer(tiny(tiny_root, tmp_path, max_steps=1000, time_budget_s=100.0, decay_fraction=0.5))
    trainer.train_seconds = 75.0  # halfway through the decay half of the budget
    assert trainer.lr_factor(0) == pytest.approx(0.5)
    short = Pix2PixTrainer(tiny(tiny_root, tmp_path / "short", max_steps=1000, time_budget_s=1e-6))
    short.fit()
    assert short.step == 1 and short.out_of_time
    resumed = Pix2PixTrainer(tiny(tiny_root, tmp_path / "short", max_steps=1000, time_budget_s=1e-6)).load()
    assert resumed.train_seconds == short.train_seconds and resumed.out_of_time
    with pytest.raises(ValueError, match="time_budget_s"):
        make_config("demo", time_budget_s=-5)


# ---------------------------------------------------------------- the loop, its files, evaluation

def test_fit_writes_log_grids_checkpoint_and_serves_the_evaluation(tmp_path, tiny_root):
    run = tmp_path / "run"
    trainer = Pix2PixTrainer(tiny(tiny_root, run))
    log = trainer.fit()
    assert log == read_log(run) and log["step"] == [2, 4] and trainer.step == 4
    assert all(v > 0 for v in log["G_L1"]) and all(v > 0 for v in log["images_per_s"])
    assert (run / "samples" / "step_0000002.png").is_file() and (run / "samples" / "step_0000004.png").is_file()
    assert (run / "checkpoint.pt").is_file()

    result = evaluate(trainer.method(), dataset="sample", split="test", n_images=16, root=tiny_root, progress=False)
    from inpaint_lib.data import load_split, to_float
    from inpaint_lib.masks import apply_mask, composite, lower_half
    from inpaint_lib.metrics import all_metrics
    truth = to_float(load_split("sample", "test", root=tiny_root)[:16])
    completed = composite(trainer.complete(apply_mask(truth, lower_half())), truth, lower_half())
    by_hand = all_metrics(completed, truth, lower_half())
    assert result["n_images"] == 16
    assert result["l1_x100"] == pytest.approx(by_hand["l1_x100"].mean().item(), rel=1e-5)
    assert result["psnr"] == pytest.approx(by_hand["psnr"].mean().item(), rel=1e-5)

    reloaded = load_trainer(run, device="cpu")
    assert reloaded.step == 4
    for a, b in zip(trainer.netG.state_dict().values(), reloaded.netG.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_resume_is_bitwise_identical_to_an_uninterrupted_run(tmp_path, tiny_root):
    # dropout on: the generator consumes the global RNG, so its state must be restored too;
    # 12 steps of 6 batches per epoch cross an epoch boundary after the interruption at step 5
    settings = dict(use_dropout=True, max_steps=12, log_every=1, checkpoint_every=100)
    straight = Pix2PixTrainer(tiny(tiny_root, tmp_path / "straight", **settings))
    straight.fit()

    first = Pix2PixTrainer(tiny(tiny_root, tmp_path / "split", **settings))
    first.fit(steps=5)
    torch.manual_seed(1234)  # whatever happens in between must not matter
    second = Pix2PixTrainer(tiny(tiny_root, tmp_path / "split", resume=True, **settings))
    second.fit()

    assert second.step == straight.step == 12
    assert straight.state_dict()["schedulers"] == second.state_dict()["schedulers"]
    for name in ("networks", "optimizers", "ema"):
        a, b = straight.state_dict()[name], second.state_dict()[name]
        flat_a, flat_b = _tensors(a), _tensors(b)
        assert len(flat_a) == len(flat_b) > 0
        for x, y in zip(flat_a, flat_b, strict=True):
            assert torch.equal(x, y), name
    with open(tmp_path / "straight" / "log.csv") as f, open(tmp_path / "split" / "log.csv") as g:
        drop_time = [lambda r: {k: v for k, v in r.items() if k not in ("seconds", "images_per_s")}] * 2
        assert [drop_time[0](r) for r in csv.DictReader(f)] == [drop_time[1](r) for r in csv.DictReader(g)]


@pytest.mark.parametrize("inside_a_step", [False, True])
def test_ctrl_c_saves_between_steps_but_never_half_a_step(tmp_path, tiny_root, monkeypatch, inside_a_step):
    import inpaint_lib.pix2pix.trainer as training
    trainer = Pix2PixTrainer(tiny(tiny_root, tmp_path, max_steps=10, checkpoint_every=100, sample_every=100))
    trainer.fit(steps=3)
    (tmp_path / CHECKPOINT_NAME).unlink()

    def half_a_step(batch):  # as if Ctrl-C came after D's update and before G's
        with torch.no_grad():
            next(trainer.netD.parameters()).add_(1.0)
        raise KeyboardInterrupt

    def flip_then_stop(batch, seed, step):  # Ctrl-C while the next batch is prepared: step 3 is whole
        raise KeyboardInterrupt

    if inside_a_step:
        monkeypatch.setattr(trainer, "optimise", half_a_step)
    else:
        monkeypatch.setattr(training, "random_flip", flip_then_stop)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    if inside_a_step:
        assert not (tmp_path / CHECKPOINT_NAME).exists(), "a half-done step must not be saved"
    else:
        assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 3


def _tensors(state) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, dict):
        return [t for k in sorted(state, key=str) for t in _tensors(state[k])]
    if isinstance(state, (list, tuple)):
        return [t for v in state for t in _tensors(v)]
    return []


# ---------------------------------------------------------------- errors

def test_checkpoint_from_another_architecture_fails_clearly(tmp_path, tiny_root):
    Pix2PixTrainer(tiny(tiny_root, tmp_path)).save()
    wider = Pix2PixTrainer(tiny(tiny_root, tmp_path, ngf=16, netD="patch"))
    with pytest.raises(ValueError, match=r"another configuration: ngf=8 \(now 16\), netD='pixel' \(now 'patch'\)"):
        wider.load()
    save_checkpoint(tmp_path / "other.pt", {"kind": "pixelcnnpp", "config": {}})
    with pytest.raises(ValueError, match="not a pix2pix checkpoint"):
        wider.load(tmp_path / "other.pt")



def test_resume_without_a_checkpoint_starts_a_new_run_and_says_so(tmp_path, tiny_root, capsys):
    trainer = Pix2PixTrainer(tiny(tiny_root, tmp_path / "empty", resume=True, max_steps=2))
    trainer.fit()
    assert "no checkpoint in" in capsys.readouterr().out and trainer.step == 2


def test_unknown_or_bad_config_fails_with_one_line():
    for bad, words in [(dict(lambda_L1=10), ["'lambda_L1'", "known:", "lambda_l1"]),
                       (dict(netD="global"), ["'global'", "patch, pixel, none"]),
                       (dict(gan_mode="wgangp"), ["'wgangp'", "vanilla"]),
                       (dict(max_steps=None), ["exactly one of max_steps and epochs"])]:
        with pytest.raises(ValueError) as err:
            make_config("demo", **bad)
        assert "\n" not in str(err.value) and all(w in str(err.value) for w in words)
    with pytest.raises(ValueError, match="unknown preset"):
        make_config("full")


def test_presets():
    seed = make_config("seed")
    assert (seed.batch_size, seed.ngf, seed.ndf, seed.lr, seed.betas, seed.lambda_l1) == (100, 64, 64, 2e-4,
                                                                                          (0.5, 0.999), 100.0)
    assert seed.epochs and seed.max_steps is None and not seed.composite
    demo = make_config("demo")
    assert demo.device == "cpu" and demo.composite and demo.max_steps and demo.netD == "pixel"
    assert make_config("demo", epochs=2).max_steps is None  # choosing epochs clears the preset's steps
    assert set(PRESETS) == {"demo", "seed"}


# ---------------------------------------------------------------- CLI

def test_cli_value_parsing():
    assert parse_value("none", int | None) is None and parse_value("12", int | None) == 12
    assert parse_value("0.5,0.999", tuple[float, float]) == (0.5, 0.999)
    assert parse_value("false", bool) is False and parse_value("yes", bool) is True
    with pytest.raises(ValueError, match="maybe"):
        parse_value("maybe", bool)


def test_cli_rejects_unknown_keys(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["pix2pix", "--set", "lambda_L1=10"])
    assert exit_.value.code == 2
    assert "unknown pix2pix setting 'lambda_L1'" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_trains_and_resumes_in_a_subprocess(tmp_path, tiny_root):
    run = tmp_path / "cli"
    common = ["--run-dir", str(run), "--threads", "1", "--set", "ngf=8", "ndf=8", "batch_size=8", "log_every=1",
              f"data_root={tiny_root}", "progress=false"]
    done = subprocess.run([sys.executable, "-m", "inpaint_lib.train", "pix2pix", "--preset", "demo",
                           "--max-steps", "2", *common], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (run / "checkpoint.pt").is_file() and read_log(run)["step"] == [1, 2]
    # in-process from here on (same code path, no second interpreter start)
    assert cli_main(["pix2pix", "--max-steps", "3", "--resume", *common]) == 0
    assert read_log(run)["step"] == [1, 2, 3]
    assert cli_main(["pix2pix", "--max-steps", "4", "--resume", *common[:-5], "ngf=16", *common[-4:]]) == 1


def test_dropout_completions_differ_only_in_the_missing_half(tmp_path, tiny_root):
    from inpaint_lib.masks import apply_mask, lower_half
    from inpaint_lib.pix2pix import dropout_completions
    mask = lower_half()
    images = fixed_batch(4)
    masked = apply_mask(images, mask)
    for use_dropout, differ in [(True, True), (False, False)]:
        trainer = Pix2PixTrainer(tiny(tiny_root, tmp_path, use_dropout=use_dropout))
        trainer.train_step(fixed_batch())
        samples = dropout_completions(trainer.netG, masked, mask, n=3)
        assert samples.shape == (3, 4, 3, 32, 32)
        spread = samples.std(0)
        assert torch.equal(samples[:, :, :, :16], images[None, :, :, :16].expand(3, -1, -1, -1, -1))
        assert (spread[:, :, 16:].max() > 0) == differ
        assert trainer.netG.training  # the trainer's mode is left as it was


def test_load_or_train_loads_a_checkpoint_or_trains_or_says_what_to_run(tmp_path, tiny_root):
    config = tiny(tiny_root, tmp_path / "run", max_steps=2)
    trainer, how = load_or_train(tmp_path / "run", config)
    assert trainer.step == 2 and how.startswith("no checkpoint") and (tmp_path / "run" / "checkpoint.pt").exists()
    again, how = load_or_train(tmp_path / "run", config)
    pairs = zip(again.netG.state_dict().values(), trainer.netG.state_dict().values(), strict=True)
    assert how.startswith("loaded") and all(torch.equal(a, b) for a, b in pairs)
    with pytest.raises(FileNotFoundError, match="run notebook 02 or 03"):
        load_or_train(tmp_path / "nothing", config, train_missing=False)


def test_random_flip_mirrors_about_half_the_images_the_same_way_for_the_same_step():
    from inpaint_lib.pix2pix import random_flip
    images = torch.rand(64, 3, 8, 8)
    out = random_flip(images, seed=0, step=5)
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, images, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, images, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True)) and 16 < sum(mirrored) < 48
    assert torch.equal(random_flip(images, seed=0, step=5), out)       # resumable: depends on (seed, step) only
    assert not torch.equal(random_flip(images, seed=0, step=6), out)


def test_random_shift_moves_each_image_down_and_sideways_and_keeps_the_lower_half_real():
    from inpaint_lib.pix2pix import random_shift
    images = torch.rand(64, 3, 16, 16)
    out = random_shift(images, 3, seed=0, step=5)
    moves = []
    for o, i in zip(out, images, strict=True):
        # find the (dy, dx) that explains the lower half, where only pixels of the photograph may land
        found = [(dy, dx) for dy in range(4) for dx in range(-3, 4)
                 if torch.equal(o[:, 8:, max(dx, 0): 16 + min(dx, 0)],
                                i[:, 8 - dy: 16 - dy, max(-dx, 0): 16 - max(dx, 0)])]
        assert len(found) == 1
        moves.append(found[0])
    dys, dxs = zip(*moves, strict=True)
    assert set(dys) == {0, 1, 2, 3} and set(dxs) == set(range(-3, 4))  # every move is drawn
    # the rows a downward move brings in are mirrored ones, at the top: row r < dy shows row dy - r
    row_index = torch.arange(16.0)[None, None, :, None].expand(64, 3, 16, 16)
    for o, dy in zip(random_shift(row_index, 3, seed=0, step=5), dys, strict=True):
        assert o[0, :, 0].tolist() == [abs(r - dy) for r in range(16)]
    assert torch.equal(random_shift(images, 3, seed=0, step=5), out)   # resumable: depends on (seed, step) only
    assert not torch.equal(random_shift(images, 3, seed=0, step=6), out)
    with pytest.raises(ValueError, match="shift must be between 0"):
        make_config("demo", shift=12)


def test_amp_uses_bf16_only_where_the_hardware_has_it(tmp_path, tiny_root, monkeypatch):
    import inpaint_lib.training.trainer as training
    for native in (True, False):
        monkeypatch.setattr(training, "native_bf16", lambda device, native=native: native)
        trainer = Pix2PixTrainer(tiny(tiny_root, tmp_path, amp=True, netD="none"))
        assert trainer.use_amp is native
        with trainer.autocast():
            out = trainer.netG(fixed_batch())
        assert out.dtype == (torch.bfloat16 if native else torch.float32)
        assert np.isfinite(trainer.train_step(fixed_batch())["G_L1"])
    assert not Pix2PixTrainer(tiny(tiny_root, tmp_path, amp=False)).use_amp


def test_the_generator_average_follows_g_survives_a_checkpoint_and_completes(tmp_path, tiny_root):
    trainer = Pix2PixTrainer(tiny(tiny_root, tmp_path, ema_decay=0.5, max_steps=2))
    # the decay warms up: 1/10 at step 0, ..., then the configured 0.5 from step 8 on
    assert [trainer.ema.decay_at(s) for s in (0, 1, 8, 100)] == pytest.approx([0.1, 2 / 11, 0.5, 0.5])
    average = trainer.ema.module
    before = [p.clone() for p in average.parameters()]
    trainer.train_step(fixed_batch())
    for old, ema, live in zip(before, average.parameters(), trainer.netG.parameters(), strict=True):
        assert torch.allclose(ema, 0.1 * old + 0.9 * live)
    assert all(torch.equal(a, b) for a, b in zip(average.buffers(), trainer.netG.buffers(), strict=True))
    assert trainer.inference_model is average
    trainer.save()
    loaded = load_trainer(tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(loaded.ema.module.parameters(), average.parameters(), strict=True))
    masked = fixed_batch()
    assert torch.equal(loaded.complete(masked), trainer.complete(masked))
    plain = Pix2PixTrainer(tiny(tiny_root, tmp_path / "plain", ema_decay=0.0))
    assert plain.ema is None and plain.inference_model is plain.netG
    with pytest.raises(ValueError, match=r"bad value for ema_decay=1.0 .*ema_decay in \[0, 1\)"):
        make_config("demo", ema_decay=1.0)


def test_one_step_follows_the_reference_objective(tmp_path, tiny_root):
    """D: 0.5 (gan(D(x, fake), 0) + gan(D(x, y), 1)) on the detached fake; G: 100 L1 + gan(D(x, fake), 1)
    against the D *after* its step, which gets no gradient from G's step."""
    import copy

    from inpaint_lib.masks import apply_mask, composite, lower_half
    trainer = Pix2PixTrainer(tiny(tiny_root, tmp_path, netD="patch", flip=False, ema_decay=0.0))
    real, mask = fixed_batch(), lower_half()
    G0, D0 = copy.deepcopy(trainer.netG), copy.deepcopy(trainer.netD)
    trainer.train_step(real)

    masked = apply_mask(real, mask)
    fake = composite(G0(masked), real, mask)
    gan = trainer.gan_loss
    loss_D = 0.5 * (gan(D0(torch.cat([masked, fake.detach()], 1)), False) + gan(D0(torch.cat([masked, real], 1)), True))
    for p, g in zip(trainer.netD.parameters(), torch.autograd.grad(loss_D, list(D0.parameters())), strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-7)
    loss_G = 100 * (fake - real).abs().mean() + gan(trainer.netD(torch.cat([masked, fake], 1)), True)
    for p, g in zip(trainer.netG.parameters(), torch.autograd.grad(loss_G, list(G0.parameters())), strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-7)


def test_pix2pix_refuses_to_run_as_several_torchrun_processes(tmp_path, tiny_root, monkeypatch):
    from inpaint_lib.pix2pix import train
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="pix2pix trains in one process, but torchrun started 2"):
        train(tiny(tiny_root, tmp_path))
    assert not (tmp_path / CHECKPOINT_NAME).exists()


@pytest.mark.parametrize("netD", ["patch", "none"])
def test_a_training_step_never_waits_for_the_device(tmp_path, tiny_root, count_host_reads, netD):
    """No value is read back to the host in a step (fused Adam, losses read at log time). Syncs inside
    torch (masked_select's data-dependent shape, which the lower-half L1 no longer uses) are not seen here:
    torch.cuda.set_sync_debug_mode in the GPU check script catches those."""
    trainer = Pix2PixTrainer(tiny(tiny_root, tmp_path, netD=netD, flip=True, shift=2, ema_decay=0.9))
    batch = fixed_batch()
    with count_host_reads() as reads:
        trainer._step(trainer.augment(batch))
    assert reads == []
