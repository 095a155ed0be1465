import math
import random

import numpy as np
import pytest
import torch

from inpaint_lib.training import (
    EMA,
    CSVLog,
    NonFiniteGuard,
    linear_decay,
    read_log,
    rng_state,
    run_progress,
    set_rng_state,
    step_linear_decay,
    warmup,
)
from inpaint_lib.training.checkpoint import load_checkpoint, save_checkpoint


def draws():
    return random.random(), random.gauss(0, 1), np.random.rand(), np.random.randn(), torch.rand(3).tolist()


def test_rng_state_survives_a_weights_only_checkpoint(tmp_path):
    random.gauss(0, 1)  # leave a cached gaussian in python's generator
    np.random.randn()
    save_checkpoint(tmp_path / "c.pt", {"rng": rng_state()})
    expected = draws()
    draws()
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    assert draws() == expected


def test_a_checkpoint_from_a_machine_with_more_gpus_restores_the_gpus_there_are(monkeypatch):
    state = rng_state()
    state["cuda"] = [torch.full((8,), i, dtype=torch.uint8) for i in range(4)]  # saved on 4 GPUs
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device: restored.append((device, int(s[0]))))
    set_rng_state(state)
    assert restored == [(0, 0), (1, 1)]


def test_ema_loads_the_averaged_weights_and_keeps_its_own_decay():
    model = torch.nn.Linear(2, 1)
    saved = EMA(model, decay=0.5)
    with torch.no_grad():
        saved.module.weight.fill_(3.0)
    resumed = EMA(model, decay=0.9)  # the resumed run asks for another decay
    resumed.load_state_dict(saved.state_dict())
    assert resumed.decay == 0.9 and torch.equal(resumed.module.weight, torch.full((1, 2), 3.0))


def test_ema_follows_its_equation_with_the_warm_up():
    model = torch.nn.Linear(2, 1)
    ema = EMA(model, decay=0.99)
    averaged = {n: p.detach().clone() for n, p in model.named_parameters()}
    for step in range(40):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        ema.update(model, step)
        d = min(0.99, (1 + step) / (10 + step))  # 0.1 at the first step: the random start fades at once
        for name, p in model.named_parameters():
            averaged[name] = d * averaged[name] + (1 - d) * p.detach()
    for name, p in ema.module.named_parameters():
        assert torch.allclose(p, averaged[name], atol=1e-5), name
        assert not p.requires_grad
    # without the warm-up the initial weights would still weigh 0.99 ** 40 = 0.67; with it they are gone
    assert ema.decay_at(0) == 0.1 and ema.decay_at(10_000) == 0.99


def test_ema_copies_buffers_and_refuses_a_bad_decay():
    model = torch.nn.BatchNorm1d(3)
    ema = EMA(model, decay=0.9)
    model.running_mean.fill_(5.0)
    ema.update(model, 0)
    assert torch.equal(ema.module.running_mean, model.running_mean)  # statistics are copied, not averaged
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError, match="ema_decay must be in"):
            EMA(model, bad)


def test_csv_log_drops_rows_past_the_checkpoint_on_resume(tmp_path):
    log = CSVLog(tmp_path / "log.csv", ["step", "loss"])
    for step in range(1, 6):
        log.write({"step": step, "loss": 1.0 / step})
    CSVLog(tmp_path / "log.csv", ["step", "loss"], resume_step=3)
    assert read_log(tmp_path) == {"step": [1.0, 2.0, 3.0], "loss": [1.0, 0.5, 1 / 3]}
    resumed = CSVLog(tmp_path / "log.csv", ["step", "loss"], resume_step=3)
    with pytest.raises(ValueError, match="columns the log does not"):
        resumed.write({"step": 4, "accuracy": 1})
    resumed.write({"step": 4})  # a cell left empty reads as NaN
    assert math.isnan(read_log(tmp_path)["loss"][-1])
    CSVLog(tmp_path / "log.csv", ["step", "loss"])  # a fresh run starts a fresh log
    assert read_log(tmp_path) == {"step": [], "loss": []}
    with pytest.raises(FileNotFoundError, match="no training log"):
        read_log(tmp_path / "nowhere")


def test_non_finite_guard():
    guard = NonFiniteGuard(max_skips=1)
    one = torch.tensor(1.0)
    assert not guard.should_skip(one, one, 0)
    assert guard.should_skip(torch.tensor(math.nan), one, 1) and guard.skipped == 1
    with pytest.raises(FloatingPointError, match="stopped at step 2: 2 steps had a non-finite"):
        guard.should_skip(one, torch.tensor(math.inf), 2)


def test_run_progress_follows_whichever_of_steps_and_time_ends_the_run():
    assert run_progress(25, 100) == 0.25
    assert run_progress(25, 100, seconds=60, time_budget_s=120) == 0.5   # time ahead of steps
    assert run_progress(75, 100, seconds=60, time_budget_s=120) == 0.75  # steps ahead of time
    assert run_progress(10, 100, seconds=500, time_budget_s=120) == 1.0  # clipped at the end


def test_linear_decay_and_warmup_multipliers():
    assert [linear_decay(p, 1.0) for p in (0, 0.25, 0.5, 1)] == [1, 0.75, 0.5, 0]
    # constant for the first half, then to 0 over the second
    assert [linear_decay(p, 0.5) for p in (0, 0.5, 0.75, 1)] == [1, 1, 0.5, 0]
    assert linear_decay(0.9, 0.0) == 1.0
    assert [warmup(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1, 1, 1]
    assert warmup(0, 0) == 1.0


def test_step_linear_decay_is_pix2pix_policy():
    # 10 steps, the last half decaying: 1 for steps 0-4, then 5/6 ... 1/6
    factors = [step_linear_decay(s, 10, 0.5) for s in range(10)]
    assert factors[:5] == [1.0] * 5
    assert factors[5:] == pytest.approx([5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    assert [step_linear_decay(s, 4, 0.0) for s in range(4)] == [1.0] * 4


def test_native_bf16_needs_the_cpu_instructions(monkeypatch):
    from inpaint_lib import utils
    cpu = torch.device("cpu")
    for flags, native in [({"avx2", "avx512f"}, False), ({"avx512f", "avx512_bf16"}, True), ({"amx_bf16"}, True),
                          (set(), False)]:
        monkeypatch.setattr(utils, "_cpu_flags", lambda flags=flags: frozenset(flags))
        assert utils.native_bf16(cpu) is native
    assert utils.native_bf16(torch.device("meta")) is False


def test_seed_everything_seeds_python_numpy_and_torch():
    from inpaint_lib.utils import seed_everything
    generator = seed_everything(11)
    first = draws(), torch.rand(2, generator=generator).tolist()
    draws()  # move every generator on
    generator = seed_everything(11)
    assert (draws(), torch.rand(2, generator=generator).tolist()) == first
    seed_everything(12)
    assert draws() != first[0]
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        seed_everything(-1)
