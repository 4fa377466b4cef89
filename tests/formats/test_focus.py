"""FOCUS loader: spec examples from the corpus, older names, NULL strings, extras."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from aifinops.formats import detect
from aifinops.ingest import ingest, preview
from aifinops.ledger import Ledger


def test_every_corpus_focus_file_ingests_and_reconciles(corpus, ledger_dir):
    files = sorted((corpus / "focus").rglob("*.csv"))
    assert files, "no FOCUS files in the corpus"
    rep = ingest(files, ledger_dir)
    for f in rep.files:
        assert f.status in ("ok", "quarantined"), f"{f.path}: {f.error}"
        assert f.rows + f.quarantined == f.source_rows
        assert all(r["difference"] == 0 for r in f.recon), f.recon
    led = Ledger(ledger_dir)
    # spreadsheet-formatted amounts such as "$10,000.00 " in the SaaS examples are read exactly
    assert led.query("SELECT count(*) n FROM ledger WHERE x_SourceFile LIKE '%simple_saas_agreements_a1%'")["n"][0] >= 1
    # only genuinely invalid rows are quarantined, each with a reason
    q = led.quarantine_frame()
    assert set(q["x_QuarantineReason"].str.split("\t").str[0]) <= {"timestamp", "required"}


def test_old_names_null_strings_and_extras(tmp_path):
    f = tmp_path / "old.csv"
    f.write_text(
        "AmortizedCost,BilledCost,ChargeType,UsageQuantity,Region,ChargePeriodStart,ChargePeriodEnd,BillingCurrency,"
        "ServiceName,Id,x_Custom,Tags\n"
        '1.5,2,Usage,NULL,eastus,2024-03-01 00:00:00,2024-03-02T00:00:00Z,USD,VM,row-1,keep,"{"" team"": ""a"", ""team"": ""b""}"\n'
    )
    assert detect(f).name == "focus"
    df = preview(f)
    row = df.iloc[0]
    assert row["EffectiveCost"] == Decimal("1.5") and row["ChargeCategory"] == "Usage"
    assert row["RegionId"] == "eastus" and pd.isna(row["ConsumedQuantity"])
    assert row["x_Id"] == "row-1" and row["x_Custom"] == "keep"
    assert row["x_Team"] == "b" and pd.isna(row["x_QuarantineReason"])


def test_parquet_focus(tmp_path, ledger_dir):
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pa.table({
        "BilledCost": pa.array([Decimal("1.000000001"), Decimal("2")], pa.decimal128(20, 9)),
        "ChargePeriodStart": pa.array(["2025-05-01T00:00:00Z", "2025-05-02T00:00:00Z"]),
        "BillingCurrency": ["JPY", "JPY"], "ChargeCategory": ["Usage", "Credit"], "ServiceName": ["a", "b"],
    })
    pq.write_table(t, tmp_path / "f.parquet")
    r = ingest([tmp_path / "f.parquet"], ledger_dir).files[0]
    assert r.status == "ok" and r.recon[0]["ledger_total"] == Decimal("3.000000001")


def test_defaulted_columns_are_recorded(tmp_path, ledger_dir):
    f = tmp_path / "p.csv"
    f.write_text("BilledCost,ChargePeriodStart,ChargeCategory\n1,2025-01-01,Usage\n")
    ingest([f], ledger_dir)
    entry = next(iter(Ledger(ledger_dir).manifest["files"].values()))
    assert {"BillingCurrency", "ServiceName", "ListCost"} <= set(entry["defaulted"])
