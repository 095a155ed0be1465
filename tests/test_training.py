import math
import random

import numpy as np
import pytest
import torch

from inpaint_lib.checkpoint import load_checkpoint, save_checkpoint
from inpaint_lib.training import EMA, CSVLog, NonFiniteGuard, rng_state, set_rng_state


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


def test_ema_update_and_apply():
    model = torch.nn.Linear(2, 1)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)
    for name, p in model.named_parameters():
        assert torch.allclose(ema.shadow[name], 0.9 * start[name] + 0.1 * p)
    trained = model.weight.detach().clone()
    with ema.applied(model):
        assert torch.allclose(model.weight, ema.shadow["weight"])
    assert torch.equal(model.weight, trained)
    with pytest.raises(ValueError, match="ema_decay must be in"):
        EMA(model, 1.0)
    with pytest.raises(ValueError, match="another model"):
        ema.load_state_dict(EMA(torch.nn.Linear(3, 1, bias=False), 0.5).state_dict())


def test_csv_log_drops_rows_past_the_checkpoint_on_resume(tmp_path):
    log = CSVLog(tmp_path / "log.csv", ["step", "loss"])
    for step in range(1, 6):
        log.write({"step": step, "loss": 1.0 / step})
    resumed = CSVLog(tmp_path / "log.csv", ["step", "loss"], resume_step=3)
    assert [r["step"] for r in resumed.read()] == ["1", "2", "3"]
    with pytest.raises(ValueError, match="columns the log does not"):
        resumed.write({"step": 4, "accuracy": 1})
    assert CSVLog(tmp_path / "log.csv", ["step", "loss"]).read() == []  # a fresh run starts a fresh log


def test_non_finite_guard():
    guard = NonFiniteGuard(max_skips=1)
    one = torch.tensor(1.0)
    assert not guard.should_skip(one, one, 0)
    assert guard.should_skip(torch.tensor(math.nan), one, 1) and guard.skipped == 1
    with pytest.raises(FloatingPointError, match="stopped at step 2: 2 steps had a non-finite"):
        guard.should_skip(one, torch.tensor(math.inf), 2)
