"""Scale benchmark: the same CUR 2.0 Parquet file through DuckDB (``aifinops.ingest``) and
Spark ``local[2]`` (``aifinops.spark.normalize``) side by side, and the peak RSS of a DuckDB
ingest of a very large CUR 2.0 Parquet file (100 M rows by default) under a memory limit
with a spill folder.

    python benchmarks/scale.py --rows 1000000 --big-rows 100000000 --memory-limit 2GB --spill-dir /tmp/spill
    python benchmarks/scale.py --rows 200000 --big-rows 0          # side by side only
    python benchmarks/scale.py --rows 0 --big-rows 20000000        # out-of-core only

Each measured step runs in its own process (peak RSS from wait4; for Spark that is the
Python driver only, the JVM is bounded by ``--spark-driver-memory``). Files come from
``benchmarks/ingest.py``'s generator (500 k-row chunks); the big file is its first 1 M rows
replicated by DuckDB in one streaming pass (distinct line item ids), so generation stays small
and fast.
Target: peak RSS < 4 GiB for the 100 M-row ingest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import generate

_DUCKDB = """
import sys, json, time
from aifinops.ingest import ingest
t = time.perf_counter()
r = ingest([sys.argv[1]], sys.argv[2], memory_limit=(sys.argv[3] or None), temp_directory=(sys.argv[4] or None)).files[0]
d = r.to_dict(); d["work_seconds"] = time.perf_counter() - t
print(json.dumps(d))
"""

_SPARK = """
import sys, json, time
from aifinops.spark import local_session, normalize
t0 = time.perf_counter()
s = local_session("local[2]", **{"spark.driver.memory": sys.argv[3]})
t = time.perf_counter()
r = normalize(s, sys.argv[1], None, sys.argv[2])
d = r.to_dict(); d["work_seconds"] = time.perf_counter() - t; d["startup_seconds"] = t - t0
s.stop()
print(json.dumps(d))
"""


def _measure(code: str, *args: str) -> tuple[float, float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"step failed ({status}): {out[-2000:]}")
    return secs, usage.ru_maxrss / 1024 / 1024, json.loads(out.strip().splitlines()[-1])


def _line(name: str, rows: int, secs: float, rss: float | None, res: dict) -> str:
    work = res.get("work_seconds", secs)
    extra = f"  (+{res['startup_seconds']:.1f} s session start)" if "startup_seconds" in res else ""
    mem = f"  peak RSS {rss:.2f} GiB" if rss is not None else ""
    return (f"{name:<22} {work:8.2f} s  {rows / work:12,.0f} rows/s{mem}  status={res['status']} "
            f"rows={res['rows']} quarantined={res['quarantined']}{extra}")


BASE_ROWS = 1_000_000


def _replicated(rows: int, work: Path, out: Path) -> Path:
    """A ``rows``-row CUR 2.0 Parquet file: up to 1 M rows from the generator, then copies of
    them (with distinct line item ids and resource ids) streamed by DuckDB in one pass, so a
    100 M-row file takes minutes, not an hour, and never sits in memory."""
    base_n = min(rows, BASE_ROWS)
    base = work / f"bench-cur2-parquet-{base_n}.parquet"
    if not base.exists():
        base = generate("cur2-parquet", base_n, work)
    if rows == base_n:
        return base
    import duckdb

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{base}')").fetchall()]
    sel = ", ".join(f"identity_line_item_id || '-' || CAST(k AS VARCHAR) AS identity_line_item_id"
                    if c == "identity_line_item_id" else c for c in cols)
    copies = -(-rows // base_n)
    con.execute(f"COPY (SELECT {sel} FROM range({copies}) AS r(k), read_parquet('{base}') "
                f"LIMIT {rows}) TO '{out}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 500000)")
    con.close()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows for the DuckDB vs Spark comparison (0 = skip)")
    ap.add_argument("--big-rows", type=int, default=100_000_000, help="rows for the out-of-core ingest (0 = skip)")
    ap.add_argument("--memory-limit", default="2GB", help="DuckDB memory limit for the big ingest")
    ap.add_argument("--spill-dir", default=None, help="DuckDB spill folder (default: in the work folder)")
    ap.add_argument("--spark-driver-memory", default="2g")
    ap.add_argument("--workdir", type=Path, default=None, help="keep generated files here (default: a temp folder, removed)")
    args = ap.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="aifinops-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    ok = True
    try:
        if args.rows:
            src = work / f"bench-cur2-parquet-{args.rows}.parquet"
            if not src.exists():
                src = generate("cur2-parquet", args.rows, work)
            print(f"side by side: {args.rows:,} rows CUR 2.0 Parquet ({src.stat().st_size / 1e6:.0f} MB)")
            for d in ("ledger-duckdb", "ledger-spark"):
                shutil.rmtree(work / d, ignore_errors=True)
            d_s, d_rss, d_res = _measure(_DUCKDB, str(src), str(work / "ledger-duckdb"), "", "")
            print(_line("duckdb", args.rows, d_s, d_rss, d_res))
            try:
                s_s, _, s_res = _measure(_SPARK, str(src), str(work / "ledger-spark"), args.spark_driver_memory)
                print(_line("spark local[2]", args.rows, s_s, None, s_res))
                same = [(r["currency"], r["ledger_total"]) for r in d_res["recon"]] == \
                    [(r["currency"], r["ledger_total"]) for r in s_res["recon"]] and d_res["rows"] == s_res["rows"]
                print(f"identical row counts and per-currency totals: {same}")
                ok &= same
            except SystemExit as exc:
                print(f"spark: not measured ({exc})")
        if args.big_rows:
            t0 = time.perf_counter()
            big = work / f"bench-cur2-parquet-{args.big_rows}.parquet"
            if not big.exists():
                big = _replicated(args.big_rows, work, big)
            print(f"out-of-core: {args.big_rows:,} rows CUR 2.0 Parquet ({big.stat().st_size / 1e9:.1f} GB, "
                  f"generated in {time.perf_counter() - t0:.0f} s)")
            spill = args.spill_dir or str(work / "spill")
            shutil.rmtree(work / "ledger-big", ignore_errors=True)
            b_s, b_rss, b_res = _measure(_DUCKDB, str(big), str(work / "ledger-big"), args.memory_limit, spill)
            print(_line(f"duckdb (limit {args.memory_limit})", args.big_rows, b_s, b_rss, b_res))
            print(f"peak RSS < 4 GiB: {b_rss < 4}")
            ok &= b_rss < 4 and b_res["status"] == "ok"
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
