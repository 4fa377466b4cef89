"""The ledger store: one folder holding a Parquet dataset with FOCUS column names,
partitioned by billing period, readable as is by DuckDB, pandas and Power BI::

    ledger/
      manifest.json                      one entry per ingested source file (by content hash)
      data/x_BillingPeriod=2025-06/part-<hash>-0.parquet
      quarantine/<hash>.parquet          rejected rows: file, row, reason, raw record
      journal.json                       only while a commit is being applied
      .staging/                          work in progress; never read

A source file's rows land all or nothing: files are written to ``.staging``, a journal
naming every move is written atomically, then applied; an interrupted commit is rolled
forward (journal present) or discarded (no journal) the next time the ledger is opened.

Example:
    >>> import tempfile
    >>> from aifinops.ledger import Ledger
    >>> led = Ledger(tempfile.mkdtemp(), create=True)
    >>> len(led.frame())
    0
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from . import schema
from .engine import connect
from .errors import LedgerError
from .sql import lit, q

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Ledger", "MANIFEST_VERSION", "to_frame"]

MANIFEST_VERSION = 1


def _fsync_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _alive(pid: str) -> bool:
    """Whether ``pid`` (text, from a staging folder name) is a running process."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pop_entries(manifest: dict, hashes: list[str]) -> list[str]:
    """Remove entries from ``manifest``; return the ledger-relative files they owned."""
    files: list[str] = []
    for h in hashes:
        old = manifest["files"].pop(h, None)
        if old:
            files.extend(old.get("files", []))
            if old.get("quarantine_file"):
                files.append(old["quarantine_file"])
    return files


def to_frame(rel) -> pd.DataFrame:
    """A DuckDB result as pandas with DECIMAL kept exact (``decimal.Decimal`` objects; DuckDB's
    own ``.df()`` would turn them into floats) and timestamps as UTC datetimes."""
    return rel.to_arrow_table().to_pandas(types_mapper=None)


class Ledger:
    """A ledger folder.

    Args:
        path: the folder.
        create: create it if missing (otherwise a missing folder is a :class:`LedgerError`).
        recover: finish an interrupted commit and remove stale staging folders first (the
            default). Ingest worker processes pass False: they only stage, the parent commits.
    """

    def __init__(self, path: str | Path, *, create: bool = False, recover: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise LedgerError("no ledger here (ingest something first)", file=str(self.path))
            self.path.mkdir(parents=True)
        elif not self.path.is_dir():
            raise LedgerError("not a folder", file=str(self.path))
        for d in (self.data_dir, self.quarantine_dir):
            d.mkdir(exist_ok=True)
        if recover:
            with self.lock():
                self._recover()

    # -- layout -----------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.path / "data"

    @property
    def quarantine_dir(self) -> Path:
        return self.path / "quarantine"

    @property
    def staging_dir(self) -> Path:
        return self.path / ".staging"

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def journal_path(self) -> Path:
        return self.path / "journal.json"

    # -- locking and recovery ----------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock for writers (one ingest at a time per ledger)."""
        fh = open(self.path / ".lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def _recover(self) -> None:
        if self.journal_path.exists():
            journal = json.loads(self.journal_path.read_text(encoding="utf-8"))
            self._apply(journal)
        if self.staging_dir.exists():
            # staging folders of live processes (ingest workers stage outside the lock) stay
            for d in self.staging_dir.iterdir():
                if not _alive(d.name.split("-", 1)[0]):
                    shutil.rmtree(d, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.staging_dir.rmdir()  # only when empty

    def _apply(self, journal: dict) -> None:
        for rel in journal["remove"]:
            with contextlib.suppress(FileNotFoundError):
                (self.path / rel).unlink()
        for src, dst in journal["add"]:
            s, d = self.path / src, self.path / dst
            if s.exists():
                d.parent.mkdir(parents=True, exist_ok=True)
                os.replace(s, d)
        _fsync_write(self.manifest_path, json.dumps(journal["manifest"], indent=1, sort_keys=True))
        self.journal_path.unlink()
        # empty partition folders left by replaced files
        for part in self.data_dir.glob("*"):
            if part.is_dir() and not any(part.iterdir()):
                part.rmdir()

    def new_staging(self) -> Path:
        """A fresh staging folder, named after this process so that recovery in another
        process leaves it alone while this process lives."""
        d = self.staging_dir / f"{os.getpid()}-{uuid.uuid4().hex}"
        d.mkdir(parents=True)
        return d

    def commit(self, entry: dict, added: list[tuple[Path, str]], replaces: list[str]) -> None:
        """Atomically add one source file's entry and files, replacing the entries ``replaces``
        (by hash). ``added`` pairs a staged file with its path relative to the ledger.
        Call under :meth:`lock`."""
        manifest = self.manifest
        remove = _pop_entries(manifest, replaces)
        manifest["files"][entry["hash"]] = entry
        journal = {
            "add": [[str(src.relative_to(self.path)), dst] for src, dst in added],
            "remove": [r for r in remove if r not in {d for _, d in added}],
            "manifest": manifest,
        }
        _fsync_write(self.journal_path, json.dumps(journal))
        self._apply(journal)

    def drop(self, hashes: list[str]) -> None:
        """Atomically remove source files' entries and rows (by hash). Call under :meth:`lock`."""
        manifest = self.manifest
        journal = {"add": [], "remove": _pop_entries(manifest, hashes), "manifest": manifest}
        _fsync_write(self.journal_path, json.dumps(journal))
        self._apply(journal)

    # -- reading -------------------------------------------------------------------
    @property
    def manifest(self) -> dict:
        if not self.manifest_path.exists():
            return {"format_version": MANIFEST_VERSION, "files": {}}
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def data_files(self) -> list[Path]:
        files = [self.path / f for e in self.manifest["files"].values() for f in e.get("files", [])]
        return sorted(files)

    def relation_sql(self, columns: list[str] | None = None) -> str:
        """SQL of the whole ledger (every column, ``x_BillingPeriod`` included)."""
        files = self.data_files()
        if not files:
            cols = columns or list(schema.LEDGER_COLUMNS)
            sel = ", ".join(
                f"CAST(NULL AS {schema.COLUMNS[c].sql_type if c in schema.COLUMNS else 'VARCHAR'}) AS {q(c)}"
                for c in cols)
            return f"SELECT {sel} WHERE FALSE"
        lst = "[" + ", ".join(lit(str(f)) for f in files) + "]"
        sel = ", ".join(q(c) for c in columns) if columns else "*"
        return f"SELECT {sel} FROM read_parquet({lst}, hive_partitioning = true, union_by_name = true)"

    def connect(self, **engine):
        """A DuckDB connection with views ``ledger`` and ``quarantine``."""
        con = connect(**engine)
        self.define_views(con)
        return con

    def define_views(self, con, *, temporary: bool = True) -> None:
        """Create the views ``ledger``, ``billed`` and ``quarantine`` over this ledger's files
        on ``con`` (temporary views unless ``temporary`` is False: those a cursor sees too)."""
        view = "TEMP VIEW" if temporary else "VIEW"
        con.execute(f"CREATE OR REPLACE {view} ledger AS {self.relation_sql()}")
        # the rows whose cost counts in totals: billed cost, once (gateway estimates and usage
        # records enrich attribution only)
        con.execute(f"CREATE OR REPLACE {view} billed AS SELECT * FROM ledger WHERE x_CostAuthority = 'invoice'")
        qfiles = self.quarantine_files()
        if qfiles:
            lst = "[" + ", ".join(lit(str(f)) for f in qfiles) + "]"
            con.execute(f"CREATE OR REPLACE {view} quarantine AS SELECT * FROM read_parquet({lst}, union_by_name = true)")
        else:
            con.execute(f"CREATE OR REPLACE {view} quarantine AS SELECT CAST(NULL AS VARCHAR) AS x_SourceFile, "
                        "CAST(NULL AS BIGINT) AS x_SourceRow, CAST(NULL AS VARCHAR) AS x_QuarantineReason, "
                        "CAST(NULL AS VARCHAR) AS x_RawRecord WHERE FALSE")

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL against the views ``ledger`` and ``quarantine``; aggregate here, not in pandas."""
        con = self.connect()
        try:
            return to_frame(con.sql(sql))
        finally:
            con.close()

    def frame(self, columns: list[str] | None = None, where: str | None = None) -> pd.DataFrame:
        """Ledger rows as a DataFrame (money as ``decimal.Decimal``). Prefer :meth:`query`
        with an aggregate for big ledgers."""
        sel = ", ".join(q(c) for c in columns) if columns else "*"
        return self.query(f"SELECT {sel} FROM ledger" + (f" WHERE {where}" if where else ""))

    def quarantine_files(self) -> list[Path]:
        return sorted(self.path / e["quarantine_file"] for e in self.manifest["files"].values()
                      if e.get("quarantine_file"))

    def quarantine_frame(self) -> pd.DataFrame:
        """Quarantined rows: x_SourceFile, x_SourceRow, x_QuarantineReason, x_RawRecord."""
        return self.query("SELECT * FROM quarantine ORDER BY x_SourceFile, x_SourceRow")

    def summary(self) -> pd.DataFrame:
        """Per source file, cost column and currency: rows, quarantined rows, source total,
        ledger total, quarantined total and difference (exact Decimals), as recorded by ingest."""
        rows = []
        for e in sorted(self.manifest["files"].values(), key=lambda e: e["path"]):
            recs = e.get("recon") or [{"column": "BilledCost", "currency": None, "source_total": "0",
                                       "ledger_total": "0", "quarantined_total": "0", "difference": "0"}]
            for r in recs:
                rows.append({
                    "file": e["path"], "format": e["format"], "hash": e["hash"][:12],
                    "rows": e["rows"], "quarantined_rows": e["quarantined"], "column": r["column"],
                    "currency": r["currency"], "source_total": Decimal(r["source_total"]),
                    "ledger_total": Decimal(r["ledger_total"]),
                    "quarantined_total": Decimal(r["quarantined_total"]),
                    "difference": Decimal(r["difference"]), "defaulted": ", ".join(e.get("defaulted", [])),
                    "cost_authority": e.get("cost_authority"),
                })
        cols = ["file", "format", "hash", "rows", "quarantined_rows", "column", "currency", "source_total",
                "ledger_total", "quarantined_total", "difference", "defaulted", "cost_authority"]
        import pandas as pd  # imported on use: an ingest never needs pandas (0.5 s of its start)

        return pd.DataFrame(rows, columns=cols)
