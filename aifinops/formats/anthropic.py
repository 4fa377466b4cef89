"""Anthropic Admin API: usage report (messages) and cost report (formats.md §3.6).

``anthropic-usage``
    ``GET /v1/organizations/usage_report/messages`` pages ``{data: [{starting_at,
    ending_at, results: [...]}], has_more, next_page}`` (one page, an array of pages or
    JSON lines). One ledger row per (result, token type). Unlike OpenAI, Anthropic's
    counts are *separate* (they add up):

    ===================================================  ==================
    field                                                token type
    ===================================================  ==================
    uncached_input_tokens                                input
    cache_read_input_tokens                              cached_input
    cache_creation.ephemeral_5m_input_tokens             cache_write_5m
    cache_creation.ephemeral_1h_input_tokens             cache_write_1h
    output_tokens                                        output
    server_tool_use.web_search_requests                  web_search
    ===================================================  ==================

    (the flattened ``cache_creation_5m_input_tokens`` spellings are read too). Results
    of the ``batch`` service tier use ``batch_input`` / ``batch_output``. The ``input``
    row is always written; the others only when not zero. The web-search row counts
    searches (``ConsumedUnit`` ``Requests``), not tokens, so its ``x_Tokens`` is NULL.
    The report has no request counts (``x_Requests`` NULL) and no cost: cost columns are
    NULL and ``cost_authority`` is ``usage``. Reconciliation: ``x_Tokens`` against the
    raw token fields.

``anthropic-cost``
    ``GET /v1/organizations/cost_report`` pages: ``amount`` is a decimal string in the
    currency's lowest unit (cents), converted exactly: ``"123.45"`` -> 1.2345 USD.
    ``token_type`` / ``cost_type`` give the token type through the same table.
    Reconciliation: BilledCost against the raw amount / 100 per currency.

Example:
    >>> from aifinops.formats import get_format
    >>> get_format("anthropic-cost").title
    'Anthropic cost report (JSON pages, amounts in cents)'
"""

from __future__ import annotations

from ..sql import Source, case_map, lit, q
from .base import Check, IngestOptions, Plan, Probe, Recon, SourceFormat
from .openai import (AI_COLUMNS, _period, _pages_records, _required, _sniff_head, _tags_sql, token_checks,
                     unpivot_sql)

__all__ = ["AnthropicUsageFormat", "AnthropicCostFormat", "TOKEN_TYPES_BY_FIELD", "FORMATS"]

#: Anthropic usage field / cost-report ``token_type`` -> ledger token type
TOKEN_TYPES_BY_FIELD: dict[str, str] = {
    "uncached_input_tokens": "input",
    "cache_read_input_tokens": "cached_input",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write_5m",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h",
    "cache_creation_5m_input_tokens": "cache_write_5m",
    "cache_creation_1h_input_tokens": "cache_write_1h",
    "cache_creation_input_tokens": "cache_write",
    "output_tokens": "output",
    "server_tool_use.web_search_requests": "web_search",
    "web_search_requests": "web_search",
}
#: cost-report ``cost_type`` -> token type where ``token_type`` is empty
_COST_TYPES = {"web_search": "web_search"}
_BATCH = {"input": "batch_input", "output": "batch_output"}

_USAGE_FIELDS = {
    "uncached_input_tokens": "$.uncached_input_tokens",
    "cache_read_input_tokens": "$.cache_read_input_tokens",
    "cache_creation_5m": "$.cache_creation.ephemeral_5m_input_tokens",
    "cache_creation_1h": "$.cache_creation.ephemeral_1h_input_tokens",
    "cache_creation_5m_flat": "$.cache_creation_5m_input_tokens",
    "cache_creation_1h_flat": "$.cache_creation_1h_input_tokens",
    "output_tokens": "$.output_tokens",
    "web_search_requests": "$.server_tool_use.web_search_requests",
    "api_key_id": "$.api_key_id",
    "workspace_id": "$.workspace_id",
    "model": "$.model",
    "service_tier": "$.service_tier",
    "context_window": "$.context_window",
    "inference_geo": "$.inference_geo",
}
_BUCKET_FIELDS = {"starting_at": "$.starting_at", "ending_at": "$.ending_at"}
_USAGE_COUNTS = ("uncached_input_tokens", "cache_read_input_tokens", "cache_creation_5m", "cache_creation_1h",
                 "cache_creation_5m_flat", "cache_creation_1h_flat", "output_tokens", "web_search_requests")
#: relation column -> token type
_USAGE_ITEMS = {
    "uncached_input_tokens": "input",
    "cache_read_input_tokens": "cached_input",
    "cache_creation_5m": "cache_write_5m",
    "cache_creation_1h": "cache_write_1h",
    "output_tokens": "output",
    "web_search_requests": "web_search",
}


def _batch_aware(token_type: str, tier: str) -> str:
    batched = f"(LOWER(COALESCE({tier}, '')) = 'batch')"
    mapped = case_map(token_type, _BATCH, default=token_type)
    return f"(CASE WHEN {batched} THEN {mapped} ELSE {token_type} END)"


class AnthropicUsageFormat(SourceFormat):
    name = "anthropic-usage"
    title = "Anthropic usage report, messages (JSON pages of buckets)"
    required = ("data", "has_more")
    kinds = ("json",)

    def sniff(self, probe: Probe) -> bool:
        return _sniff_head(probe, r'"starting_at"', r'"(uncached_input_tokens|cache_read_input_tokens)"\s*:')

    def relation(self, probe: Probe, options: IngestOptions) -> str:
        records = _pages_records(probe, _USAGE_FIELDS, _BUCKET_FIELDS)
        tags = _tags_sql({"workspace_id": q("workspace_id"), "api_key_id": q("api_key_id")})
        # the nested and the flattened spellings are the same count: the nested one wins
        records = (f"SELECT * REPLACE (COALESCE(cache_creation_5m, cache_creation_5m_flat) AS cache_creation_5m, "
                   f"COALESCE(cache_creation_1h, cache_creation_1h_flat) AS cache_creation_1h), {tags} AS __tags "
                   f"FROM ({records})")
        return unpivot_sql(records, [(k, q(k)) for k in _USAGE_ITEMS], "uncached_input_tokens")

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        n = source.num
        tt = _batch_aware(case_map("__token_key", _USAGE_ITEMS), source.text("service_tier"))
        start, end = source.ts("starting_at"), source.ts("ending_at")
        model = source.text("model")
        is_search = "(__token_key = 'web_search_requests')"
        qty = n("__tokens")
        cols = {
            **AI_COLUMNS,
            **_period(start, f"COALESCE({end}, {start} + INTERVAL 1 DAY)"),
            "BillingAccountId": lit("unknown"),
            "BillingCurrency": lit("USD"),
            "ChargeDescription": f"CONCAT_WS(' ', {model}, {tt}, CASE WHEN {is_search} THEN 'requests' ELSE 'tokens' END)",
            "ConsumedQuantity": qty,
            "ConsumedUnit": f"CASE WHEN {is_search} THEN 'Requests' ELSE 'Tokens' END",
            "PricingQuantity": qty,
            "PricingUnit": f"CASE WHEN {is_search} THEN 'Requests' ELSE 'Tokens' END",
            "InvoiceIssuerName": lit("Anthropic"),
            "ProviderName": lit("Anthropic"),
            "PublisherName": lit("Anthropic"),
            "ServiceName": lit("Claude API"),
            "SkuId": model,
            "SkuMeter": "__token_key",
            "SubAccountId": source.text("workspace_id"),
            "SubAccountType": f"CASE WHEN {source.text('workspace_id')} IS NOT NULL THEN 'Workspace' END",
            "RegionId": source.text("inference_geo"),
            "Tags": "__tags",
            "x_Model": model,
            "x_ModelProvider": lit("anthropic"),
            "x_TokenType": tt,
            "x_Tokens": qty,
        }
        checks = [
            _required(source, "starting_at"),
            Check("starting_at", "timestamp", source.bad_ts("starting_at"), q("starting_at")),
            Check("ending_at", "timestamp", source.bad_ts("ending_at"), q("ending_at")),
            *token_checks(source, _USAGE_COUNTS),
        ]
        recon = [Recon("x_Tokens", n("__tokens"), "'tokens'", "token fields")]
        extra = {
            "x_ApiKeyId": source.text("api_key_id"),
            "x_ServiceTier": source.text("service_tier"),
            "x_ContextWindow": source.text("context_window"),
        }
        return Plan(columns=cols, checks=checks, recon=recon, extra=extra, defaulted=["BillingAccountId"],
                    cost_authority="usage")


_COST_FIELDS = {
    "amount": "$.amount",
    "currency": "$.currency",
    "workspace_id": "$.workspace_id",
    "description": "$.description",
    "cost_type": "$.cost_type",
    "context_window": "$.context_window",
    "model": "$.model",
    "service_tier": "$.service_tier",
    "token_type": "$.token_type",
    "inference_geo": "$.inference_geo",
}


def cents_sql(expr: str) -> str:
    """Exact cents -> currency units: ``expr`` (a DECIMAL) x 0.01, kept at 18 places."""
    return f"CAST({expr} * CAST(0.01 AS DECIMAL(3,2)) AS DECIMAL(38,18))"


__all__.append("cents_sql")


class AnthropicCostFormat(SourceFormat):
    name = "anthropic-cost"
    title = "Anthropic cost report (JSON pages, amounts in cents)"
    required = ("data", "has_more")
    kinds = ("json",)

    def sniff(self, probe: Probe) -> bool:
        return _sniff_head(probe, r'"starting_at"', r'"amount"\s*:', r'"(cost_type|currency)"\s*:')

    def relation(self, probe: Probe, options: IngestOptions) -> str:
        return _pages_records(probe, _COST_FIELDS, _BUCKET_FIELDS)

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        amount = cents_sql(source.num("amount"))
        cur = f"UPPER({source.text('currency')})"
        start, end = source.ts("starting_at"), source.ts("ending_at")
        raw_tt = f"LOWER({source.text('token_type')})"
        cost_type = f"LOWER({source.text('cost_type')})"
        tt = f"COALESCE({case_map(raw_tt, TOKEN_TYPES_BY_FIELD)}, {case_map(cost_type, _COST_TYPES)})"
        tt = _batch_aware(tt, source.text("service_tier"))
        model = source.text("model")
        desc = f"COALESCE({source.text('description')}, CONCAT_WS(' ', {model}, {source.text('token_type')}))"
        cols = {
            **AI_COLUMNS,
            **_period(start, f"COALESCE({end}, {start} + INTERVAL 1 DAY)"),
            "BilledCost": amount,
            "EffectiveCost": amount,
            "ListCost": amount,
            "ContractedCost": amount,
            "BillingAccountId": lit("unknown"),
            "BillingCurrency": cur,
            "ChargeDescription": desc,
            "InvoiceIssuerName": lit("Anthropic"),
            "ProviderName": lit("Anthropic"),
            "PublisherName": lit("Anthropic"),
            "ServiceName": lit("Claude API"),
            "SkuId": f"NULLIF(CONCAT_WS(', ', {model}, {source.text('token_type')}), '')",
            "SkuMeter": source.text("cost_type"),
            "SubAccountId": source.text("workspace_id"),
            "SubAccountType": f"CASE WHEN {source.text('workspace_id')} IS NOT NULL THEN 'Workspace' END",
            "RegionId": source.text("inference_geo"),
            "Tags": _tags_sql({"workspace_id": source.text("workspace_id")}),
            "x_Model": model,
            "x_ModelProvider": lit("anthropic"),
            "x_TokenType": tt,
        }
        checks = [
            _required(source, "starting_at"),
            Check("starting_at", "timestamp", source.bad_ts("starting_at"), q("starting_at")),
            Check("ending_at", "timestamp", source.bad_ts("ending_at"), q("ending_at")),
            _required(source, "amount"),
            Check("amount", "number", source.bad_num("amount"), q("amount")),
            _required(source, "currency"),
        ]
        recon = [Recon("BilledCost", cents_sql(source.num("amount")), cur, "amount / 100")]
        extra = {
            "x_CostType": source.text("cost_type"),
            "x_ServiceTier": source.text("service_tier"),
            "x_ContextWindow": source.text("context_window"),
        }
        return Plan(columns=cols, checks=checks, recon=recon, extra=extra, defaulted=["BillingAccountId"])


FORMATS = [AnthropicUsageFormat(), AnthropicCostFormat()]
