"""Tests for aifinops.export: the FOCUS 1.2 file (columns, formats, exactness, atomic write)
and, in the slow tier, the FinOps Foundation's focus-validator on a realistic ledger.

The realistic ledger is ingested from FOCUS CSV files written here by code: AWS, Microsoft
and Google rows with Usage, Tax, Credit and Purchase charges, commitment discount purchase,
used and unused rows, a correction, GPU instance hours and AI token rows with x_ columns,
in two billing periods and two currencies.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from aifinops import schema
from aifinops.errors import InvalidValueError, LedgerError
from aifinops.export import export
from aifinops.ingest import ingest
from aifinops.ledger import Ledger

# ---------------------------------------------------------------------------------------
# the realistic FOCUS input
# ---------------------------------------------------------------------------------------

#: aifinops x_ columns the fixture carries (AI, GPU, attribution) plus a provider extra
X_COLUMNS = ("x_Model", "x_ModelProvider", "x_TokenType", "x_Tokens", "x_Requests", "x_GpuModel",
             "x_GpuHours", "x_Team", "x_Feature", "x_UsageType")

_COLS = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingAccountType",
    "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "CapacityReservationId",
    "CapacityReservationStatus", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
    "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory", "CommitmentDiscountId",
    "CommitmentDiscountName", "CommitmentDiscountQuantity", "CommitmentDiscountStatus",
    "CommitmentDiscountType", "CommitmentDiscountUnit", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "ContractedUnitPrice", "EffectiveCost", "InvoiceId", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
    "PricingCategory", "PricingCurrency", "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName",
    "ServiceSubcategory", "SkuId", "SkuMeter", "SkuPriceDetails", "SkuPriceId", "SubAccountId",
    "SubAccountName", "SubAccountType", "Tags",
) + X_COLUMNS


def _d(x) -> str:
    return format(Decimal(str(x)), "f")


def _period(month: str) -> tuple[str, str]:
    y, m = map(int, month.split("-"))
    ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
    return f"{y:04d}-{m:02d}-01T00:00:00Z", f"{ny:04d}-{nm:02d}-01T00:00:00Z"


def _day(month: str, day: int) -> tuple[str, str]:
    y, m = map(int, month.split("-"))
    start = f"{y:04d}-{m:02d}-{day:02d}T00:00:00Z"
    if day == 28:
        end = _period(month)[1] if m == 2 else f"{y:04d}-{m:02d}-29T00:00:00Z"
    else:
        end = f"{y:04d}-{m:02d}-{day + 1:02d}T00:00:00Z"
    return start, end


def _base(provider: dict, month: str, day: int) -> dict:
    bps, bpe = _period(month)
    cps, cpe = _day(month, day)
    r = {c: "" for c in _COLS}
    r.update(provider)
    r.update(BillingPeriodStart=bps, BillingPeriodEnd=bpe, ChargePeriodStart=cps, ChargePeriodEnd=cpe,
             InvoiceId=f"INV-{provider['ProviderName'][:3].upper()}-{month.replace('-', '')}")
    return r


def _usage(r: dict, *, qty, unit, list_price, contracted_price, effective=None, pricing_qty=None,
           pricing_unit=None, **kw) -> dict:
    qty = Decimal(str(qty))
    pq = Decimal(str(pricing_qty)) if pricing_qty is not None else qty
    lp, cp = Decimal(str(list_price)), Decimal(str(contracted_price))
    list_cost, contracted = pq * lp, pq * cp
    eff = Decimal(str(effective)) if effective is not None else contracted
    r.update(ChargeCategory="Usage", ChargeFrequency="Usage-Based", PricingCategory="Standard",
             ConsumedQuantity=_d(qty), ConsumedUnit=unit, PricingQuantity=_d(pq), PricingUnit=pricing_unit or unit,
             ListUnitPrice=_d(lp), ContractedUnitPrice=_d(cp), ListCost=_d(list_cost), ContractedCost=_d(contracted),
             BilledCost=_d(eff), EffectiveCost=_d(eff))
    r.update(PricingCurrency=r["BillingCurrency"], PricingCurrencyListUnitPrice=_d(lp),
             PricingCurrencyContractedUnitPrice=_d(cp), PricingCurrencyEffectiveCost=_d(eff))
    r.update({k: (v if isinstance(v, str) else _d(v)) for k, v in kw.items()})
    return r


AWS = dict(ProviderName="Amazon Web Services", PublisherName="Amazon Web Services",
           InvoiceIssuerName="Amazon Web Services", BillingAccountId="111122223333",
           BillingAccountName="Acme Payer", BillingAccountType="Billing Account", BillingCurrency="USD",
           SubAccountId="444455556666", SubAccountName="acme-ml-prod", SubAccountType="Linked Account")
AZURE = dict(ProviderName="Microsoft", PublisherName="Microsoft", InvoiceIssuerName="Microsoft",
             BillingAccountId="/providers/Microsoft.Billing/billingAccounts/9876", BillingAccountName="Acme EU",
             BillingAccountType="Billing Profile", BillingCurrency="EUR",
             SubAccountId="/subscriptions/0a1b2c3d-0000-4000-8000-000000000001", SubAccountName="acme-ai-eu",
             SubAccountType="Subscription")
GCP = dict(ProviderName="Google Cloud", PublisherName="Google Cloud", InvoiceIssuerName="Google Cloud",
           BillingAccountId="01ABCD-234567-89EFGH", BillingAccountName="Acme GCP", BillingAccountType="Billing Account",
           BillingCurrency="USD", SubAccountId="acme-vertex", SubAccountName="Acme Vertex", SubAccountType="Project")


def _tags(**kv) -> str:
    return json.dumps(kv, separators=(",", ":"))


def focus_rows(month: str) -> dict[str, list[dict]]:
    """The fixture's rows for one billing month, per provider."""
    aws: list[dict] = []
    sp_id = "arn:aws:savingsplans::111122223333:savingsplan/sp-0abc"
    for day in (3, 17):
        r = _base(AWS, month, day)
        aws.append(_usage(
            r, qty=24, unit="Hours", list_price="32.7726", contracted_price="32.7726", effective="21.302190",
            ChargeDescription="p4d.24xlarge On Demand Linux, covered by Savings Plan", ServiceName="Amazon Elastic Compute Cloud",
            ServiceCategory="Compute", ServiceSubcategory="Virtual Machines", ResourceId=f"i-0gpu{day:02d}",
            ResourceName="trainer", ResourceType="Instance", RegionId="us-east-1", RegionName="US East (N. Virginia)",
            AvailabilityZone="us-east-1a", SkuId="8VCNEHQMSCQS4P39", SkuPriceId="8VCNEHQMSCQS4P39.JRTCKXETXF",
            SkuMeter="BoxUsage", SkuPriceDetails=_tags(InstanceType="p4d.24xlarge", OperatingSystem="Linux"),
            PricingCategory="Committed", CommitmentDiscountId=sp_id, CommitmentDiscountName="ml-compute-sp",
            CommitmentDiscountCategory="Spend", CommitmentDiscountType="Compute Savings Plan",
            CommitmentDiscountStatus="Used", CommitmentDiscountQuantity="21.302190", CommitmentDiscountUnit="USD",
            BilledCost="0", Tags=_tags(team="research", feature="pretraining", env="prod"),
            x_GpuModel="A100", x_GpuHours=24 * 8, x_Team="research", x_Feature="pretraining",
            x_UsageType="USE1-BoxUsage:p4d.24xlarge"))
        for tok_type, qty, price in (("input", 1200000, "0.000003"), ("output", 250000, "0.000015")):
            r = _base(AWS, month, day)
            aws.append(_usage(
                r, qty=qty, unit="Tokens", list_price=price, contracted_price=price, pricing_qty=qty,
                ChargeDescription=f"Claude Sonnet 4 {tok_type} tokens", ServiceName="Amazon Bedrock",
                ServiceCategory="AI and Machine Learning", ServiceSubcategory="Generative AI",
                RegionId="us-east-1", RegionName="US East (N. Virginia)",
                SkuId="BDRK-SONNET4", SkuPriceId=f"BDRK-SONNET4-{tok_type}", SkuMeter=f"{tok_type.title()}Tokens",
                Tags=_tags(team="support-bot", feature="chat"),
                x_Model="claude-sonnet-4", x_ModelProvider="anthropic", x_TokenType=tok_type, x_Tokens=qty,
                x_Requests=1800, x_Team="support-bot", x_Feature="chat", x_UsageType=f"USE1-{tok_type}-tokens"))
    # the savings plan's own recurring fee (Purchase) and the unused part of the hour
    r = _base(AWS, month, 1)
    r.update(_period_charge(month))
    r.update(ChargeCategory="Purchase", ChargeFrequency="Recurring", ChargeDescription="Compute Savings Plan monthly fee",
             ServiceName="Amazon Elastic Compute Cloud", ServiceCategory="Compute", ServiceSubcategory="Virtual Machines",
             CommitmentDiscountId=sp_id, CommitmentDiscountName="ml-compute-sp", CommitmentDiscountCategory="Spend",
             CommitmentDiscountType="Compute Savings Plan", CommitmentDiscountQuantity="1000",
             CommitmentDiscountUnit="USD", PricingCategory="Committed",
             PricingQuantity="1000", PricingUnit="USD", ListUnitPrice="1", ContractedUnitPrice="1",
             BilledCost="1000.00", EffectiveCost="0", ListCost="1000.00", ContractedCost="1000.00",
             SkuId="SP-COMPUTE-1Y", SkuPriceId="SP-COMPUTE-1Y-NU", ResourceId=sp_id, ResourceName="ml-compute-sp",
             ResourceType="Savings Plan", RegionId="", RegionName="", PricingCurrency="USD", SkuMeter="SavingsPlanFee",
             PricingCurrencyListUnitPrice="1", PricingCurrencyContractedUnitPrice="1", PricingCurrencyEffectiveCost="0")
    aws.append(r)
    r = _base(AWS, month, 28)
    r.update(ChargeCategory="Usage", ChargeFrequency="Usage-Based", ChargeDescription="Unused Compute Savings Plan commitment",
             ServiceName="Amazon Elastic Compute Cloud", ServiceCategory="Compute", ServiceSubcategory="Virtual Machines",
             CommitmentDiscountId=sp_id, CommitmentDiscountName="ml-compute-sp", CommitmentDiscountCategory="Spend",
             CommitmentDiscountType="Compute Savings Plan", CommitmentDiscountStatus="Unused",
             CommitmentDiscountQuantity="957.395620", CommitmentDiscountUnit="USD", PricingCategory="Committed",
             BilledCost="0", EffectiveCost="957.395620", ListCost="0", ContractedCost="0",
             ResourceId=sp_id, ResourceName="ml-compute-sp", ResourceType="Savings Plan", SkuId="SP-COMPUTE-1Y",
             SkuPriceId="SP-COMPUTE-1Y-NU", SkuMeter="SavingsPlanUnused")
    aws.append(r)
    r = _base(AWS, month, 28)
    r.update(ChargeCategory="Tax", ChargeFrequency="Recurring", ChargeDescription="US sales tax", ServiceName="Tax",
             ServiceCategory="Other", ServiceSubcategory="Other (Other)", BilledCost="43.210000", EffectiveCost="43.210000",
             ListCost="43.210000", ContractedCost="43.210000")
    aws.append(r)
    r = _base(AWS, month, 20)
    r.update(ChargeCategory="Credit", ChargeFrequency="One-Time", ChargeDescription="AWS Activate credit",
             ServiceName="Amazon Bedrock", ServiceCategory="AI and Machine Learning", ServiceSubcategory="Generative AI",
             BilledCost="-150.5", EffectiveCost="-150.5", ListCost="0", ContractedCost="0",
             x_Team="support-bot")
    aws.append(r)
    r = _base(AWS, month, 21)
    r.update(ChargeCategory="Usage", ChargeClass="Correction", ChargeFrequency="Usage-Based",
             ChargeDescription="Refund of over-billed Bedrock tokens", ServiceName="Amazon Bedrock",
             ServiceCategory="AI and Machine Learning", ServiceSubcategory="Generative AI",
             BilledCost="-0.9", EffectiveCost="-0.9", ListCost="-0.9", ContractedCost="-0.9", PricingCategory="Standard",
             RegionId="us-east-1", RegionName="US East (N. Virginia)", SkuId="BDRK-SONNET4", SkuPriceId="BDRK-SONNET4-input",
             SkuMeter="InputTokens", x_Model="claude-sonnet-4", x_ModelProvider="anthropic")
    aws.append(r)

    azure: list[dict] = []
    for day, model, tok_type, qty, price in ((5, "gpt-4o", "input", 3000000, "0.0000023"),
                                             (5, "gpt-4o", "output", 400000, "0.0000092"),
                                             (9, "gpt-4o-mini", "cached_input", 9000000, "0.000000069")):
        r = _base(AZURE, month, day)
        azure.append(_usage(
            r, qty=qty, unit="Tokens", list_price=price, contracted_price=price,
            ChargeDescription=f"Azure OpenAI {model} {tok_type} tokens", ServiceName="Azure OpenAI Service",
            ServiceCategory="AI and Machine Learning", ServiceSubcategory="Generative AI",
            RegionId="swedencentral", RegionName="Sweden Central",
            ResourceId="/subscriptions/0a1b2c3d-0000-4000-8000-000000000001/resourceGroups/ai/providers/"
                       "Microsoft.CognitiveServices/accounts/acme-oai",
            ResourceName="acme-oai", ResourceType="Cognitive Services account",
            SkuId="DZH318Z0BQ4L", SkuPriceId=f"DZH318Z0BQ4L-{model}-{tok_type}", SkuMeter=f"{model} {tok_type}",
            Tags=_tags(team="search", feature="rag", CostCenter="CC-42"),
            x_Model=model, x_ModelProvider="openai", x_TokenType=tok_type, x_Tokens=qty, x_Team="search",
            x_Feature="rag"))
    r = _base(AZURE, month, 28)
    r.update(ChargeCategory="Tax", ChargeFrequency="Recurring", ChargeDescription="VAT", ServiceName="Tax",
             ServiceCategory="Other", ServiceSubcategory="Other (Other)", BilledCost="2.31", EffectiveCost="2.31",
             ListCost="2.31", ContractedCost="2.31")
    azure.append(r)

    gcp: list[dict] = []
    for day in (2, 12):
        r = _base(GCP, month, day)
        gcp.append(_usage(
            r, qty=36, unit="Hours", list_price="11.061250", contracted_price="9.955125",
            ChargeDescription="Nvidia H100 80GB GPU running in Americas", ServiceName="Compute Engine",
            ServiceCategory="Compute", ServiceSubcategory="Virtual Machines", RegionId="us-central1", RegionName="Iowa",
            AvailabilityZone="us-central1-a", ResourceId="projects/acme-vertex/instances/h100-node-1",
            ResourceName="h100-node-1", ResourceType="Virtual Machine", SkuId="E4D1-8F44-2B3A",
            SkuPriceId="E4D1-8F44-2B3A-std", SkuMeter="GPU", PricingCategory="Standard",
            Tags=_tags(team="research", env="dev"), x_GpuModel="H100", x_GpuHours=36, x_Team="research"))
        r = _base(GCP, month, day)
        gcp.append(_usage(
            r, qty="0.25", unit="GB-Hours", pricing_qty="0.25", pricing_unit="GiB-Hours", list_price="0.00005479",
            contracted_price="0.00005479", ChargeDescription="Standard Storage US Multi-region", ServiceName="Cloud Storage",
            ServiceCategory="Storage", ServiceSubcategory="Object Storage", RegionId="us-central1", RegionName="Iowa",
            SkuId="D973-5D65-BAB2", SkuPriceId="D973-5D65-BAB2-std", SkuMeter="PD Capacity"))
    return {"aws": aws, "azure": azure, "gcp": gcp}


def _period_charge(month: str) -> dict:
    bps, bpe = _period(month)
    return {"ChargePeriodStart": bps, "ChargePeriodEnd": bpe}


def write_focus_files(out_dir: Path, months: tuple[str, ...] = ("2025-05", "2025-06")) -> list[Path]:
    """Write one FOCUS CSV per provider (both months in each); returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    per: dict[str, list[dict]] = {}
    for m in months:
        for prov, rows in focus_rows(m).items():
            for r in rows:  # priced and billed in the same currency
                r["PricingCurrency"] = r["PricingCurrency"] or r["BillingCurrency"]
                r["PricingCurrencyEffectiveCost"] = r["PricingCurrencyEffectiveCost"] or r["EffectiveCost"]
            per.setdefault(prov, []).extend(rows)
    paths = []
    for prov, rows in per.items():
        p = out_dir / f"focus_{prov}.csv"
        with open(p, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(_COLS))
            w.writeheader()
            w.writerows(rows)
        paths.append(p)
    return paths


# ---------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DEC_RE = re.compile(r"^-?\d+(\.\d*[1-9])?$")
TS_COLS = [c for c in schema.FOCUS_12_COLUMNS if schema.COLUMNS[c].sql_type == "TIMESTAMPTZ"] + ["x_IngestedAt"]
DEC_COLS = [c for c in schema.FOCUS_12_COLUMNS if schema.COLUMNS[c].sql_type == schema.DECIMAL] + \
           ["x_Tokens", "x_Requests", "x_GpuHours"]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("export")
    rep = ingest(write_focus_files(d / "in"), d / "ledger")
    assert [f.status for f in rep.files] == ["ok", "ok", "ok"], [str(f.error) for f in rep.files]
    return d / "ledger"


@pytest.fixture(scope="module")
def csv_out(ledger, tmp_path_factory) -> Path:
    return export(ledger, tmp_path_factory.mktemp("out") / "focus.csv", fmt="focus-csv")


@pytest.fixture(scope="module")
def parquet_out(ledger, tmp_path_factory) -> Path:
    return export(ledger, tmp_path_factory.mktemp("out") / "focus.parquet", fmt="focus-parquet")


def _rows(path: Path) -> tuple[list[str], list[dict]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as fh:
        r = csv.DictReader(fh)
        return list(r.fieldnames), list(r)


def _totals(ledger_dir: Path) -> dict:
    df = Ledger(ledger_dir).query(
        "SELECT BillingCurrency, count(*) AS n, " + ", ".join(f"sum({c}) AS {c}" for c in schema.MONEY_COLUMNS)
        + " FROM ledger GROUP BY 1 ORDER BY 1")
    return {r["BillingCurrency"]: {k: r[k] for k in ("n",) + schema.MONEY_COLUMNS} for _, r in df.iterrows()}


# ---------------------------------------------------------------------------------------
# fast tests
# ---------------------------------------------------------------------------------------

def test_csv_columns_are_focus_12_in_spec_order_then_x(csv_out):
    header, rows = _rows(csv_out)
    assert header[:57] == list(schema.FOCUS_12_COLUMNS)
    assert all(c.startswith("x_") for c in header[57:])
    assert not set(header) & set(schema.FOCUS_13_COLUMNS)
    # aifinops' own x_ columns, the partition key and the loader-kept provider column
    assert {"x_SourceFile", "x_SourceRow", "x_Model", "x_TokenType", "x_Tokens", "x_GpuHours", "x_Team",
            "x_BillingPeriod", "x_UsageType"} <= set(header)
    assert len(rows) == 38


def test_parquet_columns_and_types(parquet_out):
    sch = pq.read_schema(parquet_out)
    assert sch.names[:57] == list(schema.FOCUS_12_COLUMNS)
    assert all(c.startswith("x_") for c in sch.names[57:])
    assert str(sch.field("BilledCost").type) == "decimal128(38, 18)"
    assert str(sch.field("ChargePeriodStart").type) == "timestamp[us, tz=UTC]"
    assert pq.read_metadata(parquet_out).num_rows == 38


def test_csv_timestamps_are_iso_utc_seconds(csv_out):
    _, rows = _rows(csv_out)
    seen = 0
    for r in rows:
        for c in TS_COLS:
            if r[c]:
                assert TS_RE.match(r[c]), (c, r[c])
                seen += 1
    assert seen >= 38 * 4
    assert rows[0]["BillingPeriodStart"] in ("2025-05-01T00:00:00Z", "2025-06-01T00:00:00Z")


def test_csv_decimals_plain_exact_no_exponent(csv_out, ledger):
    header, rows = _rows(csv_out)
    for r in rows:
        for c in DEC_COLS:
            v = r[c]
            if v:
                assert DEC_RE.match(v), (c, v)
                assert "e" not in v.lower()
    zero = [r for r in rows if r["ChargeCategory"] == "Purchase"]
    assert {r["EffectiveCost"] for r in zero} == {"0"}  # 0E-18 in the ledger
    assert {r["BilledCost"] for r in rows if r["ChargeCategory"] == "Credit"} == {"-150.5"}
    # the smallest unit price survives to the last digit
    assert "0.000000069" in {r["ListUnitPrice"] for r in rows}


def test_csv_json_columns_are_objects_and_nulls_empty(csv_out):
    header, rows = _rows(csv_out)
    tagged = [r for r in rows if r["Tags"]]
    assert tagged and all(isinstance(json.loads(r["Tags"]), dict) for r in tagged)
    assert json.loads(next(r["SkuPriceDetails"] for r in rows if r["SkuPriceDetails"])) == {
        "InstanceType": "p4d.24xlarge", "OperatingSystem": "Linux"}
    tax = next(r for r in rows if r["ChargeCategory"] == "Tax")
    assert tax["Tags"] == "" and tax["ConsumedQuantity"] == "" and tax["CapacityReservationId"] == ""
    raw = csv_out.read_text(encoding="utf-8")
    assert "NULL" not in raw and "None" not in raw and "nan" not in raw.lower().replace("nanoseconds", "")


@pytest.mark.parametrize("fmt,name", [("focus-csv", "rt.csv"), ("focus-parquet", "rt.parquet"),
                                      ("focus-csv", "rt.csv.gz")])
def test_round_trip_keeps_per_currency_totals_exactly(ledger, tmp_path, fmt, name):
    out = export(ledger, tmp_path / name, fmt=fmt)
    rep = ingest([out], tmp_path / "again")
    assert rep.files[0].status == "ok", rep.files[0].error
    before, after = _totals(ledger), _totals(tmp_path / "again")
    assert before == after
    assert set(before) == {"USD", "EUR"}
    assert all(isinstance(v, Decimal) for t in after.values() for k, v in t.items() if k != "n")


def test_round_trip_keeps_ai_columns(ledger, csv_out, tmp_path):
    ingest([csv_out], tmp_path / "again")
    q = ("SELECT x_Model, x_TokenType, sum(x_Tokens) AS t, sum(x_GpuHours) AS g FROM ledger "
         "GROUP BY ALL ORDER BY ALL")
    assert Ledger(ledger).query(q).equals(Ledger(tmp_path / "again").query(q))


def test_missing_service_subcategory_gets_focus_catch_all(tmp_path):
    f = tmp_path / "f.csv"
    f.write_text("BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ServiceCategory,ServiceName\n"
                 "1.5,2025-01-03,USD,Usage,Compute,VMs\n", encoding="utf-8")
    ingest([f], tmp_path / "l")
    _, rows = _rows(export(tmp_path / "l", tmp_path / "o.csv"))
    assert rows[0]["ServiceSubcategory"] == "Other (Compute)"


def test_missing_service_subcategory_takes_the_services_one(tmp_path):
    f = tmp_path / "f.csv"
    f.write_text("BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ServiceCategory,ServiceName,"
                 "ServiceSubcategory\n"
                 "1.5,2025-01-03,USD,Usage,AI and Machine Learning,Bedrock,Generative AI\n"
                 "0.5,2025-01-03,USD,Usage,AI and Machine Learning,Bedrock,\n"
                 "0.5,2025-01-03,USD,Usage,Compute,VMs,Virtual Machines\n"
                 "0.5,2025-01-03,USD,Usage,Compute,VMs,Containers\n"
                 "0.5,2025-01-03,USD,Usage,Compute,VMs,\n", encoding="utf-8")
    ingest([f], tmp_path / "l")
    _, rows = _rows(export(tmp_path / "l", tmp_path / "o.csv"))
    assert [r["ServiceSubcategory"] for r in rows] == [
        "Generative AI", "Generative AI", "Virtual Machines", "Containers", "Other (Compute)"]


def test_focus_13_columns_with_values_become_x_columns(tmp_path):
    f = tmp_path / "f.csv"
    f.write_text("BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory,HostProviderName,AllocatedMethodId\n"
                 "1.5,2025-01-03,USD,Usage,Acme Host,\n", encoding="utf-8")
    ingest([f], tmp_path / "l")
    header, rows = _rows(export(tmp_path / "l", tmp_path / "o.csv"))
    assert rows[0]["x_HostProviderName"] == "Acme Host"
    assert "HostProviderName" not in header and "x_AllocatedMethodId" not in header


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    f = tmp_path / "f.csv"
    f.write_text("BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory,Tags\n"
                 '1.5,2025-01-03,USD,Usage,"{""team"":""a""}"\n'
                 '2.5,2025-01-04,USD,Usage,"[1,2]"\n', encoding="utf-8")
    ingest([f], tmp_path / "l")
    out = tmp_path / "out" / "focus.csv"
    out.parent.mkdir()
    out.write_text("previous export\n")
    with pytest.raises(InvalidValueError) as exc:
        export(tmp_path / "l", out)
    assert exc.value.row == 2 and exc.value.column == "Tags" and exc.value.file == str(f)
    assert out.read_text() == "previous export\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["focus.csv"]  # no temp file left


def test_atomic_write_replaces_existing_file(ledger, tmp_path):
    out = tmp_path / "focus.parquet"
    out.write_text("old")
    export(ledger, out, fmt="focus-parquet")
    assert pq.read_metadata(out).num_rows == 38
    assert [p.name for p in tmp_path.iterdir()] == ["focus.parquet"]


def test_only_invoice_rows_by_default(ledger, tmp_path):
    _, rows = _rows(export(ledger, tmp_path / "none.csv", authority=()))
    assert rows == []
    _, rows = _rows(export(ledger, tmp_path / "all.csv", authority=None,
                           where="x_BillingPeriod = '2025-06'"))
    assert len(rows) == 19 and {r["x_CostAuthority"] for r in rows} == {"invoice"}


def test_errors(tmp_path, ledger):
    with pytest.raises(LedgerError):
        export(tmp_path / "nope", tmp_path / "o.csv")
    with pytest.raises(ValueError, match="unknown export format"):
        export(ledger, tmp_path / "o.csv", fmt="xlsx")
    with pytest.raises(ValueError, match="is a folder"):
        export(ledger, tmp_path, fmt="focus-csv")


def test_cli_export(ledger, tmp_path, capsys):
    from aifinops.cli import main

    out = tmp_path / "cli.parquet"
    assert main(["export", str(out), "--ledger", str(ledger), "--format", "focus-parquet"]) == 0
    assert pq.read_metadata(out).num_rows == 38
    assert "wrote" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------
# slow: the FinOps Foundation validator
# ---------------------------------------------------------------------------------------

#: defects of focus-validator 2.2.1 / requirements model 1.2.0.1 that only show with
#: ``--applicability-criteria ALL`` (rule -> why no FOCUS-conformant file can pass it)
VALIDATOR_BUGS = {
    "CommitmentDiscountStatus-C-004-C": "model Condition is CheckValue(CommitmentDiscountId, null) (inverted) and "
                                        "lacks ChargeCategory = 'Usage': demands a status on rows without a "
                                        "commitment discount, which CommitmentDiscountStatus-C-003-C forbids",
    "CapacityReservationStatus-C-004-C": "the SQL generator drops the rule's AND condition (CapacityReservationId "
                                         "not null and ChargeCategory 'Usage'): demands a status on every row",
}


def _load_focus_check():
    import importlib.util
    import sys

    if "focus_check" in sys.modules:
        return sys.modules["focus_check"]
    spec = importlib.util.spec_from_file_location("focus_check", Path(__file__).with_name("focus_check.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules["focus_check"] = mod
    spec.loader.exec_module(mod)
    return mod


def _validator():
    focus_check = _load_focus_check()

    if not (focus_check.VENV / "bin" / "focus-validator").exists() and focus_check.available_python() is None:
        pytest.skip("focus-validator needs Python >= 3.12 and none was found (python3.12, pyenv)")
    secs = focus_check.ensure_venv()
    if secs:
        print(f"created .venv-validator in {secs:.1f}s")
    return focus_check


@pytest.mark.slow
@pytest.mark.parametrize("fixture_name", ["csv_out", "parquet_out"])
def test_focus_validator_passes_with_zero_failed_rules(fixture_name, request):
    fc = _validator()
    res = fc.run(request.getfixturevalue(fixture_name))
    print(f"focus-validator {fixture_name}: {res.totals} in {res.seconds:.1f}s; "
          f"OR alternatives: {res.or_alternatives}")
    assert res.totals["pass"] > 100
    assert res.failed == [], "\n".join(line for line in res.output.splitlines() if line.startswith(("- ", "  Must")))


@pytest.mark.slow
def test_focus_validator_all_applicability_criteria(csv_out):
    fc = _validator()
    res = fc.run(csv_out, "--applicability-criteria", "ALL", known_bugs=frozenset(VALIDATOR_BUGS))
    print(f"focus-validator ALL criteria: {res.totals} in {res.seconds:.1f}s")
    assert res.totals["pass"] > 300
    assert res.failed == [], "\n".join(line for line in res.output.splitlines() if line.startswith(("- ", "  Must")))


def test_failure_count_excuses_only_losing_or_alternatives():
    fc = _load_focus_check()
    model = {"ModelRules": {
        "A": {"ValidationCriteria": {"Requirement": {"CheckFunction": "OR", "Items": [
            {"CheckFunction": "CheckModelRule", "ModelRuleId": "B"},
            {"CheckFunction": "CheckModelRule", "ModelRuleId": "C"}]}}},
        "R": {"ValidationCriteria": {"Requirement": {"CheckFunction": "AND", "Items": [
            {"CheckFunction": "CheckModelRule", "ModelRuleId": "A"},
            {"CheckFunction": "CheckModelRule", "ModelRuleId": "D"}]}}},
    }}
    # the OR passes through C: B is a losing alternative, not a failure
    assert fc.failed_rules({"A": "PASS", "B": "FAIL", "C": "PASS", "D": "PASS", "R": "PASS"}, model) == ([], ["B"])
    # both alternatives fail: everything up the tree is a failure
    assert fc.failed_rules({"A": "FAIL", "B": "FAIL", "C": "FAIL", "D": "PASS", "R": "FAIL"}, model)[0] == \
        ["A", "B", "C", "R"]
    # a known validator bug excuses itself and the composites failing only through it
    assert fc.failed_rules({"A": "PASS", "B": "PASS", "C": "PASS", "D": "FAIL", "R": "FAIL"}, model,
                           frozenset({"D"})) == ([], [])
    status, totals = fc.parse("x\nTotal: 2 | Pass: 1 | Fail: 1 | Skipped: 0\n✅ A-C-001-M: PASS\n❌ B-C-002-C: FAIL  (x)\n")
    assert status == {"A-C-001-M": "PASS", "B-C-002-C": "FAIL"} and totals["fail"] == 1


#: upstream ledger mappings that make the corpus export fail focus-validator (see the report)
CORPUS_UPSTREAM = (
    "azure.py: an EA reservation Purchase row of the actual-cost dataset keeps EffectiveCost = cost "
    "(EffectiveCost-C-005-C; the actual dataset carries no amortization rows to move it to). "
    "InvoiceId-C-003-C: the corpus rows carry no InvoiceId while FOCUS-fixture rows do; the model only accepts "
    "all-null or all-set")


@pytest.mark.slow
@pytest.mark.corpus
@pytest.mark.xfail(strict=True, reason=CORPUS_UPSTREAM)
def test_focus_validator_on_corpus_ledger(corpus, tmp_path):
    from aifinops.formats import all_formats

    fmts = all_formats()
    files = write_focus_files(tmp_path / "in")
    if "aws-cur" in fmts:
        files += sorted((corpus / "aws").glob("*.csv"))
    if "azure-ea" in fmts:
        files += sorted((corpus / "azure").glob("*.csv"))
    if "oci-cost" in fmts:
        files += sorted((corpus / "oci").glob("*.csv"))
    rep = ingest(files, tmp_path / "ledger")
    assert all(f.status == "ok" for f in rep.files), [str(f.error) for f in rep.files if f.error]
    fc = _validator()
    res = fc.run(export(tmp_path / "ledger", tmp_path / "focus.parquet", fmt="focus-parquet"))
    print(f"focus-validator corpus ledger: {res.totals}; failed: {res.failed}")
    assert res.failed == []
