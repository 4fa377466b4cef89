"""What a loader is: a :class:`SourceFormat` that detects its files from their header and
returns a :class:`Plan`, the SQL mapping of its source columns onto the ledger schema.

The ingest pipeline (``aifinops.ingest``) does everything else the same way for every
format: row numbers, type checks, quarantine, tag attribution, AI/GPU line recognition,
reconciliation, atomic commit. Adding a provider is one module here plus one sample writer.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

from ..sql import Source, lit, q

__all__ = ["Probe", "Check", "Recon", "Plan", "SourceFormat", "IngestOptions", "csv_relation"]


@dataclass(frozen=True)
class IngestOptions:
    """Options that loaders may read.

    Attributes:
        default_currency: used only where a format carries no currency at all (partial
            FOCUS files); the ledger records the column as defaulted.
        null_strings: literal strings read as NULL in CSV sources.
    """

    default_currency: str = "USD"
    null_strings: tuple[str, ...] = ("", "NULL", "null")


@dataclass
class Probe:
    """What detection sees of a file without reading it whole.

    Attributes:
        path: the file.
        kind: ``csv``, ``parquet`` or ``json`` (after any gzip).
        compressed: gzip-compressed.
        columns: header columns (CSV), schema names (Parquet) or the first record's keys (JSON).
        head: the first 64 KiB of text (empty for Parquet).
        delimiter: CSV delimiter.
    """

    path: Path
    kind: str
    compressed: bool = False
    columns: list[str] = field(default_factory=list)
    head: str = ""
    delimiter: str = ","

    @classmethod
    def open(cls, path: str | Path) -> "Probe":
        """Probe a file; unreadable files raise :class:`~aifinops.errors.FormatError`."""
        path = Path(path)
        try:
            return cls._open(path)
        except (OSError, EOFError, ValueError, UnicodeError, IndexError) as exc:
            from ..errors import FormatError

            raise FormatError(f"cannot read the file's header: {exc}", file=str(path)) from exc

    @classmethod
    def _open(cls, path: Path) -> "Probe":
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic == b"PAR1":
            import pyarrow.parquet as pq

            return cls(path, "parquet", columns=list(pq.read_schema(path).names))
        compressed = magic[:2] == b"\x1f\x8b"
        opener = gzip.open if compressed else open
        with opener(path, "rb") as fh:
            raw = fh.read(65536)
        text = raw.decode("utf-8-sig", errors="replace")
        stripped = text.lstrip()
        if stripped[:1] in ("{", "["):
            cols: list[str] = []
            try:
                first = json.loads(stripped) if len(raw) < 65536 else None
            except json.JSONDecodeError:
                first = None
            if first is None:  # JSON lines or a large document: the first line's keys
                try:
                    first = json.loads(stripped.splitlines()[0])
                except (json.JSONDecodeError, IndexError):
                    first = None
            if isinstance(first, list):
                first = first[0] if first and isinstance(first[0], dict) else {}
            if isinstance(first, dict):
                cols = list(first)
            return cls(path, "json", compressed, cols, text)
        first_line = text.splitlines()[0] if text else ""
        try:
            delim = csv.Sniffer().sniff(first_line, delimiters=",;\t|").delimiter if first_line else ","
        except csv.Error:
            delim = ","
        cols = next(csv.reader(io.StringIO(first_line), delimiter=delim), [])
        return cls(path, "csv", compressed, [c.strip() for c in cols], text, delim)


@dataclass(frozen=True)
class Check:
    """A row check. ``bad`` is SQL that is TRUE when the row is bad; ``code`` one of
    ``number``, ``timestamp``, ``required``, ``value``; ``value`` the SQL of the offending
    value (shown in the quarantine reason)."""

    column: str
    code: str
    bad: str
    value: str = "NULL"


@dataclass(frozen=True)
class Recon:
    """A reconciliation pair: the source's own total (``source`` summed over the raw rows,
    grouped by ``currency``) must equal the ledger's ``ledger_column`` total plus the
    quarantined rows' ``source`` total, exactly."""

    ledger_column: str
    source: str
    currency: str
    label: str = ""


@dataclass
class Plan:
    """A loader's mapping of one file.

    Attributes:
        columns: ledger column -> SQL expression over the raw source columns. Columns
            left out are NULL (``x_`` attribution may then come from the tag map).
        checks: row checks; a failing row goes to the quarantine with its reason.
        recon: reconciliation pairs (at least BilledCost).
        extra: provider columns kept in the ledger as ``x_`` columns (name -> expr).
        single_currency: SQL of the currency when the format allows one per file.
        defaulted: mandatory FOCUS columns the file lacks that the plan filled with a default.
        cost_authority: ``invoice`` (billed cost) or ``estimate`` (enriches attribution only).
        facts: a plan built from a sample of the file (:meth:`SourceFormat.plan_sampled`):
            fact name -> condition over the source columns; the ingest counts the rows
            where each holds (in its first pass, or as it writes a file's parts), and
            ``confirm(counts)`` says whether the plan stands for the whole file. When it does
            not, ``replan()`` gives the plan from the whole file. Empty for a plan built from
            the whole file.
    """

    columns: dict[str, str]
    checks: list[Check] = field(default_factory=list)
    recon: list[Recon] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
    single_currency: str | None = None
    defaulted: list[str] = field(default_factory=list)
    cost_authority: str = "invoice"
    facts: dict[str, str] = field(default_factory=dict)
    confirm: Callable[[dict[str, int]], bool] | None = None
    replan: Callable[[], Plan] | None = None


class SourceFormat:
    """Base class of a loader. Subclasses set the class attributes and implement
    :meth:`plan`; most override :meth:`sniff` and :meth:`relation` only when the default
    (required columns present; DuckDB ``read_csv``/``read_parquet``/``read_json``) does not fit.
    """

    #: CLI name, e.g. ``aws-cur2``
    name: ClassVar[str] = ""
    #: one line for ``aifinops formats``
    title: ClassVar[str] = ""
    #: columns that identify the format (and must be present)
    required: ClassVar[tuple[str, ...]] = ()
    #: file kinds this format reads
    kinds: ClassVar[tuple[str, ...]] = ("csv",)

    def sniff(self, probe: Probe) -> bool:
        """True when the file is in this format."""
        return probe.kind in self.kinds and set(self.required) <= set(probe.columns)

    def similarity(self, probe: Probe) -> float:
        """0..1, for 'closest known formats' in errors."""
        if not self.required:
            return 0.0
        return len(set(self.required) & set(probe.columns)) / len(set(self.required))

    def missing(self, probe: Probe) -> list[str]:
        return [c for c in self.required if c not in probe.columns]

    def relation(self, probe: Probe, options: IngestOptions) -> str:
        """SQL of the raw source rows (text for CSV). A ``__row`` column, if present, is
        the 1-based record number; otherwise the pipeline numbers rows in file order. A
        ``__seq`` column (with ``__row``), if present, is each row's unique position, and
        the pipeline then needs no numbering of its own."""
        path = lit(str(probe.path))
        if probe.kind == "parquet":
            # the reader's own row numbers (``__seq`` position and ``__row`` record, both
            # 1-based): unlike a window over the rows they keep the scan parallel
            return (f"SELECT file_row_number + 1 AS __seq, file_row_number + 1 AS __row, * EXCLUDE (file_row_number) "
                    f"FROM read_parquet({path}, file_row_number = true)")
        if probe.kind == "json":
            return f"SELECT * FROM read_json_auto({path})"
        return csv_relation(probe, options)

    def part_relation(self, probe: Probe, options: IngestOptions, part: str, names: list[str]) -> str | None:
        """SQL of the raw rows of ``part``: a slice of this CSV file that holds whole records
        and no header, its columns named ``names`` (those :meth:`relation` gives). Large
        files are read in such parts in parallel. None when the format cannot read its file
        in parts (compressed files, formats with their own :meth:`relation`); a format that
        overrides :meth:`relation` with a plain :func:`csv_relation` overrides this too."""
        if type(self).relation is not SourceFormat.relation or probe.kind != "csv" or probe.compressed:
            return None
        return csv_relation(probe, options, columns=names, part=part)

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:  # pragma: no cover
        raise NotImplementedError

    def plan_sampled(self, source: Source, probe: Probe, options: IngestOptions, sample: str | None = None) -> Plan:
        """The plan, for the ingest of a whole file: a format whose plan depends on facts it
        would otherwise scan the whole file for may build it from a sample instead (its
        first rows, or ``sample``: SQL of sampled rows of the file, with its columns), and
        leave the check to the ingest (see :class:`Plan` ``facts``)."""
        return self.plan(source, probe, options)

    def __repr__(self) -> str:
        return f"<format {self.name}>"


def csv_relation(probe: Probe, options: IngestOptions, *, columns: list[str] | None = None,
                 part: str | None = None) -> str:
    """``read_csv`` of a probe's file with every column as text. ``columns`` renames the
    header (e.g. localized headers) positionally. ``part`` reads instead a headerless slice
    of the file (whole records, same dialect), its columns named ``columns``."""
    nulls = "[" + ", ".join(lit(s) for s in options.null_strings) + "]"
    if part is not None and columns is None:
        raise ValueError("a part of a CSV file needs its column names")
    args = [
        lit(str(probe.path) if part is None else part),
        # a part has no header, and its first records are never lines to skip
        "header = true" if part is None else "header = false, skip = 0",
        "all_varchar = true",
        f"delim = {lit(probe.delimiter)}",
        "quote = '\"'",
        "escape = '\"'",
        f"nullstr = {nulls}",
    ]
    if probe.compressed:
        args.append("compression = 'gzip'")
    if columns is not None:
        args.append("names = [" + ", ".join(lit(c) for c in columns) + "]")
    return f"SELECT * FROM read_csv({', '.join(args)})"


def passthrough_x(name: str) -> str:
    """The ``x_`` name under which a provider column is kept: ``lineItem/UsageType`` ->
    ``x_lineItem_UsageType``."""
    import re

    return "x_" + re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_")


__all__.append("passthrough_x")
_ = q  # re-exported for loaders
