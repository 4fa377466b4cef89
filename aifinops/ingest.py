"""The ingest pipeline, the same for every format::

    detect -> plan (loader) -> checks -> attribution (tag map) -> AI/GPU classification
           -> Parquet in staging -> reconciliation -> atomic commit to the ledger

Everything runs in DuckDB, streaming and out-of-core; no file is ever loaded whole into
pandas. Per file: rows that fail a check or lack a mandatory FOCUS value go to the
quarantine with their reason; the source total of every reconciled column, per currency,
must equal the ledger total plus the quarantined total exactly, or the file is rejected
and the ledger is left as it was.

Example:
    >>> import tempfile, pathlib
    >>> from aifinops.ingest import ingest
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "f.csv").write_text("BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory\\n"
    ...                              "1.10,2025-01-03,USD,Usage\\n2.205,2025-01-04,USD,Usage\\n")
    >>> rep = ingest([d / "f.csv"], d / "ledger")
    >>> f = rep.files[0]
    >>> (f.format, f.rows, f.quarantined, f.status, str(f.recon[0]["ledger_total"]))
    ('focus', 2, 0, 'ok', '3.305')
"""

from __future__ import annotations

import contextlib
import decimal
import functools
import hashlib
import inspect
import json
import multiprocessing
import os
import re
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from . import __version__, schema
from .classify import load_rules, rules_sql
from .engine import connect, env_threads
from .errors import (AifinopsError, ConfigError, FormatError, LedgerError, MissingColumnError, MixedCurrencyError,
                     ParseError, ReconciliationError, error_from_reason)
from .formats import detect, get_format
from .formats.base import IngestOptions, Plan, Probe, SourceFormat
from .ledger import Ledger, to_frame
from .money import trim
from .sql import Source, lit, q
from .tags import TagMap

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["ingest", "preview", "FileResult", "IngestReport", "file_hash", "EXIT_OK", "EXIT_PARTIAL",
           "EXIT_FATAL"]

EXIT_OK, EXIT_FATAL, EXIT_PARTIAL = 0, 1, 2
_ROW_ERRORS_KEPT = 20
#: files up to this size are mapped once into a temporary table (planning dominates there);
#: larger files stream through the mapping once per pass, out-of-core
SMALL_FILE_BYTES = 32 * 2**20
_COST_COLUMNS = set(schema.MONEY_COLUMNS)


@dataclass
class FileResult:
    """The outcome for one source file."""

    path: str
    format: str | None = None
    hash: str | None = None
    source_rows: int = 0
    rows: int = 0
    quarantined: int = 0
    status: str = "ok"  # ok | quarantined | rejected
    error: AifinopsError | None = None
    errors: list[ParseError] = field(default_factory=list)
    recon: list[dict] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    defaulted: list[str] = field(default_factory=list)
    seconds: float = 0.0
    unchanged: bool = False  # already in the ledger from an identical ingest; nothing rewritten

    def to_dict(self) -> dict:
        return {
            "path": self.path, "format": self.format, "hash": self.hash, "source_rows": self.source_rows,
            "rows": self.rows, "quarantined": self.quarantined, "status": self.status,
            "error": str(self.error) if self.error else None, "errors": [str(e) for e in self.errors],
            "recon": [{k: str(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in self.recon],
            "replaced": self.replaced, "defaulted": self.defaulted, "seconds": round(self.seconds, 3),
            "unchanged": self.unchanged,
        }


@dataclass
class IngestReport:
    """All files of one ingest run."""

    files: list[FileResult]

    @property
    def exit_code(self) -> int:
        """0 when every file reconciled with nothing quarantined, 2 otherwise."""
        return EXIT_OK if all(f.status == "ok" for f in self.files) else EXIT_PARTIAL

    def table(self) -> pd.DataFrame:
        rows = []
        for f in self.files:
            base = {"file": f.path, "format": f.format, "status": f.status, "rows": f.rows,
                    "quarantined": f.quarantined}
            if not f.recon:
                rows.append({**base, "column": None, "currency": None, "source_total": None,
                             "ledger_total": None, "quarantined_total": None, "difference": None})
            for r in f.recon:
                rows.append({**base, **{k: r[k] for k in ("column", "currency", "source_total", "ledger_total",
                                                           "quarantined_total", "difference")}})
        import pandas as pd  # imported on use: an ingest never needs pandas (0.5 s of its start)

        return pd.DataFrame(rows)


def file_hash(path: str | Path) -> str:
    """sha256 of a file's bytes, streamed."""
    return _scan(Path(path))[0]


_SCAN_BLOCK = 16 * 2**20


def _scan(path: Path, parts: int = 0) -> tuple[str, tuple[list[tuple[int, int]], int, bool] | None]:
    """One read of a file: its sha256 and, with ``parts`` > 1, where to cut it into about
    ``parts`` equal slices at line ends, after its first (header) line.

    The cuts come as ``(cuts, lines, ends_with_newline)``: ``cuts`` are ``(offset,
    lines_before)``, an offset just after a newline and the number of newlines before it,
    the first one just after the header line, ascending and distinct; ``lines`` counts the
    file's newlines. See :func:`_record_spans`.
    """
    import numpy as np

    h = hashlib.sha256()
    size = path.stat().st_size
    targets = [0] + [size * i // parts for i in range(1, parts)] if parts > 1 else []
    cuts: list[tuple[int, int]] = []
    lines = off = 0
    last = b""
    buf = bytearray(_SCAN_BLOCK)

    def count(k: int) -> int:  # newlines in the block (numpy releases the GIL, as hashlib does)
        return int(np.count_nonzero(np.frombuffer(buf, np.uint8, k) == 10))

    with open(path, "rb", buffering=0) as fh, ThreadPoolExecutor(1) as counter:
        while (k := fh.readinto(buf)) > 0:
            counted = counter.submit(count, k) if parts > 1 else None
            h.update(memoryview(buf)[:k])  # beside the count
            if counted is not None:
                while targets and targets[0] < off + k:
                    pos = buf.find(b"\n", max(targets[0] - off, 0), k)
                    if pos < 0:
                        break  # the line goes on in the next block
                    cut = (off + pos + 1, lines + buf.count(b"\n", 0, pos + 1))
                    if not cuts or cut[0] > cuts[-1][0]:
                        cuts.append(cut)
                    targets.pop(0)
                lines += counted.result()
                last = bytes(buf[k - 1:k])
            off += k
    if parts < 2:
        return h.hexdigest(), None
    return h.hexdigest(), ([c for c in cuts if c[0] < size], lines, last == b"\n")


def _parts_for(path: Path) -> int:
    """Into how many parts to cut a file while hashing it: one per DuckDB thread for a large
    file that is neither Parquet nor gzip (a CSV file may then be written in parts), else 0."""
    threads = env_threads() or os.cpu_count() or 1
    if threads < 2 or path.stat().st_size <= SMALL_FILE_BYTES:
        return 0
    with open(path, "rb") as fh:
        magic = fh.read(4)
    return 0 if magic == b"PAR1" or magic[:2] == b"\x1f\x8b" else threads


# -----------------------------------------------------------------------------------------
# SQL assembly
# -----------------------------------------------------------------------------------------

def _describe(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE {relation}").fetchall()}


def _reason_sql(plan: Plan) -> str:
    """The first failed check's reason, NULL for a good row. Written as a COALESCE of one
    CASE per check, not as one CASE with a WHEN per check: same result, but DuckDB
    evaluates the long CASE of complex conditions 2-3x slower (measured on legacy CUR:
    4.5 s against 2.0 s per million rows)."""
    reasons = [f"CASE WHEN {c.bad} THEN {lit(c.code + chr(9) + c.column + chr(9))} || "
               f"COALESCE(CAST({c.value} AS VARCHAR), '') END" for c in plan.checks if c.bad != "FALSE"]
    if not reasons:
        return "CAST(NULL AS VARCHAR)"
    return reasons[0] if len(reasons) == 1 else f"COALESCE({', '.join(reasons)})"


@functools.lru_cache(maxsize=4096)
def _enum_case(sql: str) -> str | None:
    """``sql`` rewritten to produce an ENUM of its values, when it is a CASE or COALESCE
    (possibly nested) whose every result is a text literal or NULL; else None. The literals
    become ENUM constants when DuckDB binds the query, so the rows carry ENUM values at no
    cost per row (see :meth:`_Pipeline.final` on why the Parquet writer wants them).

    Example:
        >>> _enum_case("CASE x WHEN 'a' THEN 'A' ELSE 'Other' END")
        "CASE x WHEN 'a' THEN CAST('A' AS ENUM('A', 'Other')) ELSE CAST('Other' AS ENUM('A', 'Other')) END"
        >>> _enum_case("COALESCE(x, 'Other')") is None
        True
    """
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(f"SELECT {sql}", read="duckdb")
    except sqlglot.errors.ParseError:
        return None
    literals: list = []

    def results(node) -> bool:
        node = node.unnest()
        if isinstance(node, exp.Null):
            return True
        if isinstance(node, exp.Literal) and node.is_string:
            literals.append(node)
            return True
        if isinstance(node, exp.Case):
            return all(results(i.args["true"]) for i in node.args["ifs"]) and (
                node.args.get("default") is None or results(node.args["default"]))
        if isinstance(node, exp.Coalesce):
            return all(results(a) for a in [node.this, *node.expressions])
        return False

    if len(tree.expressions) != 1 or not results(tree.expressions[0]) or not literals:
        return None
    values = sorted({n.this for n in literals})
    enum = f"ENUM({', '.join(lit(v) for v in values)})"
    marks = {}
    for i, node in enumerate(literals):
        marks[f"__enum_literal_{i}"] = f"CAST({lit(node.this)} AS {enum})"
        node.replace(exp.column(f"__enum_literal_{i}"))
    out = tree.expressions[0].sql(dialect="duckdb")
    for mark in sorted(marks, key=len, reverse=True):  # __enum_literal_12 before __enum_literal_1
        out = out.replace(mark, marks[mark])
    return out


def _source_of(raw_types: dict[str, str]) -> Source:
    """The loader's view of a relation's columns: its raw columns, without the row numbers."""
    return Source({k: v for k, v in raw_types.items() if k not in ("__row", "__seq")})


_NUM_TYPES = re.compile(r"COALESCE\(TRY_CAST\(NULLIF\(TRIM\((\"(?:[^\"]|\"\")+\")\), ''\) AS (DECIMAL\(\d+,\s*\d+\))\)")


def _fast_trim(x: str) -> str:
    """``NULLIF(TRIM(x), '')`` (:meth:`Source.text`) for DuckDB, with TRIM skipped for the
    common value that has nothing to trim: DuckDB's TRIM removes Unicode space separators
    (category Zs), and an ASCII value (as many bytes as characters) has only the ASCII
    space among them (and a non-empty one is not NULLIF's empty string). Measured on 11 M
    values: 0.4 s against 1.2 s.

    Example:
        >>> import duckdb
        >>> duckdb.sql("SELECT " + _fast_trim("x") + " FROM (VALUES (' a '), ('b'), ('\u00a0c'), (''), (NULL)) t(x)").fetchall()
        [('a',), ('b',), ('c',), (None,), (None,)]
    """
    return (f"CASE WHEN {x} <> '' AND strlen({x}) = length({x}) AND NOT starts_with({x}, ' ') "
            f"AND NOT ends_with({x}, ' ') THEN {x} ELSE NULLIF(TRIM({x}), '') END")


#: a parsed text cast to TIMESTAMPTZ, as :meth:`Source.ts` writes it (see _shared_parses)
_NAIVE_TO_TZ = re.compile(r"CAST\((TRY_STRPTIME\(\"[^\"]+\", '[^']*'\)) AS TIMESTAMPTZ\)")


def _shared_parses(exprs: dict[str, str], raw_types: dict[str, str]) -> tuple[list[dict[str, str]], dict[str, str]]:
    """``exprs`` with each text column's parses (:meth:`Source.text`, :meth:`Source.num`,
    :meth:`Source.ts` of the raw column, found verbatim in the SQL) read from a column
    computed once per row, and the two layers that compute them: ``[trimmed texts, numbers
    and timestamps over them]`` (name -> SQL, in the order to select them).

    A mapping parses the same column in many outputs and checks, mostly inside CASE
    branches, which DuckDB does not share between expressions; a layer computes each once
    (the trimmed texts with :func:`_fast_trim`). For DuckDB's write path only: the layers'
    SQL is DuckDB's. Measured on 1 M Azure EA rows written in two parts: each part's mapping
    took 4.5 s instead of 6.9 s.

    Example:
        >>> from aifinops.sql import Source
        >>> s = Source({"x": "VARCHAR"})
        >>> layers, out = _shared_parses({"a": s.num("x"), "b": f"length({s.text('x')})"}, {"x": "VARCHAR"})
        >>> out
        {'a': '"__p0"', 'b': 'length("__p1")'}
        >>> layers[1]["__p0"] == s.num("x").replace(s.text("x"), '"__p1"')
        True
    """
    src = _source_of(raw_types)
    text_cols = [c for c in src.columns if src.is_text(c)]
    joined = "\n".join(exprs.values())
    by_quoted = {q(c): c for c in text_cols}
    # the parses the SQL may hold: numbers at each decimal type it reads, timestamps
    parsed = [src.num(by_quoted[col], dec.replace(" ", "")) for col, dec in sorted(set(_NUM_TYPES.findall(joined)))
              if col in by_quoted]
    ts_list = [src.ts(c) for c in text_cols]
    parsed += ts_list
    taken = set(raw_types)
    names = (f"__p{i}" for i in range(10**6) if f"__p{i}" not in taken)
    out = dict(exprs)
    second: dict[str, str] = {}
    ts_names = set()
    for sql in sorted(dict.fromkeys(parsed), key=len, reverse=True):
        if any(sql in v for v in out.values()):
            name = next(names)
            second[name] = sql
            if sql in ts_list:
                ts_names.add(name)
            out = {k: v.replace(sql, q(name)) for k, v in out.items()}
    first: dict[str, str] = {}
    for c in text_cols:
        sql = src.text(c)
        if any(sql in v for v in out.values()) or any(sql in v for v in second.values()):
            name = next(names)
            first[name] = _fast_trim(q(c))
            out = {k: v.replace(sql, q(name)) for k, v in out.items()}
            second = {k: v.replace(sql, q(name)) for k, v in second.items()}
    # timestamps without ICU's calendar (the engine's sessions are in UTC, see engine.connect,
    # where a TIMESTAMP's and a TIMESTAMPTZ's microseconds are the same and a day is 86,400
    # s): a parsed text cast by its microseconds, one day added to a parsed timestamp as
    # microseconds (0.1 s per million values each, against 0.004)
    second = {n: _NAIVE_TO_TZ.sub(r"make_timestamptz(epoch_us(\1))", sql) if n in ts_names else sql
              for n, sql in second.items()}
    plus_day = re.compile(r'("(?:' + "|".join(map(re.escape, ts_names)) + r')") \+ INTERVAL 1 DAY\b') if ts_names else None
    if plus_day is not None:
        out = {k: plus_day.sub(r"make_timestamptz(epoch_us(\1) + 86400000000)", v) for k, v in out.items()}
    return [first, second], out


def _layered(relation: str, layers: list[dict[str, str]]) -> str:
    """``relation`` with the columns of each layer of :func:`_shared_parses` added in turn."""
    for layer in layers:
        if layer:
            relation = f"SELECT *, {', '.join(f'{e} AS {q(n)}' for n, e in layer.items())} FROM ({relation}) AS __s"
    return relation


#: text columns that classification fills when the source leaves them empty (see ``final``)
_CLASSIFIED = ("x_Model", "x_TokenType", "x_GpuModel", "ServiceSubcategory")


class _Pipeline:
    """The SQL of one file's pipeline, in three parts so that attribution and classification
    run once per distinct value instead of once per row:

    * ``base``: every source row mapped to the ledger columns, with ``__seq``, ``__row``,
      ``__reason`` (check failures and missing mandatory values) and reconciliation columns;
    * ``tag_lookup(rel)`` / ``class_lookup(rel)``: tag-map attribution per distinct ``Tags``
      and AI/GPU classification per distinct key, from any relation carrying the key columns;
    * ``final(base, tags, classes)``: the ledger rows, joined to both lookups.
    """

    def __init__(self, relation: str, raw_types: dict[str, str], plan: Plan, tag_map: TagMap, *, src_label: str,
                 fmt: SourceFormat, digest: str, ingested_at: datetime) -> None:
        self.plan = plan
        lineage = {
            "x_SourceFile": lit(src_label),
            "x_SourceFormat": lit(fmt.name),
            "x_SourceRow": "__row",
            "x_SourceHash": lit(digest),
            "x_IngestedAt": f"CAST({lit(ingested_at.isoformat())} AS TIMESTAMPTZ)",
        }
        self.extras = [k for k in plan.extra if k not in schema.COLUMNS]
        self.col_types = {c: schema.COLUMNS[c].sql_type for c in schema.LEDGER_COLUMNS if c != schema.PARTITION_COLUMN}
        #: output name -> its SQL over the source columns (the mapped row; see :meth:`keys_sql`)
        self.exprs: dict[str, str] = {}
        #: text columns whose value is one literal for the whole file (lineage, provider names)
        self.constants: dict[str, str] = {}
        #: ledger columns the source maps (the others are NULL in ``base``)
        self.mapped: set[str] = set()
        for name, t in self.col_types.items():
            expr = lineage.get(name) or plan.columns.get(name)
            if name == "x_CostAuthority" and not expr:
                expr = lit(plan.cost_authority)
            if expr:
                self.mapped.add(name)
            self.exprs[name] = f"TRY_CAST({expr or 'NULL'} AS {t})"
            if t == "VARCHAR" and expr and re.fullmatch(r"'(?:[^']|'')*'", expr.strip()):
                self.constants[name] = expr.strip()
        self.exprs.update({k: plan.extra[k] for k in self.extras})
        self.exprs["__reason0"] = _reason_sql(plan)
        self._relation, self._raw_types = relation, raw_types
        self.recon_cols: list[str] = []
        for i, r in enumerate(plan.recon):
            self.exprs[f"__rcur_{i}"] = f"CAST({r.currency} AS VARCHAR)"
            self.exprs[f"__rsrc_{i}"] = f"TRY_CAST({r.source} AS {schema.DECIMAL})"
            self.recon_cols += [f"__rcur_{i}", f"__rsrc_{i}"]
        if plan.single_currency:
            self.exprs["__scur"] = f"CAST({plan.single_currency} AS VARCHAR)"
            self.recon_cols.append("__scur")
        # a sampled plan's facts, counted by the parts' tallies (see _Tally)
        self.exprs.update({f"__f_{j}": f"({c})" for j, c in enumerate(plan.facts.values())})
        m_cols = [f"{e} AS {q(n)}" for n, e in self.exprs.items()]
        self._m_cols = ", ".join(m_cols)
        self.base_raw_m = f"SELECT __seq, __row, to_json(__n) AS __raw, {self._m_cols} FROM ({_numbered(relation, raw_types)}) AS __n"

        required = [c for c in schema.FOCUS_NOT_NULL
                    if not (plan.cost_authority == "usage" and c in _COST_COLUMNS)]
        req = " ".join(f"WHEN {q(c)} IS NULL THEN {lit('required' + chr(9) + c + chr(9))}" for c in required)
        allowed = " ".join([
            f"WHEN \"ChargeCategory\" NOT IN ({', '.join(lit(v) for v in schema.CHARGE_CATEGORIES)}) "
            f"THEN {lit('value' + chr(9) + 'ChargeCategory' + chr(9))} || \"ChargeCategory\"",
            "WHEN \"BillingCurrency\" IS NOT NULL AND NOT regexp_matches(\"BillingCurrency\", '^[A-Z]{3}$') "
            f"THEN {lit('value' + chr(9) + 'BillingCurrency' + chr(9))} || \"BillingCurrency\"",
        ])
        #: Tags must be valid JSON. Tags have few distinct values, so the check runs once per
        #: distinct value in the tag lookup (``__tbad``), not once per row in ``base``.
        self.tags_bad = "(\"Tags\" IS NOT NULL AND NOT json_valid(\"Tags\"))"
        tags_reason = f"{lit('value' + chr(9) + 'Tags' + chr(9))} || \"Tags\""
        self._reason_case = f"CASE {req} {allowed} END"
        self.base = self.base_of(_numbered(relation, raw_types))
        #: every check, Tags included, with the raw source record as JSON (``__raw``): the quarantine
        self.base_raw = (f"SELECT *, COALESCE(__reason0, CASE {req} {allowed} WHEN {self.tags_bad} THEN {tags_reason} "
                         f"END) AS __reason FROM ({self.base_raw_m}) AS __m")
        self._tags_reason = tags_reason

        types = dict(self.col_types, **{k: "VARCHAR" for k in self.extras})
        self.rules = [r for r in load_rules() if r.field in types]
        fields = sorted({r.field for r in self.rules})
        self.class_keys = ["ProviderName", "ConsumedUnit", "PricingUnit"] + [f for f in fields if f not in
                                                                              ("ProviderName", "ConsumedUnit", "PricingUnit")]
        self.tag_exprs = tag_map.sql('"Tags"')
        self.class_exprs = rules_sql(self.rules, types)
        self._m_cols_enum: str | None = None
        self._layers: list[dict[str, str]] = []
        self.key_cols = list(dict.fromkeys(["Tags"] + self.class_keys))
        self.ledger_cols = [c for c in self.col_types] + [schema.PARTITION_COLUMN]

    @property
    def enum_exprs(self) -> dict[str, str]:
        """Write path only (DuckDB): output name -> its SQL as an ENUM of its literal values,
        for text outputs that are CASEs of literals (charge class, frequency, pricing and
        service categories ...) that no other part of the pipeline reads (see _enum_case):
        not the columns the checks read (ChargeCategory, BillingCurrency), nor the lookups'
        keys and the columns ``final`` fills from them."""
        read = {"ChargeCategory", "BillingCurrency", "Tags", *self.key_cols, *self.tag_exprs, *_CLASSIFIED}
        texts = {name: self.plan.columns.get(name) for name, t in self.col_types.items()
                 if t == "VARCHAR" and name not in self.constants}
        texts.update({name: self.plan.extra[name] for name in self.extras})
        return {name: e for name, sql in texts.items() if sql and name not in read and (e := _enum_case(sql))}

    def base_of(self, numbered: str, *, enums: bool = False) -> str:
        """``base`` over ``numbered``: source rows that carry ``__seq`` and ``__row`` (the whole
        file, or one part of it numbered from its offset, see :func:`_numbered`). ``enums``
        (DuckDB's write path of a large file): the outputs in :attr:`enum_exprs` as ENUMs,
        and each text column parsed once per row (:func:`_shared_parses`)."""
        if enums:
            if self._m_cols_enum is None:
                case = self.enum_exprs
                self._layers, exprs = _shared_parses({n: case.get(n, e) for n, e in self.exprs.items()},
                                                     self._raw_types)
                self._m_cols_enum = ", ".join(f"{e} AS {q(n)}" for n, e in exprs.items())
            numbered = _layered(numbered, self._layers)
        m_sql = f"SELECT __seq, __row, {self._m_cols_enum if enums else self._m_cols} FROM ({numbered}) AS __n"
        return f"SELECT *, COALESCE(__reason0, {self._reason_case}) AS __reason FROM ({m_sql}) AS __m"

    def keys_sql(self, group: list[str]) -> str | None:
        """Pass 1 grouped first by the few source columns its outputs read, the mapping then
        applied to each distinct combination instead of to every row (the source's key
        columns repeat: tags, SKUs, units). ``group`` names the grouped outputs; the row
        count ``__n``, ``__period`` and the reconciliation sums come along, and for each
        fact of a sampled plan (see :class:`Plan`) the count of the rows where it holds,
        ``__f_0``, ``__f_1``, ... None when an output's source columns cannot be told (then
        pass 1 maps every row)."""
        import sqlglot
        from sqlglot import exp

        by_lower = {k.lower(): k for k in self._raw_types if k not in ("__row", "__seq")}
        names = [g.strip('"') for g in group] + ["BillingPeriodStart"]
        sums = [k for k in self.exprs if k.startswith("__rsrc_")]
        raw: set[str] = set()
        for n in names + sums:
            try:
                tree = sqlglot.parse_one(f"SELECT {self.exprs[n]}", read="duckdb")
            except (sqlglot.errors.ParseError, KeyError):
                return None
            for c in tree.find_all(exp.Column):
                col = by_lower.get(c.name.lower())
                if col is None:
                    if c.name in ("__row", "__seq") or not c.table:
                        return None  # a row number or an unknown column: not groupable
                    continue  # a lambda parameter's field (e.value)
                if n in names:
                    raw.add(col)
        if not raw:
            return None
        cols = ", ".join(q(c) for c in sorted(raw))
        counts = [f"__f_{i}" for i in range(len(self.plan.facts))]
        per_row = {k: self.exprs[k] for k in sums + counts}
        layers, per_row = _shared_parses(per_row, self._raw_types)
        inner = (f"SELECT {cols}, count(*) AS __n0"
                 f"{''.join(f', sum({per_row[k]}) AS {k}' for k in sums)}"
                 f"{''.join(f', count(*) FILTER (WHERE {per_row[f]}) AS {f}' for f in counts)} "
                 f"FROM ({_layered(self._relation, layers)}) AS __src GROUP BY ALL")
        outs = ", ".join(f"{self.exprs[n]} AS {q(n)}" for n in names[:-1])
        period = f"strftime({self.exprs['BillingPeriodStart']}, '%Y-%m')"
        return (f"SELECT {outs}, {period} AS __period, sum(__n0) AS __n"
                f"{''.join(f', sum({k}) AS {k}' for k in sums + counts)} FROM ({inner}) AS __g GROUP BY ALL")

    def tag_lookup(self, rel: str) -> str:
        attrs = ", ".join(f"{e} AS {q('__t_' + c)}" for c, e in self.tag_exprs.items())
        return (f"SELECT \"Tags\" AS __tk, CASE WHEN {self.tags_bad} THEN {self._tags_reason} END AS __tbad"
                f"{', ' + attrs if attrs else ''} FROM (SELECT DISTINCT \"Tags\" FROM ({rel})) AS __d")

    def class_lookup(self, rel: str) -> str:
        keys = ", ".join(q(k) for k in self.class_keys)
        vals = ", ".join(f"{e} AS {q('__c_' + k)}" for k, e in self.class_exprs.items())
        return f"SELECT {keys}, {vals} FROM (SELECT DISTINCT {keys} FROM ({rel})) AS __d"

    def final(self, base: str, tags: str, classes: str, *, enum_constants: bool = False,
              enums: dict[str, str] | None = None, tally: bool = False) -> str:
        """The ledger rows. DuckDB only, for its Parquet writer: ``enum_constants`` selects each
        constant text column as a one-value ENUM, and ``enums`` (lookup column -> its ENUM
        copy, see :func:`_lookup`) takes the text columns that come out of the lookups (tags,
        attribution, classification keys and results) from their ENUM copies. Parquet gets
        the same plain string columns, but DuckDB's writer then writes each dictionary once
        instead of hashing the text of every row. Measured on a 5 M-row CUR 2.0 file: about
        3 s of 24 for its constants, whose lineage columns hold long paths and hashes; then
        29.7 s -> 25.4 s for the lookup columns with the CASE ENUMs of ``base_of(enums=True)``."""
        enums = enums or {}

        def looked_up(alias: str, col: str, out: str) -> str:
            """Output column ``out`` from lookup column ``col``: its ENUM copy when there is
            one and the source does not map ``out`` itself, else the source's value first."""
            if out not in self.mapped and col in enums:
                return f"{alias}.{q(enums[col])}"
            return f"COALESCE(b.{q(out)}, {alias}.{q(col)})"

        over: dict[str, str] = {c: looked_up("t", "__t_" + c, c) for c in self.tag_exprs}
        for c in _CLASSIFIED:
            over[c] = looked_up("k", "__c_" + c, c)
        # the join keys: every base row finds its key (the lookups hold every key of the file)
        if "__tk" in enums:
            over["Tags"] = f"t.{q(enums['__tk'])}"
        for c in self.class_keys:
            if c in enums and (c in self.col_types or c in self.extras) and c not in self.constants:
                over[c] = f"k.{q(enums[c])}"
        tok = "COALESCE(b.\"x_TokenType\", k.\"__c_x_TokenType\")"
        over["x_Tokens"] = (f"CAST(COALESCE(b.\"x_Tokens\", CASE WHEN b.\"x_TokenType\" IS NULL AND {tok} IS NOT NULL "
                            f"AND {tok} NOT IN ('web_search', 'request') THEN b.\"ConsumedQuantity\" END) AS {schema.DECIMAL})")
        over["x_GpuHours"] = (f"CAST(COALESCE(b.\"x_GpuHours\", b.\"ConsumedQuantity\" * k.\"__c___gpus\") "
                              f"AS {schema.DECIMAL})")
        if enum_constants:
            over.update({c: f"CAST({v} AS ENUM({v}))" for c, v in self.constants.items() if c not in over})
        sel = [f"{over[c]} AS {q(c)}" if c in over else f"b.{q(c)}" for c in self.col_types]
        sel += [f"{over[c]} AS {q(c)}" if c in over else f"b.{q(c)}" for c in self.extras]
        # DuckDB's write path formats the period without ICU's calendar (sessions are in UTC)
        start = 'make_timestamp(epoch_us(b."BillingPeriodStart"))' if enum_constants else 'b."BillingPeriodStart"'
        sel.append(f"COALESCE(strftime({start}, '%Y-%m'), 'unknown') AS {q(schema.PARTITION_COLUMN)}")
        if tally:
            # what a part's tally reads (see _Tally): the lookups' misses, the reconciliation
            # columns, the facts, and the keys of the rows that missed (NULL for the others)
            sel += ["t.__hit IS NULL AS __tmiss", "k.__hit IS NULL AS __kmiss"]
            sel += [f"b.{c}" for c in self.recon_cols] + [f"b.__f_{j}" for j in range(len(self.plan.facts))]
            sel.append("CASE WHEN t.__hit IS NULL THEN b.\"Tags\" END AS __mk_0")
            sel += [f"CASE WHEN k.__hit IS NULL THEN b.{q(c)} END AS __mk_{j}" for j, c in enumerate(self.class_keys, 1)]
        on_k = " AND ".join(f"b.{q(k)} IS NOT DISTINCT FROM k.{q(k)}" for k in self.class_keys)
        return (f"SELECT b.__seq, b.__row, COALESCE(b.__reason, t.__tbad) AS __reason, {', '.join(sel)} FROM ({base}) AS b "
                f"LEFT JOIN ({tags}) AS t ON b.\"Tags\" IS NOT DISTINCT FROM t.__tk "
                f"LEFT JOIN ({classes}) AS k ON {on_k}")

    def preview_sql(self) -> str:
        return (f"WITH __b AS ({self.base}), __t AS ({self.tag_lookup('SELECT * FROM __b')}), "
                f"__k AS ({self.class_lookup('SELECT * FROM __b')}) "
                + self.final("SELECT * FROM __b", "SELECT * FROM __t", "SELECT * FROM __k"))


#: Parquet options of ledger data files. A column gives up dictionary encoding once it has
#: more than 1,000 distinct values in a row group: categorical columns (units, services,
#: charge categories, tag sets) keep their dictionaries, while ids, amounts and timestamps,
#: which would overflow DuckDB's default limit anyway, stop paying for hashing every value
#: into one first (measured: about 8 % of a 5 M-row CUR 2.0 ingest; same file size).
#: zstd level 1 instead of DuckDB's default 3: the writer took 0.65 s less per million
#: legacy CUR rows (single stream), and the files came out no larger on the benchmark data
#: (per million rows: CUR 2.0 72.2 MB against 73.0 MB, legacy CUR 61.0 MB against 61.6 MB).
_LEDGER_PARQUET = "FORMAT parquet, COMPRESSION zstd, DICTIONARY_SIZE_LIMIT 1000, COMPRESSION_LEVEL 1"


def _numbered(relation: str, raw_types: dict[str, str], offset: int = 0) -> str:
    """The source rows with ``__seq`` (position in the relation) and ``__row`` (record
    number), both counted from ``offset`` + 1."""
    if "__seq" in raw_types and "__row" in raw_types:
        return relation
    plus = f" + {int(offset)}" if offset else ""
    row = "" if "__row" in raw_types else f"row_number() OVER (){plus} AS __row, "
    return f"SELECT row_number() OVER (){plus} AS __seq, {row}* FROM ({relation}) AS __src"


def _record_spans(scan: tuple[list[tuple[int, int]], int, bool], records: int
                  ) -> list[tuple[int, int, int]] | None:
    """The parts of a CSV file as ``(start, end, records before)``, from :func:`_scan`,
    when they can be numbered without parsing: when the file has exactly one newline per
    record plus the header's (no quoted newline, blank or skipped line), every cut falls
    between two records and the records before it are the lines before it, less the
    header. None otherwise (the file is then read in one stream), or with fewer than two
    parts."""
    cuts, lines, ends_nl = scan
    if len(cuts) < 2 or lines + (0 if ends_nl else 1) != records + 1:
        return None
    ends = [c[0] for c in cuts[1:]] + [None]
    return [(start, end, before - 1) for (start, before), end in zip(cuts, ends)]


class _PartCopies:
    """The parts of one CSV file (after its header), copied into ``folder`` (in the kernel,
    ``copy_file_range``) so that DuckDB can read each as a file, and each read ends where its
    part ends (a read of the file itself could only be stopped after a number of records,
    and would then not show that a record spans two lines). The parts are copied one after
    the other in a thread; :meth:`wait` returns a part's file once it is there, so the first
    part is written while the others are copied. The folder is removed on exit."""

    def __init__(self, path: Path, spans: list[tuple[int, int | None, int]], folder: Path) -> None:
        self.files = [folder / f"part-{i}.csv" for i in range(len(spans))]
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._ready = [threading.Event() for _ in spans]
        self._copied = [False] * len(spans)
        self._error: BaseException | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._copy, args=(path, spans), daemon=True)
        self._thread.start()

    def _copy(self, path: Path, spans) -> None:
        try:
            with open(path, "rb", buffering=0) as src:
                size = os.fstat(src.fileno()).st_size
                for i, (start, end, _) in enumerate(spans):
                    if self._stop:
                        break
                    with open(self.files[i], "wb", buffering=0) as dst:
                        _copy_span(src, dst, start, size if end is None else end)
                    self._copied[i] = True
                    self._ready[i].set()
        except BaseException as exc:  # raised where a part that was not copied is waited for
            self._error = exc
        finally:
            for e in self._ready:
                e.set()

    def wait(self, i: int) -> Path:
        """Part ``i``'s file, once copied (OSError if it could not be)."""
        self._ready[i].wait()
        if not self._copied[i]:
            raise self._error if isinstance(self._error, OSError) else OSError(f"part {i} of {self.files[i]} not copied")
        return self.files[i]

    def drop(self, i: int) -> None:
        """Remove part ``i``'s copy (once read)."""
        self.files[i].unlink(missing_ok=True)

    def __enter__(self) -> _PartCopies:
        return self

    def __exit__(self, *exc) -> None:
        self._stop = True
        self._thread.join()
        shutil.rmtree(self.folder, ignore_errors=True)


def _copy_span(src, dst, start: int, end: int) -> None:
    """Copy bytes ``[start, end)`` of file ``src`` to the end of file ``dst``."""
    pos = start
    try:
        while pos < end:
            n = os.copy_file_range(src.fileno(), dst.fileno(), end - pos, pos)
            if not n:
                raise OSError(f"{src.name}: file shorter than {end} bytes")
            pos += n
    except (AttributeError, OSError) as exc:  # no copy_file_range here (or across these file systems)
        if pos > start and not isinstance(exc, AttributeError):
            raise
        src.seek(pos)
        while pos < end and (chunk := src.read(min(end - pos, 16 * 2**20))):
            dst.write(chunk)
            pos += len(chunk)


def _open_source(con, path: Path, fmt: SourceFormat | None, options: IngestOptions):
    probe = Probe.open(path)
    fmt = fmt or detect(path, probe)
    if fmt.required:
        miss = fmt.missing(probe) if probe.kind != "json" else []
        if miss and not fmt.sniff(probe):
            raise MissingColumnError(f"required column missing for format {fmt.name!r}: {', '.join(miss)}",
                                     file=str(path), row=1, column=miss[0])
    relation = fmt.relation(probe, options)
    try:
        raw_types = _describe(con, f"({relation})")
    except duckdb.Error as exc:
        raise FormatError(f"cannot read as {fmt.name}: {_short(exc)}", file=str(path)) from exc
    return probe, fmt, relation, raw_types


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:500]


def preview(path: str | Path, *, format: str | None = None, tag_map: TagMap | None = None,
            options: IngestOptions | None = None, limit: int | None = None) -> pd.DataFrame:
    """The mapped ledger rows of one file (with ``x_QuarantineReason``), nothing written.

    For loader development and the notebook's data-quality view."""
    options = options or IngestOptions()
    tag_map = tag_map or TagMap.default()
    path = Path(path)
    con = connect()
    try:
        probe, fmt, relation, raw_types = _open_source(con, path, get_format(format) if format else None, options)
        plan = fmt.plan(_source_of(raw_types), probe, options)
        pipe = _Pipeline(relation, raw_types, plan, tag_map, src_label=str(path), fmt=fmt,
                         digest="preview", ingested_at=datetime.now(timezone.utc))
        sel = ", ".join(q(c) for c in pipe.ledger_cols + pipe.extras)
        try:
            return to_frame(con.sql(f"SELECT {sel}, __reason AS x_QuarantineReason FROM ({pipe.preview_sql()}) AS __p "
                                    f"ORDER BY __seq" + (f" LIMIT {int(limit)}" if limit else "")))
        except duckdb.Error as exc:
            raise FormatError(f"cannot read as {fmt.name}: {_short(exc)}", file=str(path)) from exc
    finally:
        con.close()


# -----------------------------------------------------------------------------------------
# ingest
# -----------------------------------------------------------------------------------------

def ingest(paths, ledger_dir: str | Path, *, format: str | None = None, tag_map: TagMap | str | Path | None = None,
           options: IngestOptions | None = None, memory_limit: str | None = None,
           temp_directory: str | None = None, log=None, jobs: int | None = 1) -> IngestReport:
    """Ingest source files into the ledger at ``ledger_dir`` (created if missing).

    Args:
        paths: files (or folders, searched recursively for files).
        ledger_dir: the ledger folder.
        format: force a format name instead of detecting it from the header.
        tag_map: a :class:`TagMap`, a YAML path, or None for the default map.
        options: loader options (default currency for partial FOCUS files, null strings).
        memory_limit, temp_directory: engine limits for out-of-core ingest.
        log: optional callable receiving one line per file.
        jobs: worker processes staging files in parallel (None: one per CPU; 1: in this
            process). Commits stay serial and in input order, so the ledger is the same as
            a serial run's. With ``jobs > 1`` and no ``memory_limit`` each worker gets its
            share of DuckDB's default limit.

    Returns:
        An :class:`IngestReport`; a file that cannot be read is reported as rejected with
        its typed error, and the other files are still ingested.
    """
    options = options or IngestOptions()
    if tag_map is None:
        tag_map = TagMap.default()
    elif not isinstance(tag_map, TagMap):
        tag_map = TagMap.from_yaml(tag_map)
    forced = get_format(format) if format else None
    ledger = Ledger(ledger_dir, create=True)
    files = _expand(paths)
    n = _jobs(jobs, len(files))
    results = []

    def done(res: FileResult, staged) -> None:
        if staged is not None:
            _commit_staged(ledger, res, *staged)
        results.append(res)
        if log:
            log(_line(res))

    if n == 1:
        for p in files:
            done(*_stage_one(p, ledger, forced, tag_map, options, memory_limit, temp_directory))
    else:
        # files are staged in parallel worker processes ("spawn": this process may hold DuckDB
        # threads) and committed here one by one, in input order, exactly as a serial run would
        limit = memory_limit or _memory_share(n)
        work = [(str(p), str(ledger.path), format, tag_map, options, limit, temp_directory) for p in files]
        with multiprocessing.get_context("spawn").Pool(n) as pool:
            for res, staged in pool.imap(_stage_job, work):
                done(res, staged)
    return IngestReport(results)


def _jobs(jobs: int | None, files: int) -> int:
    """Worker processes for ``files`` files: ``jobs`` (None: one per CPU), never more than files."""
    if jobs is not None and int(jobs) < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}", column="jobs")
    return max(1, min(int(jobs) if jobs is not None else (os.cpu_count() or 1), files))


def _memory_share(n: int) -> str:
    """Each of ``n`` workers' share of DuckDB's default memory limit (80 % of RAM)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return ""
    return f"{max(256, int(total * 0.8 / n / 2**20))}MB"


def _stage_job(args) -> tuple[FileResult, tuple | None]:
    """One file in an ingest worker process: staged, not committed (the parent commits)."""
    path, ledger_dir, fmt, tag_map, options, memory_limit, temp_directory = args
    forced = get_format(fmt) if fmt else None
    ledger = Ledger(ledger_dir, recover=False)
    return _stage_one(Path(path), ledger, forced, tag_map, options, memory_limit or None, temp_directory)


#: files a folder ingest skips: the sample generator's manifest and ground-truth table, docs, config
NOT_EXPORTS = frozenset({"MANIFEST.json", "ground_truth.parquet"})
#: folders a folder ingest skips: business inputs (KPIs, FX rates, GPU rate tables) that the
#: metrics read directly and that are not billing or usage exports
NOT_EXPORT_DIRS = frozenset({"business"})


def _expand(paths) -> list[Path]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")
                              and f.suffix.lower() not in (".md", ".txt", ".yaml", ".yml")
                              and f.name not in NOT_EXPORTS
                              and not NOT_EXPORT_DIRS & set(f.relative_to(p).parts[:-1])))
        else:
            out.append(p)
    return out


def _line(r: FileResult) -> str:
    tot = "; ".join(f"{x['column']} {x['currency']} {x['ledger_total']}" for x in r.recon[:3])
    msg = f"{r.status:<11} {r.path}  [{r.format}] rows={r.rows} quarantined={r.quarantined}"
    if r.unchanged:
        msg += " (unchanged, already in the ledger)"
    if tot:
        msg += f"  {tot}"
    if r.error:
        msg += f"  error: {r.error}"
    return msg


def _stage_one(path: Path, ledger: Ledger, forced, tag_map, options, memory_limit, temp_directory
               ) -> tuple[FileResult, tuple | None]:
    """Read, check and write one file into a staging folder of ``ledger`` (no lock needed).

    Returns the result and, when there is something to commit, ``(entry, added, staging)``."""
    t0 = time.perf_counter()
    res = FileResult(path=str(path))
    staged = None
    cuts = sampled = early = None
    # a large file is opened and planned while it is hashed (the plan reads its first rows,
    # or a sample of its lines, see SourceFormat.plan_sampled), and a CSV file to write in
    # parts gets its lookups from that sample (see _write_in_parts); the work is dropped when
    # the hash finds the file unchanged
    big = path.is_file() and path.stat().st_size > SMALL_FILE_BYTES
    con = connect(memory_limit=memory_limit, temp_directory=temp_directory) if big else None
    opened: tuple | Exception | None = None
    if path.is_file():
        try:
            parts = _parts_for(path)
            early = ledger.new_staging() if big and parts > 1 else None  # for the sample
            with ThreadPoolExecutor(1) as pool, \
                    (_sample_file(path, early) if early else contextlib.nullcontext()) as sample:
                scanning = pool.submit(_scan, path, parts)
                if big:
                    try:
                        # a CSV file to write in parts is planned from a sample of its lines
                        opened = _open_and_plan(con, res, path, forced, options, sample or None)
                    except (AifinopsError, duckdb.Error) as exc:
                        opened = exc  # raised below unless the file is unchanged
                    else:
                        if sample is False:  # a record over several lines: not in parts
                            sampled = False
                        elif sample and _in_parts(opened[1], opened[0], options, opened[3]):
                            # the lookups of a file to write in parts, from the sample
                            sampled = _sample_while_hashing(con, path, opened, tag_map, options, sample)
                res.hash, cuts = scanning.result()
        except BaseException:
            if con is not None:
                con.close()
            raise
        finally:
            if early:
                shutil.rmtree(early, ignore_errors=True)
        prev = ledger.manifest["files"].get(res.hash)
        if prev and _unchanged(prev, path, forced, tag_map, options):
            # same bytes, same place, same loader version, tag map and options: the ledger
            # already holds exactly what this ingest would write (detection is a function of
            # the bytes, so the recorded format stands unless another one is forced)
            if con is not None:
                con.close()
            res.format = prev["format"]
            _from_entry(res, prev)
            res.seconds = time.perf_counter() - t0
            return res, None
    con = con or connect(memory_limit=memory_limit, temp_directory=temp_directory)
    try:
        if not path.is_file():
            raise FormatError("no such file", file=str(path))
        if isinstance(opened, Exception):
            raise opened
        probe, fmt, relation, raw_types, plan = opened or _open_and_plan(con, res, path, forced, options)
        staging = ledger.new_staging()
        try:
            entry, added = _stage(con, res, path, probe, fmt, relation, raw_types, plan, tag_map, staging, options,
                                  cuts, sampled)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        staged = (entry, added, staging)
    except AifinopsError as exc:
        res.status, res.error = "rejected", exc
    except duckdb.Error as exc:
        res.status, res.error = "rejected", FormatError(f"cannot read: {_short(exc)}", file=str(path))
    finally:
        con.close()
        res.seconds = time.perf_counter() - t0
    return res, staged


def _in_parts(fmt: SourceFormat, probe: Probe, options: IngestOptions, raw_types: dict[str, str]) -> bool:
    """Whether the format reads a slice of the file as its rows (a CSV file, not gzip), so a
    large file may be written in parts (see :func:`_write_in_parts`)."""
    return fmt.part_relation(probe, options, "-", list(raw_types)) is not None


def _sample_while_hashing(con, path: Path, opened: tuple, tag_map: TagMap, options: IngestOptions,
                          sample: Path) -> _Sampled | bool:
    """:func:`_sample_keys` of a file opened by :func:`_open_and_plan`, from its ``sample``;
    False on an error (that the ingest then meets again, and reports)."""
    probe, fmt, relation, raw_types, plan = opened
    try:
        pipe = _Pipeline(relation, raw_types, plan, tag_map, src_label=str(path), fmt=fmt, digest="",
                         ingested_at=datetime.now(timezone.utc))  # lineage is not in the lookups
        # the write path's CASE ENUMs are parsed once per process (0.3 s of Python), here
        # beside DuckDB's work on the sample
        with ThreadPoolExecutor(1) as pool:
            warm = pool.submit(lambda: pipe.enum_exprs)
            got = _sample_keys(con, sample, probe, fmt, raw_types, pipe, options)
            warm.result()
    except (AifinopsError, duckdb.Error, OSError):
        return False
    return False if got is None else got


def _open_and_plan(con, res: FileResult, path: Path, forced, options: IngestOptions,
                   sample: Path | None = None) -> tuple:
    """``(probe, format, relation, raw types, plan)`` of one file; sets ``res.format`` and
    ``res.defaulted``. ``sample``: sampled lines of the file (see :func:`_sample_file`), for
    a format that plans from a sample."""
    probe, fmt, relation, raw_types = _open_source(con, path, forced, options)
    res.format = fmt.name
    rel = fmt.part_relation(probe, options, str(sample), list(raw_types)) if sample else None
    plan = fmt.plan_sampled(_source_of(raw_types), probe, options, sample=rel)
    res.defaulted = list(plan.defaulted)
    return probe, fmt, relation, raw_types, plan


def _commit_staged(ledger: Ledger, res: FileResult, entry: dict, added: list, staging: Path) -> None:
    """Commit one staged file atomically, replacing earlier ingests of the same bytes or path."""
    t0 = time.perf_counter()
    try:
        commit_entry(ledger, res, entry, added)
        res.status = "quarantined" if res.quarantined else "ok"
        shutil.rmtree(staging, ignore_errors=True)  # emptied by the commit
    except OSError as exc:  # before the journal: nothing changed; after it: recovery rolls forward
        res.status, res.error = "rejected", LedgerError(f"commit failed: {exc}", file=entry["path"])
    finally:
        res.seconds += time.perf_counter() - t0


def _unchanged(prev: dict, path: Path, forced, tag_map: TagMap, options: IngestOptions) -> bool:
    """Whether the manifest entry ``prev`` (same content hash) is what ingesting ``path`` now
    would write: same place, same format, same loader version, tag map and options."""
    if prev.get("abs_path") != str(path.resolve()):
        return False
    try:
        fmt = forced or get_format(prev.get("format") or "")
    except AifinopsError:  # a format this version no longer has: ingest afresh
        return False
    return fmt.name == prev.get("format") and prev.get("ingest_key") == _ingest_key(fmt, tag_map, options)


def _ingest_key(fmt: SourceFormat, tag_map: TagMap, options: IngestOptions) -> str:
    """What, besides the file's bytes, decides the ledger rows of a file."""
    parts = [__version__, fmt.name, repr(options), json.dumps(tag_map.sql('"Tags"'), sort_keys=True)]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def _from_entry(res: FileResult, e: dict) -> None:
    res.source_rows, res.rows, res.quarantined = e["source_rows"], e["rows"], e["quarantined"]
    res.defaulted = list(e.get("defaulted", []))
    res.recon = [{k: (Decimal(v) if k in ("source_total", "ledger_total", "quarantined_total", "difference")
                      else v) for k, v in r.items()} for r in e.get("recon", [])]
    res.status = "quarantined" if res.quarantined else "ok"
    res.unchanged = True


def _stage(con, res: FileResult, path: Path, probe, fmt, relation, raw_types, plan: Plan, tag_map, staging: Path,
           options: IngestOptions, cuts=None, sampled: _Sampled | bool | None = None
           ) -> tuple[dict, list[tuple[Path, str]]]:
    """Write one file's ledger rows and quarantine into ``staging``; return its manifest
    entry and the staged files (with their paths in the ledger). ``cuts``: line ends found
    while hashing the file (see :func:`_scan`); a large CSV file with cuts is written in
    parts in one pass (:func:`_write_in_parts`), any other file in two: pass 1 counts and
    sums, pass 2 writes."""
    small = path.stat().st_size <= SMALL_FILE_BYTES
    ingested_at = datetime.now(timezone.utc).replace(microsecond=0)
    pipe = _Pipeline(relation, raw_types, plan, tag_map, src_label=str(path), fmt=fmt,
                     digest=res.hash, ingested_at=ingested_at)
    n_recon = len(plan.recon)
    short = res.hash[:16]
    data_dir = staging / "data"
    base, qbase = pipe.base, None
    written = src = None
    if cuts and not small and _in_parts(fmt, probe, options, raw_types):
        got = _write_in_parts(con, res, path, probe, fmt, raw_types, plan, pipe, staging, options, cuts, sampled)
        if got == "replan":  # the sample misled the plan (see Plan.facts)
            return _stage(con, res, path, probe, fmt, relation, raw_types, plan.replan(), tag_map, staging, options,
                          cuts)
        if got is None:  # the file cannot be written in parts: two passes over one stream
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            written, src = got
    if written is None:
        written = _write_in_two_passes(con, res, path, fmt, relation, raw_types, plan, pipe, data_dir, short, small)
        if written is None:
            return _stage(con, res, path, probe, fmt, relation, raw_types, plan.replan(), tag_map, staging, options)
        if small:
            base = qbase = "SELECT * FROM __b"
    added = [(f, str(f.relative_to(staging))) for f in sorted(data_dir.rglob("*.parquet"))] if data_dir.exists() else []
    res.quarantined = res.source_rows - written
    qfile, qsums = None, {}
    if res.quarantined:
        # only when some row failed a check: the failing rows with their raw records
        rcols = [c for c in pipe.recon_cols if not c.startswith("__scur")]
        if small:
            con.execute(f"CREATE TEMP TABLE qrows AS SELECT __seq, __row, __reason, __raw{''.join(', ' + c for c in rcols)} "
                        f"FROM ({qbase}) AS __p WHERE __reason IS NOT NULL")
        else:
            # find the failing rows without their raw records, then fetch the raw records of
            # just those rows: building a record's JSON is the costly part of a streaming pass
            reason = "COALESCE(b.__reason, t.__tbad)"
            con.execute(f"CREATE TEMP TABLE qk AS SELECT b.__seq, b.__row, {reason} AS __reason"
                        f"{''.join(', b.' + c for c in rcols)} FROM ({base}) AS b LEFT JOIN tagl AS t "
                        f"ON b.\"Tags\" IS NOT DISTINCT FROM t.__tk WHERE {reason} IS NOT NULL")
            con.execute(f"CREATE TEMP TABLE qrows AS SELECT qk.*, to_json(__n) AS __raw "
                        f"FROM ({_numbered(relation, raw_types)}) AS __n JOIN qk ON __n.__seq = qk.__seq")
        found = con.execute("SELECT count(*) FROM qrows").fetchall()[0][0]
        if found != res.quarantined:
            raise ReconciliationError(f"{res.source_rows} source rows: {written} written and {found} quarantined",
                                      file=str(path))
        qpath = staging / "quarantine" / f"{short}.parquet"
        qpath.parent.mkdir(parents=True)
        con.execute(
            f"COPY (SELECT {lit(str(path))} AS x_SourceFile, __row AS x_SourceRow, __reason AS x_QuarantineReason, "
            f"__raw AS x_RawRecord FROM qrows ORDER BY __seq) TO {lit(str(qpath))} (FORMAT parquet, COMPRESSION zstd)")
        qfile = f"quarantine/{short}.parquet"
        added.append((qpath, qfile))
        res.errors = [error_from_reason(r, file=str(path), row=n) for n, r in con.execute(
            f"SELECT __row, __reason FROM qrows ORDER BY __seq LIMIT {_ROW_ERRORS_KEPT}").fetchall()]
        qsums = {i: dict(con.execute(f"SELECT __rcur_{i}, sum(__rsrc_{i}) FROM qrows GROUP BY 1").fetchall())
                 for i in range(n_recon)}
    res.rows = res.source_rows - res.quarantined

    # reconciliation: source (raw) vs ledger (as written) + quarantine (raw)
    if src is None:
        src = [dict(con.execute(f"SELECT __rcur_{i}, sum(__rsrc_{i}) FROM chk GROUP BY 1").fetchall())
               for i in range(n_recon)]
    res.recon = _reconcile(con, plan, src, [f for f, rel in added if rel.startswith("data/")], qsums)
    check_reconciled(res.recon, str(path))
    entry = manifest_entry(res, str(path), path.resolve(), fmt, plan, pipe.extras, ingested_at, tag_map, options,
                           [rel for _, rel in added], qfile)
    return entry, added


def _write(cur, pipe: _Pipeline, sql: str, periods: list, data_dir: Path, stem: str,
           keep: str = "__reason IS NULL") -> int:
    """Write the rows of ``sql`` (a :meth:`_Pipeline.final`) for which ``keep`` holds into
    ``data_dir`` (one folder per billing period), as files named ``stem``-N; the rows written."""
    sel = ", ".join(q(c) for c in pipe.ledger_cols + pipe.extras)
    if len(periods) == 1 and periods[0] is not None:
        # the common case (one billing period per export): a plain COPY is much cheaper
        # than DuckDB's partitioned writer
        sel1 = ", ".join(q(c) for c in pipe.ledger_cols + pipe.extras if c != schema.PARTITION_COLUMN)
        one = data_dir / f"{schema.PARTITION_COLUMN}={periods[0]}" / f"{stem}-0.parquet"
        one.parent.mkdir(parents=True, exist_ok=True)
        n = cur.execute(f"COPY (SELECT {sel1} FROM ({sql}) AS __p WHERE {keep}) TO {lit(str(one))} "
                        f"({_LEDGER_PARQUET})").fetchall()[0][0]
        if not n:
            one.unlink()
        return n
    return cur.execute(
        f"COPY (SELECT {sel} FROM ({sql}) AS __p WHERE {keep}) TO {lit(str(data_dir))} "
        f"({_LEDGER_PARQUET}, PARTITION_BY ({q(schema.PARTITION_COLUMN)}), "
        f"FILENAME_PATTERN {lit(stem + '-{i}')}, OVERWRITE_OR_IGNORE true)").fetchall()[0][0]


def _write_in_two_passes(con, res: FileResult, path: Path, fmt, relation, raw_types, plan: Plan, pipe: _Pipeline,
                         data_dir: Path, short: str, small: bool) -> int | None:
    """Pass 1 (the temporary table ``chk``): row counts, reconciliation amounts per currency,
    billing periods and lookup keys; then the lookups, and pass 2: the good rows into
    ``data_dir``. Returns the rows written; sets ``res.source_rows``. None when a sampled
    plan did not hold for the whole file (then the plan is built again)."""
    n_recon = len(plan.recon)
    group = [f"__rcur_{i}" for i in range(n_recon)] + (["__scur"] if plan.single_currency else []) + \
        [q(k) for k in pipe.key_cols]
    sums = [f"sum(__rsrc_{i}) AS __rsrc_{i}" for i in range(n_recon)]
    # pass 1, one aggregate over the few columns it needs (DuckDB prunes the rest of the
    # mapping; a large file is grouped by its source key columns first, see keys_sql)
    grouped = None if small else pipe.keys_sql(group)
    if plan.facts and not grouped:  # only the grouped pass 1 counts a sampled plan's facts
        return None
    try:
        if small:
            # a small file is mapped once into a temporary table (with its raw records), so
            # the big mapping SQL is planned once; for small files planning, not the rows,
            # is the cost
            con.execute(f"CREATE TEMP TABLE __b AS {pipe.base_raw}")
            base = "SELECT * FROM __b"
        else:
            # a large file streams: the mapping runs per pass and nothing is held in memory
            base = pipe.base
        con.execute(f"CREATE TEMP TABLE chk AS {grouped}" if grouped else
                    f"CREATE TEMP TABLE chk AS SELECT {', '.join(group)}, "
                    f"strftime(\"BillingPeriodStart\", '%Y-%m') AS __period, count(*) AS __n"
                    f"{''.join(', ' + x for x in sums)} FROM ({base}) AS __p GROUP BY ALL")
        if plan.facts:
            counts = con.execute("SELECT " + ", ".join(f"COALESCE(sum(__f_{i}), 0)" for i in range(len(plan.facts)))
                                 + " FROM chk").fetchall()[0]
            if not plan.confirm(dict(zip(plan.facts, counts))):
                # the sample misled the plan (a unit of measure or a dataset it did not see)
                con.execute("DROP TABLE chk")
                return None
        enums = _lookups(con, pipe)
    except duckdb.Error as exc:
        raise FormatError(f"cannot read as {fmt.name}: {_short(exc)}", file=str(path)) from exc
    write_base = base if small else pipe.base_of(_numbered(relation, raw_types), enums=True)
    sql = pipe.final(write_base, "SELECT * FROM tagl", "SELECT * FROM clsl", enum_constants=True, enums=enums)
    res.source_rows = con.execute("SELECT COALESCE(sum(__n), 0) FROM chk").fetchall()[0][0]
    if plan.single_currency:
        cur = con.execute("SELECT DISTINCT __scur FROM chk WHERE __scur IS NOT NULL ORDER BY 1").fetchall()
        if len(cur) > 1:
            row = con.execute(f"SELECT min(__row) FROM ({base}) AS __p WHERE __scur <> {lit(cur[0][0])}"
                              ).fetchall()[0][0]
            raise MixedCurrencyError(f"format {fmt.name} allows one currency per file; found "
                                     f"{', '.join(c[0] for c in cur)}", file=str(path), row=row,
                                     column="BillingCurrency")
    # pass 2: the good rows into the ledger layout; the quarantine is the rest
    periods = [r[0] for r in con.execute("SELECT DISTINCT __period FROM chk ORDER BY 1").fetchall()]
    return _write(con, pipe, sql, periods, data_dir, f"part-{short}") if periods else 0


#: a large CSV file's sample for its lookups (see _sample_lines): this many slices of the
#: file, each this many bytes
_SAMPLE_SLICES, _SAMPLE_SLICE_BYTES = 64, 256 * 2**10


def _sample_lines(path: Path, start: int, out: Path) -> bool:
    """Write to ``out`` whole lines of ``path`` from ``_SAMPLE_SLICES`` evenly spaced slices
    of its bytes after ``start`` (the header's end): the lookup keys and billing periods
    of most files' rows, read without reading the file. A line cut by a slice is dropped;
    the file's first line after ``start`` is kept.

    Returns False when a sampled line has an odd number of quotes, a record over several
    lines (the file is then not cut into parts)."""
    size = path.stat().st_size
    step = max((size - start) // _SAMPLE_SLICES, 1)
    with open(path, "rb") as src, open(out, "wb") as dst:
        prev = start
        for a in range(start, size, step):
            a = max(a, prev)  # slices longer than the step do not overlap
            src.seek(a)
            chunk = src.read(min(_SAMPLE_SLICE_BYTES, size - a))
            head = 0 if a == start else chunk.find(b"\n") + 1
            tail = chunk.rfind(b"\n") + 1
            if 0 < head < tail or (a == start and tail):
                lines = chunk[head:tail]
                if any(line.count(b'"') % 2 for line in lines.split(b"\n")):
                    return False
                dst.write(lines)
            prev = a + len(chunk)
    return True


class _Tally:
    """What pass 1 of a two-pass write counts (:func:`_write_in_two_passes`), counted instead
    by the write of one part of a CSV file (:func:`_write_in_parts`): a DuckDB scalar
    function over Arrow batches in the write's filter, so it sees every row of the part
    once. It returns whether to write the row: not when the row failed a check (the
    quarantine gets it), nor when its key was not in a lookup or its billing period is not
    the one being written (the fix-up writes it).

    Its arguments: whether the row failed a check, the three miss flags (tags,
    classification, period), ``__seq``, the distinct currency columns of the reconciliation
    (``currency_of[i]``: the one of amount ``i``; ``single_at``: the one a single-currency
    format checks), the reconciliation amounts ``__rsrc_i``, the facts of a sampled plan,
    then the lookup keys of the rows that missed (``Tags``, then ``n_class_keys``
    classification keys; NULL for the other rows).

    Counted: ``rows``; ``sums`` (per reconciliation amount: currency -> exact total, None
    when every amount is NULL, as SQL's ``sum``); ``currencies`` (single-currency formats);
    ``facts`` (rows where each holds); ``missed`` (the ``__seq`` of the rows to fix up);
    ``missed_tags`` and ``missed_classes`` (their keys).

    Example:
        >>> import duckdb
        >>> t = _Tally(currency_of=[0], single_at=None, n_facts=0, n_class_keys=0)
        >>> con = duckdb.connect()
        >>> _ = con.create_function("tally", t, ["BOOLEAN"] * 4 + ["BIGINT", "VARCHAR", "DECIMAL(38,18)", "VARCHAR"],
        ...                         "BOOLEAN", type="arrow", null_handling="special", side_effects=True)
        >>> con.execute("SELECT count(*) FROM (VALUES (false, 'USD', 1.5), (true, 'USD', 2.25), (false, 'EUR', 1)) "
        ...             "v(bad, c, x) WHERE tally(bad, false, false, false, 1, c, x, NULL)").fetchall()
        [(2,)]
        >>> t.rows, {c: str(v) for c, v in sorted(t.sums[0].items())}
        (3, {'EUR': '1.000000000000000000', 'USD': '3.750000000000000000'})
    """

    def __init__(self, currency_of: list[int], single_at: int | None, n_facts: int, n_class_keys: int) -> None:
        self.rows = 0
        self.sums: list[dict] = [{} for _ in currency_of]
        self.currencies: set = set()
        self.facts = [0] * n_facts
        self.missed: list = []
        self.missed_tags: set = set()
        self.missed_classes: set = set()
        n_cur = max([*currency_of, -1 if single_at is None else single_at], default=-1) + 1
        self._shape = (n_cur, currency_of, single_at, n_facts, n_class_keys)
        self._lock = threading.Lock()
        # DuckDB takes a Python function's arity from its signature
        n = 5 + n_cur + len(currency_of) + n_facts + 1 + n_class_keys
        self.__signature__ = inspect.Signature([inspect.Parameter(f"a{i}", inspect.Parameter.POSITIONAL_ONLY)
                                                for i in range(n)])

    def __call__(self, bad, tmiss, kmiss, pmiss, seq, *cols):
        import pyarrow.compute as pc

        n_cur, currency_of, single_at, n_facts, n_keys = self._shape
        curs, amts = cols[:n_cur], cols[n_cur:n_cur + len(currency_of)]
        k = n_cur + len(currency_of)
        miss = pc.and_not(pc.or_(pc.or_(tmiss, kmiss), pmiss), bad)
        keep = pc.invert(pc.or_(bad, miss))
        values = [pc.unique(c) for c in curs]
        sums = []
        for amt, ci in zip(amts, currency_of):
            cur, vals = curs[ci], values[ci]
            if len(vals) == 1:  # the common case: one currency in the batch
                sums.append([(vals[0].as_py(), pc.sum(amt).as_py())])
                continue
            sums.append([(c.as_py(), pc.sum(pc.filter(
                amt, pc.fill_null(pc.equal(cur, c), False) if c.is_valid else pc.is_null(cur))).as_py())
                for c in vals])
        currencies = set(values[single_at].to_pylist()) if single_at is not None else set()
        facts = [pc.sum(cols[k + j]).as_py() or 0 for j in range(n_facts)]
        k += n_facts
        n_missed = pc.sum(miss).as_py() or 0
        if n_missed:
            tm = pc.and_(miss, tmiss)
            tags = set(pc.filter(cols[k], tm).to_pylist()) if pc.sum(tm).as_py() else set()
            km = pc.and_(miss, kmiss)
            classes = set(zip(*(pc.filter(c, km).to_pylist() for c in cols[k + 1:k + 1 + n_keys]))) \
                if pc.sum(km).as_py() else set()
            missed = pc.filter(seq, miss)
        with self._lock:
            self.rows += len(bad)
            for acc, got in zip(self.sums, sums):
                for c, s in got:
                    acc[c] = _add(acc.get(c), s)
            self.currencies |= currencies
            self.facts = [a + b for a, b in zip(self.facts, facts)]
            if n_missed:
                self.missed.append(missed)
                self.missed_tags |= tags
                self.missed_classes |= classes
        return keep


_EXACT = decimal.Context(prec=200, traps=[decimal.Inexact, decimal.Overflow])


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    """``a + b`` exactly, as SQL's ``sum`` adds: NULL only when both are."""
    return b if a is None else a if b is None else _EXACT.add(a, b)


@dataclass
class _Sampled:
    """The lookups of a large CSV file built from a sample of its lines (:func:`_sample_keys`):
    the ENUM copies of the tables ``tagl`` and ``clsl`` (see :func:`_lookup`), the sample's
    billing periods, and the types of the keys in the temporary table ``__sk``."""

    enums: dict[str, str]
    periods: list[str]
    types: dict[str, str]


@contextlib.contextmanager
def _sample_file(path: Path, folder: Path):
    """A file in ``folder`` (a staging folder) of sampled lines of the CSV file ``path``
    (:func:`_sample_lines`), removed on exit; False when the sample shows a record over
    several lines, or cannot be made (no header line, no room)."""
    sample = None
    try:
        with open(path, "rb") as fh:
            start = fh.read(2**20).find(b"\n") + 1  # the header's end
        if start:
            sample = folder / f"sample-{uuid.uuid4().hex}.csv"
            if not _sample_lines(path, start, sample):
                sample.unlink()
                sample = None
    except OSError:
        if sample is not None:
            sample.unlink(missing_ok=True)
        sample = None
    try:
        yield sample or False
    finally:
        if sample is not None:
            sample.unlink(missing_ok=True)


def _sample_keys(con, sample: Path, probe, fmt, raw_types, pipe: _Pipeline, options: IngestOptions) -> _Sampled | None:
    """Create the lookup tables ``tagl`` and ``clsl`` of a large CSV file from a sample of
    its lines (:func:`_sample_file`), with the sample's keys and billing periods in the
    temporary table ``__sk``. It needs neither the file's hash nor its cuts, so the ingest
    runs it while hashing the file. None (and no table) when the sample cannot be read."""
    try:
        rel = fmt.part_relation(probe, options, str(sample), list(raw_types))
        con.execute(f"CREATE TEMP TABLE __sk AS SELECT {', '.join(q(k) for k in pipe.key_cols)}, "
                    f"strftime(\"BillingPeriodStart\", '%Y-%m') AS __period "
                    f"FROM ({pipe.base_of(_numbered(rel, raw_types))}) AS __p GROUP BY ALL")
        enums = _lookups(con, pipe, "__sk")
        periods = [r[0] for r in con.execute("SELECT DISTINCT __period FROM __sk WHERE __period IS NOT NULL "
                                             "ORDER BY 1").fetchall()]
        types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE __sk)").fetchall())
    except duckdb.Error:
        for t in ("__sk", "tagl", "clsl"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        return None
    return _Sampled(enums, periods, types)


def _write_in_parts(con, res: FileResult, path: Path, probe, fmt, raw_types, plan: Plan, pipe: _Pipeline,
                    staging: Path, options: IngestOptions, cuts, sampled: _Sampled | bool | None = None
                    ) -> tuple[int, list[dict]] | str | None:
    """Write a large CSV file in one pass: its parts side by side, cut at the line ends
    found while hashing it (see :class:`_PartCopies`), each part numbered from the lines
    before it.

    Nothing reads the file before: the lookups are built from a sample of its lines
    (``sampled``, made while the file was hashed; False: the sample showed a record over
    several lines; None: made here, see :func:`_sample_keys`), and each part's write
    counts, in its filter, what the first pass of a two-pass write would have
    (:class:`_Tally`). Rows whose key the sample did not have, or whose billing period is
    not the sample's, are held back and written after, by a fix-up pass over those rows
    only, with the lookups completed.

    Returns ``(rows written, source totals per reconciliation column)`` and sets
    ``res.source_rows``; ``"replan"`` when a sampled plan does not hold for the whole file;
    None when the file is not one record per line (a quoted newline: each part must have
    exactly as many records as lines, which a part that does not checks), has more than
    one currency where its format allows one, or cannot be read (the two-pass write then
    tells why)."""
    lines, ends_nl = cuts[1], cuts[2]
    records = lines - (1 if ends_nl else 0)  # if each record is one line (checked below)
    spans = _record_spans(cuts, records)
    names = list(raw_types)
    short = res.hash[:16]
    data_dir = staging / "data"
    n_recon, n_facts = len(plan.recon), len(plan.facts)
    # the tallies' currency columns: each distinct currency expression once
    first: dict[str, str] = {}
    for c in [f"__rcur_{i}" for i in range(n_recon)] + (["__scur"] if plan.single_currency else []):
        first.setdefault(pipe.exprs[c], c)
    currency_cols, currency_sql = list(first.values()), list(first)
    currency_of = [currency_sql.index(pipe.exprs[f"__rcur_{i}"]) for i in range(n_recon)]
    single_at = currency_sql.index(pipe.exprs["__scur"]) if plan.single_currency else None
    tallies = [_Tally(currency_of, single_at, n_facts, len(pipe.key_cols) - 1) for _ in spans or []]
    fixes: list[str] = []
    done = False
    try:
        if spans is None or shutil.disk_usage(staging).free < 2 * path.stat().st_size or sampled is False:
            return None  # fewer than two parts, no room for the copies, or a record over several lines
        if sampled is None:
            with _sample_file(path, staging) as sample:
                sampled = sample and _sample_keys(con, sample, probe, fmt, raw_types, pipe, options)
            if not sampled:
                return None
        before = [s[2] for s in spans]
        expected = [b - a for a, b in zip(before, before[1:] + [records])]
        enums, types = sampled.enums, sampled.types
        periods = sampled.periods if len(sampled.periods) == 1 else [None]
        with _PartCopies(path, spans, staging / "parts") as copies:
            params = (["BOOLEAN"] * 4 + ["BIGINT"] + ["VARCHAR"] * len(currency_cols) + [schema.DECIMAL] * n_recon
                      + ["BOOLEAN"] * n_facts + [types[k] for k in pipe.key_cols])
            pmiss = f"{q(schema.PARTITION_COLUMN)} <> {lit(periods[0])}" if periods[0] else "false"
            args = ", ".join(["__reason IS NOT NULL", "__tmiss", "__kmiss", pmiss, "__seq", *currency_cols,
                              *(f"__rsrc_{i}" for i in range(n_recon)), *(f"__f_{j}" for j in range(n_facts)),
                              *(f"__mk_{j}" for j in range(len(pipe.key_cols)))])

            def part_sql(i: int, enums: dict, tally: bool = True) -> str:
                numbered = _numbered(fmt.part_relation(probe, options, str(copies.wait(i)), names), raw_types,
                                     spans[i][2])
                return pipe.final(pipe.base_of(numbered, enums=True), "SELECT * FROM tagl", "SELECT * FROM clsl",
                                  enum_constants=True, enums=enums, tally=tally)

            # the partition folders exist first, so that no two writers create one
            for p in sampled.periods:
                (data_dir / f"{schema.PARTITION_COLUMN}={p}").mkdir(parents=True, exist_ok=True)

            def write_part(i: int) -> int:
                # the tally's function is the cursor's (DuckDB calls a Python function through
                # the connection that registered it), its name the database's
                cur, udf = con.cursor(), f"__tally_{short}_{i}"
                try:
                    cur.create_function(udf, tallies[i], params, "BOOLEAN", type="arrow", null_handling="special",
                                        side_effects=True)
                    try:
                        n = _write(cur, pipe, part_sql(i, enums), periods, data_dir, f"part-{short}-{i}",
                                   keep=f"{udf}({args})")
                    finally:
                        cur.remove_function(udf)
                finally:
                    cur.close()
                if not tallies[i].missed:
                    # no fix-up reads this part again: its copy goes now, in this thread, and
                    # not after the last part (freeing a 2 GB copy's pages takes about 1.3 s)
                    copies.drop(i)
                return n

            with ThreadPoolExecutor(len(spans)) as pool:
                written = sum(pool.map(write_part, range(len(spans))))
            if [t.rows for t in tallies] != expected:
                return None  # a quoted newline: the records are not the lines
            if plan.single_currency and len(set().union(*(t.currencies for t in tallies)) - {None}) > 1:
                return None  # the two-pass write names the first row of another currency
            if plan.facts:
                counts = [sum(t.facts[j] for t in tallies) for j in range(n_facts)]
                if not plan.confirm(dict(zip(plan.facts, counts))):
                    return "replan"
            fix = [i for i, t in enumerate(tallies) if t.missed]
            if fix:
                # the rows held back: complete the lookups with their keys, then write just
                # those rows of each part (a partitioned write: their period may be any)
                sk = pipe.key_cols
                rows = [(tag, *([None] * (len(sk) - 1))) for x in tallies for tag in x.missed_tags]
                rows += [(None, *key) for x in tallies for key in x.missed_classes]
                if rows:
                    cast = ", ".join(f"CAST(unnest($p{j}) AS {types[c]}) AS {q(c)}" for j, c in enumerate(sk))
                    con.execute(f"INSERT INTO __sk ({', '.join(q(c) for c in sk)}) SELECT {cast}",
                                {f"p{j}": [None if r[j] is None else str(r[j]) for r in rows] for j in range(len(sk))})
                con.execute("DROP TABLE tagl")
                con.execute("DROP TABLE clsl")
                enums = _lookups(con, pipe, "__sk")
                import pyarrow as pa

                for i in fix:
                    fixes.append(f"__fix_{i}")
                    con.from_arrow(pa.Table.from_arrays([pa.chunked_array(tallies[i].missed)], names=["s"])
                                   ).create(f"__fix_{i}")

                for i in fix:  # one at a time: a partitioned writer may create a period's folder
                    written += _write(con, pipe, part_sql(i, enums, False), [None], data_dir, f"fix-{short}-{i}",
                                      keep=f"__seq IN (SELECT s FROM __fix_{i}) AND __reason IS NULL")
            done = True
    except (duckdb.Error, OSError):
        # the two-pass write reads the file in one stream, and says what is wrong with it
        shutil.rmtree(data_dir, ignore_errors=True)
        return None
    finally:
        for t in fixes + ["__sk"] + ([] if done else ["tagl", "clsl"]):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    res.source_rows = sum(t.rows for t in tallies)
    src = []
    for i in range(n_recon):
        acc: dict = {}
        for t in tallies:
            for c, s in t.sums[i].items():
                acc[c] = _add(acc.get(c), s)
        src.append(acc)
    return written, src


def check_reconciled(recon: list[dict], file: str) -> None:
    """Raise :class:`ReconciliationError` for the first column and currency whose source total
    is not the ledger total plus the quarantined total."""
    bad = [r for r in recon if r["difference"] != 0]
    if bad:
        b = bad[0]
        raise ReconciliationError(
            f"{b['column']} {b['currency']}: source {b['source_total']} != ledger {b['ledger_total']} + "
            f"quarantined {b['quarantined_total']} (difference {b['difference']})", file=file)


def manifest_entry(res: FileResult, path: str, abs_path: Path, fmt: SourceFormat, plan: Plan, extras: list[str],
                   ingested_at: datetime, tag_map: TagMap, options: IngestOptions, files: list[str],
                   qfile: str | None, **more) -> dict:
    """The ledger manifest's entry for one ingested source file (``files``: its staged files'
    ledger paths, data and quarantine; ``more``: engine-specific keys)."""
    return {
        "hash": res.hash, "path": path, "abs_path": str(abs_path), "format": fmt.name,
        "size_bytes": abs_path.stat().st_size if abs_path.is_file() else None, "ingested_at": ingested_at.isoformat(),
        "aifinops_version": __version__, "ingest_key": _ingest_key(fmt, tag_map, options),
        "source_rows": res.source_rows, "rows": res.rows,
        "quarantined": res.quarantined, "defaulted": res.defaulted, "cost_authority": plan.cost_authority,
        "extra_columns": extras, "files": [rel for rel in files if rel.startswith("data/")],
        "quarantine_file": qfile, **more,
        "recon": [{k: str(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in res.recon],
    }


def commit_entry(ledger: Ledger, res: FileResult, entry: dict, added: list[tuple[Path, str]]) -> None:
    """Commit one file's staged files and manifest entry atomically, replacing earlier ingests
    of the same bytes or the same path."""
    with ledger.lock():
        manifest = ledger.manifest
        replaces = [h for h, e in manifest["files"].items()
                    if h == res.hash or e.get("abs_path") == entry["abs_path"]]
        res.replaced = [manifest["files"][h]["path"] for h in replaces]
        ledger.commit(entry, added, replaces)


#: attribution and classification results per lookup SQL (which fixes the tag map, the rules
#: and the key types), by key: files of one export family share most keys, so a process
#: ingesting many files plans and runs the big lookup SQL only when a file brings a new key
_LOOKUPS: dict[str, tuple[list[tuple[str, str]], dict[tuple, tuple]]] = {}
_LOOKUP_CACHE_KEYS = 200_000
#: most distinct values a lookup column may have to get an ENUM copy (a Parquet dictionary
#: page of that many strings per column chunk; DICTIONARY_SIZE_LIMIT in _LEDGER_PARQUET)
_ENUM_MAX_VALUES = 1000


def _lookups(con, pipe: _Pipeline, source: str = "chk") -> dict[str, str]:
    """The tables ``tagl`` (tag-map attribution per distinct ``Tags``) and ``clsl`` (AI/GPU
    classification per distinct key) over the keys in the table ``source``; their ENUM
    copies (see :func:`_lookup`)."""
    enums = _lookup(con, "tagl", pipe.tag_lookup, ['"Tags"'], source)
    enums.update(_lookup(con, "clsl", pipe.class_lookup, [q(k) for k in pipe.class_keys], source))
    return enums


def _lookup(con, name: str, build, keys: list[str], source: str = "chk") -> dict[str, str]:
    """Create the table ``name`` = ``build(rel)`` over the distinct ``keys`` of the table
    ``source`` (pass 1's, or a sample's), with a ``__hit`` column, TRUE (a row that finds no
    match in a LEFT JOIN has it NULL); the
    lookup SQL is planned and run only when a key is new to this process. (A table of the
    connection's in-memory database, not a temporary one: the parts of a large file are
    written through cursors, which do not see the connection's temporary tables.)

    Returns the ENUM copies it adds: text column -> the same values as a column of type
    ``ENUM(its distinct values)``, for columns of 1 to ``_ENUM_MAX_VALUES`` values (see
    :meth:`_Pipeline.final`)."""
    con.execute(f"CREATE TEMP TABLE __keys AS SELECT DISTINCT {', '.join(keys)} FROM {source}")
    types = [t[1] for t in con.execute("DESCRIBE __keys").fetchall()]
    sig = hashlib.sha256((build("__keys") + repr(types)).encode()).hexdigest()
    cols, cache = _LOOKUPS.get(sig, (None, {}))
    if len(cache) > _LOOKUP_CACHE_KEYS:
        cache.clear()
    got = con.execute("SELECT * FROM __keys").fetchall()
    if cols is None or any(k not in cache for k in got):
        con.execute(f"CREATE TEMP TABLE __res AS {build('SELECT * FROM __keys')}")
        if cols is None:
            cols = [(c[0], "VARCHAR" if c[1] == "NULL" else c[1]) for c in con.execute("DESCRIBE __res").fetchall()]
            _LOOKUPS[sig] = (cols, cache)
        for row in con.execute("SELECT * FROM __res").fetchall():
            cache[row[:len(keys)]] = row
        con.execute("DROP TABLE __res")
    rows = [cache[k] for k in got]
    sel = ", ".join(f"CAST({q(c)} AS {t}) AS {q(c)}" for c, t in cols) + ", TRUE AS __hit"
    enums: dict[str, str] = {}
    for i, (c, t) in enumerate(cols):
        values = sorted({r[i] for r in rows if r[i] is not None}) if t == "VARCHAR" else []
        if 0 < len(values) <= _ENUM_MAX_VALUES:
            enums[c] = f"__e_{c}"
            sel += f", CAST({q(c)} AS ENUM({', '.join(lit(v) for v in values)})) AS {q(enums[c])}"
    if not rows:
        con.execute(f"CREATE TABLE {name} AS SELECT {sel} FROM (SELECT {', '.join(f'NULL AS {q(c)}' for c, _ in cols)}) "
                    f"WHERE false")
    else:
        # the rows as list parameters, one per column (not through pyarrow, whose conversion
        # of Python values imports pandas: 0.5 s of an ingest process); amounts as text, cast
        # back exactly
        params = {f"p{i}": [str(r[i]) if isinstance(r[i], Decimal) else r[i] for r in rows] for i in range(len(cols))}
        unnested = ", ".join(f"unnest($p{i}) AS {q(c)}" for i, (c, _) in enumerate(cols))
        con.execute(f"CREATE TABLE {name} AS SELECT {sel} FROM (SELECT {unnested}) AS __rows", params)
    con.execute("DROP TABLE __keys")
    return enums


def _reconcile(con, plan: Plan, sources: list[dict], data_files: list[Path], qsums: dict[int, dict]) -> list[dict]:
    """Per reconciliation column and currency: the source total (``sources[i]``: currency ->
    total, from the first pass or the parts' tallies), the ledger total read back from the
    written ``data_files``, and the quarantined total."""
    out = []
    lst = "[" + ", ".join(lit(str(f)) for f in data_files) + "]"
    for i, r in enumerate(plan.recon):
        src = sources[i]
        qua = qsums.get(i, {})
        col = r.ledger_column
        if data_files:
            group = '"BillingCurrency"' if col in schema.COLUMNS and schema.COLUMNS[col].is_money else r.currency
            led = dict(con.execute(
                f"SELECT CAST({group} AS VARCHAR), sum(CAST({q(col)} AS {schema.DECIMAL})) "
                f"FROM read_parquet({lst}, union_by_name = true) GROUP BY 1").fetchall())
        else:
            led = {}
        for cur in sorted(set(src) | set(led) | set(qua), key=lambda c: (c is None, str(c))):
            s = src.get(cur) or Decimal(0)
            l_ = led.get(cur) or Decimal(0)
            qq = qua.get(cur) or Decimal(0)
            out.append({"column": col, "source_column": r.label or col, "currency": cur,
                        "source_total": trim(s), "ledger_total": trim(l_), "quarantined_total": trim(qq),
                        "difference": trim(s - l_ - qq)})
    return out
