"""The training command line, one subcommand per model family, on the notebooks' own trainers.

    python -m inpaint_lib.train pix2pix [--preset demo|seed] [--dataset NAME]
                                        [--max-steps N | --epochs N] [--run-dir DIR] [--resume]
                                        [--device DEV] [--threads N] [--set KEY=VALUE ...]

``--set`` overrides any field of the family's configuration, e.g.
``--set netD=pixel ngf=32 betas=0.5,0.999 subset=none`` (see :func:`inpaint_lib.training.parse_overrides`).
An unknown key or a value that does not parse stops the command with one line saying which.

A family joins the command line with one entry in :data:`MODELS`: ``module:TrainerClass``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import shlex
import sys

from ..utils import set_cpu_threads
from .config import parse_overrides

__all__ = ["MODELS", "PROGRAM", "trainer_class", "config_from_command", "main"]

PROGRAM = "python -m inpaint_lib.train"

# subcommand -> the trainer class that trains it
MODELS: dict[str, str] = {
    "pix2pix": "inpaint_lib.pix2pix.trainer:Pix2PixTrainer",
    "pixelcnnpp": "inpaint_lib.pixelcnnpp.trainer:PixelCNNppTrainer",
}


def trainer_class(model: str):
    """The trainer class of the family ``model`` (a key of :data:`MODELS`)."""
    if model not in MODELS:
        raise ValueError(f"unknown model family {model!r}; choose one of {', '.join(MODELS)}")
    module, name = MODELS[model].split(":")
    return getattr(importlib.import_module(module), name)


def _add_common_arguments(parser: argparse.ArgumentParser, presets: list[str]) -> None:
    parser.add_argument("--preset", choices=presets, default=presets[0], help="starting configuration")
    parser.add_argument("--dataset", help="data set name (sample, tinyimagenet32, imagenet32, cifar10)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--max-steps", type=int, metavar="N", help="train for N steps in all")
    length.add_argument("--epochs", type=float, metavar="N", help="train for N epochs")
    parser.add_argument("--run-dir", metavar="DIR", help="where logs, image grids and checkpoints go")
    parser.add_argument("--resume", action="store_true", help="continue from DIR's checkpoint")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 or auto")
    parser.add_argument("--threads", type=int, help="CPU threads (default $INPAINT_THREADS or torch's)")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="override any configuration field")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROGRAM,
                                     description="Train an inpainting model (the notebooks' training core).")
    sub = parser.add_subparsers(dest="model", required=True, metavar="MODEL")
    for name in MODELS:
        cls = trainer_class(name)
        module = sys.modules[cls.__module__]
        doc = (module.__doc__ or name).strip().splitlines()[0]
        _add_common_arguments(sub.add_parser(name, help=doc, description=doc), list(cls.config_class.PRESETS))
    parser.subcommands = sub.choices  # name -> its parser, for errors that show the right usage line
    return parser


def _config_from_args(args: argparse.Namespace, config_class):
    overrides = parse_overrides(args.overrides, config_class)
    named = {"dataset": args.dataset, "max_steps": args.max_steps, "epochs": args.epochs, "run_dir": args.run_dir,
             "device": args.device, "threads": args.threads}
    overrides.update({k: v for k, v in named.items() if v is not None})
    if args.resume:
        overrides["resume"] = True
    return config_class.from_preset(args.preset, **overrides)


def config_from_command(command: str | list[str]):
    """``(trainer class, configuration)`` that a training command builds, without training.

    ``command``: the whole line (``"python -m inpaint_lib.train pixelcnnpp --preset demo ..."``)
    or the arguments after the program. A line that is not this program's fails in one line.
    """
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    program = PROGRAM.split()
    if argv[:len(program)] == program:
        argv = argv[len(program):]
    elif isinstance(command, str):
        raise ValueError(f"not a training command (it should start with {PROGRAM!r}): {command!r}")
    args = _build_parser().parse_args(argv)
    cls = trainer_class(args.model)
    return cls, _config_from_args(args, cls.config_class)


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    cls = trainer_class(args.model)
    try:
        config = _config_from_args(args, cls.config_class)
    except ValueError as err:
        parser.subcommands[args.model].error(str(err))
    set_cpu_threads(args.threads)
    print(f"{args.model}: " + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(config).items()), flush=True)
    try:
        cls.train(config)
    except (ValueError, FileNotFoundError) as err:
        if os.environ.get("INPAINT_DEBUG"):
            raise
        print(f"{args.model}: error: {err}", file=sys.stderr)
        return 1
    print(f"{args.model}: done; logs, image grids and checkpoint in {config.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
