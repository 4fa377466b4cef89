"""Google Cloud Billing export loaders: nested JSON lines, flattened CSV, credits as their
own charges, labels, Vertex AI token and GPU classification, malformed input."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from aifinops.errors import InvalidValueError, NumberParseError
from aifinops.formats import detect
from aifinops.ingest import ingest, preview
from aifinops.ledger import Ledger


def _rec(sku="Gemini 2.5 Flash GA Text Input - Predictions", cost=12.345678, credits=(), labels=None,
         usage=None, **kw) -> dict:
    rec = {
        "billing_account_id": "01ABCD-234567-89EFGH",
        "service": {"id": "C7E2-9256-1C43", "description": "Vertex AI"},
        "sku": {"id": "A1B2-C3D4-E5F6", "description": sku},
        "usage_start_time": "2025-03-01 00:00:00 UTC",
        "usage_end_time": "2025-03-02 00:00:00 UTC",
        "project": {"id": "ml-prod", "number": "123", "name": "ML Prod",
                    "labels": [{"key": "team", "value": "platform"}, {"key": "env", "value": "prod"}]},
        "labels": labels if labels is not None else [{"key": "team", "value": "search"},
                                                     {"key": "feature", "value": "qa"}],
        "system_labels": [],
        "location": {"location": "us-central1", "country": "US", "region": "us-central1", "zone": None},
        "cost": cost,
        "currency": "USD",
        "currency_conversion_rate": 1.0,
        "usage": usage or {"amount": 41152260, "unit": "count", "amount_in_pricing_units": 41152260,
                           "pricing_unit": "count"},
        "credits": list(credits),
        "invoice": {"month": "202503"},
        "cost_type": "regular",
        "cost_at_list": 13.0,
    }
    rec.update(kw)
    return rec


def _jsonl(tmp_path: Path, *lines: object, name="export.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return p


FREE = {"name": "Free tier", "amount": -1.5, "full_name": "Free tier credit", "id": "", "type": "FREE_TIER"}
CUD = {"name": "CUD", "amount": "-0.25", "full_name": "Spend-based commitment", "id": "commitments/123",
       "type": "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE"}


def test_jsonl_with_nested_credits_and_labels(tmp_path, ledger_dir):
    p = _jsonl(tmp_path, _rec(credits=[FREE, CUD]), _rec(cost="0.5", credits=[], labels=[]))
    assert detect(p).name == "gcp-billing"
    f = ingest([p], ledger_dir).files[0]
    assert (f.format, f.status, f.rows, f.quarantined) == ("gcp-billing", "ok", 4, 0)
    (rec,) = f.recon
    assert rec["source_total"] == Decimal("12.345678") - Decimal("1.75") + Decimal("0.5")
    assert rec["difference"] == 0
    df = Ledger(ledger_dir).frame().sort_values(["x_SourceRow", "ChargeCategory"], ascending=[True, False])
    assert list(df["x_SourceRow"]) == [1, 1, 1, 2]
    assert list(df["ChargeCategory"]) == ["Usage", "Credit", "Credit", "Usage"]
    usage, free, cud = (df.iloc[i] for i in range(3))
    assert usage["BilledCost"] == Decimal("12.345678") and usage["ListCost"] == 13
    assert usage["ConsumedQuantity"] == 41152260
    assert sorted(df["BilledCost"][df["ChargeCategory"] == "Credit"]) == [Decimal("-1.5"), Decimal("-0.25")]
    assert free["ListCost"] == free["BilledCost"] and free["ConsumedQuantity"] is None
    assert {free["ChargeDescription"], cud["ChargeDescription"]} == {"Free tier credit", "Spend-based commitment"}
    cud = df[df["x_CreditType"] == "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE"].iloc[0]
    assert (cud["CommitmentDiscountCategory"], cud["CommitmentDiscountId"]) == ("Spend", "commitments/123")
    # resource labels win over project labels; credits carry the record's labels
    assert json.loads(usage["Tags"]) == {"team": "search", "feature": "qa", "env": "prod"}
    assert set(df["x_Team"][:3]) == {"search"}
    assert json.loads(df.iloc[3]["Tags"]) == {"team": "platform", "env": "prod"}
    assert (usage["SubAccountId"], usage["ServiceCategory"], usage["ProviderName"]) == \
        ("ml-prod", "AI and Machine Learning", "Google Cloud")
    # invoice month 202503 in Pacific time
    assert str(usage["BillingPeriodStart"]) == "2025-03-01 08:00:00+00:00"
    assert str(usage["BillingPeriodEnd"]) == "2025-04-01 07:00:00+00:00"
    assert set(df["x_BillingPeriod"]) == {"2025-03"}


def test_malformed_json_line_and_bad_cost_are_quarantined(tmp_path, ledger_dir):
    p = _jsonl(tmp_path, "{not json", _rec(), "", _rec(cost="abc", credits=[FREE]))
    assert detect(p).name == "gcp-billing"  # found past the malformed first line
    f = ingest([p], ledger_dir).files[0]
    assert (f.status, f.rows, f.quarantined) == ("quarantined", 2, 2)
    e1, e2 = f.errors
    assert isinstance(e1, InvalidValueError) and (e1.row, e1.column) == (1, "json")
    assert e1.file == str(p) and e1.value.startswith("{not json")
    assert isinstance(e2, NumberParseError) and (e2.row, e2.column, e2.value) == (4, "cost", "abc")
    usd = [r for r in f.recon if r["currency"] == "USD"][0]
    assert usd["ledger_total"] == Decimal("12.345678") - Decimal("1.5") and usd["difference"] == 0
    q = Ledger(ledger_dir).quarantine_frame()
    assert sorted(q["x_SourceRow"]) == [1, 4]


def _csv(tmp_path: Path, header: list[str], *rows: list[str]) -> Path:
    import csv

    p = tmp_path / "export.csv"
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return p


CSV_HEADER = ["billing_account_id", "service.description", "sku.id", "sku.description", "usage_start_time",
              "usage_end_time", "project.id", "labels", "cost", "currency", "usage.amount", "usage.unit",
              "credits", "invoice.month", "cost_type", "cost_at_list"]


def _csv_row(cost="2.50", credits='[{"name":"promo","amount":-0.4,"type":"PROMOTION"}]',
             labels='[{"key":"team","value":"search"}]', sku="Gemini 2.5 Flash GA Text Output - Predictions"):
    return ["01ABCD", "Vertex AI", "X-1", sku, "2025-04-02 00:00:00 UTC", "2025-04-03 00:00:00 UTC",
            "ml-prod", labels, cost, "USD", "1000", "count", credits, "202504", "regular", "3.00"]


def test_flattened_csv_with_credits_as_json_text(tmp_path, ledger_dir):
    p = _csv(tmp_path, CSV_HEADER, _csv_row(), _csv_row(cost="1", credits="[]", labels='{"team": "infra"}'),
             _csv_row(labels="{broken"))
    assert detect(p).name == "gcp-billing-csv"
    f = ingest([p], ledger_dir).files[0]
    assert (f.rows, f.quarantined) == (3, 2)  # the broken-labels record and its credit
    assert isinstance(f.errors[0], InvalidValueError) and (f.errors[0].row, f.errors[0].column) == (3, "labels")
    df = Ledger(ledger_dir).frame()
    assert sorted(df["BilledCost"]) == [Decimal("-0.4"), Decimal("1"), Decimal("2.5")]
    assert sorted(df["x_Team"]) == ["infra", "search", "search"]
    assert set(df["x_Model"]) == {"gemini-2.5-flash"} and set(df["x_TokenType"]) == {"output"}
    assert f.recon[0]["difference"] == 0


def test_csv_with_underscored_names_and_flattened_credit_columns(tmp_path):
    header = ["billing_account_id", "service_description", "sku_description", "usage_start_time", "cost",
              "currency", "invoice_month", "credits.amount", "credits.type", "credits.name"]
    p = _csv(tmp_path, header,
             ["01", "Compute Engine", "E2 Instance Core running in Americas", "2025-04-02T00:00:00Z", "3.10",
              "USD", "202504", "-0.10", "SUSTAINED_USAGE_DISCOUNT", "SUD"],
             ["01", "Compute Engine", "E2 Instance Core running in Americas", "2025-04-02T00:00:00Z", "1.00",
              "USD", "202504", "", "", ""])
    assert detect(p).name == "gcp-billing-csv"
    df = preview(p)
    assert list(df["ChargeCategory"]) == ["Usage", "Credit", "Usage"]
    assert list(df["BilledCost"]) == [Decimal("3.10"), Decimal("-0.10"), Decimal("1.00")]
    assert df["x_CreditType"][1] == "SUSTAINED_USAGE_DISCOUNT"
    assert list(df["ListCost"]) == list(df["BilledCost"])  # no cost_at_list column
    assert df["ServiceCategory"][0] == "Compute" and df["x_QuarantineReason"].isna().all()


def test_vertex_token_and_gpu_classification(tmp_path):
    skus = {
        "Gemini 2.5 Flash GA Text Input - Predictions": ("gemini-2.5-flash", "input"),
        "Gemini 2.5 Flash GA Text Output - Predictions": ("gemini-2.5-flash", "output"),
        "Gemini 2.5 Flash GA Thinking Text Output - Predictions": ("gemini-2.5-flash", "reasoning"),
        "Gemini 2.5 Flash GA Input Text Caching": ("gemini-2.5-flash", "cached_input"),
        "Gemini 2.5 Flash Lite GA Text Input - Predictions": ("gemini-2.5-flash-lite", "input"),
        "Gemini 2.5 Pro Text Output - Batch Predictions": ("gemini-2.5-pro", "batch_output"),
        "Gemini 3 Flash Text Input Caching Storage": ("gemini-3-flash", None),
        "Claude Sonnet 4.5 Input Tokens": ("claude-sonnet-4-5", "input"),
        "Claude 3.5 Sonnet v2 Output Tokens": ("claude-3-5-sonnet", "output"),
        "Claude Haiku 4.5 Cache Read Input Tokens": ("claude-haiku-4-5", "cached_input"),
    }
    p = _jsonl(tmp_path, *(_rec(sku=s, credits=[FREE]) for s in skus))
    df = preview(p)
    usage = df[df["ChargeCategory"] == "Usage"]
    for (_, row), (model, tt) in zip(usage.iterrows(), skus.values()):
        assert row["x_Model"] == model, row["SkuMeter"]
        assert (row["x_TokenType"] if isinstance(row["x_TokenType"], str) else None) == tt, row["SkuMeter"]
        assert row["x_Tokens"] == (41152260 if tt else None)
        assert row["ServiceSubcategory"] == "Generative AI"
    credits = df[df["ChargeCategory"] == "Credit"]
    assert credits["x_Model"].iloc[0] == "gemini-2.5-flash" and credits["x_Tokens"].isna().all()

    gpu_usage = {"amount": 7200, "unit": "seconds", "amount_in_pricing_units": 2, "pricing_unit": "hour"}
    p = _jsonl(tmp_path, _rec(sku="Nvidia Tesla A100 GPU running in Americas", usage=gpu_usage),
               _rec(sku="A2 Instance Core running in Americas", usage=gpu_usage,
                    system_labels=[{"key": "compute.googleapis.com/machine_spec", "value": "a2-highgpu-2g"}]),
               name="gpu.jsonl")
    df = preview(p)
    assert list(df["ConsumedUnit"]) == ["Hours", "Hours"] and df["ConsumedQuantity"][0] == 2
    assert list(df["x_GpuModel"]) == ["A100", "A100"]
    assert df["x_GpuHours"][0] == 2 and df["x_GpuHours"][1] is None  # no double count
    assert df["x_MachineSpec"][1] == "a2-highgpu-2g"


def test_unknown_cost_type_is_quarantined_not_dropped(tmp_path, ledger_dir):
    p = _jsonl(tmp_path, _rec(cost_type="tax", cost=1, credits=[]), _rec(cost_type="mystery", cost=2))
    f = ingest([p], ledger_dir).files[0]
    assert (f.rows, f.quarantined) == (1, 1)
    assert (f.errors[0].row, f.errors[0].column, f.errors[0].value) == (2, "ChargeCategory", "mystery")
    assert Ledger(ledger_dir).frame()["ChargeCategory"].tolist() == ["Tax"]
