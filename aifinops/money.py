"""Exact money helpers: Decimal sums, trimming engine scale, display rounding.

Amounts are ``decimal.Decimal`` and always travel with a currency; rounding happens only for display.

Example:
    >>> from decimal import Decimal
    >>> from aifinops.money import trim, fmt
    >>> trim(Decimal("3.305000000000000000"))
    Decimal('3.305')
    >>> trim(Decimal("100.000"))
    Decimal('100')
    >>> fmt(Decimal("1234.5"), "EUR")
    'EUR 1,234.50'
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal

__all__ = ["trim", "dsum", "fmt", "to_decimal"]


def trim(d: Decimal | None) -> Decimal | None:
    """Drop trailing zeros of the engine's fixed scale, never using exponent notation."""
    if d is None:
        return None
    d = Decimal(d)
    if d == d.to_integral_value():
        return d.quantize(Decimal(1))
    return Decimal(format(d.normalize(), "f"))


def to_decimal(x) -> Decimal | None:
    if x is None:
        return None
    if isinstance(x, Decimal):
        return x
    if isinstance(x, float):
        if x != x:  # NaN
            return None
        return Decimal(repr(x))
    return Decimal(str(x))


def dsum(values: Iterable) -> Decimal:
    """Exact sum; None/NaN skipped; floats converted through their shortest repr."""
    total = Decimal(0)
    for v in values:
        d = to_decimal(v)
        if d is not None:
            total += d
    return total


def fmt(amount: Decimal | None, currency: str, places: int = 2) -> str:
    """Display form: ``USD 1,234.57`` (half-even rounding, display only)."""
    if amount is None:
        return f"{currency} n/a"
    q = Decimal(1).scaleb(-places)
    return f"{currency} {Decimal(amount).quantize(q, rounding=ROUND_HALF_EVEN):,}"
