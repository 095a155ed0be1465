"""Every papermill command that the README and the notebooks print runs, as printed.

The commands are read from the text itself (fenced ``bash`` blocks and inline code of the README and of every
notebook's markdown), so a command that is reworded is tested as reworded. Each runs through papermill's own
command line from the repository root, with two kinds of extra ``-p`` options appended (papermill keeps the last
value of a parameter): the run folder and the executed copy go to a temporary folder, never into ``runs/``, and a
notebook that trains gets the small size of :data:`SMALL`. A command on Tiny ImageNet 32 needs
``$INPAINT_DATA`` (it is skipped on a student's machine without it and fails in CI); together these are the
course's pass over real photographs. A command on a data set that is not there (ImageNet 32 in CI) must stop
with the one-line message that says how to get it. A command printed in several places runs once.

With ``INPAINT_EXECUTED_OUT=DIR`` (set by .ci/run) the executed copy of each command that succeeds is kept as
``DIR/<notebook>.ipynb`` with its run folder ``DIR/<notebook>/``, the layout of ``make demo``: the site is then
built from the real-data pass (``make site EXECUTED=DIR``) instead of executing every notebook once more.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# Small sizes for the commands that train or score a whole split: the same code paths at a fraction of the time.
# The Pix2Pix networks train at half the printed widths (32, not 64), a quarter of the cost, and for 60 to 100 steps:
# enough for the comparisons their notebooks assert (U-Net against the mean colour, PatchGAN's D losses against
# PixelGAN's). Notebook 04's scale-up keeps its printed network and trains it for 20 steps.
SMALL = {
    "01_masking_and_baselines": {"n_eval": 2000},
    "02_unet": {"max_steps": 100, "ngf": 32, "n_eval": 500},
    "03_pix2pix": {"max_steps": 60, "batch_size": 32, "ngf": 32, "ndf": 32, "n_eval": 500},
    "04_pixelcnnpp_likelihood": {"max_steps": 40, "eval_every": 20, "eval_images": 100, "n_samples": 2},
    # the seed and full presets are the study's network (53.7 M parameters): a small one of the same preset here
    "05_train_pixelcnnpp": {"epochs": 0.008, "n_complete": 2, "n_test": 500,
                            "overrides": {"nr_resnet": 1, "nr_filters": 32, "eval_images": 100, "log_every": 2}},
    "06_inpainting": {"n_images": 32, "n_plausibility": 400},
}


@dataclass(frozen=True)
class Printed:
    """One printed command: where it is printed and its words."""

    where: str
    words: tuple[str, ...]

    @property
    def notebook(self) -> str:
        return Path(self.words[1]).stem

    def parameters(self) -> dict[str, str]:
        words = self.words[3:]
        return {words[i + 1]: words[i + 2] for i in range(len(words) - 2) if words[i] == "-p"}

    def __str__(self) -> str:
        return " ".join(self.words)


def commands_in(text: str, where: str) -> list[Printed]:
    """The ``papermill ...`` commands of a markdown text: lines of fenced code blocks (``\\`` continues a line)
    and inline code spans (which may wrap over lines)."""
    found = []
    fences = re.compile(r"```[^\n]*\n(.*?)```", re.S)
    for block in fences.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            found.append(line.strip())
    for span in re.findall(r"`([^`]+)`", fences.sub("", text)):
        found.append(" ".join(span.split()))
    commands = []
    for line in found:
        if not line.split(" ", 1)[0].endswith("papermill"):
            continue
        words = shlex.split(line)
        if len(words) >= 3:
            commands.append(Printed(where, ("papermill", *words[1:])))
    return commands


def printed_commands() -> list[Printed]:
    commands = commands_in((REPO / "README.md").read_text(), "README.md")
    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "markdown":
                commands += commands_in("".join(cell["source"]), f"{path.name}, cell {i}")
    return commands


def distinct(commands: list[Printed]) -> list[Printed]:
    """One of each command (the same words printed in the README and in its notebook run once)."""
    seen, kept = set(), []
    for command in commands:
        key = (command.words[1], tuple(sorted(command.parameters().items())))
        if key not in seen:
            seen.add(key)
            kept.append(command)
    return kept


COMMANDS = printed_commands()


def test_the_commands_are_found_in_the_readme_and_every_notebook():
    places = {c.where.split(",")[0] for c in COMMANDS}
    assert "README.md" in places
    notebooks = {c.notebook for c in COMMANDS}
    lecture = {p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert notebooks == lecture, f"notebooks without a printed papermill command: {sorted(lecture - notebooks)}"
    real = {c.notebook for c in COMMANDS if c.parameters().get("dataset") == "tinyimagenet32"}
    assert real == lecture, f"notebooks never run on Tiny ImageNet 32: {sorted(lecture - real)}"


def test_commands_are_read_from_fences_continuations_and_wrapped_inline_code():
    text = ("Run\n```bash\n.venv/bin/papermill notebooks/a.ipynb out.ipynb \\\n    -p dataset x\necho hi\n"
            "papermill notebooks/b.ipynb b.ipynb -p n 2\n```\nor `papermill notebooks/c.ipynb c.ipynb -p k\n3`.")
    assert [str(c) for c in commands_in(text, "t")] == [
        "papermill notebooks/a.ipynb out.ipynb -p dataset x", "papermill notebooks/b.ipynb b.ipynb -p n 2",
        "papermill notebooks/c.ipynb c.ipynb -p k 3"]


def _data_root_for(dataset: str | None, request) -> str | None:
    if dataset == "tinyimagenet32":
        return str(request.getfixturevalue("real_data_root"))
    return os.environ.get("INPAINT_DATA")


@pytest.mark.slow
@pytest.mark.parametrize("command", distinct(COMMANDS), ids=[f"{c.where}: {c.notebook}" for c in distinct(COMMANDS)])
def test_printed_command_runs_as_printed(command: Printed, tmp_path, request):
    from inpaint_lib.data import dataset_path

    dataset = command.parameters().get("dataset")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    root = _data_root_for(dataset, request)
    if root is not None:
        env["INPAINT_DATA"] = root
    keep = os.environ.get("INPAINT_EXECUTED_OUT")
    out = Path(keep).resolve() if keep else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    executed, run_dir = tmp_path / f"{command.notebook}.ipynb", out / command.notebook
    extra = {**SMALL.get(command.notebook, {}), "run_dir": str(run_dir if keep else tmp_path / "run")}
    words = [sys.executable, "-m", "papermill", command.words[1], str(executed), *command.words[3:],
             "--no-progress-bar"]
    for name, value in extra.items():  # papermill reads a -p value as a number or a string, a -y one as YAML
        words += ["-y", yaml.safe_dump({name: value})] if isinstance(value, dict) else ["-p", name, str(value)]
    result = subprocess.run(words, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    if dataset in (None, "sample") or dataset_path(dataset, "train", root).exists():
        assert result.returncode == 0, f"{command} (printed in {command.where}) failed:\n{output[-3000:]}"
        if keep:
            shutil.copy2(executed, out / executed.name)
    else:  # the data set is not in this data root: the notebook must say so in one line, and how to get it
        assert result.returncode != 0
        message = next((line for line in output.splitlines() if line.startswith("DatasetNotFound: ")), None)
        assert message is not None and dataset in message, f"no clear missing-data line:\n{output[-3000:]}"
