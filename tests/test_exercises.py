"""exercises/ is generated from solutions/; exercises stop where the student must write; checks catch wrong answers."""

import os
import re
import textwrap
from pathlib import Path

import nbformat
import pytest

from exercise_mutations import MUTATIONS
from inpaint_lib.course.exercises import BEGIN, END, MarkerError, exercise_text, make_exercise, strip_solution

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((REPO / "solutions").glob("*.ipynb"))


def test_there_are_solutions_and_every_one_has_a_marked_block():
    assert SOLUTIONS, "solutions/ holds no notebooks"
    for path in SOLUTIONS:
        assert any(BEGIN in c.source for c in nbformat.read(path, as_version=4).cells), path.name


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_exercises_are_exactly_what_the_generator_makes(path):
    exercise = REPO / "exercises" / path.name
    assert exercise.exists(), f"exercises/{path.name} is missing: run `make exercises`"
    assert exercise.read_text() == exercise_text(path), \
        f"exercises/{path.name} was edited by hand: run `make exercises`"


def test_no_exercise_without_a_solution():
    assert {p.name for p in (REPO / "exercises").glob("*.ipynb")} == {p.name for p in SOLUTIONS}


def test_strip_solution_keeps_indentation_and_the_rest():
    source = f"def f(x):\n    y = 1\n    {BEGIN}\n    return x + y\n    {END}\nprint(f)"
    expected = "def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\nprint(f)"
    assert strip_solution(source) == expected


@pytest.mark.parametrize("source, message", [
    (f"{BEGIN}\na\n{BEGIN}\nb\n{END}\n{END}", "cannot be nested"),
    (f"{BEGIN}\na", "never closed"),
    (f"a\n{END}", "without a"),
])
def test_bad_markers_name_the_notebook_and_cell(source, message):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("x"), nbformat.v4.new_code_cell(source)])
    with pytest.raises(MarkerError, match=f"mine.ipynb, cell 1: .*{message}"):
        make_exercise(nb, "mine.ipynb")


def test_generated_notebooks_are_clean():
    cell = nbformat.v4.new_code_cell(f"{BEGIN}\nx = 1\n{END}", execution_count=3,
                                     outputs=[nbformat.v4.new_output("stream", text="hi")])
    kernelspec = {"name": "python3-custom", "display_name": "mine"}
    nb = nbformat.v4.new_notebook(cells=[cell], metadata={"kernelspec": kernelspec})
    out = make_exercise(nb)
    assert out.metadata.kernelspec.name == "python3"
    assert out.cells[0].outputs == [] and out.cells[0].execution_count is None
    assert "exercise" in out.cells[0].metadata.tags
    assert nb.cells[0].outputs, "the solution itself is left untouched"


@pytest.mark.slow  # starts a Jupyter kernel per notebook
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_exercise_stops_with_not_implemented_in_its_first_marked_cell(path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.read(REPO / "exercises" / path.name, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO / "exercises")}})
    with pytest.raises(CellExecutionError) as err:
        client.execute()
    assert err.value.ename == "NotImplementedError", f"{path.name} failed earlier, with {err.value.ename}"
    failed = [i for i, c in enumerate(nb.cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    marked = [i for i, c in enumerate(nb.cells) if "exercise" in c.metadata.get("tags", [])]
    code_after = next(i for i in range(marked[0] + 1, len(nb.cells)) if nb.cells[i].cell_type == "code")
    # a marked cell that defines a function raises when its check cell calls it
    assert failed in ([marked[0]], [code_after]), f"stopped in cell {failed}, not at the first exercise"
    assert "raise NotImplementedError()" in re.sub(r"\x1b\[[0-9;]*m", "", err.value.traceback)


def run_with_block(path: Path, block: int, body: str | None):
    """Execute the solution's code cells in order, with marked block ``block`` replaced by ``body``,
    up to and including the first code cell after the one holding that block (its check cell)."""
    cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    holders = [i for i, src in enumerate(cells) for line in src.splitlines() if line.strip() == BEGIN]
    target = holders[block]
    if body is not None:
        lines, out, seen, inside = cells[target].splitlines(), [], -1, False
        for line in lines:
            if line.strip() == BEGIN:
                seen += 1
                inside = seen == holders[: block + 1].count(target) - 1
                if inside:
                    indent = line[: len(line) - len(line.lstrip())]
                    out += textwrap.indent(textwrap.dedent(body).strip("\n"), indent).splitlines()
                    continue
            if line.strip() == END and inside:
                inside = False
                continue
            if not inside:
                out.append(line)
        cells[target] = "\n".join(out)
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        for src in cells[: target + 2]:
            exec(compile(src, f"{path.name}", "exec"), namespace)
    finally:
        os.chdir(cwd)


def solution_block(path: Path, block: int) -> str:
    """The lines between the ``block``-th BEGIN/END pair of the solution notebook, as written there."""
    bodies, inside = [], None
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if line.strip() == BEGIN:
                inside = []
            elif line.strip() == END:
                bodies.append("\n".join(inside) + "\n")
                inside = None
            elif inside is not None:
                inside.append(line)
    return bodies[block]


def wrong_answer(path: Path, mutation: dict) -> str:
    """The mutation's body, or the solution's own block with the mutation's ``edits`` applied."""
    if "body" in mutation:
        return mutation["body"]
    body = solution_block(path, mutation["block"])
    for old, new in mutation["edits"]:
        if body.count(old) != 1:
            raise ValueError(f"{path.name} block {mutation['block']}: {old!r} occurs {body.count(old)} times "
                             "in the solution, not once; update the mutation to the solution's text")
        body = body.replace(old, new)
    return body


CASES = [(name, m) for name, ms in MUTATIONS.items() for m in ms]


@pytest.mark.slow  # executes a solution notebook's cells twice per wrong answer
@pytest.mark.parametrize("name, mutation", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_checks_catch_wrong_answers_and_say_what_is_wrong(name, mutation):
    path = REPO / "solutions" / f"{name}.ipynb"
    run_with_block(path, mutation["block"], None)  # the right answer passes the same cells
    with pytest.raises(AssertionError, match=re.escape(mutation["expect"])):
        run_with_block(path, mutation["block"], wrong_answer(path, mutation))


def test_an_edit_that_no_longer_matches_the_solution_is_reported():
    path = REPO / "solutions" / "06_conditional_sampling.ipynb"
    edited = wrong_answer(path, {"block": 1, "edits": [("x = images.clone()", "x = images")]})
    assert "images.clone()" not in edited and "    x = images\n" in edited and "sample_from_discretized" in edited
    with pytest.raises(ValueError, match="occurs 0 times in the solution"):
        wrong_answer(path, {"block": 1, "edits": [("not in the solution", "x")]})


def test_every_exercise_block_has_a_mutation():
    for path in SOLUTIONS:
        blocks = sum(line.strip() == BEGIN for c in nbformat.read(path, as_version=4).cells
                     if c.cell_type == "code" for line in c.source.splitlines())
        covered = {m["block"] for m in MUTATIONS.get(path.stem, [])}
        assert covered == set(range(blocks)), f"{path.name}: blocks without a wrong answer to catch"
