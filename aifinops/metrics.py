"""Unit economics, ROI and value, the month-over-month variance bridge, and commitment
discount metrics. Every metric is defined once, in :data:`METRICS` (and, for ROI, the bridge
and commitments, in the function docs); all functions aggregate in the engine and return
tidy frames with exact ``Decimal`` figures.

Cost is ``EffectiveCost`` (amortized) of the rows whose cost counts (``billed`` view:
``x_CostAuthority = 'invoice'``), or a team's/feature's total after shared-cost allocation
when an :class:`aifinops.allocate.Allocation` is passed. Usage (tokens, requests, GPU-hours)
comes from the rows named by ``usage``: ``billed`` (the same rows; default), ``gateway``
(gateway logs: ``estimate`` rows, which carry feature/customer attribution) or ``usage``
(usage records). Price-like metrics (cost per 1 M input tokens ...) always use billed rows
that carry both cost and tokens. Business denominators (active users, outcomes, revenue)
come from a KPI file (:mod:`aifinops.kpi`).

Example:
    >>> sorted(METRICS)[:3]
    ['ai_cost', 'cost', 'cost_per_1m_input_tokens']
    >>> METRICS["cost_per_1m_output_tokens"].numerator
    'output_cost'
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

import pandas as pd

from . import schema
from .errors import ConfigError
from .money import trim
from .sql import lit, q

__all__ = [
    "BRIDGE_PARTS",
    "MEASURES",
    "METRICS",
    "USAGE_SOURCES",
    "Metric",
    "aggregate",
    "commitments",
    "finance_sheets",
    "previous_period",
    "roi",
    "unit_economics",
    "variance_bridge",
    "wide",
]

D = Decimal
_Q = D("1e-12")

#: where usage measures come from
USAGE_SOURCES = {"billed": "x_CostAuthority = 'invoice'", "gateway": "x_CostAuthority = 'estimate'",
                 "usage": "x_CostAuthority = 'usage'"}

_INPUT = ("input", "cached_input", "cache_write", "cache_write_5m", "cache_write_1h", "audio_input",
          "image_input", "batch_input")
_OUTPUT = ("output", "reasoning", "audio_output", "image_output", "batch_output")


def _in(vals) -> str:
    return "(" + ", ".join(lit(v) for v in vals) + ")"


_TOKEN_KINDS = ("input", "output", "token")
_AI_KINDS = (*_TOKEN_KINDS, "gpu", "ai")
#: the row kind every measure is built from (one engine pass groups by it)
_KIND = (f"CASE WHEN x_TokenType IS NOT NULL AND x_Tokens IS NOT NULL THEN CASE WHEN x_TokenType IN {_in(_INPUT)} "
         f"THEN 'input' WHEN x_TokenType IN {_in(_OUTPUT)} THEN 'output' ELSE 'token' END "
         "WHEN x_GpuHours IS NOT NULL THEN 'gpu' WHEN x_Model IS NOT NULL OR x_GpuModel IS NOT NULL THEN 'ai' "
         "ELSE 'other' END")
_SUMS = {"cost": "EffectiveCost", "list_cost": "ListCost", "tokens": "x_Tokens", "requests": "x_Requests",
         "gpu_hours": "x_GpuHours"}

#: measure -> (summed column, row kinds (None: all rows), rows: ``billed`` or the ``usage`` source, meaning).
#: Row kinds: ``input``/``output``/``token`` (rows carrying x_TokenType and x_Tokens: input side,
#: output side, other), ``gpu`` (x_GpuHours), ``ai`` (other rows with x_Model or x_GpuModel), ``other``.
MEASURES: dict[str, tuple[str, tuple | None, str, str]] = {
    "cost": ("cost", None, "billed", "EffectiveCost of billed rows"),
    "list_cost": ("list_cost", None, "billed", "ListCost of billed rows"),
    "ai_cost": ("cost", _AI_KINDS, "billed", "cost of AI token, model and GPU rows"),
    "token_cost": ("cost", _TOKEN_KINDS, "billed", "cost of billed rows carrying tokens"),
    "billed_tokens": ("tokens", _TOKEN_KINDS, "billed", "tokens on billed rows"),
    "input_cost": ("cost", ("input",), "billed", "cost of input-side token rows (input, cached input, cache writes, ...)"),
    "input_tokens": ("tokens", ("input",), "billed", "input-side tokens on billed rows"),
    "output_cost": ("cost", ("output",), "billed", "cost of output-side token rows (output, reasoning, ...)"),
    "output_tokens": ("tokens", ("output",), "billed", "output-side tokens on billed rows"),
    "gpu_cost": ("cost", ("gpu",), "billed", "cost of GPU rows (rows with x_GpuHours and no tokens)"),
    "gpu_hours": ("gpu_hours", None, "billed", "provisioned GPU-hours on billed rows"),
    "tokens": ("tokens", _TOKEN_KINDS, "usage", "tokens (usage rows)"),
    "requests": ("requests", None, "usage", "model requests (usage rows)"),
}


@dataclass(frozen=True)
class Metric:
    """A ratio ``numerator / denominator * scale``. Names are measures (:data:`MEASURES`) or
    ``kpi:<metric>`` (:mod:`aifinops.kpi`). ``unit`` is ``currency`` for money per unit."""

    name: str
    numerator: str
    denominator: str | None
    scale: int = 1
    unit: str = "currency"
    description: str = ""


_METRICS = [
    Metric("cost", "cost", None, 1, "currency", "total cost (EffectiveCost; allocated total with an allocation)"),
    Metric("ai_cost", "ai_cost", None, 1, "currency", "cost of AI model and GPU rows"),
    Metric("cost_per_1m_input_tokens", "input_cost", "input_tokens", 10**6, "currency / 1M tokens",
           "input-side token cost per million input-side tokens"),
    Metric("cost_per_1m_output_tokens", "output_cost", "output_tokens", 10**6, "currency / 1M tokens",
           "output-side token cost per million output-side tokens"),
    Metric("cost_per_1m_tokens", "token_cost", "billed_tokens", 10**6, "currency / 1M tokens",
           "blended: all token cost per million tokens of any type"),
    Metric("cost_per_request", "ai_cost", "requests", 1, "currency / request",
           "AI cost per model request or inference"),
    Metric("tokens_per_request", "tokens", "requests", 1, "tokens / request", "tokens per model request"),
    Metric("cost_per_active_user", "cost", "kpi:active_users", 1, "currency / user", "cost per active user"),
    Metric("cost_per_conversation", "cost", "kpi:conversations", 1, "currency / conversation",
           "cost per conversation"),
    Metric("cost_per_outcome", "cost", "kpi:successful_outcomes", 1, "currency / outcome",
           "cost per successful outcome (e.g. ticket resolved)"),
    Metric("cost_per_business_request", "cost", "kpi:requests", 1, "currency / request",
           "cost per business request (KPI count)"),
    Metric("gpu_cost_per_gpu_hour", "gpu_cost", "gpu_hours", 1, "currency / GPU-hour",
           "GPU row cost per provisioned GPU-hour"),
    Metric("gpu_utilization_pct", "kpi:gpu_busy_hours", "gpu_hours", 100, "%",
           "busy GPU-hours (scheduler KPI) per provisioned GPU-hour, in percent"),
]
#: every unit-economics metric, by name
METRICS: dict[str, Metric] = {m.name: m for m in _METRICS}


def _where(period, extra: str | None = None) -> str:
    parts = []
    if period is not None:
        ps = [period] if isinstance(period, str) else list(period)
        parts.append(f"x_BillingPeriod IN {_in(ps)}")
    if extra:
        parts.append(f"({extra})")
    return " AND ".join(parts) or "TRUE"


def _check_by(by) -> list[str]:
    by = [by] if isinstance(by, str) else list(by)
    for c in by:
        if c not in schema.COLUMNS:
            raise ConfigError(f"unknown dimension {c!r}", column=str(c))
    return by


def _dsum(s) -> Decimal:
    return sum((v for v in s if isinstance(v, Decimal)), D(0))


def aggregate(ledger, by=("x_Feature",), period=None, *, usage: str = "billed", where: str | None = None,
              fx=None, currency: str | None = None) -> pd.DataFrame:
    """Every measure of :data:`MEASURES` per billing period, ``by`` and currency (wide).

    One engine pass sums cost, list cost, tokens, requests and GPU-hours per group, cost
    authority and row kind; the measures are assembled from those few rows. Usage measures
    (``tokens``, ``requests``) come from the ``usage`` rows and carry no currency: they are
    repeated on every currency row of their group. With ``fx``, money is converted to
    ``currency`` per charge day before summing.
    """
    by = _check_by(by)
    if usage not in USAGE_SOURCES:
        raise ConfigError(f"usage must be one of {', '.join(USAGE_SOURCES)}", column="usage")
    if fx is not None and not currency:
        raise ConfigError("a reporting currency is needed with fx rates", column="reporting_currency")
    w = _where(period, where)
    auths = sorted({"invoice", USAGE_SOURCES[usage].split("'")[1]})
    dims = "".join(f"CAST({q(c)} AS VARCHAR) AS {q(c)}, " for c in by)
    day = "CAST(ChargePeriodStart AS DATE) AS day, " if fx is not None else ""
    sums = ", ".join(f"SUM({col}) AS {name}" for name, col in _SUMS.items())
    df = ledger.query(f"SELECT x_BillingPeriod AS period, {dims}BillingCurrency AS currency, {day}"
                      f"x_CostAuthority AS auth, {_KIND} AS kind, {sums} FROM ledger "
                      f"WHERE x_CostAuthority IN {_in(auths)} AND {w} GROUP BY ALL")
    if fx is not None and len(df):
        df = fx.convert(df, currency, ["cost", "list_cost"], date_column="day")
    keys = ["period", *by]
    usage_auth = USAGE_SOURCES[usage].split("'")[1]
    billed: dict[tuple, dict[str, Decimal]] = {}
    used: dict[tuple, dict[str, Decimal]] = {}
    for r in df.to_dict("records"):
        k = tuple(None if isinstance(r[c], float) or r[c] is None else r[c] for c in keys)
        for name, (col, kinds, src, _) in MEASURES.items():
            v = r[col]
            if not isinstance(v, Decimal) or (kinds is not None and r["kind"] not in kinds):
                continue
            if src == "billed" and r["auth"] == "invoice":
                acc = billed.setdefault((*k, r["currency"]), {})
                acc[name] = acc.get(name, D(0)) + v
            elif src == "usage" and r["auth"] == usage_auth:
                acc = used.setdefault(k, {})
                acc[name] = acc.get(name, D(0)) + v
        if r["auth"] == "invoice":
            billed.setdefault((*k, r["currency"]), {})
    default_cur = currency or (min({k[-1] for k in billed}) if billed else "USD")
    for k in used:
        if not any(b[:-1] == k for b in billed):  # usage without any billed cost in that group
            billed.setdefault((*k, default_cur), {})
    rows = []
    for k, acc in billed.items():
        u = used.get(k[:-1], {})
        rows.append({**dict(zip([*keys, "currency"], k)),
                     **{m: (u if MEASURES[m][2] == "usage" else acc).get(m, D(0)) for m in MEASURES}})
    out = pd.DataFrame(rows, columns=[*keys, "currency", *MEASURES])
    for c in by:  # NULL stays None (pandas would infer a string column holding NaN)
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out.sort_values([*keys, "currency"], key=lambda s: s.astype(str)).reset_index(drop=True)


def _kpi_values(kpis: pd.DataFrame | None, by: list[str]) -> dict[tuple, dict[str, Decimal]]:
    """(period, key) -> {metric: value} for the KPI dimension matching ``by`` (company-wide
    when ``by`` is empty: ``company`` rows, else the sum over features)."""
    from .kpi import DIMENSIONS, monthly

    if kpis is None or len(kpis) == 0:
        return {}
    m = monthly(kpis)
    if not by:
        sel = m[m["dimension"] == "company"]
        if sel.empty:
            sel = m[m["dimension"] == "feature"]
        key = lambda r: (r.period,)
    elif len(by) == 1:
        dims = [d for d, c in DIMENSIONS.items() if c == by[0]]
        sel = m[m["dimension"].isin(dims)]
        key = lambda r: (r.period, r.key)
    else:
        return {}
    out: dict[tuple, dict[str, Decimal]] = {}
    for r in sel.itertuples(index=False):
        d = out.setdefault(key(r), {})
        d[r.metric] = d.get(r.metric, D(0)) + r.value
    return out


def _measure(name: str | None, rec: dict, kp: dict):
    """A measure of an aggregate row, or a KPI value (``kpi:<metric>``)."""
    if name is None:
        return None
    if name.startswith("kpi:"):
        return kp.get(name[4:])
    return rec[name]


def _ratio(num: Decimal | None, den: Decimal | None, scale: Decimal) -> Decimal | None:
    if num is None or den is None or den == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        return trim((num * D(scale) / den).quantize(_Q))


def unit_economics(ledger, by=("x_Feature",), period=None, *, metrics=None, kpis: pd.DataFrame | None = None,
                   usage: str = "billed", allocation=None, fx=None, currency: str | None = None) -> pd.DataFrame:
    """Unit economics per billing period and ``by`` (tidy: one row per metric).

    Args:
        ledger: an :class:`aifinops.ledger.Ledger`.
        by: ledger columns (``()`` for the whole company); NULL values show as None.
        period: ``YYYY-MM``, a list, or None for all.
        metrics: names from :data:`METRICS` (default all).
        kpis: KPI rows for ``kpi:`` denominators (dimension matching ``by``).
        usage: source of ``tokens``/``requests``: ``billed``, ``gateway`` or ``usage``.
        allocation: an :class:`~aifinops.allocate.Allocation` whose target is ``by``: ``cost``
            becomes each owner's total after allocation.
        fx, currency: report in one currency (:class:`aifinops.fx.FxRates`).

    Returns:
        Columns ``period, *by, currency, metric, value, numerator, denominator, unit``;
        ``value`` is None where the denominator is zero or missing, and for KPI- and
        usage-denominated metrics of a group billed in several currencies without ``fx``
        (each currency's cost over the whole group's users would mislead: pass ``fx``).

    Example:
        >>> from aifinops.report import open_ledger
        >>> list(unit_economics(open_ledger("", inputs=None)).columns)
        ['period', 'x_Feature', 'currency', 'metric', 'value', 'numerator', 'denominator', 'unit']
    """
    by = _check_by(by)
    names = list(metrics or METRICS)
    for n in names:
        if n not in METRICS:
            raise ConfigError(f"unknown metric {n!r} (known: {', '.join(METRICS)})", column="metrics")
    agg = aggregate(ledger, by, period, usage=usage, fx=fx, currency=currency)
    if allocation is not None:
        if by != [allocation.target]:
            raise ConfigError(f"allocation is by {allocation.target}; unit economics by {by}", column="by")
        sb = allocation.showback()
        if period is not None:
            sb = sb[sb["period"].isin([period] if isinstance(period, str) else list(period))]
        alloc = {}
        for r in sb.itertuples(index=False):
            owner = getattr(r, allocation.target)
            k = (r.period, None if owner == "(untagged)" else owner, r.currency)
            alloc[k] = alloc.get(k, D(0)) + r.total
        keys = set(zip(agg["period"], agg[by[0]], agg["currency"]))
        extra = [k for k in alloc if k not in keys]
        if extra:
            agg = pd.concat([agg, pd.DataFrame([{"period": p, by[0]: o, "currency": c, **{m: D(0) for m in MEASURES}}
                                                for p, o, c in extra])], ignore_index=True)
        agg["cost"] = [alloc.get((p, o, c), D(0)) for p, o, c in zip(agg["period"], agg[by[0]], agg["currency"])]
    kv = _kpi_values(kpis, by)
    ncur: dict[tuple, int] = {}
    for rec in agg[["period", *by]].itertuples(index=False):
        ncur[tuple(rec)] = ncur.get(tuple(rec), 0) + 1
    shared = {n for n, (_, _, src, _) in MEASURES.items() if src == "usage"}
    rows = []
    for rec in agg.to_dict("records"):
        key = (rec["period"], *[rec[c] for c in by])
        kp = kv.get(key, {})
        mixed = ncur.get(key, 1) > 1  # several currencies and no fx: a shared denominator would mislead

        for n in names:
            mt = METRICS[n]
            num, den = _measure(mt.numerator, rec, kp), _measure(mt.denominator, rec, kp)
            value = trim(num) if mt.denominator is None and num is not None else _ratio(num, den, mt.scale)
            if mixed and mt.denominator is not None and (mt.denominator.startswith("kpi:") or mt.denominator in shared):
                value = None
            unit = mt.unit.replace("currency", rec["currency"])
            rows.append({"period": rec["period"], **{c: rec[c] for c in by}, "currency": rec["currency"],
                         "metric": n, "value": value, "numerator": trim(num) if num is not None else None,
                         "denominator": trim(den) if den is not None else None, "unit": unit})
    cols = ["period", *by, "currency", "metric", "value", "numerator", "denominator", "unit"]
    out = pd.DataFrame(rows, columns=cols)
    for c in ("value", "numerator", "denominator", *by):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


# -- ROI and value ----------------------------------------------------------------------------

def roi(ledger, kpis: pd.DataFrame, by: str = "x_Feature", period=None, *, allocation=None,
        investment: dict[str, Decimal] | None = None, fx=None, currency: str | None = None) -> pd.DataFrame:
    """ROI and value per period and ``by`` (one row each, wide).

    Definitions (per period and key; revenue, hours saved and hourly rate from the KPIs):

    - ``ai_cost``: AI cost (model and GPU rows), or the owner's total after ``allocation``;
    - ``gross_margin`` = revenue - ai_cost; ``gross_margin_pct`` = gross_margin / revenue x 100;
    - ``ai_cost_pct_of_revenue`` = ai_cost / revenue x 100;
    - ``time_value`` = hours_saved x hourly_rate; ``value`` = revenue + time_value;
    - ``value_per_dollar`` = value / ai_cost; ``roi_pct`` = (value - ai_cost) / ai_cost x 100;
    - ``payback_months`` = investment / average monthly (value - ai_cost) over the periods shown
      (None without an ``investment`` for the key or when the net benefit is not positive).

    Revenue in another currency than the cost is converted with ``fx`` on the month's first
    day; without ``fx`` a mismatch is a :class:`~aifinops.errors.ConfigError`.
    """
    from .kpi import monthly

    by_l = _check_by(by)
    ue = unit_economics(ledger, by_l, period, metrics=["ai_cost", "cost"], allocation=allocation, fx=fx,
                        currency=currency)
    cost_metric = "cost" if allocation is not None else "ai_cost"
    ue = ue[ue["metric"] == cost_metric]
    kv = _kpi_values(kpis, by_l)
    units = {}
    for r in monthly(kpis).itertuples(index=False):
        if r.metric in ("revenue", "hourly_rate"):
            units[(r.period, r.key, r.metric)] = r.unit
    rows = []
    for r in ue.itertuples(index=False):
        key = getattr(r, by_l[0])
        kp = kv.get((r.period, key), {})
        cost = r.value or D(0)

        revenue = _kpi_money("revenue", kp, units, r.period, key, r.currency, fx)
        rate = _kpi_money("hourly_rate", kp, units, r.period, key, r.currency, fx)
        hours = kp.get("hours_saved")
        time_value = hours * rate if hours is not None and rate is not None else D(0)
        value = (revenue or D(0)) + time_value
        gm = revenue - cost if revenue is not None else None
        rows.append({"period": r.period, by_l[0]: key, "currency": r.currency, "ai_cost": cost, "revenue": revenue,
                     "gross_margin": gm, "gross_margin_pct": _ratio(gm, revenue, D(100)),
                     "ai_cost_pct_of_revenue": _ratio(cost, revenue, D(100)), "hours_saved": hours,
                     "time_value": time_value, "value": value, "value_per_dollar": _ratio(value, cost, D(1)),
                     "roi_pct": _ratio(value - cost, cost, D(100))})
    out = pd.DataFrame(rows, columns=["period", by_l[0], "currency", "ai_cost", "revenue", "gross_margin",
                                      "gross_margin_pct", "ai_cost_pct_of_revenue", "hours_saved", "time_value",
                                      "value", "value_per_dollar", "roi_pct"])
    pay = {}
    for key, g in out.groupby(by_l[0], dropna=False):
        inv = (investment or {}).get(key)
        net = (_dsum(g["value"]) - _dsum(g["ai_cost"])) / len(g) if len(g) else D(0)
        pay[key] = _ratio(D(inv), net, D(1)) if inv is not None and net > 0 else None
    out["payback_months"] = out[by_l[0]].map(pay).astype(object)
    for c in out.columns[3:]:
        out[c] = out[c].map(lambda v: trim(v) if isinstance(v, Decimal) else v).astype(object)
    return out


def _kpi_money(metric: str, kp: dict, units: dict, period: str, key, currency: str, fx) -> Decimal | None:
    """A money KPI in ``currency`` (converted with ``fx`` on the month's first day)."""
    from datetime import date

    v = kp.get(metric)
    cur = units.get((period, key, metric), currency)
    if v is None or cur == currency:
        return v
    if fx is None:
        raise ConfigError(f"{metric} of {key} in {period} is in {cur}, cost in {currency}: pass fx", column="unit")
    rate, _ = fx.rate(cur, currency, date.fromisoformat(period + "-01"))
    return v * rate


# -- variance bridge ----------------------------------------------------------------------------

#: the bridge's parts, in the order they are computed
BRIDGE_PARTS = ("volume", "mix", "efficiency_tokens_per_request", "efficiency_token_mix", "price", "other_cost",
                "residual")


def variance_bridge(ledger, current: str, previous: str | None = None, *, by: str | None = None,
                    source: str = "billed", fx=None, currency: str | None = None) -> pd.DataFrame:
    """Split the change of cost from ``previous`` to ``current`` (billing periods) into parts
    that add up to the change exactly.

    Token cost of model ``m`` and token type ``k`` is written ``C = V x s_m x t_m x w_mk x p_mk``:
    volume ``V`` (requests over all models; tokens when some model has no request counts),
    model mix ``s_m`` (model m's share of the volume), tokens per request ``t_m``, token-type
    mix ``w_mk`` (e.g. the cache hit rate: cached input's share of the tokens) and unit price
    ``p_mk`` (cost per token: catalogue and negotiated changes). The factors are switched
    from the previous to the current period one at a time in that order (chain
    substitution); each switch's cost difference is that part. A model or token type absent
    in one period takes the other period's ``t``, ``w`` and ``p``, so its appearance is mix.

    - ``other_cost``: the change of cost on rows without tokens (GPU, storage, fees, ...);
    - ``residual``: change - the parts above (inexact division of shares; ~1e-20 in practice).

    Args:
        ledger: the ledger.
        current, previous: ``YYYY-MM``; previous defaults to the month before current.
        by: optional dimension (a bridge per value of it).
        source: token rows: ``billed`` (cost counts; other_cost is the rest of billed cost) or
            ``gateway`` (gateway estimates; other_cost is 0).
        fx, currency: one reporting currency.

    Returns:
        Columns ``[by], currency, part, amount, previous_cost, current_cost, volume_unit`` with
        one row per part and a final ``change`` row; ``sum(parts) == change`` exactly.
    """
    if previous is None:
        previous = previous_period(current)
    if source not in ("billed", "gateway"):
        raise ConfigError("source must be billed or gateway", column="source")
    dims = [by] if by else []
    _check_by(dims)
    dsel = "".join(f"CAST({q(c)} AS VARCHAR) AS {q(c)}, " for c in dims)
    day = "CAST(ChargePeriodStart AS DATE) AS day, " if fx is not None else ""
    w = _where([previous, current])
    tok = ledger.query(
        f"SELECT x_BillingPeriod AS period, {dsel}BillingCurrency AS currency, {day}x_Model AS model, "
        f"x_TokenType AS ttype, SUM(EffectiveCost) AS cost, SUM(x_Tokens) AS tokens, SUM(x_Requests) AS requests "
        f"FROM ledger WHERE {USAGE_SOURCES[source]} AND {w} AND x_TokenType IS NOT NULL AND x_Tokens IS NOT NULL "
        f"GROUP BY ALL")
    other = ledger.query(
        f"SELECT x_BillingPeriod AS period, {dsel}BillingCurrency AS currency, {day}SUM(EffectiveCost) AS cost "
        f"FROM ledger WHERE {USAGE_SOURCES[source]} AND {w} AND NOT (x_TokenType IS NOT NULL AND x_Tokens IS NOT NULL) "
        f"GROUP BY ALL")
    if fx is not None:
        tok = fx.convert(tok, currency, ["cost"], date_column="day") if len(tok) else tok.drop(columns=["day"])
        other = fx.convert(other, currency, ["cost"], date_column="day") if len(other) else other.drop(columns=["day"])
    for f in (tok, other):
        for c in dims:
            f[c] = f[c].astype(object).where(f[c].notna(), None)
    rows = []
    groups = sorted({(*(r[c] for c in dims), r["currency"]) for f in (tok, other)
                     for r in f.to_dict("records")}, key=str)
    for g in groups:
        t, o = _select(tok, dims, g), _select(other, dims, g)
        rows += _bridge_group(t, o, previous, current, {c: g[i] for i, c in enumerate(dims)}, g[-1])
    return pd.DataFrame(rows, columns=[*dims, "currency", "part", "amount", "previous_cost", "current_cost",
                                       "volume_unit"])


def _select(f: pd.DataFrame, dims: list[str], g: tuple) -> pd.DataFrame:
    """Rows of ``f`` in group ``g`` (dimension values, then currency; None matches NULL)."""
    mask = f["currency"] == g[-1]
    for i, c in enumerate(dims):
        mask &= pd.Series([v == g[i] for v in f[c]], index=f.index, dtype=bool)
    return f[mask]


def _bridge_group(t: pd.DataFrame, o: pd.DataFrame, p0: str, p1: str, keys: dict, cur: str) -> list[dict]:
    def cells(period):
        d: dict[str, dict[str, list]] = {}
        for r in t[t["period"] == period].itertuples(index=False):
            c = d.setdefault(r.model or "(unknown)", {}).setdefault(r.ttype, [D(0), D(0), D(0)])
            c[0] += r.cost if isinstance(r.cost, Decimal) else D(0)
            c[1] += r.tokens if isinstance(r.tokens, Decimal) else D(0)
            c[2] += r.requests if isinstance(r.requests, Decimal) else D(0)
        return d

    c0, c1 = cells(p0), cells(p1)
    models = sorted(set(c0) | set(c1))
    req = {p: {m: sum((v[2] for v in c.get(m, {}).values()), D(0)) for m in models} for p, c in ((0, c0), (1, c1))}
    use_requests = all(req[0][m] > 0 for m in c0) and all(req[1][m] > 0 for m in c1) and (c0 or c1)
    unit = "requests" if use_requests else "tokens"

    with localcontext() as ctx:
        ctx.prec = 80

        def factors(c, p):
            tokens_m = {m: sum((v[1] for v in c.get(m, {}).values()), D(0)) for m in models}
            vol_m = req[p] if use_requests else tokens_m
            V = sum(vol_m.values(), D(0))
            s = {m: (vol_m[m] / V if V else D(0)) for m in models}
            tpr = {m: (tokens_m[m] / vol_m[m] if vol_m[m] else None) for m in models}
            wk = {m: {k: v[1] / tokens_m[m] for k, v in c.get(m, {}).items() if tokens_m[m]} for m in models}
            pk = {m: {k: v[0] / v[1] for k, v in c.get(m, {}).items() if v[1]} for m in models}
            return V, s, tpr, wk, pk

        V0, s0, t0, w0, pr0 = factors(c0, 0)
        V1, s1, t1, w1, pr1 = factors(c1, 1)
        for m in models:  # absent in one period: take the other period's t, w, p
            t0[m] = t0[m] if t0[m] is not None else t1[m]
            t1[m] = t1[m] if t1[m] is not None else t0[m]
            if not w0[m]:
                w0[m], pr0[m] = dict(w1[m]), dict(pr1[m])
            if not w1[m]:
                w1[m], pr1[m] = dict(w0[m]), dict(pr0[m])
            for k in set(w0[m]) | set(w1[m]):
                pr0[m].setdefault(k, pr1[m].get(k, D(0)))
                pr1[m].setdefault(k, pr0[m].get(k, D(0)))

        def total(V, s, tp, w, pr):
            out = D(0)
            for m in models:
                if not s[m] or tp[m] is None:
                    continue
                for k, wv in w[m].items():
                    out += V * s[m] * tp[m] * wv * pr[m].get(k, D(0))
            return out

        steps = [total(V0, s0, t0, w0, pr0), total(V1, s0, t0, w0, pr0), total(V1, s1, t0, w0, pr0),
                 total(V1, s1, t1, w0, pr0), total(V1, s1, t1, w1, pr0), total(V1, s1, t1, w1, pr1)]
        parts = [steps[i + 1] - steps[i] for i in range(5)]
        tc0 = sum((v[0] for m in c0.values() for v in m.values()), D(0))
        tc1 = sum((v[0] for m in c1.values() for v in m.values()), D(0))
        oc0, oc1 = _dsum(o.loc[o["period"] == p0, "cost"]), _dsum(o.loc[o["period"] == p1, "cost"])
        prev, curr = tc0 + oc0, tc1 + oc1
        change = curr - prev
        parts = [x.quantize(D("1e-18")) for x in parts]
        parts.append(oc1 - oc0)
        parts.append(change - sum(parts, D(0)))
    base = {**keys, "currency": cur, "previous_cost": trim(prev), "current_cost": trim(curr), "volume_unit": unit}
    rows = [{**base, "part": n, "amount": trim(a)} for n, a in zip(BRIDGE_PARTS, parts)]
    rows.append({**base, "part": "change", "amount": trim(change)})
    return rows


# -- commitments ----------------------------------------------------------------------------------

def commitments(ledger, by=("CommitmentDiscountId",), period=None) -> pd.DataFrame:
    """Commitment discount utilization, coverage and savings from the FOCUS commitment columns.

    Per billing period, ``by`` and currency:

    - ``used_cost`` / ``unused_cost``: EffectiveCost of usage rows with CommitmentDiscountStatus
      ``Used`` / ``Unused``; ``utilization_pct`` = used / (used + unused) x 100;
    - ``covered_cost``: EffectiveCost of ``Used`` rows; ``usage_cost``: EffectiveCost of usage
      rows that are not ``Unused``; ``coverage_pct`` = covered / usage x 100 (computed on the
      period's usage when ``by`` is the commitment id, so uncovered usage counts);
    - savings on usage rows (commitment purchases are amortized into them):
      ``negotiated_savings`` = ListCost - ContractedCost, ``commitment_savings`` =
      ContractedCost - EffectiveCost, ``total_savings`` = ListCost - EffectiveCost and
      ``effective_savings_rate_pct`` = total_savings / ListCost x 100. Where a source file had
      no ContractedCost (defaulted at ingest) it is taken as ListCost, and no ListCost as
      EffectiveCost: no saving is claimed that the data does not show.
    """
    by = _check_by(by)
    w = _where(period)
    files = ledger.manifest["files"].values()
    no_list = [e["hash"] for e in files if "ListCost" in e.get("defaulted", [])]
    no_contracted = [e["hash"] for e in files if "ContractedCost" in e.get("defaulted", [])]
    listed = f"CASE WHEN x_SourceHash IN {_in(no_list)} THEN EffectiveCost ELSE ListCost END" if no_list else "ListCost"
    contracted = (f"CASE WHEN x_SourceHash IN {_in(no_contracted)} THEN {listed} ELSE ContractedCost END"
                  if no_contracted else "ContractedCost")
    usage = "ChargeCategory = 'Usage'"
    dims = ", ".join(f"CAST({q(c)} AS VARCHAR) AS {q(c)}" for c in by)
    cdrows = "CommitmentDiscountId IS NOT NULL"
    df = ledger.query(f"""
        SELECT x_BillingPeriod AS period, {dims}, BillingCurrency AS currency,
          SUM(EffectiveCost) FILTER (WHERE {usage} AND CommitmentDiscountStatus = 'Used') AS used_cost,
          SUM(EffectiveCost) FILTER (WHERE {usage} AND CommitmentDiscountStatus = 'Unused') AS unused_cost,
          SUM(CommitmentDiscountQuantity) FILTER (WHERE {usage} AND CommitmentDiscountStatus = 'Used') AS used_quantity,
          SUM(CommitmentDiscountQuantity) FILTER (WHERE {usage} AND CommitmentDiscountStatus = 'Unused') AS unused_quantity,
          SUM(BilledCost) FILTER (WHERE ChargeCategory = 'Purchase' AND {cdrows}) AS purchase_cost,
          SUM({listed}) FILTER (WHERE {usage} AND COALESCE(CommitmentDiscountStatus, '') <> 'Unused') AS list_cost,
          SUM({contracted}) FILTER (WHERE {usage} AND COALESCE(CommitmentDiscountStatus, '') <> 'Unused') AS contracted_cost,
          SUM(EffectiveCost) FILTER (WHERE {usage} AND COALESCE(CommitmentDiscountStatus, '') <> 'Unused') AS usage_cost
        FROM billed WHERE {w} GROUP BY ALL""")
    commit_only = by == ["CommitmentDiscountId"]
    if commit_only:
        tot = ledger.query(f"SELECT x_BillingPeriod AS period, BillingCurrency AS currency, SUM(EffectiveCost) FILTER "
                           f"(WHERE {usage} AND COALESCE(CommitmentDiscountStatus, '') <> 'Unused') AS all_usage "
                           f"FROM billed WHERE {w} GROUP BY ALL")
        df = df.merge(tot, on=["period", "currency"], how="left")
        df = df[df["CommitmentDiscountId"].notna()].reset_index(drop=True)
    rows = []
    for r in df.to_dict("records"):
        g = {k: (v if isinstance(v, Decimal) else D(0)) for k, v in r.items()
             if k.endswith(("_cost", "_quantity")) or k == "all_usage"}
        base = g["all_usage"] if commit_only else g["usage_cost"]
        neg = g["list_cost"] - g["contracted_cost"]
        com = g["contracted_cost"] - g["usage_cost"]
        rows.append({"period": r["period"], **{c: r[c] for c in by}, "currency": r["currency"],
                     "used_cost": trim(g["used_cost"]), "unused_cost": trim(g["unused_cost"]),
                     "utilization_pct": _ratio(g["used_cost"], g["used_cost"] + g["unused_cost"], D(100)),
                     "utilization_quantity_pct": _ratio(g["used_quantity"], g["used_quantity"] + g["unused_quantity"],
                                                        D(100)),
                     "covered_cost": trim(g["used_cost"]), "usage_cost": trim(base),
                     "coverage_pct": _ratio(g["used_cost"], base, D(100)),
                     "purchase_cost": trim(g["purchase_cost"]),
                     "list_cost": trim(g["list_cost"]), "contracted_cost": trim(g["contracted_cost"]),
                     "negotiated_savings": trim(neg), "commitment_savings": trim(com),
                     "total_savings": trim(neg + com),
                     "effective_savings_rate_pct": _ratio(neg + com, g["list_cost"], D(100))})
    cols = ["period", *by, "currency", "used_cost", "unused_cost", "utilization_pct", "utilization_quantity_pct",
            "covered_cost", "usage_cost", "coverage_pct", "purchase_cost", "list_cost", "contracted_cost",
            "negotiated_savings", "commitment_savings", "total_savings", "effective_savings_rate_pct"]
    return pd.DataFrame(rows, columns=cols)


# -- report helpers ---------------------------------------------------------------------------------

def previous_period(period: str) -> str:
    """The billing period before ``period``.

    >>> previous_period("2026-01")
    '2025-12'
    """
    y, m = map(int, period.split("-"))
    return f"{y - (m == 1)}-{12 if m == 1 else m - 1:02d}"


def wide(ue: pd.DataFrame, metrics=None) -> pd.DataFrame:
    """A tidy :func:`unit_economics` frame as one column per metric (for display).

    >>> t = pd.DataFrame({"period": ["2025-01"] * 2, "x_Team": ["a", "a"], "currency": ["USD"] * 2,
    ...                   "metric": ["cost", "cost_per_request"], "value": [D(4), D("0.5")],
    ...                   "numerator": [D(4), D(4)], "denominator": [None, D(8)], "unit": ["USD", "USD / request"]})
    >>> wide(t).columns.tolist()
    ['period', 'x_Team', 'currency', 'cost', 'cost_per_request']
    """
    keys = [c for c in ue.columns if c not in ("metric", "value", "numerator", "denominator", "unit")]
    names = [m for m in (metrics or METRICS) if m in set(ue["metric"])]
    rows: dict[tuple, dict] = {}
    for r in ue[ue["metric"].isin(names)].to_dict("records"):
        k = tuple(r[c] for c in keys)
        rows.setdefault(k, {c: r[c] for c in keys})[r["metric"]] = r["value"]
    out = pd.DataFrame(list(rows.values()), columns=[*keys, *names])
    for n in names:
        out[n] = out[n].astype(object).where(out[n].notna(), None)
    return out


def finance_sheets(ledger, period: str, *, allocation=None, kpis: pd.DataFrame | None = None, fx=None,
                   currency: str | None = None) -> dict[str, pd.DataFrame]:
    """Workbook sheets of this module for one billing period (exact Decimals): ``Showback``,
    ``Chargeback``, ``Allocation trace`` (with an allocation), ``Unit economics`` (per team),
    ``ROI`` (per feature, with KPIs) and ``Variance bridge`` (against the previous period).

    >>> from aifinops.report import open_ledger
    >>> list(finance_sheets(open_ledger("", inputs=None), "2025-06"))
    ['Unit economics', 'Variance bridge']
    """
    sheets: dict[str, pd.DataFrame] = {}
    if allocation is not None:
        sheets["Showback"] = allocation.showback().query("period == @period").reset_index(drop=True)
        sheets["Chargeback"] = allocation.chargeback().query("period == @period").reset_index(drop=True)
        sheets["Allocation trace"] = allocation.trace().query("period == @period").reset_index(drop=True)
    sheets["Unit economics"] = wide(unit_economics(ledger, "x_Team", period, kpis=kpis, fx=fx, currency=currency))
    if kpis is not None:
        sheets["ROI"] = roi(ledger, kpis, "x_Feature", period, fx=fx, currency=currency)
    sheets["Variance bridge"] = variance_bridge(ledger, period, previous_period(period), fx=fx, currency=currency)
    return sheets


_LABELS = {"efficiency_tokens_per_request": "tokens/request", "efficiency_token_mix": "token mix",
           "other_cost": "other cost"}


def bridge_waterfall(bridge: pd.DataFrame, title: str = "Cost change, previous to current month"):
    """A waterfall chart of one :func:`variance_bridge` group (the first currency): the
    previous month's cost, each part as a rise or fall, the current month's cost.

    Amounts become floats here, for drawing only.

    >>> b = pd.DataFrame({"currency": ["USD"] * 3, "part": ["volume", "price", "change"],
    ...                   "amount": [D(5), D(-2), D(3)], "previous_cost": [D(10)] * 3, "current_cost": [D(13)] * 3})
    >>> [r["step"] for r in bridge_waterfall(b).data.to_dict("records")]
    ['previous', 'volume', 'price', 'current']
    """
    import altair as alt

    from .charts import PALETTE

    if bridge.empty:
        return alt.Chart(pd.DataFrame({"step": [], "start": [], "end": []})).mark_bar()
    cur = bridge["currency"].iloc[0]
    g = bridge[bridge["currency"] == cur]
    if len(g) > len(BRIDGE_PARTS) + 1:  # several groups (by=...): the sum over them
        g = g.groupby("part", as_index=False, sort=False).agg(
            amount=("amount", _dsum), previous_cost=("previous_cost", _dsum), current_cost=("current_cost", _dsum))
    prev = float(g["previous_cost"].iloc[0])
    steps = [("previous", 0.0, prev, "total")]
    level = prev
    for r in g.itertuples(index=False):
        if r.part == "change" or float(r.amount) == 0:
            continue
        steps.append((_LABELS.get(r.part, r.part), level, level + float(r.amount),
                      "increase" if r.amount > 0 else "decrease"))
        level += float(r.amount)
    steps.append(("current", 0.0, float(g["current_cost"].iloc[0]), "total"))
    data = pd.DataFrame(steps, columns=["step", "start", "end", "kind"])
    data["amount"] = data["end"] - data["start"]
    return alt.Chart(data, title=title).mark_bar().encode(
        x=alt.X("step:N", sort=list(data["step"]), title=None, axis=alt.Axis(labelAngle=-30)),
        y=alt.Y("start:Q", title=f"Cost ({cur})", axis=alt.Axis(format=",.0f")), y2="end:Q",
        color=alt.Color("kind:N", title=None, scale=alt.Scale(
            domain=["total", "increase", "decrease"], range=[PALETTE["muted"], PALETTE["secondary"], PALETTE["primary"]])),
        tooltip=["step:N", alt.Tooltip("amount:Q", format=",.2f")],
    )
