"""``python -m aifinops.samples``: regenerate the sample folder (default ``data_samples/``).

Example:
    >>> main(["--help"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
import time

from .build import build

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, build the samples, print one line per writer; returns the exit code."""
    ap = argparse.ArgumentParser(prog="python -m aifinops.samples", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="data_samples", help="sample folder (default: data_samples)")
    ap.add_argument("--start", default="2025-06-01", help="first month (YYYY-MM-DD)")
    ap.add_argument("--months", type=int, default=15)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the token rows (benchmarks)")
    ap.add_argument("--only", nargs="*", help="only these writer modules, e.g. aws focus")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    written = build(args.out, args.start, args.months, args.seed, args.scale, only=args.only)
    for name, paths in written.items():
        print(f"{name:<10} {len(paths):>3} file(s)")
    print(f"wrote {sum(len(v) for v in written.values())} files under {args.out} "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
