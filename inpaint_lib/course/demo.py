"""The lecture sequence, and ``make demo``: run every notebook at its CPU demo size.

    python -m inpaint_lib.course demo [--out runs/demo] [--only 00 01]
    python -m inpaint_lib.course demo --dataset tinyimagenet32    # on real photographs: runs/demo-tinyimagenet32/
    python -m inpaint_lib.course list

``--dataset`` gives every notebook that has a ``dataset`` parameter that data set, and its held-out split
to those with a ``test_split`` parameter (:func:`dataset_parameters`); notebook 06 then compares the
shipped models, which were trained on Tiny ImageNet 32, on photographs like those they learnt from.

Each notebook is executed by papermill with its own defaults (the CPU demo) and
``run_dir=<out>/<notebook name>`` (notebook 05, which keeps a folder per preset:
``<out>/05_train_pixelcnnpp/demo``, :data:`RUN_FOLDERS`); the executed notebook is written beside its run folder.
Notebook 06 compares the shipped models; it is also told where 02, 03 and 05 trained theirs (:data:`UPSTREAM_RUNS`),
for its ``models="runs"`` setting.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..utils import REPO_ROOT

__all__ = ["NOTEBOOKS", "UPSTREAM_RUNS", "HEADLESS_PARAMETERS", "RUN_FOLDERS", "lecture_notebooks",
           "upstream_parameters", "dataset_parameters", "default_out", "run_notebook", "demo", "main"]

NOTEBOOKS = REPO_ROOT / "notebooks"


# The runs a notebook compares, as its parameters, relative to the folder that holds every notebook's run: notebook
# 06 with models="runs" loads the models of 02, 03 and 05 (its own defaults are the same paths under runs/).
UPSTREAM_RUNS = {"06_inpainting": {"unet_run": "02_unet/l1_unet", "pixelgan_run": "03_pix2pix/pixelgan",
                                   "patchgan_run": "03_pix2pix/patchgan",
                                   "dropout_run": "03_pix2pix/patchgan_dropout",
                                   "pixelcnnpp_run": "05_train_pixelcnnpp/demo"}}
# what a run without a browser gives a notebook that would otherwise build live widgets (notebook 07 then draws the
# same figures statically)
HEADLESS_PARAMETERS = {"07_try_it": {"interactive": False}}
# run folders other than the notebook's name, as the notebook's own default lays them out under runs/
RUN_FOLDERS = {"05_train_pixelcnnpp": "05_train_pixelcnnpp/demo"}


def lecture_notebooks() -> list[Path]:
    """The notebooks ``NN_topic.ipynb`` in course order (only those that exist)."""
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def upstream_parameters(notebook: Path, out: Path) -> dict[str, str]:
    """The run parameters of ``notebook`` (:data:`UPSTREAM_RUNS`) pointed at the runs under ``out``."""
    return {name: str(out / rel) for name, rel in UPSTREAM_RUNS.get(notebook.stem, {}).items()}


def dataset_parameters(notebook: Path, dataset: str | None) -> dict[str, str]:
    """``dataset`` and its held-out split, for the parameters ``notebook`` declares (none when ``dataset`` is None)."""
    if dataset is None:
        return {}
    import papermill

    from ..data import held_out_split

    declared = papermill.inspect_notebook(str(notebook))
    values = {"dataset": dataset, "test_split": held_out_split(dataset)}
    return {name: value for name, value in values.items() if name in declared}


def default_out(dataset: str | None) -> Path:
    """Where ``demo`` writes: ``runs/demo`` on the default data set, ``runs/demo-<dataset>`` on another."""
    return REPO_ROOT / "runs" / ("demo" if dataset in (None, "sample") else f"demo-{dataset}")


def run_notebook(notebook: Path, out: Path, parameters: dict | None = None) -> Path:
    """Execute ``notebook`` with papermill; returns the path of the executed copy."""
    import papermill

    run = out / RUN_FOLDERS.get(notebook.stem, notebook.stem)
    run.mkdir(parents=True, exist_ok=True)
    executed = out / notebook.name
    parameters = {"run_dir": str(run), **HEADLESS_PARAMETERS.get(notebook.stem, {}), **(parameters or {})}
    papermill.execute_notebook(str(notebook), str(executed), parameters=parameters, cwd=str(notebook.parent),
                               kernel_name="python3", progress_bar=True)
    return executed


def demo(out: Path, only: list[str] | None = None, dataset: str | None = None) -> int:
    if dataset is not None:
        from ..data import load_split
        load_split(dataset, "train")  # a missing data set stops here, in one line saying how to get it
    notebooks = [nb for nb in lecture_notebooks() if not only or nb.name[:2] in only]
    out.mkdir(parents=True, exist_ok=True)
    timings = []
    for nb in notebooks:
        print(f"--- {nb.name}", flush=True)
        start = time.perf_counter()
        executed = run_notebook(nb, out, {**upstream_parameters(nb, out), **dataset_parameters(nb, dataset)})
        timings.append((executed, time.perf_counter() - start))
    print("\nDone. Executed notebooks, figures and logs:")
    for executed, seconds in timings:
        print(f"  {executed.relative_to(REPO_ROOT) if executed.is_relative_to(REPO_ROOT) else executed}"
              f"   ({seconds:.0f} s; its files in {executed.with_suffix('').name}/)")
    print(f"Open them with `make lab`, or look at the PNG files under {out}.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpaint_lib.course")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("demo", help="run every lecture notebook at its demo size")
    run.add_argument("--out", type=Path, help="default: runs/demo, or runs/demo-<dataset> with --dataset")
    run.add_argument("--only", nargs="*", help="notebook numbers to run, e.g. 00 03")
    run.add_argument("--dataset", help="run every notebook on this data set, e.g. tinyimagenet32 "
                                       "(make data-tinyimagenet32 fetches it)")
    sub.add_parser("list", help="the lecture notebooks in order")
    args = parser.parse_args(argv)
    if args.command == "list":
        for nb in lecture_notebooks():
            print(nb.relative_to(REPO_ROOT))
        return 0
    try:
        return demo((args.out or default_out(args.dataset)).resolve(), args.only, args.dataset)
    except (FileNotFoundError, ValueError) as err:  # a missing or unknown data set: its one line
        print(f"demo: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
