import io
import time

from inpaint_lib import utils


def _bar_output(monkeypatch, leave: bool, seconds_per_step: float, refresh_s: float = 0.05, steps: int = 4,
                ) -> list[str]:
    """What a progress bar writes where stderr is not a terminal (an executed notebook, a log), split at redraws."""
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    monkeypatch.setattr(utils, "QUIET_REFRESH_S", refresh_s)
    bar = utils.progress_bar(total=steps, desc="evaluating", unit="img", leave=leave)
    for _ in range(steps):
        time.sleep(seconds_per_step)
        bar.update(1)
    bar.close()
    return [part for part in stderr.getvalue().split("\r") if part.strip()]


def test_a_quick_bar_leaves_no_frozen_start_in_a_notebook(monkeypatch):
    # leave=False (as evaluate's bar): a loop done before the first redraw writes nothing at all
    assert _bar_output(monkeypatch, leave=False, seconds_per_step=0, refresh_s=60) == []
    # leave=True: exactly one line, the final one, and no "0%" drawn at the start
    lines = _bar_output(monkeypatch, leave=True, seconds_per_step=0, refresh_s=60)
    assert len(lines) == 1 and "4/4" in lines[0] and lines[0].endswith("\n")


def test_a_long_bar_that_has_drawn_ends_on_its_final_line(monkeypatch):
    lines = _bar_output(monkeypatch, leave=False, seconds_per_step=0.06)
    assert "0/4" not in "".join(lines), "no redraw before the first refresh interval"
    assert "4/4" in lines[-1] and lines[-1].endswith("\n"), "not a half-drawn bar cleared by spaces"


def test_a_long_bar_redraws_ever_less_often_in_a_notebook(monkeypatch):
    # 0.64 s at one redraw per 0.01 s would leave about 64 lines; doubling intervals (0.01, 0.02, 0.04, ...) about 7
    lines = _bar_output(monkeypatch, leave=True, seconds_per_step=0.004, refresh_s=0.01, steps=160)
    assert 3 <= len(lines) <= 9, lines
    assert "160/160" in lines[-1] and lines[-1].endswith("\n")
