"""The shipped models' command line: list them, retrain one from its recipe, export a run, verify the files.

    python -m inpaint_lib.pretrained list                 # each model, its size and main figures
    python -m inpaint_lib.pretrained train NAME           # run NAME's recorded training command
    python -m inpaint_lib.pretrained export NAME [--run-dir DIR]   # weights + card from the finished run
    python -m inpaint_lib.pretrained verify [NAME ...]    # checksums and architectures, no data needed

``make pretrained`` trains and exports every model (about 6 hours on a 2-core CPU, 4.5 of them the PixelCNN++'s
training; its command resumes, so running it again continues a stopped run).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from .registry import RECIPES, available, card, load


def _summary(name: str) -> str:
    c = card(name)
    figures = c["figures"]
    main = figures.get("likelihood", {})
    legs = len(c["training"].get("legs", []))
    trained = f"{c['training']['train_seconds'] / 60:.0f} min" + (f" in {legs} legs" if legs > 1 else "")
    parts = [f"{c['weights']['bytes'] / 1e6:.1f} MB", trained]
    if main:
        parts.append(f"{main['bpd']:.3f} bits/dim, lower half {main['conditional_bpd']:.3f}")
    parts.append(f"L1 x100 {figures['completions']['l1_x100']:.2f}")
    return f"{name:18s} " + ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpaint_lib.pretrained", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the shipped models and their main figures")
    train = sub.add_parser("train", help="run a model's recorded training command")
    train.add_argument("name", choices=list(RECIPES))
    export = sub.add_parser("export", help="write a model's weights and card from its finished run")
    export.add_argument("name", choices=list(RECIPES))
    export.add_argument("--run-dir", help="the run to export (default: the recipe's --run-dir)")
    export.add_argument("--likelihood-images", type=int, help="held-out images for bits/dim (default: all)")
    export.add_argument("--completion-images", type=int, default=1000, help="held-out images to complete")
    verify = sub.add_parser("verify", help="check every shipped file against its card (no data needed)")
    verify.add_argument("names", nargs="*", metavar="NAME", help=f"some of {', '.join(RECIPES)} (default: all shipped)")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for name in available():
                print(_summary(name))
            missing = [n for n in RECIPES if n not in available()]
            if missing:
                print(f"not shipped (yet): {', '.join(missing)}; make them with `make pretrained`")
        elif args.command == "train":
            from ..training.__main__ import PROGRAM
            from ..training.__main__ import main as train_main
            command = RECIPES[args.name].command
            print(command, flush=True)
            return train_main(shlex.split(command)[len(PROGRAM.split()):])
        elif args.command == "export":
            from .export import export as export_run
            model_card = export_run(args.name, args.run_dir, likelihood_images=args.likelihood_images,
                                    completion_images=args.completion_images)
            print(f"wrote {model_card['weights']['file']} ({model_card['weights']['bytes'] / 1e6:.1f} MB) "
                  f"and {args.name}.json")
        else:
            for name in args.names or available():
                load(name)
                print(f"{name}: checksum and architecture match its card")
    except (ValueError, FileNotFoundError) as err:
        print(f"pretrained: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
