"""The sample company's business figures: ``business/kpis.csv`` (see :mod:`aifinops.kpi`) and
``business/fx_rates.csv`` (see :mod:`aifinops.fx`), derived from the ground truth.

They are not billing exports: folder ingest must skip ``business/``. Per month:

- per feature: ``active_users`` (the seats of every customer that used the feature that
  month; a customer's seat count is fixed by its number), ``requests`` (the truth's model
  requests), ``conversations`` (requests / 4), ``successful_outcomes`` (a fixed success rate
  per feature), ``revenue`` (a monthly list price per customer and feature, USD),
  ``hours_saved`` (:data:`MINUTES_SAVED` per 100 outcomes) and ``hourly_rate`` (USD 60);
- per team: ``active_users`` (the team's features' users) and, for ``data-science``,
  ``gpu_busy_hours``: :data:`BUSY_SHARE` of its billed (cloud) GPU-hours, the runaway job's
  hours counting as idle;
- FX: monthly EUR->USD (1 / :data:`~aifinops.samples.truth.EUR_PER_USD`) and USD->EUR rates.

Example:
    >>> import tempfile, pathlib
    >>> from aifinops.samples.truth import ground_truth
    >>> paths = write(ground_truth(months=1), tempfile.mkdtemp())
    >>> [p.name for p in paths]
    ['kpis.csv', 'fx_rates.csv']
    >>> pathlib.Path(paths[0]).read_text().splitlines()[0]
    'date,dimension,key,metric,value,unit'
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd

from .truth import EUR_PER_USD, FEATURES, events

__all__ = ["FEATURE_PRICE", "MINUTES_SAVED", "SUCCESS_RATE", "write"]

#: USD per customer per month for a feature the customer uses
FEATURE_PRICE = {"chat-assistant": 4000, "semantic-search": 3000, "doc-summarizer": 1500, "support-triage": 2500,
                 "code-review": 2000}
#: share of requests that end in a successful outcome
SUCCESS_RATE = {"chat-assistant": "0.55", "semantic-search": "0.70", "doc-summarizer": "0.90",
                "support-triage": "0.62", "code-review": "0.80"}
#: staff minutes saved per 100 successful outcomes (most outcomes save seconds, a few save a task)
MINUTES_SAVED = {"chat-assistant": 10, "semantic-search": 2, "doc-summarizer": 300, "support-triage": 240,
                 "code-review": 600}
HOURLY_RATE = 60
#: share of a (non-runaway) provisioned GPU-hour that the scheduler saw busy
BUSY_SHARE = Decimal("0.85")


def _seats(customer: str) -> int:
    n = int("".join(ch for ch in customer if ch.isdigit()) or 0)
    return 15 + (n * 37) % 120


def _int(x: Decimal) -> Decimal:
    return x.quantize(Decimal(1), rounding=ROUND_HALF_UP)


def write(truth: pd.DataFrame, out_dir) -> list[Path]:
    """Write ``business/kpis.csv`` and ``business/fx_rates.csv`` under ``out_dir``."""
    folder = Path(out_dir) / "business"
    folder.mkdir(parents=True, exist_ok=True)
    t = truth.copy()
    t["month"] = pd.to_datetime(t["date"]).dt.strftime("%Y-%m")
    rows: list[tuple] = []
    months = sorted(t["month"].unique())
    team_users: dict[tuple[str, str], int] = {}
    for m in months:
        tm = t[t["month"] == m]
        for feat in sorted(FEATURES):
            tf = tm[tm["feature"] == feat]
            custs = sorted(tf["customer"].dropna().unique())
            if not custs:
                continue
            users = sum(_seats(c) for c in custs)
            req = Decimal(int(tf["requests"].fillna(0).sum()))
            outcomes = _int(req * Decimal(SUCCESS_RATE[feat]))
            hours = _int(outcomes * MINUTES_SAVED[feat] / Decimal(6000))
            rows += [
                (m, "feature", feat, "active_users", users, "users"),
                (m, "feature", feat, "requests", req, "requests"),
                (m, "feature", feat, "conversations", _int(req / 4), "conversations"),
                (m, "feature", feat, "successful_outcomes", outcomes, "outcomes"),
                (m, "feature", feat, "revenue", FEATURE_PRICE[feat] * len(custs), "USD"),
                (m, "feature", feat, "hours_saved", hours, "hours"),
                (m, "feature", feat, "hourly_rate", HOURLY_RATE, "USD"),
            ]
            team = FEATURES[feat]
            team_users[(m, team)] = team_users.get((m, team), 0) + users
    for (m, team), users in sorted(team_users.items()):
        rows.append((m, "team", team, "active_users", users, "users"))
    runaway = set(events(pd.Timestamp(t["date"].min()).date(), len(months))["runaway"]["days"])
    ds = t[(t["team"] == "data-science") & t["gpu_hours"].notna() & t["cost"].notna()]  # billed GPUs (not on-prem)
    day = pd.to_datetime(ds["date"]).dt.date
    idle = ds["sku"].fillna("").str.contains("p5.48xlarge") & day.isin(runaway)
    for m in months:
        sel = ds[(ds["month"] == m) & ~idle]
        if len(sel):
            busy = (sum(sel["gpu_hours"], Decimal(0)) * BUSY_SHARE).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            rows.append((m, "team", "data-science", "gpu_busy_hours", busy, "hours"))
    kpis = folder / "kpis.csv"
    lines = ["date,dimension,key,metric,value,unit"] + [",".join(str(v) for v in r) for r in rows]
    kpis.write_text("\n".join(lines) + "\n", encoding="utf-8")
    eur_usd = (Decimal(1) / EUR_PER_USD).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    fx_lines = ["date,from_currency,to_currency,rate"]
    for m in months:
        fx_lines += [f"{m},EUR,USD,{eur_usd}", f"{m},USD,EUR,{EUR_PER_USD}"]
    fx = folder / "fx_rates.csv"
    fx.write_text("\n".join(fx_lines) + "\n", encoding="utf-8")
    return [kpis, fx]
