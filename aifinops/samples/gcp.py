"""Render the ground truth's Google Cloud rows as Cloud Billing exports.

The months alternate between the two shapes a customer gets out of BigQuery, so no month
is counted twice:

* months 1, 3, 5, ... as **newline-delimited JSON** of the export table's nested records
  (``gcp/billing-export-YYYY-MM.jsonl``: ``service.{id,description}``, ``labels[]``,
  ``credits[]`` ...), the output of ``bq extract --destination_format NEWLINE_DELIMITED_JSON``;
* months 2, 4, 6, ... as a **flattened CSV** (``gcp/billing-export-YYYY-MM.csv``: dotted
  column names, ``labels``/``project.labels``/``system_labels``/``credits`` as JSON text).

Credits: each truth row with ``charge_type == 'credit'`` is attached to ``credits[]`` of
the usage row it mirrors (same date, project, service, SKU and resource; type
``PROMOTION``); a credit with no such usage row becomes a record of its own with
``cost`` 0 and the credit in ``credits[]``. Either way the ledger gets one Credit row per
truth credit row, and ``cost + credits`` equals the truth's cost exactly.

Other details: timestamps as BigQuery writes them (``2025-06-01 00:00:00 UTC``); truth tags
become ``labels`` with lower-cased values, as GCP label values must be (the tag map's case
rules restore e.g. ``CC-110``); hour-priced usage is in ``seconds`` with the hours in
``usage.amount_in_pricing_units``; token usage in ``count``. Money is written as exact
decimal text (JSON numbers, never through float).

Example:
    >>> import tempfile, pathlib, datetime
    >>> from decimal import Decimal
    >>> import pandas as pd
    >>> from aifinops.samples import gcp
    >>> truth = pd.DataFrame([{"date": datetime.date(2025, 1, 3), "provider": "gcp",
    ...     "account_id": "01A2B3-C4D5E6-F7A8B9", "project": "nw-prod", "region": "us-central1",
    ...     "service": "Vertex AI", "sku": "Gemini 2.5 Flash GA Text Input - Predictions",
    ...     "charge_type": "usage", "pricing_unit": "Tokens", "quantity": Decimal(1000),
    ...     "cost": Decimal("0.0003"), "list_cost": Decimal("0.0003"), "currency": "USD",
    ...     "tokens": Decimal(1000), "tags": {"team": "search"}}])
    >>> [p.name for p in gcp.write(truth, pathlib.Path(tempfile.mkdtemp()))]
    ['billing-export-2025-01.jsonl']
"""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

from . import records_by_month

__all__ = ["write", "SERVICE_IDS", "CSV_COLUMNS", "dumps"]

#: service description -> the export's service.id
SERVICE_IDS = {
    "Vertex AI": "C7E2-9256-1C43",
    "Compute Engine": "6F81-5844-456A",
    "Cloud Storage": "95FF-2EF5-5EA1",
    "BigQuery": "24E6-581D-38E5",
    "Kubernetes Engine": "CCD8-9BF1-090E",
    "Networking": "E505-1604-58F8",
}

#: columns of the flattened CSV
CSV_COLUMNS = (
    "billing_account_id", "service.id", "service.description", "sku.id", "sku.description",
    "usage_start_time", "usage_end_time", "project.id", "project.number", "project.name", "project.labels",
    "labels", "system_labels", "location.location", "location.country", "location.region", "location.zone",
    "resource.name", "resource.global_name", "cost", "currency", "currency_conversion_rate",
    "usage.amount", "usage.unit", "usage.amount_in_pricing_units", "usage.pricing_unit", "credits",
    "invoice.month", "cost_type", "cost_at_list", "export_time",
)

_COST_TYPE = {"usage": "regular", "tax": "tax", "adjustment": "adjustment", "fee": "regular",
              "purchase": "regular", "credit": "regular"}


def dumps(obj: object) -> str:
    """Compact JSON with :class:`~decimal.Decimal` written as exact number text.

    >>> dumps({"cost": Decimal("0.1000000000000000055511"), "a": [None, "x"]})
    '{"cost":0.1000000000000000055511,"a":[null,"x"]}'
    """
    if isinstance(obj, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + dumps(v) for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in obj) + "]"
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return json.dumps(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as exact JSON")


def _na(v: object) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _s(v: object) -> str | None:
    return None if _na(v) else str(v)


def _d(v: object) -> Decimal | None:
    return None if _na(v) else (v if isinstance(v, Decimal) else Decimal(str(v)))


def _hash(*parts: object, n: int = 12) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:n].upper()


def _ts(day: datetime) -> str:
    return day.strftime("%Y-%m-%d %H:%M:%S UTC")


def _labels(tags: object) -> list[dict]:
    if not isinstance(tags, dict):
        return []
    return [{"key": str(k).lower(), "value": str(v).lower()} for k, v in tags.items() if not _na(v)]


def _record(row: dict) -> dict:
    day = datetime.combine(pd.Timestamp(row["date"]).date(), datetime.min.time())
    service = _s(row.get("service")) or "Compute Engine"
    sku = _s(row.get("sku")) or service
    project = _s(row.get("project"))
    qty, unit = _d(row.get("quantity")), (_s(row.get("pricing_unit")) or "")
    tokens = _d(row.get("tokens"))
    if row.get("charge_type") != "usage" or qty is None:
        usage = {"amount": Decimal(0), "unit": "count", "amount_in_pricing_units": Decimal(0), "pricing_unit": "count"}
    elif tokens is not None:
        usage = {"amount": tokens, "unit": "count", "amount_in_pricing_units": tokens, "pricing_unit": "count"}
    elif "hour" in unit.lower():
        usage = {"amount": qty * 3600, "unit": "seconds", "amount_in_pricing_units": qty, "pricing_unit": "hour"}
    else:
        usage = {"amount": qty, "unit": unit.lower() or "count", "amount_in_pricing_units": qty,
                 "pricing_unit": unit.lower() or "count"}
    cost = _d(row.get("cost")) or Decimal(0)
    list_cost = _d(row.get("list_cost"))
    region = _s(row.get("region"))
    return {
        "billing_account_id": _s(row.get("account_id")),
        "service": {"id": SERVICE_IDS.get(service, _hash(service, n=4) + "-" + _hash(service, 1, n=4) + "-"
                                          + _hash(service, 2, n=4)), "description": service},
        "sku": {"id": "-".join(_hash(sku, i, n=4) for i in range(3)), "description": sku},
        "usage_start_time": _ts(day),
        "usage_end_time": _ts(day + timedelta(days=1)),
        "project": {"id": project, "number": str(int(_hash(project, n=10), 16))[:12] if project else None,
                    "name": _s(row.get("project_name")) or project, "labels": []},
        "labels": _labels(row.get("tags")),
        "system_labels": [],
        "location": {"location": region, "country": "US" if (region or "").startswith("us") else None,
                     "region": region, "zone": None},
        "resource": {"name": _s(row.get("resource_id")), "global_name": _s(row.get("resource_id"))},
        "cost": cost,
        "currency": _s(row.get("currency")) or "USD",
        "currency_conversion_rate": Decimal(1),
        "usage": usage,
        "credits": [],
        "invoice": {"month": day.strftime("%Y%m")},
        "cost_type": _COST_TYPE.get(str(row.get("charge_type")), "regular"),
        "cost_at_list": list_cost if list_cost is not None else cost,
        "export_time": _ts(day + timedelta(days=1, hours=6)),
    }


def _credit(row: dict) -> dict:
    service = _s(row.get("service")) or "Google Cloud"
    name = f"{service} promotional credit"
    return {"name": name, "amount": _d(row.get("cost")) or Decimal(0), "full_name": name,
            "id": "promotions/" + _hash(service, row.get("project"), n=8).lower(), "type": "PROMOTION"}


def _key(row: dict) -> tuple:
    return (str(pd.Timestamp(row["date"]).date()), _s(row.get("project")), _s(row.get("service")),
            _s(row.get("sku")), _s(row.get("resource_id")))


def _records(rows: list[dict]) -> list[dict]:
    records: list[dict] = []
    usage_at: dict[tuple, dict] = {}
    for row in rows:
        if row.get("charge_type") == "credit":
            continue
        rec = _record(row)
        records.append(rec)
        if row.get("charge_type") == "usage":
            usage_at.setdefault(_key(row), rec)
    for row in rows:
        if row.get("charge_type") != "credit":
            continue
        target = usage_at.get(_key(row))
        if target is None:  # a credit with no usage row: a record of its own, cost 0
            target = _record({**row, "charge_type": "usage", "quantity": None, "cost": Decimal(0),
                              "list_cost": Decimal(0), "tokens": None})
            records.append(target)
        target["credits"].append(_credit(row))
    return records


def _flat(rec: dict) -> dict:
    out: dict[str, str] = {}
    for col in CSV_COLUMNS:
        v: object = rec
        for part in col.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if isinstance(v, (list, dict)):
            out[col] = dumps(v)
        elif isinstance(v, Decimal):
            out[col] = format(v, "f")
        else:
            out[col] = "" if v is None else str(v)
    return out


def write(truth: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write the truth's ``provider == 'gcp'`` rows under ``out_dir/gcp/``: odd months
    (1st, 3rd, ...) as JSON lines, even months as flattened CSV.

    Args:
        truth: the ground-truth frame (``aifinops.samples.truth``'s columns).
        out_dir: the sample folder.

    Returns:
        The files written, in month order.
    """
    folder, by_month = records_by_month(truth, "gcp", out_dir)
    written: list[Path] = []
    for i, (month, mrows) in enumerate(by_month.items()):
        recs = _records(mrows)
        if i % 2 == 0:
            path = folder / f"billing-export-{month}.jsonl"
            path.write_text("".join(dumps(r) + "\n" for r in recs), encoding="utf-8")
        else:
            path = folder / f"billing-export-{month}.csv"
            with open(path, "w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
                w.writeheader()
                w.writerows(_flat(r) for r in recs)
        written.append(path)
    return written
