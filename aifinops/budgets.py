"""Budgets, guardrail policies and the alert list.

Budgets (YAML, see ``templates/budgets.yaml``) give an amount per calendar month for a scope
(team, project, provider, service, feature, model, ... or everything). For a month,
:func:`budget_status` reports budget vs actual vs forecast, the burn rate and the date the
budget runs out at the forecast; :func:`budget_alerts` turns threshold crossings and forecast
overruns into alerts.

Guardrail policies (YAML, see ``templates/policies.yaml``) are checked on every run by
:func:`check_policies`: unit cost above a threshold (cost per request, per 1000 tokens, per
GPU-hour), listed expensive models used by teams not allowed them, untagged spend above a
share, a job or key (any ledger column) above an amount per day. Violations join the alert list.

:func:`check_alerts` runs both and writes the alert list as JSON; :func:`main_alerts` is the
command line (``aifinops alerts ... --fail-on-alert`` exits 3 when an alert fires).

Money is exact: actuals are ``decimal.Decimal`` sums from the engine; forecasts are
estimates (floats) and are labelled as such.

Example:
    >>> import datetime as dt
    >>> run_out_date(Decimal(100), dt.date(2026, 3, 1), [Decimal(30)] * 2, [25.0] * 29)
    datetime.date(2026, 3, 4)
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import fnmatch
import json
import math
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from . import schema
from .errors import ConfigError

__all__ = [
    "ALERT_EXIT_CODE",
    "POLICY_TYPES",
    "SCOPE_COLUMNS",
    "Budget",
    "Policy",
    "alerts_frame",
    "budget_alerts",
    "budget_status",
    "check_alerts",
    "check_policies",
    "exit_code",
    "finance_sheets",
    "load_budgets",
    "load_policies",
    "main_alerts",
    "month_bounds",
    "run_out_date",
    "write_alerts",
]

#: budget / policy scope keys -> ledger columns
SCOPE_COLUMNS: dict[str, str] = {
    **schema.ATTRIBUTION,
    "project": "SubAccountName",
    "sub_account": "SubAccountName",
    "account": "BillingAccountName",
    "provider": "ProviderName",
    "service": "ServiceName",
    "service_category": "ServiceCategory",
    "model": "x_Model",
    "gpu_model": "x_GpuModel",
    "region": "RegionId",
}
POLICY_TYPES = ("unit_cost", "disallowed_models", "untagged_spend", "daily_limit")
#: exit status of ``aifinops alerts --fail-on-alert`` when an alert fires
ALERT_EXIT_CODE = 3
_UNITS = {"request": ("x_Requests", Decimal(1)), "ktok": ("x_Tokens", Decimal(1000)),
          "mtok": ("x_Tokens", Decimal(10**6)), "gpu_hour": ("x_GpuHours", Decimal(1))}


def _lit(v: object) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _dec(value: object, file: str, key: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ConfigError(f"not a number: {value!r}", file=file, column=key) from None
    if not d.is_finite() or d < 0:
        raise ConfigError(f"must be a non-negative number: {value!r}", file=file, column=key)
    return d


def _scope(entry: Mapping, file: str, where: str) -> dict[str, list[str]]:
    out = {}
    for k, v in entry.items():
        if k in SCOPE_COLUMNS:
            vals = v if isinstance(v, list) else [v]
            if not vals or not all(isinstance(x, (str, int)) for x in vals):
                raise ConfigError(f"{where}: scope {k!r} must be a value or a list of values", file=file, column=k)
            out[SCOPE_COLUMNS[k]] = [str(x) for x in vals]
    return out


def _scope_sql(scope: Mapping[str, Sequence[str]]) -> str:
    if not scope:
        return "TRUE"
    return " AND ".join(f"\"{c}\" IN ({', '.join(_lit(v) for v in vals)})" for c, vals in scope.items())


def _read_yaml(path: str | Path, top: str) -> tuple[dict, str]:
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror}", file=str(p)) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(e, 'problem', e)}", file=str(p),
                          row=(mark.line + 1) if mark else None) from None
    if not isinstance(doc, dict) or not isinstance(doc.get(top), list):
        raise ConfigError(f"expected a mapping with a {top!r} list", file=str(p), column=top)
    return doc, str(p)


def _period(value: object, file: str, key: str) -> str:
    s = str(value)
    try:
        dt.date.fromisoformat(s + "-01")
    except ValueError:
        raise ConfigError(f"not a YYYY-MM month: {value!r}", file=file, column=key) from None
    return s


@dataclass(frozen=True)
class Budget:
    """One monthly budget.

    Attributes:
        name: label used in alerts.
        amount: budget per month (exact).
        currency: billing currency the amount is in.
        scope: ledger column -> allowed values (empty: everything).
        months: the months it applies to (empty: every month).
        thresholds: alert when actual reaches these percentages of the amount.
    """

    name: str
    amount: Decimal
    currency: str
    scope: dict[str, list[str]] = field(default_factory=dict)
    months: tuple[str, ...] = ()
    thresholds: tuple[Decimal, ...] = (Decimal(80), Decimal(100))


@dataclass(frozen=True)
class Policy:
    """One guardrail policy (see ``templates/policies.yaml``)."""

    name: str
    type: str
    scope: dict[str, list[str]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    severity: str = "warning"


def load_budgets(path: str | Path) -> list[Budget]:
    """Read a budgets YAML file.

    Raises:
        ConfigError: unreadable file, invalid YAML, a missing or negative amount, an unknown
            key or a malformed month, naming the file, the budget (row) and the key.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "b.yaml")
        >>> _ = open(p, "w").write("currency: USD\\nbudgets:\\n  - {name: ds, team: data-science, amount: 100}\\n")
        >>> b = load_budgets(p)[0]
        >>> b.name, b.amount, b.scope, b.thresholds
        ('ds', Decimal('100'), {'x_Team': ['data-science']}, (Decimal('80'), Decimal('100')))
    """
    doc, f = _read_yaml(path, "budgets")
    unknown = set(doc) - {"currency", "thresholds", "budgets"}
    if unknown:
        raise ConfigError(f"unknown key(s): {', '.join(sorted(map(str, unknown)))}", file=f)
    cur = str(doc.get("currency", "USD"))
    thr = doc.get("thresholds", [80, 100])
    out = []
    for i, e in enumerate(doc["budgets"], start=1):
        where = f"budget {i}"
        if not isinstance(e, dict):
            raise ConfigError(f"{where} must be a mapping", file=f, row=i)
        allowed = {"name", "amount", "currency", "month", "months", "thresholds", *SCOPE_COLUMNS}
        bad = set(e) - allowed
        if bad:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, bad)))}", file=f, row=i,
                              column=min(map(str, bad)))
        if "amount" not in e:
            raise ConfigError(f"{where}: amount is required", file=f, row=i, column="amount")
        months = e.get("months", [e["month"]] if "month" in e else [])
        t = e.get("thresholds", thr)
        if not isinstance(t, list):
            raise ConfigError(f"{where}: thresholds must be a list of percentages", file=f, row=i, column="thresholds")
        out.append(Budget(
            name=str(e.get("name") or where), amount=_dec(e["amount"], f, "amount"),
            currency=str(e.get("currency", cur)), scope=_scope(e, f, where),
            months=tuple(_period(m, f, "month") for m in months),
            thresholds=tuple(sorted(_dec(x, f, "thresholds") for x in t))))
    return out


def load_policies(path: str | Path) -> list[Policy]:
    """Read a guardrail policies YAML file.

    Raises:
        ConfigError: invalid YAML, an unknown policy type or a missing parameter.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "p.yaml")
        >>> _ = open(p, "w").write("policies:\\n  - {name: tags, type: untagged_spend, max_percent: 10}\\n")
        >>> load_policies(p)[0].params
        {'max_percent': Decimal('10'), 'dimension': 'x_Team'}
    """
    doc, f = _read_yaml(path, "policies")
    need = {"unit_cost": ("max",), "disallowed_models": ("models",), "untagged_spend": ("max_percent",),
            "daily_limit": ("key", "max")}
    out = []
    for i, e in enumerate(doc["policies"], start=1):
        where = f"policy {i}"
        if not isinstance(e, dict):
            raise ConfigError(f"{where} must be a mapping", file=f, row=i)
        typ = e.get("type")
        if typ not in POLICY_TYPES:
            raise ConfigError(f"{where}: unknown type {typ!r} (known: {', '.join(POLICY_TYPES)})", file=f, row=i,
                              column="type")
        for k in need[typ]:
            if k not in e:
                raise ConfigError(f"{where}: {typ} needs {k!r}", file=f, row=i, column=k)
        p: dict[str, Any] = {}
        if typ == "unit_cost":
            p["max"] = _dec(e["max"], f, "max")
            p["unit"] = str(e.get("unit", "request"))
            if p["unit"] not in _UNITS:
                raise ConfigError(f"{where}: unit must be one of {', '.join(_UNITS)}", file=f, row=i, column="unit")
            p["per"] = str(e.get("per", "period"))
            if p["per"] not in ("period", "day"):
                raise ConfigError(f"{where}: per must be 'period' or 'day'", file=f, row=i, column="per")
        elif typ == "disallowed_models":
            models = e["models"]
            if not isinstance(models, list) or not models:
                raise ConfigError(f"{where}: models must be a non-empty list", file=f, row=i, column="models")
            p["models"] = [str(m) for m in models]
            p["allowed_teams"] = [str(t) for t in e.get("allowed_teams", [])]
        elif typ == "untagged_spend":
            p["max_percent"] = _dec(e["max_percent"], f, "max_percent")
            dim = str(e.get("dimension", "team"))
            p["dimension"] = SCOPE_COLUMNS.get(dim, dim)
            if p["dimension"] not in schema.COLUMNS:
                raise ConfigError(f"{where}: unknown dimension {dim!r}", file=f, row=i, column="dimension")
        else:
            key = str(e["key"])
            p["key"] = SCOPE_COLUMNS.get(key, key)
            if p["key"] not in schema.COLUMNS:
                raise ConfigError(f"{where}: unknown key column {key!r}", file=f, row=i, column="key")
            p["max"] = _dec(e["max"], f, "max")
        sev = str(e.get("severity", "warning"))
        if sev not in ("info", "warning", "critical"):
            raise ConfigError(f"{where}: severity must be info, warning or critical", file=f, row=i, column="severity")
        out.append(Policy(name=str(e.get("name") or where), type=typ, scope=_scope(e, f, where), params=p,
                          severity=sev))
    return out


def month_bounds(period: str) -> tuple[dt.date, dt.date]:
    """First day of the month and first day of the next.

    Example:
        >>> month_bounds("2024-02")
        (datetime.date(2024, 2, 1), datetime.date(2024, 3, 1))
    """
    start = dt.date.fromisoformat(period + "-01")
    days = calendar.monthrange(start.year, start.month)[1]
    return start, start + dt.timedelta(days=days)


def run_out_date(amount: Decimal, start: dt.date, actual_daily: Sequence, forecast_daily: Sequence) -> dt.date | None:
    """The first day on which cumulative spend exceeds ``amount``: actual days from ``start``,
    then forecast days; None when it never does.

    Args:
        amount: the budget.
        start: the day ``actual_daily[0]`` is.
        actual_daily: exact daily actuals (Decimal).
        forecast_daily: daily forecast (floats) for the days after the actuals.

    Example:
        >>> run_out_date(Decimal(100), dt.date(2026, 2, 27), [Decimal(60), Decimal(50)], [])
        datetime.date(2026, 2, 28)
        >>> run_out_date(Decimal(100), dt.date(2024, 2, 28), [Decimal(10)], [40.0, 40.0, 40.0])  # leap day
        datetime.date(2024, 3, 2)
        >>> run_out_date(Decimal(100), dt.date(2026, 3, 1), [Decimal(1)], [1.0]) is None
        True
    """
    total = Decimal(0)
    day = start
    for v in actual_daily:
        total += Decimal(v)
        if total > amount:
            return day
        day += dt.timedelta(days=1)
    ftotal = float(total)
    for v in forecast_daily:
        ftotal += max(float(v), 0.0)
        if ftotal > float(amount):
            return day
        day += dt.timedelta(days=1)
    return None


def _ledger_periods(ledger) -> list[str]:
    df = ledger.query("SELECT DISTINCT strftime(ChargePeriodStart, '%Y-%m') AS p FROM billed "
                      "WHERE ChargePeriodStart IS NOT NULL ORDER BY 1")
    return [str(p) for p in df["p"]]


def _last_day(ledger) -> dt.date | None:
    df = ledger.query("SELECT CAST(MAX(ChargePeriodStart) AS DATE) AS d FROM billed")
    v = df["d"].iloc[0] if len(df) else None
    return None if v is None or pd.isna(v) else pd.Timestamp(v).date()


def budget_status(ledger, budgets: Sequence[Budget], period: str | None = None, *, as_of: dt.date | str | None = None,
                  forecast_model: Sequence[str] | None = None) -> pd.DataFrame:
    """Budget vs actual vs forecast for one month.

    Args:
        ledger: a Ledger.
        budgets: from :func:`load_budgets`.
        period: ``YYYY-MM``; default the month of the ledger's last day.
        as_of: the first day not yet known (default the day after the ledger's last day,
            within the month); actuals are the days before it.
        forecast_model: models for :func:`aifinops.forecast.forecast` (default both,
            best by backtest); the rest of the month is forecast from the scope's history,
            or at the month's burn rate when the history is under four weeks.

    Returns:
        One row per budget that applies to the month: ``budget``, ``currency``, ``amount``,
        ``actual`` (Decimal, to date), ``pct_used``, ``days_elapsed``, ``days_in_month``,
        ``burn_rate`` (actual per elapsed day), ``forecast`` (month total at the forecast,
        float), ``forecast_pct``, ``run_out`` (date or None), ``forecast_model`` and ``as_of``.

    Example:
        >>> from aifinops.report import open_ledger
        >>> budget_status(open_ledger("", inputs=None), [Budget("all", Decimal(10), "USD")], "2026-03").iloc[0]["actual"]
        Decimal('0')
    """
    from . import forecast as fc

    if period is None:
        last = _last_day(ledger)
        if last is None:
            raise ConfigError("the ledger is empty: give a period", column="period")
        period = last.strftime("%Y-%m")
    start, end = month_bounds(period)
    if as_of is None:
        last = _last_day(ledger)
        as_of = min(max((last + dt.timedelta(days=1)) if last else start, start), end)
    as_of = pd.Timestamp(as_of).date()
    days_in = (end - start).days
    elapsed = max(0, min((as_of - start).days, days_in))
    rows = []
    for b in budgets:
        if b.months and period not in b.months:
            continue
        w = f"({_scope_sql(b.scope)}) AND BillingCurrency = {_lit(b.currency)}"
        hist = fc.daily_series(ledger, None, where=w, end=as_of)
        hist = hist[hist["BillingCurrency"] == b.currency] if len(hist) else hist
        in_month = hist[(hist["ds"] >= pd.Timestamp(start)) & (hist["ds"] < pd.Timestamp(as_of))] if len(hist) else hist
        daily = {d.date(): c for d, c in zip(in_month["ds"], in_month["cost"])} if len(in_month) else {}
        actual_daily = [daily.get(start + dt.timedelta(days=i), Decimal(0)) for i in range(elapsed)]
        actual = sum(actual_daily, Decimal(0))
        remaining = days_in - elapsed
        model = "none"
        future: list[float] = []
        if remaining:
            if len(hist) >= 28:
                f = fc.forecast(hist[["ds", "y"]], remaining, folds=2,
                                models=tuple(forecast_model or fc.MODELS))
                future = [max(0.0, float(v)) for v in f.frame["yhat"]]
                model = f.model
            else:
                rate = float(actual) / elapsed if elapsed else 0.0
                future = [rate] * remaining
                model = "burn_rate"
        fore = float(actual) + sum(future)
        burn = (actual / elapsed) if elapsed else Decimal(0)
        rows.append({
            "budget": b.name, "currency": b.currency, "amount": b.amount, "actual": actual,
            "pct_used": float(actual / b.amount * 100) if b.amount else math.inf,
            "days_elapsed": elapsed, "days_in_month": days_in, "burn_rate": burn.quantize(Decimal(1).scaleb(-6)),
            "forecast": fore, "forecast_pct": fore / float(b.amount) * 100 if b.amount else math.inf,
            "run_out": run_out_date(b.amount, start, actual_daily, future),
            "forecast_model": model, "as_of": as_of, "period": period,
        })
    cols = ["budget", "currency", "amount", "actual", "pct_used", "days_elapsed", "days_in_month", "burn_rate",
            "forecast", "forecast_pct", "run_out", "forecast_model", "as_of", "period"]
    return pd.DataFrame(rows, columns=cols)


def _alert(kind: str, name: str, severity: str, message: str, **detail) -> dict:
    return {"kind": kind, "name": name, "severity": severity, "message": message, **detail}


def budget_alerts(status: pd.DataFrame, budgets: Sequence[Budget]) -> list[dict]:
    """Alerts from :func:`budget_status`: the highest threshold each budget's actual has
    reached, and a forecast overrun when the month's forecast exceeds the amount.

    Example:
        >>> s = pd.DataFrame([{"budget": "b", "currency": "USD", "amount": Decimal(100), "actual": Decimal(85),
        ...                    "pct_used": 85.0, "forecast": 120.0, "forecast_pct": 120.0, "run_out":
        ...                    dt.date(2026, 3, 20), "period": "2026-03"}])
        >>> [a["kind"] for a in budget_alerts(s, [Budget("b", Decimal(100), "USD")])]
        ['budget_threshold', 'budget_forecast_overrun']
    """
    by = {b.name: b for b in budgets}
    out = []
    for r in status.to_dict("records"):
        b = by[r["budget"]]
        hit = [t for t in b.thresholds if r["actual"] * 100 >= t * b.amount]
        common = {"period": r["period"], "currency": r["currency"], "amount": str(b.amount),
                  "actual": str(r["actual"]), "scope": b.scope}
        if hit:
            t = hit[-1]
            out.append(_alert("budget_threshold", b.name, "critical" if t >= 100 else "warning",
                              f"{b.name}: {r['pct_used']:.1f}% of {b.currency} {b.amount} used in {r['period']} "
                              f"(threshold {t}%)", threshold_percent=str(t), **common))
        if r["forecast"] > float(b.amount):
            ro = r["run_out"]
            out.append(_alert("budget_forecast_overrun", b.name, "warning",
                              f"{b.name}: forecast {b.currency} {r['forecast']:,.2f} for {r['period']} exceeds the "
                              f"budget {b.amount} ({r['forecast_pct']:.0f}%)"
                              + (f"; runs out on {ro.isoformat()}" if ro else ""),
                              forecast=round(r["forecast"], 2), run_out=ro.isoformat() if ro else None, **common))
    return out


def _requests_sql(col: str, where: str) -> str:
    # count each request/token once: invoice rows where a provider's invoice carries the
    # quantity, else its usage records
    return (f"WITH t AS (SELECT * FROM ledger WHERE \"{col}\" IS NOT NULL AND {where}), "
            f"inv AS (SELECT DISTINCT ProviderName FROM t WHERE x_CostAuthority = 'invoice') "
            f"SELECT {{keys}} SUM(\"{col}\") AS q FROM t WHERE x_CostAuthority = 'invoice' "
            f"OR ProviderName NOT IN (SELECT ProviderName FROM inv) {{group}}")


def check_policies(ledger, policies: Sequence[Policy], period: str | None = None) -> list[dict]:
    """Check guardrail policies on one month of the ledger (default: the last month).

    Returns:
        Alerts (dicts with ``kind`` = ``policy_<type>``, ``name``, ``severity``, ``message``
        and details; amounts as exact decimal strings).

    Example:
        >>> from aifinops.report import open_ledger
        >>> check_policies(open_ledger("", inputs=None), [Policy("t", "untagged_spend",
        ...     params={"max_percent": Decimal(5), "dimension": "x_Team"})], "2026-03")
        []
    """
    if period is None:
        ps = _ledger_periods(ledger)
        if not ps:
            return []
        period = ps[-1]
    start, end = month_bounds(period)
    pw = (f"ChargePeriodStart >= TIMESTAMPTZ {_lit(start.isoformat())} AND "
          f"ChargePeriodStart < TIMESTAMPTZ {_lit(end.isoformat())}")
    out: list[dict] = []
    for p in policies:
        w = f"{pw} AND ({_scope_sql(p.scope)})"
        base = {"period": period, "scope": p.scope, "policy_type": p.type}
        if p.type == "unit_cost":
            col, per = _UNITS[p.params["unit"]]
            byday = p.params["per"] == "day"
            dkey = "CAST(date_trunc('day', ChargePeriodStart) AS DATE)"
            # cost of the rows the unit applies to: AI rows for requests and tokens, GPU rows for GPU-hours
            rel = "x_GpuHours IS NOT NULL" if col == "x_GpuHours" else "x_Model IS NOT NULL"
            cost = ledger.query(f"SELECT {dkey + ' AS d, ' if byday else ''}BillingCurrency, SUM(BilledCost) AS c "
                                f"FROM billed WHERE {w} AND {rel} GROUP BY ALL")
            q = ledger.query(_requests_sql(col, w).format(keys=f"{dkey} AS d," if byday else "",
                                                          group="GROUP BY ALL" if byday else ""))
            m = cost.merge(q, on="d") if byday else cost.assign(q=q["q"].iloc[0] if len(q) else None)
            for r in m.to_dict("records"):
                qty = r["q"]
                if qty is None or (isinstance(qty, float) and math.isnan(qty)) or Decimal(qty) == 0:
                    continue
                unit = r["c"] / (Decimal(qty) / per)
                if unit > p.params["max"]:
                    when = f" on {pd.Timestamp(r['d']).date().isoformat()}" if byday else f" in {period}"
                    out.append(_alert(f"policy_{p.type}", p.name, p.severity,
                                      f"{p.name}: cost per {p.params['unit']} {r['BillingCurrency']} "
                                      f"{unit.quantize(Decimal('0.000001'))} > {p.params['max']}{when}",
                                      unit_cost=str(unit), limit=str(p.params["max"]),
                                      currency=r["BillingCurrency"],
                                      day=pd.Timestamp(r["d"]).date().isoformat() if byday else None, **base))
        elif p.type == "disallowed_models":
            df = ledger.query(
                f"SELECT x_Model, COALESCE(NULLIF(TRIM(x_Team), ''), '(unattributed)') AS team, "
                f"BillingCurrency, SUM(BilledCost) AS c, COUNT(*) AS n, "
                f"string_agg(DISTINCT x_CostAuthority, '+' ORDER BY x_CostAuthority) AS authority FROM ledger "
                f"WHERE x_Model IS NOT NULL AND {w} GROUP BY ALL ORDER BY 1, 2")
            for r in df.to_dict("records"):
                if r["team"] in p.params["allowed_teams"]:
                    continue
                if any(fnmatch.fnmatchcase(str(r["x_Model"]), pat) for pat in p.params["models"]):
                    out.append(_alert(f"policy_{p.type}", p.name, p.severity,
                                      f"{p.name}: team {r['team']} used {r['x_Model']} ({r['n']} rows, "
                                      f"{r['BillingCurrency']} {r['c'].quantize(Decimal('0.01'))} {r['authority']}) "
                                      f"in {period}",
                                      team=r["team"], model=r["x_Model"], cost=str(r["c"]), authority=r["authority"],
                                      currency=r["BillingCurrency"], **base))
        elif p.type == "untagged_spend":
            dim = p.params["dimension"]
            df = ledger.query(
                f"SELECT BillingCurrency, SUM(BilledCost) AS total, SUM(CASE WHEN NULLIF(TRIM(CAST(\"{dim}\" AS "
                f"VARCHAR)), '') IS NULL THEN BilledCost ELSE 0 END) AS untagged FROM billed WHERE {w} GROUP BY ALL")
            for r in df.to_dict("records"):
                if not r["total"]:
                    continue
                pct = r["untagged"] / r["total"] * 100
                if pct > p.params["max_percent"]:
                    out.append(_alert(f"policy_{p.type}", p.name, p.severity,
                                      f"{p.name}: {pct.quantize(Decimal('0.1'))}% of {r['BillingCurrency']} spend "
                                      f"in {period} has no {dim} (limit {p.params['max_percent']}%)",
                                      percent=str(pct), limit=str(p.params["max_percent"]),
                                      untagged=str(r["untagged"]), total=str(r["total"]),
                                      currency=r["BillingCurrency"], dimension=dim, **base))
        else:
            key = p.params["key"]
            df = ledger.query(
                f"SELECT \"{key}\" AS k, CAST(date_trunc('day', ChargePeriodStart) AS DATE) AS d, BillingCurrency, "
                f"SUM(BilledCost) AS c FROM billed WHERE \"{key}\" IS NOT NULL AND {w} GROUP BY ALL "
                f"HAVING SUM(BilledCost) > {p.params['max']} ORDER BY 2, 1")
            for r in df.to_dict("records"):
                day = pd.Timestamp(r["d"]).date().isoformat()
                out.append(_alert(f"policy_{p.type}", p.name, p.severity,
                                  f"{p.name}: {key} {r['k']} cost {r['BillingCurrency']} "
                                  f"{r['c'].quantize(Decimal('0.01'))} on {day} (limit {p.params['max']} per day)",
                                  key=key, value=str(r["k"]), day=day, cost=str(r["c"]),
                                  limit=str(p.params["max"]), currency=r["BillingCurrency"], **base))
    return out


def _json_default(o):
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, (dt.date, dt.datetime, pd.Timestamp)):
        return o.isoformat()
    raise TypeError(type(o).__name__)


def write_alerts(alerts: Sequence[dict], path: str | Path, **meta) -> Path:
    """Write the alert list as JSON (atomically): ``{"generated_at", ..meta, "count", "alerts"}``.

    Example:
        >>> import tempfile, os
        >>> p = write_alerts([{"kind": "x", "amount": Decimal("1.50")}], os.path.join(tempfile.mkdtemp(), "a.json"))
        >>> json.loads(p.read_text())["alerts"]
        [{'kind': 'x', 'amount': '1.50'}]
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    doc = {"generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **meta,
           "count": len(alerts), "alerts": list(alerts)}
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".alerts-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, default=_json_default)
        fh.write("\n")
    os.replace(tmp, p)
    return p


def exit_code(alerts: Sequence[dict], *, fail_on: str = "warning") -> int:
    """:data:`ALERT_EXIT_CODE` when an alert at or above ``fail_on`` severity fired, else 0.

    Example:
        >>> exit_code([{"severity": "warning"}]), exit_code([{"severity": "warning"}], fail_on="critical")
        (3, 0)
    """
    rank = {"info": 0, "warning": 1, "critical": 2}
    if fail_on not in rank:
        raise ConfigError(f"fail_on must be info, warning or critical, got {fail_on!r}", column="fail_on")
    return ALERT_EXIT_CODE if any(rank.get(a.get("severity"), 1) >= rank[fail_on] for a in alerts) else 0


def check_alerts(ledger, *, budgets: str | Path | Sequence[Budget] | None = None,
                 policies: str | Path | Sequence[Policy] | None = None, period: str | None = None,
                 as_of=None, out: str | Path | None = None) -> tuple[list[dict], pd.DataFrame]:
    """Budgets and guardrails in one run: the alert list (written to ``out`` as JSON when
    given) and the budget status table.

    Args:
        ledger: a Ledger.
        budgets: a budgets YAML path or :class:`Budget` list (None: no budgets).
        policies: a policies YAML path or :class:`Policy` list (None: no policies).
        period: month checked (default the ledger's last month).
        as_of: see :func:`budget_status`.
        out: JSON file for the alert list.

    Returns:
        ``(alerts, status)``.

    Example:
        >>> from aifinops.report import open_ledger
        >>> check_alerts(open_ledger("", inputs=None))[0]
        []
    """
    if period is None:
        last = _last_day(ledger)
        period = last.strftime("%Y-%m") if last else None
    blist = load_budgets(budgets) if isinstance(budgets, (str, Path)) else list(budgets or [])
    plist = load_policies(policies) if isinstance(policies, (str, Path)) else list(policies or [])
    alerts: list[dict] = []
    status = pd.DataFrame()
    if period is not None:
        if blist:
            status = budget_status(ledger, blist, period, as_of=as_of)
            alerts += budget_alerts(status, blist)
        alerts += check_policies(ledger, plist, period)
    if out is not None:
        write_alerts(alerts, out, period=period)
    return alerts, status


def main_alerts(argv: Sequence[str] | None = None) -> int:
    """``aifinops alerts``: check budgets and guardrails, print the alerts, write JSON.

    Exit status 0, or :data:`ALERT_EXIT_CODE` with ``--fail-on-alert`` when an alert at or
    above ``--severity`` fired; 2 on a configuration error.

    Example:
        >>> import tempfile, os
        >>> from aifinops.report import open_ledger
        >>> out = os.path.join(tempfile.mkdtemp(), "alerts.json")
        >>> main_alerts(["--ledger", str(open_ledger("", inputs=None).path), "--out", out, "--fail-on-alert"])  # doctest: +ELLIPSIS
        0 alert(s) -> ...
        0
    """
    ap = argparse.ArgumentParser(prog="aifinops alerts", description=main_alerts.__doc__.splitlines()[0])
    ap.add_argument("--ledger", required=True, help="ledger folder")
    ap.add_argument("--budgets", help="budgets YAML (templates/budgets.yaml)")
    ap.add_argument("--policies", help="guardrail policies YAML (templates/policies.yaml)")
    ap.add_argument("--period", help="YYYY-MM (default: the ledger's last month)")
    ap.add_argument("--as-of", help="YYYY-MM-DD: the first day not yet known")
    ap.add_argument("--out", default="alerts.json", help="alert list JSON (default alerts.json)")
    ap.add_argument("--fail-on-alert", action="store_true", help=f"exit {ALERT_EXIT_CODE} when an alert fires")
    ap.add_argument("--severity", default="warning", choices=["info", "warning", "critical"],
                    help="lowest severity that fails the run (with --fail-on-alert)")
    a = ap.parse_args(argv)
    from .ledger import Ledger

    try:
        alerts, _ = check_alerts(Ledger(a.ledger), budgets=a.budgets, policies=a.policies, period=a.period,
                                 as_of=a.as_of, out=a.out)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for al in alerts:
        print(f"{al['severity']:<8} {al['kind']:<26} {al['message']}")
    print(f"{len(alerts)} alert(s) -> {a.out}")
    return exit_code(alerts, fail_on=a.severity) if a.fail_on_alert else 0


def alerts_frame(alerts: Sequence[dict]) -> pd.DataFrame:
    """The alert list as a table: severity, kind, name, message (critical first).

    Example:
        >>> alerts_frame([{"severity": "warning", "kind": "k", "name": "n", "message": "m"}]).values.tolist()
        [['warning', 'k', 'n', 'm']]
    """
    cols = ["severity", "kind", "name", "message"]
    if not alerts:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(list(alerts))[cols]
    rank = df["severity"].map({"critical": 0, "warning": 1, "info": 2})
    return df.assign(_r=rank).sort_values(["_r", "kind", "name"], kind="stable").drop(columns="_r").reset_index(drop=True)


def finance_sheets(ledger, period: str | None, *, budgets: str | Path | Sequence[Budget] | None = None,
                   policies: str | Path | Sequence[Policy] | None = None, as_of=None) -> dict[str, pd.DataFrame]:
    """Sheets for the finance workbook: ``Budgets`` (budget vs actual vs forecast, exact
    actuals) and ``Alerts`` (budget alerts and guardrail violations of the period).

    Example:
        >>> from aifinops.report import open_ledger
        >>> sorted(finance_sheets(open_ledger("", inputs=None), "2026-03"))
        ['Alerts', 'Budgets']
    """
    if period is not None and as_of is None:
        as_of = month_bounds(period)[1]
    alerts, status = check_alerts(ledger, budgets=budgets, policies=policies, period=period, as_of=as_of)
    if status.empty:
        status = pd.DataFrame(columns=["budget", "currency", "amount", "actual", "pct_used", "forecast", "run_out"])
    return {"Budgets": status, "Alerts": alerts_frame(alerts)}
