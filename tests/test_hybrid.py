"""aifinops.hybrid: hand-computed TCO, break-even, utilization extremes, config errors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pandas as pd
import pytest

from aifinops import hybrid
from aifinops.errors import ConfigError
from aifinops.hybrid import OnPremModel

REPO = Path(__file__).resolve().parents[1]
EPS = D("1e-9")


def tiny(**kw) -> OnPremModel:
    """1 server, 1 GPU, 8760 capex over 1 year, no power: fixed 8760 a year, 8760 GPU-hours."""
    base = dict(servers=1, gpus_per_server=1, capex_per_server=D("8760"), capex_per_gpu=D(0), depreciation_years=1,
                power_idle_kw=D(0), power_loaded_kw=D(0), throughput_tokens_per_s=D(1000))
    base.update(kw)
    return OnPremModel(**base)


def full() -> OnPremModel:
    return OnPremModel(servers=2, gpus_per_server=4, capex_per_server=D("10000"), capex_per_gpu=D("20000"),
                       depreciation_years=3, financing_rate=D("0.1"), power_idle_kw=D("1"), power_loaded_kw=D("5"),
                       pue=D("1.2"), electricity_price=D("0.25"), colocation_per_server_month=D("1000"),
                       network_per_month=D("500"), maintenance_pct=D("0.05"), staff_fte=D("0.5"),
                       staff_cost_per_fte=D("120000"), licences_per_gpu_year=D("1000"), grid_kgco2e_per_kwh=D("0.4"))


def test_hand_computed_annual_cost():
    m = full()
    a = m.annual("0.5")
    assert m.capex == D("180000")
    annuity = D("18000") * D("1.331") / D("0.331")  # 180000 x 0.1 / (1 - 1.1^-3)
    assert abs(a.lines["depreciation"] - D("60000")) < EPS
    assert abs(a.lines["financing"] - (annuity - 60000)) < D("1e-6")
    kwh = D(2 * 3 * 8760) * D("1.2")  # 2 servers x (1 + 4 x 0.5) kW x 8760 h x PUE
    assert a.kwh == kwh == D("63072")
    assert a.lines["power"] == kwh * D("0.25")
    assert a.lines["colocation"] == D("24000")
    assert a.lines["network"] == D("6000")
    assert a.lines["maintenance"] == D("9000")
    assert a.lines["staff"] == D("60000")
    assert a.lines["licences"] == D("8000")
    expected = annuity + D("15768") + 24000 + 6000 + 9000 + 60000 + 8000
    assert abs(a.total - expected) < D("1e-6")
    assert a.gpu_hours_used == D("35040")
    assert abs(a.cost_per_gpu_hour - expected / 35040) < D("1e-9")
    assert abs(a.idle_cost - expected / 2) < D("1e-6")
    assert a.kgco2e == kwh * D("0.4")
    assert all(isinstance(v, D) for v in a.lines.values())


def test_utilization_zero_and_full():
    m = tiny()
    zero, one = m.annual(0), m.annual(1)
    assert zero.cost_per_gpu_hour is None and zero.gpu_hours_used == 0
    assert zero.idle_cost == zero.total == D("8760")
    assert one.idle_cost == 0 and one.cost_per_gpu_hour == D(1)
    assert m.cost_per_mtok(0) is None
    # power at 0 % is the idle draw, at 100 % the loaded draw
    p = full()
    assert p.annual(0).kwh == D(2 * 1 * 8760) * D("1.2")
    assert p.annual(1).kwh == D(2 * 5 * 8760) * D("1.2")
    bd = p.breakdown(0)
    assert bd.loc[bd["component"] == "of which idle capacity", "annual"].item() == p.annual(0).total
    assert bd["per_gpu_hour"].isna().all()
    with pytest.raises(ConfigError):
        m.annual("1.01")
    with pytest.raises(ConfigError):
        m.annual(-0.1)


def test_break_even_utilization_hand_computed():
    m = tiny()
    assert hybrid.break_even_utilization(m, D(2)) == D("0.5")
    assert hybrid.break_even_utilization(m, D(1)) == D(1)
    assert hybrid.break_even_utilization(m, D("0.99")) is None  # renting always cheaper
    # with a variable power cost the break-even is the point where both rates are equal
    p = full()
    be = hybrid.break_even_utilization(p, D("9"))
    assert be is not None and 0 < be < 1
    assert abs(p.annual(be).cost_per_gpu_hour - D("9")) < D("1e-9")


def test_cloud_comparison_and_break_even_volume():
    rates = pd.DataFrame([{"as_of": date(2026, 1, 1), "provider": "x", "gpu_model": "H100", "pricing": "on_demand",
                           "region": "", "usd_per_gpu_hour": D(2), "source": "test"}])
    df = hybrid.cloud_comparison(tiny(), "0.75", rates)
    row = df[df["option"] == "x on_demand"].iloc[0]
    assert row["annual_cost"] == D("13140")  # 6570 GPU-hours x 2
    assert row["vs_onprem"] == D("13140") - D("8760")
    assert row["break_even_utilization"] == D("0.5")
    assert row["break_even_gpu_hours_per_month"] == D("365")  # 0.5 x 8760 / 12


def test_api_comparison_hand_computed():
    df = hybrid.api_comparison(tiny(), "0.5", {"api": D("1.00"), "cheap": D("0.10")})
    sh = df[df["option"] == "self-hosted"]["usd_per_mtok"].item()
    assert abs(sh - D(2) / D("3.6")) < EPS  # 2 $/GPU-hour / 3.6 M tokens per GPU-hour
    api = df[df["option"] == "api"].iloc[0]
    # 8760 fixed / 1 $ per 1M tokens = 8760 M tokens a year = 730 M a month
    assert api["break_even_mtok_per_month"] == D("730")
    assert abs(api["break_even_utilization"] - D(8760) / D(31536)) < EPS
    # at 0.10 $/1M the break-even (87.6 G tokens/year) exceeds the 31.5 G capacity: never
    assert df[df["option"] == "cheap"]["break_even_mtok_per_month"].isna().all()


def test_tco_cash_flow_hand_computed():
    df = hybrid.tco(tiny(), "0.5", D(3), years=3)
    assert list(df["year"]) == [0, 1, 2, 3]
    assert list(df["onprem_capital"]) == [D(8760), D(8760), D(8760), D(0)]
    assert list(df["cloud_total"]) == [0, D(13140), D(13140), D(13140)]
    assert df["onprem_cumulative"].iloc[-1] == D(26280)
    assert df["cloud_cumulative"].iloc[-1] == D(39420)
    assert df["savings_cumulative"].iloc[-1] == D(13140)
    assert (df["onprem_residual"] == 0).all()
    # 4-year hardware over 5 years, cash: bought in years 0 and 4, 3/4 of the second one left
    cash = hybrid.tco(tiny(depreciation_years=4), "0.5", D(3), years=5)
    assert list(cash["onprem_capital"]) == [D(8760), 0, 0, 0, D(8760), 0]
    assert cash["onprem_residual"].iloc[-1] == -D(6570) and cash["onprem_cumulative"].iloc[-1] == D(10950)
    fin = hybrid.tco(full(), "0.5", D(5), years=5)
    assert fin["onprem_capital"].iloc[0] == 0
    assert all(abs(c - full().annuity()) < EPS for c in fin["onprem_capital"].iloc[1:])
    with pytest.raises(ConfigError):
        hybrid.tco(tiny(), "0.5", D(3), years=0)


def test_tornado_sorted_and_directional():
    t = hybrid.tornado(full(), "0.5")
    assert list(t["swing"]) == sorted(t["swing"], reverse=True)
    u = t[t["input"] == "utilization"].iloc[0]
    assert u["low_result"] > u["base_result"] > u["high_result"]  # less use -> dearer GPU-hour
    e = t[t["input"] == "electricity_price"].iloc[0]
    assert e["low_result"] < e["base_result"] < e["high_result"]
    assert hybrid.tornado(full(), 0).empty  # no GPU-hour at 0 %


def test_recommendation_states_assumptions():
    rates = hybrid.select_rates(hybrid.load_rates(), "H100", "2026-06-01")
    rates = rates[rates["provider"] == "aws"]  # cheapest firm rate: aws reserved_1y at 4.54 (spot 2.95 left out)
    m = hybrid.load_model(REPO / "templates" / "onprem.yaml")
    assert hybrid.break_even_utilization(m, D("4.54")) > D("0.1")
    high = hybrid.recommendation(m, "0.9", rates)
    low = hybrid.recommendation(m, "0.1", rates)
    assert high.startswith("Own") and low.startswith("Rent")
    for s in (high, low):
        assert "utilization" in s and "depreciation" in s and "PUE" in s and "as of 2026-01-01" in s
        assert "aws reserved_1y at 4.54" in s and "spot (aws, 2.95 USD/GPU-hour) is left out" in s
    assert hybrid.recommendation(m, 0, rates).startswith("Rent: an idle cluster")


def test_firm_rate_leaves_spot_out():
    rates = hybrid.select_rates(hybrid.load_rates(), "H100", "2026-06-01")
    aws = rates[rates["provider"] == "aws"]
    assert hybrid.firm_rate(aws) == D("4.54")
    assert hybrid.firm_rate(aws[aws["pricing"] == "spot"]) == D("2.95")
    assert hybrid.firm_rate(aws.iloc[0:0]) is None


def test_load_model_template_and_errors(tmp_path):
    m = hybrid.load_model(REPO / "templates" / "onprem.yaml", servers=2)
    assert m.servers == 2 and m.gpu_model == "H100" and isinstance(m.capex_per_gpu, D)
    bad = tmp_path / "bad.yaml"
    bad.write_text("onprem:\n  servers: 2\n  pue: lots\n")
    with pytest.raises(ConfigError) as e:
        hybrid.load_model(bad)
    assert e.value.file == str(bad) and e.value.column == "pue"
    bad.write_text("onprem:\n  sevrers: 2\n")
    with pytest.raises(ConfigError, match="sevrers"):
        hybrid.load_model(bad)
    bad.write_text("onprem:\n  pue: 0.9\n")
    with pytest.raises(ConfigError) as e:
        hybrid.load_model(bad)
    assert e.value.file == str(bad) and e.value.column == "pue"
    with pytest.raises(ConfigError):
        OnPremModel(power_idle_kw=D(5), power_loaded_kw=D(1))


def test_opencost_pricing_carries_the_tco_rate(tmp_path):
    import json

    from aifinops.formats.opencost import read_custom_pricing

    doc = hybrid.opencost_pricing(tiny(), "0.25", {"CPU": "0.03", "GPU": "9"})
    assert doc["GPU"] == "4.000000" and doc["CPU"] == "0.03"  # 8760 / 2190 GPU-hours
    p = tmp_path / "default.json"
    p.write_text(json.dumps(doc))
    prices = read_custom_pricing(p)
    assert prices.loc[prices["key"] == "GPU", "price_hourly"].item() == D(4)
    with pytest.raises(ConfigError):
        hybrid.opencost_pricing(tiny(), 0)


def test_rates_table_and_errors(tmp_path):
    rates = hybrid.load_rates()
    assert set(hybrid.RATE_COLUMNS) <= set(rates.columns)
    assert all(isinstance(r, D) for r in rates["usd_per_gpu_hour"])
    h = hybrid.select_rates(rates, "h100", "2025-12-31")
    assert (h["as_of"] == date(2025, 6, 1)).all() and len(h) == len(h[["provider", "pricing"]].drop_duplicates())
    assert hybrid.select_rates(rates, "H100", "2026-02-01")["as_of"].max() == date(2026, 1, 1)
    bad = tmp_path / "rates.csv"
    bad.write_text("as_of,provider,gpu_model,pricing,region,usd_per_gpu_hour,source\n"
                   "2026-01-01,x,H100,spot,,abc,s\n")
    with pytest.raises(ConfigError) as e:
        hybrid.load_rates(bad)
    assert e.value.file == str(bad) and e.value.column == "usd_per_gpu_hour"
    bad.write_text("as_of,provider,gpu_model,pricing,region,usd_per_gpu_hour,source\n"
                   "2026-01-01,x,H100,spot,,1,s\n2026-13-01,x,H100,spot,,1,s\n")
    with pytest.raises(ConfigError) as e:
        hybrid.load_rates(bad)
    assert e.value.row == 3 and e.value.column == "as_of"
    bad.write_text("as_of,provider\n2026-01-01,x\n")
    with pytest.raises(ConfigError, match="gpu_model"):
        hybrid.load_rates(bad)


def test_hybrid_sheets_and_charts():
    m = hybrid.load_model(REPO / "templates" / "onprem.yaml")
    rates = hybrid.select_rates(hybrid.load_rates(), m.gpu_model, "2026-06-01")
    sheets = hybrid.hybrid_sheets(m, "0.7", rates, {"gpt-4.1-mini blended": D("0.8")}, years=5)
    assert set(sheets) == {"Hybrid TCO", "inputs", "breakdown", "cloud", "api", "tco", "tornado"}
    sheet = sheets["Hybrid TCO"]
    assert sheet.columns[0] == "section"
    assert "RECOMMENDATION" in set(sheet["section"])
    assert len(sheets["tco"]) == 6
    money = sheets["breakdown"]["annual"]
    assert all(isinstance(v, D) for v in money)
    spec = hybrid.tornado_chart(sheets["tornado"]).to_dict()
    assert spec["mark"]["type"] == "bar"
    spec = hybrid.cost_per_gpu_hour_chart(m, rates).to_dict()
    assert spec["mark"]["type"] == "line"


# -- from the ledger -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def onprem_ledger(tmp_path_factory):
    """A ledger of three days of the sample company's on-prem exports."""
    from aifinops.ingest import ingest
    from aifinops.samples import onprem as onprem_sample
    from aifinops.samples.truth import ground_truth

    t = ground_truth(months=1)
    t = t[t["date"] < t["date"].min() + pd.Timedelta(days=3)]
    root = tmp_path_factory.mktemp("hybrid")
    files = [p for p in onprem_sample.write(t, root / "s") if "onprem" in p.parts]
    rep = ingest(files, root / "ledger")
    assert all(f.status == "ok" for f in rep.files)
    return root / "ledger", t


def test_measured_utilization_from_slurm_and_opencost(onprem_ledger):
    from aifinops.ledger import Ledger

    path, t = onprem_ledger
    m = hybrid.load_model(REPO / "templates" / "onprem.yaml")
    monthly = hybrid.measured_utilization(Ledger(path), m)
    gh = sum(t.loc[t["provider"] == "onprem", "gpu_hours"], D(0))
    assert list(monthly["x_BillingPeriod"]) == ["2025-06"]
    assert monthly["gpu_hours"].item() == gh
    assert monthly["capacity_hours"].item() == D(32 * 24 * 3)  # three days of data
    assert monthly["utilization"].item() == gh / D(32 * 24 * 3)
    u, source = hybrid.resolve_utilization("", monthly)
    assert u == gh / D(32 * 24 * 3) and source.startswith("measured")
    assert hybrid.resolve_utilization("0.9", monthly) == (D("0.9"), "parameter")
    assert hybrid.resolve_utilization("", monthly.iloc[0:0])[1].startswith("assumed")
    tel = hybrid.telemetry(Ledger(path))
    assert len(tel) == 3 and (tel["observed_gpu_hours"] == D(32 * 24)).all()
    assert all(0 < s < 1 for s in tel["busy_share"])


def test_hybrid_sheets_go_into_the_finance_workbook(tmp_path):
    import openpyxl

    from aifinops.excel import write_workbook

    m = hybrid.load_model(REPO / "templates" / "onprem.yaml")
    rates = hybrid.select_rates(hybrid.load_rates(), m.gpu_model, "2026-01")
    sheets = hybrid.hybrid_sheets(m, "0.75", rates, {"api": D("0.7")})
    out = write_workbook(tmp_path / "f.xlsx", {"Hybrid TCO": sheets["Hybrid TCO"]}, about={"test": 1},
                         chart_sheet=None, totals=False)
    ws = openpyxl.load_workbook(out)["Hybrid TCO"]
    values = [c.value for row in ws.iter_rows() for c in row if c.value is not None]
    assert "RECOMMENDATION" in values and "of which idle capacity" in values


def test_finance_sheet_from_a_ledger(onprem_ledger):
    from aifinops.ledger import Ledger

    path, _ = onprem_ledger
    sheet = hybrid.finance_sheet(Ledger(path), "2025-06", REPO / "templates" / "onprem.yaml")["Hybrid TCO"]
    inputs = sheet[sheet["section"] == "inputs"]
    assert inputs.loc[inputs["input"] == "rates_as_of", "value"].item() == "2025-06-01"
    util = D(inputs.loc[inputs["input"] == "utilization", "value"].item())
    assert D("0.5") < util < D("0.9")


@pytest.mark.slow
def test_notebook_06_runs_with_parameters(onprem_ledger, tmp_path):
    import json

    import papermill as pm

    path, _ = onprem_ledger
    out = tmp_path / "06.ipynb"
    pm.execute_notebook(str(REPO / "notebooks" / "06_hybrid_tco.ipynb"), str(out), cwd=str(REPO / "notebooks"),
                        parameters={"ledger_path": str(path), "servers": 2, "pue": "1.2",
                                    "years": 3}, progress_bar=False)
    nb = json.loads(out.read_text())
    text = json.dumps([o for c in nb["cells"] for o in c.get("outputs", [])])
    assert "2 x 8 H100" in text and "PUE 1.2" in text and '"ename"' not in text


def test_sensitivity_ranges_from_yaml(tmp_path):
    assert hybrid.load_swings(REPO / "templates" / "onprem.yaml") == hybrid.DEFAULT_SWINGS
    p = tmp_path / "m.yaml"
    p.write_text("onprem:\n  servers: 1\nsensitivity:\n  pue: [1, 1.5]\n")
    swings = hybrid.load_swings(p)
    assert swings == {"pue": (D(1), D("1.5"))} and hybrid.load_model(p).servers == 1
    t = hybrid.tornado(full(), "0.5", swings)
    assert list(t["input"]) == ["pue"] and t["low_result"].item() == t["base_result"].item()
    for bad, col in (("  pue: [1.2, 1.5]\n", "pue"), ("  nope: [0.5, 1.5]\n", "nope"), ("  pue: 3\n", "pue")):
        p.write_text("sensitivity:\n" + bad)
        with pytest.raises(ConfigError) as e:
            hybrid.load_swings(p)
        assert e.value.column == col and e.value.file == str(p)


def test_ledger_gpu_rates_from_billed_rows(tmp_path):
    from aifinops.ingest import ingest
    from aifinops.ledger import Ledger

    f = tmp_path / "focus.csv"
    f.write_text("BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ProviderName,ServiceName,x_GpuHours,x_GpuModel\n"
                 "55.04,2025-06-02,USD,Usage,AWS,Amazon EC2,8,H100\n"
                 "110.08,2025-06-03,USD,Usage,AWS,Amazon EC2,16,H100\n"
                 "10,2025-06-03,USD,Usage,AWS,Amazon EC2,,\n"
                 "2.933908,2025-06-03,USD,Usage,GCP,Compute Engine,1,A100\n")
    assert ingest([f], tmp_path / "l").files[0].status == "ok"
    df = hybrid.ledger_gpu_rates(Ledger(tmp_path / "l"), "2025-06")
    got = {(p, m): (h, r) for p, m, h, r in zip(df["ProviderName"], df["x_GpuModel"], df["gpu_hours"],
                                                  df["rate_per_gpu_hour"])}
    assert got == {("AWS", "H100"): (D(24), D("6.88")), ("GCP", "A100"): (D(1), D("2.933908"))}
    assert hybrid.ledger_gpu_rates(Ledger(tmp_path / "l"), "2025-07").empty
