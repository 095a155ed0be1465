"""The training command line, one subcommand per model, all on the notebooks' training cores.

    python -m inpaint_lib.train pix2pix [--preset demo|seed] [--dataset NAME]
                                        [--max-steps N | --epochs N] [--run-dir DIR] [--resume]
                                        [--device DEV] [--threads N] [--set KEY=VALUE ...]

``--set`` overrides any field of the model's configuration, e.g.
``--set netD=pixel ngf=32 betas=0.5,0.999 subset=none``; values are parsed by the field's type
(``none``/``null`` for an optional field, ``true``/``false`` for a switch, commas for a tuple).
An unknown key or a value that does not parse stops the command with one line saying which.

A model joins the command line with one entry in :data:`MODELS`: the name of a module that
provides ``PRESETS`` (preset name -> overrides), ``make_config(preset, **overrides)`` (rejecting
unknown keys), ``config_keys()`` and ``train(config)``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import sys
import types
import typing
from typing import Any

from .utils import set_cpu_threads

# subcommand -> module holding its training core
MODELS: dict[str, str] = {
    "pix2pix": "inpaint_lib.pix2pix_training",
    "pixelcnnpp": "inpaint_lib.pixelcnnpp_training",
}

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def parse_value(text: str, hint: Any) -> Any:
    """``text`` converted to the type ``hint`` (int, float, bool, str, ``X | None``, ``tuple[X, ...]``)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        return parse_value(text, next(a for a in args if a is not type(None)))
    if typing.get_origin(hint) is tuple:
        items = [t for t in text.replace(" ", "").strip("()").split(",") if t]
        element = args[0] if args else str
        return tuple(parse_value(t, element) for t in items)
    if hint is bool:
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise ValueError(f"expected true or false, got {text!r}")
    return hint(text)


def parse_overrides(pairs: list[str], config_class: type, model: str) -> dict[str, Any]:
    """``["key=value", ...]`` -> ``{key: typed value}`` for the dataclass ``config_class``."""
    hints = typing.get_type_hints(config_class)
    known = [f.name for f in dataclasses.fields(config_class)]
    overrides = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        if key not in known:
            raise ValueError(f"unknown {model} setting {key!r} in --set; known: {', '.join(known)}")
        try:
            overrides[key] = parse_value(text, hints[key])
        except (ValueError, StopIteration) as err:
            raise ValueError(f"--set {key}={text}: {err}") from None
    return overrides


def add_common_arguments(parser: argparse.ArgumentParser, presets: list[str]) -> None:
    parser.add_argument("--preset", choices=presets, default=presets[0], help="starting configuration")
    parser.add_argument("--dataset", help="data set name (sample, tinyimagenet32, imagenet32, cifar10)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--max-steps", type=int, metavar="N", help="train for N steps in all")
    length.add_argument("--epochs", type=int, metavar="N", help="train for N epochs")
    parser.add_argument("--run-dir", metavar="DIR", help="where logs, image grids and checkpoints go")
    parser.add_argument("--resume", action="store_true", help="continue from DIR's checkpoint")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 or auto")
    parser.add_argument("--threads", type=int, help="CPU threads (default $INPAINT_THREADS or torch's)")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="override any configuration field")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inpaint_lib.train",
                                     description="Train an inpainting model (the notebooks' training core).")
    sub = parser.add_subparsers(dest="model", required=True, metavar="MODEL")
    for name, module_name in MODELS.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or name).strip().splitlines()[0]
        add_common_arguments(sub.add_parser(name, help=doc, description=doc), list(module.PRESETS))
    parser.subcommands = sub.choices  # name -> its parser, for errors that show the right usage line
    return parser


def config_from_args(args: argparse.Namespace, module) -> Any:
    config_class = type(module.make_config(args.preset))
    overrides = parse_overrides(args.overrides, config_class, args.model)
    named = {"dataset": args.dataset, "max_steps": args.max_steps, "epochs": args.epochs, "run_dir": args.run_dir,
             "device": args.device}
    overrides.update({k: v for k, v in named.items() if v is not None})
    if args.resume:
        overrides["resume"] = True
    return module.make_config(args.preset, **overrides)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module = importlib.import_module(MODELS[args.model])
    try:
        config = config_from_args(args, module)
    except ValueError as err:
        parser.subcommands[args.model].error(str(err))
    set_cpu_threads(args.threads)
    print(f"{args.model}: " + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(config).items()), flush=True)
    try:
        module.train(config)
    except (ValueError, FileNotFoundError) as err:
        if os.environ.get("INPAINT_DEBUG"):
            raise
        print(f"{args.model}: error: {err}", file=sys.stderr)
        return 1
    print(f"{args.model}: done; logs, image grids and checkpoint in {config.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
