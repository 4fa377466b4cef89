"""Sample writer: the ground truth's FOCUS-native providers as FOCUS 1.2 CSV files.

Which rows: providers that ship FOCUS themselves and that no native-format writer
renders. The clouds' own FOCUS exports would duplicate their native sample files (AWS,
Azure, GCP and OCI rows are written by ``aws``/``azure``/``gcp``/``oci`` writers), so this
writer renders the truth's ``saas`` provider: **Pinecone** serverless (the vector database
behind ``semantic-search``), which bills as a FOCUS 1.2 file. One file per provider:
``focus/<vendor>-focus-1.2.csv`` with all 57 FOCUS 1.2 columns in spec order.

Mapping (documented here, nowhere else): ``cost`` -> BilledCost = EffectiveCost =
ContractedCost, ``list_cost`` -> ListCost, ``quantity`` -> PricingQuantity and (usage
rows) ConsumedQuantity, ``unit_price`` -> ContractedUnitPrice and ListUnitPrice (the
list unit price only where ``list_cost == cost``, the truth has no list unit price column),
charge types ``usage``/``tax``/``credit``/``purchase`` -> ``Usage``/``Tax``/``Credit``/
``Purchase`` and ``fee`` -> ``Purchase``; charge period one day (``purchase``/``fee``:
the month); billing period the calendar month; ``Tags`` compact JSON with sorted keys.
Decimals are written as plain text exactly as in the truth (never scientific notation),
timestamps as ``YYYY-MM-DDTHH:MM:SSZ``; rows sorted as in the truth; ``\\n`` line ends.

Example:
    >>> import tempfile
    >>> from aifinops.samples.truth import ground_truth
    >>> from aifinops.formats import detect
    >>> out = write(ground_truth(months=1), tempfile.mkdtemp())
    >>> [p.name for p in out], detect(out[0]).name
    (['pinecone-focus-1.2.csv'], 'focus')
"""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from .. import schema
from .truth import fmt_decimal

__all__ = ["write", "FOCUS_PROVIDERS", "row_to_focus"]

#: truth provider -> (vendor name as ProviderName/InvoiceIssuerName, file stem)
FOCUS_PROVIDERS: dict[str, tuple[str, str]] = {"saas": ("Pinecone", "pinecone")}

_CATEGORY = {"usage": "Usage", "tax": "Tax", "credit": "Credit", "purchase": "Purchase", "fee": "Purchase"}
_FREQUENCY = {"usage": "Usage-Based", "tax": "Recurring", "credit": "One-Time", "purchase": "Recurring",
              "fee": "Recurring"}
_SUBCATEGORY = {"Databases": "Other (Databases)", "AI and Machine Learning": "Generative AI",
                "Compute": "Other (Compute)", "Storage": "Other (Storage)"}


def _ts(d: date) -> str:
    return d.strftime("%Y-%m-%dT00:00:00Z")


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _text(v: object) -> str:
    if v is None or (not isinstance(v, (str, dict)) and pd.isna(v)):
        return ""
    return str(v)


def row_to_focus(row: dict, vendor: str) -> dict[str, str]:
    """One truth row (as a dict) -> the FOCUS 1.2 record (column -> text).

    >>> from decimal import Decimal
    >>> r = row_to_focus({"date": date(2025, 6, 3), "charge_type": "usage", "cost": Decimal("1.50"),
    ...     "list_cost": Decimal("1.50"), "quantity": Decimal("3"), "unit_price": Decimal("0.5"),
    ...     "currency": "USD", "account_id": "o1", "service": "S", "sku": "Reads", "tags": {"b": 1, "a": "x"}},
    ...     "Pinecone")
    >>> r["BilledCost"], r["ChargePeriodEnd"], r["BillingPeriodStart"], r["Tags"], len(r)
    ('1.50', '2025-06-04T00:00:00Z', '2025-06-01T00:00:00Z', '{"a":"x","b":1}', 57)
    """
    d = pd.Timestamp(row["date"]).date()
    ct = row["charge_type"]
    period_start = d.replace(day=1)
    monthly = ct in ("purchase", "fee")
    cost = fmt_decimal(row["cost"])
    same_list = row.get("list_cost") == row["cost"]
    qty = row.get("quantity")
    unit_price = fmt_decimal(row.get("unit_price"))
    sku = _text(row.get("sku"))
    resource = _text(row.get("resource_id"))
    category = _text(row.get("service_category")) or "Other"
    tags = row.get("tags") or {}
    rec = {c: "" for c in schema.FOCUS_12_COLUMNS}
    rec.update({
        "BilledCost": cost,
        "BillingAccountId": _text(row.get("account_id")),
        "BillingAccountName": _text(row.get("account_name")),
        "BillingAccountType": "Organization",
        "BillingCurrency": _text(row.get("currency")),
        "BillingPeriodStart": _ts(period_start),
        "BillingPeriodEnd": _ts(_next_month(period_start)),
        "ChargeCategory": _CATEGORY[ct],
        "ChargeDescription": " ".join(x for x in (_text(row.get("service")), sku) if x) or ct,
        "ChargeFrequency": _FREQUENCY[ct],
        "ChargePeriodStart": _ts(d),
        "ChargePeriodEnd": _ts(_next_month(d) if monthly else d + timedelta(days=1)),
        "ConsumedQuantity": fmt_decimal(qty) if ct == "usage" else "",
        "ConsumedUnit": _text(row.get("pricing_unit")) if ct == "usage" else "",
        "ContractedCost": cost,
        "ContractedUnitPrice": unit_price,
        "EffectiveCost": cost,
        "InvoiceId": f"{_text(row.get('account_id'))}-{period_start:%Y%m}",
        "ListCost": fmt_decimal(row.get("list_cost")),
        "ListUnitPrice": unit_price if same_list else "",
        "PricingCategory": "Standard" if qty is not None else "",
        "PricingCurrency": _text(row.get("currency")) if qty is not None else "",
        "PricingCurrencyContractedUnitPrice": unit_price,
        "PricingCurrencyEffectiveCost": cost,
        "PricingCurrencyListUnitPrice": unit_price if same_list else "",
        "PricingQuantity": fmt_decimal(qty),
        "PricingUnit": _text(row.get("pricing_unit")),
        "RegionId": _text(row.get("region")),
        "RegionName": _text(row.get("region")),
        "ResourceId": resource,
        "ResourceName": resource.rsplit("/", 1)[-1] if resource else "",
        "ResourceType": "Serverless Index" if resource else "",
        "ServiceCategory": category,
        "ServiceName": _text(row.get("service")) or "unknown",
        "ServiceSubcategory": _SUBCATEGORY.get(category, f"Other ({category})"),
        "SkuId": sku.upper().replace(" ", "-") if sku else "",
        "SkuMeter": sku,
        "SkuPriceId": f"{sku.upper().replace(' ', '-')}-{_text(row.get('region'))}" if sku else "",
        "SubAccountId": _text(row.get("project")),
        "SubAccountName": _text(row.get("project_name")),
        "SubAccountType": "Project" if _text(row.get("project")) else "",
        "Tags": json.dumps(tags, sort_keys=True, separators=(",", ":")) if tags else "",
    })
    rec["ProviderName"] = rec["PublisherName"] = rec["InvoiceIssuerName"] = vendor
    return rec


def write(truth: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write ``out_dir/focus/<vendor>-focus-1.2.csv`` for each FOCUS-native provider
    present in ``truth``; returns the files written (none if no such rows)."""
    out = Path(out_dir) / "focus"
    written: list[Path] = []
    for provider, (vendor, stem) in FOCUS_PROVIDERS.items():
        rows = truth[truth["provider"] == provider]
        if rows.empty:
            continue
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{stem}-focus-1.2.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(schema.FOCUS_12_COLUMNS), lineterminator="\n")
            w.writeheader()
            for rec in rows.to_dict("records"):
                w.writerow(row_to_focus(rec, vendor))
        written.append(path)
    return written
