"""AWS legacy CUR (aws-cur) and CUR 2.0 (aws-cur2) loaders."""

from __future__ import annotations

import csv
import gzip
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aifinops.errors import MissingColumnError, NumberParseError
from aifinops.formats import detect, get_format
from aifinops.formats.aws import LINE_ITEM_TYPES
from aifinops.ingest import ingest, preview
from aifinops.ledger import Ledger

CORPUS_FILE = "aws/focus_converters__sample-anonymous-aws-export-dataset.csv"

BASE = {
    "identity/LineItemId": "li",
    "bill/InvoicingEntity": "Amazon Web Services, Inc.",
    "bill/BillType": "Anniversary",
    "bill/PayerAccountId": "012345678901",
    "bill/BillingPeriodStartDate": "2025-03-01T00:00:00.000Z",
    "bill/BillingPeriodEndDate": "2025-04-01T00:00:00.000Z",
    "lineItem/UsageAccountId": "000123456789",
    "lineItem/LineItemType": "Usage",
    "lineItem/UsageStartDate": "2025-03-02T00:00:00.000Z",
    "lineItem/UsageEndDate": "2025-03-02T01:00:00.000Z",
    "lineItem/ProductCode": "AmazonEC2",
    "lineItem/UsageType": "USE1-BoxUsage:t3.micro",
    "lineItem/Operation": "RunInstances",
    "lineItem/UsageAmount": "1",
    "lineItem/CurrencyCode": "USD",
    "lineItem/UnblendedRate": "0.0104",
    "lineItem/UnblendedCost": "0.0104",
    "lineItem/LineItemDescription": "t3.micro",
    "lineItem/LegalEntity": "Amazon Web Services, Inc.",
    "product/ProductName": "Amazon Elastic Compute Cloud",
    "product/instanceType": "t3.micro",
    "product/region": "us-east-1",
    "pricing/publicOnDemandCost": "0.0104",
    "pricing/publicOnDemandRate": "0.0104",
    "pricing/term": "OnDemand",
    "pricing/unit": "Hrs",
    "reservation/ReservationARN": "",
    "reservation/EffectiveCost": "",
    "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod": "",
    "reservation/UnusedRecurringFee": "",
    "savingsPlan/SavingsPlanARN": "",
    "savingsPlan/SavingsPlanEffectiveCost": "",
    "savingsPlan/TotalCommitmentToDate": "",
    "savingsPlan/UsedCommitment": "",
    "resourceTags/user:team": "",
}

SP_ARN = "arn:aws:savingsplans::012345678901:savingsplan/sp-1"
RI_ARN = "arn:aws:ec2:us-east-1:012345678901:reserved-instances/ri-1"


def write_cur(path: Path, rows: list[dict], *, drop: tuple[str, ...] = (), gz: bool = False) -> Path:
    header = [c for c in BASE if c not in drop]
    opener = gzip.open if gz else open
    with opener(path, "wt", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, header, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({**BASE, **r})
    return path


def _v(x):
    """None for pandas' missing markers (NaN, NA, None)."""
    return None if pd.isna(x) else x


def row_of(df, i=0):
    return {k: _v(v) for k, v in df.iloc[i].to_dict().items()}


# -- corpus -----------------------------------------------------------------------------------

def _corpus_sums(path: Path) -> tuple[int, dict[str, Decimal]]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    n = 0
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for r in csv.DictReader(fh):
            n += 1
            sums[r["lineItem/CurrencyCode"]] += Decimal(r["lineItem/UnblendedCost"] or "0")
    return n, dict(sums)


@pytest.mark.corpus
def test_corpus_cur_ingests_and_reconciles_exactly(corpus, ledger_dir):
    path = corpus / CORPUS_FILE
    n, sums = _corpus_sums(path)
    rep = ingest([path], ledger_dir)
    f = rep.files[0]
    assert f.format == "aws-cur" and f.status == "ok", f.error
    assert (f.rows, f.quarantined) == (n, 0)
    billed = [r for r in f.recon if r["column"] == "BilledCost"]
    assert {r["currency"]: r["ledger_total"] for r in billed} == sums
    assert all(r["difference"] == 0 for r in f.recon)
    led = Ledger(ledger_dir)
    con_rows = led.frame(columns=["BillingAccountId", "SubAccountId", "ServiceName", "ChargeCategory",
                                  "BilledCost", "EffectiveCost", "ListCost", "ContractedCost"])
    assert set(con_rows["BillingAccountId"]) == {"123412340534"}
    assert set(con_rows["ChargeCategory"]) == {"Usage", "Tax"}
    assert con_rows[["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"]].notna().all().all()
    assert "Amazon Simple Storage Service" in set(con_rows["ServiceName"])
    # Decimal sum in the engine equals the csv module's Decimal sum
    total = sum((Decimal(str(v)) for v in con_rows["BilledCost"]), Decimal(0))
    assert abs(total - sums["USD"]) < Decimal("1e-12")


@pytest.mark.corpus
def test_corpus_detected_as_legacy_cur(corpus):
    assert detect(corpus / CORPUS_FILE).name == "aws-cur"


# -- mapping of line item types ---------------------------------------------------------------

TYPE_CASES = {
    # type: (extra fields, ChargeCategory, ChargeClass, Frequency, PricingCategory, Billed, Effective, List, Contracted, CD status)
    "Usage": ({}, "Usage", None, "Usage-Based", "Standard", "0.0104", "0.0104", "0.0104", "0.0104", None),
    "DiscountedUsage": ({"reservation/ReservationARN": RI_ARN, "lineItem/UnblendedCost": "0",
                         "reservation/EffectiveCost": "0.0062"},
                        "Usage", None, "Usage-Based", "Committed", "0", "0.0062", "0.0104", "0.0104", "Used"),
    "SavingsPlanCoveredUsage": ({"savingsPlan/SavingsPlanARN": SP_ARN, "savingsPlan/SavingsPlanEffectiveCost": "0.007"},
                                "Usage", None, "Usage-Based", "Committed", "0.0104", "0.007", "0.0104", "0.0104", "Used"),
    "SavingsPlanNegation": ({"savingsPlan/SavingsPlanARN": SP_ARN, "lineItem/UnblendedCost": "-0.0104",
                             "pricing/publicOnDemandCost": ""},
                            "Usage", None, "Usage-Based", "Committed", "-0.0104", "0", "0", "0", None),
    "SavingsPlanUpfrontFee": ({"savingsPlan/SavingsPlanARN": SP_ARN, "lineItem/UnblendedCost": "8760",
                               "pricing/publicOnDemandCost": ""},
                              "Purchase", None, "One-Time", None, "8760", "0", "8760", "8760", None),
    "SavingsPlanRecurringFee": ({"savingsPlan/SavingsPlanARN": SP_ARN, "lineItem/UnblendedCost": "720",
                                 "savingsPlan/TotalCommitmentToDate": "720", "savingsPlan/UsedCommitment": "700.5",
                                 "pricing/publicOnDemandCost": ""},
                                "Purchase", None, "Recurring", None, "720", "19.5", "720", "720", None),
    "RIFee": ({"reservation/ReservationARN": RI_ARN, "lineItem/UnblendedCost": "50",
               "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod": "1.25",
               "reservation/UnusedRecurringFee": "2.5", "pricing/publicOnDemandCost": ""},
              "Purchase", None, "Recurring", None, "50", "3.75", "50", "50", None),
    "Fee": ({"reservation/ReservationARN": RI_ARN, "lineItem/UnblendedCost": "1000", "pricing/publicOnDemandCost": ""},
            "Purchase", None, "One-Time", None, "1000", "0", "1000", "1000", None),
    "Tax": ({"lineItem/UnblendedCost": "1.13", "pricing/publicOnDemandCost": "0"},
            "Tax", None, "Recurring", None, "1.13", "1.13", "1.13", "1.13", None),
    "Credit": ({"lineItem/UnblendedCost": "-5", "pricing/publicOnDemandCost": ""},
               "Credit", None, "One-Time", None, "-5", "-5", "-5", "-5", None),
    "Refund": ({"lineItem/UnblendedCost": "-2", "pricing/publicOnDemandCost": ""},
               "Credit", "Correction", "One-Time", None, "-2", "-2", "-2", "-2", None),
    "EdpDiscount": ({"lineItem/UnblendedCost": "-0.001", "pricing/publicOnDemandCost": ""},
                    "Credit", None, "Usage-Based", None, "-0.001", "-0.001", "0", "-0.001", None),
    "BundledDiscount": ({"lineItem/UnblendedCost": "-0.002", "pricing/publicOnDemandCost": ""},
                        "Credit", None, "Usage-Based", None, "-0.002", "-0.002", "0", "-0.002", None),
    "SomethingNew": ({"lineItem/UnblendedCost": "3"}, "Adjustment", None, "One-Time", None, "3", "3", "0.0104", "3", None),
}


@pytest.fixture(scope="module")
def typed_rows(tmp_path_factory):
    """One CUR with a row per line item type of TYPE_CASES, previewed once."""
    rows = [{"lineItem/LineItemType": kind, **TYPE_CASES[kind][0]} for kind in TYPE_CASES]
    df = preview(write_cur(tmp_path_factory.mktemp("types") / "cur.csv", rows))
    return {kind: row_of(df, i) for i, kind in enumerate(TYPE_CASES)}


@pytest.mark.parametrize("kind", list(TYPE_CASES))
def test_line_item_type_mapping(typed_rows, kind):
    _, cat, cls, freq, pcat, billed, eff, lst, con, status = TYPE_CASES[kind]
    if kind == "SomethingNew":  # unknown types: an Adjustment at the unblended cost
        lst = "3"
    r = typed_rows[kind]
    assert r["x_QuarantineReason"] is None
    assert (r["ChargeCategory"], r["ChargeClass"], r["ChargeFrequency"]) == (cat, cls, freq)
    assert r["PricingCategory"] == pcat
    for col, want in (("BilledCost", billed), ("EffectiveCost", eff), ("ListCost", lst), ("ContractedCost", con)):
        assert Decimal(str(r[col])) == Decimal(want), (kind, col, r[col])
    assert r["CommitmentDiscountStatus"] == status
    assert r["x_LineItemType"] == kind


def test_table_covers_documented_types():
    documented = {"Usage", "DiscountedUsage", "SavingsPlanCoveredUsage", "SavingsPlanNegation",
                  "SavingsPlanUpfrontFee", "SavingsPlanRecurringFee", "RIFee", "Fee", "Tax", "Credit",
                  "Refund", "BundledDiscount", "Discount", "PrivateRateDiscount", "EdpDiscount"}
    assert documented <= set(LINE_ITEM_TYPES)


def test_commitment_columns(tmp_path):
    p = write_cur(tmp_path / "c.csv", [
        {"lineItem/LineItemType": "SavingsPlanCoveredUsage", "savingsPlan/SavingsPlanARN": SP_ARN,
         "savingsPlan/SavingsPlanEffectiveCost": "0.007"},
        {"lineItem/LineItemType": "DiscountedUsage", "reservation/ReservationARN": RI_ARN,
         "reservation/EffectiveCost": "0.006"},
    ])
    df = preview(p)
    assert list(df["CommitmentDiscountCategory"]) == ["Spend", "Usage"]
    assert list(df["CommitmentDiscountType"]) == ["Savings Plan", "Reserved Instance"]
    assert list(df["CommitmentDiscountId"]) == [SP_ARN, RI_ARN]
    assert list(df["CommitmentDiscountName"]) == ["sp-1", "ri-1"]


def test_savings_plan_pair_bills_once_and_amortizes(tmp_path, ledger_dir):
    rows = [
        {"lineItem/LineItemType": "SavingsPlanCoveredUsage", "savingsPlan/SavingsPlanARN": SP_ARN,
         "lineItem/UnblendedCost": "10", "savingsPlan/SavingsPlanEffectiveCost": "7", "pricing/publicOnDemandCost": "10"},
        {"lineItem/LineItemType": "SavingsPlanNegation", "savingsPlan/SavingsPlanARN": SP_ARN,
         "lineItem/UnblendedCost": "-10", "pricing/publicOnDemandCost": ""},
        {"lineItem/LineItemType": "SavingsPlanRecurringFee", "savingsPlan/SavingsPlanARN": SP_ARN,
         "lineItem/UnblendedCost": "8", "savingsPlan/TotalCommitmentToDate": "8", "savingsPlan/UsedCommitment": "7",
         "pricing/publicOnDemandCost": ""},
    ]
    rep = ingest([write_cur(tmp_path / "sp.csv", rows)], ledger_dir)
    assert rep.files[0].status == "ok", rep.files[0].error
    df = Ledger(ledger_dir).frame(columns=["BilledCost", "EffectiveCost"])
    # billed: 10 - 10 + 8 = 8 (the commitment fee); amortized: 7 used + 1 unused = 8
    assert Decimal(str(df["BilledCost"].sum())) == 8
    assert Decimal(str(df["EffectiveCost"].sum())) == 8


# -- values -----------------------------------------------------------------------------------

def test_account_ids_keep_leading_zeros(tmp_path, ledger_dir):
    p = write_cur(tmp_path / "a.csv", [{}])
    rep = ingest([p], ledger_dir)
    assert rep.files[0].status == "ok", rep.files[0].error
    df = Ledger(ledger_dir).frame(columns=["BillingAccountId", "SubAccountId"])
    assert (df["BillingAccountId"][0], df["SubAccountId"][0]) == ("012345678901", "000123456789")


def test_tags_and_extras(tmp_path):
    p = write_cur(tmp_path / "t.csv", [{"resourceTags/user:team": "search"}, {}])
    df = preview(p)
    assert json.loads(df["Tags"][0]) == {"team": "search"}
    assert _v(df["Tags"][1]) is None
    assert df["x_Team"][0] == "search"
    r = row_of(df)
    assert (r["x_UsageType"], r["x_Operation"], r["x_InstanceType"]) == ("USE1-BoxUsage:t3.micro", "RunInstances", "t3.micro")
    assert (r["ProviderName"], r["ServiceCategory"], r["RegionId"], r["ConsumedUnit"]) == ("AWS", "Compute", "us-east-1", "Hours")


def test_aws_generated_tags_keep_prefix(tmp_path):
    BASE_TAG = dict(BASE)
    path = tmp_path / "g.csv"
    header = list(BASE_TAG) + ["resourceTags/aws:createdBy"]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, header, lineterminator="\n")
        w.writeheader()
        w.writerow({**BASE_TAG, "resourceTags/user:team": "ml", "resourceTags/aws:createdBy": "Root:0123"})
    df = preview(path)
    assert json.loads(df["Tags"][0]) == {"team": "ml", "aws:createdBy": "Root:0123"}


def test_csv_gz_and_scientific_notation(tmp_path, ledger_dir):
    p = write_cur(tmp_path / "z.csv.gz", [{"lineItem/UnblendedCost": "1.46E-8"}, {"lineItem/UnblendedCost": "2.5"}], gz=True)
    rep = ingest([p], ledger_dir)
    f = rep.files[0]
    assert f.format == "aws-cur" and f.status == "ok", f.error
    assert f.recon[0]["ledger_total"] == Decimal("2.5000000146")


def test_mixed_currency_is_allowed_and_reconciled_per_currency(tmp_path, ledger_dir):
    p = write_cur(tmp_path / "m.csv", [{"lineItem/CurrencyCode": "USD", "lineItem/UnblendedCost": "1.5"},
                                      {"lineItem/CurrencyCode": "EUR", "lineItem/UnblendedCost": "2.25"}])
    f = ingest([p], ledger_dir).files[0]
    assert f.status == "ok", f.error
    billed = {r["currency"]: r["ledger_total"] for r in f.recon if r["column"] == "BilledCost"}
    assert billed == {"USD": Decimal("1.5"), "EUR": Decimal("2.25")}


# -- AI / GPU classification ------------------------------------------------------------------

BEDROCK = [
    ("USE1-Claude3.5Sonnet-input-tokens", "claude-3-5-sonnet", "input"),
    ("USW2-claude-sonnet-4-output-tokens", "claude-sonnet-4", "output"),
    ("USE1-Claude4.6Sonnet-cache-read-input-token-count", "claude-sonnet-4-6", "cached_input"),
    ("EUC1-NovaPro-cache-write-input-token-count", "nova-pro", "cache_write"),
    ("USE1-Mistral7B-cache-write-input-token-count", "Mistral7B", "cache_write"),
    ("USE1-Llama3-1-70b-batch-input-tokens", "Llama3-1-70b", "batch_input"),
    ("USE1-TitanText-output-tokens-batch", "TitanText", "batch_output"),
]


def test_bedrock_token_rows(tmp_path):
    rows = [{"lineItem/ProductCode": "AmazonBedrock", "product/ProductName": "Amazon Bedrock",
             "lineItem/UsageType": ut, "lineItem/UsageAmount": "1500", "pricing/unit": "tokens",
             "product/instanceType": "", "lineItem/UnblendedCost": "0.0045"} for ut, _, _ in BEDROCK]
    df = preview(write_cur(tmp_path / "b.csv", rows))
    assert list(df["x_Model"]) == [m for _, m, _ in BEDROCK]
    assert list(df["x_TokenType"]) == [t for _, _, t in BEDROCK]
    assert set(df["ServiceSubcategory"]) == {"Generative AI"}
    assert set(df["ServiceCategory"]) == {"AI and Machine Learning"}
    assert all(Decimal(str(v)) == 1500 for v in df["x_Tokens"])


def test_bedrock_thousand_token_unit(tmp_path):
    df = preview(write_cur(tmp_path / "k.csv", [{"lineItem/ProductCode": "AmazonBedrock",
                                               "lineItem/UsageType": "USE1-Claude3Haiku-input-tokens",
                                               "lineItem/UsageAmount": "2.5", "pricing/unit": "1K tokens",
                                               "product/instanceType": ""}]))
    assert Decimal(str(df["x_Tokens"][0])) == 2500
    assert df["ConsumedUnit"][0] == "1000 Tokens"


GPU_CASES = [
    ("USE1-BoxUsage:p4d.24xlarge", "p4d.24xlarge", "A100", "16"),
    ("USW2-BoxUsage:g5.xlarge", "", "A10G", "2"),
    ("BoxUsage:p5.48xlarge", "p5.48xlarge", "H100", "16"),
    ("USE1-SpotUsage:g6e.12xlarge", "", "L40S", "8"),
    ("USE1-BoxUsage:trn1.32xlarge", "trn1.32xlarge", "Trainium", "32"),
    ("USE1-BoxUsage:inf2.48xlarge", "", "Inferentia2", "24"),
    ("USE1-BoxUsage:g4dn.12xlarge", "g4dn.12xlarge", "T4", "8"),
    ("USE1-BoxUsage:t3.micro", "t3.micro", None, None),
]


def test_gpu_instances(tmp_path):
    """GPU model and GPU-hours (2 instance-hours x GPUs) from the instance type or usage type."""
    df = preview(write_cur(tmp_path / "g.csv", [{"lineItem/UsageType": ut, "product/instanceType": it,
                                               "lineItem/UsageAmount": "2"} for ut, it, _, _ in GPU_CASES]))
    for i, (ut, _, gpu, hours) in enumerate(GPU_CASES):
        assert _v(df["x_GpuModel"][i]) == gpu, ut
        got = _v(df["x_GpuHours"][i])
        assert (None if got is None else Decimal(str(got))) == (None if hours is None else Decimal(hours)), ut


def test_gpu_negation_row_adds_no_gpu_hours(tmp_path):
    df = preview(write_cur(tmp_path / "n.csv", [
        {"lineItem/LineItemType": "SavingsPlanCoveredUsage", "lineItem/UsageType": "USE1-BoxUsage:p5.48xlarge",
         "product/instanceType": "p5.48xlarge", "savingsPlan/SavingsPlanARN": SP_ARN,
         "savingsPlan/SavingsPlanEffectiveCost": "50"},
        {"lineItem/LineItemType": "SavingsPlanNegation", "lineItem/UsageType": "USE1-BoxUsage:p5.48xlarge",
         "product/instanceType": "p5.48xlarge", "savingsPlan/SavingsPlanARN": SP_ARN},
    ]))
    assert Decimal(str(df["x_GpuHours"][0])) == 8
    assert df["x_GpuHours"].isna()[1]


# -- malformed input --------------------------------------------------------------------------

def test_unparsable_cost_is_quarantined_with_typed_error(tmp_path, ledger_dir):
    p = write_cur(tmp_path / "bad.csv", [{"lineItem/UnblendedCost": "1.5"}, {"lineItem/UnblendedCost": "12,34x"}])
    f = ingest([p], ledger_dir).files[0]
    assert (f.status, f.rows, f.quarantined) == ("quarantined", 1, 1)
    err = f.errors[0]
    assert isinstance(err, NumberParseError)
    assert (err.file, err.row, err.column, err.value) == (str(p), 2, "lineItem/UnblendedCost", "12,34x")
    assert all(r["difference"] == 0 for r in f.recon)


def test_missing_required_column(tmp_path, ledger_dir):
    p = write_cur(tmp_path / "miss.csv", [{}], drop=("lineItem/CurrencyCode",))
    f = ingest([p], ledger_dir).files[0]
    assert f.status == "rejected"
    assert isinstance(f.error, MissingColumnError)
    assert f.error.column == "lineItem/CurrencyCode"
    assert f.error.file == str(p)


def test_missing_required_column_with_forced_format(tmp_path, ledger_dir):
    p = write_cur(tmp_path / "miss2.csv", [{}], drop=("lineItem/UnblendedCost", "lineItem/ProductCode"))
    f = ingest([p], ledger_dir, format="aws-cur").files[0]
    assert isinstance(f.error, MissingColumnError)


# -- CUR 2.0 ----------------------------------------------------------------------------------

CUR2_ROWS = [
    {"identity_line_item_id": "a", "bill_payer_account_id": "001122334455", "bill_bill_type": "Anniversary",
     "bill_billing_period_start_date": "2025-05-01T00:00:00Z", "bill_billing_period_end_date": "2025-06-01T00:00:00Z",
     "line_item_usage_account_id": "000000000042", "line_item_usage_account_name": "ml-prod",
     "line_item_line_item_type": "Usage", "line_item_usage_start_date": "2025-05-02T00:00:00Z",
     "line_item_usage_end_date": "2025-05-03T00:00:00Z", "line_item_product_code": "AmazonBedrock",
     "line_item_usage_type": "USE1-Claude4.6Sonnet-input-tokens", "line_item_operation": "InvokeModel",
     "line_item_usage_amount": 120000.0, "line_item_currency_code": "USD", "line_item_unblended_cost": 0.36,
     "line_item_unblended_rate": 0.000003, "pricing_public_on_demand_cost": 0.36, "pricing_unit": "tokens",
     "pricing_term": "OnDemand", "product_instance_type": None, "product_region_code": "us-east-1",
     "product": {"product_name": "Amazon Bedrock", "region": "us-east-1"},
     "resource_tags": {"user_team": "search", "user_feature": "rag"}},
    {"identity_line_item_id": "b", "bill_payer_account_id": "001122334455", "bill_bill_type": "Anniversary",
     "bill_billing_period_start_date": "2025-05-01T00:00:00Z", "bill_billing_period_end_date": "2025-06-01T00:00:00Z",
     "line_item_usage_account_id": "000000000042", "line_item_usage_account_name": "ml-prod",
     "line_item_line_item_type": "Usage", "line_item_usage_start_date": "2025-05-02T00:00:00Z",
     "line_item_usage_end_date": "2025-05-03T00:00:00Z", "line_item_product_code": "AmazonEC2",
     "line_item_usage_type": "USE1-BoxUsage:p4d.24xlarge", "line_item_operation": "RunInstances",
     "line_item_usage_amount": 3.0, "line_item_currency_code": "USD", "line_item_unblended_cost": 98.31,
     "line_item_unblended_rate": 32.77, "pricing_public_on_demand_cost": 98.31, "pricing_unit": "Hrs",
     "pricing_term": "OnDemand", "product_instance_type": "p4d.24xlarge", "product_region_code": "us-east-1",
     "product": {"product_name": "Amazon Elastic Compute Cloud"}, "resource_tags": {}},
]


def write_cur2_parquet(path: Path, rows=CUR2_ROWS) -> Path:
    import pandas as pd

    strs = [k for k in rows[0] if k not in ("product", "resource_tags") and not isinstance(rows[0][k], float)]
    fields = []
    for k in rows[0]:
        if k in ("product", "resource_tags"):
            fields.append(pa.field(k, pa.map_(pa.string(), pa.string())))
        elif k.endswith("_date"):
            fields.append(pa.field(k, pa.timestamp("ms")))
        elif k in strs:
            fields.append(pa.field(k, pa.string()))
        else:
            fields.append(pa.field(k, pa.float64()))  # AWS writes costs as double
    data = {}
    for f in fields:
        vals = [r[f.name] for r in rows]
        if f.name in ("product", "resource_tags"):
            vals = [list(v.items()) for v in vals]
        elif f.name.endswith("_date"):
            vals = [pd.Timestamp(v).tz_localize(None).to_pydatetime() for v in vals]
        data[f.name] = pa.array(vals, type=f.type)
    pq.write_table(pa.table(data, schema=pa.schema(fields)), path)
    return path


def write_cur2_csv(path: Path, rows=CUR2_ROWS) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: json.dumps(v) if isinstance(v, dict) else ("" if v is None else repr(v) if isinstance(v, float) else v)
                        for k, v in r.items()})
    return path


@pytest.mark.parametrize("writer,name", [(write_cur2_parquet, "cur2.parquet"), (write_cur2_csv, "cur2.csv")])
def test_cur2_with_map_columns(tmp_path, ledger_dir, writer, name):
    p = writer(tmp_path / name)
    assert detect(p).name == "aws-cur2"
    f = ingest([p], ledger_dir).files[0]
    assert f.status == "ok", f.error
    assert f.recon[0]["ledger_total"] == Decimal("98.67")  # doubles read exactly: 0.36 + 98.31
    df = Ledger(ledger_dir).frame()
    df = df.sort_values("x_SourceRow").reset_index(drop=True)
    assert list(df["ServiceName"]) == ["Amazon Bedrock", "Amazon Elastic Compute Cloud"]
    assert json.loads(df["Tags"][0]) == {"team": "search", "feature": "rag"}
    assert _v(df["Tags"][1]) is None
    assert (df["x_Team"][0], df["x_Feature"][0]) == ("search", "rag")
    assert (df["BillingAccountId"][0], df["SubAccountId"][0], df["SubAccountName"][0]) == \
        ("001122334455", "000000000042", "ml-prod")
    assert (df["x_Model"][0], df["x_TokenType"][0]) == ("claude-sonnet-4-6", "input")
    assert Decimal(str(df["x_Tokens"][0])) == 120000
    assert (df["x_GpuModel"][1], Decimal(str(df["x_GpuHours"][1]))) == ("A100", Decimal(24))
    assert str(df["ChargePeriodStart"][0]).startswith("2025-05-02 00:00:00")


def test_cur2_parquet_integer_account_ids_are_padded(tmp_path):
    rows = [dict(CUR2_ROWS[1])]
    p = write_cur2_parquet(tmp_path / "x.parquet", rows)
    t = pq.read_table(p)
    i = t.schema.get_field_index("bill_payer_account_id")
    t = t.set_column(i, "bill_payer_account_id", pa.array([1122334455], type=pa.int64()))
    pq.write_table(t, p)
    df = preview(p)
    assert df["BillingAccountId"][0] == "001122334455"


def test_cur2_missing_required_column(tmp_path, ledger_dir):
    rows = [{k: v for k, v in CUR2_ROWS[0].items() if k != "line_item_unblended_cost"}]
    p = write_cur2_csv(tmp_path / "m.csv", rows)
    f = ingest([p], ledger_dir).files[0]
    assert isinstance(f.error, MissingColumnError) and f.error.column == "line_item_unblended_cost"


def test_formats_registered():
    assert get_format("aws-cur").name == "aws-cur"
    assert get_format("aws-cur2").kinds == ("csv", "parquet")
