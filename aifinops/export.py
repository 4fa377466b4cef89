"""FOCUS 1.2 export of the ledger, as CSV (optionally gzip/zstd-compressed) or Parquet.

Only billed cost is exported: rows whose ``x_CostAuthority`` is ``invoice`` (usage-only rows
and gateway estimates would count spend twice next to the invoices; see ``authority``).
The file holds exactly the 57 FOCUS 1.2 Cost and Usage columns in specification order
(:data:`aifinops.schema.FOCUS_12_COLUMNS`), followed by the ledger's custom columns, all
prefixed ``x_`` as FOCUS requires: aifinops' own (lineage, AI, GPU, attribution, the
``x_BillingPeriod`` partition key) and the provider columns loaders kept. FOCUS 1.3-only
columns are not 1.2 columns: those that hold a value anywhere are kept as
``x_<Name>`` (e.g. ``x_HostProviderName``), empty ones are left out.

Values:

* timestamps: ISO 8601 UTC ``YYYY-MM-DDTHH:MM:SSZ`` (CSV); ``TIMESTAMP`` adjusted to UTC
  (Parquet);
* decimals: exact, plain notation, trailing zeros trimmed (``0.1``, never ``1E-1`` or a
  float repr) in CSV; ``DECIMAL(38,18)`` in Parquet;
* ``Tags`` and ``SkuPriceDetails``: valid JSON objects (minified); a ledger value that is
  not a JSON object stops the export with an :class:`~aifinops.errors.InvalidValueError`
  naming the source file, row and column;
* ``ServiceSubcategory``: FOCUS 1.2 does not allow null; a row whose loader knew no
  subcategory takes its service's one subcategory in the ledger if there is exactly one,
  else the specification's catch-all ``Other (<ServiceCategory>)``;
* null: an empty field (CSV) or a Parquet null.

The export streams through DuckDB ``COPY`` (the ledger is never loaded into memory) into a
temporary file beside the target, renamed over it only when complete, so the output path
never holds half a file.

Example:
    >>> import tempfile, pathlib
    >>> from aifinops.ingest import ingest
    >>> from aifinops.export import export
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "f.csv").write_text("BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory\\n"
    ...                              "1.10,2025-01-03,USD,Usage\\n")
    >>> _ = ingest([d / "f.csv"], d / "ledger")
    >>> out = export(d / "ledger", d / "focus.csv", fmt="focus-csv")
    >>> header, row = out.read_text().splitlines()
    >>> header.split(",")[:3]
    ['AvailabilityZone', 'BilledCost', 'BillingAccountId']
    >>> row.split(",")[1], row.split(",")[7]
    ('1.1', '2025-01-01T00:00:00Z')
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from . import schema
from .errors import InvalidValueError, LedgerError
from .ledger import Ledger
from .sql import case_map, lit, q

__all__ = ["export", "export_columns", "FORMATS", "JSON_COLUMNS", "TIMESTAMP_FORMAT"]

#: export formats: name -> DuckDB COPY format
FORMATS: dict[str, str] = {"focus-csv": "csv", "focus-parquet": "parquet"}

#: FOCUS columns holding JSON (key-value format)
JSON_COLUMNS: tuple[str, ...] = ("Tags", "SkuPriceDetails")

#: FOCUS Date/Time format (ISO 8601, UTC, seconds)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


_CSV_COMPRESSION = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd"}


def _csv_text(expr: str, sql_type: str) -> str:
    """SQL rendering one value as FOCUS CSV text (NULL stays NULL)."""
    t = sql_type.upper()
    if t.startswith("DECIMAL"):
        # DECIMAL -> VARCHAR is plain notation with the type's scale; trim its trailing zeros
        s = f"CAST({expr} AS VARCHAR)"
        return f"CASE WHEN contains({s}, '.') THEN rtrim(rtrim({s}, '0'), '.') ELSE {s} END"
    if t.startswith("TIMESTAMP"):
        ts = f"timezone('UTC', {expr})" if "TIME ZONE" in t or t == "TIMESTAMPTZ" else expr
        return f"strftime({ts}, {lit(TIMESTAMP_FORMAT)})"
    if t == "DATE":
        return f"strftime({expr}, '%Y-%m-%d')"
    if t in ("DOUBLE", "FLOAT", "REAL"):
        # a float that reached the ledger (never money): shortest exact decimal text
        return f"CAST(CAST({expr} AS DECIMAL(38,18)) AS VARCHAR)"
    if t.startswith(("STRUCT", "MAP")) or t.endswith("[]") or t == "JSON":
        return f"CAST(to_json({expr}) AS VARCHAR)"
    return f"CAST({expr} AS VARCHAR)"


def _parquet_value(expr: str, sql_type: str) -> str:
    t = sql_type.upper()
    if t.startswith("TIMESTAMP") and "TIME ZONE" not in t and t != "TIMESTAMPTZ":
        return f"CAST({expr} AS TIMESTAMPTZ)"
    if t.startswith(("STRUCT", "MAP")) or t.endswith("[]") or t == "JSON":
        return f"CAST(to_json({expr}) AS VARCHAR)"
    return expr


def _subcategory_sql(con, relation: str) -> str:
    """FOCUS 1.2 ServiceSubcategory is not nullable and belongs to the service (one per
    ServiceName). A ledger row without one (its loader or the AI classifier knew none) takes
    the subcategory the ledger gives its service, when there is exactly one, else the
    specification's catch-all ``Other (<ServiceCategory>)``."""
    known = con.execute(
        f"SELECT ServiceName, min(ServiceSubcategory) FROM {relation} WHERE ServiceSubcategory IS NOT NULL "
        f"GROUP BY 1 HAVING count(DISTINCT ServiceSubcategory) = 1 ORDER BY 1").fetchall()
    fallback = "'Other (' || \"ServiceCategory\" || ')'"
    by_service = case_map('"ServiceName"', dict(known), default=fallback) if known else fallback
    return f'COALESCE("ServiceSubcategory", {by_service})'


def export_columns(con, relation: str = "ledger") -> list[tuple[str, str, str]]:
    """The export's columns: ``(output name, ledger column or None, ledger type)`` in file
    order. FOCUS 1.2 columns first (spec order), then ``x_`` columns.

    Args:
        con: a DuckDB connection where ``relation`` is the ledger view.
        relation: name of the view.
    """
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE {relation}").fetchall()}
    cols: list[tuple[str, str, str]] = []
    for name in schema.FOCUS_12_COLUMNS:
        cols.append((name, name if name in types else None, types.get(name, schema.COLUMNS[name].sql_type)))
    present_13 = [c for c in schema.FOCUS_13_COLUMNS if c in types]
    if present_13:
        counts = con.execute(
            f"SELECT {', '.join(f'count({q(c)})' for c in present_13)} FROM {relation}").fetchall()[0]
        kept13 = {c for c, n in zip(present_13, counts) if n}
    else:
        kept13 = set()
    taken = {c[0] for c in cols}
    for name in schema.FOCUS_13_COLUMNS:
        if name in kept13:
            out = f"x_{name}"
            cols.append((out, name, types[name]))
            taken.add(out)
    # aifinops' own x_ columns in schema order, then loader-kept x_ columns as they come
    for name in list(schema.X_COLUMNS) + [c for c in types if c not in schema.COLUMNS]:
        if name in taken or name not in types:
            continue
        out = name if name.startswith("x_") else f"x_{name}"
        if out in taken:
            continue
        cols.append((out, name, types[name]))
        taken.add(out)
    return cols


def _check_json(con, relation: str, column: str) -> None:
    """Raise on the first ledger value of a JSON column that is not a JSON object."""
    c = q(column)
    bad = con.execute(
        f"SELECT x_SourceFile, x_SourceRow, {c} FROM {relation} WHERE {c} IS NOT NULL "
        f"AND (NOT json_valid({c}) OR json_type({c}) <> 'OBJECT') LIMIT 1").fetchall()
    if bad:
        f, row, value = bad[0]
        raise InvalidValueError(value, file=f, row=row, column=column)


def export(ledger_dir: str | Path, out: str | Path, *, fmt: str = "focus-csv",
           where: str | None = None, authority: Iterable[str] | None = ("invoice",),
           memory_limit: str | None = None,
           temp_directory: str | None = None) -> Path:
    """Write the ledger as one FOCUS 1.2 file.

    Args:
        ledger_dir: the ledger folder.
        out: the file to write (replaced atomically if it exists). For CSV a ``.gz`` or
            ``.zst`` suffix compresses it.
        fmt: ``focus-csv`` or ``focus-parquet``.
        where: optional SQL filter over ledger columns, e.g. ``"x_BillingPeriod = '2025-06'"``.
        authority: rows whose ``x_CostAuthority`` is one of these (default: ``invoice``, the
            billed cost). Usage-only rows (token counts priced later) and gateway estimates
            would count spend twice next to the invoices; ``None`` exports every row.
        memory_limit, temp_directory: engine limits for out-of-core exports.

    Returns:
        The path written.

    Raises:
        LedgerError: no ledger at ``ledger_dir``.
        ValueError: unknown ``fmt`` or ``out`` is a folder.
        InvalidValueError: a ``Tags``/``SkuPriceDetails`` value is not a JSON object
            (names the source file and row).

    Example:
        >>> import tempfile
        >>> export(tempfile.mkdtemp() + "/missing", "x.csv")
        Traceback (most recent call last):
        ...
        aifinops.errors.LedgerError: .../missing: no ledger here (ingest something first)
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")
    ledger_dir, out = Path(ledger_dir), Path(out)
    if not ledger_dir.is_dir():
        raise LedgerError("no ledger here (ingest something first)", file=str(ledger_dir))
    if out.is_dir():
        raise ValueError(f"{out}: is a folder; give a file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(ledger_dir)
    con = ledger.connect(memory_limit=memory_limit, temp_directory=temp_directory)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    try:
        conds = [f"({where})"] if where else []
        if authority is not None:
            conds.append(f"x_CostAuthority IN ({', '.join(lit(a) for a in authority) or 'NULL'})")
        relation = "ledger"
        if conds:
            con.execute(f"CREATE TEMP VIEW ledger_export AS SELECT * FROM ledger WHERE {' AND '.join(conds)}")
            relation = "ledger_export"
        for c in JSON_COLUMNS:
            _check_json(con, relation, c)
        cols = export_columns(con, relation)
        sel = []
        for out_name, src, sql_type in cols:
            if src is None:
                expr = f"CAST(NULL AS {sql_type})"
            elif src in JSON_COLUMNS:
                expr = f"CAST(json({q(src)}) AS VARCHAR)"
            elif src == "ServiceSubcategory":
                expr = _subcategory_sql(con, relation)
            else:
                expr = q(src)
            if fmt == "focus-csv":
                expr = "CAST(NULL AS VARCHAR)" if src is None else _csv_text(expr, sql_type if src not in JSON_COLUMNS else "VARCHAR")
            else:
                expr = _parquet_value(expr, sql_type)
            sel.append(f"{expr} AS {q(out_name)}")
        select = f"SELECT {', '.join(sel)} FROM {relation}"
        if fmt == "focus-csv":
            opts = ["FORMAT csv", "HEADER true", "DELIMITER ','", "QUOTE '\"'", "ESCAPE '\"'", "NULLSTR ''"]
            comp = _CSV_COMPRESSION.get(out.suffix.lower())
            opts.append(f"COMPRESSION {comp}" if comp else "COMPRESSION none")
        else:
            opts = ["FORMAT parquet", "COMPRESSION zstd"]
        con.execute(f"COPY ({select}) TO {lit(str(tmp))} ({', '.join(opts)})")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    finally:
        con.close()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return out
