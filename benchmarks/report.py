"""Report-bundle benchmark: time ``aifinops report --config templates/report.yaml`` (every
notebook through papermill, offline HTML, the finance workbook, provenance) for the sample
company, with a warm ledger (default) or a cold one (``--cold``), and print the total wall
time and the time of each step and notebook.

    python benchmarks/report.py                       # templates/report.yaml, warm ledger in $TMPDIR
    python benchmarks/report.py --cold                # a fresh empty ledger: the ingest step is included
    python benchmarks/report.py --jobs 1              # notebooks one after another (as before issue #7)
    python benchmarks/report.py --runs 2 --period 2026-07
    python benchmarks/report.py --ledger /tmp/me-ledger --keep

The config's ``ledger`` and ``output`` are redirected (to ``--ledger``, or a fresh folder with
``--cold``, and a temporary folder), so the repository's ``ledger/`` and ``reports/`` are
untouched. Warming: one untimed report run with no notebooks ingests the inputs exactly as
the timed run would (same tag map and options), so the timed run's ingest step only checks
the manifest. Timed runs share one output folder, so from the second run on the notebooks
are started longest first (by the previous bundle's times). Each timed run is a separate
process (``wall`` includes interpreter start-up; peak RSS of the process tree's largest
child from ``wait4``). Per-step times come from the bundle's ``provenance.json``
(``steps``), the failing step from ``report.log`` if a run fails.

Target on a 2-core machine after install: the warm bundle in < 90 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 90.0


def _config(src: Path, ledger: Path, output: Path, *, notebooks: list[str] | None, dest: Path) -> Path:
    data = yaml.safe_load(src.read_text(encoding="utf-8")) or {}
    data["root"] = str((src.parent / str(data.get("root") or ".")).resolve())
    data["ledger"] = str(ledger)
    data["output"] = str(output)
    if notebooks is not None:
        data["notebooks"] = notebooks
    dest.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return dest


def _run(cmd: list[str], log: Path) -> tuple[int, float, float]:
    """Run ``cmd``; return (exit code, wall seconds, peak RSS MiB of the largest child)."""
    t0 = time.perf_counter()
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, _ = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest child so far (kernels too)
    return os.waitstatus_to_exitcode(status), wall, rss


def _aifinops() -> list[str]:
    exe = Path(sys.executable).with_name("aifinops")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "aifinops.cli"]


def _bundle(output: Path) -> Path | None:
    done = [p for p in output.iterdir() if p.is_dir() and not p.name.startswith(".")] if output.exists() else []
    return max(done, key=lambda p: p.stat().st_mtime) if done else None


def _print_steps(bundle: Path) -> dict[str, float]:
    prov = json.loads((bundle / "provenance.json").read_text(encoding="utf-8"))
    per_nb: dict[str, dict[str, float]] = {}
    print(f"  {'step':<10} {'notebook':<38} {'seconds':>8}")
    for s in prov.get("steps", []):
        nb = s.get("notebook", "")
        print(f"  {s['step']:<10} {nb:<38} {(s['seconds'] or 0):>8.2f}{'' if s.get('ok', True) else '  FAILED'}")
        if nb:
            per_nb.setdefault(nb, {})[s["step"]] = s["seconds"]
    print(f"\n  {'per notebook':<38} {'execute s':>9} {'html s':>7}")
    for nb, t in per_nb.items():
        print(f"  {nb:<38} {(t.get('notebook') or 0):>9.2f} {(t.get('html') or 0):>7.2f}")
    total = sum((t.get("notebook") or 0) + (t.get("html") or 0) for t in per_nb.values())
    pool = next((s for s in prov.get("steps", []) if s["step"] == "notebooks"), None)
    print(f"  {'sum of notebook + html times':<38} {total:>9.2f}"
          + (f"   (ran in {pool['seconds']:.2f} s wall, {pool.get('jobs')} processes)" if pool else ""))
    return {s["step"] + (":" + s["notebook"] if s.get("notebook") else ""): s["seconds"] for s in prov.get("steps", [])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(REPO / "templates" / "report.yaml"), help="report YAML")
    ap.add_argument("--ledger", default=str(Path(tempfile.gettempdir()) / "aifinops-bench-report-ledger"),
                    help="ledger folder kept between runs (warmed if needed)")
    ap.add_argument("--period", default=None, help="YYYY-MM (default: the config's, else the last full month)")
    ap.add_argument("--runs", type=int, default=1, help="timed runs")
    ap.add_argument("--keep", action="store_true", help="keep the bundles (prints where)")
    ap.add_argument("--cold", action="store_true",
                    help="each timed run starts from a fresh empty ledger (the ingest step is included)")
    ap.add_argument("--jobs", type=int, default=None,
                    help="notebooks run at once (aifinops report --jobs; default: the config's, else the CPUs)")
    args = ap.parse_args(argv)

    src = Path(args.config).resolve()
    ledger = Path(args.ledger).resolve()
    work = Path(tempfile.mkdtemp(prefix="aifinops-bench-report-"))
    period = ["--period", args.period] if args.period else []
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []
    kind = "cold ledger (ingest included)" if args.cold else "warm ledger"
    try:
        if not args.cold:
            warm_cfg = _config(src, ledger, work / "warm-out", notebooks=[], dest=work / "warm.yaml")
            code, wall, _ = _run(_aifinops() + ["report", "--config", str(warm_cfg)] + period, work / "warm.log")
            if code != 0:
                print(f"warm-up failed (exit {code}); see log:\n"
                      + (work / "warm.log").read_text(errors="replace")[-3000:])
                return 1
            print(f"warm-up (ingest into {ledger}, no notebooks): {wall:.1f} s")
        nbs = yaml.safe_load(src.read_text(encoding="utf-8")).get("notebooks") or []
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"config {src} · {kind} · {len(nbs)} notebook(s) · jobs {args.jobs or 'default'} · "
              f"{os.cpu_count()} CPU(s) · load average {load} "
              f"(figures are only comparable on an idle machine) · python {sys.version.split()[0]}")
        walls = []
        out = work / "out"
        for i in range(args.runs):
            led = work / f"cold-ledger-{i}" if args.cold else ledger
            cfg = _config(src, led, out, notebooks=None, dest=work / f"run-{i}.yaml")
            code, wall, rss = _run(_aifinops() + ["report", "--config", str(cfg)] + period + jobs,
                                   work / f"run-{i}.log")
            if args.cold:
                shutil.rmtree(led, ignore_errors=True)
            if code != 0:
                failed = sorted(out.glob(".failed-*/report.log"))
                tail = (failed[0] if failed else work / f"run-{i}.log").read_text(errors="replace")[-3000:]
                print(f"run {i + 1}: FAILED (exit {code}) after {wall:.1f} s\n{tail}")
                return 1
            walls.append(wall)
            bundle = _bundle(out)
            print(f"run {i + 1}: bundle {bundle.name if bundle else '?'} in {wall:.1f} s wall "
                  f"(peak RSS of a child {rss:.0f} MiB)")
            if bundle is not None:
                _print_steps(bundle)
                if args.keep:
                    print(f"  kept: {bundle}")
        best = min(walls)
        print(f"report bundle, {kind}: best {best:.1f} s of {len(walls)} run(s); target < {TARGET_SECONDS:.0f} s: "
              f"{'met' if best < TARGET_SECONDS else 'NOT met'}")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
