"""Tests for aifinops.units: the unit-of-measure parser."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from aifinops.units import UnitBlock, parse_unit


@pytest.mark.parametrize(
    ("text", "block", "unit"),
    [
        ("1K", 1000, "Units"),
        ("10K", 10000, "Units"),
        ("1M", 1000000, "Units"),
        ("1B", 1000000000, "Units"),
        ("1K Tokens", 1000, "Tokens"),
        ("1M Tokens", 1000000, "Tokens"),
        ("1 Hour", 1, "Hours"),
        ("100 Hours", 100, "Hours"),
        ("1/Month", 1, "Units/Month"),
        ("10 GB/Month", 10, "GB/Month"),
        ("1 GB/Month", 1, "GB/Month"),
        ("10K/Hour", 10000, "Units/Hour"),
        ("1 /Day", 1, "Units/Day"),
        ("  1  Hour ", 1, "Hours"),
        ("1 1 Hour", 1, "Hours"),
        ("1 GB Hour", 1, "GB Hours"),
        ("128 MB", 128, "MB"),
        ("1 Daily User", 1, "Users/Day"),
        ("1 Annual Domain", 1, "Domains/Year"),
        ("100 Core Hrs", 100, "Hours"),
        ("10 DBU Hours", 10, "DBU Hours"),
        ("Minute(s)", 1, "Minutes"),
        ("1 Gb", 1, "GB"),
        ("1 GiB", 1, "GiB"),
        ("1 GB/hora", 1, "GB/Hour"),
        ("1/小时", 1, "Units/Hour"),
        ("1 Count", 1, "Count"),
        ("10K Transactions", 10000, "Transactions"),
        ("Per Request", 1, "Requests"),
        ("1 Widgets", 1, "Widgets"),
    ],
)
def test_parse_unit(text, block, unit):
    got = parse_unit(text)
    assert got == UnitBlock(Decimal(block), unit)
    assert isinstance(got.block_size, Decimal)


def test_block_times_quantity_gives_base_units():
    # 5 blocks of 1K tokens are 5000 tokens, exactly
    assert Decimal("5") * parse_unit("1K").block_size == Decimal("5000")
    assert Decimal("0.0004") * parse_unit("10K").block_size == Decimal("4.0000")


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_unit_is_an_error(text):
    with pytest.raises(ValueError):
        parse_unit(text)


def test_agrees_with_every_row_of_microsoft_pricing_units(corpus):
    """The parser stands alone; Microsoft's published table is the oracle."""
    path = corpus / "reference" / "finops-toolkit__PricingUnits.csv"
    if not path.exists():
        pytest.skip(f"corpus file absent: {path}")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 300
    wrong = []
    for r in rows:
        got = parse_unit(r["UnitOfMeasure"])
        want = UnitBlock(Decimal(r["PricingBlockSize"]), r["DistinctUnits"])
        if got != want:
            wrong.append((r["UnitOfMeasure"], got, want))
    assert wrong == []
