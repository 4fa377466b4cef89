"""The embedded engine: DuckDB connections configured the same way everywhere.

Memory limit, spill directory and threads come from arguments or the environment
(``AIFINOPS_MEMORY_LIMIT``, ``AIFINOPS_TEMP_DIR``, ``AIFINOPS_THREADS``), so a 100 M-row
export ingests out-of-core on a laptop.

Example:
    >>> from aifinops.engine import connect
    >>> con = connect()
    >>> con.execute("SELECT current_setting('TimeZone')").fetchall()
    [('UTC',)]
"""

from __future__ import annotations

import os

import duckdb

__all__ = ["connect"]


def env_threads() -> int | None:
    """DuckDB threads set by ``AIFINOPS_THREADS``; None: DuckDB's default, one per CPU."""
    return int(os.environ["AIFINOPS_THREADS"]) if os.environ.get("AIFINOPS_THREADS") else None


def connect(*, memory_limit: str | None = None, temp_directory: str | None = None,
            threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection: UTC, insertion order preserved (row numbers
    follow the file), optional memory limit and spill folder."""
    con = duckdb.connect(":memory:")
    # GLOBAL: cursors of this connection (the parts of a large CSV file are written through
    # cursors) start from the global value, not from this session's
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = true")
    # no progress bar on stderr: ingest logs one line per file, and cron mails and notebook
    # outputs should not fill with bar redraws
    con.execute("SET enable_progress_bar = false")
    # DuckDB rewrites `x IN (many constants)` inside projections into a hash MARK join per
    # IN list; the loaders' mapping tables are CASE ... IN (...) chains, so that rewrite made
    # every ingest row probe dozens of joins (measured: 2x slower on CUR 2.0). Plain IN
    # evaluation is a few string compares.
    con.execute("SET disabled_optimizers = 'in_clause'")
    memory_limit = memory_limit or os.environ.get("AIFINOPS_MEMORY_LIMIT")
    temp_directory = temp_directory or os.environ.get("AIFINOPS_TEMP_DIR")
    threads = threads or env_threads()
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if temp_directory:
        con.execute(f"SET temp_directory = '{temp_directory}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con
