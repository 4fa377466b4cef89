"""Charts for reports: an offline Altair renderer, one house theme, chart builders that
take tidy frames, and :func:`save_chart` for standalone PNG/SVG/PDF/HTML files.

Nothing here reaches the network. In notebooks that become HTML reports,
:func:`enable_offline` registers the ``aifinops_offline`` renderer: the vega-embed
JavaScript bundle (from vl-convert) is emitted once per kernel, inside a function scope, so
every chart on the page renders without a CDN.

The builders aggregate before charting (Altair refuses more than 5,000 inline rows) and
return a chart without displaying it, so tests can read ``chart.to_dict()``. Money is summed
exactly (``Decimal``) and converted to float only for drawing. Amounts never mix currencies:
a frame with several currencies gets one panel per currency.

Example:
    >>> import pandas as pd
    >>> from decimal import Decimal
    >>> from aifinops import charts
    >>> df = pd.DataFrame({
    ...     "ChargePeriodStart": pd.to_datetime(["2025-06-01", "2025-06-01", "2025-06-02"], utc=True),
    ...     "ProviderName": ["AWS", "OpenAI", "AWS"],
    ...     "BilledCost": [Decimal("1.50"), Decimal("2"), Decimal("3.25")],
    ...     "BillingCurrency": ["USD", "USD", "USD"]})
    >>> chart = charts.daily_cost_by_provider(df)
    >>> spec = chart.to_dict()
    >>> spec["mark"]["type"], len(spec["datasets"][next(iter(spec["datasets"]))])
    ('line', 3)
"""

from __future__ import annotations

import contextlib
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd

__all__ = [
    "PALETTE",
    "UNATTRIBUTED",
    "THEME",
    "enable_offline",
    "reset_offline",
    "offline_html_renderer",
    "theme",
    "daily_cost_by_provider",
    "cost_by_team_stacked",
    "top_services_bar",
    "save_chart",
]

#: semantic colours (roles, not raw colours at call sites)
PALETTE: dict[str, str] = {
    "primary": "#1f5fa8",
    "secondary": "#e07b39",
    "muted": "#8c8c8c",
    "other": "#c7c7c7",
    "grid": "#e6e6e6",
    "text": "#333333",
}
#: categorical scheme for providers, teams and services (colour-blind safe, Tableau 10)
CATEGORY_SCHEME = "tableau10"
#: label used where an attribution column is NULL
UNATTRIBUTED = "(unattributed)"
#: name of the registered renderer and theme
THEME = "aifinops"

_bundle_emitted = False


def theme() -> dict[str, Any]:
    """The house Altair theme: quiet axes, one font, legend on top.

    Returns:
        A Vega-Lite top-level config.

    Example:
        >>> theme()["config"]["range"]["category"]["scheme"]
        'tableau10'
    """
    font = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
    return {
        "config": {
            "font": font,
            "view": {"stroke": None, "continuousWidth": 640, "continuousHeight": 260, "discreteWidth": {"step": 56}},
            "axis": {"labelColor": PALETTE["text"], "titleColor": PALETTE["text"], "gridColor": PALETTE["grid"],
                     "domainColor": PALETTE["muted"], "tickColor": PALETTE["muted"], "labelFontSize": 11,
                     "titleFontSize": 12, "titleFontWeight": "normal"},
            "legend": {"orient": "top", "labelFontSize": 11, "titleFontSize": 11, "titleFontWeight": "normal"},
            "title": {"fontSize": 14, "anchor": "start", "color": PALETTE["text"], "fontWeight": "bold"},
            "range": {"category": {"scheme": CATEGORY_SCHEME}},
            "bar": {"color": PALETTE["primary"]},
            "line": {"color": PALETTE["primary"], "strokeWidth": 2},
        },
    }


alt.theme.register(THEME, enable=False)(theme)


def _js(obj: Any) -> str:
    """JSON that is safe inside ``<script>``: no ``</script>`` or ``<!--`` sequences."""
    return json.dumps(obj).replace("<", "\\u003c")


def _vega_bundle() -> str:
    """vl-convert's vega-embed JavaScript bundle, kept on disk per vl-convert version under
    ``$AIFINOPS_CACHE`` (default ``~/.cache/aifinops``): vl-convert builds it in seconds of CPU,
    once per process, and every report notebook is a fresh kernel. Written atomically; any
    error reading or writing the cache falls back to building it.

    Example:
        >>> b = _vega_bundle()
        >>> "vegaEmbed" in b and b == _vega_bundle()
        True
    """
    import os
    from importlib import metadata

    import vl_convert as vlc

    try:
        version = metadata.version("vl-convert-python")
    except metadata.PackageNotFoundError:  # pragma: no cover - vl-convert without metadata
        return vlc.javascript_bundle()
    cache = Path(os.environ.get("AIFINOPS_CACHE") or Path.home() / ".cache" / "aifinops")
    path = cache / "vl-convert" / f"vega-embed-bundle-{version}.js"
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    bundle = vlc.javascript_bundle()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(bundle, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return bundle


def offline_html_renderer(spec: dict, **metadata: Any) -> dict[str, str]:
    """Altair renderer: HTML that draws the chart with the vega-embed bundle embedded once.

    The first chart of a kernel session carries the bundle (about 900 KB) wrapped in a
    function scope; later charts wait for ``window.vegaEmbed``. Works in nbconvert HTML with
    or without require.js.

    Args:
        spec: the Vega-Lite spec.
        **metadata: Altair renderer metadata; ``embed_options`` are passed to vega-embed.

    Returns:
        A mimebundle with ``text/html`` and ``text/plain``.

    Example:
        >>> reset_offline()
        >>> out = offline_html_renderer({"mark": "point"})
        >>> "vegaEmbed" in out["text/html"], len(out["text/html"]) > 100_000
        (True, True)
        >>> len(offline_html_renderer({"mark": "point"})["text/html"]) < 2_000
        True
    """
    global _bundle_emitted
    div = f"altair-viz-{uuid.uuid4().hex}"
    loader = ""
    if not _bundle_emitted:
        bundle = _vega_bundle().replace("</script", "<\\/script")
        loader = '<script type="text/javascript">(function(){\n' + bundle + "\n})();</script>\n"
        _bundle_emitted = True
    embed_opt = {"mode": "vega-lite", "actions": False, **metadata.get("embed_options", {})}
    html = (
        loader
        + f'<div id="{div}" class="aifinops-chart"></div>\n'
        + '<script type="text/javascript">(function(){\n'
        + f"  var spec = {_js(spec)};\n"
        + f"  var opt = {_js(embed_opt)};\n"
        + "  function go(){ window.vegaEmbed('#" + div + "', spec, opt).catch(function(e){"
        + " document.getElementById('" + div + "').innerText = 'chart error: ' + e; }); }\n"
        + "  if (window.vegaEmbed) { go(); } else { window.addEventListener('load', go); }\n"
        + "})();</script>"
    )
    return {"text/html": html, "text/plain": "<altair chart>"}


def enable_offline(*, use_theme: bool = True) -> None:
    """Register and enable the ``aifinops_offline`` renderer (and the house theme).

    Call once at the top of a notebook that becomes an HTML report. In live JupyterLab,
    clearing the first chart's output loses the bundle: call :func:`reset_offline` and re-run.

    Args:
        use_theme: also enable the ``aifinops`` theme.

    Example:
        >>> enable_offline()
        >>> alt.renderers.active, alt.theme.active
        ('aifinops_offline', 'aifinops')
    """
    alt.renderers.register("aifinops_offline", offline_html_renderer)
    alt.renderers.enable("aifinops_offline")
    if use_theme:
        alt.theme.enable(THEME)


def reset_offline() -> None:
    """Make the next chart carry the JavaScript bundle again.

    Example:
        >>> reset_offline()
    """
    global _bundle_emitted
    _bundle_emitted = False


# -- builders -------------------------------------------------------------------------

def _require(df: pd.DataFrame, *cols: str) -> None:
    from .errors import MissingColumnError

    for c in cols:
        if c not in df.columns:
            raise MissingColumnError(f"chart input has no column {c!r} (columns: {', '.join(map(str, df.columns))})",
                                     column=c)


def _money_sum(s: pd.Series) -> float:
    """Exact sum of a money column (Decimal or numeric), as float for drawing."""
    total = sum((v if isinstance(v, Decimal) else Decimal(str(v)) for v in s if pd.notna(v)), Decimal(0))
    return float(total)


def _aggregate(df: pd.DataFrame, keys: list[str], cost: str) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame({**{k: pd.Series(dtype="object") for k in keys}, cost: pd.Series(dtype="float64")})
    out = df.groupby(keys, dropna=False, sort=True)[cost].agg(_money_sum).reset_index()
    return out


def _label(s: pd.Series) -> pd.Series:
    return s.astype("object").where(s.notna() & (s.astype("string").str.strip() != ""), UNATTRIBUTED).astype(str)


def _currency_title(df: pd.DataFrame, currency: str | None, base: str) -> str:
    if currency and currency in df.columns:
        cur = sorted({str(c) for c in df[currency].dropna().unique()})
        if len(cur) == 1:
            return f"{base} ({cur[0]})"
    return base


def _per_currency(chart: alt.Chart, df: pd.DataFrame, currency: str | None, title: str,
                  independent: tuple[str, ...] = ("y",)):
    """Facet by currency when a frame holds several (never add amounts across currencies)."""
    if currency and currency in df.columns and df[currency].nunique(dropna=True) > 1:
        return (chart.facet(row=alt.Row(f"{currency}:N", title=None, header=alt.Header(labelAngle=0,
                                                                                      labelAlign="left")))
                .resolve_scale(**{ch: "independent" for ch in independent}).properties(title=title))
    return chart.properties(title=title)


def daily_cost_by_provider(df: pd.DataFrame, *, date: str = "ChargePeriodStart", provider: str = "ProviderName",
                           cost: str = "BilledCost", currency: str | None = "BillingCurrency",
                           title: str = "Daily cost by provider") -> alt.Chart:
    """Line chart of cost per day, one line per provider.

    Args:
        df: tidy rows (ledger rows or a pre-aggregated frame) with ``date``, ``provider``,
            ``cost`` and optionally ``currency`` columns. Not mutated.
        date: timestamp column; its UTC day is the x axis.
        provider: series column.
        cost: money column (Decimal or numeric).
        currency: currency column; several currencies give one panel each.
        title: chart title.

    Returns:
        An Altair chart (not displayed).

    Example:
        >>> df = pd.DataFrame({"ChargePeriodStart": ["2025-06-01"], "ProviderName": ["AWS"],
        ...                    "BilledCost": [Decimal("2.5")], "BillingCurrency": ["EUR"]})
        >>> daily_cost_by_provider(df).to_dict()["encoding"]["y"]["title"]
        'Cost (EUR)'
    """
    _require(df, date, provider, cost)
    work = pd.DataFrame({
        "Day": pd.to_datetime(df[date], utc=True).dt.tz_convert("UTC").dt.strftime("%Y-%m-%d"),
        "Provider": _label(df[provider]),
        "Cost": df[cost],
    })
    keys = ["Day", "Provider"]
    if currency and currency in df.columns:
        work["Currency"] = df[currency].astype(str)
        keys.append("Currency")
    data = _aggregate(work, keys, "Cost")
    cur_col = "Currency" if "Currency" in data.columns else None
    chart = alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("utcyearmonthdate(Day):T", title=None, axis=alt.Axis(format="%b %d", tickCount={"interval": "day", "step": 1})),
        y=alt.Y("Cost:Q", title=_currency_title(data, cur_col, "Cost"), axis=alt.Axis(format=",.2~f")),
        color=alt.Color("Provider:N", title="Provider"),
        tooltip=[alt.Tooltip("utcyearmonthdate(Day):T", format="%Y-%m-%d", title="Day"), "Provider:N",
                 alt.Tooltip("Cost:Q", format=",.2f")] + ([alt.Tooltip("Currency:N")] if cur_col else []),
    )
    return _per_currency(chart, data, cur_col, title)


def cost_by_team_stacked(df: pd.DataFrame, *, period: str = "x_BillingPeriod", team: str = "x_Team",
                         cost: str = "BilledCost", currency: str | None = "BillingCurrency",
                         title: str = "Cost by team") -> alt.Chart:
    """Stacked bars: cost per period (or any category on x), stacked by team.

    Rows without a team are shown as ``(unattributed)``, never dropped.

    Args:
        df: tidy rows with ``period``, ``team``, ``cost`` (and ``currency``). Not mutated.
        period: x-axis column (e.g. ``x_BillingPeriod`` or a day).
        team: stack column (e.g. ``x_Team``, ``x_Feature``).
        cost: money column.
        currency: currency column; several currencies give one panel each.
        title: chart title.

    Returns:
        An Altair chart.

    Example:
        >>> df = pd.DataFrame({"x_BillingPeriod": ["2025-06", "2025-06"], "x_Team": ["ml", None],
        ...                    "BilledCost": [Decimal("1"), Decimal("2")]})
        >>> sorted(r["Team"] for r in cost_by_team_stacked(df, currency=None).data.to_dict("records"))
        ['(unattributed)', 'ml']
    """
    _require(df, period, team, cost)
    work = pd.DataFrame({"Period": df[period].astype(str), "Team": _label(df[team]), "Cost": df[cost]})
    keys = ["Period", "Team"]
    if currency and currency in df.columns:
        work["Currency"] = df[currency].astype(str)
        keys.append("Currency")
    data = _aggregate(work, keys, "Cost")
    cur_col = "Currency" if "Currency" in data.columns else None
    chart = alt.Chart(data).mark_bar().encode(
        x=alt.X("Period:O", title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("sum(Cost):Q", title=_currency_title(data, cur_col, "Cost"), axis=alt.Axis(format=",.2~f"),
                stack="zero"),
        color=alt.Color("Team:N", title="Team"),
        order=alt.Order("Team:N"),
        tooltip=["Period:O", "Team:N", alt.Tooltip("sum(Cost):Q", format=",.2f", title="Cost")]
        + ([alt.Tooltip("Currency:N")] if cur_col else []),
    )
    return _per_currency(chart, data, cur_col, title)


def top_services_bar(df: pd.DataFrame, *, service: str = "ServiceName", cost: str = "BilledCost",
                     currency: str | None = "BillingCurrency", n: int = 10,
                     title: str = "Top services by cost") -> alt.Chart:
    """Horizontal bars of the ``n`` most expensive services; the rest are one
    ``(N other services)`` bar so the chart still adds up to the total.

    Args:
        df: tidy rows with ``service``, ``cost`` (and ``currency``). Not mutated.
        service: category column.
        cost: money column.
        currency: currency column; the top ``n`` is chosen per currency.
        n: number of named bars.
        title: chart title.

    Returns:
        An Altair chart.

    Example:
        >>> df = pd.DataFrame({"ServiceName": list("abc"), "BilledCost": [Decimal(3), Decimal(2), Decimal(1)]})
        >>> [r["Service"] for r in top_services_bar(df, n=2, currency=None).data.to_dict("records")]
        ['a', 'b', '(1 other services)']
    """
    _require(df, service, cost)
    if n < 1:
        raise ValueError("n must be at least 1")
    work = pd.DataFrame({"Service": _label(df[service]), "Cost": df[cost]})
    keys = ["Service"]
    has_cur = bool(currency and currency in df.columns)
    if has_cur:
        work["Currency"] = df[currency].astype(str)
        keys = ["Currency", "Service"]
    data = _aggregate(work, keys, "Cost")
    parts = []
    groups = data.groupby("Currency", sort=True) if has_cur else [(None, data)]
    for cur, g in groups:
        g = g.sort_values(["Cost", "Service"], ascending=[False, True])
        top, rest = g.head(n), g.iloc[n:]
        if len(rest):
            other = {"Service": f"({len(rest)} other services)", "Cost": float(rest["Cost"].sum())}
            if has_cur:
                other["Currency"] = cur
            top = pd.concat([top, pd.DataFrame([other])], ignore_index=True)
        top = top.assign(Rank=range(len(top)))
        parts.append(top)
    data = pd.concat(parts, ignore_index=True) if parts else data.assign(Rank=pd.Series(dtype="int64"))
    cur_col = "Currency" if has_cur else None
    chart = alt.Chart(data).mark_bar(color=PALETTE["primary"]).encode(
        y=alt.Y("Service:N", title=None, sort=alt.SortField("Rank", order="ascending")),
        x=alt.X("Cost:Q", title=_currency_title(data, cur_col, "Cost"), axis=alt.Axis(format=",.2~f", tickCount=5)),
        tooltip=["Service:N", alt.Tooltip("Cost:Q", format=",.2f")] + ([alt.Tooltip("Currency:N")] if cur_col else []),
    )
    return _per_currency(chart, data, cur_col, title, independent=("x", "y"))


def save_chart(chart: alt.TopLevelMixin, path: str | Path, *, scale: float = 2.0) -> Path:
    """Write a chart to a standalone file with vl-convert (no browser, no network).

    The format follows the suffix: ``.png`` (``scale`` x pixels), ``.svg``, ``.pdf``,
    ``.html`` (self-contained, JavaScript inlined, about 900 KB) or ``.json`` (the spec).

    Args:
        chart: an Altair chart.
        path: output file; its folder must exist.
        scale: PNG scale factor.

    Returns:
        The path written.

    Raises:
        ValueError: unknown suffix.

    Example:
        >>> import tempfile, os
        >>> c = alt.Chart(pd.DataFrame({"x": [1, 2]})).mark_point().encode(x="x:Q")
        >>> p = save_chart(c, os.path.join(tempfile.mkdtemp(), "c.svg"))
        >>> p.read_text().startswith("<svg")
        True
    """
    import vl_convert as vlc

    path = Path(path)
    suffix = path.suffix.lower()
    with alt.theme.enable(alt.theme.active if alt.theme.active != "default" else THEME):
        spec = chart.to_dict()
    if suffix == ".png":
        path.write_bytes(vlc.vegalite_to_png(spec, scale=scale))
    elif suffix == ".svg":
        path.write_text(vlc.vegalite_to_svg(spec), encoding="utf-8")
    elif suffix == ".pdf":
        path.write_bytes(vlc.vegalite_to_pdf(spec))
    elif suffix in (".html", ".htm"):
        path.write_text(vlc.vegalite_to_html(spec, bundle=True), encoding="utf-8")
    elif suffix == ".json":
        path.write_text(json.dumps(spec, indent=1, default=str), encoding="utf-8")
    else:
        raise ValueError(f"{path}: unknown chart format {suffix!r} (use .png, .svg, .pdf, .html or .json)")
    return path
