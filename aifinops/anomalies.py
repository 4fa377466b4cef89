"""Cost anomalies on daily series, each explained by its drivers.

A day is anomalous when its cost falls outside a robust band or outside the forecast interval:

* ``mad``: expected = median of the same weekday over the previous ``weeks`` weeks, each moved
  by the robust weekly trend (median week-on-week change over the trailing window); band =
  expected +/- ``k`` x 1.4826 x MAD of the trailing residuals (a robust z-score; a spike does
  not widen its own band).
* ``interval``: outside the in-sample Prophet interval (:func:`aifinops.forecast.prophet_forecast`).
* ``either`` / ``both``: union or intersection of the two.

Days whose cost impact (actual - expected) is below ``min_impact`` are dropped; consecutive
anomalous days of one series form one ``event``. :func:`explain` then compares the anomaly
days with the expected days per dimension (team, service, model, GPU model, usage...) and
:func:`ai_drivers` splits an AI cost change into volume, tokens per request, model mix and
price effects that add up to the change.

Example:
    >>> import pandas as pd
    >>> y = [100.0] * 60; y[45] = 400.0
    >>> a = detect(pd.DataFrame({"ds": pd.date_range("2025-01-01", periods=60), "y": y}), min_impact=50)
    >>> a[["actual", "expected", "impact"]].values.tolist(), str(a["ds"][0].date())
    ([[400.0, 100.0, 300.0]], '2025-02-15')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import forecast as _fc
from . import schema
from .errors import ConfigError

__all__ = ["DRIVER_DIMENSIONS", "METHODS", "USAGE", "ai_drivers", "chart", "detect", "explain", "explain_event", "explain_top", "find_anomalies", "ledger_chart"]

METHODS = ("mad", "interval", "either", "both")
#: dimensions an anomaly is explained by (those present in the ledger)
DRIVER_DIMENSIONS: tuple[str, ...] = ("x_Team", "ProviderName", "ServiceName", "x_Model", "x_GpuModel",
                                      "x_Feature", "ChargeDescription")
_MAD = 1.4826
#: default filter: usage charges (FOCUS ChargeCategory), not fees, purchases, taxes or credits
USAGE = "ChargeCategory = 'Usage'"


def _mad_band(h: pd.DataFrame, k: float, weeks: int, window: int, rel_floor: float) -> pd.DataFrame:
    y = h["y"].to_numpy(float)
    n = len(y)
    expected = np.full(n, np.nan)
    sdiff = np.full(n, np.nan)
    sdiff[7:] = y[7:] - y[:-7]  # week-on-week change: its trailing median is a robust weekly trend
    for i in range(n):
        lags = [w for w in range(1, weeks + 1) if i - 7 * w >= 0]
        if len(lags) >= 2:
            d = sdiff[max(0, i - window):i]
            d = d[~np.isnan(d)]
            trend = float(np.median(d)) if len(d) >= 7 else 0.0
            expected[i] = float(np.median([y[i - 7 * w] + w * trend for w in lags]))
    resid = y - expected
    scale = np.full(n, np.nan)
    for i in range(n):
        r = resid[max(0, i - window):i]
        r = r[~np.isnan(r)]
        if len(r) >= 7:
            scale[i] = _MAD * float(np.median(np.abs(r - np.median(r))))
    scale = np.maximum(np.nan_to_num(scale, nan=np.inf), rel_floor * np.abs(np.nan_to_num(expected)))
    return pd.DataFrame({"ds": h["ds"], "actual": y, "expected": expected,
                         "lower": expected - k * scale, "upper": expected + k * scale})


def detect(series: pd.DataFrame, *, method: str = "mad", k: float = 4.0, weeks: int = 4, window: int = 56,
           min_impact: float = 0.0, interval_width: float = 0.99, rel_floor: float = 0.01) -> pd.DataFrame:
    """Anomalous days of one daily series.

    Args:
        series: columns ``ds`` and ``y``.
        method: one of :data:`METHODS`.
        k: band half-width in robust standard deviations (``mad``).
        weeks: same-weekday lags the expected value is the median of.
        window: trailing days of residuals the MAD is taken over.
        min_impact: drop days whose |actual - expected| is below this amount.
        interval_width: Prophet interval width (``interval``).
        rel_floor: the band is at least this fraction of the expected value wide (a flat
            series has MAD 0).

    Returns:
        One row per anomalous day: ``ds``, ``actual``, ``expected``, ``lower``, ``upper``,
        ``impact`` (actual - expected), ``score`` (impact in robust standard deviations,
        ``interval`` rows: in interval half-widths), ``method`` and ``event`` (consecutive days share
        an event number).

    Raises:
        ConfigError: unknown method.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown anomaly method {method!r} (known: {', '.join(METHODS)})", column="method")
    h = _fc._prep(series)
    cols = ["ds", "actual", "expected", "lower", "upper", "impact", "score", "method", "event"]
    if h.empty:
        return pd.DataFrame(columns=cols)
    band = _mad_band(h, k, weeks, window, rel_floor)
    mad_flag = ((band["actual"] < band["lower"]) | (band["actual"] > band["upper"])) & band["expected"].notna()
    out = band.copy()
    out["method"] = "mad"
    flag = mad_flag
    if method != "mad":
        p = _fc.prophet_forecast(h, 1, interval_width=interval_width, include_history=True).iloc[:len(h)]
        p = p.reset_index(drop=True)
        iv_flag = (h["y"] < p["yhat_lower"]) | (h["y"] > p["yhat_upper"])
        use_iv = iv_flag & ~mad_flag
        for c_out, c_p in (("expected", "yhat"), ("lower", "yhat_lower"), ("upper", "yhat_upper")):
            out.loc[use_iv, c_out] = p.loc[use_iv, c_p].to_numpy()
        out.loc[use_iv, "method"] = "interval"
        out.loc[mad_flag & iv_flag, "method"] = "mad+interval"
        flag = {"interval": iv_flag, "either": mad_flag | iv_flag, "both": mad_flag & iv_flag}[method]
        if method == "interval":
            for c_out, c_p in (("expected", "yhat"), ("lower", "yhat_lower"), ("upper", "yhat_upper")):
                out.loc[iv_flag, c_out] = p.loc[iv_flag, c_p].to_numpy()
    out["impact"] = out["actual"] - out["expected"]
    half = (out["upper"] - out["lower"]) / 2
    out["score"] = np.where(half > 0, out["impact"] / half * (k if method == "mad" else 1.0), np.inf)
    out = out[flag & (out["impact"].abs() >= min_impact)].copy()
    gap = out["ds"].diff().dt.days.fillna(99).to_numpy() > 1
    out["event"] = np.cumsum(gap)
    return out[cols].reset_index(drop=True)


def find_anomalies(ledger, by: str | None = None, *, min_impact: float = 0.0, method: str = "mad",
                   top: int | None = 10, start=None, end=None, where: str | None = USAGE, **kw) -> pd.DataFrame:
    """Anomalous days of the ledger's daily billed cost, in total or per dimension value.

    Args:
        ledger: a Ledger.
        by: dimension column or None.
        min_impact: minimum |actual - expected| in the series' currency.
        method: see :func:`detect`.
        top: only the ``top`` series by cost.
        start, end: only report days in ``[start, end)`` (history before ``start`` still
            sets the expectation).
        where: SQL filter on ``billed``; default usage charges only (:data:`USAGE`), so monthly
            fees, purchases and taxes booked on the 1st are not reported as spikes.
        **kw: passed to :func:`detect`.

    Returns:
        :func:`detect`'s columns plus ``key`` and ``BillingCurrency``, largest impact first;
        ``event`` numbers are unique across series.

    Example:
        >>> from aifinops.report import open_ledger
        >>> find_anomalies(open_ledger("", inputs=None)).empty
        True
    """
    s = _fc.daily_series(ledger, by, end=end, where=where)
    keys = ["key", "BillingCurrency"]
    cols = keys + ["ds", "actual", "expected", "lower", "upper", "impact", "score", "method", "event"]
    if s.empty:
        return pd.DataFrame(columns=cols)
    if top:
        tot = s.groupby(keys)["y"].sum().sort_values(ascending=False)
        s = s.set_index(keys).loc[tot.index[:top]].reset_index()
    found, offset = [], 0
    for (key, cur), g in s.groupby(keys, sort=True):
        a = detect(g[["ds", "y"]], method=method, min_impact=min_impact, **kw)
        if start is not None:
            a = a[a["ds"] >= pd.Timestamp(start).tz_localize(None)]
        if a.empty:
            continue
        a = a.assign(key=key, BillingCurrency=cur, event=a["event"] + offset)
        offset = int(a["event"].max()) + 1
        found.append(a)
    if not found:
        return pd.DataFrame(columns=cols)
    res = pd.concat(found, ignore_index=True)[cols]
    return res.sort_values("impact", key=lambda s: -s.abs(), kind="stable").reset_index(drop=True)


def _days_sql(days: Sequence) -> str:
    lst = ", ".join(f"DATE '{pd.Timestamp(d).date().isoformat()}'" for d in days)
    return f"CAST(date_trunc('day', ChargePeriodStart) AS DATE) IN ({lst})"


def _baseline_days(days: Sequence, weeks: int) -> list:
    return sorted({pd.Timestamp(d) - pd.Timedelta(days=7 * w) for d in days for w in range(1, weeks + 1)})


def explain(ledger, days: Sequence, *, dimensions: Sequence[str] = DRIVER_DIMENSIONS, weeks: int = 4,
            where: str | None = None, currency: str | None = None, top: int = 5) -> pd.DataFrame:
    """Which values of which dimensions moved on the anomaly days.

    The expectation per value is its average daily billed cost on the same weekdays of the
    previous ``weeks`` weeks, scaled to the number of anomaly days.

    Args:
        ledger: a Ledger.
        days: the anomaly days.
        dimensions: ledger columns to explain by.
        weeks: baseline weeks.
        where: SQL filter (e.g. the anomalous series' dimension value).
        currency: restrict to one billing currency.
        top: rows kept per dimension (largest |delta|).

    Returns:
        ``dimension``, ``value``, ``actual``, ``expected``, ``delta`` (floats in the currency),
        ``share`` (delta / total delta), largest |delta| first within each dimension and
        dimensions ordered by how concentrated their top value's share is.

    Example:
        >>> from aifinops.report import open_ledger
        >>> explain(open_ledger("", inputs=None), ["2025-06-01"]).empty
        True
    """
    days = [pd.Timestamp(d) for d in days]
    base = _baseline_days(days, weeks)
    conds = [f"({where})"] if where else []
    if currency:
        conds.append(f"BillingCurrency = {_fc._lit(currency)}")
    extra = (" AND " + " AND ".join(conds)) if conds else ""
    frames = []
    for dim in dimensions:
        if dim not in schema.COLUMNS:
            raise ConfigError(f"unknown dimension {dim!r}", column=str(dim))
        v = f"COALESCE(NULLIF(TRIM(CAST(\"{dim}\" AS VARCHAR)), ''), {_fc._lit(_fc.UNATTRIBUTED)})"
        df = ledger.query(
            f"SELECT {v} AS value, "
            f"CAST(SUM(CASE WHEN {_days_sql(days)} THEN BilledCost ELSE 0 END) AS DOUBLE) AS actual, "
            f"CAST(SUM(CASE WHEN {_days_sql(base)} THEN BilledCost ELSE 0 END) AS DOUBLE) * {len(days)} / "
            f"{len(base)} AS expected FROM billed WHERE ({_days_sql(days + base)}){extra} GROUP BY ALL")
        if df.empty:
            continue
        df["delta"] = df["actual"] - df["expected"]
        tot = df["delta"].sum()
        df["share"] = df["delta"] / tot if tot else np.nan
        df = df.reindex(df["delta"].abs().sort_values(ascending=False).index).head(top)
        frames.append(df.assign(dimension=dim))
    if not frames:
        return pd.DataFrame(columns=["dimension", "value", "actual", "expected", "delta", "share"])
    out = pd.concat(frames, ignore_index=True)[["dimension", "value", "actual", "expected", "delta", "share"]]
    conc = out.groupby("dimension")["share"].max().sort_values(ascending=False)
    out["_o"] = out["dimension"].map({d: i for i, d in enumerate(conc.index)})
    return out.sort_values(["_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


def ai_drivers(ledger, days: Sequence, *, weeks: int = 4, where: str | None = None) -> pd.DataFrame:
    """Split the AI (token) cost change on ``days`` vs the baseline into volume, tokens per
    request, model mix and price effects (sequential substitution in that order; the four add
    up to the change).

    Cost C = R x k x sum_m s_m u_m with R requests (tokens when no requests are recorded), k
    tokens per request, s_m model m's share of tokens and u_m its cost per token.

    Returns:
        One row per effect (``volume``, ``tokens_per_request``, ``mix``, ``price``, ``total``)
        with ``amount`` (float, billing currency), plus per-model detail in ``attrs['models']``.

    Example:
        >>> from aifinops.report import open_ledger
        >>> ai_drivers(open_ledger("", inputs=None), ["2025-06-01"])["amount"].tolist()
        [0.0, 0.0, 0.0, 0.0, 0.0]
    """
    days = [pd.Timestamp(d) for d in days]
    base = _baseline_days(days, weeks)
    extra = f" AND ({where})" if where else ""

    def agg(ds, scale):
        m = ledger.query(
            f"SELECT x_Model AS model, CAST(SUM(BilledCost) AS DOUBLE) * {scale} AS cost, "
            f"CAST(SUM(x_Tokens) AS DOUBLE) * {scale} AS tokens FROM billed WHERE x_Model IS NOT NULL "
            f"AND x_Tokens IS NOT NULL AND {_days_sql(ds)}{extra} GROUP BY ALL")
        r = ledger.query(f"SELECT CAST(SUM(x_Requests) AS DOUBLE) * {scale} AS r FROM ledger "
                         f"WHERE x_Requests IS NOT NULL AND {_days_sql(ds)}{extra}")
        req = r["r"].iloc[0] if len(r) else None
        return m.set_index("model"), (None if req is None or pd.isna(req) else float(req))

    m1, r1 = agg(days, 1.0)
    m0, r0 = agg(base, len(days) / len(base))
    models = sorted(set(m0.index) | set(m1.index))
    c0 = m0.reindex(models).fillna(0.0)
    c1 = m1.reindex(models).fillna(0.0)
    t0, t1 = c0["tokens"].sum(), c1["tokens"].sum()
    if not r0 or not r1:
        r0, r1 = t0, t1
    k0 = t0 / r0 if r0 else 0.0
    k1 = t1 / r1 if r1 else 0.0
    s0 = c0["tokens"] / t0 if t0 else c0["tokens"] * 0
    s1 = c1["tokens"] / t1 if t1 else c1["tokens"] * 0
    u1 = (c1["cost"] / c1["tokens"]).where(c1["tokens"] > 0)
    u0 = (c0["cost"] / c0["tokens"]).where(c0["tokens"] > 0).fillna(u1).fillna(0.0)
    u1 = u1.fillna(u0)
    U00, U10, U11 = (s0 * u0).sum(), (s1 * u0).sum(), (s1 * u1).sum()
    eff = {
        "volume": (r1 - r0) * k0 * U00,
        "tokens_per_request": r1 * (k1 - k0) * U00,
        "mix": r1 * k1 * (U10 - U00),
        "price": r1 * k1 * (U11 - U10),
    }
    eff["total"] = c1["cost"].sum() - c0["cost"].sum()
    out = pd.DataFrame({"effect": list(eff), "amount": [float(v) for v in eff.values()]})
    out.attrs["models"] = pd.DataFrame({"expected_cost": c0["cost"], "actual_cost": c1["cost"],
                                        "expected_tokens": c0["tokens"], "actual_tokens": c1["tokens"]})
    return out


def explain_event(ledger, anomalies: pd.DataFrame, event: int, *, by: str | None = None, **kw) -> dict:
    """Explain one event of :func:`find_anomalies`: its days, impact, the driver table
    (:func:`explain`) and the AI effects (:func:`ai_drivers`), plus a one-line summary.

    Example:
        >>> from aifinops.report import open_ledger
        >>> import pandas as pd
        >>> a = pd.DataFrame({"key": ["total"], "BillingCurrency": ["USD"], "ds": [pd.Timestamp("2025-06-02")],
        ...                   "impact": [10.0], "event": [0]})
        >>> explain_event(open_ledger("", inputs=None), a, 0)["summary"]
        'USD 10.00 above expected on 2025-06-02; no driver data'
    """
    ev = anomalies[anomalies["event"] == event]
    if ev.empty:
        raise ConfigError(f"no anomaly event {event}", column="event")
    key, cur = ev["key"].iloc[0], ev["BillingCurrency"].iloc[0]
    where = None
    if by is not None and key != "total":
        where = (f"COALESCE(NULLIF(TRIM(CAST(\"{by}\" AS VARCHAR)), ''), {_fc._lit(_fc.UNATTRIBUTED)}) = "
                 f"{_fc._lit(key)}")
    days = sorted(ev["ds"])
    drivers = explain(ledger, days, where=where, currency=cur, **kw)
    ai = ai_drivers(ledger, days, where=(where + f" AND BillingCurrency = {_fc._lit(cur)}") if where
                    else f"BillingCurrency = {_fc._lit(cur)}")
    impact = float(ev["impact"].sum())
    span = days[0].date().isoformat() + ("" if len(days) == 1 else f"..{days[-1].date().isoformat()}")
    word = "above" if impact >= 0 else "below"
    parts = []
    for dim in ("x_Team", "x_GpuModel", "ServiceName", "x_Model"):
        d = drivers[drivers["dimension"] == dim]
        if len(d):
            parts.append(f"{dim}={d['value'].iloc[0]} ({d['delta'].iloc[0]:+,.2f})")
    summary = f"{cur} {abs(impact):,.2f} {word} expected on {span}; " + (
        "drivers: " + ", ".join(parts) if parts else "no driver data")
    return {"key": key, "currency": cur, "days": days, "impact": impact, "drivers": drivers, "ai": ai,
            "summary": summary}


def chart(series: pd.DataFrame, anomalies: pd.DataFrame, *, title: str = "Daily cost and anomalies"):
    """Altair chart: the daily series (``ds``, ``y``) with the anomaly days marked.

    Example:
        >>> s = pd.DataFrame({"ds": pd.date_range("2025-01-01", periods=60), "y": 1.0})
        >>> type(chart(s, detect(s))).__name__
        'LayerChart'
    """
    import altair as alt

    s = pd.DataFrame({"ds": pd.to_datetime(series["ds"]), "y": series["y"].map(float)})
    a = anomalies.rename(columns={"actual": "y"})[["ds", "y", "expected", "impact"]].astype(
        {"y": float, "expected": float, "impact": float}) if len(anomalies) else pd.DataFrame(
        {"ds": pd.Series(dtype="datetime64[ns]"), "y": [], "expected": [], "impact": []})
    line = alt.Chart(s).mark_line().encode(x=alt.X("ds:T", title=None), y=alt.Y("y:Q", title="cost"))
    pts = alt.Chart(a).mark_point(size=80, filled=True, color="#d62728").encode(
        x="ds:T", y="y:Q", tooltip=["ds:T", "y:Q", "expected:Q", "impact:Q"])
    return alt.layer(line, pts).properties(width=620, height=220, title=title)


def ledger_chart(ledger, anomalies: pd.DataFrame, *, currency: str = "USD", by: str | None = None,
                 key: str = "total", where: str | None = USAGE, title: str | None = None):
    """:func:`chart` of one ledger series (``key`` of dimension ``by`` in ``currency``).

    Example:
        >>> from aifinops.report import open_ledger
        >>> type(ledger_chart(open_ledger("", inputs=None), pd.DataFrame())).__name__
        'LayerChart'
    """
    s = _fc.daily_series(ledger, by, where=where)
    if len(s):
        s = s[(s["key"] == key) & (s["BillingCurrency"] == currency)]
    a = anomalies
    if len(a):
        a = a[(a["key"] == key) & (a["BillingCurrency"] == currency)]
    return chart(s if len(s) else pd.DataFrame({"ds": pd.Series(dtype="datetime64[ns]"), "y": []}), a,
                 title=title or f"Daily {currency} cost ({key}) and anomalies")


def explain_top(ledger, anomalies: pd.DataFrame, *, n: int = 3, by: str | None = None) -> list[dict]:
    """:func:`explain_event` for the ``n`` events with the largest total |impact|.

    Example:
        >>> from aifinops.report import open_ledger
        >>> explain_top(open_ledger("", inputs=None), pd.DataFrame(columns=["event", "impact"]))
        []
    """
    if anomalies.empty:
        return []
    order = anomalies.groupby("event")["impact"].apply(lambda s: s.abs().sum()).sort_values(ascending=False)
    return [explain_event(ledger, anomalies, int(e), by=by) for e in order.index[:n]]
