"""A small hand-computed ledger for the unit-economics, allocation and FX tests.

Two months of one fictional company as a FOCUS 1.2 CSV with x_ columns (kept as they are
by the FOCUS loader). Every figure the tests assert is computed by hand from these rows:

2025-01 (USD unless noted)
  search     gpt-4o input   1,000,000 tok  100 req   2.50   feature sem  customer c1  CC-110
  search     gpt-4o output    200,000 tok            2.00   feature sem  customer c1
  assistant  gpt-4o input   2,000,000 tok  300 req   5.00   feature chat customer c2  CC-120
  assistant  gpt-4o output    500,000 tok            5.00   feature chat customer c2
  platform   compute                                30.00                             CC-100
  (untagged) support                                10.00
  data-sci   H100 8 GPU-h                           40.00                             CC-130
  assistant  EUR row                             EUR 9.00   feature chat              CC-120
2025-02
  search     gpt-4o input   2,000,000 tok  200 req   5.00
  search     gpt-4o output    400,000 tok            4.00
  assistant  mini   input   3,000,000 tok  400 req   0.45   (model shift, price 0.15/M)
  assistant  mini   output    600,000 tok            0.36   (0.60/M)
  platform   compute                                30.00
  (untagged) support                                 7.00
  data-sci   H100 10 GPU-h                          50.00
"""

from __future__ import annotations

from pathlib import Path

HEADER = ("BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,"
          "ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeClass,ChargeDescription,BilledCost,EffectiveCost,"
          "ListCost,ContractedCost,ProviderName,PublisherName,InvoiceIssuerName,ServiceName,ServiceCategory,"
          "PricingQuantity,PricingUnit,ConsumedQuantity,ConsumedUnit,x_Team,x_CostCenter,x_Feature,x_Customer,"
          "x_Model,x_TokenType,x_Tokens,x_Requests,x_GpuHours,x_GpuModel")

# month, currency, cost, service, category, team, cc, feature, customer, model, ttype, tokens, requests, gpuh
ROWS = [
    ("2025-01", "USD", "2.50", "LLM", "AI and Machine Learning", "search", "CC-110", "sem", "c1", "gpt-4o", "input", 1000000, 100, None),
    ("2025-01", "USD", "2.00", "LLM", "AI and Machine Learning", "search", "CC-110", "sem", "c1", "gpt-4o", "output", 200000, None, None),
    ("2025-01", "USD", "5.00", "LLM", "AI and Machine Learning", "assistant", "CC-120", "chat", "c2", "gpt-4o", "input", 2000000, 300, None),
    ("2025-01", "USD", "5.00", "LLM", "AI and Machine Learning", "assistant", "CC-120", "chat", "c2", "gpt-4o", "output", 500000, None, None),
    ("2025-01", "USD", "30.00", "Compute", "Compute", "platform", "CC-100", None, None, None, None, None, None, None),
    ("2025-01", "USD", "10.00", "Support", "Other", None, None, None, None, None, None, None, None, None),
    ("2025-01", "USD", "40.00", "GPU", "Compute", "data-science", "CC-130", None, None, None, None, None, None, 8),
    ("2025-01", "EUR", "9.00", "LLM", "AI and Machine Learning", "assistant", "CC-120", "chat", None, None, None, None, None, None),
    ("2025-02", "USD", "5.00", "LLM", "AI and Machine Learning", "search", "CC-110", "sem", "c1", "gpt-4o", "input", 2000000, 200, None),
    ("2025-02", "USD", "4.00", "LLM", "AI and Machine Learning", "search", "CC-110", "sem", "c1", "gpt-4o", "output", 400000, None, None),
    ("2025-02", "USD", "0.45", "LLM", "AI and Machine Learning", "assistant", "CC-120", "chat", "c2", "gpt-4.1-mini", "input", 3000000, 400, None),
    ("2025-02", "USD", "0.36", "LLM", "AI and Machine Learning", "assistant", "CC-120", "chat", "c2", "gpt-4.1-mini", "output", 600000, None, None),
    ("2025-02", "USD", "30.00", "Compute", "Compute", "platform", "CC-100", None, None, None, None, None, None, None),
    ("2025-02", "USD", "7.00", "Support", "Other", None, None, None, None, None, None, None, None, None),
    ("2025-02", "USD", "50.00", "GPU", "Compute", "data-science", "CC-130", None, None, None, None, None, None, 10),
]

_END = {"2025-01": "2025-02", "2025-02": "2025-03"}


def _cell(v) -> str:
    return "" if v is None else str(v)


def write(folder: Path) -> list[Path]:
    """Write the invoice CSV and the gateway CSV; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [HEADER]
    for (m, cur, cost, svc, cat, team, cc, feat, cust, model, tt, tok, req, gpuh) in ROWS:
        start, end = f"{m}-01T00:00:00Z", f"{_END[m]}-01T00:00:00Z"
        day = f"{m}-10T00:00:00Z"
        qty = _cell(tok if tok is not None else gpuh)
        unit = "Tokens" if tok is not None else ("Hours" if gpuh is not None else "")
        lines.append(",".join(_cell(v) for v in (
            "acct-1", "Northwind", cur, start, end, day, f"{m}-11T00:00:00Z", "Usage", "", f"{svc} usage", cost,
            cost, cost, cost, "Acme Cloud", "Acme Cloud", "Acme Cloud", svc, cat, qty, unit, qty, unit, team, cc,
            feat, cust, model, tt, tok, req, gpuh, "H100" if gpuh else None)))
    inv = folder / "invoice-focus.csv"
    inv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [inv]


def build(tmp: Path):
    """Ingest the invoice into a ledger under ``tmp``; return the Ledger."""
    from aifinops.ingest import ingest
    from aifinops.ledger import Ledger

    files = write(tmp / "src")
    rep = ingest(files, tmp / "ledger")
    assert all(f.status == "ok" for f in rep.files), [(f.path, str(f.error)) for f in rep.files]
    return Ledger(tmp / "ledger")
