"""A run's settings: the fields every training run has, presets, and ``KEY=VALUE`` overrides.

Each model family subclasses :class:`TrainConfig` with its own fields and its ``PRESETS``
(preset name -> field values). ``Config.from_preset("demo", lr=1e-3)`` builds and checks one;
the command line's ``--set KEY=VALUE`` and the benchmarks' go through :func:`parse_overrides`,
which reads each value by the field's type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

from .. import data

__all__ = ["TrainConfig", "parse_value", "parse_overrides"]

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass
class TrainConfig:
    """The settings of every training run. A family's config adds its own and may change defaults."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    MODEL: ClassVar[str] = "model"     # the family's name, in messages

    # data
    dataset: str = "sample"
    data_root: str | None = None       # None: $INPAINT_DATA or data/
    subset: int | None = None          # train on a seeded random subset of this many images
    test_split: str | None = None      # None: the data set's held-out split (test or val)
    # length: exactly one of max_steps and epochs; a time budget may end the run earlier
    max_steps: int | None = 200
    epochs: float | None = None
    time_budget_s: float | None = None  # training wall time, evaluation and sampling not counted
    # optimisation
    batch_size: int = 16               # global batch (split across processes under torchrun)
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    ema_decay: float = 0.0             # > 0: evaluate, sample and ship an average of the weights (training.ema)
    # speed
    amp: bool = False                  # bf16 autocast where the hardware has bf16 (utils.native_bf16)
    channels_last: bool = False        # channels_last memory format (CUDA only)
    compile: bool | str = "auto"       # torch.compile the networks: True, False, or "auto" (long runs only)
    device: str = "auto"
    threads: int | None = None         # CPU threads (None: $INPAINT_THREADS or torch's default)
    seed: int = 0
    # bookkeeping
    run_dir: str = "runs/model"
    resume: bool = False               # continue from run_dir's checkpoint when there is one
    progress: bool = True              # show a progress bar
    log_every: int = 10                # steps per log row (its losses are the window's means)
    eval_every: int = 0                # steps between evaluations on eval_images held-out images (0: none)
    eval_images: int | None = 500
    sample_every: int = 0              # steps between image grids, and one at the end (0: none)
    n_samples: int = 8
    checkpoint_every: int = 100

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` (one line) on a setting that cannot work; returns the config."""
        if self.dataset not in data.DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(data.DATASETS)}")
        if (self.max_steps is None) == (self.epochs is None):
            raise ValueError(f"set exactly one of max_steps and epochs (got max_steps={self.max_steps}, "
                             f"epochs={self.epochs}); e.g. max_steps=1000, epochs=None")
        if self.compile not in (True, False, "auto"):
            raise ValueError(f"compile must be true, false or auto, got {self.compile!r}")
        if len(self.betas) != 2:
            raise ValueError(f"betas must be two numbers, got {self.betas!r}")
        checks = {
            "batch_size": self.batch_size > 0, "lr": self.lr > 0, "ema_decay": 0 <= self.ema_decay < 1,
            "log_every": self.log_every > 0, "eval_every": self.eval_every >= 0,
            "sample_every": self.sample_every >= 0, "n_samples": self.n_samples > 0,
            "checkpoint_every": self.checkpoint_every > 0,
            **{key: getattr(self, key) is None or getattr(self, key) > 0
               for key in ("max_steps", "epochs", "time_budget_s", "eval_images", "subset", "threads")},
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"bad value for {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)} "
                             "(lengths, sizes and rates must be positive; ema_decay in [0, 1))")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_preset(cls, preset: str | None = "demo", **overrides) -> TrainConfig:
        """The config of ``preset`` (None: the defaults) with ``overrides``, checked.

        Unknown presets or keys fail in one line. Asking for a length in epochs replaces the
        preset's length in steps and the other way round, unless both are given.
        """
        if preset is not None and preset not in cls.PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(cls.PRESETS)}")
        unknown = sorted(set(overrides) - set(cls.fields()))
        if unknown:
            raise ValueError(f"unknown {cls.MODEL} setting(s) {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(cls.fields())}")
        values = {**(cls.PRESETS[preset] if preset is not None else {}), **overrides}
        if "epochs" in overrides and "max_steps" not in overrides:
            values["max_steps"] = None
        if "max_steps" in overrides and "epochs" not in overrides:
            values["epochs"] = None
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values).validate()

    @classmethod
    def from_saved(cls, saved: dict[str, Any], **changes) -> TrainConfig:
        """The config stored in a checkpoint (fields this version does not know are dropped), with ``changes``."""
        values = {k: v for k, v in saved.items() if k in cls.fields()}
        values.update(changes)
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values).validate()


def parse_value(text: str, hint: Any) -> Any:
    """``text`` converted to the type ``hint`` (int, float, bool, str, ``X | None``, ``tuple[X, ...]``)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        members = [a for a in args if a is not type(None)]
        for member in members[:-1]:  # the first type that reads the text, e.g. bool | str: "true" then "auto"
            try:
                return parse_value(text, member)
            except ValueError:
                pass
        return parse_value(text, members[-1])
    if typing.get_origin(hint) is tuple:
        items = [t for t in text.replace(" ", "").strip("()").split(",") if t]
        element = args[0] if args else str
        return tuple(parse_value(t, element) for t in items)
    if hint is bool:
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise ValueError(f"expected true or false, got {text!r}")
    return hint(text)


def parse_overrides(pairs: list[str], config_class: type[TrainConfig]) -> dict[str, Any]:
    """``["key=value", ...]`` -> ``{key: typed value}`` for the fields of ``config_class``.

    ``none``/``null`` is None for an optional field, ``true``/``false`` a switch, commas a tuple:
    ``netD=pixel ngf=32 betas=0.5,0.999 subset=none``. An unknown key or a value that does not
    parse fails in one line.
    """
    hints = typing.get_type_hints(config_class)
    known = config_class.fields()
    overrides = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        if key not in known:
            raise ValueError(f"unknown {config_class.MODEL} setting {key!r} in --set; known: {', '.join(known)}")
        try:
            overrides[key] = parse_value(text, hints[key])
        except (ValueError, StopIteration) as err:
            raise ValueError(f"--set {key}={text}: {err}") from None
    return overrides
