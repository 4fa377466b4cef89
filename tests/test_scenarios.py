"""Scenarios re-priced against hand-computed cases (gpt-4o list prices per MTok: input 2.50,
cached input 1.25, output 10, batch 1.25 / 5; gpt-4o-mini: input 0.15, cached 0.075, output 0.60)."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from aifinops import scenarios as S
from aifinops.errors import ConfigError

AT = "2026-01-01"
M = 10**6


def base(*rows):
    return pd.DataFrame([{"ProviderName": "OpenAI", "x_ModelProvider": "openai", "x_Model": m, "x_TokenType": t,
                          "x_Tokens": Decimal(n)} for m, t, n in rows])


GPT4O = base(("gpt-4o", "input", M), ("gpt-4o", "output", M))


def one(sc, b=GPT4O):
    return S.run(sc, base=b, at=AT)


def test_model_switch_and_routing_share():
    full = one(S.Scenario(months=1, switch_from=["gpt-4o"], switch_to="gpt-4o-mini", routing_share=1.0))
    assert full.plan["baseline"][0] == Decimal("12.5")
    assert full.plan["scenario"][0] == Decimal("0.75")
    half = one(S.Scenario(months=1, switch_from="gpt-4o", switch_to="gpt-4o-mini", routing_share=0.5))
    assert half.plan["scenario"][0] == Decimal("6.625")
    sav = half.savings.set_index("lever")
    assert sav.loc["routing", "potential"] == Decimal("5.875")


def test_routing_realised_savings_count_traffic_already_on_the_cheaper_model():
    b = base(("gpt-4o", "input", M), ("gpt-4o-mini", "input", M))
    r = one(S.Scenario(months=1, switch_from=["gpt-4o"], switch_to="gpt-4o-mini", routing_share=0.0), b)
    assert r.savings.set_index("lever").loc["routing", "realised"] == Decimal("2.35")  # 1M x (2.50 - 0.15)


def test_cache_hit_rate_realised_vs_potential():
    b = base(("gpt-4o", "input", 800_000), ("gpt-4o", "cached_input", 200_000))
    r = one(S.Scenario(months=1, cache_hit_rate=0.6), b)
    assert r.plan["baseline"][0] == Decimal("2.25")     # 0.8 x 2.50 + 0.2 x 1.25
    assert r.plan["scenario"][0] == Decimal("1.75")     # 0.4 x 2.50 + 0.6 x 1.25
    sav = r.savings.set_index("lever")
    assert sav.loc["caching", "realised"] == Decimal("0.25") and sav.loc["caching", "potential"] == Decimal("0.5")


def test_batch_share_price_cut_and_growth():
    assert one(S.Scenario(months=1, batch_share=0.5)).plan["scenario"][0] == Decimal("9.375")
    assert one(S.Scenario(months=1, price_cut_pct=20)).plan["scenario"][0] == Decimal(10)
    g = one(S.Scenario(months=3, growth_pct=10))
    assert g.plan["scenario"].tolist() == [Decimal("12.5"), Decimal("13.75"), Decimal("15.125")]
    assert g.totals["scenario"][0] == Decimal("41.375") and g.totals["baseline"][0] == Decimal("37.5")


def test_feature_launch_adds_priced_tokens_from_its_month():
    r = one(S.Scenario(months=3, launch_model="gpt-4o", launch_provider="OpenAI", launch_requests_per_day=1000,
                       launch_input_tokens=100, launch_output_tokens=10, launch_month=2))
    # 1000 x 30 x 100 = 3M input (7.50) + 0.3M output (3.00)
    assert r.plan["scenario"].tolist() == [Decimal("12.5"), Decimal(23), Decimal(23)]


def test_monte_carlo_bands():
    fixed = one(S.Scenario(months=2, growth_pct=10))
    assert fixed.plan["p10"].tolist() == pytest.approx([float(v) for v in fixed.plan["scenario"]])
    r = one(S.Scenario(months=6, growth_pct=5, growth_sd_pct=5, switch_from=["gpt-4o"], switch_to="gpt-4o-mini",
                       routing_share=0.5, routing_sd=0.2, simulations=4000, seed=1))
    t = r.totals.iloc[0]
    assert t["p10"] < t["p50"] < t["p90"]
    assert t["p50"] == pytest.approx(float(t["scenario"]), rel=0.03)
    assert (r.plan["p10"] <= r.plan["p90"]).all()


def test_unpriced_models_are_reported_not_priced_at_zero():
    b = pd.concat([GPT4O, base(("no-such-model", "input", M))])
    r = one(S.Scenario(months=1), b)
    assert r.unpriced == [("OpenAI", "openai", "no-such-model")] and r.plan["baseline"][0] == Decimal("12.5")


def test_bad_scenarios():
    with pytest.raises(ConfigError):
        S.Scenario(routing_share=1.5)
    with pytest.raises(ConfigError):
        S.Scenario(routing_share=0.5)  # no target model
    with pytest.raises(ConfigError):
        S.scenario_parameters("moonshot")
    with pytest.raises(ConfigError):
        one(S.Scenario(months=1, switch_from=["gpt-4o"], switch_to="no-such-model", routing_share=0.5))


def test_every_named_scenario_is_a_valid_parameter_set():
    for name in S.SCENARIOS:
        p = S.scenario_parameters(name)
        assert S.Scenario.from_parameters(p).name == name


@pytest.mark.slow
def test_notebook_05_runs_with_a_named_parameter_set(tmp_path):
    from pathlib import Path

    import papermill as pm

    from aifinops.ingest import ingest

    repo = Path(__file__).resolve().parents[1]
    rows = [("BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ProviderName,ServiceName,x_Model,"
             "x_TokenType,x_Tokens")]
    for d in pd.date_range("2026-02-01", "2026-03-31"):
        rows += [f"25,{d.date()},USD,Usage,OpenAI,API,gpt-4o,input,10000000",
                 f"10,{d.date()},USD,Usage,OpenAI,API,gpt-4o,output,1000000"]
    (tmp_path / "f.csv").write_text("\n".join(rows) + "\n")
    ingest([tmp_path / "f.csv"], tmp_path / "led")
    params = {"ledger_path": str(tmp_path / "led"), "period": "2026-03", "months": 3, "simulations": 200,
              **S.notebook_parameters("caching", cache_hit_rate=0.5)}
    pm.execute_notebook(str(repo / "notebooks" / "05_scenarios.ipynb"), str(tmp_path / "05.ipynb"),
                        parameters=params, cwd=str(repo / "notebooks"), kernel_name="python3", progress_bar=False)
    text = (tmp_path / "05.ipynb").read_text()
    assert "caching" in text and "feature_launch" in text
