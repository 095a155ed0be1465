"""What every benchmark records beside its figures: the machine, and one JSON line per run."""

from __future__ import annotations

import json
from pathlib import Path


def machine() -> dict:
    """The machine a figure was measured on (:func:`inpaint_lib.utils.describe_machine`)."""
    from inpaint_lib.utils import describe_machine
    return describe_machine()


def append_result(path: Path, result: dict) -> None:
    """Append ``result`` as one JSON line to ``path`` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(result) + "\n")


def report(path: Path, result: dict, record: bool = True, note: str | None = None) -> None:
    """Print ``result`` as one JSON line and, when ``record``, append it to ``path``.

    ``note`` (a benchmark's ``--note``: what code or machine state was measured) is recorded as it is.
    """
    if note is not None:
        result["note"] = note
    print(json.dumps(result))
    if record:
        append_result(path, result)
