"""End to end in a real JupyterLab 4: start a server on 127.0.0.1, open
notebooks/00_explorer.ipynb in headless Chromium (driven over the Chrome DevTools protocol
with websocket-client), run every cell through JupyterLab's own command, and check that the
explorer's Vega charts render inside the output area, that no cell errored, and that widget
changes made in the page (a dropdown) and in the kernel both re-render the charts (the comm
round trip both ways)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
JUPYTER = Path(sys.executable).with_name("jupyter")
SAMPLES = ["openai/costs-2026-01.json", "anthropic/cost-report-2026-01.json", "aws/cur-legacy-2026-01.csv.gz"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, fn, timeout: float, every: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (OSError, RuntimeError, ValueError) as exc:  # server, browser or page not up yet
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def _state_when(page, what: str, ok, timeout: float) -> dict:
    """Poll the notebook's STATE until ``ok(state)``; return that state."""
    def check():
        state = page.eval(STATE)
        return state if ok(state) else None

    return _wait(what, check, timeout)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


class _Page:
    """A minimal CDP client: Runtime.evaluate on one page target."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.n = 0

    def eval(self, expr: str):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": "Runtime.evaluate",
                                 "params": {"expression": expr, "returnByValue": True, "awaitPromise": True}}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                res = msg.get("result", {})
                if "exceptionDetails" in res:
                    raise RuntimeError(res["exceptionDetails"].get("exception", {}).get("description")
                                       or res["exceptionDetails"].get("text"))
                return res.get("result", {}).get("value")

    def close(self) -> None:
        self.ws.close()


# JavaScript run in the page (JupyterLab exposes the app as window.jupyterapp with
# --LabApp.expose_app_in_browser)
NB = ("(window.jupyterapp && Array.from(jupyterapp.shell.widgets('main'))"
      ".find(w => w.context && w.context.path === '00_explorer.ipynb'))")
KERNEL_IDLE = (f"(() => {{ const w = {NB}; const k = w && w.sessionContext && w.sessionContext.session "
               "&& w.sessionContext.session.kernel; return !!(w && w.content && w.context.isReady && k "
               "&& k.status === 'idle' && k.connectionStatus === 'connected'); })()")
STATE = (f"(() => {{ const w = {NB}; const cells = w.content.widgets.filter(c => c.model.type === 'code'); "
         "const out = w.node.querySelectorAll('.jp-OutputArea-output'); "
         "return {cells: cells.length, executed: cells.filter(c => c.model.executionCount).length, "
         "busy: w.sessionContext.session.kernel.status, "
         "marks: w.node.querySelectorAll('.jp-OutputArea-output svg.marks, .jp-OutputArea-output canvas.marks').length, "
         "errors: Array.from(w.node.querySelectorAll('.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.error\"]'))"
         ".map(e => e.textContent.slice(0, 400)), "
         "stderr: Array.from(w.node.querySelectorAll('.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.stderr\"]'))"
         ".map(e => e.textContent.slice(0, 400)), "
         "outputs: out.length, "
         "titles: Array.from(w.node.querySelectorAll('.jp-OutputArea-output svg.marks text, .vega-embed [aria-label]'))"
         ".map(e => e.textContent || e.getAttribute('aria-label')).join(' | ').slice(0, 4000)}; })()")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed (.ci/run installs it)")
    pytest.importorskip("websocket", reason="websocket-client (test extra) drives Chromium")
    from aifinops.ingest import ingest

    tmp = tmp_path_factory.mktemp("lab")
    ledger = tmp / "ledger"
    rep = ingest([REPO / "data_samples" / p for p in SAMPLES], ledger)
    assert {f.status for f in rep.files} == {"ok"}
    work = tmp / "notebooks"
    work.mkdir()
    nb = nbformat.read(REPO / "notebooks" / "00_explorer.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert 'ledger_path: str = ""' in params.source
    params.source = params.source.replace('ledger_path: str = ""', f"ledger_path: str = {str(ledger)!r}")
    nbformat.write(nb, work / "00_explorer.ipynb")

    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
           "JUPYTER_PLATFORM_DIRS": "1"}
    # no network: no news feed, no update check, no extension manager queries to PyPI
    (tmp / "config").mkdir()
    (tmp / "config" / "jupyter_server_config.json").write_text(json.dumps({"LabApp": {
        "news_url": None, "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "extension_manager": "readonly", "expose_app_in_browser": True}}), encoding="utf-8")
    lab_log, browser_log = open(tmp / "lab.log", "wb"), open(tmp / "chromium.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--allow-root", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--notebook-dir={work}", "--ServerApp.port_retries=0",
         "--ServerApp.terminals_enabled=False"],
        cwd=work, env=env, stdout=lab_log, stderr=subprocess.STDOUT, start_new_session=True)
    browser = None
    try:
        base = f"http://127.0.0.1:{port}"
        _wait("the JupyterLab server", lambda: urllib.request.urlopen(
            f"{base}/api/status?token={token}", timeout=5).status == 200, 60)
        dport = _free_port()
        browser = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-extensions",
             f"--user-data-dir={tmp / 'chromium'}", "--remote-debugging-address=127.0.0.1",
             f"--remote-debugging-port={dport}", "--window-size=1400,2400", "about:blank"],
            stdout=browser_log, stderr=subprocess.STDOUT, start_new_session=True)

        def page_ws():
            targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{dport}/json", timeout=5))
            pages = [t for t in targets if t.get("type") == "page"]
            return pages[0]["webSocketDebuggerUrl"] if pages else None

        page = _Page(_wait("Chromium's DevTools endpoint", page_ws, 30))
        page.eval(f"location.href = {json.dumps(f'{base}/lab/tree/00_explorer.ipynb?reset&token={token}')}")
        yield page
        page.close()
    finally:
        if browser is not None:
            _stop(browser)
        _stop(server)
        lab_log.close()
        browser_log.close()


def test_explorer_notebook_renders_charts_in_jupyterlab(lab):
    page = lab
    _wait("the notebook to open with an idle kernel", lambda: page.eval(KERNEL_IDLE), 90)
    page.eval("jupyterapp.commands.execute('notebook:run-all-cells')")
    state = _state_when(page, "every cell to run and the charts to render",
                        lambda s: s["executed"] == s["cells"] and s["busy"] == "idle" and s["marks"] >= 2
                        or s["errors"], 180)
    assert state["errors"] == [], state["errors"]
    assert state["marks"] >= 2, state  # the trend and the top-N charts drew their Vega marks
    assert "Daily billed cost by provider" in state["titles"], state["titles"][:500]

    # choosing another metric in the page's dropdown goes to the kernel, re-runs the SQL, redraws
    picked = page.eval(f"(() => {{ const w = {NB}; const box = Array.from(w.node.querySelectorAll('.widget-dropdown'))"
                       ".find(d => d.textContent.includes('Metric')); const s = box.querySelector('select'); "
                       "const i = Array.from(s.options).findIndex(o => o.value === 'Effective cost'); "
                       "s.selectedIndex = i; s.dispatchEvent(new Event('change', {bubbles: true})); return i; })()")
    assert picked == 1
    state = _state_when(page, "the chart to redraw for effective cost",
                        lambda s: "Daily effective cost by provider" in s["titles"], 60)
    assert state["errors"] == [] and state["marks"] >= 2

    # a widget change in the kernel reaches the page through the comm and redraws the chart
    page.eval(f"{NB}.sessionContext.session.kernel.requestExecute({{code: "
              "\"panel.controls['metric'].value = 'x_Tokens'\\npanel.controls['by'].value = 'x_Model'\"}).done")
    state = _state_when(page, "the chart to redraw for tokens by model",
                        lambda s: "Daily tokens by model" in s["titles"], 60)
    assert state["errors"] == [] and state["marks"] >= 2
    html = page.eval(f"{NB}.node.querySelector('.jp-OutputArea-output').innerText")
    assert "Tokens" in html and "model" in html.lower()
