"""Forecast benchmark: Prophet + seasonal-naive forecasts with a 3-fold rolling-origin backtest
for N daily series (default 500), on every core (multiprocessing). Prints the wall time and
the mean backtest WAPE of Prophet vs the seasonal-naive baseline, and how often each won.

    python benchmarks/forecast.py                 # 500 series x 180 days, 30-day horizon
    python benchmarks/forecast.py --series 100 --processes 1

Series are synthetic daily costs: level, trend, weekly seasonality, noise and a few spikes
(deterministic seed). Target on a 2-core machine: < 60 s for 500 series. The machine is shared,
so the load average at the start and the end is printed next to the time.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aifinops.forecast import forecast_many, quiet


def series(n: int, days: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2025-06-01", periods=days, freq="D")
    weekend = np.asarray(ds.day_of_week >= 5)
    t = np.arange(days)
    frames = []
    for i in range(n):
        level = rng.uniform(50, 5000)
        y = level * (1 + rng.uniform(-0.002, 0.006) * t) * np.where(weekend, rng.uniform(0.3, 1.0), 1.0)
        y = y * (1 + rng.normal(0, rng.uniform(0.02, 0.2), days))
        for k in rng.choice(days, rng.integers(0, 4), replace=False):
            y[k] *= rng.uniform(2, 5)
        frames.append(pd.DataFrame({"key": f"s{i:04d}", "ds": ds, "y": np.maximum(y, 0)}))
    return pd.concat(frames, ignore_index=True)


def _cpu() -> float:
    """User + system CPU seconds of this process and its finished children (workers, Stan runs)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=500)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--horizon", type=int, default=30)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args(argv)
    quiet()
    s = series(a.series, a.days)
    load0 = os.getloadavg()[0]
    cpu0 = _cpu()
    t0 = time.perf_counter()
    fs = forecast_many(s, horizon=a.horizon, folds=a.folds, processes=a.processes)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    cpu = _cpu() - cpu0
    acc = fs.accuracy.pivot(index="key", columns="model", values="wape")
    chosen = fs.accuracy[fs.accuracy["chosen"]]["model"].value_counts()
    fits = int((acc["prophet"].notna()).sum() * a.folds + (chosen.get("prophet", 0)))
    print(f"series={a.series} days={a.days} rows={len(s)} horizon={a.horizon} folds={a.folds} "
          f"processes={a.processes} cores={os.cpu_count()}")
    print(f"time: {wall:.1f} s ({wall / a.series * 1000:.0f} ms per series: {a.folds} backtest fits per model "
          f"+ 1 final fit of the model used; {fits} Prophet fits in all); load average {load0:.1f} at the start, "
          f"{load1:.1f} at the end")
    print(f"cpu: {cpu:.1f} s ({cpu / a.series * 1000:.0f} ms per series; this process, its workers and their Stan "
          f"runs, whatever else runs; divided by the cores: {cpu / (os.cpu_count() or 1):.1f} s)")
    print(f"backtest WAPE (mean over series): prophet {acc['prophet'].mean():.3f}, "
          f"seasonal_naive {acc['seasonal_naive'].mean():.3f}; median prophet {acc['prophet'].median():.3f}, "
          f"seasonal_naive {acc['seasonal_naive'].median():.3f}")
    print("model used: " + ", ".join(f"{k} {v}" for k, v in chosen.items()))
    print("target: < 60 s for 500 series on 2 cores: " + ("met" if a.series == 500 and wall < 60 else
                                                           "see time above"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
