"""The finance workbook: real Excel tables, money formatted in each row's own currency,
live totals per currency, a native chart on the Summary sheet and an About sheet that says
where every number came from.

Written with openpyxl. Every sheet is an Excel table (ListObject) with filters and a frozen
header. Money columns are written as numbers (``Decimal`` converted once, at the cell) and
formatted with the currency of their row; the totals rows below each table are live formulas
(``SUMPRODUCT`` over the rows whose currency equals the totals row's currency cell), so a
workbook never adds dollars to euros and never stores a stale total.

Security: text that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
written as a string with Excel's quote prefix, so nothing read from a billing export can
become a formula (CSV/formula injection). Characters XML cannot hold are replaced by U+FFFD
and line ends are written as LF.

Example:
    >>> import tempfile, pandas as pd
    >>> from decimal import Decimal
    >>> from openpyxl import load_workbook
    >>> from aifinops.excel import write_workbook
    >>> df = pd.DataFrame({"ProviderName": ["AWS", "=HYPERLINK(1)"], "BillingCurrency": ["USD", "EUR"],
    ...                    "BilledCost": [Decimal("12.5"), Decimal("3")]})
    >>> p = write_workbook(tempfile.mkdtemp() + "/w.xlsx", {"Summary": df}, about={"period": "2025-06"})
    >>> wb = load_workbook(p)
    >>> ws = wb["Summary"]
    >>> ws["A3"].value, ws["A3"].data_type, ws["C2"].number_format
    ('=HYPERLINK(1)', 's', '"$"#,##0.00####')
    >>> ws["C5"].value
    '=SUMPRODUCT(($B$2:$B$3=B5)*C$2:C$3)'
    >>> list(ws.tables), ws.freeze_panes
    (['tblSummary'], 'A2')
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.table import Table, TableStyleInfo

from .errors import MissingColumnError
from .paths import safe_output_path

__all__ = [
    "FORMULA_PREFIXES",
    "CURRENCY_COLUMNS",
    "write_workbook",
    "neutralize",
    "currency_format",
    "sheet_title",
]

log = logging.getLogger(__name__)

#: first characters that make a spreadsheet treat text as a formula (OWASP CSV injection)
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
#: currency columns looked for, in order, when a money column's currency is not given
CURRENCY_COLUMNS: tuple[str, ...] = ("BillingCurrency", "Currency", "currency", "PricingCurrency")

_MAX_ROWS = 1_048_575  # Excel's row limit minus the header
_MAX_TEXT = 32_767
_SYMBOLS = {"USD": '"$"', "EUR": '"€"', "GBP": '"£"', "JPY": '"¥"', "INR": '"₹"'}
_NO_DECIMALS = {"JPY", "KRW", "CLP", "ISK", "VND"}
_TABLE_STYLE = "TableStyleMedium2"
_BOLD = Font(bold=True)


def currency_format(code: object, *, precise: bool = True) -> str:
    """Excel number format for an amount in ``code``.

    Args:
        code: ISO 4217 code (anything else gets a plain number format).
        precise: show up to 4 more decimals when the amount has them (token prices are tiny).

    Returns:
        An Excel number-format string.

    Example:
        >>> currency_format("USD"), currency_format("CHF", precise=False), currency_format('x"')
        ('"$"#,##0.00####', '#,##0.00 "CHF"', '#,##0.00####')
    """
    code = str(code).strip().upper() if code is not None and not _isnull(code) else ""
    if not re.fullmatch(r"[A-Z]{3}", code):
        return "#,##0.00####" if precise else "#,##0.00"
    num = "#,##0" if code in _NO_DECIMALS else "#,##0.00"
    if precise:
        num += "####"
    if code in _SYMBOLS:
        return f"{_SYMBOLS[code]}{num}"
    return f'{num} "{code}"'


def neutralize(value: str) -> tuple[str, bool]:
    """Make ``value`` safe to write as cell text.

    Args:
        value: any text.

    Returns:
        ``(text, needs_quote_prefix)``: the text with XML-illegal control characters replaced
        by U+FFFD, line ends as ``\\n`` (XML turns CR into LF when read) and cut to Excel's
        32,767 characters; and whether it starts like a formula.

    Example:
        >>> neutralize("=1+1"), neutralize("ok"), neutralize("a\\x00b")
        (('=1+1', True), ('ok', False), ('a\\ufffdb', False))
    """
    text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    quote = text.startswith(FORMULA_PREFIXES)
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # XML reads CR as LF anyway
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 1] + "…"
    return text, quote


def sheet_title(name: str, taken: Iterable[str] = ()) -> str:
    """A valid, unique Excel sheet name (no ``[]:*?/\\``, at most 31 characters).

    Example:
        >>> sheet_title("Cost/by:team [USD]"), sheet_title("Summary", ["Summary"])
        ('Cost_by_team _USD_', 'Summary (2)')
    """
    base = re.sub(r"[\[\]:*?/\\]", "_", str(name)).strip().strip("'") or "Sheet"
    if base.lower() == "history":
        base = "History_"
    base = base[:31]
    lower = {t.lower() for t in taken}
    title, i = base, 2
    while title.lower() in lower:
        suffix = f" ({i})"
        title, i = base[: 31 - len(suffix)] + suffix, i + 1
    return title


def _isnull(v: object) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    if isinstance(v, Decimal):
        return v.is_nan()
    if isinstance(v, np.generic):
        return bool(pd.isna(v))
    return False


def _cell_value(v: object) -> tuple[object, str | None]:
    """(value for openpyxl, kind) where kind is 'text', 'date', 'num', 'int' or None."""
    if _isnull(v):
        return None, None
    if isinstance(v, (bool, np.bool_)):
        return bool(v), None
    if isinstance(v, Decimal):
        return float(v), "num"
    if isinstance(v, (int, np.integer)):
        return int(v), "int"
    if isinstance(v, (float, np.floating)):
        return (float(v) if math.isfinite(float(v)) else str(v)), "num"
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, np.datetime64):
        v = pd.Timestamp(v).to_pydatetime()
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return v, "date"
    if isinstance(v, dt.date):
        return v, "date"
    return str(v), "text"


def _write_text(cell, value: str) -> None:
    text, quote = neutralize(value)
    cell.value = text
    cell.data_type = "s"  # never 'f', whatever the text looks like
    if quote:
        cell.quotePrefix = True


def _money_map(df: pd.DataFrame, money_columns, currency_column: str | Iterable[str] | None,
               sheet: str) -> dict[str, str | None]:
    """money column -> its currency column, for the columns present in ``df``."""
    if isinstance(money_columns, Mapping):
        pairs = {m: c for m, c in money_columns.items() if m in df.columns}
    else:
        if money_columns is None:
            names = [c for c in df.columns if _first_is_decimal(df[c])]
        else:
            names = [c for c in money_columns if c in df.columns]
        cands = [currency_column] if isinstance(currency_column, str) else list(currency_column or CURRENCY_COLUMNS)
        found = next((c for c in cands if c in df.columns), None)
        pairs = {m: found for m in names}
    for m, c in pairs.items():
        if c is None or c not in df.columns:
            raise MissingColumnError(f"money column {m!r} has no currency column in sheet {sheet!r} "
                                     f"(amounts must travel with their currency)", column=str(m), file=sheet)
    return pairs


def _first_is_decimal(s: pd.Series) -> bool:
    nn = s.dropna()
    return len(nn) > 0 and isinstance(nn.iloc[0], Decimal)


def _unique_headers(cols: Iterable[object]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for c in cols:
        name = str(c) if str(c).strip() else "Column"
        base, i = name, 2
        while name.lower() in seen:
            name, i = f"{base} ({i})", i + 1
        seen.add(name.lower())
        out.append(name)
    return out


def _table_name(title: str, taken: set[str]) -> str:
    base = "tbl" + (re.sub(r"[^A-Za-z0-9_]", "_", title) or "Sheet")
    name, i = base[:200], 2
    while name.lower() in taken:
        name, i = f"{base[:200]}_{i}", i + 1
    taken.add(name.lower())
    return name


def _width(v: object, kind: str | None) -> int:
    if v is None:
        return 0
    if kind in ("num", "int"):
        return len(f"{v:,.2f}") + 3
    if kind == "date":
        return 17
    return max((len(line) for line in str(v).splitlines()), default=0)


def _write_sheet(ws, df: pd.DataFrame, money: dict[str, str | None], table_names: set[str],
                 totals: bool, sample_rows: int = 500) -> dict[str, Any]:
    headers = _unique_headers(df.columns)
    ncols, nrows = len(headers), len(df)
    if nrows > _MAX_ROWS:
        raise ValueError(f"sheet {ws.title!r} has {nrows} rows; Excel holds at most {_MAX_ROWS}")
    widths = [max(8, len(h) + 3) for h in headers]
    for j, h in enumerate(headers, start=1):
        _write_text(ws.cell(row=1, column=j), h)
    col_index = {c: j for j, c in enumerate(df.columns, start=1)}
    money_idx = {col_index[m]: (col_index[c] if c is not None else None) for m, c in money.items()}
    date_has_time: dict[int, bool] = {}
    values = df.to_numpy(dtype=object, copy=False) if ncols else np.empty((nrows, 0), dtype=object)
    for i in range(nrows):
        row = values[i]
        for j in range(1, ncols + 1):
            raw = row[j - 1]
            v, kind = _cell_value(raw)
            if v is None:
                continue
            cell = ws.cell(row=i + 2, column=j)
            if kind == "text":
                _write_text(cell, v)
            else:
                cell.value = v
                if j in money_idx and kind in ("num", "int"):
                    cur_j = money_idx[j]
                    cell.number_format = currency_format(row[cur_j - 1] if cur_j else None)
                elif kind == "int":
                    cell.number_format = "#,##0"
                elif kind == "date":
                    if isinstance(v, dt.datetime) and (v.hour or v.minute or v.second):
                        date_has_time[j] = True
                    date_has_time.setdefault(j, False)
            if i < sample_rows:
                widths[j - 1] = max(widths[j - 1], _width(v, kind) + 2)
    for j, has_time in date_has_time.items():
        fmt = "yyyy-mm-dd hh:mm:ss" if has_time else "yyyy-mm-dd"
        for (cell,) in ws.iter_rows(min_row=2, max_row=nrows + 1, min_col=j, max_col=j):
            if cell.value is not None and cell.data_type == "d":
                cell.number_format = fmt
    last = max(nrows, 1) + 1  # a table needs at least one data row
    if ncols:
        ref = f"A1:{get_column_letter(ncols)}{last}"
        table = Table(displayName=_table_name(ws.title, table_names), ref=ref)
        table.tableStyleInfo = TableStyleInfo(name=_TABLE_STYLE, showRowStripes=True, showColumnStripes=False,
                                              showFirstColumn=False, showLastColumn=False)
        ws.add_table(table)
    ws.freeze_panes = "A2"
    info: dict[str, Any] = {"rows": nrows, "last_row": last, "totals": []}
    if totals and money and nrows:
        info["totals"] = _write_totals(ws, df, money_idx, last, ncols, widths)
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(60, w)
    return info


def _write_totals(ws, df: pd.DataFrame, money_idx: dict[int, int | None], last: int, ncols: int,
                  widths: list[int]) -> list[dict[str, Any]]:
    """One totals row per currency, two rows below the table; live formulas."""
    cur_cols = sorted({c for c in money_idx.values() if c is not None})
    currencies: list[object] = []
    for cj in cur_cols:
        for v in df.iloc[:, cj - 1].tolist():
            key = None if _isnull(v) else str(v)
            if key not in currencies:
                currencies.append(key)
    currencies.sort(key=lambda c: (c is None, c or ""))
    label_col = next((j for j in range(1, ncols + 1) if j not in money_idx and j not in cur_cols), None)
    rows = []
    r = last + 2
    for cur in currencies:
        if label_col is not None:
            ws.cell(row=r, column=label_col, value="Total" if cur is not None else "Total (no currency)").font = _BOLD
        for cj in cur_cols:
            if cur is not None:
                _write_text(ws.cell(row=r, column=cj), cur)
                ws.cell(row=r, column=cj).font = _BOLD
        for mj, cj in money_idx.items():
            col = get_column_letter(mj)
            ccol = get_column_letter(cj)
            formula = f"=SUMPRODUCT((${ccol}$2:${ccol}${last}={ccol}{r})*{col}$2:{col}${last})"
            cell = ws.cell(row=r, column=mj, value=formula)
            cell.number_format = currency_format(cur, precise=False)
            cell.font = _BOLD
            widths[mj - 1] = max(widths[mj - 1], 16)
        rows.append({"row": r, "currency": cur})
        r += 1
    return rows


def _add_chart(ws, df: pd.DataFrame, money: dict[str, str | None], spec: Mapping[str, Any] | None,
               last: int) -> int:
    """Native bar chart(s) on a sheet: one per currency whose rows are contiguous."""
    spec = dict(spec or {})
    if not len(df) or not money:
        return 0
    value = spec.get("value") or next(iter(money))
    if value not in df.columns:
        raise MissingColumnError(f"chart value column {value!r} not in sheet {ws.title!r}", column=str(value))
    cur_col = money.get(value)
    category = spec.get("category") or next(
        (c for c in df.columns if c not in money and c != cur_col and not pd.api.types.is_numeric_dtype(df[c])),
        df.columns[0])
    cols = list(df.columns)
    vj, cj = cols.index(value) + 1, cols.index(category) + 1
    cur_vals = [None if _isnull(v) else str(v) for v in df[cur_col].tolist()] if cur_col else [None] * len(df)
    runs: list[tuple[object, int, int]] = []  # (currency, first row, last row) in sheet rows
    for i, c in enumerate(cur_vals):
        if runs and runs[-1][0] == c and runs[-1][2] == i + 1:
            runs[-1] = (c, runs[-1][1], i + 2)
        else:
            runs.append((c, i + 2, i + 2))
    counts: dict[object, int] = {}
    for c, _, _ in runs:
        counts[c] = counts.get(c, 0) + 1
    anchor_col = get_column_letter(len(cols) + 2)
    made = 0
    for c, r0, r1 in runs:
        if counts[c] > 1:
            log.info("sheet %s: rows of currency %s are not contiguous; no chart for it", ws.title, c)
            continue
        chart = BarChart()
        chart.type = "bar"
        chart.style = 10
        base = spec.get("title") or f"{value} by {category}"
        chart.title = f"{base} ({c})" if c else base
        chart.y_axis.title = c or value
        chart.y_axis.numFmt = currency_format(c, precise=False)
        chart.legend = None
        chart.height, chart.width = 7.5 + 0.3 * min(r1 - r0, 30), 16
        data = Reference(ws, min_col=vj, min_row=r0, max_row=r1)
        cats = Reference(ws, min_col=cj, min_row=r0, max_row=r1)
        chart.add_data(data, titles_from_data=False)
        chart.set_categories(cats)
        ws.add_chart(chart, f"{anchor_col}{2 + made * 18}")
        made += 1
    return made


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, Mapping):
        if not value:
            out.append((prefix, ""))
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)) and value and any(isinstance(v, (Mapping, list, tuple)) for v in value):
        for i, v in enumerate(value, start=1):
            _flatten(f"{prefix}[{i}]", v, out)
    elif isinstance(value, (list, tuple)):
        out.append((prefix, ", ".join(map(str, value))))
    else:
        out.append((prefix, value))


def _about_frame(about: Mapping[str, Any]) -> pd.DataFrame:
    from importlib import metadata
    import platform

    items: list[tuple[str, Any]] = []
    _flatten("", dict(about), items)
    keys = {k for k, _ in items}
    if "aifinops_version" not in keys:
        try:
            items.append(("aifinops_version", metadata.version("aifinops")))
        except metadata.PackageNotFoundError:
            items.append(("aifinops_version", "not installed"))
    if "written_at" not in keys:
        items.append(("written_at", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")))
    if "python_version" not in keys:
        items.append(("python_version", platform.python_version()))
    return pd.DataFrame({"Item": [k for k, _ in items],
                         "Value": [v if isinstance(v, (int, float, Decimal, bool)) or v is None else str(v)
                                   for _, v in items]})


def write_workbook(path: str | Path, sheets: Mapping[str, pd.DataFrame], *, about: Mapping[str, Any],
                   money_columns: Mapping[str, str] | Iterable[str] | None = None,
                   currency_column: str | Iterable[str] | None = None, root: str | Path | None = None,
                   chart_sheet: str | None = "Summary", chart: Mapping[str, Any] | None = None,
                   totals: bool | Iterable[str] = True) -> Path:
    """Write a finance workbook.

    Args:
        path: the ``.xlsx`` to write. With ``root``, a name relative to ``root``.
        sheets: sheet name -> frame, in order. Frames are not mutated. Names are made valid
            and unique (see :func:`sheet_title`).
        about: provenance written to the last sheet, ``About`` (nested dicts and lists are
            flattened to ``a.b`` / ``a[1]`` keys): parameters, input file hashes,
            price-catalogue version... ``aifinops_version``, ``python_version`` and
            ``written_at`` are added when missing.
        money_columns: which columns hold money. A mapping gives each one's currency column;
            a list uses ``currency_column``; ``None`` takes every column holding ``Decimal``.
        currency_column: the currency column (or candidates, first present wins) for money
            columns given as a list; default :data:`CURRENCY_COLUMNS`.
        root: output folder ``path`` must stay inside (raises :class:`UnsafePathError`).
        chart_sheet: sheet that gets a native bar chart (skipped if absent or empty).
        chart: ``{"category": col, "value": money col, "title": str}`` for that chart;
            defaults to the first text column and the first money column.
        totals: write live per-currency totals under each table with money: ``True`` for
            every sheet, or the names of the sheets that get them (a sheet whose rows mix
            different measures, like a reconciliation table, should not be totalled).

    Returns:
        The path written.

    Raises:
        MissingColumnError: a money column has no currency column.
        UnsafePathError: ``path`` escapes ``root``.

    Example:
        >>> import tempfile, pandas as pd
        >>> root = tempfile.mkdtemp()
        >>> p = write_workbook("out.xlsx", {"Data": pd.DataFrame({"a": [1]})}, about={}, root=root)
        >>> p.name
        'out.xlsx'
    """
    path = safe_output_path(root, path) if root is not None else Path(path)
    wb = Workbook()
    wb.remove(wb.active)
    titles: list[str] = []
    table_names: set[str] = set()
    for name, df in sheets.items():
        title = sheet_title(name, titles)
        titles.append(title)
        ws = wb.create_sheet(title)
        money = _money_map(df, money_columns, currency_column, title)
        with_totals = totals if isinstance(totals, bool) else str(name) in set(totals)
        info = _write_sheet(ws, df, money, table_names, with_totals)
        if chart_sheet is not None and str(name) == chart_sheet:
            _add_chart(ws, df, money, chart, info["last_row"])
    about_title = sheet_title("About", titles)
    ws = wb.create_sheet(about_title)
    _write_sheet(ws, _about_frame(about), {}, table_names, totals=False)
    ws.column_dimensions["B"].width = 80
    for (cell,) in ws.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.alignment = Alignment(wrap_text=False, horizontal="left")
    wb.calculation.fullCalcOnLoad = True
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
