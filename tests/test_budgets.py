"""Budgets (date arithmetic, burn rate, run-out, alerts), guardrail policies on crafted
ledgers, alert JSON and exit codes, YAML errors."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from aifinops import budgets as B
from aifinops.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
HEADER = ("BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ProviderName,ServiceName,Tags,"
          "x_Model,x_TokenType,x_Tokens,x_Requests,x_GpuHours,ResourceId")


def make_ledger(tmp_path, rows):
    from aifinops.ingest import ingest
    from aifinops.ledger import Ledger

    f = tmp_path / "f.csv"
    f.write_text("\n".join([HEADER, *rows]) + "\n")
    rep = ingest([f], tmp_path / "led")
    assert rep.files[0].status == "ok", rep.files[0].error
    return Ledger(tmp_path / "led")


def row(cost, day, team="", provider="AWS", model="", tokens="", requests="", gpu="", rid="", cur="USD"):
    tags = f'"{{""team"": ""{team}""}}"' if team else ""
    return f"{cost},{day},{cur},Usage,{provider},Svc,{tags},{model},{'input' if model else ''},{tokens},{requests},{gpu},{rid}"


def test_month_bounds_and_run_out_date_arithmetic():
    assert B.month_bounds("2024-02") == (dt.date(2024, 2, 1), dt.date(2024, 3, 1))
    assert B.month_bounds("2025-12") == (dt.date(2025, 12, 1), dt.date(2026, 1, 1))
    # 10/day actual for 10 days (100), forecast 20/day: 1000 is passed on day 10 + 45 + 1
    ro = B.run_out_date(Decimal(1000), dt.date(2026, 1, 1), [Decimal(10)] * 10, [20.0] * 50)
    assert ro == dt.date(2026, 1, 1) + dt.timedelta(days=10 + 45)
    # exactly reaching the amount is not running out; passing it is
    assert B.run_out_date(Decimal(30), dt.date(2026, 1, 1), [Decimal(10)] * 3, []) is None
    assert B.run_out_date(Decimal(30), dt.date(2026, 1, 1), [Decimal(10)] * 3, [0.01]) == dt.date(2026, 1, 4)
    # already overspent in the actuals: the day it happened
    assert B.run_out_date(Decimal(15), dt.date(2026, 1, 1), [Decimal(10)] * 3, [99.0]) == dt.date(2026, 1, 2)
    # negative forecast days (credits) never bring the date back
    assert B.run_out_date(Decimal(15), dt.date(2026, 1, 1), [Decimal(10)], [-5.0, 6.0]) == dt.date(2026, 1, 3)


def test_budget_status_burn_rate_forecast_and_alerts(tmp_path):
    rows = [row("100", d.date(), team="alpha") for d in pd.date_range("2026-01-01", "2026-03-10")]
    rows += [row("0.10", d.date(), team="web") for d in pd.date_range("2026-03-01", "2026-03-10")]
    led = make_ledger(tmp_path, rows)
    b = tmp_path / "b.yaml"
    b.write_text("currency: USD\nbudgets:\n"
                 "  - {name: alpha, team: alpha, amount: 2450, thresholds: [25, 50, 90]}\n"
                 "  - {name: web, team: web, amount: 10}\n"
                 "  - {name: feb only, month: 2026-02, amount: 1}\n")
    budgets = B.load_budgets(b)
    st = B.budget_status(led, budgets, "2026-03", as_of="2026-03-11").set_index("budget")
    assert list(st.index) == ["alpha", "web"]  # the February budget does not apply
    ds = st.loc["alpha"]
    assert ds["actual"] == Decimal(1000) and ds["days_elapsed"] == 10 and ds["days_in_month"] == 31
    assert ds["burn_rate"] == Decimal(100)
    assert ds["forecast"] == pytest.approx(3100, rel=0.01)          # a flat 100/day series
    assert ds["run_out"] == dt.date(2026, 3, 25)                      # 2450 passed on day 25 (2500 > 2450)
    assert st.loc["web", "actual"] == Decimal("1.00") and st.loc["web", "forecast_model"] == "burn_rate"
    alerts = B.budget_alerts(st.reset_index(), budgets)
    kinds = [(a["name"], a["kind"], a.get("threshold_percent")) for a in alerts]
    assert kinds == [("alpha", "budget_threshold", "25"), ("alpha", "budget_forecast_overrun", None)]
    assert "runs out on 2026-03-25" in alerts[1]["message"]


def test_policies_on_a_crafted_ledger(tmp_path):
    rows = [
        # support chat: 2.00 for 100 requests = 0.02/request (at the limit, no alert) on day 1,
        # 3.00 for 100 requests on day 2 (0.03 > 0.02)
        row("2.00", "2026-03-01", team="helpdesk", provider="OpenAI", model="gpt-4o", tokens=1000, requests=100),
        row("3.00", "2026-03-02", team="helpdesk", provider="OpenAI", model="gpt-4o", tokens=1000, requests=100),
        # an expensive model by a team not allowed it, and by research (allowed)
        row("50", "2026-03-02", team="web", provider="OpenAI", model="o3", tokens=10, requests=1),
        row("70", "2026-03-02", team="research", provider="OpenAI", model="o3", tokens=10, requests=1),
        # a job over its daily limit on one day only
        row("900", "2026-03-03", team="alpha", rid="job-7", gpu="100"),
        row("400", "2026-03-04", team="alpha", rid="job-7", gpu="100"),
        # untagged: 75 of 1500.00 = 5 %
        row("75", "2026-03-05"),
    ]
    led = make_ledger(tmp_path, rows)
    p = tmp_path / "p.yaml"
    p.write_text(
        "policies:\n"
        "  - {name: cpr, type: unit_cost, team: helpdesk, unit: request, per: day, max: 0.02}\n"
        "  - {name: cpr month, type: unit_cost, team: helpdesk, unit: request, max: 0.03}\n"
        "  - {name: frontier, type: disallowed_models, models: ['o3*', 'claude-opus-*'], allowed_teams: [research],"
        " severity: critical}\n"
        "  - {name: tags, type: untagged_spend, max_percent: 4}\n"
        "  - {name: tags lax, type: untagged_spend, max_percent: 5}\n"
        "  - {name: job, type: daily_limit, key: ResourceId, max: 500}\n"
        "  - {name: gpu price, type: unit_cost, unit: gpu_hour, per: day, max: 5}\n")
    alerts = B.check_policies(led, B.load_policies(p), "2026-03")
    got = sorted((a["name"], a.get("day") or a.get("team") or a.get("percent")) for a in alerts)
    assert [g[0] for g in got] == ["cpr", "frontier", "gpu price", "job", "tags"]
    assert dict(got)["cpr"] == "2026-03-02" and dict(got)["gpu price"] == "2026-03-03"
    cpr = next(a for a in alerts if a["name"] == "cpr")
    assert Decimal(cpr["unit_cost"]) == Decimal("0.03")
    tags = next(a for a in alerts if a["name"] == "tags")
    assert Decimal(tags["percent"]) == Decimal(5)
    job = next(a for a in alerts if a["name"] == "job")
    assert (job["value"], Decimal(job["cost"])) == ("job-7", Decimal(900))
    fr = next(a for a in alerts if a["name"] == "frontier")
    assert fr["severity"] == "critical" and fr["model"] == "o3"


def test_check_alerts_writes_json_and_exit_code(tmp_path):
    led = make_ledger(tmp_path, [row("100", d.date(), team="alpha") for d in pd.date_range("2026-03-01", "2026-03-05")])
    b = tmp_path / "b.yaml"
    b.write_text("budgets:\n  - {name: all, amount: 400}\n")
    out = tmp_path / "out" / "alerts.json"
    alerts, _ = B.check_alerts(led, budgets=b, out=out)
    doc = json.loads(out.read_text())
    assert doc["period"] == "2026-03" and doc["count"] == len(alerts) == 2
    assert doc["alerts"][0]["actual"] == "500.000000000000000000"
    assert B.exit_code(alerts) == B.ALERT_EXIT_CODE
    assert B.main_alerts(["--ledger", str(led.path), "--budgets", str(b), "--out", str(out)]) == 0
    assert B.main_alerts(["--ledger", str(led.path), "--budgets", str(b), "--out", str(out),
                          "--fail-on-alert"]) == B.ALERT_EXIT_CODE
    assert B.main_alerts(["--ledger", str(led.path), "--budgets", str(b), "--out", str(out),
                          "--fail-on-alert", "--severity", "critical"]) == B.ALERT_EXIT_CODE  # 125 % >= 100
    b.write_text("budgets:\n  - {name: all, amount: 100000}\n")
    assert B.main_alerts(["--ledger", str(led.path), "--budgets", str(b), "--out", str(out), "--fail-on-alert"]) == 0


@pytest.mark.parametrize("text, column", [
    ("budgets:\n  - {name: x}\n", "amount"),
    ("budgets:\n  - {name: x, amount: -5}\n", "amount"),
    ("budgets:\n  - {name: x, amount: 5, month: 2026-13}\n", "month"),
    ("budgets:\n  - {name: x, amount: 5, colour: red}\n", "colour"),
    ("budget: []\n", "budgets"),
])
def test_bad_budgets_yaml_names_the_key(tmp_path, text, column):
    p = tmp_path / "b.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        B.load_budgets(p)
    assert e.value.column == column and e.value.file == str(p)


def test_bad_policies_yaml(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("policies:\n  - {name: x, type: vibes}\n")
    with pytest.raises(ConfigError, match="unknown type"):
        B.load_policies(p)
    p.write_text("policies:\n  - {name: x, type: daily_limit, key: ResourceId}\n")
    with pytest.raises(ConfigError) as e:
        B.load_policies(p)
    assert e.value.column == "max" and e.value.row == 1
    p.write_text("policies: [\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        B.load_policies(p)


def test_templates_load():
    assert len(B.load_budgets(REPO / "templates" / "budgets.yaml")) >= 5
    assert {p.type for p in B.load_policies(REPO / "templates" / "policies.yaml")} == set(B.POLICY_TYPES)
