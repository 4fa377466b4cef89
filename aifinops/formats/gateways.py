"""LLM gateway and observability logs: LiteLLM spend logs, Langfuse observations and
Helicone requests (formats.md §3.9).

Gateway costs are the gateway's own *estimates* (``cost_authority = 'estimate'``): they
enrich the invoice with per-request attribution (team, feature, user, customer) and must
not be added to the provider's billed cost. Each request becomes one ledger row per token
type with ``x_Tokens``/``x_TokenType``; the request's first row (its ``input`` row) carries
``x_Requests = 1``. Where the log splits the cost by token type (Langfuse
``costDetails``) each row carries its part and the first row the rest of the total; where
it does not (LiteLLM ``spend``, Helicone ``costUSD``), the first row carries the whole
request cost and the other token rows 0 (their cost is included there). Reconciliation:
BilledCost against the raw request cost, ``x_Tokens`` against the raw token counts.

``ProviderName`` is the model's developer, from the model name through
:data:`MODEL_PROVIDERS`; ``InvoiceIssuerName`` the upstream the gateway called
(LiteLLM ``custom_llm_provider``, Helicone ``provider``) through :data:`UPSTREAMS`, else the
model's developer. Per-request metadata goes into ``Tags`` (JSON) for the tag map:

- LiteLLM: ``team_id`` (and ``metadata.user_api_key_team_alias`` as ``team``), ``user``,
  ``end_user`` (LiteLLM's customer, also as ``customer``), then the keys of
  ``metadata.spend_logs_metadata`` and ``key:value`` entries of ``request_tags`` (later
  ones win). LiteLLM's ``prompt_tokens`` include cached tokens (one ``input`` row).
- Langfuse: the observation's ``metadata`` object, ``userId`` as ``user``, ``sessionId``,
  ``traceId``, ``environment``. ``usageDetails`` keys are additive (``total`` is their
  sum and is not a row); observations with no model, usage or cost (spans, events) are not
  cost records and are not read.
- Helicone: ``properties`` / ``request_properties`` (custom ``Helicone-Property-*``
  headers), ``request_user_id``/``helicone_user`` as ``user``. Token fields are taken as
  additive (``prompt_tokens`` excluding the cache read/write counts) [S: formats.md];
  ``costUSD`` is dollars, the ClickHouse ``cost`` column is nano-dollars (x 1e-9).

Example:
    >>> import duckdb
    >>> from aifinops.formats.gateways import model_provider_sql
    >>> name, slug = model_provider_sql("m")
    >>> duckdb.sql(f"SELECT {name}, {slug} FROM (SELECT 'bedrock/anthropic.claude-3-haiku' AS m)").fetchall()
    [('Anthropic', 'anthropic')]
"""

from __future__ import annotations

import re

from ..sql import Source, case_map, lit, q
from .base import Check, IngestOptions, Plan, Probe, Recon, SourceFormat, csv_relation
from .openai import AI_COLUMNS, _period, json_docs_sql, json_field_sql, unpivot_sql

__all__ = [
    "MODEL_PROVIDERS",
    "UPSTREAMS",
    "GATEWAY_TOKEN_TYPES",
    "model_provider_sql",
    "LiteLLMSpendFormat",
    "LangfuseObservationsFormat",
    "HeliconeRequestsFormat",
    "FORMATS",
]

#: (RE2 pattern over the lower-case model name, ProviderName, x_ModelProvider); first match wins
MODEL_PROVIDERS: tuple[tuple[str, str, str], ...] = (
    (r"claude", "Anthropic", "anthropic"),
    (r"(^|[/.:])(gpt-|chatgpt|o[1-9](-|$)|text-embedding|davinci|babbage|dall-e|whisper|tts-|omni-moderation|codex|computer-use)",
     "OpenAI", "openai"),
    (r"gemini|gemma|palm|bison", "Google", "google"),
    (r"mistral|mixtral|codestral|pixtral|ministral|magistral|devstral", "Mistral AI", "mistral"),
    (r"llama", "Meta", "meta"),
    (r"(^|[/.])(command|embed-english|embed-multilingual|rerank)", "Cohere", "cohere"),
    (r"deepseek", "DeepSeek", "deepseek"),
    (r"grok", "xAI", "xai"),
    (r"qwen", "Alibaba Cloud", "alibaba"),
    (r"(^|[/.])(amazon\.)?(titan|nova)", "Amazon", "amazon"),
)

#: gateway upstream provider (lower case) -> InvoiceIssuerName
UPSTREAMS: dict[str, str] = {
    "openai": "OpenAI", "text-completion-openai": "OpenAI", "chatgpt": "OpenAI",
    "anthropic": "Anthropic",
    "azure": "Microsoft", "azure_ai": "Microsoft", "azure_text": "Microsoft",
    "bedrock": "AWS", "sagemaker": "AWS", "aws": "AWS",
    "vertex_ai": "Google Cloud", "vertex_ai_beta": "Google Cloud", "vertex": "Google Cloud",
    "gemini": "Google", "google": "Google",
    "mistral": "Mistral AI", "cohere": "Cohere", "groq": "Groq", "together_ai": "Together AI",
    "together": "Together AI", "openrouter": "OpenRouter", "deepseek": "DeepSeek", "xai": "xAI",
    "fireworks_ai": "Fireworks AI", "fireworks": "Fireworks AI", "perplexity": "Perplexity",
}

#: token field / usage key (lower case) -> token type
GATEWAY_TOKEN_TYPES: dict[str, str] = {
    "input": "input", "prompt_tokens": "input", "input_tokens": "input",
    "output": "output", "completion_tokens": "output", "output_tokens": "output",
    "cache_read_input_tokens": "cached_input", "input_cached_tokens": "cached_input",
    "cached_tokens": "cached_input", "input_cache_read": "cached_input", "prompt_cache_read_tokens": "cached_input",
    "cache_creation_input_tokens": "cache_write", "input_cache_creation": "cache_write",
    "prompt_cache_write_tokens": "cache_write", "input_cache_write": "cache_write",
    "output_reasoning_tokens": "reasoning", "reasoning_tokens": "reasoning", "output_reasoning": "reasoning",
    "input_audio_tokens": "audio_input", "input_audio": "audio_input", "prompt_audio_tokens": "audio_input",
    "output_audio_tokens": "audio_output", "output_audio": "audio_output", "completion_audio_tokens": "audio_output",
    "input_image": "image_input", "input_image_tokens": "image_input",
    "output_image": "image_output", "output_image_tokens": "image_output",
}


def model_provider_sql(model: str) -> tuple[str, str]:
    """(ProviderName, x_ModelProvider) SQL from the model name expression ``model``."""
    m = f"LOWER({q(model)})" if re.fullmatch(r"\w+", model) else f"LOWER({model})"
    name = " ".join(f"WHEN regexp_matches({m}, {lit(p)}) THEN {lit(n)}" for p, n, _ in MODEL_PROVIDERS)
    slug = " ".join(f"WHEN regexp_matches({m}, {lit(p)}) THEN {lit(s)}" for p, _, s in MODEL_PROVIDERS)
    return f"(CASE {name} END)", f"(CASE {slug} END)"


# -- relation helpers ----------------------------------------------------------------------

def _json_records(probe: Probe, fields: dict[str, tuple[str, ...]], where: str | None = None) -> str:
    """Records of a JSON / JSON-lines file: each top-level value is a record, or a page
    whose ``data`` array holds the records. ``fields``: column -> JSON paths (first
    non-NULL wins), all as text. Adds ``__row`` (1-based record number)."""
    docs = json_docs_sql(probe)
    arr = "CASE WHEN json_type(__j, '$.data') = 'ARRAY' THEN CAST(json_extract(__j, '$.data') AS JSON[]) ELSE [__j] END"
    recs = f"SELECT __doc, UNNEST({arr}) AS __o, generate_subscripts({arr}, 1) AS __oi FROM ({docs})"
    cols = []
    for name, paths in fields.items():
        vals = [json_field_sql("__o", p) for p in paths]
        cols.append(f"{vals[0] if len(vals) == 1 else 'COALESCE(' + ', '.join(vals) + ')'} AS {q(name)}")
    body = f"SELECT __doc, __oi, {', '.join(cols)} FROM ({recs})"
    if where:
        body = f"SELECT * FROM ({body}) WHERE {where}"
    return (f"SELECT CAST(row_number() OVER (ORDER BY __doc, __oi) AS BIGINT) AS __row, * EXCLUDE (__doc, __oi) "
            f"FROM ({body})")


def _csv_records(probe: Probe, options: IngestOptions, fields: dict[str, tuple[str, ...]]) -> str:
    """Records of a CSV file with the same normalized text columns as :func:`_json_records`."""
    cols = []
    for name, cands in fields.items():
        have = [q(c) for c in cands if c in probe.columns]
        expr = "CAST(NULL AS VARCHAR)" if not have else have[0] if len(have) == 1 else f"COALESCE({', '.join(have)})"
        cols.append(f"{expr} AS {q(name)}")
    return (f"SELECT CAST(row_number() OVER () AS BIGINT) AS __row, {', '.join(cols)} "
            f"FROM ({csv_relation(probe, options)})")


def _json_obj(expr: str) -> str:
    """The JSON object text ``expr`` (text), or ``{}`` when NULL / not an object."""
    return f"(CASE WHEN json_valid({expr}) AND json_type(CAST({expr} AS JSON)) = 'OBJECT' THEN CAST({expr} AS JSON) ELSE '{{}}'::JSON END)"


def _bad_json(name: str) -> str:
    """TRUE when text column ``name`` is present but not a JSON object/array."""
    return f"(NULLIF(TRIM({q(name)}), '') IS NOT NULL AND NOT COALESCE(json_valid({q(name)}), FALSE))"


def _merge_tags(*objs: str) -> str:
    """Merged JSON object text (later objects win, NULL members removed), NULL when empty."""
    return f"NULLIF(CAST(json_merge_patch('{{}}', {', '.join(objs)}) AS VARCHAR), '{{}}')"


def _obj(pairs: dict[str, str]) -> str:
    return "json_object(" + ", ".join(f"{lit(k)}, {v}" for k, v in pairs.items()) + ")"


def _request_tags_obj(name: str) -> str:
    """``key:value`` entries of a JSON array text column as a JSON object."""
    arr = f"(CASE WHEN json_valid({q(name)}) AND json_type(CAST({q(name)} AS JSON)) = 'ARRAY' " \
          f"THEN CAST(CAST({q(name)} AS JSON) AS VARCHAR[]) END)"
    kv = f"list_filter({arr}, lambda x: x LIKE '%:%')"
    pairs = (f"list_transform({kv}, lambda x: to_json(TRIM(split_part(x, ':', 1))) || ':' || "
             f"to_json(TRIM(substr(x, strpos(x, ':') + 1))))")
    return f"COALESCE(CAST('{{' || array_to_string({pairs}, ',') || '}}' AS JSON), '{{}}'::JSON)"


def _with_costs(relation: str) -> str:
    """Adds ``__cost_rest``: the sum of the token-type cost parts on the record's other
    rows (anchor row only)."""
    return (f"SELECT *, CASE WHEN __anchor THEN SUM(CASE WHEN NOT __anchor THEN TRY_CAST(TRIM(__cost_part) AS DECIMAL(38,18)) END) "
            f"OVER (PARTITION BY __row) END AS __cost_rest FROM ({relation}) ORDER BY __row, __ti")


def _static_unpivot(records: str, items: list[str], anchor: str) -> str:
    rel = unpivot_sql(records, [(k, q(k)) for k in items], anchor)
    return _with_costs(f"SELECT *, __token_key = {lit(anchor)} AS __anchor, CAST(NULL AS VARCHAR) AS __cost_part FROM ({rel})")


# -- plan ------------------------------------------------------------------------------------

def _gateway_plan(source: Source, *, start: str, end: str, model: str, upstream: str | None,
                  cost: str, count_fields: tuple[str, ...], extra: dict[str, str],
                  user_check_columns: tuple[str, ...] = (), description: str = "gateway request",
                  cost_label: str = "cost") -> Plan:
    n = source.num
    m = source.text(model)
    prov_name, prov_slug = model_provider_sql(m)
    up = case_map(f"LOWER({source.text(upstream)})", UPSTREAMS) if upstream else "NULL"
    up_raw = source.text(upstream) if upstream else "NULL"
    provider = f"COALESCE({prov_name}, {up}, {up_raw}, 'unknown')"
    issuer = f"COALESCE({up}, {up_raw}, {prov_name}, 'unknown')"
    tt = case_map("LOWER(__token_key)", GATEWAY_TOKEN_TYPES)
    billed = (f"CASE WHEN __anchor THEN {cost} - COALESCE(__cost_rest, 0) "
              f"ELSE COALESCE({n('__cost_part')}, 0) END")
    tokens = n("__tokens")
    ts_start, ts_end = source.ts(start), source.ts(end)
    cols = {
        **AI_COLUMNS,
        **_period(ts_start, f"COALESCE({ts_end}, {ts_start})"),
        "BilledCost": billed,
        "EffectiveCost": billed,
        "ListCost": billed,
        "ContractedCost": billed,
        "BillingAccountId": lit("unknown"),
        "BillingCurrency": lit("USD"),
        "ChargeDescription": f"CONCAT_WS(' ', {m}, {tt}, 'tokens')",
        "ConsumedQuantity": tokens,
        "ConsumedUnit": f"CASE WHEN {tokens} IS NOT NULL THEN 'Tokens' END",
        "PricingQuantity": tokens,
        "PricingUnit": f"CASE WHEN {tokens} IS NOT NULL THEN 'Tokens' END",
        "InvoiceIssuerName": issuer,
        "ProviderName": provider,
        "PublisherName": provider,
        "ServiceName": f"COALESCE({prov_name}, {issuer}) || ' API'",
        "SkuId": m,
        "SkuMeter": "__token_key",
        "Tags": "__tags",
        "x_Model": f"regexp_replace({m}, '^.*/', '')",
        "x_ModelProvider": prov_slug,
        "x_TokenType": tt,
        "x_Tokens": tokens,
        "x_Requests": "CASE WHEN __anchor THEN 1 END",
    }
    checks = [
        Check(start, "required", f"(NULLIF(TRIM({q(start)}), '') IS NULL)", q(start)),
        Check(start, "timestamp", source.bad_ts(start), q(start)),
        Check(end, "timestamp", source.bad_ts(end), q(end)),
    ]
    for c in count_fields:
        checks.append(Check(c, "number", source.bad_num(c), q(c)))
        checks.append(Check(c, "value", f"COALESCE({n(c)} < 0, FALSE)", q(c)))
    for c in user_check_columns:
        checks.append(Check(c, "value", _bad_json(c), q(c)))
    recon = [
        Recon("BilledCost", f"CASE WHEN __anchor THEN {cost} END", "'USD'", cost_label),
        Recon("x_Tokens", tokens, "'tokens'", "token counts"),
    ]
    return Plan(columns=cols, checks=checks, recon=recon, extra=extra, defaulted=["BillingAccountId", "BillingCurrency"],
                cost_authority="estimate")


def _head_keys(probe: Probe, *keys: str) -> bool:
    return probe.kind == "json" and all(re.search(rf'"{k}"\s*:', probe.head) for k in keys)


# -- LiteLLM ---------------------------------------------------------------------------------

_LITELLM_FIELDS: dict[str, tuple[str, ...]] = {
    "request_id": ("request_id",),
    "call_type": ("call_type",),
    "api_key": ("api_key",),
    "spend": ("spend",),
    "prompt_tokens": ("prompt_tokens",),
    "completion_tokens": ("completion_tokens",),
    "total_tokens": ("total_tokens",),
    "startTime": ("startTime", "start_time"),
    "endTime": ("endTime", "end_time"),
    "model": ("model",),
    "model_group": ("model_group",),
    "custom_llm_provider": ("custom_llm_provider",),
    "user": ("user",),
    "metadata": ("metadata",),
    "request_tags": ("request_tags",),
    "team_id": ("team_id",),
    "organization_id": ("organization_id",),
    "end_user": ("end_user",),
    "status": ("status",),
    "cache_hit": ("cache_hit",),
}


class LiteLLMSpendFormat(SourceFormat):
    name = "litellm-spend"
    title = "LiteLLM proxy spend logs (LiteLLM_SpendLogs as CSV, JSON or JSON lines)"
    required = ("request_id", "spend", "startTime", "model")
    kinds = ("csv", "json")

    def sniff(self, probe: Probe) -> bool:
        if probe.kind == "csv":
            return super().sniff(probe)
        return _head_keys(probe, "request_id", "spend", "startTime")

    def relation(self, probe: Probe, options: IngestOptions) -> str:
        fields = _LITELLM_FIELDS
        recs = _json_records(probe, fields) if probe.kind == "json" else _csv_records(probe, options, fields)
        meta = _json_obj('"metadata"')
        tags = _merge_tags(
            _obj({"team_id": '"team_id"',
                  "team": f"COALESCE(json_extract_string({meta}, '$.user_api_key_team_alias'), \"team_id\")",
                  "user": '"user"', "end_user": '"end_user"', "customer": '"end_user"',
                  "api_key_alias": f"json_extract_string({meta}, '$.user_api_key_alias')"}),
            f"COALESCE(json_extract({meta}, '$.spend_logs_metadata'), '{{}}'::JSON)",
            _request_tags_obj("request_tags"),
        )
        recs = f"SELECT *, {tags} AS __tags FROM ({recs})"
        return _static_unpivot(recs, ["prompt_tokens", "completion_tokens"], "prompt_tokens")

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        extra = {"x_RequestId": source.text("request_id"), "x_Gateway": lit("litellm"),
                 "x_ApiKeyId": source.text("api_key"), "x_CallType": source.text("call_type"),
                 "x_Status": source.text("status")}
        plan = _gateway_plan(source, start="startTime", end="endTime", model="model", upstream="custom_llm_provider",
                             cost=source.num("spend"), count_fields=("prompt_tokens", "completion_tokens"),
                             extra=extra, user_check_columns=("metadata", "request_tags"), cost_label="spend")
        plan.checks += [Check("spend", "number", source.bad_num("spend"), q("spend")),
                        Check("spend", "required", "(NULLIF(TRIM(\"spend\"), '') IS NULL)", q("spend"))]
        return plan


# -- Langfuse ----------------------------------------------------------------------------------

_LANGFUSE_FIELDS: dict[str, tuple[str, ...]] = {
    "id": ("$.id",),
    "traceId": ("$.traceId", "$.trace_id"),
    "type": ("$.type",),
    "name": ("$.name",),
    "startTime": ("$.startTime", "$.start_time"),
    "endTime": ("$.endTime", "$.end_time"),
    "model": ("$.providedModelName", "$.provided_model_name", "$.model"),
    "usageDetails": ("$.usageDetails", "$.usage_details"),
    "costDetails": ("$.costDetails", "$.cost_details"),
    "totalCost": ("$.calculatedTotalCost", "$.totalPrice", "$.total_cost"),
    "metadata": ("$.metadata",),
    "userId": ("$.userId", "$.user_id"),
    "sessionId": ("$.sessionId", "$.session_id"),
    "environment": ("$.environment",),
}


class LangfuseObservationsFormat(SourceFormat):
    name = "langfuse-observations"
    title = "Langfuse observations export (JSON, JSON lines or API pages)"
    required = ("traceId", "usageDetails")
    kinds = ("json",)

    def sniff(self, probe: Probe) -> bool:
        return probe.kind == "json" and bool(re.search(r'"(traceId|trace_id)"\s*:', probe.head)) and bool(
            re.search(r'"(usageDetails|usage_details|costDetails|cost_details)"\s*:', probe.head))

    def relation(self, probe: Probe, options: IngestOptions) -> str:
        has_data = ("(NULLIF(TRIM(\"model\"), '') IS NOT NULL OR COALESCE(\"usageDetails\", '{}') <> '{}' "
                    "OR COALESCE(\"costDetails\", '{}') <> '{}')")
        recs = _json_records(probe, _LANGFUSE_FIELDS, where=has_data)
        meta = _json_obj('"metadata"')
        tags = _merge_tags(
            _obj({"user": '"userId"', "session_id": '"sessionId"', "trace_id": '"traceId"',
                  "environment": '"environment"'}),
            meta,
        )
        usage = _json_obj('"usageDetails"')
        cost = _json_obj('"costDetails"')
        keys = f"list_filter(json_keys({usage}), lambda k: k <> 'total')"
        # the anchor is 'input' (always a row); without usage keys, 'total' carries the record
        key_list = (f"CASE WHEN len({keys}) > 0 THEN (['input'] || list_filter({keys}, lambda k: k <> 'input')) "
                    f"ELSE ['total'] END")
        bad_cost = (f"list_transform(list_filter(json_keys({cost}), lambda k: json_extract_string({cost}, '$.\"' || k || '\"') IS NOT NULL "
                    f"AND TRY_CAST(json_extract_string({cost}, '$.\"' || k || '\"') AS DECIMAL(38,18)) IS NULL), "
                    f"lambda k: k || '=' || json_extract_string({cost}, '$.\"' || k || '\"'))[1]")
        cost_total = (f"COALESCE(json_extract_string({cost}, '$.total'), "
                      f"CASE WHEN len(list_filter(json_keys({cost}), lambda k: k <> 'total')) > 0 THEN "
                      f"CAST(list_sum(list_transform(list_filter(json_keys({cost}), lambda k: k <> 'total'), "
                      f"lambda k: TRY_CAST(json_extract_string({cost}, '$.\"' || k || '\"') AS DECIMAL(38,18)))) AS VARCHAR) END, "
                      f"\"totalCost\")")
        recs = (f"SELECT *, {tags} AS __tags, {cost_total} AS __cost_total, {bad_cost} AS __bad_cost_key, "
                f"{key_list} AS __keys FROM ({recs})")
        rows = (f"SELECT * EXCLUDE (__keys), UNNEST(__keys) AS __token_key, generate_subscripts(__keys, 1) AS __ti "
                f"FROM ({recs})")
        rows = f"SELECT *, __ti = 1 AS __anchor FROM ({rows})"
        rows = (f"SELECT *, json_extract_string({usage}, '$.\"' || __token_key || '\"') AS __tokens, "
                f"json_extract_string({cost}, '$.\"' || __token_key || '\"') AS __cost_part FROM ({rows})")
        rows = (f"SELECT * FROM ({rows}) WHERE __anchor OR (NULLIF(TRIM(__tokens), '') IS NOT NULL AND "
                f"TRY_CAST(TRIM(__tokens) AS DOUBLE) IS DISTINCT FROM 0) OR "
                f"TRY_CAST(TRIM(__cost_part) AS DOUBLE) IS DISTINCT FROM 0")
        return _with_costs(rows)

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        extra = {"x_ObservationId": source.text("id"), "x_TraceId": source.text("traceId"),
                 "x_Gateway": lit("langfuse"), "x_ObservationName": source.text("name")}
        cost = f"COALESCE({source.num('__cost_total')}, 0)"
        plan = _gateway_plan(source, start="startTime", end="endTime", model="model", upstream=None,
                             cost=cost, count_fields=("__tokens",), extra=extra,
                             user_check_columns=("metadata",), cost_label="costDetails.total")
        plan.checks += [
            Check("costDetails", "number", "__bad_cost_key IS NOT NULL", "__bad_cost_key"),
            Check("costDetails.total", "number", source.bad_num("__cost_total"), "__cost_total"),
        ]
        return plan


# -- Helicone ----------------------------------------------------------------------------------

_HELICONE_FIELDS: dict[str, tuple[str, ...]] = {
    "request_id": ("request_id",),
    "request_created_at": ("request_created_at",),
    "response_created_at": ("response_created_at",),
    "model": ("model", "response_model", "request_model", "model_override"),
    "provider": ("provider",),
    "prompt_tokens": ("prompt_tokens",),
    "prompt_cache_read_tokens": ("prompt_cache_read_tokens",),
    "prompt_cache_write_tokens": ("prompt_cache_write_tokens",),
    "prompt_audio_tokens": ("prompt_audio_tokens",),
    "completion_tokens": ("completion_tokens",),
    "completion_audio_tokens": ("completion_audio_tokens",),
    "costUSD": ("costUSD", "cost_usd"),
    "cost": ("cost",),
    "user": ("request_user_id", "helicone_user", "user_id"),
    "properties": ("properties", "request_properties"),
    "status": ("response_status", "status"),
    "country_code": ("country_code",),
}
_HELICONE_COUNTS = ("prompt_tokens", "prompt_cache_read_tokens", "prompt_cache_write_tokens", "prompt_audio_tokens",
                    "completion_tokens", "completion_audio_tokens")


class HeliconeRequestsFormat(SourceFormat):
    name = "helicone-requests"
    title = "Helicone request export (JSON, JSON lines or CSV from @helicone/export)"
    required = ("request_id", "request_created_at", "prompt_tokens", "completion_tokens")
    kinds = ("csv", "json")

    def sniff(self, probe: Probe) -> bool:
        if probe.kind == "csv":
            return super().sniff(probe)
        return _head_keys(probe, "request_id", "request_created_at", "prompt_tokens")

    def relation(self, probe: Probe, options: IngestOptions) -> str:
        if probe.kind == "json":
            fields = {k: tuple(f"$.{c}" for c in v) for k, v in _HELICONE_FIELDS.items()}
            recs = _json_records(probe, fields)
        else:
            recs = _csv_records(probe, options, _HELICONE_FIELDS)
        tags = _merge_tags(_obj({"user": '"user"'}), _json_obj('"properties"'))
        recs = f"SELECT *, {tags} AS __tags FROM ({recs})"
        return _static_unpivot(recs, list(_HELICONE_COUNTS), "prompt_tokens")

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        nano = f"CAST({source.num('cost')} * CAST(0.000000001 AS DECIMAL(10,9)) AS DECIMAL(38,18))"
        cost = f"COALESCE({source.num('costUSD')}, {nano}, 0)"
        extra = {"x_RequestId": source.text("request_id"), "x_Gateway": lit("helicone"),
                 "x_Status": source.text("status")}
        plan = _gateway_plan(source, start="request_created_at", end="response_created_at", model="model",
                             upstream="provider", cost=cost, count_fields=_HELICONE_COUNTS, extra=extra,
                             user_check_columns=("properties",), cost_label="costUSD")
        plan.checks += [Check("costUSD", "number", source.bad_num("costUSD"), q("costUSD")),
                        Check("cost", "number", source.bad_num("cost"), q("cost"))]
        return plan


FORMATS = [LiteLLMSpendFormat(), LangfuseObservationsFormat(), HeliconeRequestsFormat()]
