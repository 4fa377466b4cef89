"""Deterministic sample data: one ground truth (:mod:`aifinops.samples.truth`) rendered by
one writer per export format (``aifinops.samples.<format>.write(truth, out_dir)``) and
assembled by :func:`aifinops.samples.build.build` (``python -m aifinops.samples``).

Example:
    >>> from aifinops.samples.truth import ground_truth
    >>> len(ground_truth(months=1)) > 1000
    True
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["token_usage_rows"]


def token_usage_rows(truth: pd.DataFrame, provider: str, out_dir: str | Path,
                     columns: tuple[str, ...] = ()) -> tuple[pd.DataFrame, Path]:
    """The truth's token-usage rows of one LLM API provider, with ``__day`` and ``__month``
    columns and any missing ``columns`` added as None, and the provider's sample folder
    (created when there are rows). Shared by the OpenAI and Anthropic writers.

    >>> import datetime, tempfile
    >>> t = pd.DataFrame([{"date": datetime.date(2025, 1, 3), "provider": "openai", "token_type": "input",
    ...                    "charge_type": "usage"}])
    >>> rows, folder = token_usage_rows(t, "openai", tempfile.mkdtemp(), ("sku",))
    >>> (len(rows), rows["__month"][0], folder.name, rows["sku"][0])
    (1, '2025-01', 'openai', None)
    """
    rows = truth[(truth["provider"] == provider) & truth["token_type"].notna()].copy()
    if "charge_type" in rows:
        rows = rows[rows["charge_type"].fillna("usage") == "usage"]
    folder = Path(out_dir) / provider
    if rows.empty:
        return rows, folder
    folder.mkdir(parents=True, exist_ok=True)
    rows["__day"] = pd.to_datetime(rows["date"]).dt.date
    rows["__month"] = pd.to_datetime(rows["date"]).dt.strftime("%Y-%m")
    for col in columns:
        if col not in rows:
            rows[col] = None
    return rows, folder
