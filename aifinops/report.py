"""The report pipeline: ingest -> notebooks (papermill) -> offline HTML (nbconvert) ->
finance workbook -> provenance, written to ``reports/<period>/`` atomically.

One YAML file configures a run (see ``templates/report.yaml``). :func:`run_report` ingests the
configured exports into the ledger, executes every notebook with the same parameters
(``period``, ``ledger_path``, ``reporting_currency``, ``dimensions``, ``config_path``,
``tag_map_path``, ``output_dir``), converts each executed notebook to a self-contained HTML
page without code, writes ``finance.xlsx`` and ``provenance.json`` and only then swaps the
finished folder into place: a failed run leaves the previous bundle as it was and keeps its
own half-built folder as ``reports/.failed-<period>/`` for inspection.

The module also holds the small query helpers the notebooks call (:func:`open_ledger`,
:func:`latest_period`, :func:`daily_cost`, :func:`quarantine_reasons`, ...), so notebook cells
stay one or two lines.

Example:
    >>> import tempfile
    >>> from aifinops.report import load_config
    >>> d = tempfile.mkdtemp()
    >>> _ = open(d + "/r.yaml", "w").write("inputs: [exports/*.csv]\\nperiod: 2025-06\\n")
    >>> cfg = load_config(d + "/r.yaml")
    >>> cfg.period, cfg.output.name, cfg.dimensions
    ('2025-06', 'reports', ['x_Team', 'x_Feature'])
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import glob
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import pandas as pd

from . import schema
from .engine import connect
from .errors import AifinopsError, ConfigError, LedgerError
from .ledger import Ledger
from .paths import safe_output_path
from .reconcile import BILLED

__all__ = [
    "ReportConfig",
    "ReportError",
    "COMMON_PARAMETERS",
    "MONEY_CURRENCY",
    "load_config",
    "default_jobs",
    "run_report",
    "main_report",
    "templates_dir",
    "notebook_to_html",
    "execute_notebook",
    "open_ledger",
    "ReportLedger",
    "latest_period",
    "daily_cost",
    "quarantine_reasons",
    "defaulted_columns",
    "rows_by_provider_month",
    "reconciliation",
    "reconciliation_status",
    "quarantine_status",
    "finance_sheets",
    "table",
    "format_money",
]

log = logging.getLogger(__name__)

#: the parameters every report notebook declares in its ``parameters`` cell
COMMON_PARAMETERS: tuple[str, ...] = ("period", "ledger_path", "reporting_currency", "dimensions", "config_path",
                                      "tag_map_path", "output_dir")
#: money columns of report tables -> their currency column
MONEY_CURRENCY: dict[str, str] = {
    **{c: "BillingCurrency" for c in schema.MONEY_COLUMNS},
    "source_total": "currency", "ledger_total": "currency", "quarantined_total": "currency", "difference": "currency",
}
_PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_KEYS = {"root", "inputs", "exclude", "ledger", "output", "period", "reporting_currency", "dimensions", "notebooks",
         "tag_map", "default_currency", "format", "workbook", "on_rejected", "cell_timeout", "business", "jobs"}
#: the ``business:`` inputs of a report config: the files behind the workbook's allocation,
#: unit-economics, ROI, budget, alert and hybrid sheets
BUSINESS_KEYS = ("kpis", "fx", "allocation", "budgets", "policies", "onprem", "gpu_rates")
UNATTRIBUTED = "(unattributed)"


class ReportError(AifinopsError, RuntimeError):
    """A report run failed; ``notebook`` and ``cell`` (0-based index in the source notebook)
    name the failing cell when a notebook raised.

    Example:
        >>> str(ReportError("NameError: x", notebook="01_a.ipynb", cell=4))
        '01_a.ipynb, cell 4: NameError: x'
    """

    def __init__(self, message: str, *, notebook: str | None = None, cell: int | None = None,
                 failed_dir: str | None = None) -> None:
        self.notebook, self.cell, self.failed_dir = notebook, cell, failed_dir
        self.message = message
        AifinopsError.__init__(self, message, file=notebook)
        if cell is not None:  # AifinopsError says "row"; a notebook has cells
            self.args = (f"{notebook}, cell {cell}: {message}",)

    def __str__(self) -> str:
        return str(self.args[0])


# -----------------------------------------------------------------------------------------
# configuration
# -----------------------------------------------------------------------------------------

#: inputs a report skips by default: docs, config, the sample generator's manifest and truth,
#: and business inputs (KPIs, FX, rate tables) that are not exports (file names or paths from root)
DEFAULT_EXCLUDE = ("*.md", "*.txt", "*.yaml", "*.yml", "MANIFEST.json", "ground_truth.parquet", "*/business/*")


@dataclass(frozen=True)
class ReportConfig:
    """A report run's configuration, paths resolved.

    Attributes:
        path: the YAML file.
        root: folder relative paths are resolved from (YAML ``root``, relative to the file;
            default the file's folder).
        inputs: globs of export files (``**`` recurses).
        exclude: file-name globs skipped among the inputs.
        ledger: ledger folder.
        output: output root; bundles go to ``<output>/<period>/``.
        period: ``YYYY-MM`` or None (last full month in the ledger).
        reporting_currency: headline currency (amounts keep their own currency).
        dimensions: attribution columns (``x_Team``...; YAML may say ``team``).
        notebooks: notebooks to run, in order.
        tag_map: tag map YAML or None (default map).
        default_currency: currency of partial FOCUS files that carry none.
        format: force one input format (None: detect per file).
        workbook: file name of the finance workbook.
        on_rejected: ``fail`` (default) or ``warn`` when an input file is rejected by ingest.
        cell_timeout: seconds one notebook cell may run.
        business: the workbook's business inputs (see :data:`BUSINESS_KEYS`).
        jobs: notebooks run at the same time, each in its own process, and input files
            the ingest step stages at the same time (default: the number of CPUs, at least
            1; ``1`` runs them one after another in this process).
    """

    path: Path
    root: Path
    inputs: list[str]
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    ledger: Path = Path("ledger")
    output: Path = Path("reports")
    period: str | None = None
    reporting_currency: str = "USD"
    dimensions: list[str] = field(default_factory=lambda: ["x_Team", "x_Feature"])
    notebooks: list[Path] = field(default_factory=list)
    tag_map: Path | None = None
    default_currency: str = "USD"
    format: str | None = None
    workbook: str = "finance.xlsx"
    on_rejected: str = "fail"
    cell_timeout: int = 600
    business: dict[str, Path] = field(default_factory=dict)
    jobs: int = field(default_factory=lambda: default_jobs())


def default_jobs() -> int:
    """Notebooks run at once when the config says nothing: the CPUs this process may use,
    at least 1.

    Example:
        >>> default_jobs() >= 1
        True
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, n)


def _jobs(value: object, where: str) -> int:
    if value is None or value == "":
        return default_jobs()
    if isinstance(value, bool):
        raise ConfigError(f"jobs must be a whole number >= 1, got {value!r}", file=where, column="jobs")
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"jobs must be a whole number >= 1, got {value!r}", file=where, column="jobs")
    return n


def _period(value: object, where: str) -> str | None:
    if value is None or value == "":
        return None
    text = value.strftime("%Y-%m") if isinstance(value, (dt.date, dt.datetime)) else str(value).strip()
    if not _PERIOD_RE.match(text):
        raise ConfigError(f"period must be YYYY-MM, got {text!r}", file=where, column="period")
    return text


def _dimension(name: object, where: str) -> str:
    text = str(name).strip()
    if text in schema.ATTRIBUTION:
        return schema.ATTRIBUTION[text]
    if text in schema.COLUMNS:
        return text
    raise ConfigError(f"unknown dimension {text!r} (use one of {', '.join(schema.ATTRIBUTION)} or a ledger column)",
                      file=where, column="dimensions")


def load_config(path: str | Path) -> ReportConfig:
    """Read and validate a report YAML (``yaml.safe_load``).

    Args:
        path: the YAML file.

    Returns:
        A :class:`ReportConfig` with absolute paths.

    Raises:
        ConfigError: unreadable YAML, an unknown key, a bad period or dimension.

    Example:
        >>> import tempfile
        >>> p = tempfile.mkdtemp() + "/bad.yaml"
        >>> _ = open(p, "w").write("periods: 2025-06\\n")
        >>> load_config(p)
        Traceback (most recent call last):
        ...
        aifinops.errors.ConfigError: ...bad.yaml, column 'periods': unknown key (known: business, cell_timeout, ...)
    """
    import yaml

    path = Path(path).resolve()
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read report config: {exc.strerror or exc}", file=where) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=where) from exc
    if not isinstance(data, Mapping):
        raise ConfigError("report config must be a mapping", file=where)
    for k in data:
        if k not in _KEYS:
            raise ConfigError(f"unknown key (known: {', '.join(sorted(_KEYS))})", file=where, column=str(k))
    root = (path.parent / str(data.get("root") or ".")).resolve()

    def _path(key: str, default: str | None) -> Path | None:
        v = data.get(key, default)
        return None if v in (None, "") else (root / str(v)).resolve()

    def _list(key: str, default: list[str]) -> list[str]:
        v = data.get(key, default)
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, (list, tuple)):
            raise ConfigError("must be a list", file=where, column=key)
        return [str(x) for x in v]

    on_rejected = str(data.get("on_rejected", "fail"))
    if on_rejected not in ("fail", "warn"):
        raise ConfigError(f"on_rejected must be 'fail' or 'warn', got {on_rejected!r}", file=where, column="on_rejected")
    try:
        timeout = int(data.get("cell_timeout", 600))
    except (TypeError, ValueError) as exc:
        raise ConfigError("cell_timeout must be a number of seconds", file=where, column="cell_timeout") from exc
    cur = str(data.get("reporting_currency", "USD")).upper()
    if not re.fullmatch(r"[A-Z]{3}", cur):
        raise ConfigError(f"reporting_currency must be an ISO 4217 code, got {cur!r}", file=where,
                          column="reporting_currency")
    workbook = str(data.get("workbook", "finance.xlsx"))
    if Path(workbook).name != workbook or not workbook.endswith(".xlsx"):
        raise ConfigError(f"workbook must be a plain .xlsx file name, got {workbook!r}", file=where, column="workbook")
    return ReportConfig(
        path=path, root=root,
        inputs=_list("inputs", ["data_samples/**"]),
        exclude=_list("exclude", list(DEFAULT_EXCLUDE)),
        ledger=_path("ledger", "ledger"),
        output=_path("output", "reports"),
        period=_period(data.get("period"), where),
        reporting_currency=cur,
        dimensions=[_dimension(d, where) for d in _list("dimensions", ["team", "feature"])],
        notebooks=[(root / n).resolve() for n in _list("notebooks", ["notebooks/01_ingest_data_quality.ipynb"])],
        tag_map=_path("tag_map", None),
        default_currency=str(data.get("default_currency", "USD")).upper(),
        format=data.get("format") or None,
        workbook=workbook,
        on_rejected=on_rejected,
        cell_timeout=timeout,
        business=_business(data.get("business") or {}, root, where),
        jobs=_jobs(data.get("jobs"), where),
    )


def _business(data: object, root: Path, where: str) -> dict[str, Path]:
    if not isinstance(data, Mapping):
        raise ConfigError("business must be a mapping of input name -> file", file=where, column="business")
    out = {}
    for k, v in data.items():
        if k not in BUSINESS_KEYS:
            raise ConfigError(f"unknown business input (known: {', '.join(BUSINESS_KEYS)})", file=where,
                              column=f"business.{k}")
        if v not in (None, ""):
            out[str(k)] = (root / str(v)).resolve()
    return out


def business_sheets(ledger, period: str, business: Mapping[str, Path], reporting_currency: str = "USD"
                    ) -> dict[str, pd.DataFrame]:
    """The finance workbook's sheets that need business inputs (each present input adds its
    sheets): Showback, Chargeback, Allocation trace, Unit economics, ROI, Variance bridge
    (:mod:`aifinops.metrics`), Budgets and Alerts (:mod:`aifinops.budgets`), Hybrid TCO
    (:mod:`aifinops.hybrid`).

    Example:
        >>> sorted(business_sheets(open_ledger("", inputs=None), "2025-06", {}))
        ['Accruals', 'Top movers', 'Unit economics', 'Variance bridge']
    """
    from . import allocate, budgets, fx, hybrid, kpi, metrics, stakeholder

    kpis = kpi.read_kpis(business["kpis"]) if "kpis" in business else None
    rates = fx.FxRates.read(business["fx"]) if "fx" in business else None
    currency = reporting_currency if rates else None
    alloc = (allocate.allocate(ledger, business["allocation"], kpis=kpis, fx=rates, currency=currency)
             if "allocation" in business else None)
    sheets = metrics.finance_sheets(ledger, period, allocation=alloc, kpis=kpis, fx=rates, currency=currency)
    sheets.update(stakeholder.finance_sheets(ledger, period))
    if "budgets" in business or "policies" in business:
        sheets.update(budgets.finance_sheets(ledger, period, budgets=business.get("budgets"),
                                             policies=business.get("policies")))
    if "onprem" in business:
        sheets.update(hybrid.finance_sheet(ledger, period, business["onprem"], business.get("gpu_rates")))
    return sheets


def _expand_inputs(cfg: ReportConfig) -> list[Path]:
    import fnmatch

    files: dict[str, Path] = {}
    for pattern in cfg.inputs:
        full = pattern if os.path.isabs(pattern) else str(cfg.root / pattern)
        matches = glob.glob(full, recursive=True)
        if not matches:
            log.warning("input pattern %s matches nothing", pattern)
        for m in matches:
            p = Path(m)
            cands = sorted(p.rglob("*")) if p.is_dir() else [p]
            for f in cands:
                if not f.is_file() or f.name.startswith("."):
                    continue
                rel = f.resolve().relative_to(cfg.root.resolve()).as_posix() if f.resolve().is_relative_to(
                    cfg.root.resolve()) else f.name
                if any(fnmatch.fnmatch(f.name, x) or fnmatch.fnmatch(rel, x) for x in cfg.exclude):
                    continue
                files[str(f.resolve())] = f.resolve()
    return [files[k] for k in sorted(files)]


# -----------------------------------------------------------------------------------------
# helpers shared by notebooks and the workbook
# -----------------------------------------------------------------------------------------

class ReportLedger(Ledger):
    """A :class:`~aifinops.ledger.Ledger` whose queries share one DuckDB database, for
    report runs and notebooks that ask many small questions of the same ledger.

    :meth:`Ledger.query` opens a fresh connection per query, and DuckDB then reads the
    footer of every Parquet file of the ledger twice (to define the views, then to run the
    query): most of a small query's time on a ledger of many files. Here :meth:`connect`
    returns a cursor on one database, kept while the manifest is unchanged, holding the
    views ``ledger``, ``billed`` and ``quarantine`` exactly as :meth:`Ledger.connect` defines
    them, with DuckDB's Parquet metadata cache on (ledger files are never rewritten in
    place). Same settings, same results. A change of the manifest (an ingest, a drop)
    starts a new database; engine options (``memory_limit``...) get a fresh connection as
    before. Pickles without the database.

    Example:
        >>> import tempfile
        >>> led = ReportLedger(tempfile.mkdtemp(), create=True)
        >>> len(led.query("SELECT * FROM billed")), len(led.query("SELECT * FROM quarantine"))
        (0, 0)
    """

    def __init__(self, path: str | Path, *, create: bool = False, recover: bool = True) -> None:
        super().__init__(path, create=create, recover=recover)
        self._db = None
        self._db_key: tuple | None = None
        self._session: list[str] = []

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_db": None, "_db_key": None, "_session": []}

    def _key(self) -> tuple | None:
        try:
            st = self.manifest_path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _open(self):
        """The shared database: the engine's connection with the ledger's views as plain
        views (a cursor does not see its parent's temporary views)."""
        db = connect()
        try:
            db.execute("SET GLOBAL parquet_metadata_cache = true")
            self.define_views(db, temporary=False)
            want = dict(db.execute("SELECT name, value FROM duckdb_settings()").fetchall())
            with contextlib.closing(db.cursor()) as cur:  # session settings a cursor does not inherit
                have = dict(cur.execute("SELECT name, value FROM duckdb_settings()").fetchall())
            self._session = [f"SET {name} = {_lit(value)}" for name, value in want.items()
                             if name in have and have[name] != value]
        except BaseException:
            db.close()
            raise
        return db

    def connect(self, **engine):
        """A connection with the views ``ledger``, ``billed`` and ``quarantine`` (see
        :meth:`Ledger.connect`); close it when done (the shared database stays open)."""
        if engine:
            return super().connect(**engine)
        key = self._key()
        if self._db is None or key != self._db_key:
            self.close()
            self._db = self._open()
            self._db_key = key
        cur = self._db.cursor()
        for sql in self._session:
            cur.execute(sql)
        return cur

    def close(self) -> None:
        """Close the shared database (the next query opens a new one)."""
        if self._db is not None:
            with contextlib.suppress(Exception):
                self._db.close()
        self._db, self._db_key = None, None


def open_ledger(ledger_path: str | Path | None, *, inputs: str | Path | None = None):
    """The ledger a notebook reads.

    Args:
        ledger_path: an existing ledger folder; empty or None uses a ledger of ``inputs``
            cached under ``$AIFINOPS_CACHE`` (default ``~/.cache/aifinops``), for running a
            notebook on its own (e.g. under nbval): unchanged files are not ingested again.
        inputs: export files or folders ingested into the temporary ledger.

    Returns:
        A :class:`ReportLedger` (a :class:`aifinops.ledger.Ledger` whose queries share one
        DuckDB database).

    Raises:
        LedgerError: ``ledger_path`` is given but is not a ledger.

    Example:
        >>> led = open_ledger("", inputs=None)
        >>> len(led.frame())
        0
    """
    import atexit
    import tempfile


    if ledger_path:
        p = Path(ledger_path)
        if not (p / "manifest.json").exists() and not (p / "data").is_dir():
            raise LedgerError("no ledger here (run `aifinops ingest` or `aifinops report` first)", file=str(p))
        return ReportLedger(p)
    if not inputs or not Path(inputs).exists():
        tmp = Path(tempfile.mkdtemp(prefix="aifinops-ledger-"))
        atexit.register(shutil.rmtree, tmp, True)  # removed when the kernel exits
        return ReportLedger(tmp, create=True)
    # a standalone run (nbval, an analyst opening the notebook) reuses one cached ledger per
    # input folder: unchanged files are not ingested again, vanished files are dropped
    import hashlib
    import os

    from .ingest import _expand, ingest

    src = Path(inputs).resolve()
    cache = Path(os.environ.get("AIFINOPS_CACHE") or Path.home() / ".cache" / "aifinops")
    led_dir = cache / "ledgers" / hashlib.sha256(str(src).encode()).hexdigest()[:16]
    ingest([src], led_dir)
    led = ReportLedger(led_dir)
    current = {str(p.resolve()) for p in _expand([src])}
    gone = [h for h, e in led.manifest["files"].items() if e.get("abs_path") not in current]
    if gone:
        with led.lock():
            led.drop(gone)
    return led


def latest_period(ledger, *, full_months_only: bool = True, today: dt.date | None = None) -> str | None:
    """The last billing period in the ledger (``YYYY-MM``), or None if it is empty.

    Args:
        ledger: a Ledger.
        full_months_only: skip the current (unfinished) month when an earlier one exists.
        today: the date "now" is (tests); default today's UTC date.

    Example:
        >>> latest_period(open_ledger("", inputs=None)) is None
        True
    """
    periods = [p for (p,) in ledger.query(
        "SELECT DISTINCT x_BillingPeriod FROM ledger WHERE x_BillingPeriod IS NOT NULL ORDER BY 1"
    ).itertuples(index=False)]
    if not periods:
        return None
    if full_months_only:
        now = (today or dt.datetime.now(dt.timezone.utc).date()).strftime("%Y-%m")
        done = [p for p in periods if p < now]
        if done:
            return done[-1]
    return periods[-1]


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _period_where(period: str | None) -> str:
    if period is None:
        return "TRUE"
    return f"x_BillingPeriod = {_lit(_period(period, 'period'))}"


def daily_cost(ledger, period: str | None = None, *, cost: str = "BilledCost") -> pd.DataFrame:
    """Cost per UTC day, provider and currency (exact Decimal sums).

    Args:
        ledger: a Ledger.
        period: ``YYYY-MM`` billing period, or None for everything.
        cost: money column.

    Returns:
        Columns ``ChargePeriodStart`` (day), ``ProviderName``, ``BillingCurrency``, ``cost``.

    Example:
        >>> list(daily_cost(open_ledger("", inputs=None)).columns)
        ['ChargePeriodStart', 'ProviderName', 'BillingCurrency', 'BilledCost']
    """
    if cost not in schema.MONEY_COLUMNS:
        raise ValueError(f"not a money column: {cost!r}")
    return ledger.query(
        f'SELECT CAST(date_trunc(\'day\', ChargePeriodStart) AS DATE) AS ChargePeriodStart, ProviderName, '
        f'BillingCurrency, SUM("{cost}") AS "{cost}" FROM billed WHERE {_period_where(period)} '
        f"GROUP BY ALL ORDER BY 1, 2, 3")


def quarantine_reasons(ledger) -> pd.DataFrame:
    """Quarantined rows counted per source file, reason code and column.

    The reason is ``code<TAB>column<TAB>value`` (see :func:`aifinops.errors.error_from_reason`);
    ``example`` shows one offending value and ``first_row`` where to look. File paths are
    shown relative to the source files' common folder.

    Example:
        >>> list(quarantine_reasons(open_ledger("", inputs=None)).columns)
        ['file', 'code', 'column', 'rows', 'first_row', 'example']
    """
    out = ledger.query(
        "SELECT x_SourceFile AS file, split_part(x_QuarantineReason, chr(9), 1) AS code, "
        "split_part(x_QuarantineReason, chr(9), 2) AS \"column\", COUNT(*) AS rows, MIN(x_SourceRow) AS first_row, "
        "MIN(split_part(x_QuarantineReason, chr(9), 3)) AS example FROM quarantine "
        "GROUP BY ALL ORDER BY rows DESC, file, code, \"column\"")
    out["file"] = _short_paths(out["file"])
    return out


def defaulted_columns(ledger) -> pd.DataFrame:
    """Which mandatory FOCUS columns each file lacked and got a default for (from the manifest;
    paths relative to the files' common folder).

    Example:
        >>> defaulted_columns(open_ledger("", inputs=None)).empty
        True
    """
    rows = []
    for e in sorted(ledger.manifest.get("files", {}).values(), key=lambda e: e.get("path", "")):
        for col in e.get("defaulted", []) or []:
            rows.append({"file": e.get("path"), "format": e.get("format"), "column": col})
    out = pd.DataFrame(rows, columns=["file", "format", "column"])
    out["file"] = _short_paths(out["file"])
    return out


def rows_by_provider_month(ledger) -> pd.DataFrame:
    """Ledger rows and billed cost per provider, billing period and currency.

    Example:
        >>> list(rows_by_provider_month(open_ledger("", inputs=None)).columns)
        ['ProviderName', 'x_BillingPeriod', 'BillingCurrency', 'rows', 'BilledCost']
    """
    return ledger.query(
        "SELECT ProviderName, x_BillingPeriod, BillingCurrency, COUNT(*) AS rows, SUM(BilledCost) AS BilledCost "
        "FROM ledger GROUP BY ALL ORDER BY 1, 2, 3")


def _short_paths(s: pd.Series) -> pd.Series:
    """Paths shown relative to their common folder (tables stay narrow)."""
    vals = [str(v) for v in s.dropna().unique()]
    if len(vals) < 1:
        return s
    try:
        common = os.path.commonpath([os.path.dirname(v) for v in vals])
    except ValueError:
        return s
    if not common:
        return s
    return s.map(lambda v: os.path.relpath(str(v), common) if isinstance(v, str) and v.startswith(common) else v)


def reconciliation(ledger) -> pd.DataFrame:
    """:meth:`Ledger.summary` for display: file paths relative to their common folder,
    no hash column.

    Example:
        >>> reconciliation(open_ledger("", inputs=None)).empty
        True
    """
    out = ledger.summary().drop(columns=["hash"], errors="ignore")
    out["file"] = _short_paths(out["file"])
    return out


def quarantine_status(reasons: pd.DataFrame) -> str:
    """One sentence on a :func:`quarantine_reasons` table.

    Example:
        >>> quarantine_status(pd.DataFrame({"file": ["a", "a"], "rows": [2, 1]}))
        '3 rows quarantined in 1 file.'
    """
    n = int(reasons["rows"].sum()) if len(reasons) else 0
    files = reasons["file"].nunique() if len(reasons) else 0
    if n == 0:
        return "No row was quarantined."
    return f"{n} row{'s' if n != 1 else ''} quarantined in {files} file{'s' if files != 1 else ''}."


def reconciliation_status(summary: pd.DataFrame) -> str:
    """One sentence on a :meth:`Ledger.summary` table.

    Example:
        >>> reconciliation_status(pd.DataFrame({"file": ["a"], "difference": [Decimal(0)],
        ...                                     "quarantined_rows": [0]}))
        'All 1 source files reconcile exactly (source = ledger + quarantine); 0 rows quarantined.'
    """
    if summary.empty:
        return "The ledger holds no source files yet."
    files = summary["file"].nunique()
    q = int(summary.drop_duplicates("file")["quarantined_rows"].sum()) if "quarantined_rows" in summary else 0
    bad = summary[summary["difference"].map(lambda d: d is not None and Decimal(d) != 0)]
    if bad.empty:
        return (f"All {files} source files reconcile exactly (source = ledger + quarantine); "
                f"{q} rows quarantined.")
    return (f"{bad['file'].nunique()} of {files} source files do NOT reconcile: "
            + ", ".join(sorted(bad["file"].astype(str).unique())) + f"; {q} rows quarantined.")


def format_money(value: object) -> str:
    """Text for an amount in a table: 2 decimals, more only when they matter (token prices).

    Example:
        >>> format_money(Decimal("1234.5")), format_money(Decimal("0.000015")), format_money(None)
        ('1,234.50', '0.000015', '')
    """
    if value is None or (isinstance(value, float) and value != value):
        return ""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if d.is_nan():
        return ""
    if d == d.quantize(Decimal("0.01")) or abs(d) >= 100:
        return f"{d:,.2f}"
    return f"{d:,.8f}".rstrip("0")


def table(df: pd.DataFrame, *, money: Sequence[str] | None = None):
    """A frame styled for reports: money formatted, no index. Does not mutate ``df``.

    Args:
        df: any frame.
        money: columns to format as amounts (default: the columns holding ``Decimal``).

    Returns:
        A pandas ``Styler`` (renders as an HTML table in notebooks).

    Example:
        >>> "1,234.50" in table(pd.DataFrame({"c": [Decimal("1234.5")]})).to_html()
        True
    """
    if money is None:
        money = [c for c in df.columns if df[c].map(lambda v: isinstance(v, Decimal)).any()]
    numeric = set(money) | {c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])}
    styles = [{"selector": f"th.col_heading.col{i}", "props": [("text-align", "right" if c in numeric else "left")]}
              for i, c in enumerate(df.columns)]
    ints = [c for c in df.columns if c not in money and pd.api.types.is_integer_dtype(df[c])]
    styler = df.style.format({**{c: format_money for c in money}, **{c: "{:,}" for c in ints}},
                             na_rep="").hide(axis="index")
    text = [c for c in df.columns if c not in numeric]
    if text:
        styler = styler.set_properties(subset=text, **{"text-align": "left"})
    return styler.set_table_styles(styles, overwrite=False)


def _sum(col: str) -> str:
    return f'SUM("{col}") AS "{col}"'


def finance_sheets(ledger, period: str | None, dimensions: Sequence[str] = ("x_Team", "x_Feature")
                   ) -> dict[str, pd.DataFrame]:
    """The finance workbook's sheets for one billing period (money as exact Decimals).

    Sheets: ``Summary`` (per provider and currency), ``By service``, one ``By <dimension>``
    per dimension (NULL shown as ``(unattributed)``), ``AI usage`` (per model and token
    type), ``Daily``, ``Reconciliation`` (every source file) and ``Quarantine``.

    Example:
        >>> list(finance_sheets(open_ledger("", inputs=None), "2025-06"))[:3]
        ['Summary', 'By service', 'By team']
    """
    where = _period_where(period)
    # cost counts billed rows only (gateway estimates and usage records would count spend
    # twice); tokens and GPU-hours leave out gateway estimates, which repeat usage records
    money = ", ".join(_sum(c) for c in ("BilledCost", "EffectiveCost", "ListCost"))
    money_billed = ", ".join(f"SUM(\"{c}\") FILTER (WHERE {BILLED}) AS \"{c}\""
                             for c in ("BilledCost", "EffectiveCost", "ListCost"))
    sheets: dict[str, pd.DataFrame] = {}
    sheets["Summary"] = ledger.query(
        f"SELECT ProviderName, BillingCurrency, {money}, COUNT(*) AS Rows FROM billed WHERE {where} "
        f"GROUP BY ALL ORDER BY BillingCurrency, BilledCost DESC, ProviderName")
    sheets["By service"] = ledger.query(
        f"SELECT ProviderName, ServiceCategory, ServiceName, BillingCurrency, {money} FROM billed WHERE {where} "
        f"GROUP BY ALL ORDER BY BillingCurrency, BilledCost DESC, ProviderName, ServiceName")
    reverse = {v: k for k, v in schema.ATTRIBUTION.items()}
    for dim in dimensions:
        if dim not in schema.COLUMNS:
            raise ConfigError(f"unknown dimension {dim!r}", column=str(dim))
        label = reverse.get(dim, dim).replace("_", " ")
        sheets[f"By {label}"] = ledger.query(
            f"SELECT COALESCE(NULLIF(TRIM(CAST(\"{dim}\" AS VARCHAR)), ''), {_lit(UNATTRIBUTED)}) AS \"{dim}\", "
            f"BillingCurrency, {money} FROM billed WHERE {where} GROUP BY ALL "
            f"ORDER BY BillingCurrency, BilledCost DESC, 1")
    sheets["AI usage"] = ledger.query(
        f"SELECT ProviderName, x_Model, COALESCE(x_TokenType, '') AS x_TokenType, BillingCurrency, "
        f"SUM(x_Tokens) FILTER (WHERE x_CostAuthority <> 'estimate') AS x_Tokens, "
        f"SUM(x_GpuHours) FILTER (WHERE x_CostAuthority <> 'estimate') AS x_GpuHours, {money_billed} FROM ledger "
        f"WHERE {where} AND (x_Model IS NOT NULL OR x_GpuModel IS NOT NULL) GROUP BY ALL "
        f"ORDER BY BillingCurrency, BilledCost DESC, ProviderName, x_Model, x_TokenType")
    sheets["Daily"] = daily_cost(ledger, period)
    sheets["Reconciliation"] = reconciliation(ledger)
    sheets["Quarantine"] = quarantine_reasons(ledger)
    return sheets


# -----------------------------------------------------------------------------------------
# notebooks
# -----------------------------------------------------------------------------------------

def templates_dir() -> Path:
    """Folder holding the nbconvert template ``aifinops_offline`` (package data).

    Example:
        >>> (templates_dir() / "aifinops_offline" / "conf.json").is_file()
        True
    """
    return Path(str(resources.files("aifinops") / "templates"))


def _notebook_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "aifinops report"


def notebook_to_html(executed: str | Path, html_path: str | Path, *, title: str | None = None) -> Path:
    """Convert an executed notebook to one offline HTML page without code.

    Uses the ``aifinops_offline`` template (no CDN), hides inputs and prompts, embeds
    images, and leaves ``stderr`` streams (warnings) out of the page; the executed
    notebook keeps them.

    Args:
        executed: the executed ``.ipynb``.
        html_path: the page to write.
        title: page title (default: the notebook's first ``# `` heading).

    Returns:
        ``html_path``.

    Example:
        >>> import nbformat, tempfile
        >>> d = tempfile.mkdtemp()
        >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Hello")])
        >>> nbformat.write(nb, d + "/a.ipynb")
        >>> "<title>Hello</title>" in notebook_to_html(d + "/a.ipynb", d + "/a.html").read_text()
        True
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    nb.metadata["title"] = title or _notebook_title(nb)
    exporter = HTMLExporter(template_name="aifinops_offline", extra_template_basedirs=[str(templates_dir())],
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True)
    html, _ = exporter.from_notebook_node(nb)
    html_path = Path(html_path)
    html_path.write_text(html, encoding="utf-8")
    return html_path


def _source_cell_index(executed_path: Path, cell_index: int) -> int:
    """Map a cell index in the executed notebook back to the source notebook (papermill
    inserts an ``injected-parameters`` cell)."""
    import nbformat

    try:
        nb = nbformat.read(str(executed_path), as_version=4)
    except Exception:  # noqa: BLE001 - the notebook may not have been written
        return cell_index
    # papermill adds error banner cells to the written notebook after the run; the index
    # it reports counts the cells as they were run
    ran = [c for c in nb.cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    injected = [i for i, c in enumerate(ran) if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    return cell_index - 1 if injected and injected[0] < cell_index else cell_index


def execute_notebook(notebook: str | Path, executed: str | Path, parameters: Mapping[str, Any], *,
                     cell_timeout: int = 600, cwd: str | Path | None = None) -> Path:
    """Run one notebook with papermill (kernel ``python3``).

    Args:
        notebook: the source notebook (has a cell tagged ``parameters``).
        executed: where the executed notebook is written (also on failure).
        parameters: injected after the ``parameters`` cell.
        cell_timeout: seconds per cell.
        cwd: working directory of the kernel (default: the notebook's folder).

    Returns:
        ``executed``.

    Raises:
        ReportError: a cell raised (``notebook`` and ``cell`` name it: the 0-based cell
            index in the *source* notebook) or the kernel died or timed out.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    notebook, executed = Path(notebook), Path(executed)
    try:
        pm.execute_notebook(str(notebook), str(executed), parameters=dict(parameters), kernel_name="python3",
                            progress_bar=False, log_output=False, execution_timeout=cell_timeout,
                            cwd=str(cwd or notebook.parent))
    except PapermillExecutionError as exc:
        cell = _source_cell_index(executed, exc.cell_index)
        raise ReportError(f"{exc.ename}: {exc.evalue}".strip(), notebook=notebook.name, cell=cell) from exc
    except Exception as exc:  # kernel death, timeout, missing kernel, unreadable notebook
        raise ReportError(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                          notebook=notebook.name) from exc
    return executed


# -----------------------------------------------------------------------------------------
# the run
# -----------------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("aifinops", "pandas", "duckdb", "pyarrow", "altair", "vl-convert-python", "papermill", "nbconvert",
                 "openpyxl", "genai-prices", "prophet"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _price_catalogue() -> dict[str, Any]:
    """What prices were in force: the aifinops price module's catalogue if present, and the
    genai-prices snapshot it builds on."""
    out: dict[str, Any] = {}
    try:
        from . import price  # written by the pricing stage

        for name in ("CATALOGUE_VERSION", "catalogue_version"):
            v = getattr(price, name, None)
            if v is not None:
                out["aifinops"] = v() if callable(v) else v
                break
    except ImportError:
        pass
    try:
        out["genai-prices"] = metadata.version("genai-prices")
    except metadata.PackageNotFoundError:
        pass
    return out


class _Steps:
    """Logs each step with its duration and keeps them for provenance."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def __call__(self, name: str, **detail: Any) -> Iterator[None]:
        t0 = time.perf_counter()
        log.info("%s ...", name)
        ok = False
        try:
            yield
            ok = True
        finally:
            secs = round(time.perf_counter() - t0, 3)
            self.steps.append({"step": name, "seconds": secs, "ok": ok, **detail})
            log.info("%s %s in %.2f s", name, "done" if ok else "FAILED", secs)


@contextlib.contextmanager
def _lock(output: Path, period: str) -> Iterator[None]:
    fh = open(output / f".lock-{period}", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def _recover(output: Path, period: str) -> None:
    """Finish or undo a swap interrupted between its two renames."""
    final = output / period
    olds = sorted(output.glob(f".old-{period}-*"), key=lambda p: p.stat().st_mtime)
    if olds and not final.exists():
        os.rename(olds.pop(), final)
        log.warning("restored the previous bundle %s after an interrupted run", final)
    for p in olds:
        shutil.rmtree(p, ignore_errors=True)
    for p in output.glob(f".tmp-{period}-*"):
        shutil.rmtree(p, ignore_errors=True)


def _swap(tmp: Path, output: Path, period: str) -> Path:
    final = output / period
    old = None
    if final.exists():
        old = output / f".old-{period}-{uuid.uuid4().hex[:8]}"
        os.rename(final, old)
    os.rename(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    with contextlib.suppress(OSError):
        fd = os.open(output, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return final


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def run_report(config_path: str | Path, *, period: str | None = None, jobs: int | None = None) -> Path:
    """Run the whole report for one billing period and write ``<output>/<period>/``.

    Steps (each logged with its time, and recorded in ``provenance.json`` and ``report.log``):
    ingest the configured inputs into the ledger; pick the period (argument, else config,
    else the last full month in the ledger); execute each notebook with papermill; convert
    each to offline HTML (the executed ``.ipynb`` is kept beside it); write the finance
    workbook; write ``provenance.json``; swap the folder into place atomically.

    With ``jobs`` above 1 the notebooks run in a pool of that many processes (each executes
    one notebook and converts it to HTML; the longest, by the previous bundle's times, start
    first) while this process writes the workbook; provenance and ``report.log`` keep the
    config order of the notebooks.

    Args:
        config_path: the report YAML (see ``templates/report.yaml``).
        period: ``YYYY-MM``; overrides the config.
        jobs: notebooks run at once; overrides the config's ``jobs`` (default: the CPUs).

    Returns:
        The bundle folder.

    Raises:
        ConfigError: bad configuration or period.
        ReportError: an input file was rejected (``on_rejected: fail``), the ledger has no
            data, or a notebook failed (names notebook and cell). The previous bundle is
            untouched; the failed build is kept in ``<output>/.failed-<period>/``.
    """
    from .excel import write_workbook
    from .ingest import ingest
    from .formats.base import IngestOptions

    cfg = load_config(config_path)
    if jobs is not None:
        cfg = dataclasses.replace(cfg, jobs=_jobs(jobs, "--jobs"))
    period = _period(period, "--period") or cfg.period
    capture = _Capture()
    level = log.level
    log.addHandler(capture)
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        return _run(cfg, period, capture, write_workbook, ingest, ReportLedger, IngestOptions)
    finally:
        log.removeHandler(capture)
        log.setLevel(level)


class _Capture(logging.Handler):
    """Keeps this run's log lines for ``report.log`` in the bundle."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def write(self, folder: Path) -> None:
        (folder / "report.log").write_text("\n".join(self.lines) + "\n", encoding="utf-8")


def _run(cfg: ReportConfig, period: str | None, capture: _Capture, write_workbook, ingest, Ledger,
         IngestOptions) -> Path:
    steps = _Steps()
    started = dt.datetime.now(dt.timezone.utc)
    files = _expand_inputs(cfg)
    with steps("ingest", files=len(files)):
        rep = ingest(files, cfg.ledger, format=cfg.format, tag_map=cfg.tag_map,
                     options=IngestOptions(default_currency=cfg.default_currency),
                     log=lambda line: log.info("ingest: %s", line), jobs=cfg.jobs)
    rejected = [f for f in rep.files if f.status == "rejected"]
    for f in rejected:
        log.warning("ingest rejected %s: %s", f.path, f.error)
    if rejected and cfg.on_rejected == "fail":
        f = rejected[0]
        raise ReportError(f"{len(rejected)} input file(s) rejected by ingest; first: {f.path}: {f.error}")
    ledger = Ledger(cfg.ledger)
    if period is None:
        period = latest_period(ledger)
        if period is None:
            raise ReportError(f"the ledger {cfg.ledger} has no data; nothing to report "
                              f"(inputs: {', '.join(cfg.inputs)})")
    log.info("report period %s", period)

    cfg.output.mkdir(parents=True, exist_ok=True)
    final = safe_output_path(cfg.output, period)
    with _lock(cfg.output, period):
        _recover(cfg.output, period)
        tmp = safe_output_path(cfg.output, f".tmp-{period}-{uuid.uuid4().hex[:8]}")
        tmp.mkdir()
        try:
            _build(cfg, period, tmp, ledger, rep, files, steps, started, write_workbook)
        except BaseException as exc:
            failed = cfg.output / f".failed-{period}"
            if isinstance(exc, ReportError):
                exc.failed_dir = str(failed)
            log.error("report failed: %s (partial output kept in %s)", exc, failed)
            capture.write(tmp)
            shutil.rmtree(failed, ignore_errors=True)
            os.rename(tmp, failed)
            raise
        shutil.rmtree(cfg.output / f".failed-{period}", ignore_errors=True)
        log.info("bundle complete; swapping %s into place", final)
        capture.write(tmp)
        out = _swap(tmp, cfg.output, period)
    log.info("wrote %s", out)
    return out


def _build(cfg: ReportConfig, period: str, tmp: Path, ledger, rep, files: list[Path], steps: _Steps,
           started: dt.datetime, write_workbook) -> None:
    params = {
        "period": period,
        "ledger_path": str(cfg.ledger),
        "reporting_currency": cfg.reporting_currency,
        "dimensions": list(cfg.dimensions),
        "config_path": str(cfg.path),
        "tag_map_path": str(cfg.tag_map) if cfg.tag_map else "",
        "output_dir": str(tmp),
    }
    for nb in cfg.notebooks:
        if not nb.is_file():
            raise ReportError("notebook not found", notebook=str(nb))
    inputs = []
    by_path = {str(Path(f.path).resolve()): f for f in rep.files}
    for p in files:
        r = by_path.get(str(p))
        inputs.append({"path": _rel(p, cfg.root), "sha256": (r.hash if r and r.hash else _sha256(p)),
                       "bytes": p.stat().st_size, "format": r.format if r else None,
                       "status": r.status if r else None, "rows": r.rows if r else None,
                       "quarantined": r.quarantined if r else None,
                       "error": str(r.error) if r and r.error else None})
    versions = _versions()
    provenance = {
        "aifinops_version": versions.get("aifinops", "unknown"),
        "created_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "period": period,
        "parameters": {**params, "output_dir": f"{cfg.output.name}/{period}"},
        "config": {"path": _rel(cfg.path, cfg.root), "sha256": _sha256(cfg.path)},
        "tag_map": ({"path": _rel(cfg.tag_map, cfg.root), "sha256": _sha256(cfg.tag_map)} if cfg.tag_map else None),
        "inputs": inputs,
        "ledger": {"path": _rel(cfg.ledger, cfg.root), "source_files": len(ledger.manifest.get("files", {}))},
        "price_catalogue": _price_catalogue(),
        "versions": versions,
        "notebooks": [],
    }

    def workbook(into: _Steps) -> None:
        with into("workbook"):
            sheets = finance_sheets(ledger, period, cfg.dimensions)
            sheets.update(business_sheets(ledger, period, cfg.business, cfg.reporting_currency))
            about = {
                "report": f"aifinops finance workbook, billing period {period}",
                "parameters": provenance["parameters"],
                "price_catalogue": provenance["price_catalogue"],
                "versions": provenance["versions"],
                "inputs": [{"path": i["path"], "sha256": i["sha256"], "status": i["status"]} for i in inputs],
                "aifinops_version": provenance["aifinops_version"],
            }
            write_workbook(cfg.workbook, sheets, about=about, money_columns=MONEY_CURRENCY, root=tmp,
                           totals=[name for name in sheets if name != "Reconciliation"],
                           chart={"category": "ProviderName", "value": "BilledCost",
                                  "title": f"Billed cost by provider, {period}"})

    jobs = min(cfg.jobs, len(cfg.notebooks))
    if jobs <= 1:  # one after another in this process, then the workbook
        for nb in cfg.notebooks:
            executed = safe_output_path(tmp, nb.name)
            with steps("notebook", notebook=nb.name):
                t0 = time.perf_counter()
                execute_notebook(nb, executed, params, cell_timeout=cfg.cell_timeout)
                secs = time.perf_counter() - t0
            html = safe_output_path(tmp, nb.with_suffix(".html").name)
            with steps("html", notebook=nb.name):
                notebook_to_html(executed, html, title=None)
            provenance["notebooks"].append(_notebook_entry(cfg, nb, executed, html, secs))
        workbook(steps)
    else:
        side = _Steps()
        results = _run_pool(cfg, tmp, params, jobs, _job_order(cfg.notebooks, _previous_seconds(cfg.output, period)),
                            steps, side_task=lambda: workbook(side))
        for nb in cfg.notebooks:
            r = results[nb]
            provenance["notebooks"].append(_notebook_entry(cfg, nb, safe_output_path(tmp, nb.name),
                                                           safe_output_path(tmp, nb.with_suffix(".html").name),
                                                           r["seconds"]))
        steps.steps.extend(side.steps)
    provenance["workbook"] = cfg.workbook
    provenance["steps"] = steps.steps
    provenance["finished_at"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    safe_output_path(tmp, "provenance.json").write_text(
        json.dumps(provenance, indent=1, default=str) + "\n", encoding="utf-8")


def _notebook_entry(cfg: ReportConfig, nb: Path, executed: Path, html: Path, seconds: float) -> dict[str, Any]:
    return {"notebook": _rel(nb, cfg.root), "sha256": _sha256(nb), "executed": executed.name, "html": html.name,
            "seconds": round(seconds, 3)}


def _previous_seconds(output: Path, period: str) -> dict[str, float]:
    """Notebook name -> seconds it took in the previous bundle of ``period`` (else the newest
    bundle of any period in ``output``); empty when there is none or it cannot be read."""
    cands = [output / period / "provenance.json"]
    with contextlib.suppress(OSError):
        others = [p for p in output.glob("*/provenance.json") if not p.parent.name.startswith(".")]
        cands += sorted(others, key=lambda p: p.stat().st_mtime, reverse=True)
    for path in cands:
        try:
            entries = json.loads(path.read_text(encoding="utf-8")).get("notebooks") or []
            out = {Path(str(e["notebook"])).name: float(e["seconds"]) for e in entries}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            continue
        if out:
            return out
    return {}


def _job_order(notebooks: Sequence[Path], seconds: Mapping[str, float]) -> list[Path]:
    """The order notebooks are handed to the pool: longest first by their previous time
    (notebooks without one first, in config order), so the last to start are the short ones.

    Example:
        >>> [p.name for p in _job_order([Path("a"), Path("b"), Path("c"), Path("d")], {"a": 1.0, "b": 9.0, "d": 3.0})]
        ['c', 'b', 'd', 'a']
    """
    unknown = [nb for nb in notebooks if nb.name not in seconds]
    known = sorted((nb for nb in notebooks if nb.name in seconds), key=lambda nb: -seconds[nb.name])
    return unknown + known


def _notebook_job(notebook: str, executed: str, html: str, parameters: dict[str, Any],
                  cell_timeout: int, cancel_flag: str | None = None) -> dict[str, Any]:
    """One pool job (a fresh ``spawn`` process): execute a notebook, convert it to HTML.

    Returns plain, picklable data: ``{"ok": True, "seconds", "html_seconds"}``, or
    ``{"ok": False, "seconds", "message", "notebook", "cell"}`` when the notebook failed
    (the parent raises :class:`ReportError` from it), or ``{"ok": False, "skipped": True}``
    without running anything when the file ``cancel_flag`` exists (another notebook failed
    after this job was handed to a worker). Other errors propagate.
    """
    if cancel_flag and os.path.exists(cancel_flag):
        return {"ok": False, "skipped": True, "seconds": 0.0}
    t0 = time.perf_counter()
    try:
        execute_notebook(notebook, executed, parameters, cell_timeout=cell_timeout)
    except ReportError as exc:
        return {"ok": False, "seconds": time.perf_counter() - t0, "message": exc.message, "notebook": exc.notebook,
                "cell": exc.cell}
    secs = time.perf_counter() - t0
    t1 = time.perf_counter()
    notebook_to_html(executed, html, title=None)
    return {"ok": True, "seconds": secs, "html_seconds": time.perf_counter() - t1}


def _run_pool(cfg: ReportConfig, tmp: Path, params: Mapping[str, Any], jobs: int, order: Sequence[Path],
              steps: _Steps, side_task) -> dict[Path, dict[str, Any]]:
    """Run the notebooks in a pool of ``jobs`` spawned processes (the parent holds DuckDB
    open, so no fork), handing them out in ``order``, while ``side_task`` (the workbook) runs
    here. Logs each notebook as it completes; records the ``notebook``/``html`` steps in
    config order. On the first failure the jobs not yet started are cancelled, the running
    ones finish, and the failure of the first failing notebook in config order is raised."""
    import concurrent.futures as cf
    import functools
    import multiprocessing

    total = len(order)
    finished: list[str] = []
    log.info("notebooks: %d in %d processes, in this order: %s", total, jobs, ", ".join(nb.name for nb in order))
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    side_error: BaseException | None = None
    # jobs already handed to a worker cannot be cancelled: they see this file and skip
    flag = tmp / f".cancel-{uuid.uuid4().hex[:8]}"
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures: dict[Path, cf.Future] = {}
        for nb in order:
            futures[nb] = pool.submit(_notebook_job, str(nb), str(safe_output_path(tmp, nb.name)),
                                      str(safe_output_path(tmp, nb.with_suffix(".html").name)), dict(params),
                                      cfg.cell_timeout, str(flag))

        def cancel_pending() -> None:
            with contextlib.suppress(OSError):
                flag.touch()
            for f in futures.values():
                f.cancel()

        def done(fut: cf.Future, nb: Path) -> None:
            if fut.cancelled():
                return
            exc = fut.exception()
            r = fut.result() if exc is None else None
            if r is not None and r.get("skipped"):
                return
            finished.append(nb.name)
            if r is not None and r["ok"]:
                log.info("notebook %s done in %.2f s (html %.2f s) [%d/%d]", nb.name, r["seconds"],
                         r["html_seconds"], len(finished), total)
                return
            log.error("notebook %s FAILED: %s [%d/%d]", nb.name,
                      exc if exc is not None else f"cell {r['cell']}: {r['message']}", len(finished), total)
            cancel_pending()

        for nb, fut in futures.items():
            fut.add_done_callback(functools.partial(done, nb=nb))
        try:
            side_task()
        except BaseException as exc:  # noqa: BLE001 - raised below, after the running notebooks end
            side_error = exc
            cancel_pending()
        cf.wait(list(futures.values()))
    flag.unlink(missing_ok=True)
    wall = time.perf_counter() - t0
    results: dict[Path, dict[str, Any]] = {}
    failure: BaseException | None = None
    for nb in cfg.notebooks:  # config order
        fut = futures[nb]
        if fut.cancelled():
            continue
        exc = fut.exception()
        if exc is not None:
            steps.steps.append({"step": "notebook", "seconds": None, "ok": False, "notebook": nb.name})
            if failure is None:
                failure = (ReportError(f"notebook process died: {type(exc).__name__}: {exc}", notebook=nb.name)
                           if isinstance(exc, cf.process.BrokenProcessPool) else exc)
            continue
        r = fut.result()
        if r.get("skipped"):
            continue
        steps.steps.append({"step": "notebook", "seconds": round(r["seconds"], 3), "ok": r["ok"], "notebook": nb.name})
        if r["ok"]:
            steps.steps.append({"step": "html", "seconds": round(r["html_seconds"], 3), "ok": True,
                                "notebook": nb.name})
            results[nb] = r
        elif failure is None:
            failure = ReportError(r["message"], notebook=r["notebook"], cell=r["cell"])
    ok = failure is None and side_error is None
    steps.steps.append({"step": "notebooks", "seconds": round(wall, 3), "ok": ok, "jobs": jobs})
    log.info("notebooks %s in %.2f s (%d processes)", "done" if ok else "FAILED", wall, jobs)
    if failure is not None:
        if side_error is not None:
            log.error("the workbook failed too: %s", side_error)
        raise failure
    if side_error is not None:
        raise side_error
    return results


def main_report(argv: Sequence[str] | None = None) -> int:
    """``aifinops-report --config report.yaml [--period YYYY-MM] [--jobs N]``: run and print the folder.

    Returns:
        0 on success, 1 on an aifinops error (printed naming notebook and cell).

    Example:
        >>> main_report(["--config", "/nonexistent/report.yaml"])
        1
    """
    import argparse

    p = argparse.ArgumentParser(prog="aifinops report", description=run_report.__doc__.splitlines()[0])
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--period", help="YYYY-MM (default: config, else the last full month in the ledger)")
    p.add_argument("--jobs", type=int, help="notebooks run at once (default: the config's jobs, else the CPUs)")
    args = p.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        out = run_report(args.config, period=args.period, jobs=args.jobs)
    except AifinopsError as exc:
        print(f"aifinops: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main_report())
