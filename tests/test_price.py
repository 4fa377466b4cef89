"""Tests for aifinops.price: hand-computed golden costs for every token type and the known
pricing traps (cache double count, reasoning, long-context tier, batch, mid-month price
change, at= re-pricing, as_model what-if, unknown model, override discount, exactness)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import aifinops
from aifinops import schema
from aifinops.errors import ConfigError
from aifinops.price import (
    BATCH_DISCOUNT,
    CATALOGUE_COLUMNS,
    EPOCH,
    PriceCatalogue,
    price,
    reprice_ledger,
)

EXAMPLE = Path(aifinops.__file__).parent / "data" / "price_overrides.example.yaml"
TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "prices.yaml"
D = Decimal


def usage(*rows, **extra) -> pd.DataFrame:
    """rows: (date, provider, model, token_type, tokens[, requests[, prompt_tokens]])."""
    cols = {"ChargePeriodStart": [], "x_ModelProvider": [], "x_Model": [], "x_TokenType": [], "x_Tokens": [],
            "x_Requests": [], "x_PromptTokens": []}
    for r in rows:
        r = list(r) + [None] * (7 - len(r))
        for k, v in zip(cols, r):
            cols[k].append(v)
    df = pd.DataFrame(cols)
    df["ChargePeriodStart"] = pd.to_datetime(df["ChargePeriodStart"], utc=True, format="ISO8601")
    df["x_Tokens"] = pd.array(df["x_Tokens"], dtype="Int64")
    df["x_Requests"] = pd.array(df["x_Requests"], dtype="Int64")
    df["x_PromptTokens"] = pd.array(df["x_PromptTokens"], dtype="Int64")
    for k, v in extra.items():
        df[k] = v
    return df


def costs(out: pd.DataFrame) -> list:
    return [None if pd.isna(c) else c for c in out["x_PricedCost"]]


def reasons(out: pd.DataFrame) -> list:
    return [None if pd.isna(r) else r for r in out["x_PriceReason"]]


# -- a hand-made catalogue: two effective-dated prices, a tier, every token type ---------------
def row(model, tt, frm, to, unit, *, tier=0, fee=None, provider="acme", source="fixture"):
    return {"provider": provider, "model": model, "token_type": tt, "effective_from": frm, "effective_to": to,
            "tier_min_prompt_tokens": tier, "unit_price_per_token": None if unit is None else D(unit),
            "price_per_request": None if fee is None else D(fee), "currency": "USD", "source": source}


@pytest.fixture(scope="module")
def fixture_cat() -> PriceCatalogue:
    rows = [
        # price change on 2025-03-15: input 0.000002 -> 0.000001, output 0.000008 -> 0.000006
        row("m1", "input", "2025-01-01", "2025-03-15", "0.000002", fee="0.001"),
        row("m1", "input", "2025-03-15", None, "0.000001", fee="0.001"),
        row("m1", "output", "2025-01-01", "2025-03-15", "0.000008"),
        row("m1", "output", "2025-03-15", None, "0.000006"),
        row("m1", "request", "2025-01-01", None, None, fee="0.001"),
        row("m1", "cached_input", "2025-01-01", None, "0.0000005"),
        row("m1", "cache_write", "2025-01-01", None, "0.0000025"),
        row("m1", "cache_write_5m", "2025-01-01", None, "0.0000025"),
        row("m1", "cache_write_1h", "2025-01-01", None, "0.000004"),
        row("m1", "reasoning", "2025-01-01", None, "0.000012"),
        row("m1", "audio_input", "2025-01-01", None, "0.00004"),
        row("m1", "audio_output", "2025-01-01", None, "0.00008"),
        row("m1", "image_input", "2025-01-01", None, "0.000005"),
        row("m1", "image_output", "2025-01-01", None, "0.00003"),
        row("m1", "batch_input", "2025-01-01", None, "0.0000005"),
        row("m1", "batch_output", "2025-01-01", None, "0.000003"),
        row("m1", "web_search", "2025-01-01", None, "0.01"),
        # long-context tier: above 200k prompt tokens every token costs double
        row("m2", "input", "2025-01-01", None, "0.000003"),
        row("m2", "input", "2025-01-01", None, "0.000006", tier=200_000),
        row("m2", "output", "2025-01-01", None, "0.000015"),
        row("m2", "output", "2025-01-01", None, "0.0000225", tier=200_000),
    ]
    return PriceCatalogue.from_frame(pd.DataFrame(rows), version="fixture", use_genai_matching=False)


def test_every_token_type_golden(fixture_cat, data_regression):
    types = [t for t in schema.TOKEN_TYPES if t not in ("request",)]
    rows = [("2025-04-01", "acme", "m1", t, 1000) for t in types]
    rows.append(("2025-04-01", "acme", "m1", "request", None, 7))
    out = price(usage(*rows), fixture_cat)
    # hand-computed: tokens x unit price (input also pays its request fee: none here)
    expected = {
        "input": D("0.001"), "output": D("0.006"), "cached_input": D("0.0005"), "cache_write": D("0.0025"),
        "cache_write_5m": D("0.0025"), "cache_write_1h": D("0.004"), "reasoning": D("0.012"),
        "audio_input": D("0.04"), "audio_output": D("0.08"), "image_input": D("0.005"),
        "image_output": D("0.03"), "batch_input": D("0.0005"), "batch_output": D("0.003"),
        "web_search": D("10"), "request": D("0.007"),
    }
    got = dict(zip(out["x_TokenType"], costs(out)))
    assert got == expected
    assert all(isinstance(c, Decimal) for c in got.values())
    assert reasons(out) == [None] * len(out)
    data_regression.check({t: str(c) for t, c in got.items()})


def test_cached_tokens_not_counted_twice(fixture_cat):
    # a request with 1,000 prompt tokens of which 400 were cached: the loader writes input=600
    out = price(usage(("2025-04-01", "acme", "m1", "input", 600), ("2025-04-01", "acme", "m1", "cached_input", 400)),
                fixture_cat)
    total = out["x_PricedCost"].sum()
    assert total == D("600") * D("0.000001") + D("400") * D("0.0000005") == D("0.0008")
    assert total != D("1000") * D("0.000001") + D("400") * D("0.0000005")  # the double count


def test_openai_cached_tokens_real_catalogue():
    # gpt-4o: $2.50 input, $1.25 cached per MTok; 1M prompt tokens, 250k cached
    out = price(usage(("2025-07-01", "openai", "gpt-4o-2024-08-06", "input", 750_000),
                      ("2025-07-01", "openai", "gpt-4o-2024-08-06", "cached_input", 250_000)))
    assert costs(out) == [D("1.875"), D("0.3125")]


def test_anthropic_cache_read_and_writes_real_catalogue():
    # claude-sonnet-4: $3 input, $0.30 cache read, $3.75 5-minute write, $6 1-hour write, $15 output
    rows = [("2025-08-01", "anthropic", "claude-sonnet-4-20250514", t, 1_000_000)
            for t in ("input", "cached_input", "cache_write_5m", "cache_write_1h", "output")]
    assert costs(price(usage(*rows))) == [D("3"), D("0.3"), D("3.75"), D("6"), D("15")]


def test_reasoning_billed_as_output_unless_priced(fixture_cat):
    out = price(usage(("2025-04-01", "openai", "o3", "reasoning", 1_000_000),
                      ("2025-04-01", "openai", "o3", "output", 1_000_000)))
    # o3 has no reasoning price in genai-prices: billed at the output price ($40/MTok before 2025-06-10)
    assert costs(out) == [D("40"), D("40")]
    cat = PriceCatalogue.load()
    r = cat.find("o3", provider="openai", at="2025-04-01").set_index("token_type")
    assert r.loc["reasoning", "derivation"] == "reasoning billed as output"
    # a catalogue with its own reasoning price uses it
    out = price(usage(("2025-04-01", "acme", "m1", "reasoning", 1000)), fixture_cat)
    assert costs(out) == [D("0.012")]


def test_long_context_tier_switch(fixture_cat):
    rows = [("2025-04-01", "acme", "m2", "input", 1000, None, 200_000),
            ("2025-04-01", "acme", "m2", "input", 1000, None, 200_001),
            ("2025-04-01", "acme", "m2", "output", 1000, None, 200_001),
            ("2025-04-01", "acme", "m2", "input", 1000, None, None)]  # unknown prompt size: base tier
    out = price(usage(*rows), fixture_cat)
    assert costs(out) == [D("0.003"), D("0.006"), D("0.0225"), D("0.003")]


def test_long_context_tier_real_catalogue_and_its_removal():
    # claude-sonnet-4-6: input $3 -> $6 above 200k prompt tokens until 2026-03-13, flat afterwards
    rows = [("2026-03-12", "anthropic", "claude-sonnet-4-6", "input", 1_000_000, None, 250_000),
            ("2026-03-13", "anthropic", "claude-sonnet-4-6", "input", 1_000_000, None, 250_000)]
    out = price(usage(*rows))
    assert costs(out) == [D("6"), D("3")]
    assert [str(d) for d in out["x_PriceEffectiveFrom"]] == ["1970-01-01", "2026-03-13"]


def test_batch_discount():
    # before genai-prices' batch prices (2026-10-14) the documented 50% table applies
    rows = [("2025-07-01", "openai", "gpt-4o", "batch_input", 1_000_000),
            ("2025-07-01", "openai", "gpt-4o", "batch_output", 1_000_000),
            ("2026-11-01", "anthropic", "claude-haiku-4-5", "batch_output", 1_000_000)]
    out = price(usage(*rows))
    assert costs(out) == [D("1.25"), D("5"), D("2.5")]
    assert BATCH_DISCOUNT["openai"] == D("0.5")
    # a provider without a documented batch discount has no batch price: NULL with a reason
    out = price(usage(("2025-07-01", "deepseek", "deepseek-chat", "batch_input", 1000)))
    assert costs(out) == [None]
    assert reasons(out)[0].startswith("no 'batch_input' price for deepseek/")


def test_price_change_mid_month_both_sides(fixture_cat):
    rows = [("2025-03-14 23:59:59", "acme", "m1", "input", 1_000_000),
            ("2025-03-15 00:00:00", "acme", "m1", "input", 1_000_000),
            ("2025-03-14", "acme", "m1", "output", 1_000_000),
            ("2025-03-31", "acme", "m1", "output", 1_000_000)]
    out = price(usage(*rows), fixture_cat)
    assert costs(out) == [D("2"), D("1"), D("8"), D("6")]
    assert [str(d) for d in out["x_PriceEffectiveFrom"]] == ["2025-01-01", "2025-03-15", "2025-01-01", "2025-03-15"]
    assert out["x_PricedCost"].sum() == D("17")


def test_at_reprices_history_at_one_date(fixture_cat):
    rows = [("2025-03-01", "acme", "m1", "input", 1_000_000), ("2025-03-20", "acme", "m1", "input", 1_000_000)]
    assert costs(price(usage(*rows), fixture_cat, at="2025-03-01")) == [D("2"), D("2")]
    assert costs(price(usage(*rows), fixture_cat, at=dt.date(2025, 4, 1))) == [D("1"), D("1")]
    # before the catalogue's first price: NULL, with the date in the reason
    out = price(usage(*rows), fixture_cat, at="2024-12-31")
    assert costs(out) == [None, None]
    assert reasons(out) == ["no 'input' price in force on 2024-12-31 for acme/m1"] * 2


def test_o3_price_cut_real_catalogue():
    rows = [("2025-06-09", "openai", "o3", "input", 1_000_000), ("2025-06-10", "openai", "o3", "input", 1_000_000)]
    assert costs(price(usage(*rows))) == [D("10"), D("2")]


def test_as_model_what_if():
    rows = [("2025-08-01", "openai", "gpt-4o", "input", 1_000_000),
            ("2025-08-01", "openai", "gpt-4o", "output", 1_000_000),
            ("2025-08-01", "openai", "gpt-4o", "cached_input", 1_000_000)]
    out = price(usage(*rows), as_model="claude-haiku-4-5")
    # claude-haiku-4-5: $1 input, $5 output, $0.10 cache read
    assert costs(out) == [D("1"), D("5"), D("0.1")]
    assert list(out["x_Model"]) == ["gpt-4o"] * 3  # the usage itself is untouched
    out = price(usage(*rows), as_model="anthropic/claude-haiku-4-5-20251001")
    assert costs(out) == [D("1"), D("5"), D("0.1")]
    out = price(usage(*rows), as_model="claude-haiku-4")  # not a model genai-prices knows
    assert costs(out) == [None] * 3
    assert reasons(out) == ["unknown model 'claude-haiku-4'"] * 3


def test_unknown_model_token_type_and_missing_values_are_null_with_reason():
    rows = [("2025-08-01", "openai", "gpt-9-ultra", "input", 1000),
            ("2025-08-01", "openai", "gpt-4o", "telepathy", 1000),
            ("2025-08-01", "openai", "gpt-4o", "audio_output", 1000),
            ("2025-08-01", "openai", "gpt-4o", "input", None),
            (None, "openai", "gpt-4o", "input", 1000),
            ("2025-08-01", "openai", None, "input", 1000),
            ("2025-08-01", "openai", "gpt-4o", None, 1000)]
    out = price(usage(*rows))
    assert costs(out) == [None] * 7  # never 0
    assert reasons(out) == ["unknown model 'gpt-9-ultra'", "unknown token type 'telepathy'",
                            "no 'audio_output' price for openai/gpt-4o", "no quantity", "no date", "no model",
                            "no token type"]
    assert out["x_UnitPrice"].isna().all() and out["x_PriceSource"].isna().all()


def test_provider_name_and_fallback_provider():
    # FOCUS ProviderName 'Microsoft' -> genai-prices 'azure', which sells OpenAI models
    df = usage(("2025-08-01", None, "gpt-4o-2024-08-06", "input", 1_000_000))
    df["ProviderName"] = ["Microsoft"]
    out = price(df)
    assert costs(out) == [D("2.5")]
    assert reasons(out) == [None]


def test_override_discount_from_a_date_and_private_models():
    cat = PriceCatalogue.load(EXAMPLE)
    rows = [("2025-05-31", "openai", "gpt-4o", "input", 1_000_000),
            ("2025-06-01", "openai", "gpt-4o", "input", 1_000_000),
            ("2025-06-01", "openai", "gpt-4o", "batch_input", 1_000_000),
            ("2025-07-01", "anthropic", "claude-sonnet-4-0", "output", 1_000_000),
            ("2025-07-01", "anthropic", "claude-sonnet-4-0", "input", 1_000_000),
            ("2026-01-01", "anthropic", "claude-sonnet-4-0", "output", 1_000_000),
            ("2025-08-31", "acme-cloud", "acme-gpt4o-eu", "input", 1_000_000, None, 200_000),
            ("2025-09-01", "acme-cloud", "acme-gpt4o-eu", "input", 1_000_000, None, 200_000),
            ("2025-09-01", "self-hosted", "llama-3.1-70b-vllm", "input", 1000, 3),
            ("2025-09-01", "azure", "prod-chat-mini", "input", 1_000_000)]
    out = price(usage(*rows), cat)
    assert costs(out) == [D("2.5"), D("2"), D("1"), D("13.5"), D("3"), D("15"), D("2.75"), D("5"),
                          D("0.00051"), D("0.15")]
    src = list(out["x_PriceSource"])
    assert src[0].startswith("genai-prices ") and src[1] == "override:price_overrides.example.yaml"
    assert cat.version.startswith("genai-prices ") and "+overrides:" in cat.version
    assert PriceCatalogue.load(EXAMPLE).version == cat.version
    assert PriceCatalogue.load().version == f"genai-prices {cat.version.split()[1].split('+')[0]}"


def test_override_price_replaces_listed_token_types_only(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("models:\n  - {provider: openai, model: gpt-4o, from: 2025-02-01, prices: {input: 2}}\n")
    rows = [("2025-01-31", "openai", "gpt-4o", "input", 1_000_000), ("2025-02-01", "openai", "gpt-4o", "input", 1_000_000),
            ("2025-02-01", "openai", "gpt-4o", "output", 1_000_000)]
    assert costs(price(usage(*rows), PriceCatalogue.load(p))) == [D("2.5"), D("2"), D("10")]


def test_commitments_reported_apart():
    cat = PriceCatalogue.load(EXAMPLE)
    s = cat.commitment_schedule("2025-03", "2025-05")
    assert list(s["month"]) == ["2025-04", "2025-05"]
    assert list(s["amount"]) == [D("9000.00"), D("18000.00")]
    assert list(s["days"]) == [15, 31]
    # PTU is never a token price
    assert not (cat.table["model"] == "ptu-eastus-gpt4o").any()


@pytest.mark.parametrize("text, key", [
    ("models: [", None),
    ("discounts:\n  - {provider: openai, percent_off: 120}\n", "discounts[0].percent_off"),
    ("discounts:\n  - {provider: openai, percent_off: ten}\n", "discounts[0].percent_off"),
    ("discounts:\n  - {provider: openai, percent_off: 10, from: 2025-13-01}\n", "discounts[0].from"),
    ("discounts:\n  - {percent_off: 10}\n", "discounts[0].provider"),
    ("discounts:\n  - {provider: openai, model: gpt-nope, percent_off: 10}\n", "discounts.model"),
    ("models:\n  - {provider: x, model: y, prices: {inptu: 1}}\n", "models[0].prices.inptu"),
    ("models:\n  - {provider: x, model: y, unit: gallon, prices: {input: 1}}\n", "models[0].unit"),
    ("models:\n  - {provider: x, model: y, prices: {input: {base: 1, tiers: [{above: 0, price: 2}]}}}\n",
     "models[0].prices.input.tiers[0].above"),
    ("models:\n  - {provider: x, model: y, prices: {input: 1}, colour: red}\n", "models[0].colour"),
    ("provisioned:\n  - {name: p, provider: azure, monthly_amount: 5}\n", "provisioned[0].from"),
    ("version: 2\n", "version"),
    ("surprise: 1\n", "(top).surprise"),
    ("- just a list\n", "(top)"),
])
def test_invalid_overrides_raise_config_error_naming_file_and_key(tmp_path, text, key):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        PriceCatalogue.load(p)
    assert e.value.file == str(p)
    assert e.value.column == key
    assert str(p) in str(e.value)


def test_yaml_is_loaded_safely(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("models: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError):
        PriceCatalogue.load(p)


def test_template_and_example_load():
    assert PriceCatalogue.load(TEMPLATE).version.startswith("genai-prices ")
    assert len(PriceCatalogue.load(EXAMPLE).commitments) == 1


def test_decimal_exactness_on_a_million_rows(fixture_cat):
    n = 1_000_000
    df = pd.DataFrame({
        "ChargePeriodStart": pd.Timestamp("2025-04-01", tz="UTC"),
        "x_ModelProvider": "acme", "x_Model": "m1",
        "x_TokenType": np.where(np.arange(n) % 2 == 0, "cached_input", "input"),
        "x_Tokens": np.full(n, 3, dtype=np.int64)})
    out = price(df, fixture_cat)
    total = out["x_PricedCost"].sum()
    # 500k x 3 x 0.0000005 + 500k x 3 x 0.000001, exactly
    assert total == D("2.25")
    assert format(total, "f") == "2.250000000000000000"
    as_float = float(np.sum(np.where(np.arange(n) % 2 == 0, 3 * 0.0000005, 3 * 0.000001)))
    assert as_float != 2.25  # what float accumulation would have given


def test_fractional_quantities_take_the_exact_path(fixture_cat):
    df = usage(("2025-04-01", "acme", "m1", "input", 1))
    df["x_Tokens"] = pd.Series([D("1500.5")], dtype=object)
    assert costs(price(df, fixture_cat)) == [D("0.0015005")]
    df["x_Tokens"] = [1500.25]
    assert costs(price(df, fixture_cat)) == [D("0.00150025")]


def test_decimal_object_columns_as_read_from_the_ledger(fixture_cat):
    df = usage(("2025-04-01", "acme", "m1", "input", 1))
    df["x_Tokens"] = pd.Series([D("1000.000000000000000000")], dtype=object)
    df["x_Requests"] = pd.Series([D("2.000000000000000000")], dtype=object)
    # input rows also pay the per-request fee: 1000 x 0.000001 + 2 x 0.001
    assert costs(price(df, fixture_cat)) == [D("0.003")]


def test_result_keeps_index_and_columns(fixture_cat):
    df = usage(("2025-04-01", "acme", "m1", "input", 10), ("2025-04-01", "acme", "m1", "output", 10))
    df.index = [10, 20]
    out = price(df, fixture_cat)
    assert list(out.index) == [10, 20]
    assert list(out.columns) == list(df.columns) + ["x_PricedCost", "x_UnitPrice", "x_PriceCurrency",
                                                    "x_PriceEffectiveFrom", "x_PriceSource", "x_PriceReason"]
    assert out["x_PricedCost"].dtype == pd.ArrowDtype(pa.decimal128(38, 18))
    assert "x_PricedCost" not in df.columns


def test_empty_usage(fixture_cat):
    out = price(usage(), fixture_cat)
    assert len(out) == 0 and "x_PricedCost" in out.columns


def test_catalogue_table_shape_and_aliases():
    cat = PriceCatalogue.load()
    assert tuple(cat.table.columns) == CATALOGUE_COLUMNS
    assert set(cat.table["token_type"]) <= set(schema.TOKEN_TYPES)
    assert isinstance(cat.table["unit_price_per_token"].dropna().iloc[0], Decimal)
    assert (cat.table["effective_from"] >= EPOCH).all()
    # dated ids resolve through genai-prices' matching
    assert cat.resolve(["openai"], "gpt-4o-2024-08-06") == ("openai", "gpt-4o")
    assert cat.resolve([None], "claude-3-5-sonnet-20241022") == ("anthropic", "claude-3-5-sonnet")
    # no two rows of one key overlap in time and tier
    t = cat.table
    dup = t.duplicated(["provider", "model", "token_type", "effective_from", "tier_min_prompt_tokens"])
    assert not dup.any()


def test_overlapping_fixture_catalogue_is_refused():
    rows = [row("m", "input", "2025-01-01", None, "1"), row("m", "input", "2025-02-01", None, "2")]
    cat = PriceCatalogue.from_frame(pd.DataFrame(rows), use_genai_matching=False)
    with pytest.raises(ValueError, match="overlapping"):
        price(usage(("2025-03-01", "acme", "m", "input", 1)), cat)


def _openai_usage_page(path: Path) -> Path:
    start = int(dt.datetime(2025, 7, 1, tzinfo=dt.UTC).timestamp())
    page = {"object": "page", "has_more": False, "next_page": None, "data": [{
        "object": "bucket", "start_time": start, "end_time": start + 86400, "results": [{
            "object": "organization.usage.completions.result", "input_tokens": 1_000_000,
            "output_tokens": 200_000, "input_cached_tokens": 400_000, "num_model_requests": 10,
            "project_id": "proj_a", "model": "gpt-4o-2024-08-06", "batch": False}]}]}
    path.write_text(json.dumps(page))
    return path


def test_reprice_ledger_side_by_side(tmp_path):
    ingest = pytest.importorskip("aifinops.ingest")
    src = _openai_usage_page(tmp_path / "usage.json")
    ledger = tmp_path / "ledger"
    report = ingest.ingest([src], ledger)
    assert report.files[0].status == "ok", report.files[0].error
    out = reprice_ledger(ledger, tmp_path / "out" / "repriced.parquet", as_model="gpt-4o-mini")
    df = pd.read_parquet(out).sort_values("x_TokenType").reset_index(drop=True)
    assert list(df["x_TokenType"]) == ["cached_input", "input", "output"]
    # gpt-4o: 400k cached x $1.25, 600k input x $2.50, 200k output x $10 per MTok
    assert list(df["x_CostAtTime"]) == [D("0.5"), D("1.5"), D("2")]
    # gpt-4o-mini: $0.075 cached, $0.15 input, $0.60 output per MTok
    assert list(df["x_CostRepriced"]) == [D("0.03"), D("0.09"), D("0.12")]
    assert (df["x_RepriceModel"] == "gpt-4o-mini").all()
    # negotiated discount from the override file (20% off gpt-4o from 2025-06-01)
    out = reprice_ledger(ledger, tmp_path / "out" / "discounted.parquet", overrides=EXAMPLE)
    df = pd.read_parquet(out).sort_values("x_TokenType").reset_index(drop=True)
    assert list(df["x_CostAtTime"]) == [D("0.4"), D("1.2"), D("1.6")]
    assert "x_CostRepriced" not in df.columns
    assert df["x_PriceCatalogue"].iloc[0] == PriceCatalogue.load(EXAMPLE).version
    csv = reprice_ledger(ledger, tmp_path / "out" / "repriced.csv", at="2025-01-01")
    text = csv.read_text()
    assert "x_CostAtTime" in text and "x_CostRepriced" in text and "1.500000000000000000" in text


def test_arrow_form_is_exact(fixture_cat):
    t = fixture_cat.arrow()
    assert t.schema.field("unit_price").type == pa.decimal128(38, 18)
    assert t.num_rows == len(fixture_cat.table)
    got = dict(zip(zip(t.column("model").to_pylist(), t.column("token_type").to_pylist(),
                       t.column("effective_from").to_pylist()), t.column("unit_price").to_pylist()))
    assert got[("m1", "input", dt.date(2025, 3, 15))] == D("0.000001")
    assert t.column("effective_to").null_count > 0
