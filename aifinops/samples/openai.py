"""Render the ground truth's OpenAI rows as OpenAI Admin API exports, one pair of files
per month under ``out_dir/openai/``:

* ``usage-completions-YYYY-MM.json``: ``GET /v1/organization/usage/completions`` pages
  (a JSON array of pages of up to 7 daily buckets, ``has_more``/``next_page`` set), results
  grouped by project, user and model. As in the real API, ``input_tokens`` includes the
  cached tokens (truth ``input`` + ``cached_input`` + any cache writes),
  ``input_cached_tokens`` is the truth's ``cached_input`` and ``output_tokens`` includes the
  reasoning tokens (truth ``output`` + ``reasoning``); ``num_model_requests`` sums the
  truth's requests.
* ``costs-YYYY-MM.json``: ``GET /v1/organization/costs`` pages, results grouped by project
  and line item (the truth's ``sku``, e.g. ``"gpt-4o, input_tokens"``), ``amount.value`` in
  dollars written as an exact JSON number.

Example:
    >>> import tempfile, pathlib
    >>> from decimal import Decimal
    >>> import pandas as pd
    >>> from aifinops.samples import openai
    >>> truth = pd.DataFrame([{"date": pd.Timestamp("2025-06-01"), "provider": "openai",
    ...     "account_id": "org-1", "project": "proj_1", "user": "u1", "model": "gpt-4o",
    ...     "token_type": "input", "tokens": 1000, "requests": 3, "sku": "gpt-4o, input_tokens",
    ...     "cost": Decimal("0.0025"), "currency": "USD"}])
    >>> [p.name for p in openai.write(truth, pathlib.Path(tempfile.mkdtemp()))]
    ['usage-completions-2025-06.json', 'costs-2025-06.json']
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pandas as pd

from . import token_usage_rows

__all__ = ["write", "dumps_exact", "pages", "unix_day", "PAGE_BUCKETS"]

#: daily buckets per page (the Usage API's default ``limit``)
PAGE_BUCKETS = 7

_MARK = "\x00dec:"


def dumps_exact(obj: object) -> str:
    """JSON text where :class:`~decimal.Decimal` values are written as exact JSON numbers.

    >>> dumps_exact({"v": Decimal("0.10"), "n": None})
    '{"v": 0.10, "n": null}'
    """
    def conv(o):
        if isinstance(o, Decimal):
            return _MARK + format(o, "f")
        if isinstance(o, dict):
            return {k: conv(v) for k, v in o.items()}
        if isinstance(o, list):
            return [conv(v) for v in o]
        return o

    text = json.dumps(conv(obj))
    return re.sub(r'"\\u0000dec:([-0-9.]+)"', r"\1", text)


def unix_day(day) -> int:
    """Unix seconds of a day's UTC midnight."""
    d = pd.Timestamp(day).date()
    return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp())


def pages(buckets: list[dict], *, next_prefix: str = "page_") -> list[dict]:
    """Split daily buckets into API pages of :data:`PAGE_BUCKETS`."""
    out = []
    for i in range(0, max(len(buckets), 1), PAGE_BUCKETS):
        chunk = buckets[i:i + PAGE_BUCKETS]
        more = i + PAGE_BUCKETS < len(buckets)
        out.append({"object": "page", "data": chunk, "has_more": more,
                    "next_page": f"{next_prefix}{i // PAGE_BUCKETS + 1}" if more else None})
    return out


def _none(v):
    return None if v is None or (not isinstance(v, (list, dict)) and pd.isna(v)) else v


def _int(v) -> int:
    v = _none(v)
    return 0 if v is None else int(v)


def _tokens_by_type(g: pd.DataFrame) -> dict[str, int]:
    out: dict[str, int] = {}
    for tt, tok in zip(g["token_type"], g["tokens"]):
        out[str(tt)] = out.get(str(tt), 0) + _int(tok)
    return out


def write(truth: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write the truth's ``provider == 'openai'`` rows as usage and costs JSON.

    Args:
        truth: the ground truth (:func:`aifinops.samples.truth.ground_truth`).
        out_dir: the sample folder; files go to ``out_dir/openai/``.

    Returns:
        The written files, usage then costs, month by month.
    """
    rows, folder = token_usage_rows(truth, "openai", out_dir, ("project", "user", "account_id", "sku"))
    written: list[Path] = []
    if rows.empty:
        return written
    for month, mrows in rows.groupby("__month", sort=True):
        usage_buckets, cost_buckets = [], []
        for day, drows in mrows.groupby("__day", sort=True):
            start = unix_day(day)
            results = []
            for (project, user, model), g in drows.groupby(["project", "user", "model"], sort=True, dropna=False):
                t = _tokens_by_type(g)
                cached = t.get("cached_input", 0)
                writes = sum(v for k, v in t.items() if k.startswith("cache_write"))
                results.append({
                    "object": "organization.usage.completions.result",
                    "input_tokens": t.get("input", 0) + cached + writes,
                    "output_tokens": t.get("output", 0) + t.get("reasoning", 0),
                    "input_cached_tokens": cached,
                    "input_audio_tokens": t.get("audio_input", 0),
                    "output_audio_tokens": t.get("audio_output", 0),
                    "num_model_requests": sum(_int(r) for r in g["requests"]),
                    "project_id": _none(project), "user_id": _none(user), "api_key_id": None,
                    "model": _none(model), "batch": False,
                })
            usage_buckets.append({"object": "bucket", "start_time": start, "end_time": start + 86400,
                                  "results": results})
            cresults = []
            for (project, sku, org, cur), g in drows.groupby(["project", "sku", "account_id", "currency"],
                                                             sort=True, dropna=False):
                cresults.append({
                    "object": "organization.costs.result",
                    "amount": {"value": sum((c for c in g["cost"] if _none(c) is not None), Decimal(0)),
                               "currency": str(cur).lower()},
                    "line_item": _none(sku), "project_id": _none(project), "organization_id": _none(org),
                })
            cost_buckets.append({"object": "bucket", "start_time": start, "end_time": start + 86400,
                                 "results": cresults})
        for name, buckets in ((f"usage-completions-{month}.json", usage_buckets), (f"costs-{month}.json", cost_buckets)):
            path = folder / name
            path.write_text(dumps_exact(pages(buckets)) + "\n", encoding="utf-8")
            written.append(path)
    return written
