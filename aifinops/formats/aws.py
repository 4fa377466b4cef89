"""AWS Cost and Usage Reports: legacy CUR (``aws-cur``) and CUR 2.0 / Data Exports (``aws-cur2``).

``aws-cur``
    The legacy report with ``category/Column`` headers (``lineItem/UnblendedCost``,
    ``bill/PayerAccountId``, ``product/ProductName``, ``resourceTags/user:team`` ...), CSV or
    CSV.gz. The schema is dynamic (columns come and go month to month), so every optional
    column is read only when present.
``aws-cur2``
    AWS Data Exports ``COST_AND_USAGE_REPORT`` (CUR 2.0) with snake_case headers
    (``line_item_unblended_cost`` ...) and the map columns ``product`` and ``resource_tags``,
    as CSV/CSV.gz (maps written as JSON text) or Parquet (``MAP(VARCHAR, VARCHAR)``). The
    legacy CUR's Athena/Parquet flavour (same snake_case names, tags as
    ``resource_tags_user_<key>`` columns, product attributes as ``product_<attr>``) is read by
    the same loader.

How the FOCUS columns are computed (following AWS's own FOCUS 1.2 export and AWS's
documented amortization; see ``docs`` in ``LINE_ITEM_TYPES``):

* ``BilledCost`` = unblended cost, for every line item type: what the invoice sums. Covered
  usage keeps its on-demand unblended cost and the matching ``SavingsPlanNegation`` row
  cancels it, so the billed total is exact. Reconciled per currency against the raw
  ``lineItem/UnblendedCost`` (``line_item_unblended_cost``).
* ``EffectiveCost`` (amortized): ``DiscountedUsage`` -> ``reservation/EffectiveCost``;
  ``SavingsPlanCoveredUsage`` -> ``savingsPlan/SavingsPlanEffectiveCost``;
  ``SavingsPlanNegation`` and ``SavingsPlanUpfrontFee`` -> 0 (the upfront payment is spread
  over covered usage); ``SavingsPlanRecurringFee`` -> the unused commitment
  (``TotalCommitmentToDate - UsedCommitment``); ``RIFee`` -> the unused reservation
  (``UnusedAmortizedUpfrontFeeForBillingPeriod + UnusedRecurringFee``); a ``Fee`` row that
  carries a reservation ARN (an RI upfront purchase) -> 0; everything else -> unblended cost.
* ``ListCost`` = public on-demand cost (``pricing/publicOnDemandCost``) for usage rows (falling
  back to the unblended cost where AWS gives no public price), 0 for discounts and Savings
  Plan negation (list prices are before discounts), the unblended cost for taxes, fees,
  credits and refunds.
* ``ContractedCost`` = unblended cost (AWS's unblended rate already includes negotiated
  private rates; EDP and other discount rows are their own negative rows), except
  ``DiscountedUsage`` whose unblended cost is 0 -> public on-demand cost, and
  ``SavingsPlanNegation`` -> 0.

Tags: legacy ``resourceTags/user:team`` columns -> ``{"team": ...}``; AWS-generated tags keep
their prefix (``resourceTags/aws:createdBy`` -> ``"aws:createdBy"``). CUR 2.0
``resource_tags`` keys lose the ``user_`` prefix AWS adds to user-defined cost-allocation tags
(``user_team`` -> ``team``), the convention of AWS's FOCUS export; other keys are kept.

Account ids stay text with their leading zeros (Parquet integers are zero-padded to 12
digits). Provider columns kept as extras: ``x_UsageType``, ``x_Operation``,
``x_LineItemType``, ``x_InstanceType``, ``x_ServiceCode``, ``x_BillType``.

Example:
    >>> from aifinops.formats.aws import LINE_ITEM_TYPES
    >>> LINE_ITEM_TYPES["SavingsPlanCoveredUsage"].effective
    'sp_effective'
    >>> LINE_ITEM_TYPES["RIFee"].charge_category
    'Purchase'
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import MissingColumnError
from ..schema import DECIMAL
from ..sql import Source, case_map, lit, q
from .base import Check, IngestOptions, Plan, Probe, Recon, SourceFormat

__all__ = [
    "LineItemType",
    "LINE_ITEM_TYPES",
    "SERVICE_CATEGORY",
    "UNITS",
    "AwsCurFormat",
    "AwsCur2Format",
    "FORMATS",
]


@dataclass(frozen=True)
class LineItemType:
    """How one ``lineItem/LineItemType`` maps to FOCUS.

    Attributes:
        charge_category: FOCUS ChargeCategory.
        charge_class: ``Correction`` or None.
        charge_frequency: FOCUS ChargeFrequency.
        pricing_category: FOCUS PricingCategory; ``term`` = from ``pricing/term``.
        commitment_status: CommitmentDiscountStatus (``Used`` on covered usage) or None.
        consumed: whether ConsumedQuantity/ConsumedUnit are filled (real consumption).
        effective: cost role of EffectiveCost (see ``_cost_roles``).
        contracted: cost role of ContractedCost.
        list: cost role of ListCost.
    """

    charge_category: str
    charge_class: str | None
    charge_frequency: str
    pricing_category: str | None
    commitment_status: str | None
    consumed: bool
    effective: str
    contracted: str
    list: str


_L = LineItemType
#: every line item type AWS documents; unknown types map as ``_UNKNOWN`` (an Adjustment)
LINE_ITEM_TYPES: dict[str, LineItemType] = {
    "Usage": _L("Usage", None, "Usage-Based", "term", None, True, "unblended", "unblended", "public"),
    "DiscountedUsage": _L("Usage", None, "Usage-Based", "Committed", "Used", True, "ri_effective", "public", "public"),
    "SavingsPlanCoveredUsage": _L("Usage", None, "Usage-Based", "Committed", "Used", True, "sp_effective", "unblended", "public"),
    "SavingsPlanNegation": _L("Usage", None, "Usage-Based", "Committed", None, False, "zero", "zero", "zero"),
    "SavingsPlanUpfrontFee": _L("Purchase", None, "One-Time", None, None, False, "zero", "unblended", "unblended"),
    "SavingsPlanRecurringFee": _L("Purchase", None, "Recurring", None, None, False, "sp_unused", "unblended", "unblended"),
    "RIFee": _L("Purchase", None, "Recurring", None, None, False, "ri_unused", "unblended", "unblended"),
    "Fee": _L("Purchase", None, "One-Time", None, None, False, "fee", "unblended", "unblended"),
    "Tax": _L("Tax", None, "Recurring", None, None, False, "unblended", "unblended", "unblended"),
    "Credit": _L("Credit", None, "One-Time", None, None, False, "unblended", "unblended", "unblended"),
    "Refund": _L("Credit", "Correction", "One-Time", None, None, False, "unblended", "unblended", "unblended"),
    "BundledDiscount": _L("Credit", None, "Usage-Based", None, None, False, "unblended", "unblended", "zero"),
    "Discount": _L("Credit", None, "Usage-Based", None, None, False, "unblended", "unblended", "zero"),
    "EdpDiscount": _L("Credit", None, "Usage-Based", None, None, False, "unblended", "unblended", "zero"),
    "PrivateRateDiscount": _L("Credit", None, "Usage-Based", None, None, False, "unblended", "unblended", "zero"),
    "DistributorDiscount": _L("Credit", None, "Usage-Based", None, None, False, "unblended", "unblended", "zero"),
    "RiVolumeDiscount": _L("Credit", None, "Usage-Based", None, None, False, "unblended", "unblended", "zero"),
}
_UNKNOWN = _L("Adjustment", None, "One-Time", None, None, False, "unblended", "unblended", "unblended")

#: ``pricing/term`` -> PricingCategory for plain ``Usage`` rows (empty term -> Standard)
_TERMS = {"OnDemand": "Standard", "Reserved": "Committed", "Spot": "Dynamic", "SavingsPlan": "Committed"}

#: ``lineItem/ProductCode`` -> FOCUS ServiceCategory (others: ``Other``)
SERVICE_CATEGORY: dict[str, str] = {
    "AmazonBedrock": "AI and Machine Learning", "AmazonSageMaker": "AI and Machine Learning",
    "AmazonComprehend": "AI and Machine Learning", "AmazonRekognition": "AI and Machine Learning",
    "AmazonTextract": "AI and Machine Learning", "AmazonTranscribe": "AI and Machine Learning",
    "AmazonPolly": "AI and Machine Learning", "AmazonTranslate": "AI and Machine Learning",
    "AmazonLex": "AI and Machine Learning", "AmazonKendra": "AI and Machine Learning",
    "AmazonQ": "AI and Machine Learning", "AmazonPersonalize": "AI and Machine Learning",
    "AmazonForecast": "AI and Machine Learning",
    "AmazonEC2": "Compute", "AWSLambda": "Compute", "AmazonECS": "Compute", "AmazonEKS": "Compute",
    "AWSBatch": "Compute", "AmazonLightsail": "Compute", "AWSOutposts": "Compute",
    "AmazonECR": "Compute", "AWSFargate": "Compute", "AWSElasticBeanstalk": "Compute",
    "AmazonS3": "Storage", "AmazonEFS": "Storage", "AmazonFSx": "Storage", "AmazonS3GlacierDeepArchive": "Storage",
    "AmazonGlacier": "Storage", "AWSBackup": "Storage", "AWSStorageGateway": "Storage", "AmazonEBS": "Storage",
    "AmazonRDS": "Databases", "AmazonDynamoDB": "Databases", "AmazonElastiCache": "Databases",
    "AmazonRedshift": "Databases", "AmazonDocDB": "Databases", "AmazonNeptune": "Databases",
    "AmazonMemoryDB": "Databases", "AmazonKeyspaces": "Databases", "AmazonTimestream": "Databases",
    "AWSGlue": "Analytics", "AmazonAthena": "Analytics", "AmazonEMR": "Analytics", "AmazonElasticMapReduce": "Analytics",
    "AmazonKinesis": "Analytics", "AmazonKinesisFirehose": "Analytics", "AmazonQuickSight": "Analytics",
    "AmazonES": "Analytics", "AmazonOpenSearchService": "Analytics", "AmazonMSK": "Analytics",
    "AWSLakeFormation": "Analytics",
    "AmazonVPC": "Networking", "AmazonCloudFront": "Networking", "AmazonRoute53": "Networking",
    "AWSDataTransfer": "Networking", "AWSDirectConnect": "Networking", "AWSELB": "Networking",
    "AmazonApiGateway": "Networking", "AWSGlobalAccelerator": "Networking", "AWSTransitGateway": "Networking",
    "AmazonSNS": "Integration", "AWSQueueService": "Integration", "AmazonSQS": "Integration",
    "AWSEvents": "Integration", "AmazonEventBridge": "Integration", "AmazonMQ": "Integration",
    "AmazonStates": "Integration", "AWSStepFunctions": "Integration", "AWSAppSync": "Integration",
    "AmazonCloudWatch": "Management and Governance", "AWSCloudTrail": "Management and Governance",
    "AWSConfig": "Management and Governance", "AWSCloudFormation": "Management and Governance",
    "AWSSystemsManager": "Management and Governance", "AWSCostExplorer": "Management and Governance",
    "AWSMigrationHubRefactorSpaces": "Migration", "AWSDatabaseMigrationSvc": "Migration",
    "AWSApplicationMigrationSvc": "Migration", "AWSDataSync": "Migration", "AWSTransfer": "Migration",
    "awskms": "Security", "AWSSecretsManager": "Security", "AmazonGuardDuty": "Security",
    "AWSSecurityHub": "Security", "AWSShield": "Security", "awswaf": "Security", "AmazonInspector": "Security",
    "AmazonMacie": "Security", "AWSCertificateManager": "Security",
    "AmazonCognito": "Identity", "AWSDirectoryService": "Identity",
    "AWSCloudShell": "Developer Tools", "AWSCodeCommit": "Developer Tools", "AWSCodeBuild": "Developer Tools",
    "AWSCodePipeline": "Developer Tools", "AWSCodeArtifact": "Developer Tools", "AWSXRay": "Developer Tools",
    "AWSIoT": "Internet of Things", "AWSIoTAnalytics": "Internet of Things", "AWSGreengrass": "Internet of Things",
    "AmazonSES": "Business Applications", "AmazonConnect": "Business Applications",
    "AmazonChime": "Business Applications", "AmazonWorkSpaces": "Business Applications",
    "AWSElementalMediaConvert": "Media", "AmazonKinesisVideo": "Media", "AmazonIVS": "Media",
    "AWSAmplify": "Mobile", "AWSDeviceFarm": "Mobile",
    "AWSSupportBusiness": "Other", "AWSSupportEnterprise": "Other", "AWSDeveloperSupport": "Other",
}

#: AWS ``pricing/unit`` -> (FOCUS unit, block size in the FOCUS count noun); others pass through
UNITS: dict[str, tuple[str, int]] = {
    "Hrs": ("Hours", 1), "Hours": ("Hours", 1), "hours": ("Hours", 1), "Hour": ("Hours", 1),
    "GB-Mo": ("GB-Months", 1), "GB-Month": ("GB-Months", 1), "GB-month": ("GB-Months", 1),
    "GB-Hours": ("GB-Hours", 1), "Requests": ("Requests", 1), "Request": ("Requests", 1),
    "API Request": ("Requests", 1), "API Requests": ("Requests", 1), "Obj-Month": ("Object-Months", 1),
    "tokens": ("Tokens", 1), "Tokens": ("Tokens", 1), "Token": ("Tokens", 1),
    "1K tokens": ("1000 Tokens", 1000), "1K Tokens": ("1000 Tokens", 1000),
    "1M tokens": ("1000000 Tokens", 1000000), "1M Tokens": ("1000000 Tokens", 1000000),
}

#: AWS timestamps are ISO 8601 (``2023-11-01T00:00:00.000Z``, read by TRY_CAST); also seen
#: without seconds
_TS_FORMATS = ("%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M%z")


# ---------------------------------------------------------------------------------------------
# column vocabularies: each format names its own source columns once, here
# ---------------------------------------------------------------------------------------------
_LEGACY = {
    "line_item_id": "identity/LineItemId",
    "invoice_id": "bill/InvoiceId",
    "invoicing_entity": "bill/InvoicingEntity",
    "bill_type": "bill/BillType",
    "payer": "bill/PayerAccountId",
    "payer_name": "bill/PayerAccountName",
    "bp_start": "bill/BillingPeriodStartDate",
    "bp_end": "bill/BillingPeriodEndDate",
    "usage_account": "lineItem/UsageAccountId",
    "usage_account_name": "lineItem/UsageAccountName",
    "type": "lineItem/LineItemType",
    "start": "lineItem/UsageStartDate",
    "end": "lineItem/UsageEndDate",
    "product_code": "lineItem/ProductCode",
    "usage_type": "lineItem/UsageType",
    "operation": "lineItem/Operation",
    "az": "lineItem/AvailabilityZone",
    "resource_id": "lineItem/ResourceId",
    "usage_amount": "lineItem/UsageAmount",
    "currency": "lineItem/CurrencyCode",
    "unblended_rate": "lineItem/UnblendedRate",
    "unblended": "lineItem/UnblendedCost",
    "description": "lineItem/LineItemDescription",
    "legal_entity": "lineItem/LegalEntity",
    "product_name": "product/ProductName",
    "region_code": "product/regionCode",
    "region": "product/region",
    "location": "product/location",
    "instance_type": "product/instanceType",
    "sku": "product/sku",
    "rate_code": "pricing/RateCode",
    "rate_id": "pricing/RateId",
    "pricing_currency": "pricing/currency",
    "public_cost": "pricing/publicOnDemandCost",
    "public_rate": "pricing/publicOnDemandRate",
    "term": "pricing/term",
    "unit": "pricing/unit",
    "ri_arn": "reservation/ReservationARN",
    "ri_effective": "reservation/EffectiveCost",
    "ri_unused_upfront": "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    "ri_unused_recurring": "reservation/UnusedRecurringFee",
    "sp_arn": "savingsPlan/SavingsPlanARN",
    "sp_effective": "savingsPlan/SavingsPlanEffectiveCost",
    "sp_total": "savingsPlan/TotalCommitmentToDate",
    "sp_used": "savingsPlan/UsedCommitment",
}
_LEGACY_REQUIRED = ("bill/PayerAccountId", "bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate",
                    "lineItem/LineItemType", "lineItem/UsageStartDate", "lineItem/UsageEndDate",
                    "lineItem/ProductCode", "lineItem/CurrencyCode", "lineItem/UnblendedCost")

_CUR2 = {
    "line_item_id": "identity_line_item_id",
    "invoice_id": "bill_invoice_id",
    "invoicing_entity": "bill_invoicing_entity",
    "bill_type": "bill_bill_type",
    "payer": "bill_payer_account_id",
    "payer_name": "bill_payer_account_name",
    "bp_start": "bill_billing_period_start_date",
    "bp_end": "bill_billing_period_end_date",
    "usage_account": "line_item_usage_account_id",
    "usage_account_name": "line_item_usage_account_name",
    "type": "line_item_line_item_type",
    "start": "line_item_usage_start_date",
    "end": "line_item_usage_end_date",
    "product_code": "line_item_product_code",
    "usage_type": "line_item_usage_type",
    "operation": "line_item_operation",
    "az": "line_item_availability_zone",
    "resource_id": "line_item_resource_id",
    "usage_amount": "line_item_usage_amount",
    "currency": "line_item_currency_code",
    "unblended_rate": "line_item_unblended_rate",
    "unblended": "line_item_unblended_cost",
    "description": "line_item_line_item_description",
    "legal_entity": "line_item_legal_entity",
    "product_name": "product_product_name",
    "region_code": "product_region_code",
    "region": "product_region",
    "location": "product_location",
    "instance_type": "product_instance_type",
    "sku": "product_sku",
    "rate_code": "pricing_rate_code",
    "rate_id": "pricing_rate_id",
    "pricing_currency": "pricing_currency",
    "public_cost": "pricing_public_on_demand_cost",
    "public_rate": "pricing_public_on_demand_rate",
    "term": "pricing_term",
    "unit": "pricing_unit",
    "ri_arn": "reservation_reservation_a_r_n",
    "ri_effective": "reservation_effective_cost",
    "ri_unused_upfront": "reservation_unused_amortized_upfront_fee_for_billing_period",
    "ri_unused_recurring": "reservation_unused_recurring_fee",
    "sp_arn": "savings_plan_savings_plan_a_r_n",
    "sp_effective": "savings_plan_savings_plan_effective_cost",
    "sp_total": "savings_plan_total_commitment_to_date",
    "sp_used": "savings_plan_used_commitment",
}
_CUR2_REQUIRED = ("bill_payer_account_id", "bill_billing_period_start_date", "bill_billing_period_end_date",
                  "line_item_line_item_type", "line_item_usage_start_date", "line_item_usage_end_date",
                  "line_item_product_code", "line_item_currency_code", "line_item_unblended_cost")
#: keys inside the CUR 2.0 ``product`` map for concepts that are flat columns in legacy CUR
_CUR2_PRODUCT_KEYS = {"product_name": "product_name", "region": "region", "location": "location",
                      "instance_type": "instance_type", "region_code": "region_code", "sku": "sku"}


class _AwsReader:
    """Typed readers over one AWS source, by concept (``unblended``, ``payer`` ...)."""

    def __init__(self, source: Source, names: dict[str, str], product_map: str | None = None) -> None:
        self.s, self.names, self.product_map = source, names, product_map

    def col(self, concept: str) -> str | None:
        name = self.names[concept]
        return name if name in self.s.types else None

    def text(self, concept: str) -> str:
        name = self.col(concept)
        if name is None and self.product_map and concept in _CUR2_PRODUCT_KEYS:
            return self.map_get(self.product_map, _CUR2_PRODUCT_KEYS[concept])
        return self.s.text(name)

    def num(self, concept: str) -> str:
        # a DOUBLE reads as its shortest round-trip decimal (0.07 stays 0.07), see Source.num
        return self.s.num(self.col(concept))

    def num0(self, concept: str) -> str:
        return f"COALESCE({self.num(concept)}, CAST(0 AS {DECIMAL}))"

    def ts(self, concept: str) -> str:
        return self.s.ts(self.col(concept), _TS_FORMATS)

    def account(self, concept: str) -> str:
        name = self.col(concept)
        if name is None:
            return "NULL"
        if self.s.is_text(name):
            return self.s.text(name)
        return f"LPAD(CAST({q(name)} AS VARCHAR), 12, '0')"

    def map_get(self, column: str, key: str) -> str:
        if self.s.is_text(column):
            path = "$." + '"' + key + '"'
            return f"NULLIF(TRIM(json_extract_string({q(column)}, {lit(path)})), '')"
        # map_extract_value: the value itself (element_at(...)[1] builds a one-item list per
        # row first; measured 3x slower on a CUR 2.0 product map)
        return f"NULLIF(TRIM(map_extract_value({q(column)}, {lit(key)})), '')"


def _json_pairs(pairs: list[tuple[str, str]]) -> str:
    """JSON object text of (key, value SQL) pairs, leaving out NULL values; NULL if empty."""
    if not pairs:
        return "NULL"
    parts = ", ".join(f"CASE WHEN {v} IS NOT NULL THEN {lit(_json_key(k))} || ':' || to_json({v}) END"
                      for k, v in pairs)
    return f"NULLIF('{{' || concat_ws(',', {parts}) || '}}', '{{}}')"


def _json_key(key: str) -> str:
    import json

    return json.dumps(key, ensure_ascii=False)


def _map_tags(column: str, is_text: bool) -> str:
    """CUR 2.0 ``resource_tags`` (MAP or JSON text) -> Tags JSON, ``user_`` prefix removed."""
    m = f"TRY_CAST(CAST({q(column)} AS JSON) AS MAP(VARCHAR, VARCHAR))" if is_text else q(column)
    entries = (f"list_transform(list_filter(map_entries({m}), lambda e: NULLIF(TRIM(e.value), '') IS NOT NULL), "
               "lambda e: {'key': regexp_replace(e.key, '^user_', ''), 'value': e.value})")
    exact = f"NULLIF(CAST(to_json(map_from_entries({entries})) AS VARCHAR), '{{}}')"
    if is_text:
        return exact
    # Fast path, about 10x cheaper per row than the list lambdas: the map's own JSON text
    # with the ``user_`` prefix removed from keys. In DuckDB's compact JSON an unescaped
    # quote is structural, so ``{"user_`` / ``,"user_`` only ever starts a key. Maps that
    # hold an empty, blank or null value (``:""``, ``:"  "``, ``:null`` can only be such a
    # value or, rarely, a look-alike inside text, which just takes the exact path) go
    # through the exact expression. (Stripping ``user_`` cannot make two keys equal in a
    # real export: CUR 2.0 prefixes every tag key, ``user_`` or ``aws_``.)
    j = f"CAST(to_json({m}) AS VARCHAR)"
    fast = f"NULLIF(replace(replace({j}, '{{\"user_', '{{\"'), ',\"user_', ',\"'), '{{}}')"
    return f"(CASE WHEN regexp_matches({j}, ':(?:\" *\"|null)') THEN {exact} ELSE {fast} END)"


def _in_map(expr: str, mapping: dict[str, str], default: str) -> str:
    """``CASE WHEN expr IN (keys of one value) THEN value ... ELSE default END``."""
    groups: dict[str, list[str]] = {}
    for k, v in mapping.items():
        groups.setdefault(v, []).append(k)
    whens = " ".join(f"WHEN {expr} IN ({', '.join(lit(k) for k in ks)}) THEN {lit(v)}" for v, ks in groups.items())
    return f"(CASE {whens} ELSE {default} END)"


def _rule_case(type_expr: str, attr: str, roles: dict[str, str] | None = None) -> str:
    """CASE over the line item type for one attribute of ``LINE_ITEM_TYPES``, one WHEN per
    distinct value (``type IN (...)``) so each cost expression appears once."""
    def value(rule: LineItemType) -> str:
        v = getattr(rule, attr)
        return roles[v] if roles is not None else lit(v)

    groups: dict[str, list[str]] = {}
    for k, r in LINE_ITEM_TYPES.items():
        groups.setdefault(value(r), []).append(k)
    whens = " ".join(f"WHEN {type_expr} IN ({', '.join(lit(k) for k in ks)}) THEN {v}" for v, ks in groups.items())
    return f"(CASE {whens} ELSE {value(_UNKNOWN)} END)"


class _AwsFormat(SourceFormat):
    names: dict[str, str] = {}
    core: tuple[str, ...] = ()

    def sniff(self, probe: Probe) -> bool:
        # two identifying columns are enough, so a file lacking a required column is still
        # recognised and then refused with MissingColumnError naming the column
        return probe.kind in self.kinds and len(set(self.core) & set(probe.columns)) >= 2

    def _check_required(self, source: Source, probe: Probe) -> None:
        missing = [c for c in self.required if c not in source.types]
        if missing:
            raise MissingColumnError(
                f"{self.name} needs column(s) {', '.join(repr(m) for m in missing)}",
                file=str(probe.path), column=missing[0])

    def _tags(self, source: Source) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _product_map(self, source: Source) -> str | None:
        return None

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        self._check_required(source, probe)
        r = _AwsReader(source, self.names, self._product_map(source))
        t = r.text("type")
        u = r.num("unblended")
        zero = f"CAST(0 AS {DECIMAL})"
        ri_arn, sp_arn = r.text("ri_arn"), r.text("sp_arn")
        public = r.num("public_cost")
        roles = {
            "unblended": u,
            "zero": zero,
            "public": f"COALESCE({public}, {u})",
            "sp_effective": r.num("sp_effective"),
            "ri_effective": r.num("ri_effective"),
            "sp_unused": f"({r.num0('sp_total')} - {r.num0('sp_used')})",
            "ri_unused": f"({r.num0('ri_unused_upfront')} + {r.num0('ri_unused_recurring')})",
            "fee": f"(CASE WHEN {ri_arn} IS NOT NULL THEN {zero} ELSE {u} END)",
        }
        consumed = f"{_rule_case(t, 'consumed')}"
        unit_raw = r.text("unit")
        unit = case_map(unit_raw, {k: v[0] for k, v in UNITS.items()}, default=unit_raw)
        block = case_map(unit_raw, {k: str(v[1]) for k, v in UNITS.items() if k and "oken" in k}, default="NULL")
        amount = r.num("usage_amount")
        billtype = r.text("bill_type")
        pricing_cat = _rule_case(t, "pricing_category")
        term = r.text("term")
        pricing_cat = pricing_cat.replace(
            lit("term"), f"(CASE WHEN {term} IS NULL THEN 'Standard' ELSE {case_map(term, _TERMS, default=lit('Other'))} END)")
        region_code = f"COALESCE({r.text('region_code')}, {r.text('region')})"
        resource = r.text("resource_id")
        product_code = r.text("product_code")
        cols: dict[str, str] = {
            "AvailabilityZone": r.text("az"),
            "BilledCost": u,
            "BillingAccountId": r.account("payer"),
            "BillingAccountName": r.text("payer_name"),
            "BillingAccountType": lit("Billing Account"),
            "BillingCurrency": r.text("currency"),
            "BillingPeriodStart": r.ts("bp_start"),
            "BillingPeriodEnd": r.ts("bp_end"),
            "ChargeCategory": _rule_case(t, "charge_category"),
            "ChargeClass": f"(CASE WHEN {billtype} = 'Refund' THEN 'Correction' ELSE {_rule_case(t, 'charge_class')} END)",
            "ChargeDescription": r.text("description"),
            "ChargeFrequency": _rule_case(t, "charge_frequency"),
            "ChargePeriodStart": r.ts("start"),
            "ChargePeriodEnd": r.ts("end"),
            "CommitmentDiscountCategory": f"(CASE WHEN {sp_arn} IS NOT NULL THEN 'Spend' WHEN {ri_arn} IS NOT NULL THEN 'Usage' END)",
            "CommitmentDiscountId": f"COALESCE({sp_arn}, {ri_arn})",
            "CommitmentDiscountName": f"regexp_extract(COALESCE({sp_arn}, {ri_arn}), '([^/:]+)$', 1)",
            "CommitmentDiscountStatus": f"(CASE WHEN COALESCE({sp_arn}, {ri_arn}) IS NOT NULL THEN {_rule_case(t, 'commitment_status')} END)",
            "CommitmentDiscountType": f"(CASE WHEN {sp_arn} IS NOT NULL THEN 'Savings Plan' WHEN {ri_arn} IS NOT NULL THEN 'Reserved Instance' END)",
            "ConsumedQuantity": f"(CASE WHEN {consumed} THEN {amount} END)",
            "ConsumedUnit": f"(CASE WHEN {consumed} THEN {unit} END)",
            "ContractedCost": _rule_case(t, "contracted", roles),
            "ContractedUnitPrice": r.num("unblended_rate"),
            "EffectiveCost": _rule_case(t, "effective", roles),
            "InvoiceId": r.text("invoice_id"),
            # the provider's own name, as in AWS's FOCUS export; the legal invoicing entity
            # ("Amazon Web Services, Inc.", "... Canada, Inc.") stays in x_InvoicingEntity
            "InvoiceIssuerName": lit("AWS"),
            "ListCost": _rule_case(t, "list", roles),
            "ListUnitPrice": r.num("public_rate"),
            "PricingCategory": pricing_cat,
            "PricingCurrency": r.text("pricing_currency"),
            # FOCUS: tax rows carry no pricing quantity or unit
            "PricingQuantity": f"(CASE WHEN {_rule_case(t, 'charge_category')} = 'Tax' THEN NULL ELSE {amount} END)",
            "PricingUnit": f"(CASE WHEN {_rule_case(t, 'charge_category')} = 'Tax' THEN NULL ELSE {unit} END)",
            "ProviderName": lit("AWS"),
            "PublisherName": f"COALESCE({r.text('legal_entity')}, 'Amazon Web Services')",
            "RegionId": region_code,
            "RegionName": r.text("location"),
            "ResourceId": resource,
            "ResourceType": f"NULLIF(regexp_extract({resource}, '^arn:[^:]*:[^:]*:[^:]*:[^:]*:([^/:]+)[/:]', 1), '')",
            "ServiceCategory": _in_map(product_code, SERVICE_CATEGORY, lit("Other")),
            "ServiceName": f"COALESCE({r.text('product_name')}, {product_code}, 'unknown')",
            "SkuId": r.text("sku"),
            "SkuMeter": r.text("usage_type"),
            "SkuPriceId": f"COALESCE({r.text('rate_code')}, {r.text('rate_id')})",
            "SubAccountId": r.account("usage_account"),
            "SubAccountName": r.text("usage_account_name"),
            "SubAccountType": lit("Account"),
            "Tags": self._tags(source),
            "x_Tokens": f"(CASE WHEN {consumed} THEN {amount} * CAST({block} AS BIGINT) END)",
        }
        checks: list[Check] = []
        for concept in ("unblended", "usage_amount", "unblended_rate", "public_cost", "public_rate",
                        "ri_effective", "ri_unused_upfront", "ri_unused_recurring", "sp_effective",
                        "sp_total", "sp_used"):
            name = r.col(concept)
            if name is not None:
                checks.append(Check(name, "number", source.bad_num(name), q(name)))
        for concept in ("start", "end", "bp_start", "bp_end"):
            name = r.col(concept)
            if name is not None:
                checks.append(Check(name, "timestamp", source.bad_ts(name, _TS_FORMATS), q(name)))
        for concept in ("payer", "type", "currency", "unblended"):
            name = r.col(concept)
            if name is not None:
                checks.append(Check(name, "required", f"({source.text(name)} IS NULL)", "NULL"))
        recon = [Recon("BilledCost", u, cols["BillingCurrency"], self.names["unblended"])]
        extra = {
            "x_InvoicingEntity": r.text("invoicing_entity"),
            "x_UsageType": r.text("usage_type"),
            "x_Operation": r.text("operation"),
            "x_LineItemType": t,
            "x_InstanceType": r.text("instance_type"),
            "x_ServiceCode": product_code,
            "x_BillType": billtype,
            "x_LineItemId": r.text("line_item_id"),
        }
        return Plan(columns=cols, checks=checks, recon=recon, extra=extra)


class AwsCurFormat(_AwsFormat):
    """Legacy AWS Cost and Usage Report, ``category/Column`` headers (CSV, CSV.gz)."""

    name = "aws-cur"
    title = "AWS Cost and Usage Report, legacy (lineItem/... columns; CSV, CSV.gz)"
    required = _LEGACY_REQUIRED
    kinds = ("csv",)
    names = _LEGACY
    core = ("lineItem/UnblendedCost", "lineItem/LineItemType", "bill/PayerAccountId",
            "lineItem/UsageStartDate", "identity/LineItemId", "bill/BillingPeriodStartDate")

    def _tags(self, source: Source) -> str:
        pairs = []
        for c in source.columns:
            if c.startswith("resourceTags/"):
                key = c[len("resourceTags/"):]
                key = key[len("user:"):] if key.startswith("user:") else key
                pairs.append((key, source.text(c)))
        return _json_pairs(pairs)


class AwsCur2Format(_AwsFormat):
    """AWS Data Exports CUR 2.0 (snake_case, ``product``/``resource_tags`` maps; CSV or
    Parquet), and the legacy CUR's Athena/Parquet flavour."""

    name = "aws-cur2"
    title = "AWS Data Exports CUR 2.0 (line_item_... columns, map columns; CSV, CSV.gz, Parquet)"
    required = _CUR2_REQUIRED
    kinds = ("csv", "parquet")
    names = _CUR2
    core = ("line_item_unblended_cost", "line_item_line_item_type", "bill_payer_account_id",
            "line_item_usage_start_date", "identity_line_item_id", "bill_billing_period_start_date")

    def _product_map(self, source: Source) -> str | None:
        return "product" if "product" in source.types else None

    def _tags(self, source: Source) -> str:
        if "resource_tags" in source.types:
            return _map_tags("resource_tags", source.is_text("resource_tags"))
        pairs = []
        for c in source.columns:  # legacy Athena/Parquet: resource_tags_user_team columns
            if c.startswith("resource_tags_"):
                key = c[len("resource_tags_"):]
                key = key[len("user_"):] if key.startswith("user_") else key
                pairs.append((key, source.text(c)))
        return _json_pairs(pairs)


FORMATS = [AwsCurFormat(), AwsCur2Format()]
