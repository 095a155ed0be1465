"""Exercises are generated from solutions: ``make exercises`` (``python -m inpaint_lib.course.exercises``).

In a solution notebook (``solutions/*.ipynb``) the student's part of a code cell sits between
two marker lines::

    ### BEGIN SOLUTION
    ...the answer...
    ### END SOLUTION

The exercise notebook (``exercises/*.ipynb``, same name) is the solution with every marked block
replaced by ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` at the marker's indentation,
outputs cleared and kernel metadata set to ``python3``. Marked cells are tagged ``exercise``.
A nested or unclosed marker is an error naming the notebook and the cell.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

from ..utils import REPO_ROOT

__all__ = ["BEGIN", "END", "KERNELSPEC", "MarkerError", "strip_solution", "has_marker", "make_exercise",
           "exercise_text", "write_exercises", "main"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


class MarkerError(ValueError):
    """A solution notebook whose markers do not pair up."""


def strip_solution(source: str, where: str = "cell") -> str:
    """``source`` with each BEGIN/END block replaced by the placeholder; ``where`` names the cell in errors."""
    out, inside = [], None
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside is not None:
                raise MarkerError(f"{where}: line {number}: {BEGIN} inside the block opened at line {inside}; "
                                  "blocks cannot be nested")
            inside = number
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
        elif marker == END:
            if inside is None:
                raise MarkerError(f"{where}: line {number}: {END} without a {BEGIN} before it")
            inside = None
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise MarkerError(f"{where}: the {BEGIN} at line {inside} is never closed; add {END}")
    return "\n".join(out)


def has_marker(source: str) -> bool:
    return any(line.strip() in (BEGIN, END) for line in source.splitlines())


def make_exercise(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The exercise version of a solution notebook (a new object; the solution is not changed)."""
    nb = copy.deepcopy(solution)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if has_marker(cell.source):
            cell.source = strip_solution(cell.source, f"{name}, cell {index}")
            tags = cell.metadata.setdefault("tags", [])
            if "exercise" not in tags:
                tags.append("exercise")
    return nb


def exercise_text(solution_path: Path) -> str:
    """The exact text ``make exercises`` writes for ``solution_path``."""
    solution = nbformat.read(solution_path, as_version=4)
    return nbformat.writes(make_exercise(solution, solution_path.name)) + "\n"


def write_exercises(solutions: Path = REPO_ROOT / "solutions", exercises: Path = REPO_ROOT / "exercises") -> list[Path]:
    """Write ``exercises/X.ipynb`` for every ``solutions/X.ipynb``; remove exercises whose solution is gone."""
    exercises.mkdir(exist_ok=True)
    sources = sorted(solutions.glob("*.ipynb"))
    texts = {exercises / s.name: exercise_text(s) for s in sources}  # all checked before anything is written
    for stale in set(exercises.glob("*.ipynb")) - set(texts):
        stale.unlink()
    for path, text in texts.items():
        path.write_text(text)
    return list(texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpaint_lib.course.exercises", description=__doc__.split("\n")[0])
    parser.add_argument("--solutions", type=Path, default=REPO_ROOT / "solutions")
    parser.add_argument("--exercises", type=Path, default=REPO_ROOT / "exercises")
    args = parser.parse_args(argv)
    try:
        written = write_exercises(args.solutions, args.exercises)
    except MarkerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
