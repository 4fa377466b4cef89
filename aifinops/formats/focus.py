"""FOCUS files, versions 1.0 to 1.3 (and 0.5 names), as CSV, CSV.gz or Parquet.

Older column names are renamed (``AmortizedCost`` -> ``EffectiveCost`` ...), literal
``NULL`` strings read as null, timestamps with or without ``T``/``Z``, and extra columns
kept: non-``x_`` extras as ``x_<name>``, provider ``x_`` columns as they are.

Partial files (such as the FOCUS spec's example rows) are accepted: mandatory columns they
lack are filled with documented defaults and listed in the ledger manifest as defaulted.
"""

from __future__ import annotations

from .. import schema
from ..sql import Source, lit, q
from .base import Check, IngestOptions, Plan, Probe, Recon, SourceFormat, passthrough_x

__all__ = ["FocusFormat", "FORMATS"]

_LINEAGE = {"x_SourceFile", "x_SourceFormat", "x_SourceRow", "x_SourceHash", "x_IngestedAt",
            "x_BillingPeriod", "x_CostAuthority"}

#: defaults for mandatory columns a partial file lacks (documented in DEVELOPERS.md)
_STRING_DEFAULTS = {
    "BillingAccountId": "unknown",
    "InvoiceIssuerName": "unknown",
    "ProviderName": "unknown",
    "PublisherName": "unknown",
    "ServiceName": "unknown",
    "ServiceCategory": "Other",
}


class FocusFormat(SourceFormat):
    name = "focus"
    title = "FOCUS 1.0-1.3 cost and usage (CSV, CSV.gz, Parquet)"
    required = ("BilledCost", "ChargePeriodStart")
    kinds = ("csv", "parquet")

    def sniff(self, probe: Probe) -> bool:
        cols = {schema.RENAMES.get(c, c) for c in probe.columns}
        return probe.kind in self.kinds and set(self.required) <= cols

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        # canonical name -> source column
        src: dict[str, str] = {}
        for c in source.columns:
            canon = schema.RENAMES.get(c, c)
            if canon in schema.COLUMNS and canon not in _LINEAGE and canon not in src:
                src[canon] = c
        cols: dict[str, str] = {}
        checks: list[Check] = []
        for name in schema.FOCUS_12_COLUMNS + schema.FOCUS_13_COLUMNS + schema.X_COLUMNS:
            if name not in src:
                continue
            s, t = src[name], schema.COLUMNS[name].sql_type
            if t == schema.DECIMAL:
                cols[name] = source.num(s)
                checks.append(Check(s, "number", source.bad_num(s), q(s)))
            elif t == "TIMESTAMPTZ":
                cols[name] = source.ts(s)
                checks.append(Check(s, "timestamp", source.bad_ts(s), q(s)))
            else:
                cols[name] = source.text(s)
        defaulted: list[str] = []
        if "ProviderName" not in cols and "ServiceProviderName" in cols:
            cols["ProviderName"] = f"COALESCE({cols['ServiceProviderName']}, 'unknown')"
        if "PublisherName" not in cols and "ProviderName" in cols:
            cols["PublisherName"] = cols["ProviderName"]
        if "InvoiceIssuerName" not in cols and "ProviderName" in cols:
            cols["InvoiceIssuerName"] = cols["ProviderName"]
        if "BillingCurrency" not in cols:
            cols["BillingCurrency"] = lit(options.default_currency)
            defaulted.append("BillingCurrency")
        for name, value in _STRING_DEFAULTS.items():
            if name not in cols:
                cols[name] = lit(value)
                defaulted.append(name)
        if "ChargePeriodEnd" not in cols and "ChargePeriodStart" in cols:
            cols["ChargePeriodEnd"] = f"({cols['ChargePeriodStart']} + INTERVAL 1 DAY)"
            defaulted.append("ChargePeriodEnd")
        if "BillingPeriodStart" not in cols:
            cols["BillingPeriodStart"] = f"CAST(DATE_TRUNC('month', {cols['ChargePeriodStart']}) AS TIMESTAMPTZ)"
            defaulted.append("BillingPeriodStart")
        if "BillingPeriodEnd" not in cols:
            cols["BillingPeriodEnd"] = f"({cols['BillingPeriodStart']} + INTERVAL 1 MONTH)"
            defaulted.append("BillingPeriodEnd")
        for cost in ("EffectiveCost", "ListCost", "ContractedCost"):
            if cost not in cols:
                cols[cost] = cols["BilledCost"]
                defaulted.append(cost)
        currency = cols["BillingCurrency"]
        recon = [Recon(c, source.num(src[c]), currency, src[c]) for c in schema.MONEY_COLUMNS if c in src]
        extra = {}
        for c in source.columns:
            canon = schema.RENAMES.get(c, c)
            if canon in src and src[canon] == c:
                continue
            if c.startswith("x_"):
                key = f"x_Upstream{c[2:]}" if c in _LINEAGE else c
            else:
                key = passthrough_x(c)
            extra[key] = source.text(c)
        return Plan(columns=cols, checks=checks, recon=recon, extra=extra, defaulted=defaulted)


FORMATS = [FocusFormat()]
