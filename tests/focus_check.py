"""Run the FinOps Foundation's ``focus-validator`` on a file and count failed rules.

The validator runs in its own venv (``scripts/focus_validator.sh`` creates ``.venv-validator``
on first use). Its console output lists every rule of the requirements model as
``<icon> <RuleId>: PASS|FAIL|SKIPPED`` under a ``Total: N | Pass: P | Fail: F | Skipped: S``
line. Its own ``Fail`` count includes the *losing alternatives of a passing OR*: e.g.
``InvoiceId-C-003-C`` is "InvoiceId MUST be null (C-004) OR MUST NOT be null (C-005)", and
one of the two fails on every dataset. :func:`failed_rules` therefore reads the rule tree
from the validator's model JSON and reports a failure only when no passing OR above it
accepts another branch (the dataset's verdict, as the model defines it).

Usage: ``python tests/focus_check.py FILE [--applicability-criteria ALL]``.
"""

from __future__ import annotations

import glob
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SCRIPT", "VENV", "available_python", "ensure_venv", "run", "parse", "failed_rules", "Result"]

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "focus_validator.sh"
VENV = REPO / ".venv-validator"

_LINE = re.compile(r"\b([A-Za-z]+-[A-Z]-\d{3}-[A-Z]): (PASS|FAIL|SKIPPED)\b")
_TOTAL = re.compile(r"^Total: (\d+) \| Pass: (\d+) \| Fail: (\d+) \| Skipped: (\d+)", re.M)


@dataclass
class Result:
    """One validator run: status per rule, the validator's own totals, and the verdict."""

    status: dict[str, str]
    totals: dict[str, int]
    failed: list[str] = field(default_factory=list)
    or_alternatives: list[str] = field(default_factory=list)
    output: str = ""
    seconds: float = 0.0


def available_python() -> str | None:
    """A Python >= 3.12 interpreter for the validator venv, or None."""
    cands = ["python3.13", "python3.12"] + sorted(glob.glob("/root/.pyenv/versions/3.1[23]*/bin/python"))
    for c in cands:
        exe = shutil.which(c) or (c if Path(c).exists() else None)
        if not exe:
            continue
        ok = subprocess.run([exe, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"],
                            capture_output=True).returncode == 0
        if ok:
            return exe
    return None


def ensure_venv() -> float:
    """Create the validator venv if missing; returns the seconds it took (0 if present)."""
    import time

    if (VENV / "bin" / "focus-validator").exists():
        return 0.0
    t0 = time.perf_counter()
    subprocess.run(["bash", str(SCRIPT), "--setup"], check=True)
    return time.perf_counter() - t0


def model_path() -> Path:
    found = sorted(VENV.glob("lib/python3.*/site-packages/focus_validator/rules/model-1.2*.json"))
    if not found:
        raise FileNotFoundError(f"no FOCUS 1.2 requirements model under {VENV}")
    return found[-1]


def _edges(model: dict) -> dict[str, list[tuple[str, bool]]]:
    """child rule -> [(parent rule, child sits under an OR of the parent)]."""
    parents: dict[str, list[tuple[str, bool]]] = {}

    def walk(node, parent: str, under_or: bool) -> None:
        if isinstance(node, dict):
            fn = node.get("CheckFunction")
            if fn == "CheckModelRule" and node.get("ModelRuleId"):
                parents.setdefault(node["ModelRuleId"], []).append((parent, under_or))
            for v in node.values():
                walk(v, parent, under_or or fn == "OR")
        elif isinstance(node, list):
            for v in node:
                walk(v, parent, under_or)

    for rid, rule in model["ModelRules"].items():
        walk(rule.get("ValidationCriteria", {}).get("Requirement", {}), rid, False)
    return parents


def parse(output: str) -> tuple[dict[str, str], dict[str, int]]:
    """Rule statuses and the ``Total`` line of the validator's console output."""
    m = _TOTAL.search(output)
    if not m:
        raise ValueError("no 'Total: ... | Fail: ...' line in the validator output:\n" + output[-3000:])
    totals = dict(zip(("total", "pass", "fail", "skipped"), map(int, m.groups())))
    status: dict[str, str] = {}
    for line in output[m.end():].splitlines():
        if line.startswith("--- Failures ---"):
            break
        lm = _LINE.search(line)
        if lm:
            status[lm.group(1)] = lm.group(2)
    if len(status) != totals["total"]:
        raise ValueError(f"parsed {len(status)} rule lines, validator reports {totals['total']}")
    return status, totals


def failed_rules(status: dict[str, str], model: dict,
                 known_bugs: frozenset[str] = frozenset()) -> tuple[list[str], list[str]]:
    """(failed rules, failed rules that are only losing alternatives of a passing OR).

    ``known_bugs``: rules whose failure is a documented validator defect; they and the
    composites failing only through them are left out of the first list."""
    parents = _edges(model)
    memo: dict[str, bool] = {}

    def excused(rid: str, seen: frozenset = frozenset()) -> bool:
        if rid in memo:
            return memo[rid]
        ok = False
        for parent, under_or in parents.get(rid, []):
            if parent in seen:
                continue
            ps = status.get(parent)
            if under_or and ps == "PASS":
                ok = True
            elif ps == "FAIL" and excused(parent, seen | {rid}):
                ok = True
            if ok:
                break
        memo[rid] = ok
        return ok

    fails = sorted(r for r, s in status.items() if s == "FAIL")
    alts = [r for r in fails if excused(r)]
    real = [r for r in fails if r not in alts]
    children: dict[str, set[str]] = {}
    for child, ps in parents.items():
        for parent, _ in ps:
            children.setdefault(parent, set()).add(child)
    allowed = set(known_bugs) & set(real)
    changed = True
    while changed:
        changed = False
        for r in real:
            failed_kids = {c for c in children.get(r, ()) if status.get(c) == "FAIL" and c not in alts}
            if r not in allowed and failed_kids and failed_kids <= allowed:
                allowed.add(r)
                changed = True
    return [r for r in real if r not in allowed], alts


def run(path: str | Path, *extra: str, known_bugs: frozenset[str] = frozenset(), timeout: float = 1800) -> Result:
    """Validate ``path`` against FOCUS 1.2 (creating the venv if needed)."""
    import time

    ensure_venv()
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", str(SCRIPT), str(path), *extra], capture_output=True, text=True,
                          timeout=timeout)
    secs = time.perf_counter() - t0
    if proc.returncode != 0 and "Total:" not in proc.stdout:
        raise RuntimeError(f"focus-validator exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    status, totals = parse(proc.stdout)
    model = json.loads(model_path().read_text(encoding="utf-8"))
    failed, alts = failed_rules(status, model, known_bugs)
    return Result(status, totals, failed, alts, proc.stdout, secs)


if __name__ == "__main__":  # pragma: no cover
    res = run(sys.argv[1], *sys.argv[2:])
    print(f"validator totals: {res.totals}  ({res.seconds:.1f}s)")
    print(f"losing OR alternatives (not failures): {', '.join(res.or_alternatives) or '-'}")
    print(f"FAILED RULES: {len(res.failed)}")
    for r in res.failed:
        print(f"  {r}")
    sys.exit(1 if res.failed else 0)
