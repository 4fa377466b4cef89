"""OpenAI Usage API, Costs API and dashboard cost export.

Three formats (formats.md §3.5):

``openai-usage``
    ``GET /v1/organization/usage/completions`` pages (one page, a JSON array of pages or
    JSON lines of pages). One ledger row per (result, token type). OpenAI's
    ``input_tokens`` *includes* the cached and the audio input tokens, and
    ``output_tokens`` includes the audio output tokens, so the rows are:

    ============  ===================================================================
    token type    tokens
    ============  ===================================================================
    input         input_tokens - input_cached_tokens - uncached audio input tokens
    cached_input  input_cached_tokens
    audio_input   input_audio_tokens - input_cached_audio_tokens (when given)
    output        output_tokens - output_audio_tokens
    audio_output  output_audio_tokens
    ============  ===================================================================

    so the rows of a result add up to ``input_tokens + output_tokens``. Batch results
    (``batch: true``) use ``batch_input`` / ``batch_output`` for the text rows. The
    ``input`` row is always written (even with 0 tokens) and carries the result's
    ``num_model_requests`` as ``x_Requests``; the other rows are written only when
    their count is not zero. The Usage API carries no cost: the cost columns are left
    NULL and the plan's ``cost_authority`` is ``usage`` (priced later by the price
    catalogue; unpriced rows stay NULL and flagged, never 0). A result whose cached and
    audio counts exceed its input tokens is quarantined. Reconciliation: the ledger's
    ``x_Tokens`` against the raw ``input_tokens + output_tokens``, and ``x_Requests``
    against ``num_model_requests``.

``openai-costs``
    ``GET /v1/organization/costs`` pages: one row per result, billed cost =
    ``amount.value`` in ``amount.currency`` (dollars, not cents). ``line_item`` such as
    ``"gpt-4o-2024-08-06, input"`` gives the model (before the last comma) and the
    token type (after it, through :data:`LINE_ITEM_TOKEN_TYPES`).

``openai-dashboard-csv``
    the platform.openai.com usage page's cost export (``amount_value``,
    ``amount_currency``, ``quantity``, ``line_item``, ...), read like the Costs API.

JSON numbers are read by DuckDB's JSON parser, which goes through IEEE doubles: amounts
written by a double serializer (as the providers' APIs are) keep their exact decimal text;
digits beyond the 17th significant one would not survive.

This module also holds the JSON flattening helpers the other LLM loaders share.

Example:
    >>> from aifinops.formats.openai import line_item_sql
    >>> import duckdb
    >>> duckdb.sql("SELECT " + ", ".join(line_item_sql("li")) +
    ...            " FROM (SELECT 'gpt-4o-2024-08-06, cached input' AS li)").fetchall()
    [('gpt-4o-2024-08-06', 'cached_input')]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..sql import Source, case_map, lit, q
from .base import Check, IngestOptions, Plan, Probe, Recon, SourceFormat, csv_relation

__all__ = [
    "OpenAIUsageFormat",
    "OpenAICostsFormat",
    "OpenAIDashboardCsvFormat",
    "LINE_ITEM_TOKEN_TYPES",
    "AI_COLUMNS",
    "json_docs_sql",
    "json_field_sql",
    "unnest_sql",
    "unpivot_sql",
    "unix_or_iso_sql",
    "line_item_sql",
    "token_checks",
    "FORMATS",
]

#: ``line_item`` suffix (after the last comma, lower case) -> ledger token type
LINE_ITEM_TOKEN_TYPES: dict[str, str] = {
    "input": "input",
    "input_tokens": "input",
    "input tokens": "input",
    "uncached input": "input",
    "output": "output",
    "output_tokens": "output",
    "output tokens": "output",
    "cached input": "cached_input",
    "cached_input": "cached_input",
    "cached input tokens": "cached_input",
    "input_cached_tokens": "cached_input",
    "cached_input_tokens": "cached_input",
    "audio input": "audio_input",
    "input audio": "audio_input",
    "input_audio_tokens": "audio_input",
    "audio output": "audio_output",
    "output audio": "audio_output",
    "output_audio_tokens": "audio_output",
    "image input": "image_input",
    "input_image_tokens": "image_input",
    "image output": "image_output",
    "output_image_tokens": "image_output",
    "batch input": "batch_input",
    "input (batch)": "batch_input",
    "batch output": "batch_output",
    "output (batch)": "batch_output",
    "reasoning": "reasoning",
    "reasoning_tokens": "reasoning",
    "output_reasoning_tokens": "reasoning",
    "web search tool calls": "web_search",
    "web search": "web_search",
}

#: the constant FOCUS columns of every generative-AI API row
AI_COLUMNS: dict[str, str] = {
    "ServiceCategory": lit("AI and Machine Learning"),
    "ServiceSubcategory": lit("Generative AI"),
    "ChargeCategory": lit("Usage"),
    "ChargeFrequency": lit("Usage-Based"),
}


# -- JSON flattening helpers (DuckDB relation SQL) -------------------------------------

def json_docs_sql(probe: Probe) -> str:
    """SQL of the top-level JSON values of ``probe``'s file, one row each, numbered
    ``__doc`` in file order: a single object is one row, a top-level array one row per
    element, JSON lines one row per line. The value is the JSON column ``__j``."""
    comp = "gzip" if probe.compressed else "none"
    return (f"SELECT row_number() OVER () AS __doc, json AS __j FROM read_json_objects("
            f"{lit(str(probe.path))}, format = 'auto', compression = {lit(comp)})")


def json_field_sql(j: str, path: str) -> str:
    """Text of the JSON value at ``path`` (``$.a.b``) of JSON expression ``j``: strings
    unquoted, numbers/booleans as written, objects/arrays as JSON text, null -> NULL."""
    v = f"json_extract({j}, {lit(path)})"
    return (f"(CASE json_type({v}) WHEN 'NULL' THEN NULL WHEN 'VARCHAR' THEN json_extract_string({j}, {lit(path)}) "
            f"ELSE CAST({v} AS VARCHAR) END)")


def unnest_sql(source: str, keep: str, array: str, alias: str, ordinal: str) -> str:
    """``SELECT keep, UNNEST(array) AS alias, <1-based position> AS ordinal FROM source``.
    A missing array gives no rows; a value that is not an array fails the file."""
    arr = f"CAST({array} AS JSON[])"
    return f"SELECT {keep}, UNNEST({arr}) AS {alias}, generate_subscripts({arr}, 1) AS {ordinal} FROM {source}"


def unpivot_sql(records: str, items: Sequence[tuple[str, str]], anchor: str) -> str:
    """One row per (record, item) of ``records`` (a relation with ``__row``): ``items``
    are (token key, raw SQL of its count); adds ``__token_key``, ``__tokens`` (text) and
    ``__ti`` (the item's 1-based position).
    The ``anchor`` key's row is always kept; other rows only when their count is not a
    valid zero (NULL counts are dropped only when they are NULL in the source, so an
    unparsable count still reaches the checks)."""
    structs = ", ".join(f"{{'k': {lit(k)}, 'v': CAST({v} AS VARCHAR), 'i': {i}}}" for i, (k, v) in enumerate(items, 1))
    return (
        f"SELECT * EXCLUDE (__u), __u.k AS __token_key, __u.v AS __tokens, __u.i AS __ti FROM ("
        f"SELECT *, UNNEST([{structs}]) AS __u FROM ({records})) "
        f"WHERE __u.k = {lit(anchor)} OR (NULLIF(TRIM(__u.v), '') IS NOT NULL "
        f"AND TRY_CAST(TRIM(__u.v) AS DOUBLE) IS DISTINCT FROM 0)"
    )


def unix_or_iso_sql(source: Source, name: str) -> str:
    """Timestamp from Unix seconds or ISO 8601 text."""
    t = f"NULLIF(TRIM({q(name)}), '')"
    return f"COALESCE(TO_TIMESTAMP(TRY_CAST({t} AS BIGINT)), {source.ts(name)})"


def _bad_unix_or_iso(source: Source, name: str) -> str:
    return f"(NULLIF(TRIM({q(name)}), '') IS NOT NULL AND {unix_or_iso_sql(source, name)} IS NULL)"


def line_item_sql(name: str) -> tuple[str, str]:
    """(model, token type) SQL from an OpenAI ``line_item`` column."""
    col = f"TRIM({q(name)})"
    model = f"NULLIF(TRIM(REGEXP_EXTRACT({col}, '^(.*),([^,]*)$', 1)), '')"
    suffix = f"LOWER(TRIM(CASE WHEN {col} LIKE '%,%' THEN REGEXP_EXTRACT({col}, '^(.*),([^,]*)$', 2) ELSE {col} END))"
    return model, case_map(suffix, LINE_ITEM_TOKEN_TYPES)


def token_checks(source: Source, names: Sequence[str]) -> list[Check]:
    """Number checks and a non-negative check for each count column."""
    out = []
    for n in names:
        out.append(Check(n, "number", source.bad_num(n), q(n)))
        out.append(Check(n, "value", f"COALESCE({source.num(n)} < 0, FALSE)", q(n)))
    return out


def _required(source: Source, name: str) -> Check:
    return Check(name, "required", f"(NULLIF(TRIM({q(name)}), '') IS NULL)", q(name))


def _period(start: str, end: str) -> dict[str, str]:
    bps = f"CAST(DATE_TRUNC('month', {start}) AS TIMESTAMPTZ)"
    return {
        "ChargePeriodStart": start,
        "ChargePeriodEnd": end,
        "BillingPeriodStart": bps,
        "BillingPeriodEnd": f"({bps} + INTERVAL 1 MONTH)",
    }


def _sniff_head(probe: Probe, *markers: str) -> bool:
    return probe.kind == "json" and all(re.search(m, probe.head) for m in markers)


def _pages_records(probe: Probe, fields: dict[str, str], bucket_fields: dict[str, str]) -> str:
    """Records of a paged ``{data: [bucket{..., results: [...]}]}`` document: one row per
    result with ``__row`` (1-based, file order), bucket fields and result fields as text."""
    docs = json_docs_sql(probe)
    buckets = unnest_sql(f"({docs})", "__doc", "json_extract(__j, '$.data')", "__b", "__bi")
    results = unnest_sql(f"({buckets})", "__doc, __bi, __b", "json_extract(__b, '$.results')", "__r", "__ri")
    cols = [f"{json_field_sql('__b', p)} AS {q(n)}" for n, p in bucket_fields.items()]
    cols += [f"{json_field_sql('__r', p)} AS {q(n)}" for n, p in fields.items()]
    return (f"SELECT CAST(row_number() OVER (ORDER BY __doc, __bi, __ri) AS BIGINT) AS __row, "
            f"{', '.join(cols)} FROM ({results})")


def _tags_sql(pairs: dict[str, str]) -> str:
    """JSON object text of the non-NULL ``pairs`` (key -> SQL text expression)."""
    args = ", ".join(f"{lit(k)}, {v}" for k, v in pairs.items())
    return f"NULLIF(CAST(json_merge_patch('{{}}', json_object({args})) AS VARCHAR), '{{}}')"


# -- openai-usage ----------------------------------------------------------------------

_USAGE_FIELDS = {
    "input_tokens": "$.input_tokens",
    "output_tokens": "$.output_tokens",
    "input_cached_tokens": "$.input_cached_tokens",
    "input_audio_tokens": "$.input_audio_tokens",
    "input_cached_audio_tokens": "$.input_cached_audio_tokens",
    "output_audio_tokens": "$.output_audio_tokens",
    "num_model_requests": "$.num_model_requests",
    "project_id": "$.project_id",
    "user_id": "$.user_id",
    "api_key_id": "$.api_key_id",
    "model": "$.model",
    "batch": "$.batch",
    "service_tier": "$.service_tier",
    "organization_id": "$.organization_id",
    "object": "$.object",
}
_BUCKET_FIELDS = {"start_time": "$.start_time", "end_time": "$.end_time"}
_USAGE_COUNTS = ("input_tokens", "output_tokens", "input_cached_tokens", "input_audio_tokens",
                 "input_cached_audio_tokens", "output_audio_tokens", "num_model_requests")

#: Usage API count field -> token type of its ledger row (batch rows: see module doc)
_USAGE_TOKEN_TYPES = {
    "input_tokens": "input",
    "input_cached_tokens": "cached_input",
    "input_audio_tokens": "audio_input",
    "output_tokens": "output",
    "output_audio_tokens": "audio_output",
}
_BATCH = {"input": "batch_input", "output": "batch_output"}


class OpenAIUsageFormat(SourceFormat):
    name = "openai-usage"
    title = "OpenAI Usage API, completions (JSON pages of buckets)"
    required = ("object", "data")
    kinds = ("json",)

    def sniff(self, probe: Probe) -> bool:
        return _sniff_head(probe, r'"organization\.usage\.completions\.result"') or _sniff_head(
            probe, r'"input_cached_tokens"', r'"num_model_requests"', r'"start_time"')

    def relation(self, probe: Probe, options: IngestOptions) -> str:
        records = _pages_records(probe, _USAGE_FIELDS, _BUCKET_FIELDS)
        tags = _tags_sql({"project_id": q("project_id"), "user_id": q("user_id"), "api_key_id": q("api_key_id")})
        records = f"SELECT *, {tags} AS __tags FROM ({records})"
        items = [(k, q(k)) for k in _USAGE_TOKEN_TYPES]
        return unpivot_sql(records, items, "input_tokens")

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        n = source.num
        z = lambda c: f"COALESCE({n(c)}, 0)"  # noqa: E731
        uncached_audio = f"({z('input_audio_tokens')} - {z('input_cached_audio_tokens')})"
        tokens = (
            f"CASE __token_key "
            f"WHEN 'input_tokens' THEN {n('input_tokens')} - {z('input_cached_tokens')} - {uncached_audio} "
            f"WHEN 'input_cached_tokens' THEN {n('input_cached_tokens')} "
            f"WHEN 'input_audio_tokens' THEN {n('input_audio_tokens')} - {z('input_cached_audio_tokens')} "
            f"WHEN 'output_tokens' THEN {n('output_tokens')} - {z('output_audio_tokens')} "
            f"WHEN 'output_audio_tokens' THEN {n('output_audio_tokens')} END"
        )
        batch = "(LOWER(COALESCE(TRIM(\"batch\"), '')) = 'true')"
        plain = case_map("__token_key", _USAGE_TOKEN_TYPES)
        batched = case_map("__token_key", {k: _BATCH.get(v, v) for k, v in _USAGE_TOKEN_TYPES.items()})
        token_type = f"(CASE WHEN {batch} THEN {batched} ELSE {plain} END)"
        start, end = unix_or_iso_sql(source, "start_time"), unix_or_iso_sql(source, "end_time")
        model = source.text("model")
        cols = {
            **AI_COLUMNS,
            **_period(start, f"COALESCE({end}, {start} + INTERVAL 1 DAY)"),
            "BillingAccountId": f"COALESCE({source.text('organization_id')}, 'unknown')",
            "BillingCurrency": lit("USD"),
            "ChargeDescription": f"CONCAT_WS(' ', {model}, {token_type}, 'tokens')",
            "ConsumedQuantity": tokens,
            "ConsumedUnit": lit("Tokens"),
            "PricingQuantity": tokens,
            "PricingUnit": lit("Tokens"),
            "InvoiceIssuerName": lit("OpenAI"),
            "ProviderName": lit("OpenAI"),
            "PublisherName": lit("OpenAI"),
            "ServiceName": lit("OpenAI API"),
            "SkuId": model,
            "SkuMeter": "__token_key",
            "SubAccountId": source.text("project_id"),
            "SubAccountType": f"CASE WHEN {source.text('project_id')} IS NOT NULL THEN 'Project' END",
            "Tags": "__tags",
            "x_Model": model,
            "x_ModelProvider": lit("openai"),
            "x_TokenType": token_type,
            "x_Tokens": tokens,
            "x_Requests": f"CASE WHEN __token_key = 'input_tokens' THEN {n('num_model_requests')} END",
        }
        checks = [
            _required(source, "start_time"),
            Check("start_time", "timestamp", _bad_unix_or_iso(source, "start_time"), q("start_time")),
            Check("end_time", "timestamp", _bad_unix_or_iso(source, "end_time"), q("end_time")),
            _required(source, "input_tokens"),
            *token_checks(source, _USAGE_COUNTS),
            Check("input_cached_tokens", "value",
                  f"COALESCE({z('input_cached_tokens')} + {uncached_audio} > {n('input_tokens')}, FALSE)",
                  q("input_cached_tokens")),
            Check("output_audio_tokens", "value",
                  f"COALESCE({z('output_audio_tokens')} > {z('output_tokens')}, FALSE)", q("output_audio_tokens")),
            Check("input_cached_audio_tokens", "value",
                  f"COALESCE({z('input_cached_audio_tokens')} > {z('input_audio_tokens')}, FALSE)",
                  q("input_cached_audio_tokens")),
        ]
        raw_tokens = f"CASE WHEN __token_key IN ('input_tokens', 'output_tokens') THEN {n('__tokens')} ELSE 0 END"
        recon = [
            Recon("x_Tokens", raw_tokens, "'tokens'", "input_tokens + output_tokens"),
            Recon("x_Requests", f"CASE WHEN __token_key = 'input_tokens' THEN {n('num_model_requests')} END",
                  "'requests'", "num_model_requests"),
        ]
        extra = {
            "x_ApiKeyId": source.text("api_key_id"),
            "x_Batch": source.text("batch"),
            "x_ServiceTier": source.text("service_tier"),
        }
        defaulted = [] if '"organization_id"' in probe.head else ["BillingAccountId"]
        return Plan(columns=cols, checks=checks, recon=recon, extra=extra, defaulted=defaulted,
                    cost_authority="usage")


# -- openai-costs / openai-dashboard-csv -------------------------------------------------

def _cost_plan(source: Source, *, start: str, end: str, amount: str, currency: str, line_item: str,
               quantity: str | None, checks: list[Check], extra: dict[str, str],
               account_name: str | None = None, project_name: str | None = None,
               user: str | None = None) -> Plan:
    n = source.num
    model, token_type = line_item_sql(line_item)
    cur = f"UPPER({source.text(currency)})"
    qty = n(quantity) if quantity else "NULL"
    unit = source.text("quantity_unit") if source.has("quantity_unit") else "'tokens'"  # Costs API: tokens
    is_tokens = f"(LOWER(COALESCE({unit}, 'tokens')) LIKE '%token%')"
    tags = {"project_id": source.text("project_id"), "api_key_id": source.text("api_key_id")}
    if user:
        tags["user_id"] = source.text(user)
    cols = {
        **AI_COLUMNS,
        **_period(start, f"COALESCE({end}, {start} + INTERVAL 1 DAY)"),
        "BilledCost": n(amount),
        "EffectiveCost": n(amount),
        "ListCost": n(amount),
        "ContractedCost": n(amount),
        "BillingAccountId": f"COALESCE({source.text('organization_id')}, 'unknown')",
        "BillingAccountName": source.text(account_name),
        "BillingCurrency": cur,
        "ChargeDescription": source.text(line_item),
        "ConsumedQuantity": qty,
        "ConsumedUnit": f"CASE WHEN {qty} IS NOT NULL THEN (CASE WHEN {is_tokens} THEN 'Tokens' ELSE {unit} END) END",
        "PricingQuantity": qty,
        "PricingUnit": f"CASE WHEN {qty} IS NOT NULL THEN (CASE WHEN {is_tokens} THEN 'Tokens' ELSE {unit} END) END",
        "InvoiceIssuerName": lit("OpenAI"),
        "ProviderName": lit("OpenAI"),
        "PublisherName": lit("OpenAI"),
        "ServiceName": lit("OpenAI API"),
        "SkuId": source.text(line_item),
        "SubAccountId": source.text("project_id"),
        "SubAccountName": source.text(project_name),
        "SubAccountType": f"CASE WHEN {source.text('project_id')} IS NOT NULL THEN 'Project' END",
        "Tags": _tags_sql(tags),
        "x_Model": model,
        "x_ModelProvider": lit("openai"),
        "x_TokenType": token_type,
        "x_Tokens": f"CASE WHEN {token_type} IS NOT NULL THEN {qty} END",
    }
    checks = [
        *checks,
        _required(source, amount),
        Check(amount, "number", source.bad_num(amount), q(amount)),
        _required(source, currency),
    ]
    if quantity:
        checks.append(Check(quantity, "number", source.bad_num(quantity), q(quantity)))
    recon = [Recon("BilledCost", n(amount), cur, amount)]
    return Plan(columns=cols, checks=checks, recon=recon, extra=extra,
                defaulted=[] if source.has("organization_id") else ["BillingAccountId"])


_COST_FIELDS = {
    "amount_value": "$.amount.value",
    "amount_currency": "$.amount.currency",
    "line_item": "$.line_item",
    "project_id": "$.project_id",
    "project_name": "$.project_name",
    "organization_id": "$.organization_id",
    "api_key_id": "$.api_key_id",
    "quantity": "$.quantity",
    "object": "$.object",
}


class OpenAICostsFormat(SourceFormat):
    name = "openai-costs"
    title = "OpenAI Costs API (JSON pages of daily buckets, amounts in dollars)"
    required = ("object", "data")
    kinds = ("json",)

    def sniff(self, probe: Probe) -> bool:
        return _sniff_head(probe, r'"organization\.costs\.result"') or _sniff_head(
            probe, r'"amount"\s*:\s*\{', r'"line_item"', r'"start_time"')

    def relation(self, probe: Probe, options: IngestOptions) -> str:
        return _pages_records(probe, _COST_FIELDS, _BUCKET_FIELDS)

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        start, end = unix_or_iso_sql(source, "start_time"), unix_or_iso_sql(source, "end_time")
        checks = [
            _required(source, "start_time"),
            Check("start_time", "timestamp", _bad_unix_or_iso(source, "start_time"), q("start_time")),
            Check("end_time", "timestamp", _bad_unix_or_iso(source, "end_time"), q("end_time")),
        ]
        plan = _cost_plan(source, start=start, end=end, amount="amount_value", currency="amount_currency",
                          line_item="line_item", quantity="quantity", checks=checks,
                          extra={"x_ApiKeyId": source.text("api_key_id")}, project_name="project_name")
        plan.defaulted = [] if '"organization_id"' in probe.head else ["BillingAccountId"]
        return plan


class OpenAIDashboardCsvFormat(SourceFormat):
    name = "openai-dashboard-csv"
    title = "OpenAI dashboard cost export (CSV)"
    required = ("amount_value", "amount_currency", "line_item", "start_time")
    kinds = ("csv",)

    def relation(self, probe: Probe, options: IngestOptions) -> str:
        return csv_relation(probe, options)

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        s_iso = source.first("start_time_iso")
        e_iso = source.first("end_time_iso")
        start = source.ts(s_iso) if s_iso else unix_or_iso_sql(source, "start_time")
        start = f"COALESCE({start}, {unix_or_iso_sql(source, 'start_time')})" if s_iso else start
        end = (f"COALESCE({source.ts(e_iso)}, {unix_or_iso_sql(source, 'end_time')})" if e_iso and source.has("end_time")
               else source.ts(e_iso) if e_iso
               else unix_or_iso_sql(source, "end_time") if source.has("end_time") else "NULL")
        checks = [Check("start_time", "timestamp", f"({start}) IS NULL", q("start_time"))]
        if source.has("end_time"):
            checks.append(Check("end_time", "timestamp", _bad_unix_or_iso(source, "end_time"), q("end_time")))
        user = source.first("user_email", "user_id")
        extra = {"x_ApiKeyId": source.text("api_key_id"), "x_ApiSource": source.text("api_source"),
                 "x_UserEmail": source.text("user_email")}
        return _cost_plan(source, start=start, end=end, amount="amount_value", currency="amount_currency",
                          line_item="line_item", quantity="quantity" if source.has("quantity") else None,
                          checks=checks, extra=extra, account_name="organization_name",
                          project_name="project_name", user=user)


FORMATS = [OpenAIUsageFormat(), OpenAICostsFormat(), OpenAIDashboardCsvFormat()]
