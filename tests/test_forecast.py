"""Forecasts: known trend + weekly seasonality, backtest metrics, model choice, driver-based
re-pricing."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from aifinops import forecast as F
from aifinops.errors import ConfigError


def synthetic(days=196, seed=1, noise=3.0, trend=0.5, spikes=()):
    """Trend + weekly seasonality (weekends low) + Gaussian noise + injected spikes."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2025-01-06", periods=days, freq="D")
    t = np.arange(days)
    y = 200 + trend * t + np.where(ds.day_of_week >= 5, -60.0, 0.0) + rng.normal(0, noise, days)
    for i, size in spikes:
        y[i] += size
    return pd.DataFrame({"ds": ds, "y": y})


def test_metrics_hand_computed():
    m = F.metrics([10, 20, 0], [12, 15, 1], [9, 16, 0.5], [13, 25, 2])
    assert m["wape"] == pytest.approx((2 + 5 + 1) / 30)
    assert m["mape"] == pytest.approx((0.2 + 0.25) / 2)  # the zero day is left out of MAPE
    assert m["bias"] == pytest.approx((2 - 5 + 1) / 30)
    assert m["coverage"] == pytest.approx(2 / 3)


def test_seasonal_naive_repeats_last_week_and_scores_zero_on_pure_seasonality():
    h = pd.DataFrame({"ds": pd.date_range("2025-01-06", periods=56), "y": [1.0, 2, 3, 4, 5, 6, 7] * 8})
    fc = F.seasonal_naive(h, 10)
    assert fc["yhat"].tolist() == [1, 2, 3, 4, 5, 6, 7, 1, 2, 3]
    assert fc["ds"].iloc[0] == pd.Timestamp("2025-03-03")
    m, preds = F.backtest(h, 7, folds=3, model="seasonal_naive")
    assert m["wape"] == 0 and m["folds"] == 3 and len(preds) == 21


def test_backtest_cutoffs_are_rolling_origins():
    h = synthetic(days=70)
    _, preds = F.backtest(h, 14, folds=3, model="seasonal_naive")
    cutoffs = sorted(preds["cutoff"].unique())
    assert [pd.Timestamp(c) for c in cutoffs] == [h["ds"].iloc[70 - 14 * k - 1] for k in (3, 2, 1)]
    # every scored day lies after its cutoff
    assert (preds["ds"] > preds["cutoff"]).all()


def test_prophet_recovers_trend_and_seasonality_within_bounds():
    h = synthetic()
    fc = F.forecast(h, 28, folds=3, interval_width=0.8)
    acc = fc.accuracy.set_index("model")
    assert acc.loc["prophet", "wape"] < 0.03          # noise sd 3 on a level ~280
    assert acc.loc["prophet", "wape"] < acc.loc["seasonal_naive", "wape"]  # the trend beats last-week
    assert fc.model == "prophet" and fc.note.startswith("prophet used")
    assert 0.6 <= acc.loc["prophet", "coverage"] <= 1.0  # near nominal 80 %
    # the forecast continues the trend: 4 weeks ahead is ~14 above the last 4 weeks
    future = 200 + 0.5 * np.arange(196, 224) + np.where(fc.frame["ds"].dt.day_of_week >= 5, -60, 0)
    assert F.metrics(future, fc.frame["yhat"])["wape"] < 0.03
    assert (fc.frame["yhat_lower"] <= fc.frame["yhat"]).all() and (fc.frame["yhat"] <= fc.frame["yhat_upper"]).all()


def test_interval_coverage_near_nominal_on_many_noise_draws():
    cover = []
    for seed in range(6):
        m, _ = F.backtest(synthetic(days=140, seed=seed, noise=8.0), 14, folds=3, model="prophet", interval_width=0.8)
        cover.append(m["coverage"])
    assert 0.65 <= float(np.mean(cover)) <= 0.95


def test_baseline_wins_and_is_said_when_prophet_loses():
    # a pure weekly pattern with a level break in the last weeks: last week's values win
    ds = pd.date_range("2025-01-06", periods=84)
    y = np.tile([50.0, 10, 10, 10, 10, 10, 80], 12)
    y[-28:] *= 3
    fc = F.forecast(pd.DataFrame({"ds": ds, "y": y}), 7, folds=3)
    acc = fc.accuracy.set_index("model")
    assert acc.loc["seasonal_naive", "wape"] < acc.loc["prophet", "wape"]
    assert fc.model == "seasonal_naive"
    assert "Prophet lost to it" in fc.note
    assert fc.accuracy["chosen"].tolist() == [False, True]


def test_bad_arguments_are_typed_errors():
    h = synthetic(days=30)
    with pytest.raises(ConfigError):
        F.forecast(h, 0)
    with pytest.raises(ConfigError):
        F.forecast(h, 7, models=("arima",))
    with pytest.raises(ConfigError):
        F.forecast(h.iloc[:0], 7)


def test_short_history_has_no_backtest_and_says_so():
    fc = F.forecast(synthetic(days=20), 7, models=("seasonal_naive",))
    assert "too short" in fc.note and fc.accuracy["folds"].tolist() == [0]


def test_forecast_many_in_two_processes_matches_one():
    s = pd.concat([synthetic(days=56, seed=i).assign(key=f"s{i}") for i in range(3)])
    one = F.forecast_many(s, horizon=7, folds=2, models=("seasonal_naive",), processes=1)
    two = F.forecast_many(s, horizon=7, folds=2, models=("seasonal_naive",), processes=2)
    pd.testing.assert_frame_equal(one.forecasts, two.forecasts)
    assert sorted(one.summary()["key"]) == ["s0", "s1", "s2"]


def test_forecast_many_with_prophet_in_two_processes_matches_one():
    s = pd.concat([synthetic(days=70, seed=i).assign(key=f"s{i}") for i in range(2)])
    one = F.forecast_many(s, horizon=7, folds=1, processes=1)
    two = F.forecast_many(s, horizon=7, folds=1, processes=2)
    pd.testing.assert_frame_equal(one.forecasts, two.forecasts)
    pd.testing.assert_frame_equal(one.accuracy, two.accuracy)
    assert set(one.accuracy["model"]) == {"prophet", "seasonal_naive"}


def _tokens(model="gpt-4o", days=28, tokens=1_000_000):
    return pd.DataFrame({"ProviderName": "OpenAI", "x_ModelProvider": "openai", "x_Model": model,
                         "x_TokenType": ["input", "output"] * days,
                         "ds": np.repeat(pd.date_range("2025-07-07", periods=days), 2),
                         "x_Tokens": [Decimal(tokens)] * (2 * days), "x_Requests": None})


def test_driver_forecast_prices_volume_and_follows_a_model_switch():
    t = _tokens()
    base = F.driver_forecast(tokens=t, horizon=3, folds=1, models=("seasonal_naive",))
    assert len(base) == 6 and (base["x_Tokens"] == 1_000_000).all()
    by = base.groupby("x_TokenType")["x_PricedCost"].first()
    assert by["input"] == Decimal("2.5") and by["output"] == Decimal(10)  # gpt-4o $2.50 / $10 per MTok
    mini = F.driver_forecast(tokens=t, horizon=3, folds=1, models=("seasonal_naive",), as_model="gpt-4o-mini")
    by = mini.groupby("x_TokenType")["x_PricedCost"].first()
    assert by["input"] == Decimal("0.15") and by["output"] == Decimal("0.6")
    grown = F.driver_forecast(tokens=t, horizon=3, folds=1, models=("seasonal_naive",), growth=0.1)
    assert (grown["x_Tokens"] == 1_100_000).all()


def test_daily_series_fills_gaps_and_sums_exactly(tmp_path):
    from aifinops.ingest import ingest
    from aifinops.ledger import Ledger

    f = tmp_path / "f.csv"
    f.write_text("BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ProviderName,ServiceName\n"
                 "0.1,2025-03-01,USD,Usage,AWS,EC2\n0.2,2025-03-01,USD,Usage,AWS,EC2\n"
                 "1.5,2025-03-03,USD,Usage,OpenAI,API\n")
    ingest([f], tmp_path / "led")
    s = F.daily_series(Ledger(tmp_path / "led"))
    assert s["cost"].tolist() == [Decimal("0.3"), Decimal(0), Decimal("1.5")]
    by = F.daily_series(Ledger(tmp_path / "led"), "ProviderName")
    assert by.groupby("key")["cost"].sum().to_dict() == {"AWS": Decimal("0.3"), "OpenAI": Decimal("1.5")}
    with pytest.raises(ConfigError):
        F.daily_series(Ledger(tmp_path / "led"), "NoSuchColumn")


def _small_ledger(tmp_path):
    """90 days of two teams' cost plus gpt-4o token rows (with a spike on one day)."""
    from aifinops.ingest import ingest
    from aifinops.ledger import Ledger

    rows = [("BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ProviderName,ServiceName,Tags,"
             "x_Model,x_TokenType,x_Tokens,x_Requests")]
    for i, d in enumerate(pd.date_range("2026-01-01", "2026-03-31")):
        spike = 500 if d == pd.Timestamp("2026-03-10") else 0
        rows.append(f'{100 + i + spike},{d.date()},USD,Usage,AWS,EC2,"{{""team"": ""alpha""}}",,,,')
        rows.append(f'{20 if d.day_of_week < 5 else 5},{d.date()},USD,Usage,AWS,S3,"{{""team"": ""beta""}}",,,,')
        rows.append(f"25,{d.date()},USD,Usage,OpenAI,API,,gpt-4o,input,10000000,2000")
        rows.append(f"10,{d.date()},USD,Usage,OpenAI,API,,gpt-4o,output,1000000,2000")
    f = tmp_path / "f.csv"
    f.write_text("\n".join(rows) + "\n")
    ingest([f], tmp_path / "led")
    return Ledger(tmp_path / "led")


@pytest.mark.slow
def test_notebooks_03_and_04_run_on_a_small_ledger(tmp_path):
    import json
    from pathlib import Path

    import papermill as pm

    repo = Path(__file__).resolve().parents[1]
    led = _small_ledger(tmp_path)
    common = {"ledger_path": str(led.path), "period": "2026-03", "output_dir": str(tmp_path)}
    pm.execute_notebook(str(repo / "notebooks" / "03_forecast_budgets.ipynb"), str(tmp_path / "03.ipynb"),
                        parameters={**common, "budgets_path": str(repo / "templates" / "budgets.yaml"),
                                    "policies_path": str(repo / "templates" / "policies.yaml"), "folds": 2},
                        cwd=str(repo / "notebooks"), kernel_name="python3", progress_bar=False)
    doc = json.loads((tmp_path / "alerts.json").read_text())
    assert doc["period"] == "2026-03" and doc["count"] == len(doc["alerts"])
    pm.execute_notebook(str(repo / "notebooks" / "04_anomalies.ipynb"), str(tmp_path / "04.ipynb"),
                        parameters={**common, "min_impact": 100.0}, cwd=str(repo / "notebooks"),
                        kernel_name="python3", progress_bar=False)
    text = (tmp_path / "04.ipynb").read_text()
    assert "2026-03-10" in text and "alpha" in text


def test_holidays_country_lowers_the_forecast_on_a_holiday():
    # weekday cost 100, weekends and US public holidays 20: with holidays the July 4th forecast drops
    ds = pd.date_range("2024-06-03", "2025-06-30")
    import holidays

    us = holidays.country_holidays("US", years=[2024, 2025])
    y = [20.0 if (d.day_of_week >= 5 or d.date() in us) else 100.0 for d in ds]
    h = pd.DataFrame({"ds": ds, "y": y})
    with_h = F.prophet_forecast(h, 7, holidays_country="US").set_index("ds")["yhat"]
    without = F.prophet_forecast(h, 7).set_index("ds")["yhat"]
    july4 = pd.Timestamp("2025-07-04")  # a Friday
    assert with_h[july4] < 60 < without[july4]


# -----------------------------------------------------------------------------------------
# the lean Prophet path (issue #5) gives Prophet's own numbers
# -----------------------------------------------------------------------------------------

def _stock_and_lean(**kw):
    import warnings

    from prophet import Prophet

    F.quiet()
    warnings.simplefilter("ignore")
    return Prophet(**kw), F._lean_prophet()(**kw)


@pytest.mark.parametrize("days,seed", [(120, 1), (150, 2), (196, 3)])
def test_lean_prophet_fits_and_predicts_exactly_like_stock_prophet(days, seed):
    h = F._prep(synthetic(days=days, seed=seed, noise=8.0, spikes=[(40, 150.0)]))
    kw = {"weekly_seasonality": True, "yearly_seasonality": False, "daily_seasonality": False, "uncertainty_samples": 0}
    stock, lean = _stock_and_lean(**kw)
    stock.fit(h.copy())  # Prophet's own choice from 100 days on: L-BFGS, as in the lean path
    lean.fit(h.copy())
    assert set(stock.params) == set(lean.params)
    for k in stock.params:
        np.testing.assert_allclose(lean.params[k], stock.params[k], rtol=1e-12, atol=0, err_msg=k)
    fut = stock.make_future_dataframe(periods=30)
    want = stock.predict(fut)["yhat"].to_numpy()
    np.testing.assert_allclose(lean.predict_yhat(fut["ds"].to_numpy()), want, rtol=1e-12, atol=0)
    np.testing.assert_allclose(lean.predict(fut)["yhat"].to_numpy(), want, rtol=1e-12, atol=0)
    pd.testing.assert_frame_equal(lean.train_component_cols, stock.train_component_cols)


def test_prophet_forecast_is_stock_prophet_plus_residual_quantiles():
    h = F._prep(synthetic(days=140, seed=5, noise=6.0))
    stock, _ = _stock_and_lean(weekly_seasonality=True, yearly_seasonality=False, daily_seasonality=False,
                               interval_width=0.8, uncertainty_samples=0)
    stock.fit(h.copy())
    out = stock.predict(stock.make_future_dataframe(periods=14))
    lo, hi = np.quantile(h["y"].to_numpy() - out["yhat"].to_numpy()[:140], [0.1, 0.9])
    got = F.prophet_forecast(h, 14)
    want = out.iloc[140:][["ds", "yhat"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[["ds", "yhat"]], want, check_exact=False, rtol=1e-12)
    np.testing.assert_allclose(got["yhat_lower"], want["yhat"] + lo, rtol=1e-12)
    np.testing.assert_allclose(got["yhat_upper"], want["yhat"] + hi, rtol=1e-12)


def test_lean_prophet_prepares_the_same_frames_and_features_as_stock_prophet():
    ds = pd.date_range("2023-01-02", periods=800)
    h = pd.DataFrame({"ds": ds, "y": 100 + 10 * np.sin(np.arange(800) / 9.0)})
    for df in (h, h.iloc[::-1].reset_index(drop=True), h.assign(ds=h["ds"].astype(str)),
               h.assign(ds=h["ds"].astype("datetime64[ns]"))):
        stock, lean = _stock_and_lean(yearly_seasonality=True, weekly_seasonality=True)
        for m in (stock, lean):
            m.add_country_holidays("US")
        a = stock.setup_dataframe(df.copy(), initialize_scales=True)
        b = lean.setup_dataframe(df.copy(), initialize_scales=True)
        pd.testing.assert_frame_equal(b, a, check_exact=True)
        assert (lean.start, lean.t_scale, lean.y_scale) == (stock.start, stock.t_scale, stock.y_scale)
        lean.history, stock.history = b, a
        xa, pa, ca, ma = stock.make_all_seasonality_features(a)
        xb, pb, cb, mb = lean.make_all_seasonality_features(b)
        pd.testing.assert_frame_equal(xb, xa, check_exact=True)   # Fourier terms bit for bit
        pd.testing.assert_frame_equal(cb, ca, check_exact=True)   # holidays, additive/multiplicative terms
        assert (pb, mb) == (pa, ma)
    with pytest.raises(ValueError, match="infinity"):
        lean.setup_dataframe(h.assign(y=np.inf), initialize_scales=True)


@pytest.mark.parametrize("days,seed", [(60, 6), (90, 7)])
def test_lean_prophet_under_100_days_reaches_prophets_newton_optimum(days, seed):
    # Prophet fits under 100 days with Newton; the lean path uses BFGS (~20x faster), same optimum
    h = F._prep(synthetic(days=days, seed=seed, noise=8.0, spikes=[(20, 120.0)]))
    kw = {"weekly_seasonality": True, "yearly_seasonality": False, "daily_seasonality": False, "uncertainty_samples": 0}
    stock, lean = _stock_and_lean(**kw)
    stock.fit(h.copy())
    lean.fit(h.copy())
    assert lean.params["lp__"][0, 0] == pytest.approx(stock.params["lp__"][0, 0], abs=0.05)
    fut = stock.make_future_dataframe(periods=14)
    np.testing.assert_allclose(lean.predict_yhat(fut["ds"].to_numpy()), stock.predict(fut)["yhat"], rtol=2e-3)


def test_lean_stan_backend_falls_back_to_newton_and_raises_a_typed_error():
    h = F._prep(synthetic(days=60, seed=4))
    kw = {"weekly_seasonality": True, "yearly_seasonality": False, "daily_seasonality": False, "uncertainty_samples": 0}
    newton, lean = _stock_and_lean(**kw)
    newton.fit(h.copy(), algorithm="Newton")
    lean.fit(h.copy(), algorithm="no-such-algorithm")  # CmdStan rejects it; Newton runs instead, as in Prophet
    np.testing.assert_allclose(lean.params["k"], newton.params["k"], rtol=1e-9)
    _, lean = _stock_and_lean(**kw)
    lean.stan_backend.newton_fallback = False
    with pytest.raises(ConfigError, match="optimizer failed"):
        lean.fit(h.copy(), algorithm="no-such-algorithm")


@pytest.mark.parametrize("frame", [
    synthetic(days=30),
    synthetic(days=30).iloc[5:],
    pd.DataFrame({"ds": pd.date_range("2025-01-01", periods=5), "y": [1.0, np.nan, -0.0, 3, 2]}),
    pd.DataFrame({"ds": pd.date_range("2025-01-01", periods=4, unit="s"), "y": [1, 2, 3, 4]}),
    pd.DataFrame({"ds": pd.date_range("2025-01-01", periods=4, tz="UTC"), "y": [1.0, 2, 3, 4]}),
    pd.DataFrame({"ds": ["2025-01-03", "2025-01-01", "2025-01-01"], "y": [1.5, 2, 0.25]}),
    pd.DataFrame({"ds": pd.to_datetime(["2025-01-01", "2025-01-02"]), "y": [Decimal("1.10"), Decimal(2)]}),
])
def test_prep_fast_path_equals_the_general_path(frame):
    got = F._prep(frame)
    ds = pd.to_datetime(frame["ds"])
    want = F._prep_general(ds.dt.tz_localize(None) if ds.dt.tz is not None else ds, frame["y"])
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got["ds"].is_monotonic_increasing and not got["y"].isna().any()


def test_forecastset_build_tags_every_frame_with_its_key():
    fc = F.forecast(synthetic(days=42), 7, folds=1, models=("seasonal_naive",))
    for keys, ks in ((["key"], ["a", "b"]), (["key", "cur"], [("a", "USD"), ("b", "EUR")]), (["key"], [1, 2])):
        fs = F.ForecastSet.build(keys, [(k, fc) for k in ks])
        want = pd.concat([fc.frame.assign(**dict(zip(keys, k if isinstance(k, tuple) else (k,))))[
            keys + list(fc.frame.columns)] for k in ks], ignore_index=True)
        pd.testing.assert_frame_equal(fs.forecasts, want, check_exact=True)
        assert len(fs.accuracy) == 2 * len(fc.accuracy) and fs.notes["note"].tolist() == [fc.note] * 2
