"""Stakeholder report helpers on a tiny crafted ledger: period totals per currency, the monthly
trend, top movers up and down, accruals of open and closed months, cache hit rates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from aifinops import stakeholder as S
from aifinops.errors import ConfigError

HEADER = ("BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ProviderName,ServiceName,Tags,"
          "x_Model,x_TokenType,x_Tokens,x_CostAuthority")


def row(cost, day, *, team="", service="Svc", cur="USD", model="", ttype="", tokens="", authority="invoice"):
    tags = f'"{{""team"": ""{team}""}}"' if team else ""
    return f"{cost},{day},{cur},Usage,OpenAI,{service},{tags},{model},{ttype},{tokens},{authority}"


@pytest.fixture(scope="module")
def led(tmp_path_factory):
    from aifinops.ingest import ingest
    from aifinops.ledger import Ledger

    tmp = tmp_path_factory.mktemp("stake")
    rows = []
    for d in pd.date_range("2026-01-01", "2026-01-31"):        # January: alpha 10/day, beta 5/day
        rows += [row("10", d.date(), team="alpha"), row("5", d.date(), team="beta", service="Other")]
    for d in pd.date_range("2026-02-01", "2026-02-20"):        # February (open, to the 20th)
        rows += [row("30", d.date(), team="alpha"), row("1", d.date(), team="beta", service="Other")]
    rows += [row("7", "2026-02-03", cur="EUR", team="alpha"),
             row("0", "2026-02-05", model="m1", ttype="input", tokens="600"),
             row("0", "2026-02-05", model="m1", ttype="cached_input", tokens="300"),
             row("0", "2026-02-05", model="m1", ttype="cache_write_5m", tokens="100"),
             row("0", "2026-02-05", model="m1", ttype="output", tokens="5000")]
    f = tmp / "f.csv"
    f.write_text("\n".join([HEADER, *map(str, rows)]) + "\n")
    rep = ingest([f], tmp / "led")
    assert rep.files[0].status == "ok", rep.files[0].error
    return Ledger(tmp / "led")


def test_period_totals_per_currency_exact_and_billed_only(led):
    t = S.period_totals(led, "2026-02").set_index("BillingCurrency")
    assert t.loc["USD", "current"] == Decimal(20 * 31)
    assert t.loc["USD", "previous"] == Decimal(31 * 15)
    assert t.loc["USD", "change"] == Decimal(620 - 465)
    assert round(t.loc["USD", "change_pct"], 6) == round(Decimal(155) / 465 * 100, 6)
    assert t.loc["EUR", "current"] == 7 and t.loc["EUR", "previous"] == 0 and t.loc["EUR", "change_pct"] is None
    assert all(isinstance(v, Decimal) for v in t["current"])


def test_monthly_trend_window(led):
    tr = S.monthly_trend(led, "2026-02", months=2)
    assert list(zip(tr["x_BillingPeriod"], tr["BillingCurrency"])) == [("2026-01", "USD"), ("2026-02", "EUR"),
                                                                       ("2026-02", "USD")]
    assert S.monthly_trend(led, "2026-02", months=1)["x_BillingPeriod"].unique().tolist() == ["2026-02"]
    assert S.trend_chart(tr).to_dict()["mark"]["type"] == "bar"
    with pytest.raises(ConfigError):
        S.monthly_trend(led, "2026-02", months=0)


def test_top_movers_up_and_down(led):
    m = S.top_movers(led, "2026-02", {"x_Team": "team", "ServiceName": "service"}, n=1)
    usd = m[m["BillingCurrency"] == "USD"].set_index(["dimension", "direction"])
    assert usd.loc[("team", "up"), "value"] == "alpha" and usd.loc[("team", "up"), "change"] == 600 - 310
    assert usd.loc[("team", "down"), "value"] == "beta" and usd.loc[("team", "down"), "change"] == 20 - 155
    assert usd.loc[("service", "down"), "value"] == "Other"
    assert list(m["dimension"].unique()) == ["team", "service"]
    assert len(S.top_movers(led, "2026-02", "x_Team", n=5).query("BillingCurrency == 'USD'")) == 2
    with pytest.raises(ConfigError):
        S.top_movers(led, "2026-02", "x_Team; DROP", n=1)
    with pytest.raises(ConfigError):
        S.top_movers(led, "2026-13")


def test_accruals_open_month_adds_run_rate_closed_month_is_billed(led):
    feb = S.accruals(led, "2026-02").set_index("BillingCurrency")
    assert feb.loc["USD", "status"] == "open" and feb.loc["USD", "as_of"] == dt.date(2026, 2, 21)
    assert feb.loc["USD", "billed_to_date"] == 620 and feb.loc["USD", "days_left"] == 8
    assert feb.loc["USD", "run_rate_per_day"] == 31                     # last 7 days: 31/day
    assert feb.loc["USD", "accrual"] == 620 + 8 * 31
    jan = S.accruals(led, "2026-01").set_index("BillingCurrency")
    assert jan.loc["USD", "status"] == "closed" and jan.loc["USD", "accrual"] == 465
    assert jan.loc["USD", "forecast_remainder"] == 0
    mid = S.accruals(led, "2026-01", as_of="2026-01-11").set_index("BillingCurrency")
    assert mid.loc["USD", "billed_to_date"] == 150 and mid.loc["USD", "accrual"] == 150 + 21 * 15
    with pytest.raises(ConfigError):
        S.accruals(led, "2026-01", as_of="soon")


def test_cache_hit_rates_count_all_input_types_not_output(led):
    c = S.cache_hit_rates(led, "2026-02")
    assert len(c) == 1
    r = c.iloc[0]
    assert r["x_Model"] == "m1" and r["source"] == "invoice"
    assert r["input_tokens"] == 1000 and r["cached_input_tokens"] == 300
    assert r["cache_hit_rate"] == pytest.approx(0.3)
    assert S.cache_hit_rates(led, "2026-01").empty


def test_period_window_spans_whole_months():
    assert S.period_window("2026-02") == ("2026-02-01", "2026-03-01")
    assert S.period_window("2026-02", 3) == ("2025-12-01", "2026-03-01")
    with pytest.raises(ConfigError):
        S.period_window("2026-02", 0)


def test_finance_sheets_accruals_and_movers(led):
    sheets = S.finance_sheets(led, "2026-02")
    assert sorted(sheets) == ["Accruals", "Top movers"]
    assert sheets["Accruals"].set_index("BillingCurrency").loc["USD", "accrual"] == 620 + 8 * 31
    movers = sheets["Top movers"]
    assert set(movers["dimension"]) == {"team", "service", "model"}
    assert movers.loc[movers["dimension"] == "model", "value"].tolist() == [None, None]  # per currency; m1 unchanged
    assert all(df.empty for df in S.finance_sheets(led, None).values())
