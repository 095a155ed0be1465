"""Training, written once for every model: the loop, the weight average, schedules, checkpoints, the CLI.

- ``trainer``     :class:`Trainer`, the loop every family's trainer builds on (read it top to bottom)
- ``config``      :class:`TrainConfig`, presets, and the ``KEY=VALUE`` parser of ``--set``
- ``ema``         :class:`EMA`, the average of the weights that is evaluated and shipped (with a warm-up)
- ``schedules``   learning-rate multipliers that follow a run's steps or its time budget
- ``checkpoint``  atomic checkpoints, configuration checks, random-number-generator states
- ``log``         the CSV training log and :func:`read_log`
- ``__main__``    the command line, ``python -m inpaint_lib.train {pix2pix,pixelcnnpp} ...``
"""

from .checkpoint import check_config, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import TrainConfig, parse_overrides, parse_value
from .ema import EMA
from .log import CSVLog, read_log
from .schedules import budget_spent, linear_decay, run_progress, step_linear_decay, warmup
from .trainer import CHECKPOINT_NAME, NonFiniteGuard, Trainer, compile_problem, distributed_context

__all__ = ["Trainer", "TrainConfig", "EMA", "CSVLog", "read_log", "NonFiniteGuard", "CHECKPOINT_NAME",
           "distributed_context", "compile_problem", "parse_overrides", "parse_value", "save_checkpoint",
           "load_checkpoint", "check_config", "rng_state", "set_rng_state", "budget_spent", "run_progress",
           "linear_decay", "step_linear_decay", "warmup"]
