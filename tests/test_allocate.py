"""Allocation: hand-computed figures on the small ledger, golden showback/chargeback/trace
tables, config errors, and conservation properties for every driver."""

from __future__ import annotations

import math
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifinops.allocate import UNTAGGED, ConservationError, allocate, load_rules, split
from aifinops.errors import ConfigError
from aifinops.kpi import read_kpis
from aifinops.ledger import to_frame

sys.path.insert(0, str(Path(__file__).parent))
import econ_ledger

D = Decimal

RULES = {
    "rules": [
        {"name": "untagged-by-requests", "pool": {"x_Team": None}, "driver": "requests"},
        {"name": "platform-by-cost", "pool": {"x_Team": "platform"}, "driver": "cost"},
    ]
}


@pytest.fixture(scope="module")
def led(tmp_path_factory):
    return econ_ledger.build(tmp_path_factory.mktemp("alloc"))


def _strs(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)) for k, v in r.items()}
            for r in df.to_dict("records")]


# -- split ------------------------------------------------------------------------------

def test_split_rounds_to_cents_and_gives_the_remainder_to_the_largest_share():
    assert split(D("100"), {"a": D(1), "b": D(1), "c": D(1)}) == {"a": D("33.34"), "b": D("33.33"), "c": D("33.33")}
    # largest weight takes the remainder, including digits beyond the cent
    assert split(D("10.005"), {"x": D(1), "y": D(3)}) == {"x": D("2.50"), "y": D("7.505")}
    assert split(D("-9"), {"x": D(1), "y": D(2)}) == {"x": D("-3.00"), "y": D("-6.00")}


def test_split_rejects_zero_and_negative_drivers():
    with pytest.raises(ValueError, match="zero"):
        split(D(1), {"a": D(0)})
    with pytest.raises(ValueError, match="negative"):
        split(D(1), {"a": D(-1), "b": D(2)})


@given(amount=st.decimals(min_value=-10**9, max_value=10**9, places=6, allow_nan=False, allow_infinity=False),
       weights=st.dictionaries(st.text("abcdef", min_size=1, max_size=3),
                               st.decimals(min_value=0, max_value=10**6, places=4), min_size=1, max_size=8),
       places=st.integers(0, 4))
def test_split_conserves_exactly(amount, weights, places):
    if sum(weights.values()) <= 0:
        weights = {**weights, "z": D(1)}
    out = split(amount, weights, places)
    assert sum(out.values(), D(0)) == amount
    assert set(out) == set(weights)
    # every share but the remainder holder is rounded to `places`
    q = D(1).scaleb(-places)
    assert sum(1 for v in out.values() if v != v.quantize(q)) <= 1


# -- hand-computed ledger ------------------------------------------------------------------

def test_hand_computed_allocation(led):
    a = allocate(led, RULES)
    t = a.trace()
    got = {(r.period, r.rule, r.x_Team): r.amount for r in t.itertuples()}
    # untagged support 10.00 by requests (search 100, assistant 300)
    assert got[("2025-01", "untagged-by-requests", "search")] == D("2.5")
    assert got[("2025-01", "untagged-by-requests", "assistant")] == D("7.5")
    # 7.00 by 200:400 -> 2.33 + 4.67 (remainder to assistant, the largest driver)
    assert got[("2025-02", "untagged-by-requests", "search")] == D("2.33")
    assert got[("2025-02", "untagged-by-requests", "assistant")] == D("4.67")
    # platform 30.00 by USD cost after rule 1: search 7.00, assistant 17.50, data-science 40.00
    assert got[("2025-01", "platform-by-cost", "search")] == D("3.26")
    assert got[("2025-01", "platform-by-cost", "assistant")] == D("8.14")
    assert got[("2025-01", "platform-by-cost", "data-science")] == D("18.6")
    s = a.showback().set_index(["period", "x_Team", "currency"])
    assert s.loc[("2025-01", "search", "USD"), "total"] == D("4.5") + D("2.5") + D("3.26")
    assert s.loc[("2025-01", UNTAGGED, "USD"), "total"] == 0
    assert s.loc[("2025-01", "platform", "USD"), "allocated_out"] == D("-30")
    assert s.loc[("2025-01", "assistant", "EUR"), "total"] == D("9")  # EUR pool-free, untouched
    # conservation against the ledger's billed totals
    chk = a.check()
    assert (chk["difference"] == 0).all() and len(chk) == 3


def test_untagged_stays_visible_until_a_rule_allocates_it(led):
    a = allocate(led, {"rules": []})
    s = a.showback()
    un = s[s["x_Team"] == UNTAGGED]
    assert list(un["total"]) == [D("10"), D("7")]
    assert a.trace().empty


def test_golden_tables(led, data_regression):
    kpis = read_kpis(Path(__file__).parent / "data" / "kpis_small.csv")
    rules = {"rules": [
        {"name": "untagged-by-tokens", "pool": {"x_Team": None}, "driver": "tokens"},
        {"name": "gpu-by-users", "pool": {"x_Team": "data-science"}, "driver": "kpi", "kpi": "active_users"},
        {"name": "platform-fixed", "pool": {"x_Team": "platform"}, "driver": "fixed",
         "shares": {"search": 25, "assistant": 75}},
    ]}
    a = allocate(led, rules, kpis=kpis)
    data_regression.check({"showback": _strs(a.showback()), "chargeback": _strs(a.chargeback()),
                           "trace": _strs(a.trace()[["period", "currency", "x_Team", "x_CostCenter", "rule",
                                                      "pool_owner", "driver", "driver_value", "driver_total",
                                                      "coefficient", "amount", "remainder"]])})


def test_step_down_chain_is_traceable(led):
    a = allocate(led, {"rules": [
        {"name": "untagged-to-platform", "pool": {"x_Team": None}, "driver": "fixed", "shares": {"platform": 100}},
        {"name": "platform-even", "pool": {"x_Team": "platform"}, "driver": "even",
         "targets": ["search", "assistant"]},
    ]})
    t = a.trace()
    chained = t[t["rule"] == "untagged-to-platform > platform-even"]
    assert sorted(zip(chained["period"], chained["x_Team"], chained["amount"])) == [
        ("2025-01", "assistant", D("5")), ("2025-01", "search", D("5")),
        ("2025-02", "assistant", D("3.5")), ("2025-02", "search", D("3.5"))]
    assert set(chained["pool_owner"]) == {"platform"}


def test_zero_driver_leaves_the_pool_unallocated(led):
    a = allocate(led, {"rules": [{"name": "gpu-share", "pool": {"x_Team": None}, "driver": "gpu_hours",
                                  "targets": ["search"]}]})
    assert list(a.unallocated["amount"]) == [D("10"), D("7")]
    assert UNTAGGED in set(a.showback()["x_Team"])


def test_cost_centers_follow_the_owner(led):
    a = allocate(led, RULES)
    cb = a.chargeback()
    jan = cb[(cb["period"] == "2025-01") & (cb["currency"] == "USD")].set_index("x_CostCenter")["charge"]
    assert jan["CC-110"] == D("10.26") and jan["CC-100"] == 0
    assert sum(jan, D(0)) == D("94.5")


@pytest.mark.parametrize("doc, column", [
    ({"rules": [{"pool": {"x_Team": None}, "driver": "magic"}]}, "driver"),
    ({"rules": [{"pool": {"x_Team": None}, "driver": "fixed", "shares": {"a": 60, "b": 30}}]}, "shares"),
    ({"rules": [{"pool": {"NoSuchColumn": 1}, "driver": "even"}]}, "pool"),
    ({"rules": [{"pool": {"x_Team": None}, "driver": "kpi"}]}, "kpi"),
    ({"rules": [{"pool": {"x_Team": None}, "driver": "tokens", "driver_where": "x_Tokens >"}]}, "driver_where"),
    ({"rules": [], "places": -1}, "places"),
    ({"rules": [], "cost_column": "Foo"}, "cost_column"),
    ({"rulez": []}, "rulez"),
])
def test_config_errors_name_rule_and_key(doc, column):
    with pytest.raises(ConfigError) as e:
        load_rules(doc)
    assert e.value.column == column


def test_yaml_file_errors(tmp_path):
    p = tmp_path / "a.yaml"
    p.write_text("rules: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid YAML") as e:
        load_rules(p)
    assert e.value.file == str(p)
    p.write_text("rules:\n  - name: x\n    pool: {x_Team: null}\n    driver: even\n  - name: x\n    pool: {x_Team: a}\n"
                 "    driver: even\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="duplicate") as e:
        load_rules(p)
    assert e.value.row == 2


def test_template_parses(repo):
    r = load_rules(repo / "templates" / "allocation.yaml")
    assert r.rules and r.target == "x_Team"


def test_conservation_error_is_raised_on_a_broken_detail(led):
    a = allocate(led, RULES)
    a.detail.loc[0, "amount"] = a.detail.loc[0, "amount"] + D("0.01")
    with pytest.raises(ConservationError):
        a.check()


# -- conservation properties for every driver, on random ledgers ----------------------------------

class FrameLedger:
    """The Ledger query interface over an in-memory frame (views ledger and billed)."""

    def __init__(self, df: pd.DataFrame):
        self.df = df

    def query(self, sql: str) -> pd.DataFrame:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.register("frame", self.df)
        con.execute("CREATE VIEW ledger AS SELECT x_BillingPeriod, BillingCurrency, CAST(ChargePeriodStart AS "
                    "TIMESTAMPTZ) AS ChargePeriodStart, x_Team, x_CostCenter, CAST(EffectiveCost AS DECIMAL(38,18)) "
                    "AS EffectiveCost, CAST(x_Tokens AS DECIMAL(38,18)) AS x_Tokens, CAST(x_Requests AS "
                    "DECIMAL(38,18)) AS x_Requests, CAST(x_GpuHours AS DECIMAL(38,18)) AS x_GpuHours, "
                    "x_CostAuthority FROM frame")
        con.execute("CREATE VIEW billed AS SELECT * FROM ledger WHERE x_CostAuthority = 'invoice'")
        try:
            return to_frame(con.sql(sql))
        finally:
            con.close()


TEAMS = ["a", "b", "c", None]
_row = st.tuples(st.sampled_from(["2025-01", "2025-02"]), st.sampled_from(TEAMS),
                 st.decimals(min_value=-50, max_value=10**6, places=6),
                 st.one_of(st.none(), st.integers(0, 10**7)), st.one_of(st.none(), st.integers(0, 500)),
                 st.one_of(st.none(), st.decimals(min_value=0, max_value=100, places=2)))


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame([{"x_BillingPeriod": p, "BillingCurrency": "USD", "ChargePeriodStart": f"{p}-03",
                          "x_Team": t, "x_CostCenter": None if t is None else f"CC-{t}", "EffectiveCost": str(c),
                          "x_Tokens": tok, "x_Requests": req, "x_GpuHours": None if g is None else str(g),
                          "x_CostAuthority": "invoice"} for p, t, c, tok, req, g in rows])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_row, min_size=1, max_size=12),
       driver=st.sampled_from(["cost", "tokens", "requests", "gpu_hours", "even", "fixed", "kpi"]),
       pool_team=st.sampled_from(TEAMS), share=st.integers(0, 100),
       users=st.lists(st.integers(0, 1000), min_size=3, max_size=3), places=st.integers(0, 3))
def test_every_driver_conserves_the_pool(rows, driver, pool_team, share, users, places):
    rule = {"name": "r", "pool": {"x_Team": pool_team}, "driver": driver}
    if driver == "fixed":
        rule["shares"] = {"a": share, "b": 100 - share}
    if driver == "kpi":
        rule["kpi"] = "active_users"
    kpis = read_kpis(__import__("io").StringIO("date,dimension,key,metric,value,unit\n" + "".join(
        f"{p},team,{t},active_users,{u},users\n" for p in ("2025-01", "2025-02") for t, u in zip("abc", users))))
    a = allocate(FrameLedger(_frame(rows)), {"places": places, "rules": [rule]}, kpis=kpis)
    chk = a.check()  # raises ConservationError otherwise
    assert (chk["difference"] == 0).all()
    # every pool entry is either fully allocated or listed as unallocated
    out = a.detail[a.detail["source"] == "allocated_out"]
    assert sum(a.trace()["amount"], D(0)) == -sum(out["amount"], D(0))
    pool_total = sum((D(str(c)) for _, t, c, *_ in rows if t == pool_team), D(0))
    assert -sum(out["amount"], D(0)) + sum(a.unallocated["amount"], D(0)) == pool_total


def test_fx_converts_before_allocating(led):
    import io

    from aifinops.fx import FxRates

    fx = FxRates.read(io.StringIO("date,from_currency,to_currency,rate\n2025-01,EUR,USD,1.1\n2025-02,EUR,USD,1.2\n"))
    a = allocate(led, RULES, fx=fx, currency="USD")
    chk = a.check()
    assert list(chk["currency"]) == ["USD", "USD"]
    assert list(chk["billed_total"]) == [D("94.5") + D("9.9"), D("96.81")]
    with pytest.raises(ConfigError):
        allocate(led, RULES, fx=fx)
