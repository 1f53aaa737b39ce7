"""A student's first use, in a real browser: JupyterLab opens a course notebook, runs it (smoke
profile), saves it and reopens it, with no unsaved mark and no widget error on the way.

Needs Debian's ``chromium`` (``.ci/run`` installs it) and Playwright, which drives it.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "02_mlp.ipynb"          # trains (progress bars), draws figures, runs in about half a minute


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1 serving a copy of the notebook; yields (url, notebook path)."""
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, tmp_path / NOTEBOOK)
    port = _free_port()
    env = {**os.environ, "COURSE_PROGRESS": "auto", "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
         f"--ServerApp.root_dir={tmp_path}", "--LabApp.news_url=", "--LabServerApp.collaborative=False"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 60 s")
        yield url, tmp_path / NOTEBOOK
    finally:
        server.terminate()
        server.wait(timeout=30)


def _browser():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing on CI: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium not installed (Debian: apt-get install chromium); CI runs this test")
    return path


def _dirty(page) -> bool:
    """The unsaved mark: JupyterLab gives the notebook's tab the class jp-mod-dirty."""
    return page.locator(".lm-TabBar-tab.jp-mod-dirty").count() > 0


@pytest.mark.integration
def test_jupyterlab_runs_saves_and_reopens_a_notebook_clean(lab):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, path = lab
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_browser(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{url}/lab/tree/{NOTEBOOK}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        page.wait_for_function("document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle'"
                               " || !!document.querySelector('.jp-Toolbar-kernelStatus')", timeout=90_000)
        time.sleep(2)
        assert not _dirty(page), "the notebook opened already unsaved (kernel spec or format differs)"

        page.locator(".jp-Notebook").first.click()
        page.keyboard.press("Escape")
        page.evaluate("window.jupyterapp && window.jupyterapp.commands.execute('notebook:run-all-cells')")
        if not page.evaluate("!!window.jupyterapp"):                      # no global app: use the menu
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        n_code = sum(c.cell_type == "code" for c in nbformat.read(path, 4).cells)
        page.wait_for_function(
            "n => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);"
            " return p.length === n && p.every(t => /\\[\\d+\\]/.test(t)); }", arg=n_code, timeout=300_000)
        assert page.get_by_text("Error displaying widget").count() == 0
        page.keyboard.press("Control+s")
        page.wait_for_function("!document.querySelector('.lm-TabBar-tab.jp-mod-dirty')", timeout=30_000)

        page.reload()
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        time.sleep(3)
        text = page.locator(".jp-Notebook").inner_text()
        assert "Error displaying widget" not in text and "model not found" not in text
        assert "training: 100%" in text                                  # the stored progress line
        assert not _dirty(page), "the reopened notebook shows as unsaved"
        browser.close()
    saved = nbformat.read(path, 4)
    outputs = [o for c in saved.cells if c.cell_type == "code" for o in c.outputs]
    assert not any(o.get("name") == "stderr" and "training" in o.get("text", "") for o in outputs)
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
