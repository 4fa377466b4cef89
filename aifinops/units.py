"""Unit-of-measure parser: a provider's block unit (Azure ``UnitOfMeasure`` such as ``1K``,
``10K``, ``1 Hour``, ``100 Hours``, ``1/Month``, ``10 GB/Month``) split into the block size
and the distinct unit in FOCUS unit format, so quantities can be stated in base units
(5 x ``1K`` tokens -> 5000 Tokens).

The rules stand alone (no lookup file): a leading count with an optional ``K``/``M``/``B``
multiplier, then a unit phrase that is normalized to FOCUS plural nouns (``Hour`` ->
``Hours``, ``GB Hour`` -> ``GB Hours``), with ``Daily``/``Hourly``/``Annual`` qualifiers
turned into rates (``Daily User`` -> ``Users/Day``), marketing qualifiers dropped
(``Core Hours`` -> ``Hours``), a few Spanish and Chinese words translated, and unknown
nouns kept as written. They agree with every row of Microsoft's published pricing-units
table (``PricingBlockSize`` and ``DistinctUnits``).

Example:
    >>> from aifinops.units import parse_unit
    >>> parse_unit("1K")
    UnitBlock(block_size=Decimal('1000'), unit='Units')
    >>> parse_unit("100 Hours")
    UnitBlock(block_size=Decimal('100'), unit='Hours')
    >>> parse_unit("10 GB/Month")
    UnitBlock(block_size=Decimal('10'), unit='GB/Month')
    >>> parse_unit("1K Tokens").block_size * 5
    Decimal('5000')
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

__all__ = ["UnitBlock", "parse_unit", "MULTIPLIERS"]

#: suffix multipliers glued to the leading count (``10K``, ``1M``, ``1B``)
MULTIPLIERS: dict[str, int] = {"K": 1_000, "M": 1_000_000, "B": 1_000_000_000}


class UnitBlock(NamedTuple):
    """A parsed unit of measure.

    Attributes:
        block_size: how many base units one quantity step of the source stands for.
        unit: the distinct (base) unit in FOCUS unit format, e.g. ``Hours``, ``GB/Month``.
    """

    block_size: Decimal
    unit: str


# whole strings whose meaning cannot be derived from their parts (as published by Microsoft)
_SPECIAL: dict[str, tuple[int, str]] = {
    "10000s": (1, "Transactions"),
}

# unit phrases (lower case) with an irregular meaning
_PHRASES: dict[str, str] = {
    "": "Units",
    "1,000s": "Transactions in Thousands",
    "api calls": "Requests",
    "callingminutes": "Minutes",
    "concurrent dvc": "Configurations",
    "key use": "Keys",
    "maus": "Users/Month",
    "por mes": "Months",
    "print job": "Requests",
    "text": "Messages",
    "unassigned": "Units",
    "vm": "Virtual Machines",
}

# count nouns (any case, singular or plural) -> FOCUS plural
_NOUNS: dict[str, str] = {}
for _plural, _forms in {
    "Hours": ("hour", "hours", "hr", "hrs", "hora", "horas", "小时"),
    "Days": ("day", "days"),
    "Minutes": ("minute", "minutes", "min", "mins"),
    "Seconds": ("second", "seconds"),
    "Months": ("month", "months"),
    "Years": ("year", "years"),
    "Weeks": ("week", "weeks"),
}.items():
    for _f in _forms:
        _NOUNS[_f] = _plural
for _singular in ("Unit", "User", "Connection", "Certificate", "Device", "Key", "Resource", "Subscription",
                  "Website", "Plan", "Pipeline", "Node", "Domain", "App", "Pack", "Execution", "Transaction",
                  "Request", "Call", "Token", "Character", "Image", "Message", "Operation", "Zone", "Router",
                  "Endpoint", "Run", "Meter", "Machine", "Instance", "Page", "Document", "Record", "Session"):
    _NOUNS[_singular.lower()] = _singular + "s"
    _NOUNS[_singular.lower() + "s"] = _singular + "s"

# data sizes, decimal and binary kept distinct; Azure's "Gb" means gigabytes
_SIZES: dict[str, str] = {s.lower(): s for s in ("KB", "MB", "GB", "TB", "PB", "EB", "KiB", "MiB", "GiB",
                                                 "TiB", "PiB", "EiB")}
_SIZES["gb"] = "GB"

# qualifiers dropped in front of a count noun ("Core Hours" -> "Hours")
_DROP = {"core", "instance", "content", "relay", "virtual user", "messaging", "database", "operation", "named",
         "border", "hosted", "service", "activity", "reserved"}

# time words after "/" in other languages
_PERIODS = {"hora": "Hour", "horas": "Hour", "小时": "Hour", "时": "Hour", "月": "Month", "mes": "Month",
            "día": "Day", "dia": "Day", "año": "Year"}

_RATES = {"daily": "Day", "hourly": "Hour", "annual": "Year", "monthly": "Month", "yearly": "Year"}

_LEAD = re.compile(r"^(\d+(?:\.\d+)?)([KMB])?(?=[\s/]|$)\s*(.*)$")


@lru_cache(maxsize=4096)
def parse_unit(text: str) -> UnitBlock:
    """Split a unit of measure into block size and distinct unit.

    Args:
        text: the provider's unit of measure, e.g. ``1K``, ``1 Hour``, ``100 Hours``,
            ``1/Month``, ``10 GB/Month``, ``10K Transactions``.

    Returns:
        A :class:`UnitBlock`; a quantity ``q`` in the source's blocks is ``q * block_size``
        in ``unit``.

    Raises:
        ValueError: ``text`` is empty.

    Example:
        >>> parse_unit("1/Month")
        UnitBlock(block_size=Decimal('1'), unit='Units/Month')
        >>> parse_unit("1 Daily User")
        UnitBlock(block_size=Decimal('1'), unit='Users/Day')
        >>> parse_unit("100 Core Hrs").unit
        'Hours'
    """
    if text is None or not str(text).strip():
        raise ValueError("empty unit of measure")
    s = " ".join(str(text).split())
    if s.lower() in _SPECIAL:
        block, unit = _SPECIAL[s.lower()]
        return UnitBlock(Decimal(block), unit)
    block = Decimal(1)
    # a leading count, possibly repeated ("1 1 Hour")
    while True:
        m = _LEAD.match(s)
        if not m:
            break
        block *= Decimal(m.group(1)) * MULTIPLIERS.get(m.group(2) or "", 1)
        s = m.group(3).strip()
    return UnitBlock(block, _phrase(s))


def _phrase(s: str) -> str:
    if s.lower() in _PHRASES:
        return _PHRASES[s.lower()]
    if "/" in s:
        left, _, right = s.partition("/")
        left, right = left.strip(), right.strip()
        return f"{_noun(left) if left else 'Units'}/{_period(right)}"
    return _noun(s)


def _period(p: str) -> str:
    return _PERIODS.get(p.lower(), p)


def _noun(phrase: str) -> str:
    phrase = phrase.strip()
    low = phrase.lower()
    if low in _PHRASES:
        return _PHRASES[low]
    m = re.match(r"^(daily|hourly|annual|monthly|yearly)\s+(.+)$", phrase, re.IGNORECASE)
    if m:
        return f"{_noun(m.group(2))}/{_RATES[m.group(1).lower()]}"
    m = re.match(r"^per\s+(.+)$", phrase, re.IGNORECASE)
    if m:
        return _noun(m.group(1).split()[-1])
    phrase = re.sub(r"\s*\([^)]*\)\s*$", "", phrase)  # "Minute(s)", "Database Units (DU)"
    words = phrase.split()
    if not words:
        return "Units"
    last = words[-1].lower()
    if len(words) == 1 and last in _SIZES:
        return _SIZES[last]
    canon = _NOUNS.get(last)
    if canon is None:
        return phrase  # unknown noun: kept as written
    prefix = words[:-1]
    if not prefix:
        return canon
    if all(w.lower() in _SIZES for w in prefix):
        return " ".join(_SIZES[w.lower()] for w in prefix) + " " + canon
    if " ".join(prefix).lower() in _DROP:
        return canon
    return " ".join(prefix) + " " + canon
