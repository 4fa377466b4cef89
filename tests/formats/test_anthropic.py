"""Anthropic loaders: anthropic-usage and anthropic-cost (synthetic fixtures: no real
Anthropic export is public, formats.md §4.3)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from aifinops.errors import NumberParseError, RequiredValueError
from aifinops.formats import detect
from aifinops.formats.anthropic import TOKEN_TYPES_BY_FIELD
from aifinops.ingest import ingest, preview
from aifinops.ledger import Ledger
from aifinops.samples import anthropic as anthropic_sample
from aifinops.samples.truth import ground_truth
from aifinops.schema import TOKEN_TYPES


def _page(results, start="2025-08-01T00:00:00Z", end="2025-08-02T00:00:00Z"):
    return {"data": [{"starting_at": start, "ending_at": end, "results": results}], "has_more": False,
            "next_page": None}


def _usage(**kw):
    r = {"uncached_input_tokens": 1500, "cache_creation": {"ephemeral_1h_input_tokens": 1000,
                                                           "ephemeral_5m_input_tokens": 500},
         "cache_read_input_tokens": 200, "output_tokens": 500, "server_tool_use": {"web_search_requests": 10},
         "api_key_id": "apikey_01", "workspace_id": "wrkspc_01", "model": "claude-sonnet-4-20250514",
         "service_tier": "standard", "context_window": "0-200k"}
    r.update(kw)
    return r


def _cost(amount, **kw):
    r = {"currency": "USD", "amount": amount, "workspace_id": "wrkspc_01",
         "description": "Claude Sonnet 4 Usage - Input Tokens", "cost_type": "tokens", "context_window": "0-200k",
         "model": "claude-sonnet-4-20250514", "service_tier": "standard", "token_type": "uncached_input_tokens"}
    r.update(kw)
    return r


def _write(tmp_path: Path, name: str, obj) -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    return p


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    t = ground_truth(months=1)
    first = t["date"].min()
    return t[(t["date"] < first + pd.Timedelta(days=4))].reset_index(drop=True)


@pytest.fixture(scope="module")
def sample(truth, tmp_path_factory) -> dict[str, Path]:
    files = anthropic_sample.write(truth, tmp_path_factory.mktemp("anthropic-sample"))
    return {"usage": next(f for f in files if f.name.startswith("usage")),
            "cost": next(f for f in files if f.name.startswith("cost"))}


# -- sample round trip ---------------------------------------------------------------------

def test_sample_files_are_detected(sample):
    assert detect(sample["usage"]).name == "anthropic-usage"
    assert detect(sample["cost"]).name == "anthropic-cost"


def test_usage_sample_tokens_per_model_and_type_equal_truth(sample, truth, tmp_path):
    f = ingest([sample["usage"]], tmp_path / "l").files[0]
    assert f.status == "ok" and f.quarantined == 0 and f.recon[0]["difference"] == 0
    got = Ledger(tmp_path / "l").query(
        "SELECT x_Model, x_TokenType, sum(x_Tokens) AS t, count(BilledCost) AS costs, min(x_CostAuthority) AS a "
        "FROM ledger GROUP BY 1, 2")
    a = truth[truth["provider"] == "anthropic"]
    want = a.groupby(["model", "token_type"])["tokens"].sum()
    assert {(m, t): v for m, t, v in zip(got["x_Model"], got["x_TokenType"], got["t"])} == \
        {k: Decimal(int(v)) for k, v in want.items() if v}
    assert got["costs"].sum() == 0 and set(got["a"]) == {"usage"}
    assert set(Ledger(tmp_path / "l").frame(["SubAccountId"])["SubAccountId"]) == set(a["project"])


def test_cost_sample_cost_per_model_and_type_equals_truth(sample, truth, tmp_path):
    f = ingest([sample["cost"]], tmp_path / "l").files[0]
    assert f.status == "ok" and f.recon[0]["difference"] == 0
    got = Ledger(tmp_path / "l").query("SELECT x_Model, x_TokenType, sum(BilledCost) AS c FROM ledger GROUP BY 1, 2")
    a = truth[truth["provider"] == "anthropic"]
    want = a.groupby(["model", "token_type"])["cost"].apply(lambda s: sum(s, Decimal(0)))
    assert {(m, t): c for m, t, c in zip(got["x_Model"], got["x_TokenType"], got["c"])} == dict(want.items())
    assert f.recon[0]["ledger_total"] == sum(a["cost"], Decimal(0))


# -- semantics -----------------------------------------------------------------------------

def test_cache_counts_are_separate_from_input(tmp_path):
    df = preview(_write(tmp_path, "u.json", _page([_usage()])))
    rows = dict(zip(df["x_TokenType"], df["x_Tokens"]))
    assert rows == {"input": 1500, "cached_input": 200, "cache_write_5m": 500, "cache_write_1h": 1000,
                    "output": 500, "web_search": 10}
    units = dict(zip(df["x_TokenType"], df["ConsumedUnit"]))
    assert units["web_search"] == "Requests" and units["input"] == "Tokens"
    assert df["BilledCost"].isna().all() and df["x_Requests"].isna().all()
    assert set(df["ChargePeriodStart"]) == {pd.Timestamp("2025-08-01", tz="UTC")}
    assert set(df["ChargePeriodEnd"]) == {pd.Timestamp("2025-08-02", tz="UTC")}
    assert set(df["ProviderName"]) == {"Anthropic"} and set(df["x_ModelProvider"]) == {"anthropic"}


def test_batch_tier_and_flattened_cache_fields(tmp_path):
    r = _usage(service_tier="batch", server_tool_use=None, cache_creation=None, cache_read_input_tokens=0,
               cache_creation_5m_input_tokens=70)
    df = preview(_write(tmp_path, "u.json", _page([r])))
    assert dict(zip(df["x_TokenType"], df["x_Tokens"])) == {"batch_input": 1500, "cache_write_5m": 70,
                                                             "batch_output": 500}


def test_cents_are_converted_exactly(tmp_path):
    amounts = ["123.45", "1", "0.0000000000000001", "99999999999.99", "-250"]
    p = _write(tmp_path, "c.json", _page([_cost(a) for a in amounts]))
    f = ingest([p], tmp_path / "l").files[0]
    assert f.status == "ok" and f.recon[0]["difference"] == 0
    got = Ledger(tmp_path / "l").query("SELECT BilledCost, EffectiveCost FROM ledger ORDER BY x_SourceRow")
    assert list(got["BilledCost"]) == [Decimal("1.2345"), Decimal("0.01"), Decimal("1E-18"),
                                       Decimal("999999999.9999"), Decimal("-2.5")]
    assert list(got["EffectiveCost"]) == list(got["BilledCost"])
    assert f.recon[0]["source_total"] == sum(Decimal(a) for a in amounts) / 100


def test_cost_token_types_and_web_search(tmp_path):
    p = _write(tmp_path, "c.json", _page([
        _cost("10", token_type="cache_creation.ephemeral_1h_input_tokens"),
        _cost("5", token_type=None, cost_type="web_search", model=None, description="Web search"),
        _cost("7", token_type="output_tokens", service_tier="batch"),
        _cost("3", token_type=None, cost_type="code_execution", model=None, description=None),
    ]))
    df = preview(p)
    assert list(df["x_TokenType"].fillna("-")) == ["cache_write_1h", "web_search", "batch_output", "-"]
    assert list(df["ChargeDescription"].fillna("-"))[1] == "Web search"


def test_token_table_uses_known_token_types():
    assert set(TOKEN_TYPES_BY_FIELD.values()) <= set(TOKEN_TYPES)


# -- malformed input -----------------------------------------------------------------------

def test_usage_bad_values_quarantine_the_whole_result(tmp_path):
    p = _write(tmp_path, "u.json", _page([_usage(), _usage(output_tokens="x"),
                                          _usage(cache_read_input_tokens="12 tokens")]))
    f = ingest([p], tmp_path / "l").files[0]
    assert f.status == "quarantined" and f.rows == 6 and f.quarantined == 12
    errs = {(e.row, e.column) for e in f.errors}
    assert errs == {(2, "output_tokens"), (3, "cache_read_input_tokens")}
    assert all(isinstance(e, NumberParseError) and e.file == str(p) for e in f.errors)
    assert f.recon[0]["difference"] == 0 and f.recon[0]["ledger_total"] == 3710
    assert set(Ledger(tmp_path / "l").quarantine_frame()["x_SourceRow"]) == {2, 3}


def test_cost_bad_amount_and_missing_currency(tmp_path):
    p = _write(tmp_path, "c.json", _page([_cost("12a"), _cost("1", currency=None), _cost("100")]))
    f = ingest([p], tmp_path / "l").files[0]
    assert (f.rows, f.quarantined) == (1, 2)
    e1, e2 = f.errors
    assert isinstance(e1, NumberParseError) and (e1.row, e1.column, e1.value) == (1, "amount", "12a")
    assert isinstance(e2, RequiredValueError) and (e2.row, e2.column) == (2, "currency")
    assert f.recon[0]["ledger_total"] == Decimal(1)
