"""The built site, checked in a real browser: every page in headless Chromium.

    python -m inpaint_lib.course.site_check [--site runs/site] [--port 8765]

The site is served on a loopback port by Python's own HTTP server; Debian's ``chromium`` and
``chromium-driver`` (installed by ``.ci/run`` with apt when missing; nothing is downloaded) are
driven by selenium. A page fails when it does not load, when one of its images does not decode,
when the browser's console reports an error, or when its mathematics did not typeset (MathJax
left an error, or a formula without its rendering). Screenshots of the landing page and of
notebook 06 go to ``<site>/screenshots/``.
"""

from __future__ import annotations

import argparse
import errno
import functools
import shutil
import sys
import threading
import time
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..utils import REPO_ROOT
from .site import site_pages

__all__ = ["SiteCheckError", "serve", "browser", "check_page", "check_site", "SCREENSHOTS", "main"]

DEFAULT_PORT = 8765
CHROMIUM = ("chromium", "chromium-browser")
CHROMEDRIVER = ("chromedriver",)
# pages photographed, by path under the site
SCREENSHOTS = {"index.html": "landing.png", "lectures/06_inpainting.html": "06_inpainting.png"}

# In the page: wait for MathJax 2 to finish, then report what did not work.
_MATH_DONE = ("return !window.MathJax || (MathJax.isReady === true && MathJax.Hub.queue.pending === 0 "
              "&& !MathJax.Hub.queue.running);")
_REPORT = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach(i => { i.loading = "eager"; });
Promise.all(images.map(i => i.decode().then(() => null, () => i.currentSrc || i.src))).then(broken => {
  const formulas = Array.from(document.querySelectorAll("span.math.notranslate, div.math.notranslate"));
  const typeset = formulas.filter(f => f.querySelector(".MathJax, .MathJax_Display, .MathJax_SVG")).length;
  const errors = document.querySelectorAll(".MathJax_Error, .noError, .merror").length;
  done({broken: broken.filter(x => x), formulas: formulas.length, typeset: typeset, math_errors: errors,
        title: document.title});
});
"""


class SiteCheckError(RuntimeError):
    """The browser check cannot run, or a page failed it: one line naming what and where."""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the check reports failures itself
        pass


@contextmanager
def serve(site: Path, port: int = DEFAULT_PORT):
    """Serve ``site`` on ``http://127.0.0.1:port/`` for the duration of the block."""
    if not (site / "index.html").is_file():
        raise SiteCheckError(f"{site} holds no built site (no index.html): run `make site` first")
    handler = functools.partial(_QuietHandler, directory=str(site))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise SiteCheckError(f"port {port} on 127.0.0.1 is in use: stop what holds it, or choose another "
                                 "with --port (INPAINT_SITE_PORT in the test)") from None
        raise
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


def _find(names: tuple[str, ...], what: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise SiteCheckError(f"{what} is not installed: `apt-get install chromium chromium-driver` (.ci/run does it)")


@contextmanager
def browser(width: int = 1280, height: int = 1000):
    """Headless Chromium under selenium, its console captured."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _find(CHROMIUM, "Chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={width},{height}", "--hide-scrollbars"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=_find(CHROMEDRIVER, "chromedriver")))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def check_page(driver, url: str, timeout_s: float = 30.0) -> dict:
    """Load ``url`` and return what failed on it: broken images, console errors, untypeset maths."""
    driver.get(url)
    deadline = time.monotonic() + timeout_s
    while not (driver.execute_script("return document.readyState") == "complete"
               and driver.execute_script(_MATH_DONE)):
        if time.monotonic() > deadline:
            return {"problems": [f"did not finish loading and typesetting in {timeout_s:.0f} s"]}
        time.sleep(0.1)
    report = driver.execute_async_script(_REPORT)
    console = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    problems = [f"image does not decode: {src}" for src in report["broken"]]
    problems += [f"console error: {message[:200]}" for message in console]
    if report["math_errors"]:
        problems.append(f"{report['math_errors']} formulas failed to typeset (MathJax error)")
    if report["typeset"] < report["formulas"]:
        problems.append(f"{report['formulas'] - report['typeset']} of {report['formulas']} formulas not typeset")
    return {**report, "problems": problems}


def _screenshot(driver, path: Path, max_height: int = 9000) -> None:
    window = driver.get_window_size()
    height = min(max_height, driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(window["width"], height)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    driver.set_window_size(window["width"], window["height"])


def check_site(site: Path, port: int = DEFAULT_PORT, log=print) -> dict:
    """Open every page of ``site`` in headless Chromium; raise :class:`SiteCheckError` listing the failures."""
    site = site.resolve()
    pages = [p.relative_to(site).as_posix() for p in site_pages(site)]
    failures, formulas, images = {}, 0, 0
    start = time.perf_counter()
    with serve(site, port) as base, browser() as driver:
        for page in pages:
            try:
                report = check_page(driver, base + page)
            except Exception as err:  # a page that does not load at all
                report = {"problems": [f"does not load: {type(err).__name__}: {str(err).splitlines()[0][:200]}"]}
            if report["problems"]:
                failures[page] = report["problems"]
            formulas += report.get("typeset", 0)
            if page in SCREENSHOTS:
                _screenshot(driver, site / "screenshots" / SCREENSHOTS[page])
        images = sum(1 for _ in site.rglob("_images/*"))
    seconds = time.perf_counter() - start
    if failures:
        first = next(iter(failures))
        raise SiteCheckError(f"{len(failures)} of {len(pages)} pages failed in Chromium; first {first}: "
                             f"{'; '.join(failures[first][:3])}")
    log(f"browser check: {len(pages)} pages loaded in headless Chromium, {formulas} formulas typeset, "
        f"{images} notebook images; no console error; {seconds:.0f} s. Screenshots: "
        + ", ".join(str(site / "screenshots" / name) for name in SCREENSHOTS.values()))
    return {"pages": len(pages), "formulas": formulas, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpaint_lib.course.site_check")
    parser.add_argument("--site", type=Path, default=REPO_ROOT / "runs" / "site")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    try:
        check_site(args.site, args.port)
    except SiteCheckError as err:
        print(f"site check: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
