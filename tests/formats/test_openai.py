"""OpenAI loaders: openai-usage, openai-costs, openai-dashboard-csv (synthetic fixtures:
no real OpenAI export is public, formats.md §4.3)."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from aifinops.errors import FormatError, InvalidValueError, NumberParseError, RequiredValueError
from aifinops.formats import detect
from aifinops.formats.openai import LINE_ITEM_TOKEN_TYPES
from aifinops.ingest import ingest, preview
from aifinops.ledger import Ledger
from aifinops.samples import openai as openai_sample
from aifinops.samples.truth import ground_truth
from aifinops.schema import TOKEN_TYPES

DAY = 1748736000  # 2025-06-01T00:00:00Z


def _page(results, start=DAY, **bucket):
    return {"object": "page", "data": [{"object": "bucket", "start_time": start, "end_time": start + 86400,
                                        "results": results, **bucket}], "has_more": False, "next_page": None}


def _usage(**kw):
    r = {"object": "organization.usage.completions.result", "input_tokens": 1000, "output_tokens": 500,
         "input_cached_tokens": 800, "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": 5,
         "project_id": "proj_1", "user_id": "alice", "api_key_id": "key_1", "model": "gpt-4o", "batch": False}
    r.update(kw)
    return r


def _cost(value, line_item="gpt-4o-2024-08-06, input", **kw):
    r = {"object": "organization.costs.result", "amount": {"value": value, "currency": "usd"},
         "line_item": line_item, "project_id": "proj_1", "organization_id": "org-1"}
    r.update(kw)
    return r


def _write(tmp_path: Path, name: str, obj) -> Path:
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    t = ground_truth(months=1)
    first = t["date"].min()
    return t[(t["date"] < first + pd.Timedelta(days=4))].reset_index(drop=True)


@pytest.fixture(scope="module")
def sample(truth, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("openai-sample")
    files = openai_sample.write(truth, out)
    return {"usage": next(f for f in files if f.name.startswith("usage")),
            "costs": next(f for f in files if f.name.startswith("costs"))}


# -- sample round trip ---------------------------------------------------------------------

def test_sample_files_are_detected(sample):
    assert detect(sample["usage"]).name == "openai-usage"
    assert detect(sample["costs"]).name == "openai-costs"


def test_usage_sample_tokens_per_model_and_type_equal_truth(sample, truth, tmp_path):
    rep = ingest([sample["usage"]], tmp_path / "l")
    f = rep.files[0]
    assert f.status == "ok" and f.quarantined == 0
    assert all(r["difference"] == 0 for r in f.recon)
    got = Ledger(tmp_path / "l").query(
        "SELECT x_Model, x_TokenType, sum(x_Tokens) AS t, sum(x_Requests) AS r, count(BilledCost) AS costs, "
        "min(x_CostAuthority) AS a FROM ledger GROUP BY 1, 2")
    o = truth[truth["provider"] == "openai"]
    # the Usage API folds reasoning into output_tokens (formats.md §3.5)
    tt = o["token_type"].replace({"reasoning": "output"})
    want = o.assign(tt=tt).groupby(["model", "tt"])["tokens"].sum()
    got_t = {(m, t): Decimal(v) for m, t, v in zip(got["x_Model"], got["x_TokenType"], got["t"])}
    assert got_t == {k: Decimal(int(v)) for k, v in want.items()}
    assert got["costs"].sum() == 0  # no cost on usage rows: NULL, never 0
    assert set(got["a"]) == {"usage"}
    req = got.groupby("x_Model")["r"].sum()
    want_r = o.groupby("model")["requests"].sum()
    assert {m: Decimal(v) for m, v in req.items()} == {m: Decimal(int(v)) for m, v in want_r.items()}


def test_usage_sample_user_and_project_attribution(sample, truth):
    df = preview(sample["usage"])
    o = truth[truth["provider"] == "openai"]
    assert set(df["x_User"]) == set(o["user"])
    assert set(df["SubAccountId"]) == set(o["project"])


def test_costs_sample_cost_per_model_and_type_equals_truth(sample, truth, tmp_path):
    rep = ingest([sample["costs"]], tmp_path / "l")
    f = rep.files[0]
    assert f.status == "ok" and f.recon[0]["difference"] == 0
    got = Ledger(tmp_path / "l").query(
        "SELECT x_Model, x_TokenType, sum(BilledCost) AS c FROM ledger GROUP BY 1, 2")
    o = truth[truth["provider"] == "openai"]
    want = o.groupby(["model", "token_type"])["cost"].apply(lambda s: sum(s, Decimal(0)))
    assert {(m, t): c for m, t, c in zip(got["x_Model"], got["x_TokenType"], got["c"])} == dict(want.items())
    assert f.recon[0]["source_total"] == sum(o["cost"], Decimal(0))


# -- semantics -----------------------------------------------------------------------------

def test_cached_tokens_are_inside_input_tokens(tmp_path):
    p = _write(tmp_path, "u.json", _page([_usage()]))
    df = preview(p)
    rows = {t: (tok, req) for t, tok, req in zip(df["x_TokenType"], df["x_Tokens"], df["x_Requests"])}
    assert rows == {"input": (Decimal(200), Decimal(5)), "cached_input": (Decimal(800), None),
                    "output": (Decimal(500), None)}
    assert df["BilledCost"].isna().all() and df["x_QuarantineReason"].isna().all()
    assert set(df["x_SourceRow"]) == {1}
    assert set(df["ChargePeriodStart"]) == {pd.Timestamp("2025-06-01", tz="UTC")}
    assert set(df["ProviderName"]) == {"OpenAI"} and set(df["ServiceSubcategory"]) == {"Generative AI"}


def test_audio_and_batch_rows(tmp_path):
    p = _write(tmp_path, "u.json", _page([_usage(input_tokens=1000, input_cached_tokens=100, input_audio_tokens=300,
                                                 output_tokens=400, output_audio_tokens=150, batch=True)]))
    df = preview(p)
    rows = dict(zip(df["x_TokenType"], df["x_Tokens"]))
    assert rows == {"batch_input": Decimal(600), "cached_input": Decimal(100), "audio_input": Decimal(300),
                    "batch_output": Decimal(250), "audio_output": Decimal(150)}
    assert sum(rows.values()) == 1400  # input_tokens + output_tokens


def test_zero_count_rows_are_not_written_but_input_always_is(tmp_path):
    p = _write(tmp_path, "u.json", _page([_usage(input_tokens=0, output_tokens=0, input_cached_tokens=0,
                                                 num_model_requests=2)]))
    df = preview(p)
    assert list(df["x_TokenType"]) == ["input"] and df["x_Requests"].iloc[0] == 2


def test_array_of_pages_and_json_lines(tmp_path):
    pages = [_page([_usage(model="gpt-4o")]), _page([_usage(model="o3")], start=DAY + 86400)]
    a = _write(tmp_path, "a.json", pages)
    b = _write(tmp_path, "b.jsonl", "\n".join(json.dumps(p) for p in pages) + "\n")
    for p in (a, b):
        df = preview(p)
        assert detect(p).name == "openai-usage"
        assert list(df.drop_duplicates("x_SourceRow")["x_Model"]) == ["gpt-4o", "o3"]
        assert list(df.drop_duplicates("x_SourceRow")["x_SourceRow"]) == [1, 2]


# -- malformed input -----------------------------------------------------------------------

def test_usage_bad_values_are_quarantined_with_typed_errors(tmp_path):
    p = _write(tmp_path, "u.json", _page([
        _usage(), _usage(input_tokens="abc"), _usage(input_tokens=10, input_cached_tokens=20),
        _usage(output_tokens=-1),
    ]))
    rep = ingest([p], tmp_path / "l")
    f = rep.files[0]
    assert f.status == "quarantined"
    errs = {(e.row, e.column, type(e)) for e in f.errors}
    assert (2, "input_tokens", NumberParseError) in errs
    assert (3, "input_cached_tokens", InvalidValueError) in errs
    assert (4, "output_tokens", InvalidValueError) in errs
    assert all(e.file == str(p) for e in f.errors)
    assert f.rows + f.quarantined == f.source_rows
    assert all(r["difference"] == 0 for r in f.recon)
    tok = next(r for r in f.recon if r["column"] == "x_Tokens")
    assert tok["ledger_total"] == 1500 and tok["source_total"] == 1500 + 500 + 510 + 999
    q = Ledger(tmp_path / "l").quarantine_frame()
    assert set(q["x_SourceRow"]) == {2, 3, 4}


def test_missing_bucket_time_is_quarantined(tmp_path):
    page = _page([_usage()])
    page["data"][0]["start_time"] = None
    f = ingest([_write(tmp_path, "u.json", page)], tmp_path / "l").files[0]
    assert f.rows == 0 and f.quarantined == 3
    assert isinstance(f.errors[0], RequiredValueError) and f.errors[0].column == "start_time"


def test_data_that_is_not_a_list_fails_the_file(tmp_path):
    p = _write(tmp_path, "u.json", {"object": "page", "data": "oops",
                                     "x": "organization.usage.completions.result"})
    f = ingest([p], tmp_path / "l", format="openai-usage").files[0]
    assert f.status == "rejected" and isinstance(f.error, FormatError)
    assert f.error.file == str(p) and "ARRAY" in str(f.error)


def test_costs_bad_amount_and_unknown_line_item(tmp_path):
    p = _write(tmp_path, "c.json", _page([
        _cost(0.06), _cost("x1"), _cost(1e-7, line_item="web search tool calls"),
        _cost(0.5, line_item="gpt-4o, something new"),
    ]))
    f = ingest([p], tmp_path / "l").files[0]
    assert f.rows == 3 and f.quarantined == 1
    e = f.errors[0]
    assert isinstance(e, NumberParseError) and (e.row, e.column, e.value) == (2, "amount_value", "x1")
    assert f.recon[0]["ledger_total"] == Decimal("0.5600001") and f.recon[0]["difference"] == 0
    df = Ledger(tmp_path / "l").frame(["x_SourceRow", "x_Model", "x_TokenType", "BilledCost", "x_CostAuthority"])
    df = df.sort_values("x_SourceRow")
    assert list(df["x_Model"].fillna("-")) == ["gpt-4o-2024-08-06", "-", "gpt-4o"]
    assert list(df["x_TokenType"].fillna("-")) == ["input", "web_search", "-"]
    assert set(df["x_CostAuthority"]) == {"invoice"}


LINE_ITEMS = [
    ("gpt-4o-2024-08-06, input", "gpt-4o-2024-08-06", "input"),
    ("gpt-5-nano, input_tokens", "gpt-5-nano", "input"),
    ("gpt-4o, cached input", "gpt-4o", "cached_input"),
    ("o3, reasoning_tokens", "o3", "reasoning"),
    ("gpt-4o-audio-preview, audio output", "gpt-4o-audio-preview", "audio_output"),
    ("ft:gpt-4o-mini:acme::abc, output", "ft:gpt-4o-mini:acme::abc", "output"),
]


def test_line_item_parsing(tmp_path):
    df = preview(_write(tmp_path, "c.json", _page([_cost(1, line_item=li) for li, _, _ in LINE_ITEMS])))
    assert list(zip(df["x_Model"], df["x_TokenType"])) == [(m, t) for _, m, t in LINE_ITEMS]


def test_line_item_table_uses_known_token_types():
    assert set(LINE_ITEM_TOKEN_TYPES.values()) <= set(TOKEN_TYPES)


DASH_HEADER = ("start_time,end_time,start_time_iso,end_time_iso,amount_value,amount_currency,quantity,quantity_unit,"
               "line_item,user_id,api_key_id,project_id,organization_id,project_name,organization_name,user_email,"
               "api_source\n")


def test_dashboard_csv(tmp_path):
    p = tmp_path / "export.csv"
    p.write_text(DASH_HEADER +
                 f'{DAY},{DAY + 86400},2025-06-01T00:00:00+00:00,2025-06-02T00:00:00+00:00,0.0123456789,usd,1000,'
                 'tokens,"gpt-5-nano, input_tokens",user-1,key-1,proj_1,org-1,Chat,Northwind,a@x.io,api\n'
                 f'{DAY},{DAY + 86400},2025-06-01T00:00:00+00:00,2025-06-02T00:00:00+00:00,0.5,usd,,,,,,,org-1,,Northwind,,\n'
                 f'{DAY},{DAY + 86400},2025-06-01T00:00:00+00:00,2025-06-02T00:00:00+00:00,1.2.3,usd,,,,,,,org-1,,Northwind,,\n')
    assert detect(p).name == "openai-dashboard-csv"
    f = ingest([p], tmp_path / "l").files[0]
    assert (f.rows, f.quarantined) == (2, 1)
    assert isinstance(f.errors[0], NumberParseError) and f.errors[0].row == 3
    assert f.recon[0]["ledger_total"] == Decimal("0.5123456789") and f.recon[0]["difference"] == 0
    df = Ledger(tmp_path / "l").frame(where="x_SourceRow = 1")
    r = df.iloc[0]
    assert (r["BillingAccountId"], r["BillingAccountName"], r["SubAccountName"]) == ("org-1", "Northwind", "Chat")
    assert (r["x_Model"], r["x_TokenType"], r["x_Tokens"], r["BillingCurrency"]) == ("gpt-5-nano", "input",
                                                                                     Decimal(1000), "USD")
    assert r["x_User"] == "a@x.io"


def test_no_provider_rows_no_files(tmp_path):
    t = pd.DataFrame([{"date": pd.Timestamp("2025-06-01"), "provider": "aws", "token_type": None}])
    assert openai_sample.write(t, tmp_path) == []


def test_sample_amounts_are_exact_json_numbers(sample, truth):
    doc = sample["costs"].read_text()
    o = truth[truth["provider"] == "openai"]
    by = defaultdict(Decimal)
    for d, p, s, c in zip(o["date"], o["project"], o["sku"], o["cost"]):
        by[(d, p, s)] += c
    some = next(iter(by.values()))
    assert format(some, "f") in doc
