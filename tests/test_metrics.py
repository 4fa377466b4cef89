"""Unit economics, ROI, the variance bridge and commitments: hand-computed figures and golden
tables on the small ledger, bridge properties on random ledgers, FOCUS spec commitment examples."""

from __future__ import annotations

import io
import math
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifinops.allocate import allocate
from aifinops.errors import ConfigError
from aifinops.fx import FxRates, MissingRateError
from aifinops.kpi import read_kpis
from aifinops.ledger import to_frame
from aifinops.metrics import (
    BRIDGE_PARTS,
    METRICS,
    commitments,
    roi,
    unit_economics,
    variance_bridge,
)

sys.path.insert(0, str(Path(__file__).parent))
import econ_ledger

D = Decimal
FX = "date,from_currency,to_currency,rate\n2025-01,EUR,USD,1.1\n2025-02,EUR,USD,1.2\n"


@pytest.fixture(scope="module")
def led(tmp_path_factory):
    return econ_ledger.build(tmp_path_factory.mktemp("metrics"))


@pytest.fixture(scope="module")
def kpis():
    return read_kpis(Path(__file__).parent / "data" / "kpis_small.csv")


def _strs(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)) for k, v in r.items()}
            for r in df.to_dict("records")]


def _v(ue, **kw):
    sel = ue
    for k, v in kw.items():
        sel = sel[sel[k].map(lambda x, v=v: x == v)]
    assert len(sel) == 1, sel
    return sel["value"].iloc[0]


def test_every_metric_is_documented():
    for m in METRICS.values():
        assert m.description and m.unit


def test_hand_computed_unit_economics(led, kpis):
    ue = unit_economics(led, by="x_Team", kpis=kpis)
    # search, January: input 2.50 for 1 M tokens, output 2.00 for 0.2 M
    assert _v(ue, period="2025-01", x_Team="search", metric="cost_per_1m_input_tokens") == D("2.5")
    assert _v(ue, period="2025-01", x_Team="search", metric="cost_per_1m_output_tokens") == D("10")
    assert _v(ue, period="2025-01", x_Team="search", metric="cost_per_1m_tokens") == D("3.75")  # 4.50 / 1.2 M
    assert _v(ue, period="2025-01", x_Team="search", metric="cost_per_request") == D("0.045")
    assert _v(ue, period="2025-01", x_Team="search", metric="tokens_per_request") == D("12000")
    assert _v(ue, period="2025-01", x_Team="search", metric="cost_per_active_user") == D("0.15")  # 4.50 / 30
    # February: two daily KPI rows (20 + 30) make the month's 50 users
    assert _v(ue, period="2025-02", x_Team="search", metric="cost_per_active_user") == D("0.18")
    # GPU: 40 / 8 h; utilization 6 busy of 8 provisioned
    assert _v(ue, period="2025-01", x_Team="data-science", metric="gpu_cost_per_gpu_hour") == D("5")
    assert _v(ue, period="2025-01", x_Team="data-science", metric="gpu_utilization_pct") == D("75")
    assert _v(ue, period="2025-02", x_Team="data-science", metric="gpu_utilization_pct") == D("50")
    # assistant is billed in USD and EUR in January: user-based ratios need fx
    assert _v(ue, period="2025-01", x_Team="assistant", currency="USD", metric="cost_per_active_user") is None
    # zero denominator -> None, never a division error
    assert _v(ue, period="2025-01", x_Team="platform", metric="cost_per_request") is None


def test_fx_reports_one_currency_with_the_rate_of_the_charge_period(led, kpis):
    fx = FxRates.read(io.StringIO(FX))
    ue = unit_economics(led, by="x_Team", kpis=kpis, fx=fx, currency="USD")
    assert set(ue["currency"]) == {"USD"}
    assert _v(ue, period="2025-01", x_Team="assistant", metric="cost") == D("19.9")  # 10 + 9 x 1.1
    assert _v(ue, period="2025-01", x_Team="assistant", metric="cost_per_active_user") == D("0.284285714286")
    with pytest.raises(MissingRateError) as e:
        unit_economics(led, by="x_Team", fx=FxRates.read(io.StringIO(FX.replace("2025-01,EUR", "2024-12,EUR"))),
                       currency="USD")
    assert e.value.currency == "EUR" and str(e.value.date) == "2025-01-10"


def test_company_level_and_unknown_inputs(led):
    ue = unit_economics(led, by=(), metrics=["cost", "ai_cost"])
    usd = ue[(ue["currency"] == "USD") & (ue["metric"] == "cost")].set_index("period")["value"]
    assert usd["2025-01"] == D("94.5") and usd["2025-02"] == D("96.81")
    with pytest.raises(ConfigError):
        unit_economics(led, metrics=["cost_per_vibe"])
    with pytest.raises(ConfigError):
        unit_economics(led, by="NoSuchColumn")
    with pytest.raises(ConfigError):
        unit_economics(led, usage="rumours")


def test_allocated_cost_per_feature(led):
    a = allocate(led, {"target": "x_Feature", "rules": [
        {"name": "rest-by-requests", "pool": {"x_Feature": None}, "driver": "requests"}]})
    ue = unit_economics(led, by="x_Feature", allocation=a, metrics=["cost"])
    # 2025-02: sem 9 + chat 0.81 direct; 87 unfeatured split by requests 200:400 -> 29 / 58
    assert _v(ue, period="2025-02", x_Feature="sem", metric="cost") == D("38")
    assert _v(ue, period="2025-02", x_Feature="chat", metric="cost") == D("58.81")
    # the un-featured bucket is one group (None), emptied by the rule
    assert _v(ue, period="2025-02", x_Feature=None, metric="cost") == 0
    assert not ue.duplicated(["period", "x_Feature", "currency", "metric"]).any()
    with pytest.raises(ConfigError):
        unit_economics(led, by="x_Team", allocation=a)


def test_golden_unit_economics(led, kpis, data_regression):
    fx = FxRates.read(io.StringIO(FX))
    ue = unit_economics(led, by="x_Feature", kpis=kpis, fx=fx, currency="USD")
    data_regression.check({"unit_economics": _strs(ue)})


def test_roi_definitions(led, kpis):
    fx = FxRates.read(io.StringIO(FX))
    r = roi(led, kpis, fx=fx, currency="USD", investment={"chat": D("100")}).set_index(["period", "x_Feature"])
    jan = r.loc[("2025-01", "chat")]
    # AI cost 10 USD (the EUR row is not an AI model row); revenue 100; 10 h x 50 saved
    assert (jan["ai_cost"], jan["revenue"], jan["gross_margin"]) == (D("10"), D("100"), D("90"))
    assert (jan["gross_margin_pct"], jan["ai_cost_pct_of_revenue"]) == (D("90"), D("10"))
    assert (jan["time_value"], jan["value"], jan["value_per_dollar"], jan["roi_pct"]) == (
        D("500"), D("600"), D("60"), D("5900"))
    # payback: 100 / mean monthly net benefit ((600 - 10) + (120 - 0.81)) / 2
    assert jan["payback_months"] == D("0.282011872700")
    assert r.loc[("2025-01", "sem"), "payback_months"] is None
    with pytest.raises(ConfigError, match="pass fx"):
        roi(led, read_kpis(io.StringIO("date,dimension,key,metric,value,unit\n2025-01,feature,sem,revenue,5,EUR\n")))


def test_golden_roi_and_bridge(led, kpis, data_regression):
    fx = FxRates.read(io.StringIO(FX))
    data_regression.check({"roi": _strs(roi(led, kpis, fx=fx, currency="USD")),
                           "bridge": _strs(variance_bridge(led, "2025-02", fx=fx, currency="USD"))})


def test_bridge_hand_computed(led):
    b = variance_bridge(led, "2025-02", by="x_Team")
    s = b[(b["x_Team"] == "search")].set_index("part")["amount"]
    # search doubled its requests at the same tokens per request and prices: all volume
    assert s["volume"] == D("4.5") and s["change"] == D("4.5")
    assert all(s[p] == 0 for p in ("mix", "efficiency_tokens_per_request", "efficiency_token_mix", "price"))
    a = b[(b["x_Team"] == "assistant") & (b["currency"] == "USD")].set_index("part")["amount"]
    # 300 -> 400 requests of 10.00: volume +3.33...; the move to gpt-4.1-mini is mix
    assert a["volume"] == D("3.333333333333333333")
    assert a["volume"] + a["mix"] == D("-9.19")
    assert a["change"] == D("-9.19")
    usd = variance_bridge(led, "2025-02").query("currency == 'USD'").set_index("part")["amount"]
    assert usd["other_cost"] == D("7")  # platform 0, support -3, GPU +10
    for _, g in b.groupby(["x_Team", "currency"], dropna=False):
        parts = g.set_index("part")["amount"]
        assert sum((parts[p] for p in BRIDGE_PARTS), D(0)) == parts["change"]


def test_bridge_price_cut_is_price(tmp_path):
    rows = [("2025-01", "m", "input", "10", 1000, 10), ("2025-02", "m", "input", "5", 1000, 10)]
    b = variance_bridge(FrameLedger(_frame(rows)), "2025-02").set_index("part")["amount"]
    assert (b["price"], b["volume"], b["change"], b["residual"]) == (D("-5"), D("0"), D("-5"), D("0"))
    # cache hits: same tokens, a quarter now cached at a tenth of the price -> token mix
    rows = [("2025-01", "m", "input", "8", 800, 10), ("2025-01", "m", "cached_input", "0.2", 200, None),
            ("2025-02", "m", "input", "6", 600, 10), ("2025-02", "m", "cached_input", "0.4", 400, None)]
    b = variance_bridge(FrameLedger(_frame(rows)), "2025-02").set_index("part")["amount"]
    assert b["efficiency_token_mix"] == D("-1.8") and b["price"] == 0 and b["volume"] == 0


class FrameLedger:
    """The Ledger query interface over an in-memory frame."""

    DEC = ("EffectiveCost", "x_Tokens", "x_Requests")

    def __init__(self, df: pd.DataFrame):
        self.df = df

    def query(self, sql: str) -> pd.DataFrame:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.register("frame", self.df)
        cols = ", ".join(f"CAST({c} AS DECIMAL(38,18)) AS {c}" if c in self.DEC else c for c in self.df.columns)
        con.execute(f"CREATE VIEW ledger AS SELECT {cols}, CAST(x_BillingPeriod || '-05' AS TIMESTAMPTZ) AS "
                    "ChargePeriodStart FROM frame")
        try:
            return to_frame(con.sql(sql))
        finally:
            con.close()


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame([{"x_BillingPeriod": p, "BillingCurrency": "USD", "x_Model": m, "x_TokenType": t,
                          "EffectiveCost": c, "x_Tokens": tok, "x_Requests": req, "x_CostAuthority": "invoice",
                          "x_Team": "t"} for p, m, t, c, tok, req in rows])


_brow = st.tuples(st.sampled_from(["2025-01", "2025-02"]), st.sampled_from(["m1", "m2", "m3"]),
                  st.sampled_from(["input", "output", "cached_input"]),
                  st.decimals(min_value=0, max_value=10**5, places=6).map(str),
                  st.integers(1, 10**8), st.one_of(st.none(), st.integers(1, 10**4)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_brow, min_size=1, max_size=14))
def test_bridge_parts_add_up_to_the_change_exactly(rows):
    b = variance_bridge(FrameLedger(_frame(rows)), "2025-02").set_index("part")["amount"]
    c0 = sum((D(c) for p, *_, c, _t, _r in rows if p == "2025-01"), D(0))
    c1 = sum((D(c) for p, *_, c, _t, _r in rows if p == "2025-02"), D(0))
    assert b["change"] == c1 - c0
    assert sum((b[p] for p in BRIDGE_PARTS), D(0)) == b["change"]
    assert abs(b["residual"]) < D("1e-12")


# -- commitments on the FOCUS specification's examples ---------------------------------------

@pytest.fixture(scope="module")
def spec_commitments(corpus, tmp_path_factory):
    from aifinops.ingest import ingest
    from aifinops.ledger import Ledger

    files = sorted((corpus / "focus" / "spec_examples_v1.2").glob("commitment_discount_*.csv"))
    if not files:
        pytest.skip("FOCUS commitment examples not in the corpus")
    d = tmp_path_factory.mktemp("cd") / "ledger"
    ingest(files, d)
    led = Ledger(d)
    c = commitments(led, by=("x_SourceFile",))
    c["name"] = c["x_SourceFile"].map(lambda p: Path(p).name.split("__")[1][:-4])
    return led, c.set_index("name")


@pytest.mark.slow
@pytest.mark.parametrize("name, utilization", [
    ("one_hundred_percent_utilization_with_commitment_discount_flexibility_with_1_resource", D("100")),
    ("one_hundred_percent_utilization_with_commitment_discount_flexibility_with_2_resources", D("100")),
    ("one_hundred_percent_utilization_without_commitment_discount_flexibility", D("100")),
    ("zero_percent_utilization_without_commitment_discount_flexibility", D("0")),
    ("commitment_discount_usage_scenario_1", D("100")),
    ("commitment_discount_usage_scenario_2", D("0")),
    ("commitment_discount_usage_scenario_3", D("75")),
])
def test_commitment_utilization_on_spec_examples(spec_commitments, name, utilization):
    _, c = spec_commitments
    assert c.loc[name, "utilization_pct"] == utilization
    assert c.loc[name, "utilization_quantity_pct"] == utilization


@pytest.mark.slow
def test_commitment_coverage_and_savings_on_spec_examples(spec_commitments):
    _, c = spec_commitments
    one = c.loc["one_hundred_percent_utilization_with_commitment_discount_flexibility_with_1_resource"]
    # usage: committed large VM (list 3.00, effective 0.50) + on-demand 2.25
    assert one["coverage_pct"] == D("18.181818181818")  # 0.50 / 2.75
    assert (one["list_cost"], one["usage_cost"], one["total_savings"]) == (D("5.25"), D("2.75"), D("2.5"))
    assert one["effective_savings_rate_pct"] == D("47.619047619048")
    # no ContractedCost in the examples: no negotiated saving claimed
    assert one["negotiated_savings"] == 0 and one["commitment_savings"] == D("2.5")
    # no ListCost at all: no saving claimed either
    assert c.loc["commitment_discount_usage_scenario_1", "total_savings"] == 0
    assert c.loc["zero_percent_utilization_without_commitment_discount_flexibility", "coverage_pct"] == 0


@pytest.mark.slow
def test_commitments_by_id(spec_commitments):
    led, _ = spec_commitments
    by_id = commitments(led)
    assert list(by_id["CommitmentDiscountId"]) == ["<my-commitment-discount-id>"]
