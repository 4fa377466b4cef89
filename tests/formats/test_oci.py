"""OCI cost report loader: the real corpus file, exact amounts, tags, bad values."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from aifinops.errors import DateParseError, NumberParseError
from aifinops.formats import detect
from aifinops.ingest import ingest, preview
from aifinops.ledger import Ledger

CORPUS_FILE = "oci/focus_converters__reports_cost-csv_0000000030000269.csv"

HEADER = ("lineItem/referenceNo,lineItem/tenantId,lineItem/intervalUsageStart,lineItem/intervalUsageEnd,"
          "product/service,product/compartmentId,product/compartmentName,product/region,"
          "product/availabilityDomain,product/resourceId,usage/billedQuantity,usage/billedQuantityOverage,"
          "cost/subscriptionId,cost/productSku,product/Description,cost/unitPrice,cost/unitPriceOverage,"
          "cost/myCost,cost/myCostOverage,cost/currencyCode,cost/billingUnitReadable,cost/skuUnitDescription,"
          "cost/overageFlag,lineItem/isCorrection,lineItem/backreferenceNo,tags/Ops.Team,tags/env")


def _line(cost="1.5", start="2025-01-03T10:00Z", desc="Compute - Standard - E4 - OCPU", qty="2",
          unit="OCPU Hours", team="ml", env="", correction="false", service="COMPUTE") -> str:
    return (f"r1,ocid1.tenancy.oc1..t,{start},2025-01-03T11:00:00Z,{service},ocid1.compartment.oc1..c,ml,"
            f"us-ashburn-1,AD-1,ocid1.instance.oc1..i,{qty},,sub,B1,{desc},0.75,,{cost},,USD,{unit},{unit},"
            f"false,{correction},,{team},{env}")


def _file(tmp_path: Path, *lines: str) -> Path:
    p = tmp_path / "reports_cost-csv_0001.csv"
    p.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    return p


@pytest.mark.corpus
def test_corpus_file_ingests_and_reconciles_exactly(corpus, ledger_dir):
    path = corpus / CORPUS_FILE
    assert detect(path).name == "oci-cost"
    with open(path, newline="") as fh:
        raw = list(csv.DictReader(fh))
    expected = sum(Decimal(r["cost/myCost"]) for r in raw)
    f = ingest([path], ledger_dir).files[0]
    assert (f.format, f.status, f.rows, f.quarantined) == ("oci-cost", "ok", len(raw), 0)
    (rec,) = f.recon
    assert (rec["currency"], rec["source_total"], rec["difference"]) == ("USD", expected, 0)
    df = Ledger(ledger_dir).frame()
    assert sum(df["BilledCost"]) == expected
    assert set(df["ProviderName"]) == {"Oracle Cloud Infrastructure"}
    assert str(df["ChargePeriodStart"].min()) == "2023-11-13 05:00:00+00:00"
    assert set(df["x_BillingPeriod"]) == {"2023-11"}
    # scientific-notation amounts are exact
    assert Decimal("2.323760000E-9") in set(df["BilledCost"])
    cats = dict(zip(df["ServiceName"], df["ServiceCategory"]))
    assert cats["DATABASE"] == "Databases" and cats["TELEMETRY"] == "Management and Governance"
    tagged = df[df["Tags"].notna()]
    assert json.loads(tagged["Tags"].iloc[0])["Oracle-Tags.CreatedBy"].startswith("default/")


def test_tags_columns_become_json_without_empty_values(tmp_path):
    df = preview(_file(tmp_path, _line(team="ml", env=""), _line(team="", env="")))
    assert json.loads(df["Tags"][0]) == {"Ops.Team": "ml"}
    assert df["Tags"].isna()[1]


def test_mapping(tmp_path):
    df = preview(_file(tmp_path, _line(correction="true")))
    r = df.iloc[0]
    assert r["BilledCost"] == Decimal("1.5") == r["EffectiveCost"] == r["ListCost"]
    assert r["ConsumedQuantity"] == 2 and r["ConsumedUnit"] == "OCPU Hours"
    assert str(r["ChargePeriodStart"]) == "2025-01-03 10:00:00+00:00"
    assert str(r["BillingPeriodStart"]) == "2025-01-01 00:00:00+00:00"
    assert r["BillingAccountId"] == "ocid1.tenancy.oc1..t" and r["SubAccountName"] == "ml"
    assert r["ChargeClass"] == "Correction" and r["ServiceCategory"] == "Compute"


def test_gpu_sku_is_classified(tmp_path):
    df = preview(_file(tmp_path, _line(desc="Compute - GPU - A10", qty="6.48", unit="GPU Hours")))
    assert df["x_GpuModel"][0] == "A10" and df["x_GpuHours"][0] == Decimal("6.48")
    df = preview(_file(tmp_path, _line(desc="Compute - GPU - A100 - v2", qty="8", unit="GPU Per Hour")))
    assert df["x_GpuModel"][0] == "A100"


def test_bad_values_are_quarantined_with_typed_errors(tmp_path, ledger_dir):
    p = _file(tmp_path, _line(cost="1.25"), _line(cost="12.5x"), _line(start="yesterday"))
    f = ingest([p], ledger_dir).files[0]
    assert (f.status, f.rows, f.quarantined) == ("quarantined", 1, 2)
    e1, e2 = f.errors
    assert isinstance(e1, NumberParseError) and (e1.row, e1.column, e1.value) == (2, "cost/myCost", "12.5x")
    assert isinstance(e2, DateParseError) and (e2.row, e2.column) == (3, "lineItem/intervalUsageStart")
    assert e1.file == str(p)
    (rec,) = f.recon
    assert rec["ledger_total"] == Decimal("1.25") and rec["difference"] == 0
    assert len(Ledger(ledger_dir).quarantine_frame()) == 2
