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

__all__ = ["token_usage_rows", "records_by_month"]


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



def records_by_month(truth: pd.DataFrame, provider: str, out_dir: str | Path,
                     month_format: str = "%Y-%m") -> tuple[Path, dict[str, list[dict]]]:
    """The truth's rows of one cloud provider as records grouped by month (keys formatted
    with ``month_format``, in order), and the provider's sample folder (created when there
    are rows). Shared by the GCP and OCI writers.

    >>> import datetime, tempfile
    >>> t = pd.DataFrame([{"date": datetime.date(2025, 1, 3), "provider": "oci"}])
    >>> folder, months = records_by_month(t, "oci", tempfile.mkdtemp(), "%Y%m")
    >>> (folder.name, list(months), len(months["202501"]))
    ('oci', ['202501'], 1)
    """
    folder = Path(out_dir) / provider
    sel = truth[truth["provider"].astype(str).str.lower() == provider]
    months: dict[str, list[dict]] = {}
    for r in sel.to_dict("records"):
        months.setdefault(pd.Timestamp(r["date"]).strftime(month_format), []).append(r)
    if months:
        folder.mkdir(parents=True, exist_ok=True)
    return folder, dict(sorted(months.items()))
