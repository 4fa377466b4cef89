"""The JupyterLab explorer: an ipywidgets panel over a ledger.

Controls (date range, provider, team, model, feature, metric, "stack by" dimension, top N)
drive two Altair charts (daily trend stacked by the chosen dimension, top-N bar) and a
table. Every filter and aggregate runs in SQL on :meth:`aifinops.ledger.Ledger.query`:
cost metrics read the ``billed`` view (invoice-authority rows only, so spend seen in gateway
logs and on invoices counts once), usage metrics (tokens, requests, GPU hours) read
``ledger``. Only the aggregates reach pandas; money stays ``Decimal`` in the table and is
converted to float only for drawing. Amounts are never summed across currencies: each
currency (or usage unit) gets its own panel and table rows.

Charts are ``alt.JupyterChart`` widgets (anywidget) in offline mode: Altair 6 emits
Vega-Lite v6, which JupyterLab 4's built-in renderer does not show, and the offline bundle
comes from vl-convert, so nothing is fetched from a CDN.

Example:
    >>> import tempfile
    >>> from aifinops.ledger import Ledger
    >>> panel = Explorer(Ledger(tempfile.mkdtemp(), create=True))
    >>> panel.selection().metric, len(panel.trend_data)
    ('BilledCost', 0)
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import altair as alt
import ipywidgets as widgets
import pandas as pd

from . import charts
from .errors import ConfigError
from .money import trim
from .sql import lit, q

__all__ = [
    "DIMENSIONS",
    "FILTERS",
    "METRICS",
    "OTHER",
    "Explorer",
    "Selection",
    "options",
    "show",
    "top_chart",
    "top_frame",
    "trend_chart",
    "trend_frame",
    "where_sql",
]

#: metric column -> (label, view it is read from, unit; None = the row's BillingCurrency)
METRICS: dict[str, tuple[str, str, str | None]] = {
    "BilledCost": ("Billed cost", "billed", None),
    "EffectiveCost": ("Effective cost", "billed", None),
    "x_Tokens": ("Tokens", "ledger", "tokens"),
    "x_Requests": ("Requests", "ledger", "requests"),
    "x_GpuHours": ("GPU hours", "ledger", "GPU-hours"),
}
#: dimensions the trend can be stacked by and the top-N ranks: column -> label
DIMENSIONS: dict[str, str] = {
    "ProviderName": "Provider",
    "x_Team": "Team",
    "x_Model": "Model",
    "x_Feature": "Feature",
    "ServiceName": "Service",
    "x_Customer": "Customer",
}
#: filter controls: column -> label
FILTERS: dict[str, str] = {"ProviderName": "Provider", "x_Team": "Team", "x_Model": "Model", "x_Feature": "Feature"}
#: label of the groups beyond the top N in the trend
OTHER = "(other)"
UNATTRIBUTED = charts.UNATTRIBUTED


@dataclass(frozen=True)
class Selection:
    """What the panel shows. Empty filter tuples mean "all".

    Raises:
        ConfigError: an unknown metric, dimension or filter column, or ``top_n`` < 1.

    Example:
        >>> Selection(metric="x_Tokens", by="x_Model").view
        'ledger'
    """

    start: dt.date | None = None
    end: dt.date | None = None
    metric: str = "BilledCost"
    by: str = "ProviderName"
    top_n: int = 8
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(f"unknown metric {self.metric!r}; one of {', '.join(METRICS)}", column="metric")
        if self.by not in DIMENSIONS:
            raise ConfigError(f"unknown dimension {self.by!r}; one of {', '.join(DIMENSIONS)}", column="by")
        unknown = set(self.filters) - set(FILTERS)
        if unknown:
            raise ConfigError(f"unknown filter column(s) {sorted(unknown)}; one of {', '.join(FILTERS)}",
                              column="filters")
        if self.top_n < 1:
            raise ConfigError("top_n must be at least 1", column="top_n")

    @property
    def view(self) -> str:
        return METRICS[self.metric][1]

    @property
    def label(self) -> str:
        return METRICS[self.metric][0]


def _unit_expr(metric: str) -> str:
    unit = METRICS[metric][2]
    return q("BillingCurrency") if unit is None else lit(unit)


def _group_expr(col: str) -> str:
    return f"COALESCE(NULLIF(TRIM(CAST({q(col)} AS VARCHAR)), ''), {lit(UNATTRIBUTED)})"


def options(ledger) -> dict[str, object]:
    """Distinct values of every filter column and the date range, for the widgets.

    Args:
        ledger: a :class:`aifinops.ledger.Ledger`.

    Returns:
        ``{column: [values...]}`` for each of :data:`FILTERS` (NULL shown as
        ``(unattributed)``), plus ``start`` and ``end`` (dates or None).

    Example:
        >>> import tempfile
        >>> from aifinops.ledger import Ledger
        >>> options(Ledger(tempfile.mkdtemp(), create=True))["ProviderName"]
        []
    """
    parts = [f"SELECT {lit(c)} AS col, {_group_expr(c)} AS v, NULL::DATE AS d0, NULL::DATE AS d1 "
             f"FROM ledger GROUP BY ALL" for c in FILTERS]
    parts.append("SELECT 'dates', NULL, MIN(CAST(ChargePeriodStart AS DATE)), MAX(CAST(ChargePeriodStart AS DATE)) "
                 "FROM ledger")
    df = ledger.query(" UNION ALL ".join(parts))
    out: dict[str, object] = {c: sorted(df.loc[df["col"] == c, "v"].dropna().tolist()) for c in FILTERS}
    dates = df[df["col"] == "dates"]
    start = dates["d0"].iloc[0] if len(dates) else None
    end = dates["d1"].iloc[0] if len(dates) else None
    out["start"] = None if pd.isna(start) else pd.Timestamp(start).date()
    out["end"] = None if pd.isna(end) else pd.Timestamp(end).date()
    return out


def where_sql(sel: Selection) -> str:
    """The WHERE clause of a selection (date range inclusive of ``end``; a filter value
    ``(unattributed)`` matches NULL).

    Example:
        >>> w = where_sql(Selection(end=dt.date(2025, 6, 30), filters={"x_Team": ("search", UNATTRIBUTED)}))
        >>> "< TIMESTAMPTZ '2025-07-01 00:00:00+00'" in w, "IN ('search') OR" in w
        (True, True)
    """
    conds = [f"{q(sel.metric)} IS NOT NULL"]
    if sel.start:
        conds.append(f"{q('ChargePeriodStart')} >= TIMESTAMPTZ '{sel.start.isoformat()} 00:00:00+00'")
    if sel.end:
        nxt = sel.end + dt.timedelta(days=1)
        conds.append(f"{q('ChargePeriodStart')} < TIMESTAMPTZ '{nxt.isoformat()} 00:00:00+00'")
    for col, values in sel.filters.items():
        if not values:
            continue
        named = [v for v in values if v != UNATTRIBUTED]
        alts = []
        if named:
            alts.append(f"{q(col)} IN ({', '.join(lit(v) for v in named)})")
        if UNATTRIBUTED in values:
            alts.append(f"NULLIF(TRIM(CAST({q(col)} AS VARCHAR)), '') IS NULL")
        conds.append("(" + " OR ".join(alts) + ")")
    return " AND ".join(conds)


def _ranked_cte(sel: Selection) -> str:
    return (
        f"f AS (SELECT CAST(ChargePeriodStart AS DATE) AS day, {_group_expr(sel.by)} AS grp, "
        f"{_unit_expr(sel.metric)} AS unit, {q(sel.metric)} AS v FROM {sel.view} WHERE {where_sql(sel)}), "
        "t AS (SELECT unit, grp, SUM(v) AS total FROM f GROUP BY ALL), "
        "r AS (SELECT unit, grp, total, SUM(total) OVER (PARTITION BY unit) AS unit_total, "
        "row_number() OVER (PARTITION BY unit ORDER BY total DESC, grp) AS rk FROM t)")


def trend_frame(ledger, sel: Selection) -> pd.DataFrame:
    """Daily totals of the metric per group of ``sel.by`` (groups beyond the top N per unit
    folded into ``(other)``), aggregated in SQL.

    Returns:
        Columns ``day`` (date), ``group``, ``unit`` (currency or usage unit), ``value``
        (exact ``Decimal``), ``rank`` (1 = largest group; ``top_n + 1`` for ``(other)``).

    Example:
        >>> import tempfile
        >>> from aifinops.ledger import Ledger
        >>> list(trend_frame(Ledger(tempfile.mkdtemp(), create=True), Selection()).columns)
        ['day', 'group', 'unit', 'value', 'rank']
    """
    n = int(sel.top_n)
    sql = (f"WITH {_ranked_cte(sel)} "
           f"SELECT f.day, CASE WHEN r.rk <= {n} THEN f.grp ELSE {lit(OTHER)} END AS \"group\", f.unit, "
           f"SUM(f.v) AS value, LEAST(MIN(r.rk), {n + 1}) AS rank "
           "FROM f JOIN r USING (unit, grp) GROUP BY ALL ORDER BY f.unit, f.day, rank")
    df = ledger.query(sql)
    df["day"] = pd.to_datetime(df["day"])
    return df[["day", "group", "unit", "value", "rank"]]


def top_frame(ledger, sel: Selection) -> pd.DataFrame:
    """The N largest groups of ``sel.by`` per unit, with their share of the unit's total.

    Returns:
        Columns ``rank``, ``group``, ``unit``, ``value`` (exact ``Decimal``), ``share``
        (percent, ``Decimal`` rounded to 0.1).

    Example:
        >>> import tempfile
        >>> from aifinops.ledger import Ledger
        >>> list(top_frame(Ledger(tempfile.mkdtemp(), create=True), Selection()).columns)
        ['rank', 'group', 'unit', 'value', 'share']
    """
    sql = (f"WITH {_ranked_cte(sel)} "
           "SELECT rk AS rank, grp AS \"group\", unit, total AS value, "
           "CASE WHEN unit_total = 0 THEN NULL ELSE ROUND(100 * total / unit_total, 1) END AS share "
           f"FROM r WHERE rk <= {int(sel.top_n)} ORDER BY unit, rk")
    df = ledger.query(sql)
    df["share"] = df["share"].map(lambda v: None if v is None or pd.isna(v) else Decimal(str(v)).quantize(Decimal("0.1")))
    return df[["rank", "group", "unit", "value", "share"]]


def _floats(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["value"] = [float(v) if v is not None else 0.0 for v in out["value"]]
    return out


def _facet(chart: alt.Chart, df: pd.DataFrame):
    if df["unit"].nunique() > 1:
        return chart.facet(row=alt.Row("unit:N", title=None)).resolve_scale(y="independent", x="independent")
    return chart


def trend_chart(df: pd.DataFrame, sel: Selection) -> alt.TopLevelMixin:
    """Stacked daily area chart of :func:`trend_frame` (one panel per unit).

    Example:
        >>> df = pd.DataFrame({"day": pd.to_datetime(["2025-06-01"]), "group": ["AWS"], "unit": ["USD"],
        ...                    "value": [Decimal("1.5")], "rank": [1]})
        >>> trend_chart(df, Selection()).to_dict()["mark"]["type"]
        'area'
    """
    unit = df["unit"].iloc[0] if df["unit"].nunique() == 1 else None
    title = f"{sel.label}" + (f" ({unit})" if unit else "")
    order = (df.sort_values("rank").drop_duplicates("group")["group"].tolist()) if len(df) else []
    chart = alt.Chart(_floats(df)).mark_area(interpolate="step-after").encode(
        x=alt.X("day:T", title=None),
        y=alt.Y("value:Q", title=title, stack="zero"),
        color=alt.Color("group:N", title=DIMENSIONS[sel.by], sort=order,
                        scale=alt.Scale(scheme=charts.CATEGORY_SCHEME)),
        order=alt.Order("rank:Q", sort="ascending"),
        tooltip=[alt.Tooltip("day:T"), alt.Tooltip("group:N", title=DIMENSIONS[sel.by]),
                 alt.Tooltip("unit:N"), alt.Tooltip("value:Q", title=sel.label, format=",.2f")],
    ).properties(width=640, height=220, title=f"Daily {sel.label.lower()} by {DIMENSIONS[sel.by].lower()}")
    return _facet(chart, df)


def top_chart(df: pd.DataFrame, sel: Selection) -> alt.TopLevelMixin:
    """Horizontal bar chart of :func:`top_frame` (one panel per unit).

    Example:
        >>> df = pd.DataFrame({"rank": [1], "group": ["AWS"], "unit": ["USD"], "value": [Decimal("2")],
        ...                    "share": [Decimal("100.0")]})
        >>> top_chart(df, Selection()).to_dict()["mark"]["type"]
        'bar'
    """
    unit = df["unit"].iloc[0] if df["unit"].nunique() == 1 else None
    chart = alt.Chart(_floats(df.drop(columns=["share"]))).mark_bar(color=charts.PALETTE["primary"]).encode(
        x=alt.X("value:Q", title=sel.label + (f" ({unit})" if unit else "")),
        y=alt.Y("group:N", title=None, sort=alt.SortField("rank", order="ascending")),
        tooltip=[alt.Tooltip("group:N", title=DIMENSIONS[sel.by]), alt.Tooltip("unit:N"),
                 alt.Tooltip("value:Q", title=sel.label, format=",.2f")],
    ).properties(width=640, height=alt.Step(18), title=f"Top {sel.top_n} {DIMENSIONS[sel.by].lower()}s")
    return _facet(chart, df)


def _table_html(df: pd.DataFrame, sel: Selection) -> str:
    from .report import table

    if df.empty:
        return "<p><em>No rows match the selection.</em></p>"
    shown = df.rename(columns={"group": DIMENSIONS[sel.by], "value": sel.label, "share": "share %"})
    if METRICS[sel.metric][2] is None:
        return table(shown, money=[sel.label]).to_html()
    shown[sel.label] = shown[sel.label].map(lambda v: f"{trim(v):,f}")  # usage: exact, thousands separated
    return table(shown, money=[]).to_html()


class Explorer:
    """The panel: widgets bound to a ledger; :attr:`widget` is what a notebook displays.

    Args:
        ledger: a :class:`aifinops.ledger.Ledger`.
        period: optional ``YYYY-MM`` the date range starts on (default: the whole ledger).
        metric: initial metric (one of :data:`METRICS`).
        by: initial "stack by" dimension (one of :data:`DIMENSIONS`).
        top_n: initial number of groups ranked.

    Raises:
        ConfigError: a bad ``period``, ``metric``, ``by`` or ``top_n``.

    Attributes:
        controls: the input widgets by name (``start``, ``end``, ``metric``, ``by``,
            ``top_n`` and one ``SelectMultiple`` per :data:`FILTERS` column).
        trend: the trend ``alt.JupyterChart``; ``top``: the top-N ``alt.JupyterChart``.
        table: an ``HTML`` widget; ``status``: a one-line summary.
        trend_data, top_data: the current aggregates (exact ``Decimal`` values).

    Example:
        >>> import tempfile
        >>> from aifinops.ledger import Ledger
        >>> panel = Explorer(Ledger(tempfile.mkdtemp(), create=True), metric="x_Tokens")
        >>> panel.controls["metric"].value = "BilledCost"
        >>> panel.trend.chart.to_dict()["encoding"]["y"]["title"]
        'Billed cost'
    """

    def __init__(self, ledger, *, period: str = "", metric: str = "BilledCost", by: str = "ProviderName",
                 top_n: int = 8) -> None:
        alt.JupyterChart.enable_offline()
        self.ledger = ledger
        opts = options(ledger)
        start, end = opts["start"], opts["end"]
        Selection(metric=metric, by=by, top_n=top_n)  # typed errors for bad arguments before any query
        if period:
            if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
                raise ConfigError(f"period must be YYYY-MM, got {period!r}", column="period")
            p0 = dt.date.fromisoformat(period + "-01")
            start, end = p0, (pd.Timestamp(p0) + pd.offsets.MonthEnd(0)).date()
        layout = widgets.Layout(width="auto")
        self.controls: dict[str, widgets.Widget] = {
            "start": widgets.DatePicker(description="From", value=start, layout=layout),
            "end": widgets.DatePicker(description="To", value=end, layout=layout),
            "metric": widgets.Dropdown(description="Metric", value=metric,
                                       options=[(v[0], k) for k, v in METRICS.items()]),
            "by": widgets.Dropdown(description="Stack by", value=by, options=[(v, k) for k, v in DIMENSIONS.items()]),
            "top_n": widgets.IntSlider(description="Top N", value=top_n, min=1, max=25),
        }
        for col, label in FILTERS.items():
            self.controls[col] = widgets.SelectMultiple(description=label, options=opts[col], rows=5,
                                                        layout=widgets.Layout(width="260px"))
        self.status = widgets.HTML()
        self.table = widgets.HTML()
        sel = self.selection()
        self.trend_data = trend_frame(ledger, sel)
        self.top_data = top_frame(ledger, sel)
        with alt.data_transformers.disable_max_rows():  # aggregates, bounded by days x (N + 1) x units
            self.trend = alt.JupyterChart(trend_chart(self.trend_data, sel))
            self.top = alt.JupyterChart(top_chart(self.top_data, sel))
        self._show(sel)
        for w in self.controls.values():
            w.observe(self._changed, names="value")
        c = self.controls
        wrap = widgets.Layout(flex_flow="row wrap")
        self.widget = widgets.VBox([
            widgets.HBox([c["start"], c["end"], c["metric"], c["by"], c["top_n"]], layout=wrap),
            widgets.HBox([c[col] for col in FILTERS], layout=wrap),
            self.status, self.trend, self.top, self.table,
        ])

    def selection(self) -> Selection:
        """The current widget values as a :class:`Selection`."""
        c = self.controls
        return Selection(start=c["start"].value, end=c["end"].value, metric=c["metric"].value, by=c["by"].value,
                         top_n=int(c["top_n"].value), filters={col: tuple(c[col].value) for col in FILTERS})

    def _changed(self, _change) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Re-run the aggregates for the current widget values and update charts and table."""
        sel = self.selection()
        self.trend_data = trend_frame(self.ledger, sel)
        self.top_data = top_frame(self.ledger, sel)
        with alt.data_transformers.disable_max_rows():
            self.trend.chart = trend_chart(self.trend_data, sel)
            self.top.chart = top_chart(self.top_data, sel)
        self._show(sel)

    def _show(self, sel: Selection) -> None:
        totals = (self.top_data.groupby("unit")["value"].sum() if len(self.top_data) else pd.Series(dtype=object))
        days = self.trend_data["day"].nunique()
        view = "billed cost (invoice rows)" if sel.view == "billed" else "all ledger rows"
        self.status.value = (f"<b>{sel.label}</b> from {view}, {days} day(s), top {sel.top_n} "
                             f"{DIMENSIONS[sel.by].lower()}s: " + (", ".join(
                                 f"{_fmt(v)} {u}" for u, v in totals.items()) or "no rows"))
        self.table.value = _table_html(self.top_data, sel)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def _fmt(v: object) -> str:
    from .report import format_money

    return format_money(v)


def show(ledger_path: str | Path = "", *, inputs: str | Path | None = None, period: str = "",
         metric: str = "BilledCost", by: str = "ProviderName", top_n: int = 8) -> Explorer:
    """Open the ledger (see :func:`aifinops.report.open_ledger`), build the panel and display it.

    Returns:
        The :class:`Explorer` (its widgets stay live in the notebook).

    Example:
        >>> import tempfile
        >>> from aifinops.ledger import Ledger
        >>> folder = tempfile.mkdtemp()
        >>> _ = Ledger(folder, create=True)  # an empty ledger
        >>> panel = show(folder)  # doctest: +ELLIPSIS
        VBox(children=(HBox(...
        >>> panel.top_data.empty
        True
    """
    from IPython.display import display

    from .report import open_ledger

    panel = Explorer(open_ledger(ledger_path, inputs=inputs), period=period, metric=metric, by=by, top_n=top_n)
    display(panel.widget)
    return panel

