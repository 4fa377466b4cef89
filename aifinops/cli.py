"""The ``aifinops`` command. Exit codes are cron-friendly: 0 all good, 2 partial (a file
rejected or rows quarantined), 3 an alert fired (``aifinops alerts --fail-on-alert``), 1 fatal error.

Example:
    >>> from aifinops.cli import main
    >>> main(["formats"]) == 0  # doctest: +ELLIPSIS
    aws-cur ...
    True
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .errors import AifinopsError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aifinops", description="FinOps for AI: one FOCUS ledger and its reports.")
    p.add_argument("--version", action="version", version=f"aifinops {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("ingest", help="ingest billing/usage exports into a ledger")
    s.add_argument("paths", nargs="+", type=Path, help="files or folders")
    s.add_argument("--ledger", required=True, type=Path, help="ledger folder (created if missing)")
    s.add_argument("--format", help="force a format (see `aifinops formats`)")
    s.add_argument("--tag-map", type=Path, help="tag map YAML (default: the built-in map)")
    s.add_argument("--currency", default="USD", help="currency for files that carry none (partial FOCUS files)")
    s.add_argument("--memory-limit", help="engine memory limit, e.g. 2GB")
    s.add_argument("--spill-dir", help="engine spill folder for out-of-core work")
    s.add_argument("--jobs", type=int, default=None,
                   help="files staged in parallel worker processes (default: one per CPU; commits stay in order)")
    s.add_argument("--json", action="store_true", help="print the per-file results as JSON")

    s = sub.add_parser("ledger", help="inspect a ledger")
    lsub = s.add_subparsers(dest="ledger_command", required=True)
    ls = lsub.add_parser("summary", help="per source file and currency: rows, quarantined, source and ledger totals")
    ls.add_argument("--ledger", required=True, type=Path)
    ls.add_argument("--json", action="store_true")

    s = sub.add_parser("export", help="export the ledger as a FOCUS 1.2 file")
    s.add_argument("out", type=Path)
    s.add_argument("--ledger", required=True, type=Path)
    s.add_argument("--format", required=True, choices=["focus-csv", "focus-parquet"])

    sub.add_parser("formats", help="list the source formats aifinops reads")

    s = sub.add_parser("samples", help="regenerate the sample company's exports")
    s.add_argument("--out", type=Path, default=Path("data_samples"))

    s = sub.add_parser("price", help="re-price the ledger's token usage: as billed, at the time, at a date or as a model")
    s.add_argument("out", type=Path)
    s.add_argument("--ledger", required=True, type=Path)
    s.add_argument("--at", help="re-price at the prices in force on this date (YYYY-MM-DD)")
    s.add_argument("--as-model", help="price the same token mix as this model (what-if)")
    s.add_argument("--overrides", type=Path, help="price override YAML")

    sub.add_parser("alerts", help="budgets and guardrail policies -> alerts.json; --fail-on-alert exits 3 when one fires",
                   add_help=False)

    s = sub.add_parser("report", help="run the notebook pipeline and write reports/<period>/ atomically")
    s.add_argument("--config", required=True, type=Path)
    s.add_argument("--period", help="YYYY-MM (default: from the config, else the last full month in the ledger)")
    s.add_argument("--jobs", type=int, help="notebooks run at once (default: the config's jobs, else the CPUs)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["alerts"]:  # budgets and guardrails own their options (aifinops.budgets.main_alerts)
        from .budgets import main_alerts

        return main_alerts(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except AifinopsError as exc:
        print(f"aifinops: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover
        return 130


def _dispatch(args) -> int:
    if args.command == "formats":
        from .formats import all_formats

        for f in all_formats().values():
            print(f"{f.name:<24} {f.title}")
        return 0
    if args.command == "ingest":
        from .formats.base import IngestOptions
        from .ingest import ingest

        rep = ingest(args.paths, args.ledger, format=args.format, tag_map=args.tag_map,
                     options=IngestOptions(default_currency=args.currency), memory_limit=args.memory_limit,
                     temp_directory=args.spill_dir, log=None if args.json else print, jobs=args.jobs)
        if args.json:
            print(json.dumps([f.to_dict() for f in rep.files], indent=1))
        else:
            _print_table(rep.table())
            for f in rep.files:
                for e in f.errors[:5]:
                    print(f"  quarantined: {e}")
        return rep.exit_code
    if args.command == "ledger":
        from .ledger import Ledger

        summ = Ledger(args.ledger).summary()
        if args.json:
            print(summ.to_json(orient="records", default_handler=str, indent=1))
        else:
            _print_table(summ)
        return 0
    if args.command == "export":
        from .export import export

        out = export(args.ledger, args.out, fmt=args.format)
        print(f"wrote {out}")
        return 0
    if args.command == "samples":
        from .samples.build import build

        written = build(args.out)
        print(f"wrote {sum(len(v) for v in written.values())} files under {args.out}")
        return 0
    if args.command == "price":
        from .price import reprice_ledger

        out = reprice_ledger(args.ledger, args.out, at=args.at, as_model=args.as_model, overrides=args.overrides)
        print(f"wrote {out}")
        return 0
    if args.command == "report":
        import logging

        from .report import run_report

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

        out = run_report(args.config, period=args.period, jobs=args.jobs)
        print(f"wrote {out}")
        return 0
    raise AssertionError(args.command)  # pragma: no cover


def _print_table(df) -> None:
    import pandas as pd

    with pd.option_context("display.max_rows", 500, "display.max_columns", 50, "display.width", 200,
                           "display.max_colwidth", 60):
        print(df.to_string(index=False) if len(df) else "(nothing)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
