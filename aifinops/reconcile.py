"""Estimate vs invoice: the token spend that usage records and gateway logs *estimate*,
against what providers *bill*, per provider, model and month.

The ledger records for every row whether its cost is billed (``x_CostAuthority`` =
``invoice``), a gateway's estimate (``estimate``, kept for attribution only) or not a cost
at all (``usage``: token counts priced here with the price catalogue). Totals everywhere
count ``invoice`` rows only (:data:`BILLED`), so spend seen both in a gateway log and in an
invoice is counted once.

Example:
    >>> from aifinops.reconcile import BILLED
    >>> BILLED
    "x_CostAuthority = 'invoice'"
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from .ledger import Ledger
from .money import trim

__all__ = ["BILLED", "estimate_vs_invoice"]

#: the SQL filter for rows whose cost counts in totals (billed cost, once)
BILLED = "x_CostAuthority = 'invoice'"

_KEYS = "lower(ProviderName) AS provider, x_Model AS model, strftime(ChargePeriodStart, '%Y-%m') AS month"


def _pct(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    if a is None or b is None or b == 0:
        return None
    return ((a - b) / b * 100).quantize(Decimal("0.01"))


def estimate_vs_invoice(ledger: Ledger | str, catalogue=None) -> pd.DataFrame:
    """One row per provider, model, month and currency with:

    ``invoiced`` (billed cost), ``gateway_estimate`` (gateway logs' cost), ``usage_estimate``
    (usage records priced at the price in force on their date), the differences to the invoice
    in % (``gateway_diff_pct``, ``usage_diff_pct``), the ``unexplained`` remainder (invoiced -
    usage estimate) and ``unpriced_tokens`` (usage the catalogue could not price: left out
    of the estimate and counted here, never priced at $0). Amounts are exact Decimals.
    """
    led = ledger if isinstance(ledger, Ledger) else Ledger(ledger)
    ai = "x_Model IS NOT NULL"
    inv = led.query(f"SELECT {_KEYS}, BillingCurrency AS currency, sum(BilledCost) AS invoiced FROM ledger "
                    f"WHERE {BILLED} AND {ai} GROUP BY ALL")
    gw = led.query(f"SELECT {_KEYS}, BillingCurrency AS currency, sum(BilledCost) AS gateway_estimate FROM ledger "
                   f"WHERE x_CostAuthority = 'estimate' AND {ai} GROUP BY ALL")
    usage = led.query(
        "SELECT ChargePeriodStart, ProviderName, x_ModelProvider, x_Model, x_TokenType, "
        "sum(x_Tokens) AS x_Tokens, sum(x_Requests) AS x_Requests FROM ledger "
        f"WHERE x_CostAuthority = 'usage' AND {ai} GROUP BY ALL")
    keys = ["provider", "model", "month", "currency"]
    if len(usage):
        from .price import PriceCatalogue, price

        cat = catalogue or PriceCatalogue.load()
        usage["x_Tokens"] = usage["x_Tokens"].map(lambda d: None if d is None else int(d))
        usage["x_Requests"] = usage["x_Requests"].map(lambda d: None if d is None else int(d))
        priced = price(usage, cat)
        priced["provider"] = priced["ProviderName"].str.lower()
        priced["model"] = priced["x_Model"]
        priced["month"] = pd.to_datetime(priced["ChargePeriodStart"], utc=True).dt.strftime("%Y-%m")
        priced["currency"] = "USD"
        priced["unpriced"] = priced["x_PricedCost"].isna()
        est = priced.groupby(keys, dropna=False).agg(
            usage_estimate=("x_PricedCost", lambda s: sum((d for d in s if d is not None and d == d), Decimal(0))),
            unpriced_tokens=("x_Tokens", lambda s, p=priced: int(sum(t for t, u in zip(s, p.loc[s.index, "unpriced"]) if u and t))),
        ).reset_index()
    else:
        est = pd.DataFrame(columns=keys + ["usage_estimate", "unpriced_tokens"])
    out = inv.merge(gw, on=keys, how="outer").merge(est, on=keys, how="outer")
    for c in ("invoiced", "gateway_estimate", "usage_estimate"):
        out[c] = out[c].astype(object).map(lambda d: None if d is None or d is pd.NA or (isinstance(d, float) and d != d) else trim(Decimal(d)))
    out["unpriced_tokens"] = out["unpriced_tokens"].fillna(0).astype("int64")
    out["gateway_diff_pct"] = [_pct(g, i) for g, i in zip(out["gateway_estimate"], out["invoiced"])]
    out["usage_diff_pct"] = [_pct(u, i) for u, i in zip(out["usage_estimate"], out["invoiced"])]
    out["unexplained"] = [None if i is None or u is None else trim(i - u)
                          for i, u in zip(out["invoiced"], out["usage_estimate"])]
    return out.sort_values(keys, na_position="last").reset_index(drop=True)[
        keys + ["invoiced", "gateway_estimate", "gateway_diff_pct", "usage_estimate", "usage_diff_pct",
                "unexplained", "unpriced_tokens"]]
