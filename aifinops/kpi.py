"""Business KPIs: the denominators of unit economics and the drivers of KPI-driven allocation.

A KPI file is a tidy CSV (or Parquet) with one value per row::

    date,dimension,key,metric,value,unit
    2025-06,feature,chat-assistant,active_users,1200,users
    2025-06,feature,chat-assistant,revenue,18000,USD
    2025-06-15,team,support-ai,hours_saved,310,hours

- ``date``: a day (``YYYY-MM-DD``) or a month (``YYYY-MM``); values are summed per month
  (``period``), so daily rows add up to their month;
- ``dimension``: what ``key`` names: one of :data:`DIMENSIONS` (``team``, ``feature``,
  ``customer``, ``product``, ... or ``company`` for company-wide values);
- ``metric``: one of :data:`METRICS` (other names are kept, for custom ratios);
- ``value``: an exact decimal; ``unit``: the currency code of money metrics (``revenue``,
  ``hourly_rate``) and a free label otherwise.

``hourly_rate`` is a price, not a quantity: it is not summed over a month but averaged
(weighted equally per row) and must be given with ``hours_saved`` for the value of time saved.

Example:
    >>> import io
    >>> from aifinops.kpi import read_kpis
    >>> k = read_kpis(io.StringIO("date,dimension,key,metric,value,unit\\n"
    ...     "2025-06-01,feature,chat,active_users,10,users\\n2025-06-02,feature,chat,active_users,5,users\\n"))
    >>> monthly(k)[["period", "key", "metric", "value"]].values.tolist()
    [['2025-06', 'chat', 'active_users', Decimal('15')]]
"""

from __future__ import annotations

import io
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd

from .errors import ConfigError
from .money import dsum

__all__ = [
    "COLUMNS",
    "DIMENSIONS",
    "METRICS",
    "MONEY_METRICS",
    "RATE_METRICS",
    "dimension_column",
    "monthly",
    "read_kpis",
]

#: the KPI file's columns, in order (``unit`` optional)
COLUMNS: tuple[str, ...] = ("date", "dimension", "key", "metric", "value", "unit")

#: the metric vocabulary and what each counts
METRICS: dict[str, str] = {
    "active_users": "distinct users active in the period",
    "requests": "requests or inferences served (business count, not the ledger's x_Requests)",
    "conversations": "conversations or sessions",
    "revenue": "revenue attributed (unit = currency)",
    "successful_outcomes": "successful outcomes, e.g. tickets resolved, documents summarized",
    "hours_saved": "staff hours saved",
    "hourly_rate": "value of one hour saved (unit = currency); a price, averaged not summed",
    "gpu_busy_hours": "GPU-hours actually busy (from the scheduler); utilization = busy / provisioned",
}
MONEY_METRICS = frozenset({"revenue", "hourly_rate"})
RATE_METRICS = frozenset({"hourly_rate"})

#: KPI dimension -> ledger column (``company`` has none: one company-wide key)
DIMENSIONS: dict[str, str | None] = {
    "team": "x_Team", "feature": "x_Feature", "customer": "x_Customer", "application": "x_Application",
    "product": "x_Application", "cost_center": "x_CostCenter", "environment": "x_Environment",
    "user": "x_User", "company": None,
}

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")


def dimension_column(dimension: str) -> str | None:
    """The ledger column a KPI dimension refers to (``feature`` -> ``x_Feature``).

    >>> dimension_column("feature")
    'x_Feature'
    """
    if dimension not in DIMENSIONS:
        raise ConfigError(f"unknown KPI dimension {dimension!r} (known: {', '.join(DIMENSIONS)})",
                          column="dimension")
    return DIMENSIONS[dimension]


def read_kpis(source, *, name: str | None = None) -> pd.DataFrame:
    """Read and validate a KPI file.

    Args:
        source: a CSV or Parquet path, or a text buffer of CSV.
        name: the file name used in errors (defaults to the path).

    Returns:
        A frame with :data:`COLUMNS` plus ``period`` (``YYYY-MM``); ``value`` as ``Decimal``.

    Raises:
        ConfigError: missing column, bad date, unknown dimension, unparsable value, or a money
            metric without a currency; names the file, the 1-based data row and the column.
    """
    label = name or (str(source) if isinstance(source, (str, Path)) else "<kpis>")
    if isinstance(source, (str, Path)) and str(source).endswith(".parquet"):
        raw = pd.read_parquet(source).astype(str).replace({"None": "", "nan": "", "<NA>": ""})
    else:
        if isinstance(source, (str, Path)) and not Path(source).exists():
            raise ConfigError("KPI file not found", file=label)
        text = Path(source).read_text(encoding="utf-8-sig") if isinstance(source, (str, Path)) else source.read()
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    raw.columns = [str(c).strip() for c in raw.columns]
    for col in COLUMNS[:-1]:
        if col not in raw.columns:
            raise ConfigError("missing column", file=label, column=col)
    if "unit" not in raw.columns:
        raw["unit"] = ""
    rows = []
    for i, r in enumerate(raw[list(COLUMNS)].itertuples(index=False), start=1):
        d, dim, key, metric, value, unit = (str(x).strip() for x in r)
        if _DAY.match(d):
            period = d[:7]
        elif _MONTH.match(d):
            period = d
        else:
            raise ConfigError(f"date {d!r} is not YYYY-MM-DD or YYYY-MM", file=label, row=i, column="date")
        if dim not in DIMENSIONS:
            raise ConfigError(f"unknown dimension {dim!r} (known: {', '.join(DIMENSIONS)})",
                              file=label, row=i, column="dimension")
        if not metric:
            raise ConfigError("metric is empty", file=label, row=i, column="metric")
        try:
            v = Decimal(value)
            if not v.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            raise ConfigError(f"value {value!r} is not a number", file=label, row=i, column="value") from None
        if metric in MONEY_METRICS and not re.fullmatch(r"[A-Z]{3}", unit):
            raise ConfigError(f"{metric} needs a currency code in unit (got {unit!r})", file=label, row=i,
                              column="unit")
        rows.append((d, dim, key if dim != "company" else (key or "company"), metric, v, unit, period))
    return pd.DataFrame(rows, columns=[*COLUMNS, "period"])


def monthly(kpis: pd.DataFrame) -> pd.DataFrame:
    """KPI values per month: quantities summed, rates (:data:`RATE_METRICS`) averaged.

    Returns:
        Columns ``period, dimension, key, metric, unit, value`` sorted by them.
    """
    cols = ["period", "dimension", "key", "metric", "unit", "value"]
    if kpis.empty:
        return pd.DataFrame(columns=cols)
    out = []
    for (period, dim, key, metric, unit), g in kpis.groupby(["period", "dimension", "key", "metric", "unit"],
                                                           sort=True):
        total = dsum(g["value"])
        out.append((period, dim, key, metric, unit, total / len(g) if metric in RATE_METRICS else total))
    return pd.DataFrame(out, columns=cols)
