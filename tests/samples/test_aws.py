"""aifinops.samples.aws: the truth's AWS rows as legacy CUR CSV.gz + CUR 2.0 Parquet."""

from __future__ import annotations

import datetime as dt
import gzip
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aifinops.formats import detect
from aifinops.ingest import ingest
from aifinops.ledger import Ledger
from aifinops.samples import aws

CONTRACT = ["date", "provider", "account_id", "account_name", "project", "region", "service", "service_category",
            "resource_id", "sku", "charge_type", "pricing_unit", "quantity", "unit_price", "cost", "list_cost",
            "currency", "model", "token_type", "tokens", "requests", "gpu_model", "gpu_hours", "team", "feature",
            "environment", "user", "customer", "cost_center", "tags"]


def _row(**kw):
    base = {c: None for c in CONTRACT}
    base.update(provider="aws", account_id="000412345678", account_name="Northwind", project="012345678901",
                region="us-east-1", currency="USD", charge_type="usage", tags={})
    base.update(kw)
    return base


def tiny_truth() -> pd.DataFrame:
    D = Decimal
    rows = []
    for month in (1, 2, 3):
        day = dt.date(2025, month, 3)
        rows += [
            _row(date=day, service="Amazon Bedrock", sku="USE1-Claude3Haiku-input-tokens", pricing_unit="1K Tokens",
                 quantity=D("1234.567"), unit_price=D("0.0002"), cost=D("0.2469134"), list_cost=D("0.30864175"),
                 model="claude-3-haiku", token_type="input", tokens=1234567, team="search",
                 tags={"team": "search", "customer": "cust-001"}),
            _row(date=day, service="Amazon Bedrock", sku="USE1-Claude3Haiku-output-tokens", pricing_unit="1K Tokens",
                 quantity=D("100.001"), unit_price=D("0.00125"), cost=D("0.12500125"), list_cost=D("0.12500125"),
                 model="claude-3-haiku", token_type="output", tokens=100001, tags={"team": "search"}),
            _row(date=day, service="Amazon Elastic Compute Cloud", sku="BoxUsage:p4d.24xlarge", pricing_unit="Hours",
                 quantity=D("10"), unit_price=D("32.7726"), cost=D("327.726"), list_cost=D("327.726"),
                 gpu_model="A100", gpu_hours=D("80"), resource_id="i-0a1b", project="009876543210",
                 tags={"team": "data-science", "env": "prod"}),
            _row(date=dt.date(2025, month, 1), service="Amazon Bedrock", charge_type="tax", cost=D("0.06"),
                 list_cost=D("0.06")),
            _row(date=dt.date(2025, month, 1), service="AWS Support (Business)", charge_type="fee", cost=D("100.00"),
                 list_cost=D("100.00"), sku="Business Support", team="platform"),
        ]
    rows.append(_row(date=dt.date(2025, 1, 1), service="Amazon Bedrock", charge_type="credit", cost=D("-50.00"),
                     list_cost=D("-50.00")))
    rows.append(_row(date=dt.date(2025, 1, 5), provider="azure", service="Azure OpenAI", cost=D("9.99")))
    return pd.DataFrame(rows, columns=CONTRACT)


def test_files_layout_and_months_do_not_overlap(tmp_path):
    files = aws.write(tiny_truth(), tmp_path)
    rel = [str(f.relative_to(tmp_path)) for f in files]
    assert rel == ["aws/cur-legacy-2025-01.csv.gz", "aws/cur-legacy-2025-02.csv.gz",
                   "aws/cur2/data/BILLING_PERIOD=2025-03/cur2-00001.snappy.parquet"]
    assert [detect(f).name for f in files] == ["aws-cur", "aws-cur", "aws-cur2"]
    t = pq.read_table(files[2])
    assert pa.types.is_map(t.schema.field("resource_tags").type)
    assert str(t.schema.field("line_item_unblended_cost").type) == "decimal128(38, 18)"
    with gzip.open(files[0], "rt") as fh:
        header = fh.readline()
    assert "resourceTags/user:team" in header and "lineItem/UnblendedCost" in header


def test_csv_output_is_deterministic(tmp_path):
    a = aws.write(tiny_truth(), tmp_path / "a")
    b = aws.write(tiny_truth(), tmp_path / "b")
    assert a[0].read_bytes() == b[0].read_bytes()


def test_no_aws_rows_writes_nothing(tmp_path):
    t = tiny_truth()
    assert aws.write(t[t["provider"] != "aws"], tmp_path) == []


def _ledger_sums(ledger_dir):
    df = Ledger(ledger_dir).frame(columns=["BilledCost", "ListCost", "BillingCurrency", "x_Tokens", "x_Model",
                                           "x_TokenType", "x_GpuHours", "x_GpuModel", "BillingAccountId",
                                           "SubAccountId", "x_Customer", "ChargeCategory"])
    return df


def test_round_trip_tiny_truth(tmp_path):
    truth = tiny_truth()
    files = aws.write(truth, tmp_path / "s")
    rep = ingest(files, tmp_path / "ledger")
    assert [f.status for f in rep.files] == ["ok"] * 3, [str(f.error) for f in rep.files]
    df = _ledger_sums(tmp_path / "ledger")
    want = truth[truth["provider"] == "aws"]
    assert sum(Decimal(str(v)) for v in df["BilledCost"]) == sum(want["cost"])
    assert sum(Decimal(str(v)) for v in df["ListCost"]) == sum(want["list_cost"])
    tok = df[df["x_TokenType"].notna()]
    assert sum(Decimal(str(v)) for v in tok["x_Tokens"]) == sum(want["tokens"].dropna())
    assert set(tok["x_Model"]) == {"claude-3-haiku"}
    assert sum(Decimal(str(v)) for v in df["x_GpuHours"].dropna()) == Decimal(3 * 80)
    assert set(df["BillingAccountId"]) == {"000412345678"}
    assert set(df["SubAccountId"]) == {"012345678901", "009876543210"}
    assert sorted(df["ChargeCategory"].value_counts().items()) == [("Credit", 1), ("Purchase", 3), ("Tax", 3),
                                                                   ("Usage", 9)]
    assert (df["x_Customer"] == "cust-001").sum() == 3


def test_round_trip_full_day_gpu_row(tmp_path):
    t = tiny_truth()
    t = t[(t["provider"] == "aws") & t["gpu_model"].notna()].copy()
    t["quantity"], t["gpu_hours"] = Decimal(24), Decimal(192)
    f = ingest(aws.write(t, tmp_path / "s")[:1], tmp_path / "ledger").files[0]
    assert f.status == "ok", f.error
    assert Decimal(str(Ledger(tmp_path / "ledger").frame(columns=["x_GpuHours"])["x_GpuHours"][0])) == 192


@pytest.mark.slow
def test_round_trip_ground_truth(tmp_path):
    from aifinops.samples.truth import ground_truth

    truth = ground_truth(months=3)
    files = aws.write(truth, tmp_path / "s")
    rep = ingest(files, tmp_path / "ledger")
    assert all(f.status == "ok" for f in rep.files), [str(f.error) for f in rep.files]
    df = _ledger_sums(tmp_path / "ledger")
    want = truth[truth["provider"] == "aws"]
    for cur, total in want.groupby("currency")["cost"].sum().items():
        got = sum(Decimal(str(v)) for v in df.loc[df["BillingCurrency"] == cur, "BilledCost"])
        assert got.quantize(Decimal("0.01")) == Decimal(total).quantize(Decimal("0.01"))
        assert got == total  # in fact exact
    gpu = want.dropna(subset=["gpu_model"]).groupby("gpu_model")["gpu_hours"].sum()
    got_gpu = df.dropna(subset=["x_GpuModel"]).groupby("x_GpuModel")["x_GpuHours"].apply(
        lambda s: sum(Decimal(str(v)) for v in s))
    assert {k: Decimal(v) for k, v in gpu.items()} == dict(got_gpu)
