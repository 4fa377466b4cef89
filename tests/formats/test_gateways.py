"""Gateway loaders: litellm-spend, langfuse-observations, helicone-requests (synthetic
fixtures: no real gateway export is public, formats.md §4.3)."""

from __future__ import annotations

import json
from decimal import Decimal

import duckdb
import pandas as pd
import pytest

from aifinops.errors import NumberParseError
from aifinops.formats import detect
from aifinops.formats.gateways import GATEWAY_TOKEN_TYPES, model_provider_sql
from aifinops.ingest import ingest, preview
from aifinops.ledger import Ledger
from aifinops.samples import anthropic as anthropic_sample
from aifinops.samples import gateways as gateway_sample
from aifinops.samples import openai as openai_sample
from aifinops.samples.truth import ground_truth
from aifinops.schema import TOKEN_TYPES

LITELLM_HEADER = ("request_id,call_type,api_key,spend,total_tokens,prompt_tokens,completion_tokens,startTime,endTime,"
                  "model,model_group,custom_llm_provider,user,metadata,request_tags,team_id,end_user\n")


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    t = ground_truth(months=1)
    first = t["date"].min()
    return t[(t["date"] < first + pd.Timedelta(days=3))].reset_index(drop=True)


@pytest.fixture(scope="module")
def ledger(truth, tmp_path_factory) -> Ledger:
    """Invoices (OpenAI costs, Anthropic cost report) and the LiteLLM log of the same traffic."""
    out = tmp_path_factory.mktemp("gw-sample")
    files = [f for f in openai_sample.write(truth, out) + anthropic_sample.write(truth, out)
             if f.name.startswith("cost")]
    files += gateway_sample.write(truth, out)
    rep = ingest(files, out / "ledger")
    assert [f.status for f in rep.files] == ["ok"] * len(files), [str(f.error) for f in rep.files]
    assert all(r["difference"] == 0 for f in rep.files for r in f.recon)
    return Ledger(out / "ledger")


def _llm(truth):
    return truth[truth["provider"].isin(["openai", "anthropic"])]


# -- sample round trip ---------------------------------------------------------------------

def test_litellm_sample_is_an_estimate_matching_the_invoice(ledger, truth):
    got = ledger.query("SELECT x_CostAuthority AS a, x_SourceFormat AS f, sum(BilledCost) AS c FROM ledger "
                       "GROUP BY 1, 2 ORDER BY 1, 2")
    total = sum(_llm(truth)["cost"], Decimal(0))
    by = {(a, f): c for a, f, c in zip(got["a"], got["f"], got["c"])}
    assert by[("estimate", "litellm-spend")] == total
    assert by[("invoice", "openai-costs")] + by[("invoice", "anthropic-cost")] == total
    # counted once: the invoice is the cost, the gateway only attributes it
    once = ledger.query("SELECT sum(BilledCost) AS c FROM ledger WHERE x_CostAuthority = 'invoice'")["c"].iloc[0]
    assert once == total


@pytest.mark.parametrize("attr, col", [("team", "x_Team"), ("feature", "x_Feature"), ("user", "x_User"),
                                       ("customer", "x_Customer"), ("environment", "x_Environment"),
                                       ("cost_center", "x_CostCenter")])
def test_litellm_sample_attribution_equals_truth(ledger, truth, attr, col):
    got = ledger.query(f"SELECT {col} AS k, sum(BilledCost) AS c FROM ledger "
                       "WHERE x_SourceFormat = 'litellm-spend' GROUP BY 1")
    want = _llm(truth).groupby(attr, dropna=False)["cost"].apply(lambda s: sum(s, Decimal(0)))
    key = lambda k: None if pd.isna(k) else k  # noqa: E731
    assert {key(k): c for k, c in zip(got["k"], got["c"])} == {key(k): c for k, c in want.items()}


def test_litellm_sample_tokens_per_model_equal_truth(ledger, truth):
    got = ledger.query("SELECT x_Model, x_TokenType, ProviderName, InvoiceIssuerName, sum(x_Tokens) AS t "
                       "FROM ledger WHERE x_SourceFormat = 'litellm-spend' GROUP BY ALL")
    t = _llm(truth)
    side = t["token_type"].map(lambda x: "output" if x in ("output", "reasoning") else "input")
    want = t.assign(side=side).groupby(["model", "side"])["tokens"].sum()
    assert {(m, s): v for m, s, v in zip(got["x_Model"], got["x_TokenType"], got["t"])} == \
        {k: Decimal(int(v)) for k, v in want.items()}
    prov = dict(zip(got["x_Model"], got["ProviderName"]))
    for m, p in t[["model", "provider"]].drop_duplicates().itertuples(index=False):
        assert prov[m] == {"openai": "OpenAI", "anthropic": "Anthropic"}[p]
    assert set(got["InvoiceIssuerName"]) == {"OpenAI", "Anthropic"}


def test_litellm_requests_on_input_rows_only(ledger):
    got = ledger.query("SELECT x_TokenType, count(x_Requests) AS n, sum(x_Requests) AS s, count(*) AS rows "
                       "FROM ledger WHERE x_SourceFormat = 'litellm-spend' GROUP BY 1")
    d = {t: (n, s, r) for t, n, s, r in zip(got["x_TokenType"], got["n"], got["s"], got["rows"])}
    assert d["output"][0] == 0 and d["input"][0] == d["input"][2] == d["input"][1]


# -- LiteLLM details -----------------------------------------------------------------------

def test_litellm_csv_tags_and_malformed_rows(tmp_path):
    p = tmp_path / "spend.csv"
    p.write_text(
        LITELLM_HEADER
        + 'r1,acompletion,h,0.0123,150,100,50,2025-06-01 10:00:00,2025-06-01 10:00:02,gpt-4o,gpt-4o,openai,alice,'
          '"{""user_api_key_team_alias"": ""Search"", ""spend_logs_metadata"": {""feature"": ""semantic-search""}}",'
          '"[""customer:cust-007"", ""plain""]",team-1,cust-009\n'
        + 'r2,acompletion,h,0.5,,10,0,2025-06-01T11:00:00Z,,bedrock/anthropic.claude-3-haiku,x,bedrock,bob,,,,\n'
        + 'r3,acompletion,h,abc,,10,5,2025-06-01T11:00:00Z,,gpt-4o,x,azure,bob,,,,\n'
        + 'r4,acompletion,h,0.1,,10,5,2025-06-01T11:00:00Z,,gpt-4o,x,azure,bob,{bad,,,\n'
        + 'r5,acompletion,h,0.1,,10,5,not a time,,gpt-4o,x,azure,bob,,,,\n')
    assert detect(p).name == "litellm-spend"
    f = ingest([p], tmp_path / "l").files[0]
    assert f.status == "quarantined" and f.rows + f.quarantined == f.source_rows
    errs = {(e.row, e.column, type(e).__name__) for e in f.errors}
    assert {(3, "spend", "NumberParseError"), (4, "metadata", "InvalidValueError"),
            (5, "startTime", "DateParseError")} <= errs
    assert all(e.file == str(p) for e in f.errors)
    assert all(r["difference"] == 0 for r in f.recon)
    assert next(r for r in f.recon if r["column"] == "BilledCost")["ledger_total"] == Decimal("0.5123")
    df = Ledger(tmp_path / "l").frame(where="x_SourceRow = 1 AND x_TokenType = 'input'").iloc[0]
    assert (df["x_Team"], df["x_Feature"], df["x_User"], df["x_Customer"]) == ("search", "semantic-search", "alice",
                                                                               "cust-007")
    assert (df["BilledCost"], df["x_Requests"], df["x_CostAuthority"]) == (Decimal("0.0123"), 1, "estimate")
    r2 = Ledger(tmp_path / "l").frame(where="x_SourceRow = 2").iloc[0]
    assert (r2["ProviderName"], r2["InvoiceIssuerName"], r2["x_Model"]) == ("Anthropic", "AWS",
                                                                            "anthropic.claude-3-haiku")


def test_litellm_json_with_object_metadata(tmp_path):
    rec = {"request_id": "r1", "spend": 0.25, "prompt_tokens": 7, "completion_tokens": 3,
           "startTime": "2025-06-01T10:00:00Z", "endTime": "2025-06-01T10:00:01Z", "model": "claude-haiku-4-5",
           "custom_llm_provider": "anthropic", "user": "u1", "team_id": "t1", "request_tags": ["feature:triage"],
           "metadata": {"spend_logs_metadata": {"customer": "cust-001"}}}
    p = tmp_path / "spend.json"
    p.write_text(json.dumps({"data": [rec, {**rec, "request_id": "r2", "spend": 0.5}]}))
    assert detect(p).name == "litellm-spend"
    df = preview(p)
    assert list(df["x_SourceRow"]) == [1, 1, 2, 2]
    assert list(df["BilledCost"]) == [Decimal("0.25"), 0, Decimal("0.5"), 0]
    assert set(df["x_Feature"]) == {"triage"} and set(df["x_Customer"]) == {"cust-001"}


# -- Langfuse ------------------------------------------------------------------------------

def _obs(**kw):
    o = {"id": "o1", "traceId": "t1", "type": "GENERATION", "name": "chat", "startTime": "2025-06-01T10:00:00.000Z",
         "endTime": "2025-06-01T10:00:01.000Z", "model": "gpt-4o",
         "usageDetails": {"input": 100, "output": 50, "input_cached_tokens": 20, "total": 170},
         "costDetails": {"input": 0.00025, "output": 0.0005, "input_cached_tokens": 0.000025, "total": 0.001},
         "metadata": {"team": "assistant", "feature": "chat-assistant"}, "userId": "u1"}
    o.update(kw)
    return o


def test_langfuse_cost_split_spans_and_totals(tmp_path):
    lines = [_obs(), {"id": "s1", "traceId": "t1", "type": "SPAN", "startTime": "2025-06-01T10:00:00Z"},
             _obs(id="o3", usageDetails={"total": 10}, costDetails={"total": 0.1}, model="claude-3-5-haiku"),
             _obs(id="o4", costDetails={"input": "x", "total": 1})]
    p = tmp_path / "obs.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert detect(p).name == "langfuse-observations"
    f = ingest([p], tmp_path / "l").files[0]
    assert f.source_rows == 3 + 1 + 3 and f.quarantined == 3  # the span is not a cost record
    e = f.errors[0]
    assert isinstance(e, NumberParseError) and (e.row, e.column) == (3, "costDetails") and "input=x" in str(e)
    assert all(r["difference"] == 0 for r in f.recon)
    df = Ledger(tmp_path / "l").frame(where="x_SourceRow = 1")
    cost = dict(zip(df["x_TokenType"], df["BilledCost"]))
    # parts on their rows, the rest of the total on the input row
    assert cost == {"input": Decimal("0.001") - Decimal("0.0005") - Decimal("0.000025"),
                    "output": Decimal("0.0005"), "cached_input": Decimal("0.000025")}
    assert set(df["x_Team"]) == {"assistant"} and set(df["x_User"]) == {"u1"}
    d2 = Ledger(tmp_path / "l").frame(where="x_SourceRow = 2").iloc[0]
    assert (d2["x_Tokens"], d2["BilledCost"], d2["ProviderName"]) == (10, Decimal("0.1"), "Anthropic")
    assert pd.isna(d2["x_TokenType"])


# -- Helicone ------------------------------------------------------------------------------

def test_helicone_json_and_csv(tmp_path):
    rec = {"request_id": "h1", "request_created_at": "2025-06-01T10:00:00Z",
           "response_created_at": "2025-06-01T10:00:01Z", "model": "claude-sonnet-4", "provider": "ANTHROPIC",
           "prompt_tokens": 100, "prompt_cache_read_tokens": 30, "prompt_cache_write_tokens": 0,
           "completion_tokens": 40, "costUSD": 0.01, "request_user_id": "u9",
           "properties": {"Feature": "support-triage", "Team": "support-ai", "Customer": "cust-003"}}
    j = tmp_path / "h.json"
    j.write_text(json.dumps([rec, {**rec, "request_id": "h2", "prompt_tokens": "many"}]))
    assert detect(j).name == "helicone-requests"
    f = ingest([j], tmp_path / "l").files[0]
    assert (f.rows, f.quarantined) == (3, 3)
    assert isinstance(f.errors[0], NumberParseError) and (f.errors[0].row, f.errors[0].column) == (2, "prompt_tokens")
    df = Ledger(tmp_path / "l").frame()
    assert dict(zip(df["x_TokenType"], df["x_Tokens"])) == {"input": 100, "cached_input": 30, "output": 40}
    assert set(df["x_Team"]) == {"support-ai"} and set(df["x_Customer"]) == {"cust-003"}
    assert set(df["x_User"]) == {"u9"} and sum(df["BilledCost"]) == Decimal("0.01")

    c = tmp_path / "h.csv"
    c.write_text("request_id,request_created_at,model,provider,prompt_tokens,completion_tokens,cost,properties\n"
                 'h1,2025-06-01 10:00:00,gpt-4o-mini,OPENAI,10,5,1234567,"{""team"": ""search""}"\n')
    assert detect(c).name == "helicone-requests"
    df = preview(c)
    assert list(df["BilledCost"]) == [Decimal("0.001234567"), 0]
    assert set(df["ProviderName"]) == {"OpenAI"} and set(df["x_Team"]) == {"search"}


# -- tables --------------------------------------------------------------------------------

@pytest.mark.parametrize("model, provider", [
    ("gpt-4o", "OpenAI"), ("openai/gpt-4.1-mini", "OpenAI"), ("o3", "OpenAI"), ("azure/o4-mini", "OpenAI"),
    ("claude-sonnet-4", "Anthropic"), ("us.anthropic.claude-3-7-sonnet", "Anthropic"),
    ("vertex_ai/gemini-2.5-flash", "Google"), ("mistral/mistral-large", "Mistral AI"),
    ("groq/llama-3.1-70b", "Meta"), ("omni-moderation-latest", "OpenAI"), ("my-finetune", None),
])
def test_model_provider_table(model, provider):
    name, _ = model_provider_sql("m")
    assert duckdb.sql(f"SELECT {name} FROM (SELECT {model!r} AS m)").fetchall()[0][0] == provider


def test_token_table_uses_known_token_types():
    assert set(GATEWAY_TOKEN_TYPES.values()) <= set(TOKEN_TYPES)

