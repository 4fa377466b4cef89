"""Estimate vs invoice on the sample company's LLM exports: invoices counted once, usage
priced at the price in force reproduces the invoice up to the providers' rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aifinops.ingest import ingest
from aifinops.ledger import Ledger
from aifinops.reconcile import BILLED, estimate_vs_invoice


@pytest.fixture(scope="module")
def llm_ledger(tmp_path_factory):
    from aifinops.samples import anthropic, gateways, openai
    from aifinops.samples.truth import ground_truth

    d = tmp_path_factory.mktemp("rec")
    truth = ground_truth(months=1)
    files = openai.write(truth, d / "s") + anthropic.write(truth, d / "s") + gateways.write(truth, d / "s")
    rep = ingest(files, d / "ledger")
    assert all(f.status == "ok" for f in rep.files), [(f.path, str(f.error)) for f in rep.files]
    llm = truth[truth["provider"].isin(["openai", "anthropic"])]
    return Ledger(d / "ledger"), llm


def test_spend_seen_in_gateway_and_invoice_counts_once(llm_ledger):
    led, truth = llm_ledger
    billed = led.query("SELECT sum(BilledCost) s FROM billed")["s"][0]
    everything = led.query("SELECT sum(BilledCost) s FROM ledger")["s"][0]
    assert billed == sum(truth["cost"], Decimal(0))
    assert everything > billed  # the gateway log carries the same spend again, as an estimate
    assert led.query(f"SELECT count(*) n FROM ledger WHERE {BILLED}")["n"][0] > 0


def test_estimate_vs_invoice_per_provider_model_month(llm_ledger):
    led, truth = llm_ledger
    r = estimate_vs_invoice(led)
    assert set(r["provider"]) == {"openai", "anthropic"}
    want = truth.groupby("model")["cost"].sum()
    got = r.groupby("model")["invoiced"].sum()
    assert {m: Decimal(v) for m, v in want.items()} == {m: Decimal(v) for m, v in got.items()}
    # gateway estimates equal the invoice here (same ground truth); usage priced from the
    # catalogue explains the invoice to within the providers' rounding
    assert all(p == 0 for p in r["gateway_diff_pct"])
    assert all(abs(u) < Decimal("0.01") for u in r["unexplained"])
    assert (r["unpriced_tokens"] == 0).all()
    assert (r["unexplained"] == r["invoiced"] - r["usage_estimate"]).all()
