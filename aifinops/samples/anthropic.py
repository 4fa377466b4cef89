"""Render the ground truth's Anthropic rows as Anthropic Admin API reports, one pair of
files per month under ``out_dir/anthropic/``:

* ``usage-report-YYYY-MM.json``: ``GET /v1/organizations/usage_report/messages`` pages of
  daily buckets, results grouped by model and workspace (the truth's ``project``), with the
  separate counts ``uncached_input_tokens`` (``input``), ``cache_read_input_tokens``
  (``cached_input``), ``cache_creation.ephemeral_5m_input_tokens`` (``cache_write_5m`` and
  ``cache_write``), ``cache_creation.ephemeral_1h_input_tokens`` (``cache_write_1h``),
  ``output_tokens`` (``output`` + ``reasoning``) and
  ``server_tool_use.web_search_requests`` (``web_search``).
* ``cost-report-YYYY-MM.json``: ``GET /v1/organizations/cost_report`` pages, results
  grouped by workspace and description (the truth's ``sku``), ``amount`` as a decimal
  string in cents (exactly cost x 100).

Example:
    >>> import tempfile, pathlib
    >>> from decimal import Decimal
    >>> import pandas as pd
    >>> from aifinops.samples import anthropic
    >>> truth = pd.DataFrame([{"date": pd.Timestamp("2025-06-01"), "provider": "anthropic",
    ...     "project": "wrkspc_1", "model": "claude-sonnet-4", "token_type": "input",
    ...     "tokens": 1000, "requests": 3, "sku": "Claude Sonnet 4 Usage - Input Tokens",
    ...     "cost": Decimal("0.003"), "currency": "USD"}])
    >>> [p.name for p in anthropic.write(truth, pathlib.Path(tempfile.mkdtemp()))]
    ['usage-report-2025-06.json', 'cost-report-2025-06.json']
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

from . import token_usage_rows

from .openai import _none, _tokens_by_type, dumps_exact, pages

__all__ = ["write", "COST_TOKEN_TYPE"]

#: truth token type -> the cost report's ``token_type``
COST_TOKEN_TYPE = {
    "input": "uncached_input_tokens",
    "output": "output_tokens",
    "reasoning": "output_tokens",
    "cached_input": "cache_read_input_tokens",
    "cache_write": "cache_creation.ephemeral_5m_input_tokens",
    "cache_write_5m": "cache_creation.ephemeral_5m_input_tokens",
    "cache_write_1h": "cache_creation.ephemeral_1h_input_tokens",
}


def _rfc3339(day) -> str:
    d = pd.Timestamp(day).date()
    return datetime(d.year, d.month, d.day).strftime("%Y-%m-%dT%H:%M:%SZ")


def write(truth: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write the truth's ``provider == 'anthropic'`` rows as usage and cost reports.

    Args:
        truth: the ground truth (:func:`aifinops.samples.truth.ground_truth`).
        out_dir: the sample folder; files go to ``out_dir/anthropic/``.

    Returns:
        The written files, usage then cost, month by month.
    """
    rows, folder = token_usage_rows(truth, "anthropic", out_dir, ("sku",))
    written: list[Path] = []
    if rows.empty:
        return written
    for month, mrows in rows.groupby("__month", sort=True):
        ubuckets, cbuckets = [], []
        for day, drows in mrows.groupby("__day", sort=True):
            span = {"starting_at": _rfc3339(day), "ending_at": _rfc3339(day + timedelta(days=1))}
            results = []
            for (model, ws), g in drows.groupby(["model", "project"], sort=True, dropna=False):
                t = _tokens_by_type(g)
                results.append({
                    "uncached_input_tokens": t.get("input", 0),
                    "cache_creation": {
                        "ephemeral_1h_input_tokens": t.get("cache_write_1h", 0),
                        "ephemeral_5m_input_tokens": t.get("cache_write_5m", 0) + t.get("cache_write", 0),
                    },
                    "cache_read_input_tokens": t.get("cached_input", 0),
                    "output_tokens": t.get("output", 0) + t.get("reasoning", 0),
                    "server_tool_use": {"web_search_requests": t.get("web_search", 0)},
                    "api_key_id": None, "workspace_id": _none(ws), "model": _none(model),
                    "service_tier": "standard", "context_window": "0-200k", "inference_geo": None,
                })
            ubuckets.append({**span, "results": results})
            cresults = []
            for (ws, sku, model, tt, cur), g in drows.groupby(["project", "sku", "model", "token_type", "currency"],
                                                               sort=True, dropna=False):
                cost = sum((c for c in g["cost"] if _none(c) is not None), Decimal(0))
                cresults.append({
                    "currency": str(cur), "amount": format(cost * 100, "f"), "workspace_id": _none(ws),
                    "description": _none(sku), "cost_type": "web_search" if tt == "web_search" else "tokens",
                    "context_window": "0-200k", "model": _none(model), "service_tier": "standard",
                    "token_type": COST_TOKEN_TYPE.get(str(tt)), "inference_geo": None,
                })
            cbuckets.append({**span, "results": cresults})
        for name, buckets in ((f"usage-report-{month}.json", ubuckets), (f"cost-report-{month}.json", cbuckets)):
            data = [{k: v for k, v in p.items() if k != "object"} for p in pages(buckets, next_prefix="page_")]
            path = folder / name
            path.write_text(dumps_exact(data) + "\n", encoding="utf-8")
            written.append(path)
    return written
