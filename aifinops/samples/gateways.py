"""Render the ground truth's OpenAI and Anthropic traffic as a LiteLLM proxy spend log:
``out_dir/gateways/litellm-spend-logs-YYYY-MM.csv`` (``LiteLLM_SpendLogs`` columns).

The gateway sees the same requests the provider invoices bill (issue 3 item 4: the same
spend seen in a gateway log and in an invoice must be counted once; the gateway rows are
``x_CostAuthority = 'estimate'``). Every truth group (day, provider, project, model, team,
feature, environment, user, customer) becomes up to :data:`MAX_LOG_ROWS` log rows that
split its tokens and cost exactly (remainders on the last row), so per group the log's
``prompt_tokens`` = input + cached input + cache writes, ``completion_tokens`` = output +
reasoning, and ``spend`` = the billed cost. Attribution rides on the request as LiteLLM
stores it: ``team_id`` plus ``metadata.user_api_key_team_alias`` (team),
``metadata.spend_logs_metadata`` (feature, customer, environment, cost_center), ``user``,
``end_user`` (the customer) and ``request_tags`` (``feature:<name>``).

Example:
    >>> import tempfile, pathlib
    >>> from decimal import Decimal
    >>> import pandas as pd
    >>> from aifinops.samples import gateways
    >>> truth = pd.DataFrame([{"date": pd.Timestamp("2025-06-01"), "provider": "openai",
    ...     "project": "proj_1", "model": "gpt-4o", "token_type": "input", "tokens": 1000,
    ...     "requests": 3, "cost": Decimal("0.0025"), "currency": "USD", "team": "search",
    ...     "feature": "semantic-search", "environment": "prod", "user": "u1",
    ...     "customer": "cust-001", "cost_center": "CC-110"}])
    >>> [p.name for p in gateways.write(truth, pathlib.Path(tempfile.mkdtemp()))]
    ['litellm-spend-logs-2025-06.csv']
"""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

from .openai import _int, _none

__all__ = ["write", "COLUMNS", "MAX_LOG_ROWS"]

#: LiteLLM_SpendLogs columns written
COLUMNS = ("request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens",
           "startTime", "endTime", "model", "model_group", "custom_llm_provider", "user", "metadata",
           "request_tags", "team_id", "end_user", "status")
#: log rows per truth group at most
MAX_LOG_ROWS = 3

_KEYS = ["__day", "provider", "project", "model", "team", "feature", "environment", "user", "customer", "cost_center"]
_PROMPT = ("input", "cached_input", "cache_write", "cache_write_5m", "cache_write_1h", "audio_input")
_COMPLETION = ("output", "reasoning", "audio_output")


def _split_int(total: int, n: int) -> list[int]:
    base = total // n
    return [base] * (n - 1) + [total - base * (n - 1)]


def _split_dec(total: Decimal, n: int) -> list[Decimal]:
    q = Decimal(1).scaleb(total.as_tuple().exponent if isinstance(total.as_tuple().exponent, int) else 0)
    base = (total / n).quantize(q, rounding="ROUND_DOWN")
    return [base] * (n - 1) + [total - base * (n - 1)]


def _id(*parts) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def write(truth: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write the truth's OpenAI and Anthropic rows as LiteLLM spend logs, one CSV a month.

    Args:
        truth: the ground truth (:func:`aifinops.samples.truth.ground_truth`).
        out_dir: the sample folder; files go to ``out_dir/gateways/``.

    Returns:
        The written files in month order.
    """
    rows = truth[truth["provider"].isin(["openai", "anthropic"]) & truth["token_type"].notna()].copy()
    if "charge_type" in rows:
        rows = rows[rows["charge_type"].fillna("usage") == "usage"]
    written: list[Path] = []
    if rows.empty:
        return written
    for col in _KEYS[2:]:
        if col not in rows:
            rows[col] = None
    rows["__day"] = pd.to_datetime(rows["date"]).dt.date
    rows["__month"] = pd.to_datetime(rows["date"]).dt.strftime("%Y-%m")
    folder = Path(out_dir) / "gateways"
    folder.mkdir(parents=True, exist_ok=True)
    for month, mrows in rows.groupby("__month", sort=True):
        path = folder / f"litellm-spend-logs-{month}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(COLUMNS)
            for key, g in mrows.groupby(_KEYS, sort=True, dropna=False):
                day, provider, project, model, team, feature, env, user, customer, cc = (_none(k) for k in key)
                prompt = sum(_int(t) for tt, t in zip(g["token_type"], g["tokens"]) if tt in _PROMPT)
                completion = sum(_int(t) for tt, t in zip(g["token_type"], g["tokens"]) if tt in _COMPLETION)
                spend = sum((c for c in g["cost"] if _none(c) is not None), Decimal(0))
                n = max(1, min(MAX_LOG_ROWS, sum(_int(r) for r in g["requests"])))
                ps, cs, ss = _split_int(prompt, n), _split_int(completion, n), _split_dec(spend, n)
                team_id = "team-" + _id("team", team)[:12] if team else ""
                meta = {"user_api_key_team_alias": team,
                        "spend_logs_metadata": {k: v for k, v in (("feature", feature), ("customer", customer),
                                                                  ("environment", env), ("cost_center", cc)) if v}}
                tags = [f"feature:{feature}"] if feature else []
                base = datetime(day.year, day.month, day.day)
                for i in range(n):
                    rid = "chatcmpl-" + _id(key, i)[:24]
                    start = base + timedelta(seconds=int(_id(rid, "t")[:8], 16) % 86000)
                    w.writerow([
                        rid, "acompletion", _id("key", project)[:64], format(ss[i], "f"), ps[i] + cs[i], ps[i], cs[i],
                        start.strftime("%Y-%m-%d %H:%M:%S"), (start + timedelta(seconds=2)).strftime("%Y-%m-%d %H:%M:%S"),
                        model, model, provider, user or "", json.dumps(meta), json.dumps(tags), team_id,
                        customer or "", "success",
                    ])
        written.append(path)
    return written
