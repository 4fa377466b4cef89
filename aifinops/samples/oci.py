"""Render the ground truth's Oracle Cloud rows as OCI cost reports.

One CSV per month, ``oci/reports_cost-csv_YYYYMM.csv``, with the 25 columns of a real
cost report (``lineItem/referenceNo`` ... ``lineItem/backreferenceNo``) followed by one
``tags/<key>`` column per tag key found in the month (truth keys such as ``Ops.Team`` are
OCI defined tags ``<namespace>.<key>``). As in real reports, ``lineItem/intervalUsageStart``
has no seconds (``2025-06-01T00:00Z``) while the end has (``2025-06-02T00:00:00Z``), and
amounts below 0.0001 are written in scientific notation (``1.5E-7``), exactly.

Truth rows other than usage (credits, adjustments) are written as correction lines
(``lineItem/isCorrection`` = ``true``) carrying their (negative) cost.

Example:
    >>> import tempfile, pathlib, datetime
    >>> from decimal import Decimal
    >>> import pandas as pd
    >>> from aifinops.samples import oci
    >>> truth = pd.DataFrame([{"date": datetime.date(2025, 1, 3), "provider": "oci",
    ...     "account_id": "ocid1.tenancy.oc1..aaaa", "project": "ocid1.compartment.oc1..bbbb",
    ...     "region": "us-ashburn-1", "service": "COMPUTE", "sku": "Compute - GPU - A10",
    ...     "charge_type": "usage", "pricing_unit": "GPU Hours", "quantity": Decimal("6.48"),
    ...     "unit_price": Decimal(2), "cost": Decimal("12.96"), "currency": "USD",
    ...     "tags": {"Ops.Team": "data-science"}}])
    >>> [p.name for p in oci.write(truth, pathlib.Path(tempfile.mkdtemp()))]
    ['reports_cost-csv_202501.csv']
"""

from __future__ import annotations

import csv
import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

from . import records_by_month

__all__ = ["write", "COLUMNS", "number"]

#: the fixed columns of a cost report (tags columns follow)
COLUMNS = (
    "lineItem/referenceNo", "lineItem/tenantId", "lineItem/intervalUsageStart", "lineItem/intervalUsageEnd",
    "product/service", "product/compartmentId", "product/compartmentName", "product/region",
    "product/availabilityDomain", "product/resourceId", "usage/billedQuantity", "usage/billedQuantityOverage",
    "cost/subscriptionId", "cost/productSku", "product/Description", "cost/unitPrice", "cost/unitPriceOverage",
    "cost/myCost", "cost/myCostOverage", "cost/currencyCode", "cost/billingUnitReadable",
    "cost/skuUnitDescription", "cost/overageFlag", "lineItem/isCorrection", "lineItem/backreferenceNo",
)


def number(value: Decimal | None) -> str:
    """Exact text of an amount, in scientific notation below 0.0001 as OCI writes it.

    >>> number(Decimal("0.00000015")), number(Decimal("12.9600000000")), number(None)
    ('1.5E-7', '12.9600000000', '')
    """
    if value is None:
        return ""
    if value != 0 and abs(value) < Decimal("0.0001"):
        return format(value.normalize(), "E")
    return format(value, "f")


def _na(v: object) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _s(v: object) -> str:
    return "" if _na(v) else str(v)


def _d(v: object) -> Decimal | None:
    return None if _na(v) else (v if isinstance(v, Decimal) else Decimal(str(v)))


def _row(i: int, row: dict, tag_keys: list[str]) -> dict:
    day = datetime.combine(pd.Timestamp(row["date"]).date(), datetime.min.time())
    sku = _s(row.get("sku")) or _s(row.get("service"))
    usage = row.get("charge_type") == "usage"
    ref = hashlib.md5(f"{i}|{day:%Y-%m-%d}|{row.get('resource_id')}|{sku}".encode()).hexdigest()
    tags = row.get("tags") if isinstance(row.get("tags"), dict) else {}
    out = {
        "lineItem/referenceNo": ref,
        "lineItem/tenantId": _s(row.get("account_id")),
        "lineItem/intervalUsageStart": day.strftime("%Y-%m-%dT%H:%MZ"),
        "lineItem/intervalUsageEnd": (day + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "product/service": _s(row.get("service")),
        "product/compartmentId": _s(row.get("project")),
        "product/compartmentName": _s(row.get("project_name")),
        "product/region": _s(row.get("region")),
        "product/availabilityDomain": "",
        "product/resourceId": _s(row.get("resource_id")),
        "usage/billedQuantity": number(_d(row.get("quantity"))) if usage else "",
        "usage/billedQuantityOverage": "",
        "cost/subscriptionId": "ocid1.organizationssubscription.oc1..northwind" + hashlib.md5(
            _s(row.get("account_id")).encode()).hexdigest()[:12],
        "cost/productSku": "B" + str(int(hashlib.md5(sku.encode()).hexdigest()[:6], 16) % 90000 + 10000),
        "product/Description": sku,
        "cost/unitPrice": number(_d(row.get("unit_price"))) if usage else "",
        "cost/unitPriceOverage": "",
        "cost/myCost": number(_d(row.get("cost")) or Decimal(0)),
        "cost/myCostOverage": "",
        "cost/currencyCode": _s(row.get("currency")) or "USD",
        "cost/billingUnitReadable": _s(row.get("pricing_unit")),
        "cost/skuUnitDescription": _s(row.get("pricing_unit")),
        "cost/overageFlag": "false",
        "lineItem/isCorrection": "false" if usage else "true",
        "lineItem/backreferenceNo": "",
    }
    for k in tag_keys:
        out["tags/" + k] = _s(tags.get(k))
    return out


def write(truth: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write the truth's ``provider == 'oci'`` rows as one cost report CSV per month under
    ``out_dir/oci/``.

    Args:
        truth: the ground-truth frame (``aifinops.samples.truth``'s columns).
        out_dir: the sample folder.

    Returns:
        The files written, in month order.
    """
    folder, by_month = records_by_month(truth, "oci", out_dir, "%Y%m")
    written: list[Path] = []
    for month, mrows in by_month.items():
        keys = sorted({str(k) for r in mrows if isinstance(r.get("tags"), dict) for k in r["tags"]})
        path = folder / f"reports_cost-csv_{month}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(COLUMNS) + ["tags/" + k for k in keys], lineterminator="\n")
            w.writeheader()
            for i, r in enumerate(mrows):
                w.writerow(_row(i, r, keys))
        written.append(path)
    return written
