"""Tests for aifinops.samples.azure: the Azure cost details sample writer, round-tripped through
the loader."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from aifinops.formats import detect
from aifinops.ingest import ingest
from aifinops.ledger import Ledger
from aifinops.samples import azure

CENT = Decimal("0.01")
EA = ("80012345", "Northwind EA")
MCA = ("7d1c3a52-0000-4b8a-9c6d-2e4f1a0b9c8d:1f2e3d4c-5b6a-4789-a0b1-c2d3e4f5a6b7_2019-05-31", "Northwind GmbH")


def _row(**kw) -> dict:
    row = dict.fromkeys(("date", "provider", "account_id", "account_name", "project", "region", "service",
                         "service_category", "resource_id", "sku", "charge_type", "pricing_unit", "quantity",
                         "unit_price", "cost", "list_cost", "currency", "model", "token_type", "tokens",
                         "requests", "gpu_model", "gpu_hours", "team", "feature", "environment", "user",
                         "customer", "cost_center"))
    row.update(provider="azure", charge_type="usage", tags={})
    row.update(kw)
    return row


def tiny_truth() -> pd.DataFrame:
    """A hand-made truth frame with the contract columns: two EA months (USD), MCA tokens (EUR)."""
    rows = []
    vm = "/subscriptions/sub-us/resourceGroups/rg-ml/providers/Microsoft.Compute/virtualMachines/nc24"
    aoai = "/subscriptions/sub-eu/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/aoai"
    for d in (date(2025, 1, 3), date(2025, 1, 20), date(2025, 2, 5), date(2025, 2, 21)):
        rows.append(_row(date=d, account_id=EA[0], account_name=EA[1], project="sub-us", region="eastus",
                         service="Virtual Machines", service_category="Compute", resource_id=vm,
                         sku="NC24ads A100 v4", pricing_unit="Hours", quantity=Decimal("24"),
                         unit_price=Decimal("3.673"), cost=Decimal("88.15200000"), list_cost=Decimal("88.152"),
                         currency="USD", gpu_model="A100", gpu_hours=Decimal(24), team="ml", environment="prod",
                         tags={"Team": "ml", "Environment": "Prod"}))
        for tt, meter, n, price in (("input", "gpt-4o 1120 Inp glbl Tokens", 1234567, "0.0023"),
                                    ("output", "gpt-4o 1120 Outp glbl Tokens", 234567, "0.0092")):
            q = Decimal(n) / 1000
            cost = (q * Decimal(price)).quantize(Decimal("1e-8"))
            rows.append(_row(date=d, account_id=MCA[0], account_name=MCA[1], project="sub-eu",
                             region="swedencentral", service="Azure OpenAI",
                             service_category="AI and Machine Learning", resource_id=aoai, sku=meter,
                             pricing_unit="1K Tokens", quantity=q, unit_price=Decimal(price), cost=cost,
                             list_cost=cost, currency="EUR", model="gpt-4o", token_type=tt, tokens=n,
                             team="assistant", feature="chat", environment="prod",
                             tags={"Team": "assistant", "Feature": "chat"}))
    rows.append(_row(date=date(2025, 1, 9), provider="aws", account_id="1", cost=Decimal(5), currency="USD"))
    return pd.DataFrame(rows)


def _ingest_all(files, ledger_dir):
    rep = ingest(files, ledger_dir)
    for f in rep.files:
        assert f.status == "ok", (f.path, f.error, f.errors[:3])
        assert all(r["difference"] == 0 for r in f.recon)
    return Ledger(ledger_dir).frame()


def test_files_and_dialects(tmp_path):
    files = azure.write(tiny_truth(), tmp_path)
    names = [p.name for p in files]
    assert names == ["ea-actual-2025-01_2025-01.csv", "ea-actual-2025-02-de.csv", "mca-actual-2025-01_2025-02.csv"]
    assert [detect(p).name for p in files] == ["azure-ea", "azure-ea", "azure-mca"]
    ea, de, mca = (p.read_bytes() for p in files)
    # EA: BOM, CRLF, MM/DD/YYYY, braceless tags
    assert ea.startswith(b"\xef\xbb\xbfBillingAccountId,") and b"\r\n" in ea
    with open(files[0], encoding="utf-8-sig", newline="") as fh:
        first = next(csv.DictReader(fh))
    assert first["Date"] == "01/03/2025" and first["Tags"] == '"Team": "ml","Environment": "Prod"'
    assert first["UnitOfMeasure"] == "1 Hour"
    # German: localized headers with the English name in parentheses
    assert de.startswith(b"\xef\xbb\xbf") and "Kosten (Cost)".encode() in de.splitlines()[0]
    assert "Maßeinheit (UnitOfMeasure)".encode() in de.splitlines()[0]
    # MCA: camelCase, 1K token blocks
    with open(files[2], encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["unitOfMeasure"] for r in rows} == {"1K"}
    assert rows[0]["quantity"] == "1234.567" and rows[0]["date"].startswith("2025-01-03")


def test_round_trip_recovers_truth(tmp_path):
    truth = tiny_truth()
    files = azure.write(truth, tmp_path / "samples")
    ledger = _ingest_all(files, tmp_path / "ledger")
    az = truth[truth["provider"] == "azure"]
    assert len(ledger) == len(az)  # every row exactly once
    got = {c: sum(g, Decimal(0)) for c, g in ledger.groupby("BillingCurrency")["BilledCost"]}
    want = {c: sum(g, Decimal(0)) for c, g in az.groupby("currency")["cost"]}
    assert got == want
    tokens = ledger.dropna(subset=["x_TokenType"]).groupby(["x_Model", "x_TokenType"])["x_Tokens"].sum()
    assert {k: int(v) for k, v in tokens.items()} == {("gpt-4o", "input"): 4 * 1234567,
                                                      ("gpt-4o", "output"): 4 * 234567}
    assert Counter(ledger["x_SourceFormat"]) == {"azure-ea": 4, "azure-mca": 8}
    assert set(ledger["x_Team"]) == {"ml", "assistant"}
    assert sum(ledger["x_GpuHours"].dropna(), Decimal(0)) == Decimal(96)


def test_no_azure_rows_writes_nothing(tmp_path):
    truth = tiny_truth()
    assert azure.write(truth[truth["provider"] != "azure"], tmp_path) == []


@pytest.mark.slow
def test_round_trip_with_ground_truth(tmp_path):
    from aifinops.samples.truth import ground_truth

    truth = ground_truth(months=2)
    files = azure.write(truth, tmp_path / "samples")
    assert len(files) == 3
    ledger = _ingest_all(files, tmp_path / "ledger")
    az = truth[truth["provider"] == "azure"]
    assert len(ledger) == len(az)
    got = {c: sum(g, Decimal(0)).quantize(CENT) for c, g in ledger.groupby("BillingCurrency")["BilledCost"]}
    want = {c: sum(g, Decimal(0)).quantize(CENT) for c, g in az.groupby("currency")["cost"]}
    assert got == want
    tok = az.dropna(subset=["token_type"]).groupby(["model", "token_type"])["tokens"].sum()
    led = ledger.dropna(subset=["x_TokenType"]).groupby(["x_Model", "x_TokenType"])["x_Tokens"].sum()
    assert {k: int(v) for k, v in led.items()} == {k: int(v) for k, v in tok.items()}
    gpu = az.dropna(subset=["gpu_model"]).groupby("gpu_model")["gpu_hours"].sum()
    lgpu = ledger.dropna(subset=["x_GpuModel"]).groupby("x_GpuModel")["x_GpuHours"].sum()
    assert dict(lgpu) == dict(gpu)
