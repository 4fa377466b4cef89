"""Pricing throughput: generate request-log rows (vectorized numpy), price them with
:func:`aifinops.price.price`, print rows/s and peak RSS.

Usage: ``python benchmarks/pricing.py [ROWS]`` (default 10,000,000). Target: >= 1 M rows/s
on 2 cores.

Example:
    >>> from benchmarks.pricing import make_usage
    >>> make_usage(5, seed=1).shape
    (5, 8)
"""

from __future__ import annotations

import os
import resource
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["make_usage", "main"]

_MODELS = [("openai", "gpt-4o-2024-08-06"), ("openai", "gpt-4o-mini"), ("openai", "o3"),
           ("anthropic", "claude-sonnet-4-20250514"), ("anthropic", "claude-haiku-4-5"),
           ("anthropic", "claude-sonnet-4-6"), ("google", "gemini-2.5-pro"), ("openai", "no-such-model")]
_TYPES = ["input", "output", "cached_input", "cache_write_5m", "reasoning", "batch_input"]


def make_usage(rows: int, *, seed: int = 0) -> pd.DataFrame:
    """``rows`` request-log rows with Arrow-backed columns (no Python objects per row)."""
    rng = np.random.default_rng(seed)
    mi = rng.integers(0, len(_MODELS), rows)
    prov = pa.DictionaryArray.from_arrays(pa.array(mi.astype(np.int32)), pa.array([p for p, _ in _MODELS]))
    model = pa.DictionaryArray.from_arrays(pa.array(mi.astype(np.int32)), pa.array([m for _, m in _MODELS]))
    tt = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, len(_TYPES), rows).astype(np.int32)),
                                        pa.array(_TYPES))
    start = np.datetime64("2025-01-01T00:00:00", "us")
    ts = start + rng.integers(0, 365 * 86400, rows).astype("timedelta64[s]")
    return pd.DataFrame({
        "ChargePeriodStart": pd.arrays.ArrowExtensionArray(pa.array(ts, pa.timestamp("us", "UTC"))),
        "x_ModelProvider": pd.arrays.ArrowExtensionArray(prov.cast(pa.string())),
        "x_Model": pd.arrays.ArrowExtensionArray(model.cast(pa.string())),
        "x_TokenType": pd.arrays.ArrowExtensionArray(tt.cast(pa.string())),
        "x_Tokens": rng.integers(1, 20_000, rows),
        "x_Requests": np.ones(rows, dtype=np.int64),
        "x_PromptTokens": rng.integers(100, 300_000, rows),
        "x_Team": pd.arrays.ArrowExtensionArray(
            pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 4, rows).astype(np.int32)),
                                           pa.array(["search", "chat", "agents", "ops"])).cast(pa.string())),
    })


def main(argv: list[str] | None = None) -> None:
    from aifinops.price import PriceCatalogue, price

    argv = sys.argv[1:] if argv is None else argv
    rows = int(argv[0]) if argv else 10_000_000
    t0 = time.perf_counter()
    usage = make_usage(rows)
    t1 = time.perf_counter()
    cat = PriceCatalogue.load()
    price(usage.head(1000), cat)  # warm the catalogue's Arrow form and the model resolution
    t2 = time.perf_counter()
    c2 = time.process_time()
    out = price(usage, cat)
    t3 = time.perf_counter()
    c3 = time.process_time()
    total = out["x_PricedCost"].sum()
    unpriced = int(out["x_PricedCost"].isna().sum())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows              {rows:,}")
    print(f"generate          {t1 - t0:.2f} s")
    print(f"catalogue         {t2 - t1:.2f} s ({cat.version}, {len(cat.table):,} price rows)")
    print(f"price             {t3 - t2:.2f} s wall  ->  {rows / (t3 - t2):,.0f} rows/s")
    print(f"price CPU time    {c3 - c2:.2f} s  ->  {rows / (c3 - c2):,.0f} rows per CPU-second")
    print(f"load average      {' / '.join(f'{x:.1f}' for x in os.getloadavg())} (other processes share the cores)")
    print(f"total priced cost USD {total}  (unpriced rows: {unpriced:,})")
    print(f"peak RSS          {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
