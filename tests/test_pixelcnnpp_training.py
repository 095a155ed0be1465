"""The PixelCNN++ training core: it learns, it resumes exactly, it survives crashes, it refuses mistakes."""

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from inpaint_lib.pixelcnnpp import PixelCNNppTrainer, load_model, load_or_train, make_config, read_log
from inpaint_lib.pixelcnnpp.trainer import nats_per_dim
from inpaint_lib.training import CHECKPOINT_NAME
from inpaint_lib.training.checkpoint import load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[1]


def tiny(root: Path, run_dir: Path, **overrides):
    """A small PixelCNN++ config on conftest's ``tiny_root`` (its cifar10 set: train 64, test 16)."""
    settings = dict(dataset="cifar10", nr_resnet=1, nr_filters=8, nr_logistic_mix=3, dropout=0.5, batch_size=8,
                    max_steps=6, log_every=1, eval_every=0, checkpoint_every=1, device="cpu", run_dir=str(run_dir),
                    seed=3, progress=False)
    settings.update(overrides)
    os.environ["INPAINT_DATA"] = str(root)
    return make_config(None, **settings)


def weights(trainer: PixelCNNppTrainer) -> dict:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_loss_goes_down_and_bits_per_dim_are_counted_over_the_whole_split(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    trainer = PixelCNNppTrainer(tiny(tiny_root, tmp_path, dropout=0.0, max_steps=40, lr=3e-3, eval_every=40,
                                     eval_images=None, ema_decay=0.0))
    log = trainer.fit()
    first, last = log["train_bpd"][0], log["train_bpd"][-1]
    assert last < first - 0.5
    # the final evaluation equals the NLL of every test image / (16 * 3072 * ln 2), computed by hand
    from inpaint_lib.data import load_split, to_float
    x = to_float(load_split("cifar10", "test"))
    trainer.model.eval()
    with torch.no_grad():
        expected = nats_per_dim(x, trainer.model(x)).item() / math.log(2)
    assert log["test_bpd"][-1] == pytest.approx(expected, rel=1e-5)
    every = trainer.evaluate(n_images=None, batch_size=5)  # ragged batch
    assert every["bpd"] == pytest.approx(expected, rel=1e-5) and every["n_images"] == len(x) == 16
    assert trainer.evaluate(n_images=4)["n_images"] == 4 and trainer.evaluate(n_images=100)["n_images"] == 16


def test_learning_rate_decays_every_step(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    trainer = PixelCNNppTrainer(tiny(tiny_root, tmp_path, lr=1e-2, lr_decay=0.9, max_steps=3))
    log = trainer.fit()
    assert log["lr"] == pytest.approx([1e-2, 9e-3, 8.1e-3])


def test_linear_schedule_with_warmup_reaches_zero_at_the_last_step(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    trainer = PixelCNNppTrainer(tiny(tiny_root, tmp_path, lr=1e-2, lr_schedule="linear", warmup_steps=2, max_steps=4))
    log = trainer.fit()
    # warm-up 1/2, 1, 1, 1 times the decay 1, 3/4, 1/2, 1/4 of the run's progress
    assert log["lr"] == pytest.approx([5e-3, 7.5e-3, 5e-3, 2.5e-3])


def test_a_time_budget_ends_the_run_and_drives_the_linear_decay(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    trainer = PixelCNNppTrainer(tiny(tiny_root, tmp_path, lr_schedule="linear", max_steps=1000, time_budget_s=3600))
    trainer.train_seconds = 2700.0  # three quarters of the budget spent, 0 of 1,000 steps
    assert trainer.lr_factor(0) == pytest.approx(0.25)
    short = PixelCNNppTrainer(tiny(tiny_root, tmp_path / "short", max_steps=1000, time_budget_s=1e-6))
    short.fit()
    assert short.step == 1 and short.train_seconds > 0
    # the time spent is part of the checkpoint, so a resumed run keeps its budget
    resumed = PixelCNNppTrainer(tiny(tiny_root, tmp_path / "short", max_steps=1000, time_budget_s=1e-6, resume=True))
    resumed.load()
    assert resumed.train_seconds == short.train_seconds
    # and a run that ended on its budget trains no further step when resumed
    log_before = (tmp_path / "short" / "log.csv").read_text()
    resumed.fit()
    assert resumed.step == 1 and (tmp_path / "short" / "log.csv").read_text() == log_before


def test_amp_trains_in_bf16_where_the_hardware_has_it_and_evaluates_in_float32(tiny_root, tmp_path, monkeypatch):
    import inpaint_lib.training.trainer as training
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    calls = []
    for native in (True, False):
        monkeypatch.setattr(training, "native_bf16", lambda device, native=native: native)
        trainer = PixelCNNppTrainer(tiny(tiny_root, tmp_path, amp=True, dropout=0.0, ema_decay=0.0))
        assert trainer.use_amp is native
        hook = trainer.model.u_init.register_forward_hook(
            lambda m, i, out, native=native: calls.append((native, out.dtype)))
        trainer.train_step(torch.rand(8, 3, 32, 32) * 2 - 1)
        trainer.evaluate(4)
        hook.remove()
    # training ran the body in bf16 only where bf16 is native; the evaluation is always float32
    assert calls == [(True, torch.bfloat16), (True, torch.float32), (False, torch.float32), (False, torch.float32)]
    assert not PixelCNNppTrainer(tiny(tiny_root, tmp_path, amp=False)).use_amp


def test_resume_is_bitwise_identical_to_an_uninterrupted_run(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    # 8 training images per batch, 64 images: 8 batches per epoch; 11 steps cross an epoch boundary
    whole = PixelCNNppTrainer(tiny(tiny_root, tmp_path / "whole", max_steps=11))
    whole.fit()
    part = PixelCNNppTrainer(tiny(tiny_root, tmp_path / "part", max_steps=5))
    part.fit()
    resumed = PixelCNNppTrainer(tiny(tiny_root, tmp_path / "part", max_steps=11, resume=True))
    resumed.fit()
    assert resumed.step == 11
    assert same(weights(resumed), weights(whole))
    assert same(resumed.ema.module.state_dict(), whole.ema.module.state_dict())
    assert read_log(tmp_path / "part")["train_bpd"] == read_log(tmp_path / "whole")["train_bpd"]


def cli(run_dir: Path, root: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "inpaint_lib.train", "pixelcnnpp", "--preset", "demo", "--dataset", "cifar10",
            "--run-dir", str(run_dir), "--device", "cpu", "--threads", "1",
            "--set", "nr_resnet=1", "nr_filters=8", "nr_logistic_mix=3", "batch_size=8", "eval_every=0",
            "checkpoint_every=1", "log_every=1", "seed=5", "dropout=0.5", *extra]


def on_two_cpu_processes(run_dir: Path, root: Path, *extra: str) -> list[str]:
    """:func:`cli` under torchrun: two processes on the gloo backend."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m"] + cli(run_dir, root, *extra)[2:]


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_to_the_same_weights(tiny_root, tmp_path):
    env = {**os.environ, "INPAINT_DATA": str(tiny_root)}
    steps = "--max-steps", "14"
    subprocess.run(cli(tmp_path / "whole", tiny_root, *steps), env=env, check=True, capture_output=True)
    kill_after = np.random.default_rng().integers(2, 10)  # a random step, different on every run
    victim = subprocess.Popen(cli(tmp_path / "killed", tiny_root, *steps), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "killed" / "log.csv"
    deadline = time.time() + 120
    while time.time() < deadline and victim.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) > kill_after:
            victim.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = load_checkpoint(tmp_path / "killed" / CHECKPOINT_NAME)["step"]
    assert 0 < killed_at < 14
    subprocess.run(cli(tmp_path / "killed", tiny_root, *steps, "--resume"), env=env, check=True, capture_output=True)
    a = load_checkpoint(tmp_path / "whole" / CHECKPOINT_NAME)
    b = load_checkpoint(tmp_path / "killed" / CHECKPOINT_NAME)
    assert a["step"] == b["step"] == 14
    assert same(a["networks"]["model"], b["networks"]["model"]) and same(a["ema"]["weights"], b["ema"]["weights"])


@pytest.mark.slow
def test_a_kill_while_writing_a_checkpoint_leaves_the_previous_one(tmp_path):
    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(path, {"step": 1, "w": torch.zeros(3)})
    writer = f"""
import sys, time, torch
from inpaint_lib.training.checkpoint import save_checkpoint
original = torch.save
def slow_save(obj, f, *a, **k):
    f.write(b"half a checkpoint")
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
torch.save = slow_save
save_checkpoint({str(path)!r}, {{"step": 2, "w": torch.ones(3)}})
"""
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = load_checkpoint(path)
    assert state["step"] == 1 and torch.equal(state["w"], torch.zeros(3))
    assert len(list(tmp_path.glob(f".{CHECKPOINT_NAME}.*.tmp"))) == 1  # the dead write's temp file, never read


def test_an_injected_nan_is_skipped_and_counted(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    trainer = PixelCNNppTrainer(tiny(tiny_root, tmp_path, max_steps=4, max_nonfinite=1))
    x = next(iter(trainer.loader))
    healthy = trainer.forward
    trainer.train_step(x)
    assert trainer.guard.skipped == 0
    before, averaged = weights(trainer), {k: v.clone() for k, v in trainer.ema.module.state_dict().items()}
    trainer.forward = lambda batch: healthy(batch) * float("nan")
    stats = trainer.train_step(x)
    assert math.isnan(stats["train_bpd"]) and trainer.guard.skipped == 1 and trainer.step == 2
    assert same(weights(trainer), before), "the optimiser must not step on a non-finite loss"
    assert same(trainer.ema.module.state_dict(), averaged), "nor the average"
    trainer.forward = healthy
    trainer.train_step(x)
    assert trainer.guard.skipped == 1 and not same(weights(trainer), before)
    poisoned = PixelCNNppTrainer(tiny(tiny_root, tmp_path / "b", max_steps=6, max_nonfinite=2))
    poisoned.forward = lambda batch: poisoned.model(batch) * float("nan")
    with pytest.raises(FloatingPointError, match="stopped at step 2: 3 steps had a non-finite loss or gradient"):
        poisoned.fit()


def test_resuming_with_another_architecture_or_data_set_fails_clearly(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    PixelCNNppTrainer(tiny(tiny_root, tmp_path, max_steps=1)).fit()
    with pytest.raises(ValueError, match=r"nr_filters=8 \(now 16\)"):
        PixelCNNppTrainer(tiny(tiny_root, tmp_path, max_steps=2, nr_filters=16, resume=True)).fit()
    with pytest.raises(ValueError, match=r"dataset='cifar10' \(now 'sample'\)"):
        PixelCNNppTrainer(tiny(tiny_root, tmp_path, max_steps=2, dataset="sample", test_split="train",
                               resume=True)).fit()


def test_bad_settings_fail_in_one_line():
    with pytest.raises(ValueError, match="unknown pixelcnnpp setting\\(s\\) 'learning_rate'"):
        make_config("demo", learning_rate=1)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        make_config("huge")
    with pytest.raises(ValueError, match=r"bad value for dropout=1\.5"):
        make_config("demo", dropout=1.5)
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        make_config("demo", dataset="mnist")
    with pytest.raises(ValueError, match="unknown lr_schedule 'cosine'; choose one of exponential, linear"):
        make_config("demo", lr_schedule="cosine")
    for setting in (dict(max_steps=0), dict(epochs=-1), dict(time_budget_s=0), dict(grad_clip=-1.0),
                    dict(n_samples=0), dict(eval_images=0)):
        name, value = next(iter(setting.items()))
        with pytest.raises(ValueError, match=f"bad value for {name}={value}"):
            make_config("demo", **setting)


def test_a_length_in_epochs_replaces_the_presets_length_in_steps():
    assert make_config("demo").max_steps == 300
    by_epochs = make_config("demo", epochs=3)  # what `python -m inpaint_lib.train pixelcnnpp --epochs 3` asks
    assert (by_epochs.epochs, by_epochs.max_steps) == (3, None)
    by_steps = make_config("seed", max_steps=10)
    assert (by_steps.epochs, by_steps.max_steps) == (None, 10)
    with pytest.raises(ValueError, match="set exactly one of max_steps and epochs"):
        make_config("demo", epochs=3, max_steps=7)


def test_presets_hold_the_original_study_settings():
    seed = make_config("seed")
    assert (seed.nr_filters, seed.nr_resnet, seed.nr_logistic_mix, seed.dropout, seed.batch_size, seed.lr,
            seed.lr_decay) == (160, 5, 10, 0.5, 12, 1e-3, 0.999995)


@pytest.mark.slow
def test_data_parallel_on_two_cpu_processes_equals_one_process(tiny_root, tmp_path):
    """torchrun with gloo, 2 processes of 4 images each == 1 process with the global batch of 8."""
    env = {**os.environ, "INPAINT_DATA": str(tiny_root), "OMP_NUM_THREADS": "1"}
    common = ["--max-steps", "3", "--set", "dropout=0.0", "amp=False"]  # float32: rounding must agree
    single = cli(tmp_path / "single", tiny_root, *common)
    subprocess.run(single, env=env, check=True, capture_output=True)
    done = subprocess.run(on_two_cpu_processes(tmp_path / "ddp", tiny_root, *common), env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    a = load_checkpoint(tmp_path / "single" / CHECKPOINT_NAME)["networks"]["model"]
    b = load_checkpoint(tmp_path / "ddp" / CHECKPOINT_NAME)["networks"]["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-4, atol=1e-6), key


@pytest.mark.slow
def test_data_parallel_processes_stop_together_on_a_time_budget(tiny_root, tmp_path):
    """Only process 0 evaluates (time not charged to the budget); the others wait in the all-reduce
    meanwhile. They must still stop at the same step, or the job hangs."""
    env = {**os.environ, "INPAINT_DATA": str(tiny_root), "OMP_NUM_THREADS": "1"}
    ddp = on_two_cpu_processes(tmp_path / "ddp", tiny_root, "--max-steps", "100000", "--set", "time_budget_s=4",
                               "eval_every=1", "eval_images=16", "lr_schedule=linear", "amp=False")
    done = subprocess.run(ddp, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    state = load_checkpoint(tmp_path / "ddp" / CHECKPOINT_NAME)
    assert state["step"] > 1 and state["train_seconds"] >= 4


def test_load_model_gives_the_ema_weights_and_refuses_other_checkpoints(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    trainer = PixelCNNppTrainer(tiny(tiny_root, tmp_path / "run", max_steps=2, ema_decay=0.5))
    trainer.fit()
    model, info = load_model(tmp_path / "run", device="cpu")
    assert info["step"] == 2 and info["config"]["nr_filters"] == 8 and not model.training
    assert same(model.state_dict(), trainer.ema.module.state_dict())
    raw, _ = load_model(tmp_path / "run", device="cpu", averaged=False)
    assert same({k: v for k, v in raw.state_dict().items()}, weights(trainer))
    save_checkpoint(tmp_path / "other" / "checkpoint.pt", {"kind": "pix2pix", "config": {}})
    with pytest.raises(ValueError, match="is not a pixelcnnpp checkpoint of this course \\(kind 'pix2pix'\\)"):
        load_model(tmp_path / "other")
    resumed = PixelCNNppTrainer(tiny(tiny_root, tmp_path / "other", resume=True))
    with pytest.raises(ValueError, match="is not a pixelcnnpp checkpoint of this course \\(kind 'pix2pix'\\)"):
        resumed.fit()


def test_load_or_train_trains_once_then_loads(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    config = tiny(tiny_root, tmp_path / "run", max_steps=2)
    trained, how = load_or_train(tmp_path / "run", config)
    assert how.startswith("no checkpoint") and trained.step == 2
    again, how = load_or_train(tmp_path / "run", config)
    assert how.startswith("loaded") and again.step == 2
    assert same(again.inference_model.state_dict(), trained.inference_model.state_dict())
    with pytest.raises(FileNotFoundError, match="run notebook 05"):
        load_or_train(tmp_path / "nothing", config, train_missing=False)


def test_test_bits_per_dim_and_samples_come_from_the_averaged_weights(tiny_root, tmp_path, monkeypatch):
    from inpaint_lib.data import load_split, to_float
    from inpaint_lib.pixelcnnpp import discretized_mix_logistic_loss
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    trainer = PixelCNNppTrainer(tiny(tiny_root, tmp_path, dropout=0.0, max_steps=4, lr=3e-3, ema_decay=0.5))
    trainer.fit()
    live = weights(trainer)
    x = to_float(load_split("cifar10", "test"))
    by_hand = PixelCNNppTrainer(tiny(tiny_root, tmp_path / "by_hand", dropout=0.0)).model.eval()
    by_hand.load_state_dict(trainer.ema.module.state_dict())
    with torch.no_grad():
        expected = discretized_mix_logistic_loss(x, by_hand(x)).item() / (x.numel() * math.log(2))
        last_step = discretized_mix_logistic_loss(x, trainer.model.eval()(x)).item() / (x.numel() * math.log(2))
    assert trainer.evaluate()["bpd"] == pytest.approx(expected, rel=1e-5)
    assert last_step != pytest.approx(expected, rel=1e-3), "the average must differ from the last step's weights"
    assert same(weights(trainer), live), "evaluation leaves the training weights alone"
    from inpaint_lib.pixelcnnpp import sample
    drawn = trainer.samples(n=1, seed=7)
    assert torch.equal(drawn, sample(by_hand, 1, generator=torch.Generator().manual_seed(7)))


def test_a_training_step_reads_the_device_once(tiny_root, tmp_path, monkeypatch, count_host_reads):
    """The guard's decision is the step's only read: no range checks, fused Adam, losses read at log time."""
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    trainer = PixelCNNppTrainer(tiny(tiny_root, tmp_path, ema_decay=0.5))
    batch = next(iter(trainer.loader))
    with count_host_reads() as reads:
        trainer._step(batch)
    assert reads == ["__bool__"]
    with pytest.raises(ValueError, match="expects x in \\[-1, 1\\]"):  # a model the user builds keeps its check
        load_model_from(trainer)(torch.full((1, 3, 32, 32), 2.0))


def load_model_from(trainer: PixelCNNppTrainer):
    trainer.save()
    model, _ = load_model(trainer.run_dir, device="cpu")
    return model


def test_evaluation_runs_in_full_float32(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    trainer = PixelCNNppTrainer(tiny(tiny_root, tmp_path))
    seen = []
    hook = trainer.inference_model.register_forward_hook(
        lambda m, i, o: seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)))
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    trainer.evaluate(4)
    hook.remove()
    assert seen == [(False, False)]
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before


@pytest.mark.slow
def test_data_parallel_processes_draw_their_own_dropout_and_resume_exactly(tiny_root, tmp_path):
    """Each process seeds its own stream (so dropout masks differ) and a resume restores every process's state."""
    env = {**os.environ, "INPAINT_DATA": str(tiny_root), "OMP_NUM_THREADS": "1"}
    common = ["--set", "dropout=0.5", "amp=False"]
    for run, steps in (("whole", "4"), ("part", "2")):
        done = subprocess.run(on_two_cpu_processes(tmp_path / run, tiny_root, "--max-steps", steps, *common), env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    rng = load_checkpoint(tmp_path / "part" / CHECKPOINT_NAME)["rng"]
    assert len(rng) == 2 and not torch.equal(rng[0]["torch"], rng[1]["torch"]), "the processes' streams must differ"
    done = subprocess.run(on_two_cpu_processes(tmp_path / "part", tiny_root, "--max-steps", "4", "--resume", *common),
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    a = load_checkpoint(tmp_path / "whole" / CHECKPOINT_NAME)
    b = load_checkpoint(tmp_path / "part" / CHECKPOINT_NAME)
    assert a["step"] == b["step"] == 4
    assert same(a["networks"]["model"], b["networks"]["model"]), "a resumed data-parallel run must continue exactly"


@pytest.mark.slow
def test_compiled_training_matches_eager_and_resumes_exactly(tiny_root, tmp_path, monkeypatch):
    """torch.compile (inductor, on the CPU here): the same losses as eager within float tolerance, the compile
    time charged to the training time, and a resumed compiled run equal to an uninterrupted one bitwise."""
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    # scalar C++ kernels instead of SIMD ones: the same graphs and fusions, much less for the C++ compiler to do
    import torch._inductor.config
    monkeypatch.setattr(torch._inductor.config.cpp, "vec_isa_ok", False)
    settings = dict(max_steps=3, dropout=0.0, amp=False, ema_decay=0.5)
    eager = PixelCNNppTrainer(tiny(tiny_root, tmp_path / "eager", compile=False, **settings))
    eager_log = eager.fit()
    whole = PixelCNNppTrainer(tiny(tiny_root, tmp_path / "whole", compile=True, **settings))
    assert whole.compiled
    whole_log = whole.fit()
    assert whole_log["train_bpd"] == pytest.approx(eager_log["train_bpd"], rel=1e-4)
    assert 0 < whole.compile_seconds <= whole.train_seconds
    for a, b in zip(weights(whole).values(), weights(eager).values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)
    part = PixelCNNppTrainer(tiny(tiny_root, tmp_path / "part", compile=True, **settings))
    part.fit(steps=2)
    resumed = PixelCNNppTrainer(tiny(tiny_root, tmp_path / "part", compile=True, resume=True, **settings))
    resumed.fit()
    assert resumed.step == 3 and same(weights(resumed), weights(whole))
    assert same(resumed.ema.module.state_dict(), whole.ema.module.state_dict())
