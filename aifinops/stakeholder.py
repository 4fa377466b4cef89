"""Headline figures of the stakeholder reports (notebooks 07 executive, 08 finance, 09 engineering).

Small helpers that the other modules do not already provide: billed spend this period vs the
previous one, the monthly trend, top movers month over month, the month's accrual (billed to
date plus a forecast of the rest of an open month) and prompt-cache hit rates per model. Every
function aggregates in the engine on the ``billed`` view (``x_CostAuthority = 'invoice'``:
gateway estimates and usage-only rows never count as spend) and returns exact ``Decimal``
money per billing currency; amounts of different currencies are never added.

Example:
    >>> from aifinops.report import open_ledger
    >>> led = open_ledger("", inputs=None)          # an empty ledger
    >>> period_totals(led, "2026-01").empty
    True
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd

from .budgets import month_bounds
from .errors import ConfigError
from .metrics import previous_period

__all__ = [
    "MOVER_DIMENSIONS",
    "accruals",
    "cache_hit_rates",
    "finance_sheets",
    "monthly_trend",
    "period_totals",
    "period_window",
    "top_movers",
    "trend_chart",
]

#: dimensions the executive report ranks movers by (ledger column -> label)
MOVER_DIMENSIONS: dict[str, str] = {"x_Team": "team", "ServiceName": "service", "x_Model": "model"}

_INPUT_TYPES = ("input", "cached_input", "cache_write_5m", "cache_write_1h")


def _period_ok(period: str) -> str:
    try:
        dt.date.fromisoformat(f"{period}-01")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"period must be YYYY-MM, got {period!r}", column="period") from exc
    return period


def _col(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ConfigError(f"not a column name: {name!r}", column=name)
    return f'"{name}"'


def _dec(v) -> Decimal:
    return Decimal(0) if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)) else Decimal(v)


def _pct(new: Decimal, old: Decimal) -> Decimal | None:
    return None if not old else (new - old) / old * 100


def _months(period: str, n: int) -> list[str]:
    out = [period]
    for _ in range(n - 1):
        out.append(previous_period(out[-1]))
    return out[::-1]


def period_window(period: str, months: int = 1) -> tuple[str, str]:
    """First day of the ``months`` months ending with ``period`` and first day after it (ISO dates).

    Args:
        period: the last month, ``YYYY-MM``.
        months: how many months (at least 1).

    Raises:
        ConfigError: bad ``period`` or ``months``.

    Example:
        >>> period_window("2026-02", 3)
        ('2025-12-01', '2026-03-01')
    """
    if months < 1:
        raise ConfigError(f"months must be at least 1, got {months}", column="months")
    first = _months(_period_ok(period), months)[0]
    return str(month_bounds(first)[0]), str(month_bounds(period)[1])


def period_totals(ledger, period: str) -> pd.DataFrame:
    """Billed spend of ``period`` vs the previous month, per billing currency.

    Args:
        ledger: a :class:`aifinops.ledger.Ledger`.
        period: billing period ``YYYY-MM``.

    Returns:
        One row per currency: ``BillingCurrency``, ``previous``, ``current`` (exact sums of
        ``BilledCost``), ``change`` and ``change_pct`` (None when the previous month had none).

    Raises:
        ConfigError: ``period`` is not ``YYYY-MM``.

    Example:
        >>> from aifinops.report import open_ledger
        >>> list(period_totals(open_ledger("", inputs=None), "2026-01").columns)
        ['BillingCurrency', 'previous', 'current', 'change', 'change_pct']
    """
    prev = previous_period(_period_ok(period))
    df = ledger.query(
        "SELECT BillingCurrency, "
        f"SUM(BilledCost) FILTER (WHERE x_BillingPeriod = '{prev}') AS previous, "
        f"SUM(BilledCost) FILTER (WHERE x_BillingPeriod = '{period}') AS current "
        f"FROM billed WHERE x_BillingPeriod IN ('{prev}', '{period}') GROUP BY ALL ORDER BY current DESC NULLS LAST")
    cols = ["BillingCurrency", "previous", "current", "change", "change_pct"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["previous"] = df["previous"].map(_dec)
    df["current"] = df["current"].map(_dec)
    df["change"] = df["current"] - df["previous"]
    df["change_pct"] = [_pct(c, p) for c, p in zip(df["current"], df["previous"])]
    return df[cols].reset_index(drop=True)


def monthly_trend(ledger, period: str, months: int = 6) -> pd.DataFrame:
    """Billed spend per month and currency for the ``months`` months ending with ``period``.

    Args:
        ledger: a Ledger.
        period: the last month shown, ``YYYY-MM``.
        months: how many months (at least 1).

    Returns:
        ``x_BillingPeriod``, ``BillingCurrency``, ``cost`` (exact), oldest first; months with
        no billed rows are absent.

    Raises:
        ConfigError: bad ``period`` or ``months``.

    Example:
        >>> from aifinops.report import open_ledger
        >>> monthly_trend(open_ledger("", inputs=None), "2026-01").empty
        True
    """
    if months < 1:
        raise ConfigError(f"months must be at least 1, got {months}", column="months")
    ps = ", ".join(f"'{p}'" for p in _months(_period_ok(period), months))
    return ledger.query(
        "SELECT x_BillingPeriod, BillingCurrency, SUM(BilledCost) AS cost FROM billed "
        f"WHERE x_BillingPeriod IN ({ps}) GROUP BY ALL ORDER BY x_BillingPeriod, BillingCurrency")


def trend_chart(trend: pd.DataFrame, *, title: str = "Billed spend per month"):
    """Bar chart of :func:`monthly_trend` (one panel per currency; floats only for drawing).

    Example:
        >>> import pandas as pd
        >>> from decimal import Decimal
        >>> t = pd.DataFrame({"x_BillingPeriod": ["2026-01"], "BillingCurrency": ["USD"], "cost": [Decimal(1)]})
        >>> type(trend_chart(t)).__name__
        'Chart'
    """
    import altair as alt

    df = trend.assign(cost=trend["cost"].map(float))
    return alt.Chart(df, title=title).mark_bar().encode(
        x=alt.X("x_BillingPeriod:O", title="Billing period"),
        y=alt.Y("cost:Q", title="Billed cost"),
        color=alt.Color("BillingCurrency:N", title="Currency"),
        xOffset="BillingCurrency:N",
        tooltip=["x_BillingPeriod", "BillingCurrency", alt.Tooltip("cost:Q", format=",.2f")],
    )


def top_movers(ledger, period: str, by=MOVER_DIMENSIONS, n: int = 3) -> pd.DataFrame:
    """The largest increases and decreases of billed spend from the previous month.

    Args:
        ledger: a Ledger.
        period: ``YYYY-MM`` (compared with the month before).
        by: ledger columns to rank by: a name, a list, or a mapping column -> label.
        n: movers kept per dimension, currency and direction.

    Returns:
        ``dimension``, ``value`` (None = untagged), ``BillingCurrency``, ``previous``, ``current``,
        ``change``, ``change_pct``, ``direction`` (``up``/``down``); per dimension the
        ``n`` largest rises then the ``n`` largest falls, unchanged values left out.

    Raises:
        ConfigError: bad ``period``, ``n`` or column name.

    Example:
        >>> from aifinops.report import open_ledger
        >>> top_movers(open_ledger("", inputs=None), "2026-01", "x_Team").empty
        True
    """
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}", column="n")
    prev = previous_period(_period_ok(period))
    dims = {by: by} if isinstance(by, str) else dict(by) if isinstance(by, dict) else {b: b for b in by}
    parts = []
    for col, label in dims.items():
        c = _col(col)
        parts.append(
            f"SELECT '{label}' AS dimension, CAST({c} AS VARCHAR) AS value, BillingCurrency, "
            f"COALESCE(SUM(BilledCost) FILTER (WHERE x_BillingPeriod = '{prev}'), 0) AS previous, "
            f"COALESCE(SUM(BilledCost) FILTER (WHERE x_BillingPeriod = '{period}'), 0) AS current "
            f"FROM billed WHERE x_BillingPeriod IN ('{prev}', '{period}') GROUP BY ALL")
    sql = (f"WITH m AS ({' UNION ALL '.join(parts)}), d AS (SELECT *, current - previous AS change, "
           "CASE WHEN current > previous THEN 'up' ELSE 'down' END AS direction FROM m WHERE current <> previous), "
           "r AS (SELECT *, row_number() OVER (PARTITION BY dimension, BillingCurrency, direction "
           "ORDER BY abs(change) DESC, value) AS rk FROM d) "
           f"SELECT * EXCLUDE (rk) FROM r WHERE rk <= {int(n)} "
           "ORDER BY dimension, BillingCurrency, direction DESC, abs(change) DESC")
    df = ledger.query(sql)
    cols = ["dimension", "value", "BillingCurrency", "previous", "current", "change", "change_pct", "direction"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["value"] = df["value"].astype(object).where(df["value"].notna(), None)
    df["change_pct"] = [_pct(c, p) for c, p in zip(df["current"], df["previous"])]
    order = {v: i for i, v in enumerate(dims.values())}
    df = df.sort_values("dimension", key=lambda s: s.map(order), kind="stable")
    return df[cols].reset_index(drop=True)


def accruals(ledger, period: str, *, as_of: dt.date | str | None = None) -> pd.DataFrame:
    """The month's accrual per billing currency.

    A closed month (``as_of`` on or after the first day of the next month) accrues its billed
    total. An open month accrues the billed cost of the days before ``as_of`` plus a forecast of
    the remaining days: the average billed cost per day of the last 7 days before ``as_of``
    (a run rate; the full Prophet forecast lives in notebook 03) times the days left.

    Args:
        ledger: a Ledger.
        period: ``YYYY-MM``.
        as_of: first day not yet known; default the day after the ledger's last billed day in
            the period (capped at the month's end), so a complete month is closed.

    Returns:
        ``BillingCurrency``, ``status`` (``closed``/``open``), ``as_of``, ``billed_to_date``,
        ``days_left``, ``run_rate_per_day``, ``forecast_remainder``, ``accrual`` (exact;
        ``accrual = billed_to_date + forecast_remainder``).

    Raises:
        ConfigError: bad ``period`` or ``as_of``.

    Example:
        >>> from aifinops.report import open_ledger
        >>> accruals(open_ledger("", inputs=None), "2026-01").empty
        True
    """
    start, end = month_bounds(_period_ok(period))
    last = ledger.query(f"SELECT CAST(MAX(ChargePeriodStart) AS DATE) AS d FROM billed WHERE x_BillingPeriod = '{period}'")
    last_day = last["d"].iloc[0] if not last.empty else None
    if as_of is None:
        as_of = end if last_day is None or pd.isna(last_day) else min(pd.Timestamp(last_day).date()
                                                                       + dt.timedelta(days=1), end)
    else:
        try:
            as_of = dt.date.fromisoformat(str(as_of)[:10])
        except ValueError as exc:
            raise ConfigError(f"as_of must be a date, got {as_of!r}", column="as_of") from exc
    as_of = max(min(as_of, end), start)
    week = max(as_of - dt.timedelta(days=7), start)
    df = ledger.query(
        "SELECT BillingCurrency, "
        f"SUM(BilledCost) FILTER (WHERE CAST(ChargePeriodStart AS DATE) < DATE '{as_of}') AS billed_to_date, "
        f"SUM(BilledCost) FILTER (WHERE CAST(ChargePeriodStart AS DATE) >= DATE '{week}' "
        f"AND CAST(ChargePeriodStart AS DATE) < DATE '{as_of}') AS last_week "
        f"FROM billed WHERE x_BillingPeriod = '{period}' GROUP BY ALL ORDER BY billed_to_date DESC NULLS LAST")
    cols = ["BillingCurrency", "status", "as_of", "billed_to_date", "days_left", "run_rate_per_day",
            "forecast_remainder", "accrual"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    days_left = (end - as_of).days
    window = (as_of - week).days
    df["billed_to_date"] = df["billed_to_date"].map(_dec)
    df["status"] = "open" if days_left else "closed"
    df["as_of"] = as_of
    df["days_left"] = days_left
    df["run_rate_per_day"] = [(_dec(w) / window if window else Decimal(0)) if days_left else Decimal(0)
                              for w in df["last_week"]]
    df["forecast_remainder"] = df["run_rate_per_day"] * days_left
    df["accrual"] = df["billed_to_date"] + df["forecast_remainder"]
    return df[cols].reset_index(drop=True)


def cache_hit_rates(ledger, period: str) -> pd.DataFrame:
    """Prompt-cache hit rate per provider and model: cached input tokens / all input tokens.

    All input tokens are ``input + cached_input + cache_write_5m + cache_write_1h``. Gateway
    estimates are excluded; invoice and usage-record rows are kept apart (``source``) so the
    same traffic seen by both is never added twice.

    Args:
        ledger: a Ledger.
        period: ``YYYY-MM``.

    Returns:
        ``ProviderName``, ``x_Model``, ``source`` (``invoice``/``usage``), ``input_tokens``,
        ``cached_input_tokens``, ``cache_hit_rate`` (0..1, float; a ratio, not money), largest
        input first; models with no input tokens are left out.

    Raises:
        ConfigError: bad ``period``.

    Example:
        >>> from aifinops.report import open_ledger
        >>> cache_hit_rates(open_ledger("", inputs=None), "2026-01").empty
        True
    """
    types = ", ".join(f"'{t}'" for t in _INPUT_TYPES)
    df = ledger.query(
        "SELECT ProviderName, x_Model, x_CostAuthority AS source, SUM(x_Tokens) AS input_tokens, "
        "COALESCE(SUM(x_Tokens) FILTER (WHERE x_TokenType = 'cached_input'), 0) AS cached_input_tokens "
        f"FROM ledger WHERE x_BillingPeriod = '{_period_ok(period)}' AND x_CostAuthority <> 'estimate' "
        f"AND x_TokenType IN ({types}) AND x_Tokens IS NOT NULL GROUP BY ALL HAVING SUM(x_Tokens) > 0 "
        "ORDER BY input_tokens DESC, ProviderName, x_Model")
    df["cache_hit_rate"] = [float(c / t) for c, t in zip(df["cached_input_tokens"], df["input_tokens"])]
    return df


def finance_sheets(ledger, period: str | None, *, as_of: dt.date | str | None = None) -> dict[str, pd.DataFrame]:
    """Sheets for the finance workbook: ``Accruals`` (:func:`accruals`) and ``Top movers``
    (:func:`top_movers` by team, service and model) of ``period``.

    Args:
        ledger: a Ledger.
        period: ``YYYY-MM``; None (an empty ledger) gives empty sheets.
        as_of: passed to :func:`accruals`.

    Example:
        >>> from aifinops.report import open_ledger
        >>> sorted(finance_sheets(open_ledger("", inputs=None), "2026-03"))
        ['Accruals', 'Top movers']
    """
    if period is None:
        return {"Accruals": pd.DataFrame(columns=["BillingCurrency", "accrual"]),
                "Top movers": pd.DataFrame(columns=["dimension", "value", "change"])}
    return {"Accruals": accruals(ledger, period, as_of=as_of), "Top movers": top_movers(ledger, period)}
