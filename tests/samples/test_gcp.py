"""Sample round trip for Google Cloud and Oracle Cloud: the truth rendered by
``aifinops.samples.gcp``/``oci`` and ingested back gives the truth's totals exactly."""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from aifinops.ingest import ingest
from aifinops.ledger import Ledger
from aifinops.samples import gcp, oci
from aifinops.samples.truth import ground_truth


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return ground_truth(months=3)


def _ledger_sum(df: pd.DataFrame, by: str, value: str) -> dict:
    return {k: sum(g[value].dropna(), Decimal(0)) for k, g in df.groupby(by)}


def _truth_sum(df: pd.DataFrame, by: str, value: str) -> dict:
    return {k: sum((Decimal(str(v)) for v in g[value].dropna()), Decimal(0)) for k, g in df.groupby(by)}


def test_gcp_round_trip_recovers_the_truth(truth, tmp_path):
    files = gcp.write(truth, tmp_path / "samples")
    assert [p.suffix for p in files] == [".jsonl", ".csv", ".jsonl"]
    rep = ingest(files, tmp_path / "ledger")
    assert [(f.format, f.status, f.quarantined) for f in rep.files] == [
        ("gcp-billing", "ok", 0), ("gcp-billing-csv", "ok", 0), ("gcp-billing", "ok", 0)]
    assert all(r["difference"] == 0 for f in rep.files for r in f.recon)
    led = Ledger(tmp_path / "ledger").frame()
    t = truth[truth["provider"] == "gcp"]
    assert len(led) == len(t)  # one ledger row per truth row, credits included
    assert _ledger_sum(led, "BillingCurrency", "BilledCost") == _truth_sum(t, "currency", "cost")
    assert _ledger_sum(led, "x_BillingPeriod", "BilledCost") == \
        _truth_sum(t.assign(m=pd.to_datetime(t["date"]).dt.strftime("%Y-%m")), "m", "cost")
    assert sum(led["BilledCost"][led["ChargeCategory"] == "Credit"]) == \
        sum(t["cost"][t["charge_type"] == "credit"])
    assert _ledger_sum(led, "x_Team", "BilledCost") == _truth_sum(t, "team", "cost")
    tok = led.dropna(subset=["x_TokenType"])
    assert _ledger_sum(tok.assign(k=tok["x_Model"] + "/" + tok["x_TokenType"]), "k", "x_Tokens") == \
        _truth_sum(t.dropna(subset=["token_type"]).assign(k=t["model"] + "/" + t["token_type"]), "k", "tokens")
    assert _ledger_sum(led, "x_GpuModel", "x_GpuHours") == _truth_sum(t, "gpu_model", "gpu_hours")


def test_oci_round_trip_recovers_the_truth(truth, tmp_path):
    files = oci.write(truth, tmp_path / "samples")
    assert len(files) == 3
    rep = ingest(files, tmp_path / "ledger")
    assert {(f.format, f.status, f.quarantined) for f in rep.files} == {("oci-cost", "ok", 0)}
    led = Ledger(tmp_path / "ledger").frame()
    t = truth[truth["provider"] == "oci"]
    assert len(led) == len(t)
    assert _ledger_sum(led, "BillingCurrency", "BilledCost") == _truth_sum(t, "currency", "cost")
    assert _ledger_sum(led, "x_GpuModel", "x_GpuHours") == _truth_sum(t, "gpu_model", "gpu_hours")
    assert {json.loads(x).get("Ops.Team") for x in led["Tags"]} == set(t["tags"].map(lambda d: d.get("Ops.Team")))


def _tiny() -> pd.DataFrame:
    base = {"provider": "gcp", "account_id": "01A", "project": "p1", "region": "us-central1",
            "service": "Vertex AI", "sku": "Gemini 2.5 Flash GA Text Input - Predictions", "currency": "USD",
            "pricing_unit": "Tokens", "resource_id": "r1", "model": "gemini-2.5-flash", "token_type": "input",
            "tags": {"team": "search", "cost_center": "CC-110"}}
    return pd.DataFrame([
        {**base, "date": date(2025, 1, 3), "charge_type": "usage", "quantity": Decimal(1000),
         "tokens": Decimal(1000), "cost": Decimal("0.000300"), "list_cost": Decimal("0.000300")},
        {**base, "date": date(2025, 1, 3), "charge_type": "credit", "quantity": None, "tokens": None,
         "cost": Decimal("-0.000100"), "list_cost": Decimal("-0.000100"), "model": None, "token_type": None},
        {**base, "date": date(2025, 1, 4), "charge_type": "credit", "quantity": None, "tokens": None,
         "cost": Decimal("-0.5"), "list_cost": Decimal("-0.5"), "model": None, "token_type": None},
        {**base, "date": date(2025, 2, 1), "charge_type": "usage", "quantity": Decimal(2), "tokens": None,
         "sku": "Nvidia Tesla A100 GPU running in Americas", "pricing_unit": "Hours", "model": None,
         "token_type": None, "service": "Compute Engine", "cost": Decimal("5.87"), "list_cost": Decimal("5.87")},
    ])


def test_credits_attach_to_their_usage_row_or_stand_alone(tmp_path):
    jsonl, csv_file = gcp.write(_tiny(), tmp_path)
    recs = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(recs) == 2
    assert [c["amount"] for c in recs[0]["credits"]] == [-0.0001]
    assert recs[1]["cost"] == 0 and [c["amount"] for c in recs[1]["credits"]] == [-0.5]
    assert recs[0]["labels"] == [{"key": "team", "value": "search"}, {"key": "cost_center", "value": "cc-110"}]
    assert recs[0]["usage_start_time"] == "2025-01-03 00:00:00 UTC" and recs[0]["invoice"]["month"] == "202501"
    assert '"cost":0.000300,' in jsonl.read_text()  # exact decimal text, not a float repr
    (row,) = list(csv.DictReader(csv_file.open()))
    assert (row["usage.amount"], row["usage.unit"], row["usage.amount_in_pricing_units"]) == ("7200", "seconds", "2")
    rep = ingest([jsonl, csv_file], tmp_path / "ledger")
    led = Ledger(tmp_path / "ledger").frame()
    assert sum(led["BilledCost"]) == Decimal("5.3702") and rep.exit_code == 0
    assert set(led["x_CostCenter"].dropna()) == {"CC-110"}
