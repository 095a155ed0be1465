"""The course website: its build checks (links, figures, executed copies) and its check in a real browser.

The browser tests need Debian's chromium and chromium-driver; they are skipped on a machine without them,
unless INPAINT_REQUIRE_SITE=1 (set by .ci/run after `make site`), which also requires the built site.
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import pytest

from browser import REQUIRED, free_port, need_chromium
from inpaint_lib.course import site, site_check

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "runs" / "site"


def _page(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>")


def test_internal_links_are_followed_to_files_and_anchors(tmp_path):
    _page(tmp_path / "index.html", '<a href="lectures/a.html#goals">a</a> <a href="https://example.org/x">out</a>'
                                   '<img src="_images/f.png"><a href="#top" id="top">top</a>')
    _page(tmp_path / "lectures" / "a.html", '<h2 id="goals">goals</h2><a href="../index.html">home</a>')
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "f.png").write_bytes(b"png")
    assert site.check_links(tmp_path) == 4

    _page(tmp_path / "lectures" / "b.html", '<a href="../missing.html">gone</a>')
    with pytest.raises(site.SiteError, match=r"dead link in lectures/b.html: \.\./missing.html"):
        site.check_links(tmp_path)
    _page(tmp_path / "lectures" / "b.html", '<a href="a.html#no-such-section">gone</a>')
    with pytest.raises(site.SiteError, match=re.escape("no anchor #no-such-section in lectures/a.html")):
        site.check_links(tmp_path)


def _notebook(path: Path, outputs: list[dict]) -> Path:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# 09 · A title\n"]},
             {"cell_type": "code", "metadata": {}, "source": [], "execution_count": 1, "outputs": outputs}]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


FIGURE = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"},
          "metadata": {}}


def test_a_figure_missing_from_its_page_fails_the_build(tmp_path):
    notebook = _notebook(tmp_path / "09_topic.ipynb", [FIGURE, FIGURE])
    _page(tmp_path / "site" / "lectures" / "09_topic.html", '<img src="../_images/a.png">')
    with pytest.raises(site.SiteError, match=r"shows 1 images, but .*09_topic\.ipynb has 2 figures"):
        site.check_figures(tmp_path / "site", [notebook])
    _page(tmp_path / "site" / "lectures" / "09_topic.html", '<img src="../_images/a.png"><img src="../_images/b.png">')
    assert site.check_figures(tmp_path / "site", [notebook]) == 2


def test_executed_copies_are_reused_when_newer_and_run_when_stale(tmp_path, monkeypatch):
    source = _notebook(tmp_path / "09_topic.ipynb", [])
    monkeypatch.setattr(site, "lecture_notebooks", lambda: [source])
    executed = tmp_path / "executed"
    executed.mkdir()
    runs = []

    def fake_run(notebook, out, parameters=None):
        runs.append(notebook.name)
        return _notebook(out / notebook.name, [FIGURE])

    monkeypatch.setattr(site, "run_notebook", fake_run)
    assert site.executed_notebooks(executed, log=lambda *a: None) == [executed / "09_topic.ipynb"]
    assert runs == ["09_topic.ipynb"]                      # no copy: executed
    site.executed_notebooks(executed, log=lambda *a: None)
    assert runs == ["09_topic.ipynb"]                      # a newer copy: reused
    os.utime(source, (source.stat().st_mtime + 10, source.stat().st_mtime + 10))
    site.executed_notebooks(executed, log=lambda *a: None)
    assert runs == ["09_topic.ipynb"] * 2                  # the source changed: executed again

    error = {"output_type": "error", "ename": "AssertionError", "evalue": "the loss must fall", "traceback": []}
    _notebook(executed / "09_topic.ipynb", [error])
    os.utime(executed / "09_topic.ipynb", (source.stat().st_mtime + 20, source.stat().st_mtime + 20))
    with pytest.raises(site.SiteError,
                       match=re.escape("holds a failed cell (cell 1: AssertionError: the loss must fall")):
        site.executed_notebooks(executed, log=lambda *a: None)


def test_a_failing_cell_names_the_notebook_and_the_cell(tmp_path, monkeypatch):
    import papermill

    source = _notebook(tmp_path / "09_topic.ipynb", [])
    monkeypatch.setattr(site, "lecture_notebooks", lambda: [source])

    def failing(notebook, out, parameters=None):
        raise papermill.PapermillExecutionError(cell_index=7, exec_count=7, source="assert False",
                                                ename="AssertionError", evalue="no", traceback=[])

    monkeypatch.setattr(site, "run_notebook", failing)
    with pytest.raises(site.SiteError, match=r"notebooks/09_topic.ipynb failed at cell 7: AssertionError: no"):
        site.executed_notebooks(tmp_path / "executed", log=lambda *a: None)


def test_the_landing_page_is_the_readme_with_the_figure_and_page_links():
    readme = ("# Title\n\nIntro text.\n\n## Quick start\n\n"
              "See [04](notebooks/04_x.ipynb) and [e](exercises/05_ema.ipynb).\n")
    page = site._landing_page(readme, "_static/every_method.png")
    assert page.startswith("# Title\n\nIntro text.")
    assert page.index("```{figure} _static/every_method.png") < page.index("## Quick start")
    assert "[04](lectures/04_x.ipynb)" in page and "[e](exercises/05_ema.ipynb)" in page


def test_the_landing_figure_comes_from_real_photographs_when_a_run_on_them_exists(tmp_path):
    import json

    def executed(folder, dataset=None):
        (folder / "06_inpainting").mkdir(parents=True)
        (folder / "06_inpainting" / "every_method.png").write_bytes(b"png")
        parameters = {"run_dir": "x"} | ({"dataset": dataset} if dataset else {})
        (folder / "06_inpainting.ipynb").write_text(json.dumps({"metadata": {"papermill": {"parameters": parameters}}}))
        return folder

    demo, real = executed(tmp_path / "demo"), tmp_path / "demo-tinyimagenet32"
    assert site.landing_figure(demo, real_runs=(real,)) == (demo / "06_inpainting" / "every_method.png", "sample")
    executed(real, "tinyimagenet32")
    assert site.landing_figure(demo, real_runs=(real,)) == (real / "06_inpainting" / "every_method.png",
                                                             "tinyimagenet32")
    assert site.landing_figure(tmp_path / "nothing", real_runs=()) is None
    page = site._landing_page("# T\n\nIntro.\n\n## Next\n", "_static/every_method.png", "tinyimagenet32")
    assert "on Tiny ImageNet 32 val (real photographs" in page


def test_the_api_pages_cover_every_library_module_but_the_exercise_checks():
    modules = site._api_modules()
    assert {"inpaint_lib.pixelcnnpp.likelihood", "inpaint_lib.metrics", "inpaint_lib.pretrained.registry",
            "inpaint_lib.course.site"} <= set(modules)
    assert not [m for m in modules if ".checks" in m or m.endswith("__main__")]


def test_a_missing_site_and_a_port_in_use_are_one_line_each(tmp_path):
    with pytest.raises(site_check.SiteCheckError, match=r"holds no built site .* run `make site` first"):
        with site_check.serve(tmp_path):
            pass
    _page(tmp_path / "index.html", "hello")
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(site_check.SiteCheckError, match=f"port {port} on 127.0.0.1 is in use"):
            with site_check.serve(tmp_path, port):
                pass
    finally:
        holder.close()


@pytest.mark.slow
def test_the_browser_check_catches_a_broken_image_and_a_console_error(tmp_path):
    need_chromium()
    _page(tmp_path / "index.html", "<p>fine</p>")
    _page(tmp_path / "bad.html", '<img src="nothing.png"><script>console.error("boom")</script>')
    (tmp_path / "nothing.png").write_bytes(b"not a png")
    with pytest.raises(site_check.SiteCheckError,
                       match=re.escape("1 of 2 pages failed in Chromium; first bad.html: image does not decode")):
        site_check.check_site(tmp_path, free_port(), log=lambda *a: None)


@pytest.mark.slow
def test_the_built_site_passes_in_headless_chromium():
    """Every page of `make site`'s output loads, decodes its images, logs no error and typesets its maths."""
    if not (SITE / "index.html").is_file():
        if REQUIRED:
            pytest.fail(f"INPAINT_REQUIRE_SITE=1 but {SITE} holds no built site: run `make site` first")
        pytest.skip(f"no built site in {SITE} (make site)")
    need_chromium()
    port = int(os.environ.get("INPAINT_SITE_PORT", site_check.DEFAULT_PORT))
    report = site_check.check_site(SITE, port)
    assert report["pages"] >= 7 + 7 + 7 + 1, "the lectures, exercises, solutions and the landing page"
    assert report["formulas"] > 100, "the lectures' maths was typeset"
    for name in site_check.SCREENSHOTS.values():
        shot = SITE / "screenshots" / name
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000, f"{shot} is empty"
