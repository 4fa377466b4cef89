"""Anomalies: injected spikes found, quiet series quiet, min-impact filter, drivers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aifinops import anomalies as A
from aifinops.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def synthetic(days=168, seed=3, spikes=()):
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2025-01-06", periods=days, freq="D")
    y = 300 + 0.8 * np.arange(days) + np.where(ds.day_of_week >= 5, -120.0, 0.0) + rng.normal(0, 6, days)
    for i, size in spikes:
        y[i] += size
    return pd.DataFrame({"ds": ds, "y": y})


def test_injected_spikes_are_found_and_nothing_else():
    spikes = [(60, 150.0), (100, -140.0), (130, 200.0), (131, 180.0)]
    a = A.detect(synthetic(spikes=spikes), min_impact=50)
    h = synthetic()
    assert sorted(a["ds"]) == sorted(h["ds"].iloc[i] for i, _ in spikes)
    # expected vs actual: the impact is the injected size within noise
    imp = dict(zip(a["ds"], a["impact"]))
    for i, size in spikes:
        assert imp[h["ds"].iloc[i]] == pytest.approx(size, abs=25)
    # the two consecutive days form one event
    assert a["event"].nunique() == 3


def test_quiet_series_has_no_anomalies_and_min_impact_filters():
    assert A.detect(synthetic(), min_impact=50).empty
    a = A.detect(synthetic(spikes=[(90, 60.0)]))
    assert len(a) == 1
    assert A.detect(synthetic(spikes=[(90, 60.0)]), min_impact=100).empty


def test_interval_method_finds_large_spike():
    a = A.detect(synthetic(spikes=[(120, 400.0)]), method="either", min_impact=100)
    assert pd.Timestamp("2025-01-06") + pd.Timedelta(days=120) in set(a["ds"])
    with pytest.raises(ConfigError):
        A.detect(synthetic(), method="zscore")


def _ledger(tmp_path):
    from aifinops.ingest import ingest
    from aifinops.ledger import Ledger

    rows = [("BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ProviderName,ServiceName,Tags,"
             "x_Model,x_TokenType,x_Tokens,x_Requests")]
    for d in pd.date_range("2025-03-03", periods=56):
        gpu = 400 if d == pd.Timestamp("2025-04-21") else 0
        rows.append(f'100,{d.date()},USD,Usage,AWS,EC2,"{{""team"": ""search""}}",,,,')
        rows.append(f'{10 + gpu},{d.date()},USD,Usage,AWS,EC2,"{{""team"": ""data-science""}}",,,,')
        # AI: 1000 requests x 100 tokens at 0.00001 on gpt-4o; on 04-21 also 2x the requests
        req = 2000 if d == pd.Timestamp("2025-04-21") else 1000
        rows.append(f'{req * 100 * 0.00001:.2f},{d.date()},USD,Usage,OpenAI,API,"{{""team"": ""search""}}",'
                    f"gpt-4o,input,{req * 100},{req}")
    f = tmp_path / "f.csv"
    f.write_text("\n".join(rows) + "\n")
    ingest([f], tmp_path / "led")
    return Ledger(tmp_path / "led")


def test_anomaly_explained_by_team_and_ai_effects(tmp_path):
    led = _ledger(tmp_path)
    a = A.find_anomalies(led, min_impact=50)
    assert [d.date().isoformat() for d in a["ds"]] == ["2025-04-21"]
    assert a["impact"].iloc[0] == pytest.approx(401.0)
    ev = A.explain_event(led, a, int(a["event"].iloc[0]))
    team = ev["drivers"][ev["drivers"]["dimension"] == "x_Team"].iloc[0]
    assert team["value"] == "data-science" and team["delta"] == pytest.approx(400.0)
    ai = ev["ai"].set_index("effect")["amount"]
    assert ai["volume"] == pytest.approx(1.0) and ai["total"] == pytest.approx(1.0)
    assert ai[["volume", "tokens_per_request", "mix", "price"]].sum() == pytest.approx(ai["total"])
    assert "data-science" in ev["summary"]
    by_team = A.find_anomalies(led, "x_Team", min_impact=50)
    assert by_team["key"].tolist() == ["data-science"]


@pytest.mark.slow
def test_sample_company_runaway_gpu_job_is_the_top_anomaly():
    from aifinops.report import open_ledger
    from aifinops.samples.truth import events

    led = open_ledger("", inputs=REPO / "data_samples")
    days = events()["runaway"]["days"]
    a = A.find_anomalies(led, min_impact=2000)
    top = a[a["event"] == a["event"].iloc[0]]
    assert {d.date() for d in top["ds"]} >= set(days[1:])  # the spike days (day 1 may start mid-day)
    ev = A.explain_event(led, a, int(a["event"].iloc[0]))
    d = ev["drivers"].set_index(["dimension", "value"])["delta"]
    assert d.loc[("x_Team", "data-science")] > 0.8 * ev["impact"]
    assert d.loc[("x_GpuModel", "H100")] > 0.8 * ev["impact"]
