"""Daily cost forecasts that report their own accuracy.

Every series is forecast twice: with Prophet (weekly seasonality; yearly seasonality only with
two years of history or more; optional country holidays through the ``holidays`` package) and
with a seasonal-naive baseline (the value of the same weekday one week earlier). A rolling-origin
backtest scores both on the series' own history (WAPE, MAPE, bias and interval coverage) and
the better model by WAPE is the one used; :attr:`Forecast.note` says which and why, so a
forecast is never shown without its accuracy.

Statistics run in floats (Prophet needs them); the money the series are built from is summed
exactly in the engine and the history keeps its ``decimal.Decimal`` totals. Forecasts are
estimates and are labelled as such.

Prophet is fitted through a lean subclass (see ``_lean_prophet``): Prophet's model, features and
Stan executable, without cmdstanpy and pandas overhead. From 100 days on a fit equals stock
Prophet's exactly (L-BFGS); under 100 days dense BFGS replaces Prophet's much slower Newton and
reaches the same optimum within the optimizer's tolerance.

Example:
    >>> import numpy as np, pandas as pd
    >>> ds = pd.date_range("2025-01-01", periods=84, freq="D")
    >>> y = 100 + 20 * (ds.day_of_week >= 5)
    >>> fc = forecast(pd.DataFrame({"ds": ds, "y": y}), horizon=14, folds=2, models=("seasonal_naive",))
    >>> fc.model, len(fc.frame), float(fc.accuracy.loc[0, "wape"])
    ('seasonal_naive', 14, 0.0)
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from . import schema
from .errors import AifinopsError, ConfigError

__all__ = [
    "MODELS",
    "Forecast",
    "ForecastSet",
    "backtest",
    "chart",
    "daily_series",
    "driver_forecast",
    "driver_summary",
    "forecast",
    "forecast_ledger",
    "forecast_many",
    "metrics",
    "prophet_forecast",
    "quiet",
    "seasonal_naive",
    "token_series",
]

MODELS: tuple[str, ...] = ("prophet", "seasonal_naive")
SEASON = 7
_DIMENSIONS = ("ProviderName", "ServiceName", "ServiceCategory", "x_Model", "x_GpuModel", *schema.ATTRIBUTION.values())
UNATTRIBUTED = "(unattributed)"


def quiet() -> None:
    """Silence Prophet's and cmdstanpy's loggers (per-fit INFO lines, "Importing plotly failed").

    Example:
        >>> quiet(); logging.getLogger("cmdstanpy").disabled
        True
    """
    for name in ("prophet", "prophet.plot", "prophet.models", "cmdstanpy"):
        lg = logging.getLogger(name)
        lg.disabled = True
        lg.propagate = False
        lg.setLevel(logging.CRITICAL)


def _prep(history: pd.DataFrame) -> pd.DataFrame:
    """One row per day from the first to the last day of ``history``: ``ds`` (naive datetime64),
    ``y`` (float; duplicate days summed, missing days and NaN 0).

    A history that is already daily, sorted and numeric (the common case, and every slice of a
    prepared series) takes a numpy fast path with the same result as the general one.
    """
    if not {"ds", "y"} <= set(history.columns):
        raise ConfigError("a series needs columns 'ds' and 'y'", column="ds" if "ds" not in history else "y")
    ds = history["ds"]
    if not isinstance(ds.dtype, np.dtype) or ds.dtype.kind != "M":
        ds = pd.to_datetime(ds)
        if ds.dt.tz is not None:
            ds = ds.dt.tz_localize(None)
    yv = history["y"]
    if isinstance(yv.dtype, np.dtype) and yv.dtype.kind in "fiu" and len(ds) > 1:
        d = ds.to_numpy()
        if (np.diff(d) == np.timedelta64(1, "D")).all():
            y = yv.to_numpy(float)
            # the general path's groupby-sum turns NaN into 0 and -0.0 into 0.0
            return pd.DataFrame({"ds": d, "y": np.where(np.isnan(y), 0.0, y) + 0.0})
    return _prep_general(ds, yv)


def _prep_general(ds: pd.Series, y: pd.Series) -> pd.DataFrame:
    h = pd.DataFrame({"ds": ds.to_numpy(), "y": pd.to_numeric(y.map(float), errors="coerce")})
    h = h.groupby("ds", as_index=False)["y"].sum().sort_values("ds")
    full = pd.date_range(h["ds"].min(), h["ds"].max(), freq="D")
    return h.set_index("ds").reindex(full, fill_value=0.0).rename_axis("ds").reset_index()


def _z(width: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + width / 2)


def seasonal_naive(history: pd.DataFrame, horizon: int, *, interval_width: float = 0.8,
                   season: int = SEASON) -> pd.DataFrame:
    """Seasonal-naive forecast: each future day repeats the same weekday of the last week.

    Intervals come from the empirical quantiles of the in-sample seasonal differences,
    widened by the square root of the number of seasons ahead.

    Args:
        history: columns ``ds`` (day) and ``y``.
        horizon: days to forecast.
        interval_width: nominal coverage of ``[yhat_lower, yhat_upper]``.
        season: season length in days.

    Returns:
        Columns ``ds``, ``yhat``, ``yhat_lower``, ``yhat_upper``.

    Example:
        >>> h = pd.DataFrame({"ds": pd.date_range("2025-01-06", periods=14), "y": [1, 2, 3, 4, 5, 6, 7] * 2})
        >>> seasonal_naive(h, 3)["yhat"].tolist()
        [1.0, 2.0, 3.0]
    """
    h = _prep(history)
    y = h["y"].to_numpy(float)
    s = min(season, len(y)) or 1
    last = y[-s:]
    steps = np.arange(horizon)
    yhat = last[steps % s] if len(last) else np.zeros(horizon)
    res = y[s:] - y[:-s] if len(y) > s else np.zeros(1)
    lo_q, hi_q = np.quantile(res, [(1 - interval_width) / 2, (1 + interval_width) / 2]) if len(res) else (0.0, 0.0)
    k = np.sqrt(steps // s + 1)
    ds = pd.date_range(h["ds"].iloc[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
    return pd.DataFrame({"ds": ds, "yhat": yhat, "yhat_lower": yhat + lo_q * k, "yhat_upper": yhat + hi_q * k})


_LEAN: dict[str, type] = {}


def _lean_prophet() -> type:
    """Prophet subclass used for every fit here (built on first use: importing Prophet is slow).

    The model, its priors, features and changepoints are Prophet's own, and for the same input
    and algorithm its parameters and forecasts equal stock Prophet's bit for bit (the tests
    compare them). What is leaner:

    * the Stan backend runs Prophet's compiled model (``prophet_model.bin``) directly instead
      of through cmdstanpy (the arguments cmdstanpy passes, the output CSV parsed with numpy,
      the small files in ``/dev/shm``), falling back to Newton like Prophet when the optimizer
      fails;
    * under 100 days Prophet picks Newton, ~0.2-0.4 s a fit here; dense BFGS reaches the same
      log-density (within ~0.01, sometimes higher) in ~0.01 s, so it is used instead (L-BFGS,
      Prophet's choice from 100 days, stalls lower at the changepoint prior's kink: on the
      benchmark series it moved the mean backtest WAPE by +0.0005, BFGS by -0.00001);
    * ``setup_dataframe`` (linear growth, absmax scaling, no regressors or conditions),
      ``fourier_series`` and ``regressor_column_matrix`` compute Prophet's values on numpy
      arrays instead of column-by-column pandas and ``pd.crosstab``; other set-ups use Prophet's;
    * ``predict_yhat`` returns the point forecast only (trend and seasonal terms with the
      arithmetic of ``Prophet.predict``), without the component frame or uncertainty samples.
    """
    if "Prophet" in _LEAN:
        return _LEAN["Prophet"]
    import importlib.resources
    import subprocess
    import tempfile

    from prophet import Prophet
    from prophet.models import CmdStanPyBackend

    exe = str(importlib.resources.files("prophet") / "stan_model" / "prophet_model.bin")
    # the run's three small files go to memory when /dev/shm exists (a disk /tmp under load
    # costs milliseconds per create/remove)
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None

    class _Stan(CmdStanPyBackend):
        def __init__(self) -> None:  # no cmdstanpy model object: the executable is run directly
            self.newton_fallback = True
            self.stan_fit = None
            self._err = ""

        def load_model(self):
            return None

        def _optimize(self, init: str, data: str, algorithm: str, tmp: str) -> tuple[list[str], np.ndarray] | None:
            out = os.path.join(tmp, "out.csv")
            r = subprocess.run([exe, "random", "seed=0", "data", f"file={data}", f"init={init}", "output",
                                f"file={out}", "method=optimize", f"algorithm={algorithm}", "iter=10000"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp, check=False)
            if r.returncode != 0:
                self._err = r.stderr.decode(errors="replace")[-500:]
                return None
            with open(out) as f:
                rows = [line for line in f if not line.startswith("#")]
            return rows[0].strip().split(","), np.array(rows[1].split(","), dtype=float)

        def fit(self, stan_init: dict, stan_data: dict, **kwargs) -> dict:
            import json

            if "init" in kwargs:
                stan_init = self.sanitize_custom_inits(stan_init, kwargs.pop("init"))
            inits, data = self.prepare_data(stan_init, stan_data)
            with tempfile.TemporaryDirectory(prefix="aifinops-stan-", dir=shm) as tmp:
                paths = {}
                for name, obj in (("data", data), ("init", inits)):
                    paths[name] = os.path.join(tmp, name + ".json")
                    with open(paths[name], "w") as f:
                        f.write(json.dumps(obj))  # json.dump would use the slow pure-Python encoder
                # Prophet: Newton under 100 days, else L-BFGS. Newton costs ~0.2-0.4 s a fit here;
                # dense BFGS reaches the same optimum (log-density within ~0.01) in ~0.01 s.
                algorithm = kwargs.get("algorithm", "bfgs" if data["T"] < 100 else "lbfgs").lower()
                res = self._optimize(paths["init"], paths["data"], algorithm, tmp)
                if res is None and self.newton_fallback:
                    res = self._optimize(paths["init"], paths["data"], "newton", tmp)
            if res is None:
                raise ConfigError(f"Prophet's Stan optimizer failed: {self._err}", column="y")
            params = self.stan_to_dict_numpy(*res)
            for par in params:
                params[par] = params[par].reshape((1, -1))
            return params

    class LeanProphet(Prophet):
        def _load_stan_backend(self, stan_backend) -> None:
            self.stan_backend = _Stan()

        def setup_dataframe(self, df, initialize_scales=False):
            simple = (self.growth == "linear" and self.scaling == "absmax" and not self.extra_regressors
                      and not self.logistic_floor and "cap" not in df and "floor" not in df
                      and all(p["condition_name"] is None for p in self.seasonalities.values()))
            if not simple:
                return super().setup_dataframe(df, initialize_scales)
            # Prophet's steps for this case on numpy arrays, the frame built once
            cols = {c: df[c] for c in df.columns}
            if "y" in cols:
                yv = cols["y"]
                y = yv.to_numpy() if yv.dtype == np.float64 else pd.to_numeric(yv).to_numpy()
                if np.isinf(y).any():
                    raise ValueError("Found infinity in column y.")
                cols["y"] = y
            ds = cols["ds"]
            if not (isinstance(ds.dtype, np.dtype) and ds.dtype.kind == "M"):
                if ds.dtype == np.int64:
                    ds = ds.astype(str)
                ds = pd.to_datetime(ds)
                if ds.dt.tz is not None:
                    raise ValueError("Column ds has timezone specified, which is not supported. Remove timezone.")
            d = ds.to_numpy()
            if np.isnat(d).any():
                raise ValueError("Found NaN in column ds.")
            order = np.argsort(d, kind="mergesort")  # sort_values("ds", kind="mergesort")
            if (order == np.arange(len(order))).all():
                order = slice(None)
            cols["ds"] = d
            cols = {c: np.asarray(v)[order] for c, v in cols.items()}
            if initialize_scales:  # Prophet's initialize_scales for absmax scaling, no floor, no regressors
                self.y_min = 0.0
                ay = np.abs(cols["y"])
                ay = ay[~np.isnan(ay)] if ay.dtype.kind == "f" else ay  # Series.max skips NaN
                self.y_scale = float(ay.max()) if len(ay) else float("nan")
                if self.y_scale == 0:
                    self.y_scale = 1.0
                self.start = pd.Timestamp(cols["ds"].min())
                self.t_scale = pd.Timestamp(cols["ds"].max()) - self.start
            n = len(cols["ds"])
            cols["floor"] = np.zeros(n)
            cols["t"] = (cols["ds"] - self.start.to_datetime64()) / self.t_scale.to_timedelta64()
            if "y" in cols:
                cols["y_scaled"] = (cols["y"] - cols["floor"]) / self.y_scale
            return pd.DataFrame(cols)

        @staticmethod
        def fourier_series(dates, period, series_order):
            d = dates.to_numpy() if isinstance(dates, pd.Series) else None
            if d is None or d.dtype.kind != "M" or series_order < 1:
                return Prophet.fourier_series(dates, period, series_order)
            unit, _ = np.datetime_data(d.dtype)
            pps = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}.get(unit)
            ticks = d.view(np.int64)
            if pps is None or (np.abs(ticks) > 2**53).any():
                return Prophet.fourier_series(dates, period, series_order)
            floor_s, residual = np.divmod(ticks, pps)  # as Series.dt.total_seconds(), bit for bit
            x_t = np.pi * 2 * ((floor_s + residual / pps) / (24 * 60 * 60))
            out = np.empty((d.shape[0], 2 * series_order))
            for i in range(series_order):
                c = (i + 1) / period * x_t
                out[:, 2 * i] = np.sin(c)
                out[:, 2 * i + 1] = np.cos(c)
            return out

        def regressor_column_matrix(self, seasonal_features, modes):
            pairs = [(i, str(c).split("_delim_")[0]) for i, c in enumerate(seasonal_features.columns)]

            def group(name, members):
                members = set(members)
                cols = list(dict.fromkeys(i for i, c in pairs if c in members))
                pairs.extend((i, name) for i in cols)

            if self.train_holiday_names is not None:
                group("holidays", self.train_holiday_names.unique())
            for mode in ("additive", "multiplicative"):
                group(mode + "_terms", modes[mode])
                group("extra_regressors_" + mode, [r for r, p in self.extra_regressors.items() if p["mode"] == mode])
                modes[mode].append(mode + "_terms")
                modes[mode].append("extra_regressors_" + mode)
            modes[self.holidays_mode].append("holidays")
            # pd.crosstab(col, component): sorted components, then the missing *_terms columns
            names = sorted({c for _, c in pairs})
            names += [n for n in ("additive_terms", "multiplicative_terms") if n not in names]
            rows = sorted({i for i, _ in pairs})
            where = {c: j for j, c in enumerate(names)}
            at = {i: r for r, i in enumerate(rows)}
            mat = np.zeros((len(rows), len(names)), dtype=np.int64)
            for i, c in pairs:
                mat[at[i], where[c]] += 1
            keep = [j for j, c in enumerate(names) if c != "zeros"]
            names = [names[j] for j in keep]
            mat = mat[:, keep]
            if (mat[:, names.index("additive_terms")] + mat[:, names.index("multiplicative_terms")]).max() > 1:
                raise AifinopsError("A bug occurred in seasonal components.")  # Prophet's check
            train = self.train_component_cols
            if train is not None:
                pick = [names.index(c) if c in names else -1 for c in train.columns]
                if min(pick, default=0) < 0 or list(train.index) != rows or not np.array_equal(
                        mat[:, pick], train.to_numpy()):
                    raise AifinopsError("A bug occurred in constructing regressors.")  # Prophet's check
                return train, modes
            cc = pd.DataFrame(mat, index=pd.Index(np.asarray(rows, dtype=np.int64), name="col"),
                              columns=pd.Index(names, name="component"))
            return cc, modes

        def predict_yhat(self, ds) -> np.ndarray:
            """Point forecast ``yhat`` on the days ``ds``: ``Prophet.predict(...)["yhat"]`` without
            the component columns."""
            df = self.setup_dataframe(pd.DataFrame({"ds": ds}))
            trend = np.asarray(self.predict_trend(df), dtype=float)
            x, _, cc, _ = self.make_all_seasonality_features(df)
            xv = x.values
            terms = {}
            for comp in ("additive_terms", "multiplicative_terms"):
                c = np.matmul(xv, (self.params["beta"] * cc[comp].values).transpose())
                if comp in self.component_modes["additive"]:
                    c *= self.y_scale
                terms[comp] = np.nanmean(c, axis=1)
            return trend * (1 + terms["multiplicative_terms"]) + terms["additive_terms"]

    _LEAN["Prophet"] = LeanProphet
    return LeanProphet


def prophet_forecast(history: pd.DataFrame, horizon: int, *, interval_width: float = 0.8,
                     holidays_country: str | None = None, interval: str = "residual",
                     uncertainty_samples: int = 300, include_history: bool = False) -> pd.DataFrame:
    """Prophet forecast of a daily series, fitted quietly.

    Weekly seasonality on; yearly seasonality only with at least two years (730 days) of
    history; ``holidays_country`` (e.g. ``"US"``) adds that country's public holidays. The fit is
    Prophet's MAP fit run without cmdstanpy: identical to ``Prophet().fit(h)`` from 100 days on,
    BFGS instead of Prophet's slow Newton under 100 days (the tests check both).

    Args:
        history: columns ``ds`` and ``y``.
        horizon: days to forecast.
        interval_width: nominal interval coverage.
        holidays_country: ISO country code for the ``holidays`` package, or None.
        interval: ``residual`` (default): the point forecast plus the empirical quantiles of
            the in-sample residuals (one predict call, no simulation; fast, and its coverage is
            what the backtest measures); ``sampling``: Prophet's own simulated interval
            (trend-change uncertainty included; slower).
        uncertainty_samples: simulation draws for ``sampling``.
        include_history: also return the fitted in-sample days (for anomaly bands).

    Returns:
        Columns ``ds``, ``yhat``, ``yhat_lower``, ``yhat_upper``.

    Example:
        >>> h = pd.DataFrame({"ds": pd.date_range("2025-01-06", periods=28), "y": [5.0] * 28})
        >>> round(float(prophet_forecast(h, 2)["yhat"].iloc[0]), 1)
        5.0
    """
    quiet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = _prep(history)
        span = (h["ds"].iloc[-1] - h["ds"].iloc[0]).days + 1
        if interval not in ("residual", "sampling"):
            raise ConfigError(f"interval must be 'residual' or 'sampling', got {interval!r}", column="interval")
        m = _lean_prophet()(weekly_seasonality=span >= 2 * SEASON, yearly_seasonality=span >= 730,
                            daily_seasonality=False, interval_width=interval_width,
                            uncertainty_samples=uncertainty_samples if interval == "sampling" else 0)
        if holidays_country:
            m.add_country_holidays(country_name=holidays_country)
        yv = h["y"].to_numpy(float)
        if len(yv) == 0 or (yv == yv[0]).all():  # Stan cannot fit a constant series; it is its own forecast
            ds = pd.date_range(h["ds"].iloc[0] if include_history else h["ds"].iloc[-1] + pd.Timedelta(days=1),
                               h["ds"].iloc[-1] + pd.Timedelta(days=horizon), freq="D")
            v = float(h["y"].iloc[0]) if len(h) else 0.0
            return pd.DataFrame({"ds": ds, "yhat": v, "yhat_lower": v, "yhat_upper": v})
        m.fit(h)
        if interval == "residual":
            # m.make_future_dataframe(horizon)["ds"]: the (daily, dense) history and the next days
            d = h["ds"].to_numpy()
            ds = np.concatenate((d, d[-1] + np.arange(1, horizon + 1).astype("timedelta64[D]")))
            yhat = m.predict_yhat(ds)
            res = yv - yhat[:len(h)]
            lo, hi = np.quantile(res, [(1 - interval_width) / 2, (1 + interval_width) / 2])
            out = pd.DataFrame({"ds": ds, "yhat": yhat, "yhat_lower": yhat + lo, "yhat_upper": yhat + hi})
            if not include_history:
                out = out.iloc[len(h):]
        else:
            fut = m.make_future_dataframe(periods=horizon, include_history=include_history)
            np.random.seed(0)
            out = m.predict(fut)
    return out[["ds", "yhat", "yhat_lower", "yhat_upper"]].reset_index(drop=True)


def _predict(model: str, history: pd.DataFrame, horizon: int, interval_width: float,
             holidays_country: str | None) -> pd.DataFrame:
    if model == "prophet":
        return prophet_forecast(history, horizon, interval_width=interval_width, holidays_country=holidays_country)
    if model == "seasonal_naive":
        return seasonal_naive(history, horizon, interval_width=interval_width)
    raise ConfigError(f"unknown forecast model {model!r} (known: {', '.join(MODELS)})")


def metrics(actual, yhat, lower=None, upper=None) -> dict[str, float]:
    """Forecast accuracy: WAPE, MAPE, bias and interval coverage.

    WAPE = sum|y - yhat| / sum|y|; MAPE = mean |y - yhat| / |y| over days with y != 0;
    bias = sum(yhat - y) / sum|y| (positive: over-forecast); coverage = share of days
    inside the interval.

    Example:
        >>> metrics([10, 10], [9, 12], [8, 8], [11, 9.5])
        {'wape': 0.15, 'mape': 0.15, 'bias': 0.05, 'coverage': 0.5, 'n': 2}
    """
    y = np.asarray(actual, float)
    f = np.asarray(yhat, float)
    den = np.abs(y).sum()
    nz = y != 0
    out = {
        "wape": float(np.abs(y - f).sum() / den) if den else math.nan,
        "mape": float(np.mean(np.abs(y[nz] - f[nz]) / np.abs(y[nz]))) if nz.any() else math.nan,
        "bias": float((f - y).sum() / den) if den else math.nan,
        "coverage": math.nan,
        "n": len(y),
    }
    if lower is not None and upper is not None and len(y):
        lo, hi = np.asarray(lower, float), np.asarray(upper, float)
        out["coverage"] = float(np.mean((y >= lo) & (y <= hi)))
    return {k: (round(v, 12) if isinstance(v, float) and not math.isnan(v) else v) for k, v in out.items()}


def backtest(history: pd.DataFrame, horizon: int, *, folds: int = 3, model: str = "prophet",
             interval_width: float = 0.8, holidays_country: str | None = None,
             min_train: int = 4 * SEASON) -> tuple[dict[str, float], pd.DataFrame]:
    """Rolling-origin backtest: cut the history ``folds`` times, ``horizon`` days apart, fit on
    what came before each cut and score the next ``horizon`` days.

    Args:
        history: columns ``ds`` and ``y``.
        horizon: days scored after each cut.
        folds: number of cuts (fewer when the history is too short; 0 folds gives NaN metrics).
        model: one of :data:`MODELS`.
        interval_width: nominal interval coverage.
        holidays_country: see :func:`prophet_forecast`.
        min_train: fewest days a fit may use.

    Returns:
        ``(metrics, predictions)``: :func:`metrics` over all folds (plus ``folds``), and the
        per-day predictions with ``cutoff`` and actual ``y``.

    Example:
        >>> h = pd.DataFrame({"ds": pd.date_range("2025-01-06", periods=56), "y": [1.0, 2, 3, 4, 5, 6, 7] * 8})
        >>> m, _ = backtest(h, 7, folds=3, model="seasonal_naive")
        >>> m["wape"], m["coverage"], m["folds"]
        (0.0, 1.0, 3)
    """
    h = _prep(history)
    preds = []
    n = len(h)
    for i in range(folds, 0, -1):
        cut = n - i * horizon
        if cut < min_train:
            continue
        train, test = h.iloc[:cut], h.iloc[cut:cut + horizon]
        p = _predict(model, train, len(test), interval_width, holidays_country)
        p = p.assign(y=test["y"].to_numpy(), cutoff=train["ds"].iloc[-1])
        preds.append(p)
    if not preds:
        return {**metrics([], []), "folds": 0}, pd.DataFrame(columns=["ds", "yhat", "yhat_lower", "yhat_upper",
                                                                        "y", "cutoff"])
    p = pd.concat(preds, ignore_index=True)
    return {**metrics(p["y"], p["yhat"], p["yhat_lower"], p["yhat_upper"]), "folds": len(preds)}, p


@dataclass
class Forecast:
    """One series' forecast with its accuracy.

    Attributes:
        frame: ``ds``, ``yhat``, ``yhat_lower``, ``yhat_upper``, ``model`` (the chosen model).
        accuracy: one row per model: ``model``, ``wape``, ``mape``, ``bias``, ``coverage``,
            ``n``, ``folds``, ``chosen``.
        model: the model used (lowest backtest WAPE; Prophet on ties).
        note: one sentence saying which model is used and why.
        alternatives: the forecast frame of the model used, by model name (the others are
            only backtested, not refit).
    """

    frame: pd.DataFrame
    accuracy: pd.DataFrame
    model: str
    note: str
    alternatives: dict[str, pd.DataFrame] = field(default_factory=dict)


def _pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def forecast(history: pd.DataFrame, horizon: int = 30, *, interval_width: float = 0.8, folds: int = 3,
             holidays_country: str | None = None, models: Sequence[str] = MODELS) -> Forecast:
    """Forecast a daily series with every model in ``models``, backtest each and use the best.

    Args:
        history: columns ``ds`` (day) and ``y`` (number or Decimal).
        horizon: days ahead (also the backtest horizon).
        interval_width: nominal interval coverage, e.g. 0.8 for an 80 % interval.
        folds: rolling-origin backtest folds.
        holidays_country: country code for Prophet holidays, or None.
        models: models to compare (subset of :data:`MODELS`).

    Returns:
        A :class:`Forecast`.

    Raises:
        ConfigError: unknown model, empty history or a non-positive horizon.

    Example:
        >>> h = pd.DataFrame({"ds": pd.date_range("2025-01-06", periods=42), "y": [3.0, 1, 1, 1, 1, 1, 2] * 6})
        >>> fc = forecast(h, 7, folds=2, models=("seasonal_naive",))
        >>> fc.note
        'seasonal_naive used: backtest WAPE 0.0% (2 folds of 7 days), interval coverage 100.0% (nominal 80%).'
    """
    if horizon < 1:
        raise ConfigError(f"horizon must be at least 1 day, got {horizon}", column="horizon")
    if history is None or len(history) == 0:
        raise ConfigError("cannot forecast an empty series", column="y")
    for mname in models:
        if mname not in MODELS:
            raise ConfigError(f"unknown forecast model {mname!r} (known: {', '.join(MODELS)})", column="model")
    rows, frames = [], {}
    for mname in models:
        m, _ = backtest(history, horizon, folds=folds, model=mname, interval_width=interval_width,
                        holidays_country=holidays_country)
        rows.append({"model": mname, **m})
    acc = pd.DataFrame(rows)
    score = acc["wape"].fillna(np.inf).to_numpy()
    best = int(np.argmin(score))  # first on ties: models are listed Prophet first
    chosen = acc.loc[best, "model"]
    acc["chosen"] = acc["model"] == chosen
    frames[chosen] = _predict(chosen, history, horizon, interval_width, holidays_country)  # only the model used is refit
    r = acc.loc[best]
    detail = (f"backtest WAPE {_pct(r['wape'])} ({int(r['folds'])} folds of {horizon} days), "
              f"interval coverage {_pct(r['coverage'])} (nominal {interval_width:.0%})")
    if r["folds"] == 0:
        note = f"{chosen} used: history too short for a backtest, accuracy unknown."
    elif "prophet" in set(acc["model"]) and chosen != "prophet":
        pw = acc.loc[acc["model"] == "prophet", "wape"].iloc[0]
        note = (f"{chosen} used: Prophet lost to it on the backtest (WAPE {_pct(pw)} vs {_pct(r['wape'])}); "
                f"{detail}.")
    else:
        note = f"{chosen} used: {detail}."
    frame = frames[chosen].assign(model=chosen)
    return Forecast(frame=frame, accuracy=acc, model=chosen, note=note, alternatives=frames)


def _one(args) -> tuple:
    key, hist, kw = args
    fc = forecast(hist, **kw)
    return key, fc


def forecast_many(series: pd.DataFrame, *, key: str | Sequence[str] = "key", horizon: int = 30,
                  processes: int | None = 1, **kw) -> ForecastSet:
    """Forecast many series (long frame ``key..., ds, y``), in parallel processes if asked.

    Args:
        series: long frame with the key column(s), ``ds`` and ``y``.
        key: column(s) naming a series.
        horizon: days ahead.
        processes: worker processes (None: every core; 1: in this process).
        **kw: passed to :func:`forecast` (``interval_width``, ``folds``, ``models``, ...).

    Returns:
        A :class:`ForecastSet`.

    Example:
        >>> s = pd.DataFrame({"key": ["a"] * 28, "ds": pd.date_range("2025-01-06", periods=28), "y": 2.0})
        >>> fs = forecast_many(s, horizon=7, folds=1, models=("seasonal_naive",))
        >>> fs.accuracy[["key", "model", "chosen"]].values.tolist()
        [['a', 'seasonal_naive', True]]
    """
    keys = [key] if isinstance(key, str) else list(key)
    groups = [(k if len(keys) > 1 else (k[0] if isinstance(k, tuple) else k), g[["ds", "y"]])
              for k, g in series.groupby(keys, sort=True, dropna=False)]
    work = [(k, g, {"horizon": horizon, **kw}) for k, g in groups]
    if processes == 1 or len(work) <= 1:
        results = [_one(w) for w in work]
    else:
        if "prophet" in kw.get("models", MODELS):
            _lean_prophet()  # import Prophet once here, not in every forked worker
        ctx = multiprocessing.get_context("fork")
        n = processes or os.cpu_count() or 2
        with ctx.Pool(n, initializer=quiet) as pool:
            # small chunks: a worker left alone with a big last chunk would idle the other cores
            results = pool.map(_one, work, chunksize=max(1, min(8, len(work) // (4 * n))))
    return ForecastSet.build(keys, results)


@dataclass
class ForecastSet:
    """Forecasts of several series.

    Attributes:
        keys: the key column names.
        forecasts: long frame: key columns, ``ds``, ``yhat``, ``yhat_lower``, ``yhat_upper``, ``model``.
        accuracy: long frame: key columns, ``model``, ``wape``, ``mape``, ``bias``, ``coverage``,
            ``n``, ``folds``, ``chosen``.
        notes: key columns and ``note``.
        history: the input series (key columns, ``ds``, ``y``), when known.
    """

    keys: list[str]
    forecasts: pd.DataFrame
    accuracy: pd.DataFrame
    notes: pd.DataFrame
    history: pd.DataFrame | None = None

    @classmethod
    def build(cls, keys: list[str], results: list[tuple]) -> ForecastSet:
        def tag(df, k):
            vals = k if isinstance(k, tuple) else (k,)
            return df.assign(**dict(zip(keys, vals)))[keys + [c for c in df.columns if c not in keys]]

        empty = pd.DataFrame(columns=keys)
        rows = [k if isinstance(k, tuple) else (k,) for k, _ in results]
        fast = all(isinstance(v, str) for r in rows for v in r)

        def stack(frames):
            if not frames:
                return empty
            if not fast or any(c in keys for f in frames for c in f.columns):
                return pd.concat([tag(f, k) for f, (k, _) in zip(frames, results)], ignore_index=True)
            # string keys: one concat, then the key columns repeated per frame (the same frame as
            # tagging each frame and concatenating; tagging 500 frames one by one costs seconds)
            body = pd.concat(frames, ignore_index=True)
            lens = [len(f) for f in frames]
            tags = pd.DataFrame({name: pd.array(np.repeat(np.array([r[j] for r in rows], dtype=object), lens),
                                                dtype="str") for j, name in enumerate(keys)}, index=body.index)
            return pd.concat([tags, body], axis=1)

        return cls(keys=keys, forecasts=stack([fc.frame for _, fc in results]),
                   accuracy=stack([fc.accuracy for _, fc in results]),
                   notes=stack([pd.DataFrame({"model": [fc.model], "note": [fc.note]}) for _, fc in results]))

    def summary(self) -> pd.DataFrame:
        """Per series: chosen model, its backtest metrics, the baseline's WAPE and the
        forecast total over the horizon.

        Example:
            >>> s = pd.DataFrame({"key": ["a"] * 28, "ds": pd.date_range("2025-01-06", periods=28), "y": 2.0})
            >>> forecast_many(s, horizon=7, folds=1).summary()["forecast_total"].round(6).tolist()
            [14.0]
        """
        acc = self.accuracy
        chosen = acc[acc["chosen"].astype(bool)].drop(columns=["chosen"])
        base = acc[acc["model"] == "seasonal_naive"][self.keys + ["wape"]].rename(columns={"wape": "baseline_wape"})
        tot = self.forecasts.groupby(self.keys, dropna=False, as_index=False).agg(
            forecast_total=("yhat", "sum"), forecast_lower=("yhat_lower", "sum"), forecast_upper=("yhat_upper", "sum"))
        return chosen.merge(base, on=self.keys, how="left").merge(tot, on=self.keys, how="left")


def _lit(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def daily_series(ledger, by: str | None = None, *, cost: str = "BilledCost", where: str | None = None,
                 start=None, end=None) -> pd.DataFrame:
    """Daily billed cost per value of ``by`` and currency, summed exactly in the engine.

    Only rows whose cost counts (the ``billed`` view) are summed. Days without cost inside a
    series' span are filled with 0. NULL or blank dimension values are ``(unattributed)``.

    Args:
        ledger: a :class:`aifinops.ledger.Ledger`.
        by: a ledger column (``x_Team``, ``ProviderName``, ``x_Model``...) or None for the total.
        cost: money column.
        where: extra SQL filter on ``billed``.
        start, end: optional day bounds (inclusive start, exclusive end).

    Returns:
        Columns ``key``, ``BillingCurrency``, ``ds`` (datetime64), ``cost`` (Decimal) and ``y`` (float).

    Example:
        >>> from aifinops.report import open_ledger
        >>> list(daily_series(open_ledger("", inputs=None)).columns)
        ['key', 'BillingCurrency', 'ds', 'cost', 'y']
    """
    if cost not in schema.MONEY_COLUMNS:
        raise ConfigError(f"not a money column: {cost!r}", column=str(cost))
    if by is not None and by not in schema.COLUMNS:
        raise ConfigError(f"unknown dimension {by!r}", column=str(by))
    keyx = (f"COALESCE(NULLIF(TRIM(CAST(\"{by}\" AS VARCHAR)), ''), {_lit(UNATTRIBUTED)})" if by else "'total'")
    conds = ["ChargePeriodStart IS NOT NULL"]
    if where:
        conds.append(f"({where})")
    if start is not None:
        conds.append(f"ChargePeriodStart >= TIMESTAMPTZ {_lit(pd.Timestamp(start).isoformat())}")
    if end is not None:
        conds.append(f"ChargePeriodStart < TIMESTAMPTZ {_lit(pd.Timestamp(end).isoformat())}")
    df = ledger.query(
        f"SELECT {keyx} AS key, BillingCurrency, CAST(date_trunc('day', ChargePeriodStart) AS DATE) AS ds, "
        f"SUM(\"{cost}\") AS cost FROM billed WHERE {' AND '.join(conds)} GROUP BY ALL ORDER BY 1, 2, 3")
    cols = ["key", "BillingCurrency", "ds", "cost", "y"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["ds"] = pd.to_datetime(df["ds"])
    last = df["ds"].max()
    out = []
    for (k, cur), g in df.groupby(["key", "BillingCurrency"], sort=True, dropna=False):
        idx = pd.date_range(g["ds"].min(), last, freq="D")
        g = g.set_index("ds").reindex(idx).rename_axis("ds").reset_index()
        g["key"], g["BillingCurrency"] = k, cur
        g["cost"] = g["cost"].map(lambda v: Decimal(0) if v is None or (isinstance(v, float) and math.isnan(v)) else v)
        out.append(g)
    res = pd.concat(out, ignore_index=True)
    res["y"] = res["cost"].map(float)
    return res[cols]


def forecast_ledger(ledger, by: str | None = None, *, horizon: int = 30, interval_width: float = 0.8,
                    folds: int = 3, holidays_country: str | None = None, top: int | None = 8,
                    where: str | None = None, models: Sequence[str] = MODELS, processes: int | None = 1,
                    as_of=None) -> ForecastSet:
    """Forecast daily billed cost of the ledger, in total or per value of a dimension.

    Args:
        ledger: a Ledger.
        by: dimension column or None (total).
        horizon: days ahead.
        interval_width: nominal interval coverage.
        folds: backtest folds.
        holidays_country: Prophet holidays country, or None.
        top: forecast only the ``top`` series by cost (None: all).
        where: SQL filter on ``billed``.
        models: models compared.
        processes: worker processes.
        as_of: forecast from this day (history ends the day before); default the last day.

    Returns:
        A :class:`ForecastSet` keyed by ``key`` and ``BillingCurrency``, with ``history``.

    Example:
        >>> from aifinops.report import open_ledger
        >>> forecast_ledger(open_ledger("", inputs=None)).forecasts.empty
        True
    """
    s = daily_series(ledger, by, where=where, end=as_of)
    keys = ["key", "BillingCurrency"]
    if s.empty:
        e = pd.DataFrame(columns=keys)
        return ForecastSet(keys, e, e, e, s)
    if top:
        totals = s.groupby(keys)["y"].sum().sort_values(ascending=False)
        keep = totals.index[:top]
        s = s.set_index(keys).loc[keep].reset_index()
    fs = forecast_many(s, key=keys, horizon=horizon, processes=processes, interval_width=interval_width,
                       folds=folds, holidays_country=holidays_country, models=models)
    fs.history = s
    return fs


# -----------------------------------------------------------------------------------------
# driver-based AI forecast: volume x unit cost
# -----------------------------------------------------------------------------------------

def token_series(ledger, *, where: str | None = None, end=None) -> pd.DataFrame:
    """Daily tokens and requests per provider, model and token type, from the ledger's AI rows.

    Rows billed by invoice are used where they carry tokens; a provider whose tokens only
    appear in usage records (cost authority other than invoice) is read from those instead,
    so each token is counted once.

    Returns:
        Columns ``ProviderName``, ``x_ModelProvider``, ``x_Model``, ``x_TokenType``, ``ds``,
        ``x_Tokens`` (Decimal), ``x_Requests`` (Decimal or None).

    Example:
        >>> from aifinops.report import open_ledger
        >>> token_series(open_ledger("", inputs=None)).empty
        True
    """
    conds = ["x_Tokens IS NOT NULL", "x_Model IS NOT NULL", "x_TokenType IS NOT NULL", "ChargePeriodStart IS NOT NULL"]
    if where:
        conds.append(f"({where})")
    if end is not None:
        conds.append(f"ChargePeriodStart < TIMESTAMPTZ {_lit(pd.Timestamp(end).isoformat())}")
    w = " AND ".join(conds)
    return ledger.query(
        f"WITH t AS (SELECT * FROM ledger WHERE {w}), "
        f"inv AS (SELECT DISTINCT ProviderName FROM t WHERE x_CostAuthority = 'invoice') "
        f"SELECT ProviderName, x_ModelProvider, x_Model, x_TokenType, "
        f"CAST(date_trunc('day', ChargePeriodStart) AS DATE) AS ds, SUM(x_Tokens) AS x_Tokens, "
        f"SUM(x_Requests) AS x_Requests FROM t "
        f"WHERE x_CostAuthority = 'invoice' OR ProviderName NOT IN (SELECT ProviderName FROM inv) "
        f"GROUP BY ALL ORDER BY 1, 2, 3, 4, 5")


def driver_forecast(ledger=None, *, horizon: int = 30, tokens: pd.DataFrame | None = None, catalogue=None,
                    at=None, as_model: str | None = None, growth: float = 0.0, folds: int = 2,
                    interval_width: float = 0.8, models: Sequence[str] = MODELS, top: int | None = 20,
                    processes: int | None = 1, end=None) -> pd.DataFrame:
    """Driver-based AI cost forecast: forecast token volume per provider, model and token type,
    then price the forecast tokens with :func:`aifinops.price.price`.

    A price change (``at``: price at that date's prices) or a model switch (``as_model``)
    changes the forecast exactly as it would change the bill, because the same catalogue
    prices both.

    Args:
        ledger: a Ledger (or None when ``tokens`` is given).
        horizon: days ahead.
        tokens: :func:`token_series` output to use instead of reading ``ledger``.
        catalogue: a :class:`aifinops.price.PriceCatalogue` (default the built-in one).
        at: price every forecast day at this date's prices (default: each day's own date).
        as_model: re-price the forecast tokens as if they ran on this model.
        growth: extra growth applied to the forecast volume (0.1 = +10 %).
        folds, interval_width, models, processes: passed to :func:`forecast_many`.
        top: only the ``top`` (provider, model, token type) series by tokens; the rest are
            dropped from the forecast and reported by :func:`token_series`.
        end: history ends the day before (default: the ledger's last day).

    Returns:
        Per forecast day, provider, model and token type: ``x_Tokens`` (P50 forecast, whole
        tokens), ``x_TokensLower``/``x_TokensUpper``, ``x_PricedCost`` (exact Decimal at P50),
        ``x_PricedCostLower``/``x_PricedCostUpper``, ``x_PriceCurrency``, ``x_PriceReason``
        and ``model`` (the volume model used).

    Example:
        >>> t = pd.DataFrame({"ProviderName": "OpenAI", "x_ModelProvider": "openai", "x_Model": "gpt-4o",
        ...                   "x_TokenType": "output", "ds": pd.date_range("2025-07-07", periods=28),
        ...                   "x_Tokens": [Decimal(1_000_000)] * 28, "x_Requests": None})
        >>> f = driver_forecast(tokens=t, horizon=2, folds=1, models=("seasonal_naive",))
        >>> [str(c) for c in f["x_PricedCost"]]            # 1M output tokens at $10/MTok
        ['10.000000000000000000', '10.000000000000000000']
    """
    from .price import price

    t = tokens if tokens is not None else token_series(ledger, end=end)
    keys = ["ProviderName", "x_ModelProvider", "x_Model", "x_TokenType"]
    out_cols = keys + ["ds", "x_Tokens", "x_TokensLower", "x_TokensUpper", "x_PricedCost", "x_PricedCostLower",
                       "x_PricedCostUpper", "x_PriceCurrency", "x_PriceReason", "model"]
    if t is None or t.empty:
        return pd.DataFrame(columns=out_cols)
    t = t.copy()
    for k in keys:
        t[k] = t[k].astype(object).where(t[k].notna(), "")
    t["ds"] = pd.to_datetime(t["ds"])
    t["y"] = t["x_Tokens"].map(float)
    if top:
        tot = t.groupby(keys)["y"].sum().sort_values(ascending=False)
        t = t.set_index(keys).loc[tot.index[:top]].reset_index()
    fs = forecast_many(t[keys + ["ds", "y"]], key=keys, horizon=horizon, processes=processes, folds=folds,
                       interval_width=interval_width, models=models)
    f = fs.forecasts.copy()
    g = 1.0 + growth
    for src, dst in (("yhat", "x_Tokens"), ("yhat_lower", "x_TokensLower"), ("yhat_upper", "x_TokensUpper")):
        f[dst] = (f[src].astype(float) * g).clip(lower=0).round().astype("int64")
    usage = f[keys].replace("", None).assign(ChargePeriodStart=pd.to_datetime(f["ds"]).dt.tz_localize("UTC"))
    priced = {}
    for col in ("x_Tokens", "x_TokensLower", "x_TokensUpper"):
        u = usage.assign(x_Tokens=f[col].to_numpy())
        priced[col] = price(u, catalogue, at=at, as_model=as_model)
    res = f[keys + ["ds", "x_Tokens", "x_TokensLower", "x_TokensUpper", "model"]].copy()
    res["x_PricedCost"] = list(priced["x_Tokens"]["x_PricedCost"])
    res["x_PricedCostLower"] = list(priced["x_TokensLower"]["x_PricedCost"])
    res["x_PricedCostUpper"] = list(priced["x_TokensUpper"]["x_PricedCost"])
    res["x_PriceCurrency"] = list(priced["x_Tokens"]["x_PriceCurrency"].astype(object))
    res["x_PriceReason"] = list(priced["x_Tokens"]["x_PriceReason"].astype(object))
    return res[out_cols]


def chart(fs: ForecastSet, *, title: str = "Daily cost forecast", history_days: int = 120):
    """Altair chart of a :class:`ForecastSet`: recent history, the forecast of the chosen model
    and its interval, one panel per series.

    Example:
        >>> s = pd.DataFrame({"key": ["a"] * 28, "BillingCurrency": "USD", "ds": pd.date_range("2025-01-06", periods=28),
        ...                   "y": 2.0})
        >>> fs = forecast_many(s, key=["key", "BillingCurrency"], horizon=7, folds=1, models=("seasonal_naive",))
        >>> fs.history = s
        >>> type(chart(fs)).__name__
        'FacetChart'
    """
    import altair as alt

    keys = fs.keys
    label = lambda df: df[keys].astype(str).agg(" · ".join, axis=1)
    f = fs.forecasts.copy()
    f["series"] = label(f)
    f["ds"] = pd.to_datetime(f["ds"])
    parts = [f[["series", "ds", "yhat", "yhat_lower", "yhat_upper", "model"]].astype(
        {"yhat": float, "yhat_lower": float, "yhat_upper": float})]
    h = fs.history
    if h is not None and len(h):
        h = h.copy()
        h["series"] = label(h)
        h = h[h["ds"] > h["ds"].max() - pd.Timedelta(days=history_days)]
        parts.append(h[["series", "ds"]].assign(actual=h["y"].astype(float)))
    data = pd.concat(parts, ignore_index=True)
    base = alt.Chart(data).encode(x=alt.X("ds:T", title=None))
    band = base.mark_area(opacity=0.25).encode(y=alt.Y("yhat_lower:Q", title="cost"), y2="yhat_upper:Q")
    line = base.mark_line(strokeDash=[4, 3]).encode(y="yhat:Q", tooltip=["ds:T", "yhat:Q", "model:N"])
    act = base.mark_line().encode(y="actual:Q", tooltip=["ds:T", "actual:Q"])
    return alt.layer(band, line, act).properties(width=520, height=140).facet(
        row=alt.Row("series:N", title=None), title=title).resolve_scale(y="independent")


def driver_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Totals of a :func:`driver_forecast` over its horizon per provider and model: forecast
    tokens (P50 and band) and priced cost (exact at P50), unpriced rows counted.

    Example:
        >>> t = pd.DataFrame({"ProviderName": "OpenAI", "x_ModelProvider": "openai", "x_Model": "gpt-4o",
        ...                   "x_TokenType": "output", "ds": pd.date_range("2025-07-07", periods=28),
        ...                   "x_Tokens": [Decimal(1_000_000)] * 28, "x_Requests": None})
        >>> s = driver_summary(driver_forecast(tokens=t, horizon=3, folds=1, models=("seasonal_naive",)))
        >>> s[["x_Model", "x_Tokens", "x_PricedCost"]].values.tolist()
        [['gpt-4o', 3000000, Decimal('30.000000000000000000')]]
    """
    cols = ["ProviderName", "x_Model", "x_PriceCurrency", "x_Tokens", "x_TokensLower", "x_TokensUpper",
            "x_PricedCost", "x_PricedCostLower", "x_PricedCostUpper", "unpriced_rows"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    d = df.assign(unpriced_rows=df["x_PricedCost"].map(lambda v: v is None or v is pd.NA or (
        isinstance(v, float) and math.isnan(v))).astype(int))
    d["x_PriceCurrency"] = d["x_PriceCurrency"].fillna("")

    def dec_sum(s):
        return sum((v for v in s if isinstance(v, Decimal)), Decimal(0))

    g = d.groupby(["ProviderName", "x_Model", "x_PriceCurrency"], as_index=False).agg(
        x_Tokens=("x_Tokens", "sum"), x_TokensLower=("x_TokensLower", "sum"), x_TokensUpper=("x_TokensUpper", "sum"),
        x_PricedCost=("x_PricedCost", dec_sum), x_PricedCostLower=("x_PricedCostLower", dec_sum),
        x_PricedCostUpper=("x_PricedCostUpper", dec_sum), unpriced_rows=("unpriced_rows", "sum"))
    return g.sort_values("x_PricedCost", ascending=False, key=lambda s: s.map(float)).reset_index(drop=True)[cols]
