"""Oracle Cloud Infrastructure cost reports (``reports/cost-csv/*.csv[.gz]``).

One row per resource, SKU and hour, with ``/``-separated column names
(``lineItem/intervalUsageStart``, ``cost/myCost``, ``product/service`` ...), timestamps
without seconds (``2023-11-13T10:00Z``), amounts sometimes in scientific notation
(``2.323760000E-9``, read exactly as decimals) and one column per tag
(``tags/<namespace>.<key>`` for defined tags, ``tags/<key>`` for free-form tags).

Mapping (FOCUS 1.2):

* BilledCost = EffectiveCost = ContractedCost = ListCost = ``cost/myCost`` (the report
  carries no list price; reconciled exactly against the raw ``cost/myCost``).
* BillingAccountId = tenancy (``lineItem/tenantId``); SubAccount = compartment.
* ChargePeriod = ``lineItem/intervalUsageStart``/``End``; billing period = the calendar
  month (UTC) of the usage start. ChargeCategory ``Usage``; ``lineItem/isCorrection``
  true -> ChargeClass ``Correction``.
* ConsumedQuantity/PricingQuantity = ``usage/billedQuantity`` in ``cost/skuUnitDescription``.
* ServiceName = ``product/service``, ServiceCategory from the table ``SERVICE_CATEGORIES``.
* SkuId = ``cost/productSku``; SkuMeter and ChargeDescription = ``product/Description``
  (GPU and Generative AI lines are recognised from it by ``data/ai_skus/oci.csv``).
* Tags = JSON object of the non-empty ``tags/...`` columns, keys without ``tags/``.

Example:
    >>> from aifinops.formats.oci import OciCostFormat
    >>> from aifinops.formats.base import Probe
    >>> p = Probe("r.csv", "csv", columns=["lineItem/intervalUsageStart", "cost/myCost", "product/service",
    ...                                    "cost/currencyCode"])
    >>> OciCostFormat().sniff(p)
    True
"""

from __future__ import annotations

import json

from ..sql import Source, case_map, lit, q
from .base import Check, IngestOptions, Plan, Probe, Recon, SourceFormat, passthrough_x

__all__ = ["OciCostFormat", "FORMATS", "SERVICE_CATEGORIES", "PROVIDER"]

#: ledger ProviderName of OCI rows (``data/ai_skus/oci.csv`` matches it)
PROVIDER = "Oracle Cloud Infrastructure"

#: ``product/service`` -> FOCUS ServiceCategory (others: ``Other``)
SERVICE_CATEGORIES: dict[str, str] = {
    "COMPUTE": "Compute",
    "CONTAINER_ENGINE": "Compute",
    "FUNCTIONS": "Compute",
    "DATABASE": "Databases",
    "MYSQL": "Databases",
    "NOSQL": "Databases",
    "POSTGRESQL": "Databases",
    "BLOCK_STORAGE": "Storage",
    "OBJECTSTORE": "Storage",
    "FILE_STORAGE": "Storage",
    "NETWORK": "Networking",
    "LOAD_BALANCER": "Networking",
    "DNS": "Networking",
    "FASTCONNECT": "Networking",
    "TELEMETRY": "Management and Governance",
    "LOGGING": "Management and Governance",
    "ORACLE_STREAMING_SERVICE": "Integration",
    "INTEGRATION": "Integration",
    "VAULT": "Security",
    "KMS": "Security",
    "IDENTITY": "Identity",
    "API_GATEWAY": "Web",
    "ANALYTICS": "Analytics",
    "DATA_FLOW": "Analytics",
    "GENERATIVE_AI": "AI and Machine Learning",
    "GENERATIVE_AI_AGENTS": "AI and Machine Learning",
    "DATA_SCIENCE": "AI and Machine Learning",
    "AI_LANGUAGE": "AI and Machine Learning",
    "AI_VISION": "AI and Machine Learning",
    "AI_SPEECH": "AI and Machine Learning",
    "AI_DOCUMENT": "AI and Machine Learning",
}

_START = "lineItem/intervalUsageStart"
_END = "lineItem/intervalUsageEnd"
_COST = "cost/myCost"
_CURRENCY = "cost/currencyCode"
_SERVICE = "product/service"
_TAG_PREFIX = "tags/"

#: source columns mapped to ledger columns (all others are kept as ``x_`` columns)
_MAPPED = {
    "lineItem/tenantId", _START, _END, _SERVICE, "product/compartmentId", "product/compartmentName",
    "product/region", "product/availabilityDomain", "product/resourceId", "usage/billedQuantity",
    "cost/productSku", "product/Description", "cost/unitPrice", _COST, _CURRENCY,
    "cost/skuUnitDescription", "lineItem/isCorrection",
}


def tags_json(source: Source, columns: list[str], prefix: str) -> str:
    """SQL of a JSON object built from one column per tag (``<prefix><key>``), leaving out
    empty values; NULL when a row has no tag.

    >>> import duckdb
    >>> s = Source({"tags/a.team": "VARCHAR", "tags/env": "VARCHAR"})
    >>> duckdb.sql("SELECT " + tags_json(s, s.columns, "tags/") + " FROM (SELECT 'ml' AS \\"tags/a.team\\", "
    ...            "NULL AS \\"tags/env\\")").fetchall()
    [('{"a.team":"ml"}',)]
    """
    parts = [f"CASE WHEN {source.text(c)} IS NOT NULL THEN {lit(json.dumps(c[len(prefix):]) + ':')} || "
             f"to_json({source.text(c)}) END" for c in columns]
    if not parts:
        return "NULL"
    return f"NULLIF('{{' || concat_ws(',', {', '.join(parts)}) || '}}', '{{}}')"


class OciCostFormat(SourceFormat):
    """OCI cost reports (CSV, CSV.gz)."""

    name = "oci-cost"
    title = "Oracle Cloud Infrastructure cost reports (CSV, CSV.gz)"
    required = (_START, _COST, _SERVICE, _CURRENCY)
    kinds = ("csv",)

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        s = source
        start, end = s.ts(_START), s.ts(_END)
        cost = s.num(_COST)
        period = f"CAST(DATE_TRUNC('month', {start}) AS TIMESTAMPTZ)"
        correction = f"LOWER({s.text('lineItem/isCorrection')}) = 'true'"
        tag_cols = [c for c in s.columns if c.startswith(_TAG_PREFIX)]
        cols = {
            "BilledCost": cost,
            "EffectiveCost": cost,
            "ContractedCost": cost,
            "ListCost": cost,
            "ContractedUnitPrice": s.num("cost/unitPrice"),
            "BillingCurrency": f"UPPER({s.text(_CURRENCY)})",
            "BillingAccountId": s.text("lineItem/tenantId"),
            "BillingAccountType": lit("Tenancy"),
            "SubAccountId": s.text("product/compartmentId"),
            "SubAccountName": s.text("product/compartmentName"),
            "SubAccountType": lit("Compartment"),
            "BillingPeriodStart": period,
            "BillingPeriodEnd": f"({period} + INTERVAL 1 MONTH)",
            "ChargePeriodStart": start,
            "ChargePeriodEnd": f"COALESCE({end}, {start} + INTERVAL 1 HOUR)",
            "ChargeCategory": lit("Usage"),
            "ChargeClass": f"CASE WHEN {correction} THEN 'Correction' END",
            "ChargeFrequency": lit("Usage-Based"),
            "ChargeDescription": s.text("product/Description"),
            "PricingCategory": lit("Standard"),
            "ConsumedQuantity": s.num("usage/billedQuantity"),
            "ConsumedUnit": s.text("cost/skuUnitDescription"),
            "PricingQuantity": s.num("usage/billedQuantity"),
            "PricingUnit": s.text("cost/skuUnitDescription"),
            "ProviderName": lit(PROVIDER),
            "PublisherName": lit("Oracle"),
            "InvoiceIssuerName": lit(PROVIDER),
            "ServiceName": s.text(_SERVICE),
            "ServiceCategory": case_map(f"UPPER({s.text(_SERVICE)})", SERVICE_CATEGORIES, default="'Other'"),
            "RegionId": s.text("product/region"),
            "RegionName": s.text("product/region"),
            "AvailabilityZone": s.text("product/availabilityDomain"),
            "ResourceId": s.text("product/resourceId"),
            "SkuId": s.text("cost/productSku"),
            "SkuMeter": s.text("product/Description"),
            "Tags": tags_json(s, tag_cols, _TAG_PREFIX),
        }
        checks = [Check(c, "number", s.bad_num(c), q(c))
                  for c in (_COST, "usage/billedQuantity", "cost/unitPrice", "cost/myCostOverage",
                            "usage/billedQuantityOverage", "cost/unitPriceOverage") if s.has(c)]
        checks += [Check(c, "timestamp", s.bad_ts(c), q(c)) for c in (_START, _END) if s.has(c)]
        checks.append(Check(_START, "required", f"{s.text(_START)} IS NULL", q(_START)))
        checks.append(Check(_CURRENCY, "required", f"{s.text(_CURRENCY)} IS NULL", q(_CURRENCY)))
        recon = [Recon("BilledCost", cost, f"UPPER({s.text(_CURRENCY)})", _COST)]
        extra = {passthrough_x(c): s.text(c) for c in s.columns
                 if c not in _MAPPED and not c.startswith(_TAG_PREFIX) and not c.startswith("__")}
        return Plan(columns=cols, checks=checks, recon=recon, extra=extra)


FORMATS = [OciCostFormat()]
