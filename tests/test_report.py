"""The report pipeline: config, notebook helpers, workbook sheets, offline HTML, the atomic
bundle, failures naming notebook and cell; slow tier: papermill + Chromium + LibreOffice."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas.testing as pd_testing
import pytest

from aifinops import report
from aifinops.errors import AifinopsError, ConfigError, LedgerError
from aifinops.ingest import ingest
from aifinops.ledger import Ledger

REPO = Path(__file__).resolve().parents[1]
NB01 = REPO / "notebooks" / "01_ingest_data_quality.ipynb"

FOCUS_A = textwrap.dedent("""\
    BilledCost,EffectiveCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ProviderName,ServiceName,ServiceCategory,Tags
    1.10,1.00,2025-05-03,USD,Usage,AWS,Amazon EC2,Compute,"{""team"":""ml""}"
    2.205,2.205,2025-05-04,USD,Usage,OpenAI,GPT-4o,AI and Machine Learning,"{""team"":""web""}"
    3.5,3.5,2025-05-04,EUR,Usage,Azure,Virtual Machines,Compute,
    abc,1,2025-05-05,USD,Usage,AWS,Amazon S3,Storage,
    0.000015,0.000015,2025-06-01,USD,Usage,OpenAI,GPT-4o,AI and Machine Learning,"{""team"":""ml""}"
    """)


def _exports(root: Path) -> Path:
    d = root / "exports"
    d.mkdir(parents=True, exist_ok=True)
    (d / "focus_a.csv").write_text(FOCUS_A, encoding="utf-8")
    (d / "README.md").write_text("not an export", encoding="utf-8")
    return d


def _config(root: Path, **extra) -> Path:
    body = {"inputs": ["exports/**"], "period": "2025-05", "notebooks": [str(NB01)], **extra}
    p = root / "report.yaml"
    p.write_text(json.dumps(body), encoding="utf-8")  # JSON is YAML
    return p


@pytest.fixture(scope="module")
def led(tmp_path_factory) -> Ledger:
    root = tmp_path_factory.mktemp("led")
    rep = ingest([_exports(root) / "focus_a.csv"], root / "ledger")
    assert rep.files[0].status == "quarantined"
    return Ledger(root / "ledger")


# -- configuration ----------------------------------------------------------------------

def test_config_defaults_and_resolution(tmp_path):
    p = tmp_path / "cfg" / "r.yaml"
    p.parent.mkdir()
    p.write_text("root: ..\ndimensions: [team, x_Customer]\n", encoding="utf-8")
    cfg = report.load_config(p)
    assert cfg.root == tmp_path.resolve()
    assert cfg.inputs == ["data_samples/**"]
    assert cfg.ledger == tmp_path.resolve() / "ledger" and cfg.output == tmp_path.resolve() / "reports"
    assert cfg.dimensions == ["x_Team", "x_Customer"]
    assert cfg.notebooks == [tmp_path.resolve() / "notebooks" / "01_ingest_data_quality.ipynb"]
    assert cfg.period is None and cfg.reporting_currency == "USD" and cfg.on_rejected == "fail"
    assert cfg.jobs == report.default_jobs() >= 1
    p.write_text("jobs: 3\n", encoding="utf-8")
    assert report.load_config(p).jobs == 3


def test_job_order_longest_first_by_previous_bundle(tmp_path):
    out = tmp_path / "reports"
    nbs = [tmp_path / n for n in ("01_a.ipynb", "02_b.ipynb", "03_c.ipynb", "04_d.ipynb")]
    assert report._previous_seconds(out, "2025-05") == {}
    assert report._job_order(nbs, {}) == nbs  # no history: config order

    def bundle(period, secs, mtime):
        (out / period).mkdir(parents=True)
        prov = out / period / "provenance.json"
        prov.write_text(json.dumps({"notebooks": [{"notebook": f"notebooks/{n}", "seconds": s}
                                                  for n, s in secs.items()]}), encoding="utf-8")
        __import__("os").utime(prov, (mtime, mtime))

    bundle("2025-03", {"01_a.ipynb": 50.0}, 1_000)
    bundle("2025-04", {"01_a.ipynb": 1.0, "02_b.ipynb": 9.0, "04_d.ipynb": 3.0}, 2_000)
    # no bundle of this period yet: the newest bundle of another period
    assert report._previous_seconds(out, "2025-05") == {"01_a.ipynb": 1.0, "02_b.ipynb": 9.0, "04_d.ipynb": 3.0}
    order = report._job_order(nbs, report._previous_seconds(out, "2025-05"))
    assert [p.name for p in order] == ["03_c.ipynb", "02_b.ipynb", "04_d.ipynb", "01_a.ipynb"]
    # the period's own bundle wins; an unreadable one is skipped
    assert report._previous_seconds(out, "2025-03") == {"01_a.ipynb": 50.0}
    (out / "2025-04" / "provenance.json").write_text("{not json", encoding="utf-8")
    assert report._previous_seconds(out, "2025-04") == {"01_a.ipynb": 50.0}


@pytest.mark.parametrize("body,column", [
    ("periods: 2025-06", "periods"),
    ("period: 2025-13", "period"),
    ("period: ../../etc", "period"),
    ("dimensions: [tean]", "dimensions"),
    ("workbook: ../x.xlsx", "workbook"),
    ("reporting_currency: dollars", "reporting_currency"),
    ("on_rejected: ignore", "on_rejected"),
    ("jobs: 0", "jobs"),
    ("jobs: many", "jobs"),
    ("jobs: true", "jobs"),
])
def test_config_errors_name_file_and_key(tmp_path, body, column):
    p = tmp_path / "r.yaml"
    p.write_text(body + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        report.load_config(p)
    assert e.value.column == column and e.value.file == str(p.resolve())


def test_config_yaml_errors(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("inputs: [a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid YAML"):
        report.load_config(p)
    with pytest.raises(ConfigError, match="cannot read"):
        report.load_config(tmp_path / "missing.yaml")


def test_report_error_names_notebook_and_cell():
    e = report.ReportError("ZeroDivisionError: division by zero", notebook="02_x.ipynb", cell=6)
    assert isinstance(e, AifinopsError)
    assert (e.notebook, e.cell) == ("02_x.ipynb", 6)
    assert str(e) == "02_x.ipynb, cell 6: ZeroDivisionError: division by zero"


# -- helpers over a real ledger ------------------------------------------------------------

def test_finance_sheets_total_the_ledger_per_currency(led):
    sheets = report.finance_sheets(led, "2025-05", ["x_Team"])
    assert list(sheets) == ["Summary", "By service", "By team", "AI usage", "Daily", "Reconciliation", "Quarantine"]
    s = sheets["Summary"]
    totals = {c: sum(g["BilledCost"], Decimal(0)) for c, g in s.groupby("BillingCurrency")}
    assert totals == {"USD": Decimal("3.305"), "EUR": Decimal("3.5")}  # the June row is another period
    team = sheets["By team"].set_index(["x_Team", "BillingCurrency"])["BilledCost"]
    assert team[("(unattributed)", "EUR")] == Decimal("3.5")
    assert team[("ml", "USD")] == Decimal("1.1") and team[("web", "USD")] == Decimal("2.205")
    assert set(sheets["Reconciliation"]["difference"]) == {Decimal(0)}
    q = sheets["Quarantine"]
    assert q[["code", "column", "rows", "first_row", "example"]].values.tolist() == [["number", "BilledCost", 1, 4, "abc"]]


def test_report_ledger_gives_the_same_answers_as_the_ledger(led, tmp_path):
    import pickle

    plain = Ledger(led.path)
    for _ in range(2):
        fast = report.ReportLedger(led.path)
        for period in ("2025-05", "2025-06", None):
            a, b = report.finance_sheets(plain, period), report.finance_sheets(fast, period)
            assert list(a) == list(b)
            for name in a:
                pd_testing.assert_frame_equal(a[name], b[name], check_exact=True)
        for sql in ("SELECT * FROM ledger", "SELECT * FROM quarantine", "SELECT * FROM billed",
                    "SELECT current_setting('TimeZone') AS tz, current_setting('disabled_optimizers') AS d"):
            pd_testing.assert_frame_equal(plain.query(sql), fast.query(sql), check_exact=True)
        con = fast.connect()
        con.execute("CREATE OR REPLACE TEMP VIEW ledger AS SELECT 1 AS x")  # a caller's own view stays its own
        con.close()
        assert len(fast.query("SELECT * FROM ledger")) == len(plain.query("SELECT * FROM ledger"))
        assert len(pickle.loads(pickle.dumps(fast)).query("SELECT * FROM billed")) == len(plain.query(
            "SELECT * FROM billed"))
        fast.close()
    # a change of the manifest (another ingest) is seen by the next query
    copy = tmp_path / "led"
    shutil.copytree(led.path, copy)
    fast = report.ReportLedger(copy)
    before = len(fast.query("SELECT * FROM ledger"))
    extra = tmp_path / "b.csv"
    extra.write_text(FOCUS_A.replace("2025-05", "2025-04"), encoding="utf-8")
    ingest([extra], copy)
    assert len(fast.query("SELECT * FROM ledger")) == len(Ledger(copy).query("SELECT * FROM ledger")) > before


def test_iri_parser_is_built_on_first_use():
    """Importing aifinops keeps jsonschema's rfc3987-syntax IRI parser (seconds of start-up in
    every notebook kernel) unbuilt until an IRI is checked; the checks answer as without it."""
    import subprocess
    import sys

    probe = ("import sys\n{pre}import jsonschema\nfc = jsonschema.FormatChecker()\n"
             "loaded = 'rfc3987_syntax.syntax_helpers' in sys.modules\n"
             "print(loaded, [fc.conforms(v, f) for v in ('http://a/b?c#d', 'http://a b', 'rel/x', '') "
             "for f in ('iri', 'iri-reference')])")
    runs = [subprocess.run([sys.executable, "-c", probe.format(pre=pre)], capture_output=True, text=True,
                           check=True).stdout.split(" ", 1) for pre in ("import aifinops\n", "")]
    if "rfc3987_syntax" not in "".join(runs[1]) and runs[1][0] == "False":
        pytest.skip("rfc3987-syntax is not installed")
    (lazy, checks_lazy), (eager, checks_eager) = runs
    assert (lazy, eager) == ("False", "True")
    assert checks_lazy == checks_eager and "True" in checks_lazy and "False" in checks_lazy


def test_quality_helpers(led):
    assert report.latest_period(led, today=__import__("datetime").date(2025, 6, 15)) == "2025-05"
    assert report.latest_period(led, today=__import__("datetime").date(2025, 7, 1)) == "2025-06"
    assert report.latest_period(led, full_months_only=False) == "2025-06"
    rows = report.rows_by_provider_month(led)
    assert rows["rows"].sum() == 4
    assert "BillingAccountId" in set(report.defaulted_columns(led)["column"])
    recon = report.reconciliation(led)
    assert "hash" not in recon.columns and recon["file"].iloc[0] == "focus_a.csv"
    assert report.reconciliation_status(recon).startswith("All 1 source files reconcile exactly")
    assert report.quarantine_status(report.quarantine_reasons(led)) == "1 row quarantined in 1 file."
    daily = report.daily_cost(led, "2025-05")
    assert daily[daily.BillingCurrency == "USD"]["BilledCost"].sum() == Decimal("3.305")
    html = report.table(report.rows_by_provider_month(led)).to_html()
    assert "3.50" in html and "0.000015" in html


def test_open_ledger(tmp_path):
    with pytest.raises(LedgerError):
        report.open_ledger(tmp_path / "nothing")
    led = report.open_ledger("", inputs=_exports(tmp_path))
    assert len(led.frame(columns=["BilledCost"])) == 4


def test_reconciliation_status_flags_differences():
    import pandas as pd

    s = pd.DataFrame({"file": ["a", "b"], "difference": [Decimal(0), Decimal("0.01")], "quarantined_rows": [0, 2]})
    assert report.reconciliation_status(s) == "1 of 2 source files do NOT reconcile: b; 2 rows quarantined."


# -- HTML -----------------------------------------------------------------------------------

class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def external_refs(html: str) -> list[str]:
    p = _Refs()
    p.feed(html)
    return [r for r in p.refs if r.startswith(("http:", "https:", "//", "ftp:"))]


def test_notebook_to_html_is_offline_and_hides_code(tmp_path):
    from aifinops import charts

    charts.reset_offline()
    chart_html = charts.offline_html_renderer({"mark": "point"})
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Cost report\n\n$x^2$ stays text"),
        nbformat.v4.new_code_cell("secret_code_line = 1", outputs=[
            nbformat.v4.new_output("display_data", data=chart_html),
            nbformat.v4.new_output("stream", name="stderr", text="UserWarning: noisy\n"),
            nbformat.v4.new_output("stream", name="stdout", text="total=42\n")]),
    ])
    nbformat.write(nb, tmp_path / "a.ipynb")
    html = report.notebook_to_html(tmp_path / "a.ipynb", tmp_path / "a.html").read_text(encoding="utf-8")
    charts.reset_offline()
    assert external_refs(html) == []
    assert "<title>Cost report</title>" in html
    assert "secret_code_line" not in html and "noisy" not in html and "total=42" in html
    assert "require.js" not in html and "mathjax" not in html.lower()


# -- the run, with the notebook step stubbed (fast) -----------------------------------------

def _fake_execute(fail_on: str | None = None):
    def run(notebook, executed, parameters, *, cell_timeout=600, cwd=None):
        if fail_on and Path(notebook).name == fail_on:
            raise report.ReportError("ValueError: boom", notebook=Path(notebook).name, cell=3)
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell(
            "x", outputs=[nbformat.v4.new_output("stream", name="stdout", text=json.dumps(parameters))])])
        nbformat.write(nb, executed)
        return Path(executed)
    return run


def test_run_report_writes_bundle_atomically(tmp_path, monkeypatch):
    _exports(tmp_path)
    cfg = _config(tmp_path)
    monkeypatch.setattr(report, "execute_notebook", _fake_execute())
    out = report.run_report(cfg)
    assert out == (tmp_path / "reports" / "2025-05").resolve()
    names = sorted(p.name for p in out.iterdir())
    assert names == ["01_ingest_data_quality.html", "01_ingest_data_quality.ipynb", "finance.xlsx",
                     "provenance.json", "report.log"]
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["period"] == "2025-05"
    assert set(report.COMMON_PARAMETERS) <= set(prov["parameters"])
    assert prov["inputs"] == [{"path": "exports/focus_a.csv", "sha256": __import__("hashlib").sha256(
        FOCUS_A.encode()).hexdigest(), "bytes": len(FOCUS_A.encode()), "format": "focus", "status": "quarantined",
        "rows": 4, "quarantined": 1, "error": None}]
    assert {"python", "pandas", "duckdb", "aifinops"} <= set(prov["versions"])
    from openpyxl import load_workbook

    wb = load_workbook(out / "finance.xlsx")
    assert wb.sheetnames == ["Summary", "By service", "By team", "By feature", "AI usage", "Daily", "Reconciliation",
                             "Quarantine", "Unit economics", "Variance bridge", "Accruals", "Top movers", "About"]
    assert wb["Reconciliation"].max_row == 1 + len(Ledger(tmp_path / "ledger").summary())  # no totals: mixed measures
    summary = wb["Summary"]
    assert [summary.cell(row=r, column=1).value for r in range(2, summary.max_row + 1)] == [
        "Azure", "OpenAI", "AWS", None, "Total", "Total"]
    assert len(summary._charts) == 2  # EUR and USD
    assert "genai-prices" in prov["price_catalogue"]
    assert [s["step"] for s in prov["steps"]] == ["ingest", "notebook", "html", "workbook"]
    log = (out / "report.log").read_text()
    assert "ingest done in" in log and "workbook done in" in log
    # parameters reached the notebook
    executed = nbformat.read(out / "01_ingest_data_quality.ipynb", as_version=4)
    params = json.loads(executed.cells[1].outputs[0]["text"])
    assert params["period"] == "2025-05" and params["ledger_path"] == str((tmp_path / "ledger").resolve())
    # the CLI's --period wins over the config
    out6 = report.run_report(cfg, period="2025-06")
    assert out6.name == "2025-06"
    assert not [p for p in (tmp_path / "reports").iterdir() if p.name.startswith((".tmp", ".old", ".failed"))]


def test_jobs_1_runs_the_notebooks_one_after_another_in_this_process(tmp_path, monkeypatch):
    _exports(tmp_path)
    shutil.copy(NB01, tmp_path / "02_copy.ipynb")
    cfg = _config(tmp_path, notebooks=[str(NB01), "02_copy.ipynb"], jobs=4)
    monkeypatch.setattr(report, "execute_notebook", _fake_execute())  # a pool would not see the stub
    out = report.run_report(cfg, jobs=1)
    prov = json.loads((out / "provenance.json").read_text())
    assert [s["step"] for s in prov["steps"]] == ["ingest", "notebook", "html", "notebook", "html", "workbook"]
    assert [n["executed"] for n in prov["notebooks"]] == ["01_ingest_data_quality.ipynb", "02_copy.ipynb"]
    with pytest.raises(ConfigError, match="jobs must be"):
        report.run_report(cfg, jobs=0)
    assert report.main_report(["--config", str(cfg), "--jobs", "0"]) == 1


def test_failed_run_keeps_previous_bundle(tmp_path, monkeypatch):
    _exports(tmp_path)
    cfg = _config(tmp_path)
    monkeypatch.setattr(report, "execute_notebook", _fake_execute())
    out = report.run_report(cfg)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(report, "execute_notebook", _fake_execute(fail_on="01_ingest_data_quality.ipynb"))
    with pytest.raises(report.ReportError) as e:
        report.run_report(cfg)
    assert (e.value.notebook, e.value.cell) == ("01_ingest_data_quality.ipynb", 3)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    failed = Path(e.value.failed_dir)
    assert failed.name == ".failed-2025-05" and "report failed" in (failed / "report.log").read_text()


def test_interrupted_swap_is_recovered(tmp_path):
    out = tmp_path / "reports"
    old = out / ".old-2025-05-abcd1234"
    old.mkdir(parents=True)
    (old / "provenance.json").write_text("{}")
    (out / ".tmp-2025-05-deadbeef").mkdir()
    report._recover(out, "2025-05")
    assert (out / "2025-05" / "provenance.json").exists()
    assert sorted(p.name for p in out.iterdir()) == ["2025-05"]


def test_rejected_input_fails_the_report(tmp_path, monkeypatch):
    d = _exports(tmp_path)
    (d / "garbage.csv").write_text("foo,bar\n1,2\n", encoding="utf-8")
    monkeypatch.setattr(report, "execute_notebook", _fake_execute())
    with pytest.raises(report.ReportError, match="garbage.csv"):
        report.run_report(_config(tmp_path))
    assert not (tmp_path / "reports" / "2025-05").exists()
    out = report.run_report(_config(tmp_path, on_rejected="warn"))
    prov = json.loads((out / "provenance.json").read_text())
    assert [i["status"] for i in prov["inputs"]] == ["quarantined", "rejected"]


def test_empty_ledger_is_an_error(tmp_path):
    (tmp_path / "exports").mkdir()
    p = tmp_path / "r.yaml"
    p.write_text('inputs: ["exports/*"]\n', encoding="utf-8")
    with pytest.raises(report.ReportError, match="has no data"):
        report.run_report(p)


def test_main_report_exit_codes(tmp_path, capsys):
    assert report.main_report(["--config", str(tmp_path / "none.yaml")]) == 1
    assert "cannot read report config" in capsys.readouterr().err


# -- slow: the real thing -------------------------------------------------------------------

def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not exe:
        pytest.skip("Chromium not installed (apt-get install -y chromium)")
    return exe


def rendered_dom(html_path: Path) -> str:
    """The page's DOM after scripts ran, in headless Chromium with every host unresolvable."""
    r = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=15000",
                        "--dump-dom", html_path.resolve().as_uri()],
                       capture_output=True, text=True, timeout=180)
    return r.stdout


@pytest.mark.slow
def test_report_end_to_end_offline_html_and_workbook(tmp_path):
    import pandas as pd

    from tests.test_excel import libreoffice_csvs

    _exports(tmp_path)
    out = report.run_report(_config(tmp_path))
    html_path = out / "01_ingest_data_quality.html"
    html = html_path.read_text(encoding="utf-8")
    assert external_refs(html) == []
    executed = nbformat.read(out / "01_ingest_data_quality.ipynb", as_version=4)
    n_charts = sum(1 for c in executed.cells for o in c.get("outputs", [])
                   if "aifinops-chart" in str(o.get("data", {}).get("text/html", "")))
    assert n_charts >= 1
    dom = rendered_dom(html_path)
    assert dom.count('class="marks"') >= n_charts
    assert not re.search(r'aifinops-chart[^>]*>\s*chart error', dom) and "Traceback" not in dom
    assert "All 1 source files reconcile exactly" in dom
    # LibreOffice recalculates the workbook's live totals: they equal the ledger's
    sheets = libreoffice_csvs(out / "finance.xlsx", tmp_path / "csv")
    s = sheets["Summary"]
    got = {r.BillingCurrency: Decimal(r.BilledCost) for r in s[s.ProviderName == "Total"].itertuples()}
    led = Ledger(tmp_path / "ledger")
    want = led.query("SELECT BillingCurrency, SUM(BilledCost) AS t FROM ledger WHERE x_BillingPeriod = '2025-05' "
                     "GROUP BY 1")
    assert got == {r.BillingCurrency: r.t for r in want.itertuples()}
    assert isinstance(sheets["About"], pd.DataFrame) and "parameters.period" in set(sheets["About"]["Item"])


@pytest.mark.slow
def test_failing_notebook_names_notebook_and_cell(tmp_path):
    _exports(tmp_path)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Broken"),
        nbformat.v4.new_code_cell('period = ""', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("1 / 0"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "02_broken.ipynb")
    cfg = _config(tmp_path, notebooks=[str(NB01), "02_broken.ipynb"])
    with pytest.raises(report.ReportError) as e:
        report.run_report(cfg)
    assert (e.value.notebook, e.value.cell) == ("02_broken.ipynb", 3)  # index in the source notebook
    assert "ZeroDivisionError" in str(e.value) and str(e.value).startswith("02_broken.ipynb, cell 3:")
    assert not (tmp_path / "reports" / "2025-05").exists()
    assert (tmp_path / "reports" / ".failed-2025-05" / "02_broken.ipynb").exists()


def _tiny_notebook(path: Path, code: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(f"# {path.stem}"),
        nbformat.v4.new_code_cell('period = ""\noutput_dir = ""', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.slow
def test_notebooks_in_a_process_pool(tmp_path):
    _exports(tmp_path)
    for name, code in (("01_a", "import time\ntime.sleep(2)\nprint('a', period)"), ("02_b", "print('b', period)"),
                       ("03_c", "print('c', output_dir.split('/')[-1].startswith('.tmp-'))")):
        _tiny_notebook(tmp_path / f"{name}.ipynb", code)
    cfg = _config(tmp_path, notebooks=["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"], jobs=2)
    out = report.run_report(cfg)
    prov = json.loads((out / "provenance.json").read_text())
    # provenance in config order, whatever order the notebooks finished in
    assert [n["executed"] for n in prov["notebooks"]] == ["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"]
    assert [(s["step"], s.get("notebook")) for s in prov["steps"]] == [
        ("ingest", None), ("notebook", "01_a.ipynb"), ("html", "01_a.ipynb"), ("notebook", "02_b.ipynb"),
        ("html", "02_b.ipynb"), ("notebook", "03_c.ipynb"), ("html", "03_c.ipynb"), ("notebooks", None),
        ("workbook", None)]
    assert prov["steps"][-2]["jobs"] == 2 and prov["notebooks"][0]["seconds"] >= 2
    for name, text in (("01_a", "a 2025-05"), ("02_b", "b 2025-05"), ("03_c", "c True")):
        assert text in (out / f"{name}.html").read_text(encoding="utf-8")
    log = (out / "report.log").read_text()
    assert "notebooks: 3 in 2 processes" in log and "notebook 02_b.ipynb done in" in log
    # the next run starts the longest of this run first (01_a sleeps, but two kernels starting
    # at once on a loaded machine can make another one the slowest)
    longest = max(prov["notebooks"], key=lambda n: n["seconds"])["executed"]
    order = report._job_order(report.load_config(cfg).notebooks, report._previous_seconds(out.parent, "2025-05"))
    assert order[0].name == longest


@pytest.mark.slow
def test_a_failing_notebook_in_the_pool_keeps_the_previous_bundle(tmp_path):
    _exports(tmp_path)
    _tiny_notebook(tmp_path / "01_ok.ipynb", "x = 1")
    _tiny_notebook(tmp_path / "02_ok.ipynb", "y = 2")
    cfg = _config(tmp_path, notebooks=["01_ok.ipynb", "02_ok.ipynb"], jobs=2)
    out = report.run_report(cfg)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _tiny_notebook(tmp_path / "02_broken.ipynb", "1 / 0")
    _tiny_notebook(tmp_path / "03_broken_too.ipynb", "import time\ntime.sleep(1)\nraise KeyError('late')")
    cfg = _config(tmp_path, notebooks=["01_ok.ipynb", "02_broken.ipynb", "03_broken_too.ipynb", "02_ok.ipynb"],
                  jobs=2)
    with pytest.raises(report.ReportError) as e:
        report.run_report(cfg)
    assert (e.value.notebook, e.value.cell) == ("02_broken.ipynb", 2)  # index in the source notebook
    assert str(e.value).startswith("02_broken.ipynb, cell 2: ZeroDivisionError")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    failed = tmp_path / "reports" / ".failed-2025-05"
    assert (failed / "02_broken.ipynb").exists() and "FAILED" in (failed / "report.log").read_text()
    assert not list(failed.glob(".cancel-*"))


def test_a_pool_job_handed_out_after_a_failure_is_skipped(tmp_path):
    flag = tmp_path / ".cancel-x"
    flag.touch()
    r = report._notebook_job(str(tmp_path / "missing.ipynb"), str(tmp_path / "o.ipynb"), str(tmp_path / "o.html"),
                             {}, 60, str(flag))
    assert r == {"ok": False, "skipped": True, "seconds": 0.0}
    assert not (tmp_path / "o.ipynb").exists()


def test_shipped_template_config_is_valid():
    cfg = report.load_config(REPO / "templates" / "report.yaml")
    assert cfg.root == REPO and cfg.inputs == ["data_samples/**"] and cfg.output == REPO / "reports"
    assert cfg.notebooks[0] == NB01 and cfg.tag_map == REPO / "templates" / "tagmap.yaml"
    assert [nb.name for nb in cfg.notebooks] == sorted(nb.name for nb in cfg.notebooks)  # numbered order
    assert all(nb.is_file() for nb in cfg.notebooks)
