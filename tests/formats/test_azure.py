"""Tests for aifinops.formats.azure: Azure EA / MCA cost details, actual and amortized."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from aifinops.errors import MissingColumnError, NumberParseError
from aifinops.formats import detect, get_format
from aifinops.formats.azure import english_name
from aifinops.ingest import ingest, preview

EA_HEADER = ["BillingAccountId", "BillingAccountName", "BillingPeriodStartDate", "BillingPeriodEndDate",
             "SubscriptionId", "SubscriptionName", "Date", "MeterCategory", "MeterName", "Quantity",
             "EffectivePrice", "Cost", "UnitPrice", "BillingCurrency", "ResourceLocation", "ConsumedService",
             "ResourceId", "Tags", "UnitOfMeasure", "ResourceGroup", "ChargeType", "Frequency", "PayGPrice",
             "PricingModel", "benefitId", "benefitName"]

RID = "/subscriptions/sub-1/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/aoai"


def ea_row(**kw) -> dict:
    row = {
        "BillingAccountId": "80012345", "BillingAccountName": "Contoso EA", "BillingPeriodStartDate": "09/01/2023",
        "BillingPeriodEndDate": "09/30/2023", "SubscriptionId": "sub-1", "SubscriptionName": "AI prod",
        "Date": "09/04/2023", "MeterCategory": "Virtual Machines", "MeterName": "D2 v3/D2s v3", "Quantity": "24",
        "EffectivePrice": "0.11", "Cost": "2.64", "UnitPrice": "0.11", "BillingCurrency": "USD",
        "ResourceLocation": "EastUS", "ConsumedService": "Microsoft.Compute", "ResourceId": RID,
        "Tags": '"team": "search","env": "prod"', "UnitOfMeasure": "1 Hour", "ResourceGroup": "rg-ai",
        "ChargeType": "Usage", "Frequency": "UsageBased", "PayGPrice": "0.11", "PricingModel": "OnDemand",
        "benefitId": "", "benefitName": "",
    }
    row.update(kw)
    return row


def write_csv(path: Path, header: list[str], rows: list[dict], *, bom: bool = True, crlf: bool = True,
              names: list[str] | None = None) -> Path:
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n" if crlf else "\n")
        w.writerow(names or header)
        for r in rows:
            w.writerow([r.get(c, "") for c in header])
    return path


def raw_total(path: Path, column: str) -> dict[str, Decimal]:
    """Independent oracle: the raw cost column summed per currency with Python decimals."""
    out: dict[str, Decimal] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for r in csv.DictReader(fh):
            out[r["BillingCurrency"]] = out.get(r["BillingCurrency"], Decimal(0)) + Decimal(r[column])
    return out


# -- corpus ----------------------------------------------------------------------------------

@pytest.mark.corpus
@pytest.mark.parametrize(("name", "rows", "dataset"), [
    ("finops-toolkit__EA_ActualCost_Small.csv", 11, "actual"),
    ("finops-toolkit__EA_AmortizedCost_Small.csv", 28, "amortized"),
])
def test_corpus_files_ingest_and_reconcile_exactly(corpus, tmp_path, name, rows, dataset):
    path = corpus / "azure" / name
    if not path.exists():
        pytest.skip(f"corpus file absent: {path}")
    assert detect(path).name == "azure-ea"
    res = ingest([path], tmp_path / "ledger").files[0]
    assert res.status == "ok", res.error
    assert (res.rows, res.quarantined) == (rows, 0)
    assert res.recon and all(r["difference"] == 0 for r in res.recon)
    df = preview(path)
    assert set(df["x_CostDataset"]) == {dataset}
    # EffectiveCost carries the file's own cost column in both datasets (no commitment purchase here)
    assert sum(df["EffectiveCost"], Decimal(0)) == raw_total(path, "Cost")["USD"].quantize(Decimal("1e-18"))
    assert set(df["BillingCurrency"]) == {"USD"}
    assert df["ChargePeriodStart"].notna().all()


@pytest.mark.corpus
def test_corpus_amortized_commitment_rows(corpus):
    path = corpus / "azure" / "finops-toolkit__EA_AmortizedCost_Small.csv"
    if not path.exists():
        pytest.skip(f"corpus file absent: {path}")
    df = preview(path)
    covered = df[df["PricingCategory"] == "Committed"]
    assert len(covered) == 2
    # covered usage is billed through the commitment purchase: BilledCost 0, EffectiveCost the amortized cost
    assert (covered["BilledCost"] == 0).all()
    assert set(covered["EffectiveCost"]) == {Decimal("0.493152"), Decimal("0.006000000468")}
    assert set(covered["CommitmentDiscountStatus"]) == {"Used"}
    assert set(covered["CommitmentDiscountType"]) == {"Reservation", "Savings Plan"}
    assert set(covered["CommitmentDiscountCategory"]) == {"Usage", "Spend"}


@pytest.mark.corpus
def test_corpus_actual_purchase_and_unit_blocks(corpus):
    path = corpus / "azure" / "finops-toolkit__EA_ActualCost_Small.csv"
    if not path.exists():
        pytest.skip(f"corpus file absent: {path}")
    df = preview(path)
    purchase = df[df["ChargeCategory"] == "Purchase"].iloc[0]
    assert purchase["BilledCost"] == Decimal("3.25") and pd.isna(purchase["ConsumedQuantity"])
    ops = df[df["x_PricingUnitDescription"] == "10K"]
    # 0.0004 blocks of 10K operations are 4 operations, priced per operation
    row = ops[ops["SkuMeter"] == "GRS List and Create Container Operations"].iloc[0]
    assert row["ConsumedQuantity"] == Decimal(4) and row["PricingUnit"] == "Units"
    assert row["ListUnitPrice"] == Decimal("0.00001")
    assert row["PricingQuantity"] * row["ListUnitPrice"] == row["BilledCost"]
    assert json.loads(row["Tags"])["databricks-environment"] == "true"


# -- dialects --------------------------------------------------------------------------------

def test_english_name():
    assert english_name("Ressourcengruppe (ResourceGroup)") == "ResourceGroup"
    assert english_name("\ufeffMaßeinheit (UnitOfMeasure) ") == "UnitOfMeasure"
    assert english_name("Cost") == "Cost"


def test_localized_german_headers(tmp_path):
    german = {"Date": "Datum", "Cost": "Kosten", "Quantity": "Menge", "UnitOfMeasure": "Maßeinheit",
              "ResourceGroup": "Ressourcengruppe", "MeterName": "Verbrauchseinheitsname"}
    names = [f"{german.get(c, c + ' lokal')} ({c})" for c in EA_HEADER]
    path = write_csv(tmp_path / "de.csv", EA_HEADER, [ea_row(Cost="12.5"), ea_row(Date="09/05/2023", Cost="1")],
                     names=names)
    assert detect(path).name == "azure-ea"
    res = ingest([path], tmp_path / "ledger").files[0]
    assert res.status == "ok", res.error
    assert res.recon[0]["source_total"] == Decimal("13.5") and res.recon[0]["difference"] == 0
    df = preview(path)
    assert list(df["x_ResourceGroup"]) == ["rg-ai", "rg-ai"]
    assert list(df["BilledCost"]) == [Decimal("12.5"), Decimal("1")]


def test_braceless_and_braced_tags(tmp_path):
    rows = [ea_row(Tags='"team": "Search","env": "prod"'), ea_row(Tags='{"team": "ads"}'), ea_row(Tags="")]
    path = write_csv(tmp_path / "t.csv", EA_HEADER, rows)
    df = preview(path)
    assert json.loads(df["Tags"][0]) == {"team": "Search", "env": "prod"}
    assert json.loads(df["Tags"][1]) == {"team": "ads"}
    assert pd.isna(df["Tags"][2])
    assert list(df["x_Team"][:2]) == ["search", "ads"]
    assert df["x_Environment"][0] == "prod"


def test_date_formats(tmp_path):
    rows = [ea_row(Date="09/04/2023"), ea_row(Date="9/4/2023", BillingPeriodStartDate="9/1/2023",
                                                   BillingPeriodEndDate="9/30/2023"),
            ea_row(Date="2023-09-04", BillingPeriodStartDate="2023-09-01", BillingPeriodEndDate="2023-09-30"),
            ea_row(Date="2023-09-04T00:00:00.0000000Z")]
    path = write_csv(tmp_path / "d.csv", EA_HEADER, rows)
    df = preview(path)
    assert df["x_QuarantineReason"].isna().all()
    assert {str(v) for v in df["ChargePeriodStart"]} == {"2023-09-04 00:00:00+00:00"}
    assert {str(v) for v in df["ChargePeriodEnd"]} == {"2023-09-05 00:00:00+00:00"}
    assert {str(v) for v in df["BillingPeriodEnd"]} == {"2023-10-01 00:00:00+00:00"}
    assert set(df["x_BillingPeriod"]) == {"2023-09"}


def test_unit_blocks_and_token_meters(tmp_path):
    rows = [
        ea_row(MeterCategory="Azure OpenAI", MeterName="gpt-4o 1120 Inp glbl Tokens", UnitOfMeasure="1K",
               Quantity="5", EffectivePrice="0.0025", UnitPrice="0.0025", PayGPrice="0.0025", Cost="0.0125",
               ConsumedService="Microsoft.CognitiveServices"),
        ea_row(MeterCategory="Azure OpenAI", MeterName="gpt-4o-mini-0718-Outp-regnl Tokens", UnitOfMeasure="1K",
               Quantity="2.5", Cost="0.0015", ConsumedService="Microsoft.CognitiveServices"),
        ea_row(MeterCategory="Azure OpenAI", MeterName="gpt 4.1 nano cached Inp glbl Tokens", UnitOfMeasure="1M",
               Quantity="0.25", Cost="0.00625", ConsumedService="Microsoft.CognitiveServices"),
        ea_row(MeterName="Hot LRS Write Operations", MeterCategory="Storage", UnitOfMeasure="10K", Quantity="0.5",
               Cost="0.0275"),
        ea_row(UnitOfMeasure="100 Hours", Quantity="0.24", Cost="2.64"),
        ea_row(MeterName="P10 LRS Disk", MeterCategory="Storage", UnitOfMeasure="1/Month", Quantity="0.0333",
               Cost="0.65"),
    ]
    path = write_csv(tmp_path / "u.csv", EA_HEADER, rows)
    df = preview(path)
    assert list(df["ConsumedQuantity"]) == [Decimal(5000), Decimal(2500), Decimal(250000), Decimal(5000),
                                            Decimal(24), Decimal("0.0333")]
    assert list(df["ConsumedUnit"]) == ["Tokens", "Tokens", "Tokens", "Units", "Hours", "Units/Month"]
    assert list(df["x_PricingBlockSize"]) == ["1000", "1000", "1000000", "10000", "100", "1"]
    assert df["ListUnitPrice"][0] == Decimal("0.0000025")
    assert list(df["x_Model"][:3]) == ["gpt-4o", "gpt-4o-mini", "gpt-4.1-nano"]
    assert list(df["x_TokenType"][:3]) == ["input", "output", "cached_input"]
    assert list(df["x_Tokens"][:3]) == [Decimal(5000), Decimal(2500), Decimal(250000)]
    assert df["x_Tokens"][3:].isna().all()
    assert set(df["ServiceCategory"][:3]) == {"AI and Machine Learning"}
    assert set(df["ServiceSubcategory"][:3]) == {"Generative AI"}


def test_gpu_vm_hours(tmp_path):
    rows = [ea_row(MeterName="NC24ads A100 v4", Quantity="24", Cost="88.152"),
            ea_row(MeterName="ND96isr H100 v5", Quantity="24", Cost="2354.4")]
    path = write_csv(tmp_path / "g.csv", EA_HEADER, rows)
    df = preview(path)
    assert list(df["x_GpuModel"]) == ["A100", "H100"]
    assert list(df["x_GpuHours"]) == [Decimal(24), Decimal(192)]


def test_resource_name_from_the_resource_id(tmp_path):
    """Without a ResourceName column, the name is the id's last segment (one trailing slash
    allowed), NULL when it has none; the type is the provider namespace and type."""
    ids = [RID, RID + "/", "/subscriptions/sub-1/resourceGroups/rg//", "/", "vm-7"]
    path = write_csv(tmp_path / "n.csv", EA_HEADER, [ea_row(ResourceId=i) for i in ids])
    df = preview(path)
    assert [x if isinstance(x, str) else None for x in df["ResourceName"]] == ["aoai", "aoai", None, None, "vm-7"]
    assert df["ResourceType"].tolist()[:2] == ["microsoft.cognitiveservices/accounts"] * 2
    assert df["ResourceType"].isna().tolist()[2:] == [True, True, True]


def test_eur_and_usd_in_one_file(tmp_path):
    rows = [ea_row(Cost="10.10", BillingCurrency="USD"), ea_row(Cost="5.05", BillingCurrency="EUR"),
            ea_row(Cost="0.01", BillingCurrency="eur")]
    path = write_csv(tmp_path / "m.csv", EA_HEADER, rows)
    res = ingest([path], tmp_path / "ledger").files[0]
    assert res.status == "ok", res.error
    billed = {r["currency"]: r for r in res.recon if r["column"] == "BilledCost"}
    assert set(billed) == {"EUR", "USD"}
    assert billed["EUR"]["ledger_total"] == Decimal("5.06") and billed["USD"]["ledger_total"] == Decimal("10.10")
    assert all(r["difference"] == 0 for r in res.recon)


def test_unparsable_cost_is_quarantined_with_typed_error(tmp_path):
    rows = [ea_row(Cost="1.00"), ea_row(Cost="12,x"), ea_row(Cost="2.00")]
    path = write_csv(tmp_path / "bad.csv", EA_HEADER, rows)
    res = ingest([path], tmp_path / "ledger").files[0]
    assert res.status == "quarantined"
    assert (res.rows, res.quarantined) == (2, 1)
    err = res.errors[0]
    assert isinstance(err, NumberParseError)
    assert (err.file, err.row, err.column, err.value) == (str(path), 2, "Cost", "12,x")
    assert res.recon[0]["ledger_total"] == Decimal("3") and res.recon[0]["difference"] == 0


def test_missing_required_column(tmp_path):
    header = [c for c in EA_HEADER if c != "Cost"]
    path = write_csv(tmp_path / "nocost.csv", header, [ea_row()])
    res = ingest([path], tmp_path / "ledger", format="azure-ea").files[0]
    assert res.status == "rejected"
    assert isinstance(res.error, MissingColumnError)
    assert res.error.column == "Cost" and res.error.file == str(path)
    with pytest.raises(MissingColumnError):
        preview(path, format="azure-ea")


def test_cost_in_billing_currency_alias_and_mca_camel_case(tmp_path):
    header = ["billingAccountId", "billingAccountName", "billingProfileId", "billingProfileName", "date",
              "meterCategory", "meterName", "meterId", "quantity", "unitOfMeasure", "costInBillingCurrency",
              "billingCurrency", "paygCostInBillingCurrency", "PayGPrice", "exchangeRatePricingToBilling",
              "unitPrice", "chargeType", "pricingModel", "tags", "ResourceId", "resourceLocation",
              "consumedService", "SubscriptionId", "subscriptionName", "ProductId", "invoiceId"]
    row = {"billingAccountId": "acct:1", "billingAccountName": "Fabrikam", "billingProfileId": "PROF-1",
           "billingProfileName": "Fabrikam EU", "date": "2025-03-02T00:00:00.0000000Z",
           "meterCategory": "Azure OpenAI", "meterName": "gpt 4.1 mini Inp glbl Tokens", "meterId": "m1",
           "quantity": "100", "unitOfMeasure": "1K", "costInBillingCurrency": "0.0368", "billingCurrency": "EUR",
           "paygCostInBillingCurrency": "0.04", "PayGPrice": "0.0004", "exchangeRatePricingToBilling": "0.92",
           "unitPrice": "0.000368", "chargeType": "Usage", "pricingModel": "OnDemand", "tags": '{"team": "eu"}',
           "ResourceId": RID, "resourceLocation": "swedencentral", "consumedService": "Microsoft.CognitiveServices",
           "SubscriptionId": "sub-eu", "subscriptionName": "EU", "ProductId": "DZH318Z0BQ4L", "invoiceId": "G1"}
    path = write_csv(tmp_path / "mca.csv", header, [row], bom=False, crlf=False)
    assert detect(path).name == "azure-mca"
    df = preview(path)
    r = df.iloc[0]
    assert (r["BillingAccountId"], r["BillingAccountType"], r["BillingAccountName"]) == \
        ("PROF-1", "Billing Profile", "Fabrikam EU")
    assert r["BilledCost"] == Decimal("0.0368") and r["ListCost"] == Decimal("0.04")
    assert r["ListUnitPrice"] == Decimal("0.000000368")  # 0.0004 USD x 0.92 per 1K tokens, per token
    assert (r["x_Model"], r["x_TokenType"], r["x_Tokens"]) == ("gpt-4.1-mini", "input", Decimal(100000))
    assert (r["SkuId"], r["InvoiceId"], r["ResourceName"]) == ("DZH318Z0BQ4L", "G1", "aoai")
    assert r["x_Team"] == "eu" and r["x_CostDataset"] == "actual"
    # an EA file with the other generation's names (CostInBillingCurrency, BillingCurrencyCode, ProductName)
    ea_header = [{"Cost": "CostInBillingCurrency", "BillingCurrency": "BillingCurrencyCode"}.get(c, c)
                 for c in EA_HEADER]
    rows = [{{"Cost": "CostInBillingCurrency", "BillingCurrency": "BillingCurrencyCode"}.get(k, k): v
             for k, v in ea_row(Cost="7.5").items()}]
    path2 = write_csv(tmp_path / "ea2.csv", ea_header, rows)
    assert detect(path2).name == "azure-ea"
    assert preview(path2)["BilledCost"][0] == Decimal("7.5")


def test_amortized_rules(tmp_path):
    ri = "/providers/Microsoft.Capacity/reservationOrders/o1/reservations/r1"
    rows = [
        ea_row(PricingModel="Reservation", Cost="0.5", benefitId=ri, benefitName="RI 1"),      # covered usage
        ea_row(ChargeType="UnusedReservation", PricingModel="Reservation", Cost="0.2", benefitId=ri),
        ea_row(Cost="1.25"),                                                                   # on-demand
    ]
    path = write_csv(tmp_path / "amortized.csv", EA_HEADER, rows)
    df = preview(path)
    assert set(df["x_CostDataset"]) == {"amortized"}
    assert list(df["BilledCost"]) == [Decimal(0), Decimal(0), Decimal("1.25")]
    assert list(df["EffectiveCost"]) == [Decimal("0.5"), Decimal("0.2"), Decimal("1.25")]
    assert list(df["CommitmentDiscountStatus"][:2]) == ["Used", "Unused"]
    assert list(df["ChargeCategory"]) == ["Usage", "Usage", "Usage"]
    assert pd.isna(df["ConsumedQuantity"][1])  # unused commitment consumes nothing
    res = ingest([path], tmp_path / "ledger").files[0]
    assert res.status == "ok" and all(r["difference"] == 0 for r in res.recon)
    totals = {r["column"]: r["ledger_total"] for r in res.recon}
    assert totals == {"BilledCost": Decimal("1.25"), "EffectiveCost": Decimal("1.95")}


def test_actual_dataset_detected_from_commitment_purchase(tmp_path):
    rows = [ea_row(ChargeType="Purchase", PricingModel="Reservation", Cost="100", Frequency="OneTime",
                   benefitId="/providers/Microsoft.Capacity/reservationOrders/o1/reservations/r1"),
            ea_row(ChargeType="Refund", PricingModel="Reservation", Cost="-10", Frequency="OneTime"),
            ea_row(ChargeType="RoundingAdjustment", Cost="0.01")]
    path = write_csv(tmp_path / "amortized_named_but_actual.csv", EA_HEADER, rows)
    df = preview(path)
    assert set(df["x_CostDataset"]) == {"actual"}
    assert list(df["BilledCost"]) == [Decimal(100), Decimal(-10), Decimal("0.01")]
    assert list(df["EffectiveCost"]) == [Decimal(100), Decimal(-10), Decimal("0.01")]
    assert list(df["ChargeCategory"]) == ["Purchase", "Purchase", "Adjustment"]
    assert list(df["ChargeClass"].fillna("")) == ["", "Correction", ""]
    assert df["ChargeFrequency"][0] == "One-Time"


def test_other_formats_are_not_claimed(tmp_path):
    path = tmp_path / "focus.csv"
    pd.DataFrame({"BilledCost": ["1"], "ChargePeriodStart": ["2025-01-01"]}).to_csv(path, index=False)
    assert not get_format("azure-ea").sniff(__import__("aifinops.formats.base", fromlist=["Probe"]).Probe.open(path))


def test_products_take_the_18_decimal_path_only_when_exact():
    """``UnitPrice x Quantity`` is computed at 18 decimals directly when the quantity has at
    most 8 (no 128-bit rounding); the value is the rounded 20-decimal product either way."""
    import random

    import duckdb
    import pyarrow as pa

    from aifinops.formats.azure import _mul10
    from aifinops.sql import Source

    rng = random.Random(7)

    def number() -> str:
        digits = "".join(rng.choice("0123456789") for _ in range(rng.choice([0, 1, 6, 8, 9, 10, 12, 18])))
        text = rng.choice(["-", ""]) + rng.choice(["0", "1", "123456", "99999999"]) + ("." + digits if digits else "")
        return rng.choice([text, text + "0", f"{rng.random():e}", " " + text, "", "0.000000005", "0.000000015"])

    s = Source({"a": "VARCHAR", "b": "VARCHAR"})
    a10, b10, b8 = s.num("a", "DECIMAL(38,10)"), s.num("b", "DECIMAL(38,10)"), s.num("b", "DECIMAL(38,8)")
    con = duckdb.connect()
    con.register("t", pa.table({"a": [number() for _ in range(20000)], "b": [number() for _ in range(20000)]}))
    total, differ, fast = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE ({_mul10(a10, b10)}) IS DISTINCT FROM ({_mul10(a10, b10, b8)})), "
        f"count(*) FILTER (WHERE CAST({b8} AS DECIMAL(38,10)) = {b10}) FROM t").fetchall()[0]
    assert (total, differ) == (20000, 0) and 3000 < fast < 17000


def test_unit_prices_per_block_take_the_18_decimal_path_only_when_exact():
    """A unit price per 1K/10K block divided into a price per unit: the same DECIMAL(38,18)
    with the short parse (no 128-bit rounding when the price has few decimals) as without."""
    import random
    from decimal import Decimal

    import duckdb
    import pyarrow as pa

    from aifinops.formats.azure import _inverse, _scaled
    from aifinops.sql import Source

    rng = random.Random(11)

    def number() -> str:
        digits = "".join(rng.choice("0123456789") for _ in range(rng.choice([0, 2, 6, 12, 14, 15, 16, 18])))
        return rng.choice(["-", ""]) + rng.choice(["0", "3", "12345"]) + ("." + digits if digits else "")

    units = {"1K": Decimal(1000), "10K": Decimal(10000), "100": Decimal(100), "3": Decimal(3), "1 Hour": Decimal(1)}
    inverses = {u: _inverse(b) for u, b in units.items() if b != 1}
    s = Source({"p": "VARCHAR", "u": "VARCHAR"})
    plain = _scaled(s.num("p"), s.text("u"), inverses)
    short = _scaled(s.num("p"), s.text("u"), inverses, lambda d: s.num("p", d))
    assert short.count("DECIMAL(38,15)") and short.count("DECIMAL(38,14)")
    con = duckdb.connect()
    con.register("t", pa.table({"p": [number() for _ in range(20000)], "u": [rng.choice(list(units)) for _ in range(20000)]}))
    total, differ = con.execute(f"SELECT count(*), count(*) FILTER (WHERE ({plain}) IS DISTINCT FROM ({short})) FROM t"
                                ).fetchall()[0]
    assert (total, differ) == (20000, 0)
