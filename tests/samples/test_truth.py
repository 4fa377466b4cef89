"""The ground truth: determinism, the column contract, exact money, the story events."""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pytest

from aifinops import schema
from aifinops.samples import truth as T
from aifinops.samples.truth import COLUMNS, PRECISION_QUANTUM, TEAMS, events, ground_truth

CONTRACT = [
    "date", "provider", "account_id", "account_name", "project", "region", "service", "service_category",
    "resource_id", "sku", "charge_type", "pricing_unit", "quantity", "unit_price", "cost", "list_cost",
    "currency", "model", "token_type", "tokens", "requests", "gpu_model", "gpu_hours", "team", "feature",
    "environment", "user", "customer", "cost_center", "tags",
]
DECIMALS = ["quantity", "unit_price", "cost", "list_cost", "gpu_hours"]


@pytest.fixture(scope="module")
def full() -> pd.DataFrame:
    """The default truth (15 months), generated once for this module."""
    t0 = time.perf_counter()
    df = ground_truth()
    print(f"default truth: {len(df)} rows in {time.perf_counter() - t0:.2f} s")
    return df


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return ground_truth(months=2, seed=11)


def _day(df: pd.DataFrame) -> pd.Series:
    return df["date"].dt.date


# -- determinism and shape ---------------------------------------------------------------------
def test_same_arguments_give_identical_frames(small):
    fresh = T._cached.__wrapped__(date(2025, 6, 1), 2, 11, 1.0)  # bypass the per-process cache
    again = ground_truth(months=2, seed=11)
    for other in (fresh, again):
        pd.testing.assert_frame_equal(small, other)
        assert small["tags"].tolist() == other["tags"].tolist()


def test_each_call_returns_its_own_copy(small):
    again = ground_truth(months=2, seed=11)
    again.loc[0, "cost"] = Decimal("-1")
    again["tags"].iloc[0]["team"] = "mutated"
    third = ground_truth(months=2, seed=11)
    assert third.loc[0, "cost"] == small.loc[0, "cost"] != Decimal("-1")
    assert third["tags"].iloc[0].get("team") != "mutated"


def test_another_seed_gives_other_numbers(small):
    other = ground_truth(months=2, seed=12)
    assert small["cost"].tolist() != other["cost"].tolist()


def test_contract_columns_in_order_plus_project_name(small):
    assert [c for c in small.columns if c != "project_name"] == CONTRACT
    assert list(small.columns) == list(COLUMNS)


def test_dtypes(small):
    assert small["date"].dtype == "datetime64[ns]"
    assert (small["date"] == small["date"].dt.normalize()).all()
    for c in DECIMALS:
        assert small[c].dtype == object
        assert {type(v) for v in small[c]} <= {Decimal, type(None)}, c
    for c in ("tokens", "requests"):
        assert str(small[c].dtype) == "Int64"
    assert all(isinstance(v, dict) for v in small["tags"])
    for c in ("provider", "account_id", "sku", "team", "currency", "model"):
        assert pd.api.types.is_string_dtype(small[c]), c


def test_default_size_is_modest(full):
    assert 30_000 < len(full) < 150_000
    assert full["date"].min() == pd.Timestamp("2025-06-01")
    assert full["date"].max() == pd.Timestamp("2026-08-31")


def test_scale_multiplies_rows():
    one, two = ground_truth(months=1, scale=1.0), ground_truth(months=1, scale=2.0)
    assert 1.6 < len(two) / len(one) < 2.2


def test_invalid_arguments():
    with pytest.raises(ValueError, match="months"):
        ground_truth(months=0)
    with pytest.raises(ValueError, match="scale"):
        ground_truth(months=1, scale=0)


# -- money -------------------------------------------------------------------------------------
def test_cost_is_quantity_times_unit_price_quantized(full):
    u = full[(full["charge_type"] == "usage") & (full["provider"] != "onprem")]
    assert len(u) > 0
    bad = [
        (p, qty, price, cost)
        for p, qty, price, cost, lc in zip(u["provider"], u["quantity"], u["unit_price"], u["cost"], u["list_cost"])
        if cost != (qty * price).quantize(PRECISION_QUANTUM[p], ROUND_HALF_UP)
        or cost.as_tuple().exponent != PRECISION_QUANTUM[p].as_tuple().exponent
        or lc < cost
    ]
    assert bad == []


def test_non_usage_rows_have_no_quantity_and_list_equals_billed(full):
    other = full[full["charge_type"] != "usage"]
    assert set(other["charge_type"]) == {"tax", "credit", "fee", "purchase"}
    assert other["quantity"].isna().all() and other["unit_price"].isna().all()
    assert (other["cost"] == other["list_cost"]).all()
    assert all(c < 0 for c in full.loc[full["charge_type"] == "credit", "cost"])
    assert all(c > 0 for c in full.loc[full["charge_type"] == "tax", "cost"])


def test_aws_tax_is_six_percent_of_monthly_usage_per_account_and_service(full):
    aws = full[full["provider"] == "aws"].assign(m=lambda d: d["date"].dt.to_period("M"))
    usage = aws[aws["charge_type"] == "usage"].groupby(["m", "project", "service"])["cost"].sum()
    tax = aws[aws["charge_type"] == "tax"].set_index(["m", "project", "service"])["cost"]
    assert len(tax) == len(usage)
    for k, v in usage.items():
        assert tax[k] == (v * Decimal("0.06")).quantize(Decimal("0.01"), ROUND_HALF_UP)


def test_onprem_has_gpu_hours_but_no_cost(full):
    op = full[full["provider"] == "onprem"]
    assert len(op) > 0
    assert op["cost"].isna().all() and op["currency"].isna().all()
    assert (op["gpu_model"] == "H100").all()
    daily = op.groupby("date")["gpu_hours"].sum()
    assert all(Decimal(0) < h <= Decimal(768) for h in daily)  # 4 nodes x 8 H100 x 24 h


def test_currency_eur_only_for_one_azure_subscription(full):
    eur = full[full["currency"] == "EUR"]
    assert set(eur["provider"]) == {"azure"} and eur["project"].nunique() == 1
    assert set(full["currency"].dropna()) == {"USD", "EUR"}
    # the EUR subscription's token prices are the USD list prices x EUR_PER_USD
    r = eur[(eur["model"] == "gpt-4o") & (eur["token_type"] == "input")].iloc[0]
    assert r["unit_price"] == Decimal("2.5") * T.EUR_PER_USD * 1000 / 1_000_000


# -- tokens, GPUs, attribution -----------------------------------------------------------------
def test_token_rows(full):
    tok = full[full["token_type"].notna()]
    assert set(tok["token_type"]) <= set(schema.TOKEN_TYPES)
    assert {"input", "output", "cached_input", "reasoning", "cache_write_5m", "cache_write_1h"} <= set(tok["token_type"])
    assert tok["model"].notna().all() and (tok["tokens"] > 0).all()
    blocks = tok["pricing_unit"].map({"1K Tokens": 1000, "Tokens": 1})
    assert blocks.notna().all()
    assert all(q * b == int(n) for q, b, n in zip(tok["quantity"], blocks, tok["tokens"]))
    assert tok.loc[tok["token_type"] == "input", "requests"].notna().all()
    assert tok.loc[tok["token_type"] != "input", "requests"].isna().all()
    models = set(tok["model"])
    assert {"gpt-4o", "gpt-4.1-mini", "o3", "claude-sonnet-4", "claude-haiku-4-5", "gemini-2.5-flash"} <= models


def test_gpu_rows(full):
    gpu = full[full["gpu_hours"].notna()]
    assert {"A100", "H100", "A10G", "A10"} <= set(gpu["gpu_model"])
    ec2 = gpu[gpu["sku"] == "BoxUsage:p4d.24xlarge"]
    assert all(r.gpu_hours == r.quantity * 8 for r in ec2.itertuples())


def test_attribution_is_consistent(full):
    assert set(full["team"].dropna()) == set(TEAMS)
    assert set(full["feature"].dropna()) == set(T.FEATURES)
    assert set(full["environment"].dropna()) == {"prod", "staging"}
    both = full[full["team"].notna()]
    assert (both["cost_center"] == both["team"].map(TEAMS)).all()
    feat = full[full["feature"].notna() & full["team"].notna()]
    assert (feat["team"] == feat["feature"].map(T.FEATURES)).all()
    cust = set(full["customer"].dropna())
    assert cust <= {f"cust-{i:03d}" for i in range(1, 41)} and len(cust) >= 30
    assert set(full.loc[full["user"].notna(), "provider"]) == {"openai", "anthropic"}


def test_ids_and_tags_look_native(full):
    aws = full[full["provider"] == "aws"]
    assert aws["account_id"].str.fullmatch(r"\d{12}").all() and aws["account_id"].str.startswith("0").all()
    assert aws["project"].str.fullmatch(r"0\d{11}").all()
    aws_tags = [t for t in aws["tags"] if t]
    assert all("team" in t and "Team" not in t for t in aws_tags)
    az = full[(full["provider"] == "azure")]
    assert all("Team" in t for t in az["tags"])
    bedrock = aws[(aws["service"] == "Amazon Bedrock") & (aws["charge_type"] == "usage")]
    assert bedrock["sku"].str.fullmatch(r"USE1-[A-Za-z0-9]+-(input|output)-tokens").all()
    tagged = bedrock
    assert all(t["customer"] == c for t, c in zip(tagged["tags"], tagged["customer"]))
    assert (full.loc[full["provider"].isin(["openai", "anthropic"]), "tags"].map(len) == 0).all()


def test_gcp_credits_mirror_a_usage_row(full):
    gcp = full[full["provider"] == "gcp"]
    credits = gcp[gcp["charge_type"] == "credit"]
    assert len(credits) > 0
    key = ["date", "project", "service", "sku", "resource_id"]
    usage = gcp[gcp["charge_type"] == "usage"].set_index(key)
    for r in credits.itertuples():
        match = usage.loc[(r.date, r.project, r.service, r.sku, r.resource_id)]
        assert -r.cost <= match["cost"]
        assert match["tags"] == r.tags
    assert sum(credits["cost"]) >= Decimal("-4000")


# -- the story -----------------------------------------------------------------------------------
def test_price_cut_o3(full):
    o3 = full[(full["model"] == "o3") & (full["token_type"] == "input")]
    before = o3[_day(o3) < date(2025, 6, 10)]["unit_price"].unique()
    after = o3[_day(o3) >= date(2025, 6, 10)]["unit_price"].unique()
    assert list(before) == [Decimal("10") / 1_000_000] and list(after) == [Decimal("2") / 1_000_000]


def test_negotiated_bedrock_discount_mid_period(full):
    ev = events()["discount"]
    n = (full["date"].max() - full["date"].min()).days
    assert 0.3 * n < (pd.Timestamp(ev["date"]) - full["date"].min()).days < 0.7 * n
    br = full[(full["service"] == "Amazon Bedrock") & (full["charge_type"] == "usage")]
    before, after = br[_day(br) < ev["date"]], br[_day(br) >= ev["date"]]
    assert (before["cost"] == before["list_cost"]).all()
    assert all(c < lc for c, lc in zip(after["cost"], after["list_cost"]))
    for r in after.itertuples():
        list_price = T.TOKEN_PRICES[("aws", r.model)][0][1][r.token_type] * 1000 / 1_000_000
        assert r.unit_price == list_price * ev["billed_share_of_list"]


def test_model_shift_gpt4o_to_gpt41_mini(full):
    ev = events()["model_shift"]
    chat = full[(full["provider"] == "openai") & (full["feature"] == "chat-assistant")]
    m = chat.assign(d=_day(chat)).groupby(["d", "model"])["tokens"].sum().unstack(fill_value=0)
    share = m["gpt-4.1-mini"] / (m["gpt-4.1-mini"] + m["gpt-4o"])
    assert (share[share.index < ev["start"]] == 0).all()
    late = share[share.index >= ev["start"] + pd.Timedelta(days=ev["days"])]
    assert len(late) > 30 and (late > 0.8).all()
    # the shift lowers the feature's cost per token
    cost = chat.assign(d=_day(chat)).groupby("d").agg(c=("cost", "sum"), t=("tokens", "sum"))
    cpt = cost["c"].map(float) / cost["t"]
    assert cpt[cpt.index >= ev["start"] + pd.Timedelta(days=ev["days"])].mean() < 0.4 * cpt[cpt.index < ev["start"]].mean()
    haiku = full[full["feature"] == "support-triage"]
    assert set(haiku.loc[_day(haiku) < date(2025, 10, 16), "model"]) == {"claude-3-5-haiku"}
    assert set(haiku.loc[_day(haiku) >= date(2025, 10, 16), "model"]) == {"claude-haiku-4-5"}


def test_runaway_job_spikes_data_science_gpu_spend(full):
    ev = events()["runaway"]
    p5 = full[full["sku"] == "BoxUsage:p5.48xlarge"]
    assert set(_day(p5)) == set(ev["days"]) and (p5["team"] == "data-science").all()
    ec2 = full[(full["service"] == "Amazon Elastic Compute Cloud") & (full["team"] == "data-science")]
    daily = ec2.groupby(_day(ec2))["cost"].sum().map(float)
    spike = daily[daily.index.isin(ev["days"])]
    normal = daily[~daily.index.isin(ev["days"])]
    assert spike.min() > 3 * normal.median()


def test_weekly_seasonality_and_growth(full):
    llm = full[full["provider"].isin(["openai", "anthropic"]) & (full["environment"] == "prod")]
    daily = llm.groupby("date")["tokens"].sum().astype(float)
    wd = daily[daily.index.day_of_week < 5].mean()
    we = daily[daily.index.day_of_week >= 5].mean()
    assert wd > 1.6 * we
    monthly = daily.groupby(daily.index.to_period("M")).mean()
    assert monthly.iloc[-1] > 1.8 * monthly.iloc[0]
    assert np.corrcoef(np.arange(len(monthly)), monthly.to_numpy())[0, 1] > 0.9


def test_events_relative_to_another_period():
    ev = events("2026-01-01", 3)
    assert date(2026, 1, 1) < ev["model_shift"]["start"] < ev["runaway"]["days"][0] < date(2026, 3, 31)
    assert ev["runaway"]["days"][0].weekday() == 0
    t = ground_truth("2026-01-01", 3, seed=1)
    assert set(_day(t[t["sku"] == "BoxUsage:p5.48xlarge"])) == set(ev["runaway"]["days"])


# -- prices agree with genai-prices ------------------------------------------------------------
_GENAI_FIELD = {"input": "input_mtok", "output": "output_mtok", "reasoning": "output_mtok",
                "cached_input": "cache_read_mtok", "cache_write_5m": "cache_write_mtok",
                "cache_write_1h": "cache_write_1h_mtok"}


@pytest.mark.parametrize("key", sorted(T.TOKEN_PRICES))
def test_token_prices_match_genai_prices(key):
    from genai_prices import data_snapshot

    snap = data_snapshot.get_snapshot()
    gp_provider, ref = T.GENAI_PRICES_REFS[key]
    _provider, model = snap.find_provider_model(ref, None, gp_provider, None)
    for since, table in T.TOKEN_PRICES[key]:
        when = datetime.fromisoformat(since or "2025-01-01").replace(tzinfo=timezone.utc)
        prices = model.get_prices(when)
        for tt, price in table.items():
            assert getattr(prices, _GENAI_FIELD[tt]) == price, (key, since, tt)


def test_fmt_decimal_never_scientific():
    assert T.fmt_decimal(Decimal("3E-7")) == "0.0000003"
    assert T.fmt_decimal(Decimal("1E+3")) == "1000"
    assert T.fmt_decimal(None) == ""
