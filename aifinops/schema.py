"""The one canonical ledger schema: FOCUS 1.2 Cost and Usage columns (1.3 columns
optional) plus aifinops' own ``x_`` columns. Everything else refers to this module.

Types are DuckDB SQL types. Money and quantities are ``DECIMAL(38,18)``: exact, with
the source's precision kept to 18 decimal places, summed exactly in the engine.

Example:
    >>> from aifinops import schema
    >>> schema.COLUMNS["BilledCost"].sql_type
    'DECIMAL(38,18)'
    >>> "x_Team" in schema.LEDGER_COLUMNS
    True
    >>> len(schema.FOCUS_12_COLUMNS)
    57
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Column",
    "COLUMNS",
    "DECIMAL",
    "FOCUS_12_COLUMNS",
    "FOCUS_13_COLUMNS",
    "FOCUS_MANDATORY",
    "FOCUS_NOT_NULL",
    "X_COLUMNS",
    "LEDGER_COLUMNS",
    "MONEY_COLUMNS",
    "ATTRIBUTION",
    "TOKEN_TYPES",
    "RENAMES",
    "CHARGE_CATEGORIES",
    "SERVICE_CATEGORIES",
    "PARTITION_COLUMN",
]

DECIMAL = "DECIMAL(38,18)"
TS = "TIMESTAMPTZ"
STR = "VARCHAR"
INT = "BIGINT"
JSON = "VARCHAR"  # JSON text (key-value format)


@dataclass(frozen=True)
class Column:
    """One ledger column.

    Attributes:
        name: FOCUS column id or ``x_`` name.
        sql_type: DuckDB type used in the ledger's Parquet files.
        level: ``M`` mandatory, ``C`` conditional, ``R`` recommended, ``O`` optional (1.3), ``X`` aifinops.
        nullable: whether FOCUS allows nulls.
        since: the FOCUS version that introduced it (``x`` for aifinops columns).
        description: one line for docs and the workbook's data dictionary.
    """

    name: str
    sql_type: str
    level: str
    nullable: bool
    since: str
    description: str = ""

    @property
    def is_money(self) -> bool:
        return self.name.endswith("Cost") and self.sql_type == DECIMAL


_FOCUS_12 = [
    # name, type, level, nullable, since
    ("AvailabilityZone", STR, "R", True, "0.5"),
    ("BilledCost", DECIMAL, "M", False, "0.5"),
    ("BillingAccountId", STR, "M", False, "0.5"),
    ("BillingAccountName", STR, "M", True, "0.5"),
    ("BillingAccountType", STR, "C", True, "1.2"),
    ("BillingCurrency", STR, "M", False, "0.5"),
    ("BillingPeriodEnd", TS, "M", False, "0.5"),
    ("BillingPeriodStart", TS, "M", False, "0.5"),
    ("CapacityReservationId", STR, "C", True, "1.1"),
    ("CapacityReservationStatus", STR, "C", True, "1.1"),
    ("ChargeCategory", STR, "M", False, "0.5"),
    ("ChargeClass", STR, "M", True, "1.0"),
    ("ChargeDescription", STR, "M", True, "1.0"),
    ("ChargeFrequency", STR, "R", True, "1.0"),
    ("ChargePeriodEnd", TS, "M", False, "0.5"),
    ("ChargePeriodStart", TS, "M", False, "0.5"),
    ("CommitmentDiscountCategory", STR, "C", True, "1.0"),
    ("CommitmentDiscountId", STR, "C", True, "1.0"),
    ("CommitmentDiscountName", STR, "C", True, "1.0"),
    ("CommitmentDiscountQuantity", DECIMAL, "C", True, "1.1"),
    ("CommitmentDiscountStatus", STR, "C", True, "1.0"),
    ("CommitmentDiscountType", STR, "C", True, "1.0"),
    ("CommitmentDiscountUnit", STR, "C", True, "1.1"),
    ("ConsumedQuantity", DECIMAL, "C", True, "1.0"),
    ("ConsumedUnit", STR, "C", True, "1.0"),
    ("ContractedCost", DECIMAL, "M", False, "1.0"),
    ("ContractedUnitPrice", DECIMAL, "C", True, "1.0"),
    ("EffectiveCost", DECIMAL, "M", False, "0.5"),
    ("InvoiceId", STR, "R", True, "1.2"),
    ("InvoiceIssuerName", STR, "M", False, "0.5"),
    ("ListCost", DECIMAL, "M", False, "1.0"),
    ("ListUnitPrice", DECIMAL, "C", True, "1.0"),
    ("PricingCategory", STR, "C", True, "1.0"),
    ("PricingCurrency", STR, "C", True, "1.2"),
    ("PricingCurrencyContractedUnitPrice", DECIMAL, "C", True, "1.2"),
    ("PricingCurrencyEffectiveCost", DECIMAL, "C", True, "1.2"),
    ("PricingCurrencyListUnitPrice", DECIMAL, "C", True, "1.2"),
    ("PricingQuantity", DECIMAL, "M", True, "1.0"),
    ("PricingUnit", STR, "M", True, "1.0"),
    ("ProviderName", STR, "M", False, "0.5"),
    ("PublisherName", STR, "M", False, "0.5"),
    ("RegionId", STR, "C", True, "1.0"),
    ("RegionName", STR, "C", True, "1.0"),
    ("ResourceId", STR, "C", True, "0.5"),
    ("ResourceName", STR, "C", True, "0.5"),
    ("ResourceType", STR, "C", True, "1.0"),
    ("ServiceCategory", STR, "M", False, "0.5"),
    ("ServiceName", STR, "M", False, "0.5"),
    ("ServiceSubcategory", STR, "R", True, "1.1"),
    ("SkuId", STR, "C", True, "1.0"),
    ("SkuMeter", STR, "C", True, "1.1"),
    ("SkuPriceDetails", JSON, "C", True, "1.1"),
    ("SkuPriceId", STR, "C", True, "1.0"),
    ("SubAccountId", STR, "C", True, "0.5"),
    ("SubAccountName", STR, "C", True, "0.5"),
    ("SubAccountType", STR, "C", True, "1.2"),
    ("Tags", JSON, "C", True, "1.0"),
]

_FOCUS_13 = [
    ("AllocatedMethodId", STR, "O", True, "1.3"),
    ("AllocatedMethodDetails", JSON, "O", True, "1.3"),
    ("AllocatedResourceId", STR, "O", True, "1.3"),
    ("AllocatedResourceName", STR, "O", True, "1.3"),
    ("AllocatedTags", JSON, "O", True, "1.3"),
    ("ContractApplied", JSON, "O", True, "1.3"),
    ("HostProviderName", STR, "O", True, "1.3"),
    ("ServiceProviderName", STR, "O", True, "1.3"),
]

_X = [
    # lineage
    ("x_SourceFile", STR, "source file as given to ingest"),
    ("x_SourceFormat", STR, "format name the file was read as (see `aifinops formats`)"),
    ("x_SourceRow", INT, "1-based record number in the source file"),
    ("x_SourceHash", STR, "sha256 of the source file's bytes (replacement key)"),
    ("x_IngestedAt", TS, "when the ingest run started (UTC)"),
    ("x_CostAuthority", STR, "'invoice' when this row's cost is billed cost, 'estimate' when it only enriches attribution"),
    # AI
    ("x_Model", STR, "model id, e.g. gpt-4o, claude-sonnet-4"),
    ("x_ModelProvider", STR, "model developer, e.g. openai, anthropic"),
    ("x_TokenType", STR, "input, output, cached_input, cache_write_5m, cache_write_1h, reasoning, audio_input, ..."),
    ("x_Tokens", DECIMAL, "tokens on this row"),
    ("x_Requests", DECIMAL, "model requests on this row"),
    ("x_PromptTokens", INT, "prompt tokens of the request; selects long-context price tiers"),
    # GPU
    ("x_GpuHours", DECIMAL, "GPU-hours on this row (instance-hours x GPUs per instance)"),
    ("x_GpuModel", STR, "GPU model, e.g. A100, H100"),
    # attribution
    ("x_Team", STR, "owning team (tag mapping)"),
    ("x_Feature", STR, "product feature (tag mapping)"),
    ("x_Application", STR, "application (tag mapping)"),
    ("x_Environment", STR, "environment, e.g. prod (tag mapping)"),
    ("x_CostCenter", STR, "cost center (tag mapping)"),
    ("x_User", STR, "end user or API user (tag mapping)"),
    ("x_Customer", STR, "customer or tenant (tag mapping)"),
    # partition
    ("x_BillingPeriod", STR, "YYYY-MM of BillingPeriodStart; the ledger's partition key"),
]

COLUMNS: dict[str, Column] = {}
for _n, _t, _l, _null, _s in _FOCUS_12 + _FOCUS_13:
    COLUMNS[_n] = Column(_n, _t, _l, _null, _s)
for _n, _t, _d in _X:
    COLUMNS[_n] = Column(_n, _t, "X", True, "x", _d)

FOCUS_12_COLUMNS: tuple[str, ...] = tuple(c[0] for c in _FOCUS_12)
FOCUS_13_COLUMNS: tuple[str, ...] = tuple(c[0] for c in _FOCUS_13)
FOCUS_MANDATORY: tuple[str, ...] = tuple(c[0] for c in _FOCUS_12 if c[2] == "M")
FOCUS_NOT_NULL: tuple[str, ...] = tuple(c[0] for c in _FOCUS_12 if not c[3])
X_COLUMNS: tuple[str, ...] = tuple(c[0] for c in _X)
LEDGER_COLUMNS: tuple[str, ...] = FOCUS_12_COLUMNS + FOCUS_13_COLUMNS + X_COLUMNS
MONEY_COLUMNS: tuple[str, ...] = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
PARTITION_COLUMN = "x_BillingPeriod"

#: attribution attributes filled from tags by the tag map, and their ledger column
ATTRIBUTION: dict[str, str] = {
    "team": "x_Team",
    "feature": "x_Feature",
    "application": "x_Application",
    "environment": "x_Environment",
    "cost_center": "x_CostCenter",
    "user": "x_User",
    "customer": "x_Customer",
}

#: the vocabulary of x_TokenType
TOKEN_TYPES: tuple[str, ...] = (
    "input", "output", "cached_input", "cache_write", "cache_write_5m", "cache_write_1h",
    "reasoning", "audio_input", "audio_output", "image_input", "image_output", "batch_input",
    "batch_output", "web_search", "request",
)

#: older FOCUS column names -> current (FOCUS_Spec CHANGELOG)
RENAMES: dict[str, str] = {
    "AmortizedCost": "EffectiveCost",
    "ChargeType": "ChargeCategory",
    "UsageQuantity": "ConsumedQuantity",
    "UsageUnit": "ConsumedUnit",
    "Region": "RegionId",
    "ProviderVersion": "DataGeneratorVersion",
}

CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
SERVICE_CATEGORIES = (
    "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
    "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
    "Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security",
    "Storage", "Web", "Other",
)
