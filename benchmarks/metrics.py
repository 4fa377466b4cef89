"""Unit-economics and allocation benchmark over a synthetic N-row ledger (default 20 M rows).

    python benchmarks/metrics.py                       # 20 M rows, generated once under $TMPDIR
    python benchmarks/metrics.py --rows 2000000 --ledger /tmp/bench-ledger --keep

Step 1 (its own process, not measured) writes the ledger layout directly: DuckDB streams
``range(N)`` into Parquet partitioned by ``x_BillingPeriod`` (money as DECIMAL(38,18)) and a
manifest listing the files, so :class:`aifinops.ledger.Ledger` reads it as any ingested ledger.
Step 2 (its own process, measured: wall time and peak RSS from ``wait4``) runs
:func:`aifinops.metrics.unit_economics` per feature and per team, an allocation of shared and
untagged cost with three rules (:func:`aifinops.allocate.allocate`) and the variance bridge.
Everything aggregates in the engine; pandas sees only aggregates.
Targets on 2 cores: < 30 s and < 3 GiB peak for 20 M rows.
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

TEAMS = ["platform", "search", "assistant", "data-science", "support-ai", "growth"]
FEATURES = ["chat-assistant", "semantic-search", "doc-summarizer", "support-triage", "code-review"]
MODELS = ["gpt-4o", "gpt-4.1-mini", "claude-sonnet-4", "claude-haiku-4-5", "o3", "gemini-2.5-pro"]
MONTHS = 15


def _arr(vals: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in vals) + "]"


def generate(ledger: Path, rows: int) -> None:
    """Write a synthetic ledger of ``rows`` rows under ``ledger``."""
    import duckdb

    data = ledger / "data"
    if ledger.exists():
        shutil.rmtree(ledger)
    (ledger / "quarantine").mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET memory_limit = '2GB'")
    con.execute("SET preserve_insertion_order = false")
    d = "DECIMAL(38,18)"
    h = "hash(i)"
    sql = f"""
    WITH base AS (
      SELECT i, {h} AS h, (i % {MONTHS}) AS m, ((i // {MONTHS}) % 3) AS tt FROM range({rows}) t(i)
    ), r AS (
      SELECT i, h, tt,
        TIMESTAMPTZ '2025-06-01 00:00:00+00' + to_months(CAST(m AS INTEGER)) + to_days(CAST(h % 28 AS INTEGER))
          AS ChargePeriodStart,
        CASE WHEN h % 7 = 6 THEN NULL ELSE {_arr(TEAMS)}[1 + CAST(h % 6 AS INTEGER)] END AS x_Team,
        CASE WHEN (h // 7) % 6 = 5 THEN NULL ELSE {_arr(FEATURES)}[1 + CAST((h // 7) % 5 AS INTEGER)] END AS x_Feature,
        {_arr(MODELS)}[1 + CAST((h // 49) % 6 AS INTEGER)] AS x_Model,
        (h // 343) % 20 AS kind,
        CAST(CAST((h // 7000) % 200000 AS DECIMAL(18,0)) * CAST(0.000001 AS DECIMAL(18,6)) AS {d}) AS cost
      FROM base
    )
    SELECT
      strftime(ChargePeriodStart, '%Y-%m') AS x_BillingPeriod,
      ChargePeriodStart, ChargePeriodStart + INTERVAL 1 DAY AS ChargePeriodEnd,
      CASE WHEN kind = 19 THEN 'EUR' ELSE 'USD' END AS BillingCurrency,
      CASE WHEN kind < 2 THEN 'estimate' ELSE 'invoice' END AS x_CostAuthority,
      'Usage' AS ChargeCategory,
      CASE WHEN kind IN (17, 18) THEN 'Compute' ELSE 'AI and Machine Learning' END AS ServiceCategory,
      'SynthCloud' AS ProviderName,
      x_Team, CASE WHEN x_Team IS NULL THEN NULL ELSE 'CC-' || x_Team END AS x_CostCenter, x_Feature,
      'cust-' || CAST(h % 40 AS VARCHAR) AS x_Customer,
      CASE WHEN kind IN (17, 18) THEN NULL ELSE x_Model END AS x_Model,
      CASE WHEN kind IN (17, 18) THEN NULL ELSE ['input', 'output', 'cached_input'][1 + CAST(tt AS INTEGER)] END
        AS x_TokenType,
      CASE WHEN kind IN (17, 18) THEN NULL ELSE CAST((h // 11) % 50000 AS {d}) END AS x_Tokens,
      CASE WHEN kind IN (17, 18) OR tt <> 0 THEN NULL ELSE CAST(1 + (h // 13) % 20 AS {d}) END AS x_Requests,
      CASE WHEN kind IN (17, 18) THEN CAST(8 AS {d}) END AS x_GpuHours,
      CASE WHEN kind IN (17, 18) THEN 'H100' END AS x_GpuModel,
      cost AS BilledCost, cost AS EffectiveCost, cost AS ContractedCost, cost AS ListCost,
      CAST(NULL AS VARCHAR) AS CommitmentDiscountId, CAST(NULL AS VARCHAR) AS CommitmentDiscountStatus,
      CAST(NULL AS {d}) AS CommitmentDiscountQuantity, 'synthetic' AS x_SourceHash
    FROM r
    """
    con.execute(f"COPY ({sql}) TO '{data}' (FORMAT parquet, PARTITION_BY (x_BillingPeriod), "
                f"ROW_GROUP_SIZE 1000000, FILENAME_PATTERN 'part-{{i}}')")
    con.close()
    files = sorted(str(p.relative_to(ledger)) for p in data.rglob("*.parquet"))
    manifest = {"format_version": 1, "files": {"synthetic": {
        "hash": "synthetic", "path": f"synthetic-{rows}", "format": "synthetic", "rows": rows, "quarantined": 0,
        "files": files, "recon": [], "defaulted": [], "cost_authority": "invoice"}}}
    (ledger / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


RULES = {"rules": [
    {"name": "untagged-ai-by-tokens", "pool": {"x_Team": None, "ServiceCategory": "AI and Machine Learning"},
     "driver": "tokens", "driver_where": "x_CostAuthority = 'estimate'"},
    {"name": "untagged-rest-by-cost", "pool": {"x_Team": None}, "driver": "cost"},
    {"name": "platform-by-requests", "pool": {"x_Team": "platform"}, "driver": "requests"},
]}


def measure(ledger: Path) -> None:
    """The measured step: unit economics, allocation and bridge; prints one JSON line."""
    from aifinops.allocate import allocate
    from aifinops.ledger import Ledger
    from aifinops.metrics import unit_economics, variance_bridge

    led = Ledger(ledger)
    t = {}
    t0 = time.perf_counter()
    ue_f = unit_economics(led, "x_Feature", usage="gateway")
    t["unit_economics_feature_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    alloc = allocate(led, RULES)
    t["allocation_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    ue_t = unit_economics(led, "x_Team", allocation=alloc)
    t["unit_economics_team_allocated_s"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    br = variance_bridge(led, "2026-08")
    t["bridge_s"] = time.perf_counter() - t3
    t["total_s"] = time.perf_counter() - t0
    t["rows_out"] = {"unit_economics_feature": len(ue_f), "unit_economics_team": len(ue_t),
                     "allocation_detail": len(alloc.detail), "bridge": len(br)}
    print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in t.items()}))


def _run(args: list[str]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    _, status, ru = os.wait4(p.pid, 0)
    out = p.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"step {args[0]} failed")
    return time.perf_counter() - t0, ru.ru_maxrss * 1024, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--ledger", type=Path, default=None, help="ledger folder (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the generated ledger")
    ap.add_argument("--step", choices=["generate", "measure"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.step == "generate":
        generate(a.ledger, a.rows)
        return
    if a.step == "measure":
        measure(a.ledger)
        return
    ledger = a.ledger or Path(tempfile.mkdtemp(prefix="aifinops-bench-metrics-")) / "ledger"
    try:
        if not (ledger / "manifest.json").exists():
            g, grss, _ = _run(["--step", "generate", "--rows", str(a.rows), "--ledger", str(ledger)])
            print(f"generated {a.rows:,} rows in {g:.1f} s (peak RSS {grss / 2**30:.2f} GiB, not part of the figure)")
        wall, rss, out = _run(["--step", "measure", "--ledger", str(ledger)])
        print(f"unit economics + allocation + bridge over {a.rows:,} rows: {wall:.1f} s wall (process), "
              f"peak RSS {rss / 2**30:.2f} GiB   [target < 30 s, < 3 GiB]")
        print(f"steps: {out.strip()}")
    finally:
        if not a.keep and a.ledger is None:
            shutil.rmtree(ledger.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
