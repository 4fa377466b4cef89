"""The finance workbook: tables, frozen headers, per-row currency formats, live totals,
native chart, About sheet, formula neutralization, path safety."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
import zipfile
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from aifinops.errors import MissingColumnError, UnsafePathError
from aifinops.excel import FORMULA_PREFIXES, currency_format, neutralize, sheet_title, write_workbook


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "ProviderName": ["AWS", "OpenAI", "Azure", "GCP"],
        "BillingCurrency": ["USD", "USD", "EUR", "JPY"],
        "BilledCost": [Decimal("10.25"), Decimal("0.000015"), Decimal("3.5"), Decimal("1200")],
        "EffectiveCost": [Decimal("9"), Decimal("0"), Decimal("3.5"), Decimal("1100")],
        "Rows": [3, 1, 2, 5],
        "Day": pd.to_datetime(["2025-06-01T10:00:00+02:00"] * 4),
    })


def _write(tmp_path, sheets, **kw) -> Path:
    return write_workbook(tmp_path / "w.xlsx", sheets, about=kw.pop("about", {"period": "2025-06"}), **kw)


def test_tables_frozen_headers_formats_and_totals(tmp_path):
    p = _write(tmp_path, {"Summary": _frame()})
    wb = load_workbook(p)
    ws = wb["Summary"]
    assert list(ws.tables) == ["tblSummary"]
    assert ws.tables["tblSummary"].ref == "A1:F5"
    assert ws.freeze_panes == "A2"
    # money: numbers, formatted in the row's own currency
    assert ws["C2"].data_type == "n" and ws["C2"].value == 10.25
    assert ws["C2"].number_format == '"$"#,##0.00####'
    assert ws["C4"].number_format == '"€"#,##0.00####'
    assert ws["C5"].number_format == '"¥"#,##0####'
    assert ws["E2"].number_format == "#,##0"
    # timezone-aware timestamps are written in UTC
    assert ws["F2"].value == dt.datetime(2025, 6, 1, 8, 0)
    # one live totals row per currency, sorted, referencing the row's currency cell
    totals = {ws.cell(row=r, column=2).value: r for r in range(7, 10)}
    assert list(totals) == ["EUR", "JPY", "USD"]
    r = totals["USD"]
    assert ws.cell(row=r, column=1).value == "Total"
    assert ws.cell(row=r, column=3).value == f"=SUMPRODUCT(($B$2:$B$5=B{r})*C$2:C$5)"
    assert ws.cell(row=r, column=3).number_format == '"$"#,##0.00'
    assert ws.cell(row=r, column=4).value == f"=SUMPRODUCT(($B$2:$B$5=B{r})*D$2:D$5)"
    assert wb.calculation.fullCalcOnLoad
    # widths are set from the content
    assert 8 <= ws.column_dimensions["A"].width <= 60


def test_native_chart_on_summary_one_per_currency(tmp_path):
    df = _frame().sort_values("BillingCurrency")
    p = _write(tmp_path, {"Summary": df, "Other": df}, chart={"category": "ProviderName", "value": "BilledCost"})
    wb = load_workbook(p)
    assert len(wb["Summary"]._charts) == 3  # EUR, JPY, USD blocks
    assert len(wb["Other"]._charts) == 0
    # the chart really is a bar chart in the file
    with zipfile.ZipFile(p) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 3
        assert b"<barChart>" in z.read(charts[0])
        refs = b"".join(z.read(c) for c in charts)
        assert b"<f>'Summary'!$C$2</f>" in refs and b"<f>'Summary'!$A$2</f>" in refs  # EUR row: value, category


def test_about_sheet_has_parameters_hashes_and_versions(tmp_path):
    about = {"parameters": {"period": "2025-06", "dimensions": ["x_Team", "x_Feature"]},
             "inputs": [{"path": "a.csv", "sha256": "ab" * 32}], "price_catalogue": {"genai-prices": "0.2.3"}}
    wb = load_workbook(_write(tmp_path, {"Summary": _frame()}, about=about))
    assert wb.sheetnames[-1] == "About"
    items = {r[0]: r[1] for r in wb["About"].iter_rows(min_row=2, values_only=True)}
    assert items["parameters.period"] == "2025-06"
    assert items["parameters.dimensions"] == "x_Team, x_Feature"
    assert items["inputs[1].sha256"] == "ab" * 32
    assert items["price_catalogue.genai-prices"] == "0.2.3"
    assert items["aifinops_version"] and items["python_version"] and items["written_at"]
    assert list(wb["About"].tables) == ["tblAbout"]


def test_money_without_currency_is_refused(tmp_path):
    df = pd.DataFrame({"ServiceName": ["x"], "BilledCost": [Decimal("1")]})
    with pytest.raises(MissingColumnError, match="BilledCost"):
        _write(tmp_path, {"S": df})


def test_explicit_money_mapping_and_empty_sheet(tmp_path):
    df = pd.DataFrame({"file": ["a"], "currency": ["GBP"], "source_total": [Decimal("2.5")],
                       "tokens": [Decimal("1000")]})
    p = _write(tmp_path, {"Recon": df, "Empty": df.iloc[:0]}, money_columns={"source_total": "currency"})
    wb = load_workbook(p)
    ws = wb["Recon"]
    assert ws["C2"].number_format == '"£"#,##0.00####'
    assert ws["D2"].number_format == "General"  # not money
    assert wb["Empty"].tables["tblEmpty"].ref == "A1:D2"  # a table keeps one (empty) data row


def test_path_must_stay_inside_root(tmp_path):
    with pytest.raises(UnsafePathError):
        write_workbook("../escape.xlsx", {"S": pd.DataFrame({"a": [1]})}, about={}, root=tmp_path / "out")
    assert not (tmp_path / "escape.xlsx").exists()
    p = write_workbook("sub/ok.xlsx", {"S": pd.DataFrame({"a": [1]})}, about={}, root=tmp_path / "out")
    assert p == (tmp_path / "out" / "sub" / "ok.xlsx").resolve() and p.is_file()


def test_sheet_titles_are_valid_and_unique():
    assert sheet_title("a/b:c?d*e[f]g\\h") == "a_b_c_d_e_f_g_h"
    assert sheet_title("x" * 40) == "x" * 31
    assert sheet_title("x" * 40, ["x" * 31]) == "x" * 27 + " (2)"
    assert sheet_title("History") == "History_"


@pytest.mark.parametrize("code,fmt", [("USD", '"$"#,##0.00'), ("CHF", '#,##0.00 "CHF"'), ("JPY", '"¥"#,##0'),
                                      (None, "#,##0.00"), ('U"D', "#,##0.00"), ("usd", '"$"#,##0.00')])
def test_currency_format(code, fmt):
    assert currency_format(code, precise=False) == fmt


def _formula_cells(path: Path) -> int:
    with zipfile.ZipFile(path) as z:
        return sum(z.read(n).count(b"<f>") for n in z.namelist() if n.startswith("xl/worksheets/sheet"))


_dangerous = st.builds(lambda p, s: p + s, st.sampled_from(FORMULA_PREFIXES), st.text(max_size=30))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_dangerous, st.text(max_size=40)), min_size=1, max_size=12))
def test_no_input_text_becomes_a_formula(values):
    df = pd.DataFrame({"ProviderName": values, "Note": list(reversed(values))})
    with tempfile.TemporaryDirectory() as d:
        # header cells come from data too
        p = write_workbook(Path(d) / "h.xlsx", {"S": df.rename(columns={"Note": values[0] or "Note"})},
                           about={"=cmd": values[0]}, totals=False)
        assert _formula_cells(p) == 0
        wb = load_workbook(p)
        ws = wb.worksheets[0]
        for i, v in enumerate(values, start=2):
            cell = ws.cell(row=i, column=1)
            legal = ILLEGAL_CHARACTERS_RE.sub("\ufffd", v)
            expected = legal.replace("\r\n", "\n").replace("\r", "\n")
            if expected == "":
                continue
            assert cell.data_type == "s"
            assert cell.value == expected
            assert bool(cell.quotePrefix) == legal.startswith(FORMULA_PREFIXES)


def test_neutralize_cuts_overlong_text():
    text, quote = neutralize("=" + "a" * 40_000)
    assert quote and len(text) == 32_767


def test_formulas_from_data_stay_text_through_libreoffice_style_prefixes(tmp_path):
    payloads = ["=1+1", "+1+1", "-1+1", "@SUM(1,1)", "\t=1+1", "\r=1+1", "=cmd|' /C calc'!A0",
                '=HYPERLINK("http://evil","x")']
    df = pd.DataFrame({"ProviderName": payloads})
    p = _write(tmp_path, {"S": df})
    ws = load_workbook(p)["S"]
    assert [ws.cell(row=i, column=1).value for i in range(2, 2 + len(payloads))] == [
        v.replace("\r", "\n") for v in payloads]
    assert all(ws.cell(row=i, column=1).quotePrefix for i in range(2, 2 + len(payloads)))
    assert _formula_cells(p) == 0


# -- LibreOffice recalculation --------------------------------------------------------

def _soffice() -> str:
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if not exe:
        pytest.skip("LibreOffice not installed (apt-get install -y --no-install-recommends libreoffice-calc)")
    return exe


def libreoffice_csvs(xlsx: Path, out: Path) -> dict[str, pd.DataFrame]:
    """Every sheet of ``xlsx`` as LibreOffice computes it (formulas recalculated)."""
    exe = _soffice()
    home = Path(tempfile.mkdtemp())
    filt = "csv:Text - txt - csv (StarCalc):44,34,UTF8,1,,0,false,true,false,false,false,-1"
    subprocess.run([exe, "--headless", "--norestore", "--convert-to", filt, "--outdir", str(out), str(xlsx)],
                   check=True, capture_output=True, timeout=180, env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    shutil.rmtree(home, ignore_errors=True)
    return {p.stem.split("-", 1)[1]: pd.read_csv(p, dtype=str, keep_default_na=False)
            for p in out.glob(f"{xlsx.stem}-*.csv")}


@pytest.mark.slow
def test_libreoffice_recalculates_live_totals_and_keeps_text(tmp_path):
    df = _frame()
    df.loc[len(df)] = ["=1+1", "USD", Decimal("0.75"), Decimal("0.5"), 1, df["Day"].iloc[0]]
    p = _write(tmp_path, {"Summary": df})
    sheets = libreoffice_csvs(p, tmp_path / "csv")
    s = sheets["Summary"]
    assert "=1+1" in s["ProviderName"].tolist()  # not evaluated to 2
    totals = s[s["ProviderName"] == "Total"].set_index("BillingCurrency")
    assert Decimal(totals.loc["USD", "BilledCost"]) == Decimal("11.000015")
    assert Decimal(totals.loc["EUR", "BilledCost"]) == Decimal("3.5")
    assert Decimal(totals.loc["JPY", "EffectiveCost"]) == Decimal("1100")


def test_totals_only_on_named_sheets(tmp_path):
    wb = load_workbook(_write(tmp_path, {"Summary": _frame(), "Recon": _frame()}, totals=["Summary"]))
    assert wb["Summary"].max_row == 9 and wb["Recon"].max_row == 5
