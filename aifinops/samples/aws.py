"""Render the ground truth's AWS rows as AWS Cost and Usage Reports.

The AWS months are split between the two AWS formats so that the ledger never counts a
month twice, the way a customer migrating from the legacy CUR to AWS Data Exports has them:

* the **first half** of the months (rounded up) as legacy CUR CSV.gz, one file per month:
  ``aws/cur-legacy-YYYY-MM.csv.gz`` (``lineItem/...`` headers, tags as
  ``resourceTags/user:<key>`` columns);
* the **remaining months** as CUR 2.0 Parquet in the Data Exports folder layout:
  ``aws/cur2/data/BILLING_PERIOD=YYYY-MM/cur2-00001.snappy.parquet`` (snake_case columns,
  ``product`` and ``resource_tags`` as ``MAP(VARCHAR, VARCHAR)``, tag keys ``user_<key>``).

Money and quantities are exact: decimal text in the CSV, ``decimal128(38, 18)`` in Parquet.
Account ids are written as text, keeping leading zeros: the truth's ``account_id`` is the
payer account (``bill/PayerAccountId``), ``project`` the usage account. The truth's ``sku``
is the usage type (Bedrock ``USE1-Claude3Haiku-input-tokens``, EC2 ``BoxUsage:p4d.24xlarge``);
token rows without one get ``<REGION>-<model>-input-tokens`` (``-output-tokens``,
``-cache-read-input-token-count``, ``-cache-write-input-token-count``, ``-batch-...``), GPU rows
``<REGION>-BoxUsage:<instance>`` with instance-hours = GPU-hours / GPUs per instance. Units
take AWS's spelling (``Hrs``, ``1K tokens``). Tags are the truth's ``tags`` exactly (rows
with ``{}`` carry none, as AWS tax, fee and credit lines do).

Example:
    >>> import tempfile, pathlib, datetime
    >>> from decimal import Decimal
    >>> import pandas as pd
    >>> from aifinops.samples import aws
    >>> truth = pd.DataFrame([{"date": datetime.date(2025, 1, 3), "provider": "aws",
    ...     "account_id": "012345678901", "service": "Amazon Bedrock", "region": "us-east-1",
    ...     "charge_type": "usage", "quantity": Decimal(1000), "cost": Decimal("0.003"),
    ...     "list_cost": Decimal("0.003"), "currency": "USD", "model": "claude-sonnet-4",
    ...     "token_type": "input", "tokens": Decimal(1000), "tags": {"team": "search"}}])
    >>> [p.name for p in aws.write(truth, pathlib.Path(tempfile.mkdtemp()))]
    ['cur-legacy-2025-01.csv.gz']
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pandas as pd

__all__ = ["write", "LEGACY_COLUMNS", "REGION_PREFIX", "GPU_INSTANCE", "TOKEN_SUFFIX"]

#: AWS usage-type region prefixes
REGION_PREFIX = {
    "us-east-1": "USE1", "us-east-2": "USE2", "us-west-1": "USW1", "us-west-2": "USW2",
    "ca-central-1": "CAN1", "eu-west-1": "EU", "eu-west-2": "EUW2", "eu-west-3": "EUW3",
    "eu-central-1": "EUC1", "eu-north-1": "EUN1", "ap-northeast-1": "APN1", "ap-northeast-2": "APN2",
    "ap-southeast-1": "APS1", "ap-southeast-2": "APS2", "ap-south-1": "APS3", "sa-east-1": "SAE1",
}

#: GPU model -> (an instance type carrying it, GPUs per instance)
GPU_INSTANCE = {
    "H100": ("p5.48xlarge", 8), "H200": ("p5e.48xlarge", 8), "A100": ("p4d.24xlarge", 8),
    "A100-80GB": ("p4de.24xlarge", 8), "V100": ("p3.16xlarge", 8), "A10G": ("g5.xlarge", 1),
    "L4": ("g6.xlarge", 1), "L40S": ("g6e.xlarge", 1), "T4": ("g4dn.xlarge", 1),
    "Trainium": ("trn1.32xlarge", 16), "Inferentia2": ("inf2.xlarge", 1),
}

#: token type -> Bedrock usage-type suffix
TOKEN_SUFFIX = {
    "input": "input-tokens", "output": "output-tokens", "cached_input": "cache-read-input-token-count",
    "cache_write": "cache-write-input-token-count", "cache_write_5m": "cache-write-input-token-count",
    "cache_write_1h": "cache-write-input-token-count", "batch_input": "batch-input-tokens",
    "batch_output": "batch-output-tokens", "reasoning": "output-tokens",
}

_PRODUCT_CODES = {
    "amazon bedrock": "AmazonBedrock", "bedrock": "AmazonBedrock",
    "amazon elastic compute cloud": "AmazonEC2", "amazon ec2": "AmazonEC2", "ec2": "AmazonEC2",
    "amazon simple storage service": "AmazonS3", "amazon s3": "AmazonS3", "s3": "AmazonS3",
    "amazon sagemaker": "AmazonSageMaker", "sagemaker": "AmazonSageMaker",
    "amazon cloudwatch": "AmazonCloudWatch", "aws lambda": "AWSLambda", "lambda": "AWSLambda",
    "amazon relational database service": "AmazonRDS", "amazon rds": "AmazonRDS",
    "amazon dynamodb": "AmazonDynamoDB", "amazon opensearch service": "AmazonES",
    "aws data transfer": "AWSDataTransfer", "amazon virtual private cloud": "AmazonVPC",
    "aws support (business)": "AWSSupportBusiness", "aws support (enterprise)": "AWSSupportEnterprise",
}

#: truth pricing units -> AWS ``pricing/unit`` spelling
_UNITS = {"Hours": "Hrs", "1K Tokens": "1K tokens", "Tokens": "tokens", "1M Tokens": "1M tokens"}

_CHARGE_TYPES = {
    "usage": "Usage", "tax": "Tax", "credit": "Credit", "refund": "Refund", "fee": "Fee",
    "purchase": "Fee", "discount": "EdpDiscount", "support": "Fee",
}

_ATTR_TAGS = ("team", "feature", "environment", "user", "customer", "cost_center")

#: legacy CUR columns written (a realistic subset; tags follow as resourceTags/user:<key>)
LEGACY_COLUMNS = [
    "identity/LineItemId", "identity/TimeInterval", "bill/InvoiceId", "bill/InvoicingEntity",
    "bill/BillingEntity", "bill/BillType", "bill/PayerAccountId", "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate", "lineItem/UsageAccountId", "lineItem/LineItemType",
    "lineItem/UsageStartDate", "lineItem/UsageEndDate", "lineItem/ProductCode", "lineItem/UsageType",
    "lineItem/Operation", "lineItem/AvailabilityZone", "lineItem/ResourceId", "lineItem/UsageAmount",
    "lineItem/CurrencyCode", "lineItem/UnblendedRate", "lineItem/UnblendedCost",
    "lineItem/LineItemDescription", "lineItem/LegalEntity", "product/ProductName", "product/instanceType",
    "product/location", "product/region", "product/regionCode", "product/servicecode", "product/sku",
    "pricing/RateCode", "pricing/currency", "pricing/publicOnDemandCost", "pricing/publicOnDemandRate",
    "pricing/term", "pricing/unit",
]

_LEGACY_TO_CUR2 = {
    "identity/LineItemId": "identity_line_item_id", "identity/TimeInterval": "identity_time_interval",
    "bill/InvoiceId": "bill_invoice_id", "bill/InvoicingEntity": "bill_invoicing_entity",
    "bill/BillingEntity": "bill_billing_entity", "bill/BillType": "bill_bill_type",
    "bill/PayerAccountId": "bill_payer_account_id", "bill/BillingPeriodStartDate": "bill_billing_period_start_date",
    "bill/BillingPeriodEndDate": "bill_billing_period_end_date", "lineItem/UsageAccountId": "line_item_usage_account_id",
    "lineItem/LineItemType": "line_item_line_item_type", "lineItem/UsageStartDate": "line_item_usage_start_date",
    "lineItem/UsageEndDate": "line_item_usage_end_date", "lineItem/ProductCode": "line_item_product_code",
    "lineItem/UsageType": "line_item_usage_type", "lineItem/Operation": "line_item_operation",
    "lineItem/AvailabilityZone": "line_item_availability_zone", "lineItem/ResourceId": "line_item_resource_id",
    "lineItem/UsageAmount": "line_item_usage_amount", "lineItem/CurrencyCode": "line_item_currency_code",
    "lineItem/UnblendedRate": "line_item_unblended_rate", "lineItem/UnblendedCost": "line_item_unblended_cost",
    "lineItem/LineItemDescription": "line_item_line_item_description", "lineItem/LegalEntity": "line_item_legal_entity",
    "product/instanceType": "product_instance_type", "product/regionCode": "product_region_code",
    "product/servicecode": "product_servicecode", "product/sku": "product_sku",
    "pricing/RateCode": "pricing_rate_code", "pricing/currency": "pricing_currency",
    "pricing/publicOnDemandCost": "pricing_public_on_demand_cost",
    "pricing/publicOnDemandRate": "pricing_public_on_demand_rate", "pricing/term": "pricing_term",
    "pricing/unit": "pricing_unit",
}
_DECIMAL_COLUMNS = {"lineItem/UsageAmount", "lineItem/UnblendedRate", "lineItem/UnblendedCost",
                    "pricing/publicOnDemandCost", "pricing/publicOnDemandRate"}
_TS_COLUMNS = {"bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate", "lineItem/UsageStartDate",
               "lineItem/UsageEndDate"}
#: legacy columns that live in CUR 2.0's ``product`` map (key = value)
_PRODUCT_MAP = {"product/ProductName": "product_name", "product/location": "location", "product/region": "region"}


def _missing(v) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _dec(v) -> Decimal | None:
    if _missing(v):
        return None
    if isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(str(v))


def _text(d: Decimal | None) -> str:
    if d is None:
        return ""
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"


def _str(v) -> str:
    return "" if _missing(v) else str(v)


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _product_code(service: str, row) -> str:
    if not _missing(row.get("model")):
        return "AmazonBedrock"
    if not _missing(row.get("gpu_model")):
        return "AmazonEC2"
    code = _PRODUCT_CODES.get(service.strip().lower())
    if code:
        return code
    return "".join(w[:1].upper() + w[1:] for w in service.replace("-", " ").split()) or "AWSService"


def _tags(row) -> dict[str, str]:
    tags = row.get("tags")
    if isinstance(tags, str) and tags.strip().startswith("{"):
        import json

        tags = json.loads(tags)
    out: dict[str, str] = {}
    if isinstance(tags, dict):
        out = {str(k): str(v) for k, v in tags.items() if not _missing(v)}
    elif "tags" not in row:
        for k in _ATTR_TAGS:
            v = row.get(k)
            if not _missing(v) and str(v) != "":
                out[k] = str(v)
    return out


def _record(i: int, row: dict) -> tuple[dict[str, str | Decimal | datetime | None], dict[str, str]]:
    """One truth row as a legacy-CUR record (typed values) plus its tags. The truth's
    ``account_id`` is the payer (billing) account, ``project`` the usage (linked) account."""
    payer = _str(row.get("account_id")) or "000000000000"
    usage_account = _str(row.get("project")) or payer
    day = pd.Timestamp(row["date"]).to_pydatetime().replace(tzinfo=timezone.utc)
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    end = start + timedelta(days=1)
    bp_start = datetime(start.year, start.month, 1, tzinfo=timezone.utc)
    bp_end = datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=timezone.utc)
    region = _str(row.get("region")) or "us-east-1"
    prefix = REGION_PREFIX.get(region, region.replace("-", "").upper()[:4])
    service = _str(row.get("service")) or "AWS"
    code = _product_code(service, row)
    kind = _CHARGE_TYPES.get(_str(row.get("charge_type")).strip().lower(), "Usage")
    quantity = _dec(row.get("quantity"))
    cost = _dec(row.get("cost")) or Decimal(0)
    list_cost = _dec(row.get("list_cost"))
    unit = _str(row.get("pricing_unit"))
    model, token_type, gpu = _str(row.get("model")), _str(row.get("token_type")), _str(row.get("gpu_model"))
    sku = _str(row.get("sku"))
    instance = ""
    if model and kind == "Usage":
        # the truth's sku is the Bedrock usage type when it has one
        suffix = TOKEN_SUFFIX.get(token_type, token_type.replace("_", "-") + "-tokens")
        usage_type = sku if sku.endswith(suffix) else f"{prefix}-{model}-{suffix}"
        operation = "InvokeModelInference"
    elif gpu and kind == "Usage":
        instance, per = _instance(sku.split(":")[-1], gpu, _dec(row.get("gpu_hours")))
        usage_type = sku if sku.endswith(f":{instance}") else f"{prefix}-BoxUsage:{instance}"
        gpu_hours = _dec(row.get("gpu_hours"))
        if gpu_hours is not None and (quantity is None or quantity * per != gpu_hours):
            quantity = gpu_hours / per
        operation = "RunInstances"
    else:
        usage_type = (sku or code) if kind == "Usage" else ""
        operation = "" if kind != "Usage" else "Usage"
    unit = _UNITS.get(unit, unit)
    rate = _dec(row.get("unit_price"))
    lid = hashlib.sha1(f"{i}|{row.get('date')}|{row.get('resource_id')}|{sku}".encode()).hexdigest()[:40]
    rec = {
        "identity/LineItemId": lid,
        "identity/TimeInterval": f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}",
        "bill/InvoiceId": f"{bp_start:%Y%m}{payer[-6:]}",
        "bill/InvoicingEntity": "Amazon Web Services, Inc.",
        "bill/BillingEntity": "AWS",
        "bill/BillType": "Anniversary",
        "bill/PayerAccountId": payer,
        "bill/BillingPeriodStartDate": bp_start,
        "bill/BillingPeriodEndDate": bp_end,
        "lineItem/UsageAccountId": usage_account,
        "lineItem/UsageAccountName": _str(row.get("project_name")),
        "lineItem/LineItemType": kind,
        "lineItem/UsageStartDate": start if kind == "Usage" else bp_start,
        "lineItem/UsageEndDate": end if kind == "Usage" else bp_end,
        "lineItem/ProductCode": code,
        "lineItem/UsageType": usage_type,
        "lineItem/Operation": operation,
        "lineItem/AvailabilityZone": "",
        "lineItem/ResourceId": _str(row.get("resource_id")),
        "lineItem/UsageAmount": quantity,
        "lineItem/CurrencyCode": _str(row.get("currency")) or "USD",
        "lineItem/UnblendedRate": rate,
        "lineItem/UnblendedCost": cost,
        "lineItem/LineItemDescription": f"{service} {token_type or gpu or sku or kind}".strip(),
        "lineItem/LegalEntity": "Amazon Web Services, Inc.",
        "product/ProductName": service,
        "product/instanceType": instance,
        "product/location": region,
        "product/region": region,
        "product/regionCode": region,
        "product/servicecode": code,
        "product/sku": sku,
        "pricing/RateCode": "",
        "pricing/currency": _str(row.get("currency")) or "USD",
        "pricing/publicOnDemandCost": list_cost if kind == "Usage" else None,
        "pricing/publicOnDemandRate": rate if kind == "Usage" else None,
        "pricing/term": "OnDemand" if kind == "Usage" else "",
        "pricing/unit": unit if kind == "Usage" else "",
    }
    return rec, _tags(row)


def _gpus(instance: str) -> Decimal | None:
    """GPUs per instance from the AWS rules of ``aifinops/data/ai_skus/aws.csv`` (so the
    sample and the loader count GPUs the same way)."""
    import re

    from ..classify import load_rules

    for r in load_rules():
        if r.provider.lower() == "aws" and r.field == "x_InstanceType" and r.gpus_per_unit is not None:
            if re.search(r.pattern, instance):
                return r.gpus_per_unit
    return None


def _instance(sku: str, gpu: str, gpu_hours: Decimal | None) -> tuple[str, Decimal]:
    """The instance type of a GPU row and its GPUs: the truth's ``sku`` when it is a known GPU
    instance type whose GPU count divides the GPU-hours exactly, else the GPU's default."""
    if sku:
        per = _gpus(sku)
        if per and (gpu_hours is None or (gpu_hours / per) * per == gpu_hours):
            return sku, per
    instance, n = GPU_INSTANCE.get(gpu, ("p5.48xlarge", 8))
    return instance, _gpus(instance) or Decimal(n)


def write(truth: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write the truth's ``provider == 'aws'`` rows as legacy CUR CSV.gz (first half of the
    months) and CUR 2.0 Parquet (the rest) under ``out_dir/aws``.

    Args:
        truth: the ground-truth frame (``aifinops.samples.truth``'s columns).
        out_dir: the sample folder; files go to ``out_dir/aws/``.

    Returns:
        The files written, legacy CSVs first, in month order.
    """
    out_dir = Path(out_dir)
    aws = truth[truth["provider"].astype(str).str.lower() == "aws"]
    if aws.empty:
        return []
    rows = aws.to_dict("records")
    months = sorted({pd.Timestamp(r["date"]).strftime("%Y-%m") for r in rows})
    n_legacy = math.ceil(len(months) / 2)
    legacy_months, cur2_months = months[:n_legacy], months[n_legacy:]
    by_month: dict[str, list] = {m: [] for m in months}
    for i, row in enumerate(rows):
        by_month[pd.Timestamp(row["date"]).strftime("%Y-%m")].append(_record(i, row))
    written: list[Path] = []
    for m in legacy_months:
        written.append(_write_legacy(by_month[m], out_dir / "aws" / f"cur-legacy-{m}.csv.gz"))
    for m in cur2_months:
        written.append(_write_cur2(by_month[m], out_dir / "aws" / "cur2" / "data" / f"BILLING_PERIOD={m}"
                                   / "cur2-00001.snappy.parquet"))
    return written


def _write_legacy(records: list, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tag_keys = sorted({k for _, tags in records for k in tags})
    header = LEGACY_COLUMNS + [f"resourceTags/user:{k}" for k in tag_keys]
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0) as gz, \
            io.TextIOWrapper(gz, encoding="utf-8", newline="") as fh:  # mtime 0: same input, same bytes
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for rec, tags in records:
            line = []
            for c in LEGACY_COLUMNS:
                v = rec[c]
                if c in _DECIMAL_COLUMNS:
                    line.append(_text(v))
                elif c in _TS_COLUMNS:
                    line.append(_iso(v))
                else:
                    line.append(v or "")
            line += [tags.get(k, "") for k in tag_keys]
            w.writerow(line)
    return path


def _write_cur2(records: list, path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    dec = pa.decimal128(38, 18)
    q18 = Decimal("1e-18")
    cols: dict[str, list] = {}
    fields: list[pa.Field] = []
    for c, name in _LEGACY_TO_CUR2.items():
        if c in _DECIMAL_COLUMNS:
            cols[name] = [None if rec[c] is None else rec[c].quantize(q18) for rec, _ in records]
            fields.append(pa.field(name, dec))
        elif c in _TS_COLUMNS:
            cols[name] = [rec[c].replace(tzinfo=None) for rec, _ in records]
            fields.append(pa.field(name, pa.timestamp("ms")))
        else:
            cols[name] = [rec[c] or None for rec, _ in records]
            fields.append(pa.field(name, pa.string()))
    cols["line_item_usage_account_name"] = [rec["lineItem/UsageAccountName"] or None for rec, _ in records]
    fields.append(pa.field("line_item_usage_account_name", pa.string()))
    cols["product"] = [[(k, rec[c]) for c, k in _PRODUCT_MAP.items() if rec[c]] for rec, _ in records]
    fields.append(pa.field("product", pa.map_(pa.string(), pa.string())))
    cols["resource_tags"] = [[(f"user_{k}", v) for k, v in sorted(tags.items())] for _, tags in records]
    fields.append(pa.field("resource_tags", pa.map_(pa.string(), pa.string())))
    schema = pa.schema(fields)
    table = pa.table({f.name: pa.array(cols[f.name], type=f.type) for f in fields}, schema=schema)
    pq.write_table(table, path, compression="snappy")
    return path
