"""Notebook 07's live panel in a real browser: JupyterLab, headless Chromium, a hole painted with the mouse.

The test starts JupyterLab on a free loopback port (a token of its own, a temporary root holding a copy of the
notebook, settings and runtime files in the temporary folder), opens the notebook in headless Chromium under
selenium (the flags of :mod:`inpaint_lib.course.site_check`), runs every cell with JupyterLab's own "Run All Cells"
command, then does what a student does: paints a stroke on the picture's canvas (mouse down, moves, up), presses
*Complete*, and clicks a pixel of the hole on the completion. Each step waits for what it must cause (the painted
hole on the canvas, the status line "... pixels filled", the other methods' figure, the completion's pixels, the
distributions' figure) and fails naming the step that did not happen. Screenshots of the panel go to
``runs/tryit-browser/`` (and ``failure.png`` with the page when a step fails). JupyterLab, its kernel and Chromium are
stopped whatever happens.

Like the site's browser check (tests/test_site.py) it needs Debian's chromium and chromium-driver: skipped without
them, unless INPAINT_REQUIRE_SITE=1.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from browser import free_port, need_chromium

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "07_try_it.ipynb"
SHOTS = REPO / "runs" / "tryit-browser"
CANVAS = 320                                    # inpaint_lib.tryit_widgets.CANVAS: canvas pixels per side
STROKE_Y, STROKE_X = 200, range(40, 281, 20)    # a horizontal stroke across the picture, in canvas pixels
LOOK_AT = (165, 205)                            # a canvas point on the stroke: image pixel (20, 16), in the hole
EDGE = (165, 181)      # image pixel (18, 16): in the hole, but 19 canvas pixels from the stroke, out of the brush's
                       # dabs (radius 16): it changes only when the mouse's release redraws the picture with the hole
KNOWN = (160, 20)                               # a canvas point far from the stroke: a known pixel

# seconds each step may take on a busy two-core machine (the notebook's cells run first)
TIMEOUTS = {"server": 120, "kernel": 180, "run_all": 900, "stroke": 120, "complete": 900, "beliefs": 300}

# In the page (JupyterLab exposes its application as window.jupyterapp with --LabApp.expose_app_in_browser).
_KERNEL = """
const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
return k ? k.status : null;
"""
_CELL_ERROR = """
const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
if (!w || !w.content || !w.content.model) return null;
const cells = w.content.model.cells;
for (let i = 0; i < cells.length; i++) {
  const cell = cells.get(i);
  if (cell.type !== "code") continue;
  for (const out of cell.outputs.toJSON()) {
    if (out.output_type === "error") return `cell ${i}: ${out.ename}: ${out.evalue}`;
  }
}
return null;
"""
_PIXEL = """
const [canvas, x, y] = arguments;
return Array.from(canvas.getContext("2d").getImageData(x, y, 1, 1).data);
"""


def _notebook_copy(folder: Path, run_dir: Path) -> Path:
    """notebooks/07_try_it.ipynb, its outputs in ``run_dir`` instead of runs/07_try_it."""
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    replaced = 0
    for cell in notebook["cells"]:
        lines = cell["source"] if isinstance(cell["source"], list) else cell["source"].splitlines(keepends=True)
        for i, line in enumerate(lines):
            if line.startswith("run_dir = None"):
                lines[i] = f"run_dir = {str(run_dir)!r}\n"
                replaced += 1
        cell["source"] = lines
    assert replaced == 1, "notebook 07's parameters cell no longer has the line `run_dir = None`"
    copy = folder / NOTEBOOK.name
    copy.write_text(json.dumps(notebook), encoding="utf-8")
    return copy


def _settings(folder: Path) -> Path:
    """JupyterLab user settings: every cell rendered (no windowing), no news or update notification."""
    for plugin, values in {"@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
                           "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                                           "checkForUpdates": False}}.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    return folder


def _stop(process: subprocess.Popen) -> None:
    """Stop JupyterLab and everything it started (its kernel runs in a session of its own), by process id."""
    try:
        import psutil
        children = psutil.Process(process.pid).children(recursive=True)
    except Exception:  # psutil missing, or the server already gone
        children = []
    if process.poll() is None:
        try:
            if hasattr(os, "killpg"):
                os.killpg(process.pid, signal.SIGTERM)    # the server shuts its kernels down on SIGTERM
            else:
                process.terminate()
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            if hasattr(os, "killpg"):
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
            process.wait(timeout=30)
        except ProcessLookupError:
            pass
    for child in children:                                 # psutil checks the pid was not reused
        try:
            if child.is_running():
                child.kill()
        except Exception:
            pass


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server holding a copy of notebook 07: yields (the notebook's URL, the server's log)."""
    need_chromium()
    pytest.importorskip("ipywidgets")
    pytest.importorskip("ipycanvas")
    root = tmp_path / "lab"
    root.mkdir()
    notebook = _notebook_copy(root, tmp_path / "run")
    token, port = secrets.token_hex(16), free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "IPYTHONDIR": str(tmp_path / "ipython")}
    for name in ("INPAINT_STATIC", "MPLBACKEND"):           # the live panel, and the notebook's inline figures
        env.pop(name, None)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
               "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
               "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={_settings(tmp_path / 'user')}",
               f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log_path = tmp_path / "jupyterlab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, cwd=root, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + TIMEOUTS["server"]
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited ({process.returncode}) before serving:\n{_tail(log_path)}")
            try:
                request = urllib.request.Request(base + "api/status", headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"step 'start JupyterLab': not serving after {TIMEOUTS['server']} s:\n{_tail(log_path)}")
            time.sleep(0.5)
        yield f"{base}lab/tree/{notebook.name}?token={token}", log_path
    finally:
        _stop(process)


@pytest.fixture
def driver(lab):
    """Headless Chromium (site_check's flags), quit before JupyterLab is stopped."""
    from inpaint_lib.course import site_check

    with site_check.browser(width=1400, height=1800) as browser:
        yield browser


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Steps:
    """Waits for what each step must cause; a step that does not happen fails the test naming it."""

    def __init__(self, driver, log_path: Path):
        self.driver, self.log_path, self.seconds = driver, log_path, {}

    def wait(self, step: str, condition, timeout: float, poll: float = 0.25):
        """Call ``condition()`` until it returns something true (returned); fail after ``timeout`` seconds."""
        from selenium.common.exceptions import WebDriverException

        began = time.monotonic()
        last = None
        while True:
            try:
                value = condition()
                if value:
                    self.seconds[step] = round(self.seconds.get(step, 0) + time.monotonic() - began, 1)
                    return value
            except WebDriverException as err:
                last = f"{type(err).__name__}: {err.msg}"
            failed = self.driver.execute_script(_CELL_ERROR)
            if failed:
                self.fail(step, f"a notebook cell failed: {failed}")
            if time.monotonic() - began > timeout:
                self.fail(step, f"did not happen within {timeout:.0f} s" + (f" (last error: {last})" if last else ""))
            time.sleep(poll)

    def fail(self, step: str, why: str):
        try:
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(SHOTS / "failure.png"))
            status = self.status()
        except Exception:
            status = "?"
        pytest.fail(f"step '{step}' {why}. The panel's status: {status!r}. Screenshot: {SHOTS / 'failure.png'}. "
                    f"JupyterLab's log ends:\n{_tail(self.log_path)}", pytrace=False)

    def find(self, css: str):
        found = self.driver.find_elements("css selector", css)
        return found[0] if found else None

    def status(self) -> str:
        element = self.find(".tryit-status")
        return element.text if element is not None else "(no panel)"

    def kernel_idle(self, step: str, timeout: float, settle: float = 1.0) -> None:
        """The kernel idle for ``settle`` seconds running (no widget message still being handled)."""
        since = [None]

        def idle():
            if self.driver.execute_script(_KERNEL) != "idle":
                since[0] = None
                return False
            since[0] = since[0] or time.monotonic()
            return time.monotonic() - since[0] >= settle

        self.wait(step, idle, timeout)

    def shot(self, name: str) -> Path:
        panel = self.find(".tryit-panel")
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", panel)
        time.sleep(0.3)
        path = SHOTS / name
        path.parent.mkdir(parents=True, exist_ok=True)
        panel.screenshot(str(path))
        return path


@pytest.mark.slow
def test_the_live_panel_completes_a_painted_hole_in_jupyterlab(lab, driver):
    """Run notebook 07 in JupyterLab, paint a hole with the mouse, press Complete, look inside a filled pixel."""
    from selenium.webdriver.common.action_chains import ActionChains

    url, log_path = lab
    for stale in SHOTS.glob("*.png"):      # what is left there is this run's
        stale.unlink()
    steps = _Steps(driver, log_path)
    began = time.monotonic()
    shots = []

    driver.get(url)
    steps.wait("open the notebook and start its kernel", lambda: driver.execute_script(_KERNEL) == "idle",
               TIMEOUTS["kernel"])
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")   # Run > Run All Cells
    steps.wait("run all cells until the panel shows its picture",
               lambda: "Paint the hole" in steps.status() and steps.find(".tryit-input"), TIMEOUTS["run_all"])
    steps.kernel_idle("run all cells until the panel shows its picture", TIMEOUTS["run_all"])

    source, target = steps.find(".tryit-input"), steps.find(".tryit-output")
    size = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", source)
    assert abs(size[0] - CANVAS) < 1 and abs(size[1] - CANVAS) < 1, f"the canvases show at {size}, not {CANVAS} px"
    shots.append(steps.shot("1_before.png"))
    edge = driver.execute_script(_PIXEL, source, *EDGE)
    known = driver.execute_script(_PIXEL, source, *KNOWN)
    picture = driver.execute_script("return arguments[0].toDataURL();", source)
    assert edge[3] == 255 and known[3] == 255, "the picture is drawn on the input canvas"

    def at(x, y):                       # canvas pixels -> selenium's offsets from the element's centre
        return int(x - size[0] / 2), int(y - size[1] / 2)

    stroke = ActionChains(driver).move_to_element_with_offset(source, *at(STROKE_X[0], STROKE_Y)).click_and_hold()
    for x0, x1 in zip(STROKE_X, STROKE_X[1:], strict=False):
        stroke.move_by_offset(x1 - x0, 0)
    stroke.release().perform()
    steps.wait("paint the stroke: the mouse released, the hole tinted on the picture",
               lambda: driver.execute_script(_PIXEL, source, *EDGE) != edge, TIMEOUTS["stroke"])
    steps.kernel_idle("paint the stroke: the kernel handles the mouse's events", TIMEOUTS["stroke"])
    assert driver.execute_script("return arguments[0].toDataURL();", source) != picture
    assert driver.execute_script(_PIXEL, source, *KNOWN) == known, "a pixel far from the stroke is not in the hole"
    shots.append(steps.shot("2_stroke.png"))

    assert driver.execute_script(_PIXEL, target, *LOOK_AT)[3] == 0, "the completion's canvas is empty before"
    steps.find(".tryit-complete").click()
    steps.wait("press Complete: the status says the pixels were filled",
               lambda: "pixels filled" in steps.status(), TIMEOUTS["complete"])
    steps.wait("press Complete: the other methods' completions appear",
               lambda: steps.find(".tryit-others img"), TIMEOUTS["complete"])
    steps.kernel_idle("press Complete: the kernel finishes", TIMEOUTS["complete"])
    filled = driver.execute_script(_PIXEL, target, *LOOK_AT)
    assert filled[3] == 255, "PixelCNN++ drew the missing pixel on the completion's canvas"
    assert driver.execute_script(_PIXEL, target, *KNOWN) == known, "the known pixels are the picture's own"
    assert "color:#b00020" not in driver.execute_script("return arguments[0].innerHTML;", steps.find(".tryit-status"))
    shots.append(steps.shot("3_completed.png"))

    ActionChains(driver).move_to_element_with_offset(target, *at(*LOOK_AT)).click().perform()
    steps.wait("click a missing pixel: its distributions appear",
               lambda: steps.find(".tryit-beliefs img"), TIMEOUTS["beliefs"])
    steps.kernel_idle("click a missing pixel: the kernel finishes", TIMEOUTS["beliefs"])
    ring = driver.execute_script(_PIXEL, target, 160, 205)     # the ring's left side around image pixel (20, 16)
    assert ring[:3] == [0, 255, 255], f"the chosen pixel is ringed in cyan on the completion, got {ring}"
    assert "color:#b00020" not in driver.execute_script("return arguments[0].innerHTML;", steps.find(".tryit-status"))
    shots.append(steps.shot("4_beliefs.png"))

    for shot in shots:
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000, f"{shot} is empty"
    total = time.monotonic() - began
    (SHOTS / "timings.json").write_text(json.dumps({"total_s": round(total, 1), **steps.seconds}, indent=1))
    print(f"live panel in JupyterLab: {total:.0f} s in the browser; steps {steps.seconds}; screenshots "
          + ", ".join(str(s) for s in shots))
