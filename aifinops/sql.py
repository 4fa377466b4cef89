"""Portable SQL building blocks for the per-provider mappings.

Mappings are plain SQL expressions over the source's own column names, written with
these helpers so that they stay in the small dialect subset that DuckDB runs today and
that sqlglot transpiles to Spark SQL (``TRY_CAST``, ``COALESCE``, ``CASE``, ``NULLIF``,
``TRIM``, ``REGEXP_EXTRACT``, ``STRPTIME``, ``LIKE``, ``SUBSTR``). No provider column name appears
outside its loader.

Example:
    >>> from aifinops.sql import Source, q, lit
    >>> s = Source({"cost": "VARCHAR", "day": "VARCHAR"})
    >>> import duckdb
    >>> duckdb.sql(f"SELECT {s.num('cost')} FROM (SELECT '$10,000.50' AS cost)").fetchall()
    [(Decimal('10000.500000000000000000'),)]
    >>> q('lineItem/UnblendedCost')
    '"lineItem/UnblendedCost"'
    >>> lit("it's")
    "'it''s'"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .schema import DECIMAL

__all__ = ["q", "lit", "Source", "coalesce", "case_map", "DATE_FORMATS"]

#: strptime formats tried after ISO 8601 (which TRY_CAST handles, with or without T/Z)
DATE_FORMATS: tuple[str, ...] = (
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%Y-%m-%dT%H:%MZ",
    "%Y-%m-%dT%H:%M%z",
    "%Y/%m/%d",
    "%d.%m.%Y",
)


_FORMATTED = r"^[-+]?[$€£¥]?\s?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$|^[-+]?[$€£¥]\s?[0-9]+(\.[0-9]+)?$"


#: (decimals, magnitude bound) of the fixed-scale fast paths for DOUBLE amounts, see _fixed_scale
_FIXED_SCALES = ((10, "100000"), (14, "10"))


def _fixed_scale(x: str) -> list[str]:
    """``WHEN`` branches giving a DOUBLE's shortest round-trip decimal without text, for the
    common amounts of at most 10 decimals (below 1e5) or 14 decimals (below 10).

    ``CAST(x AS DECIMAL(38, s))`` rounds the binary value to ``s`` decimals, a few times
    cheaper than formatting the shortest text and parsing it back. The result is taken only
    when it converts back to exactly ``x``: below the magnitude bound its unscaled integer is
    under 2**53, so that check is exact, and at most one ``s``-decimal number lies within
    half a unit in the last place of ``x``, so a decimal that converts back is the shortest
    one. Every other value (more decimals, larger, NaN) takes the text path.
    """
    out = []
    for scale, bound in _FIXED_SCALES:
        d = f"CAST({x} AS DECIMAL(38,{scale}))"
        out.append(f"WHEN abs({x}) < {bound} AND CAST({d} AS DOUBLE) = {x} THEN CAST({d} AS {DECIMAL})")
    return out


def q(name: str) -> str:
    """Quote an identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: object) -> str:
    """A SQL literal for a Python value (None, bool, int, float, str)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def coalesce(*exprs: str) -> str:
    exprs = tuple(e for e in exprs if e)
    return exprs[0] if len(exprs) == 1 else f"COALESCE({', '.join(exprs)})"


def case_map(expr: str, mapping: Mapping[str, str], default: str | None = "NULL") -> str:
    """``CASE expr WHEN k THEN v ... ELSE default END`` with literal keys and values.

    >>> case_map('"t"', {"Usage": "Usage", "Tax": "Tax"}, default="'Adjustment'")
    'CASE "t" WHEN \\'Usage\\' THEN \\'Usage\\' WHEN \\'Tax\\' THEN \\'Tax\\' ELSE \\'Adjustment\\' END'
    """
    whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in mapping.items())
    return f"CASE {expr} {whens} ELSE {default} END"


class Source:
    """The columns of one source relation with their engine types, and typed readers.

    A loader's ``plan`` receives one, so its expressions read text columns (CSV) and
    typed columns (Parquet) alike.
    """

    def __init__(self, types: Mapping[str, str]) -> None:
        self.types = dict(types)

    @property
    def columns(self) -> list[str]:
        return list(self.types)

    def has(self, *names: str) -> bool:
        return all(n in self.types for n in names)

    def first(self, *names: str) -> str | None:
        """The first of ``names`` that the source has."""
        return next((n for n in names if n in self.types), None)

    def is_text(self, name: str) -> bool:
        return self.types.get(name, "VARCHAR").upper().startswith("VARCHAR")

    # -- typed readers --------------------------------------------------------
    def text(self, name: str | None) -> str:
        """Trimmed text, empty -> NULL; NULL if the source lacks the column."""
        if name is None or name not in self.types:
            return "NULL"
        if self.is_text(name):
            return f"NULLIF(TRIM({q(name)}), '')"
        return f"CAST({q(name)} AS VARCHAR)"

    def num(self, name: str | None, decimal: str = DECIMAL) -> str:
        """Exact decimal; NULL if empty or absent (bad values are caught by a check).
        ``decimal``: a type with fewer decimals, to which the value is rounded (text is
        parsed to it directly: the same value as rounding the DECIMAL(38,18), without a
        128-bit division per value)."""
        if name is None or name not in self.types:
            return "NULL"
        if self.is_text(name):
            t = f"NULLIF(TRIM({q(name)}), '')"
            # plain numbers and scientific notation; then spreadsheet-formatted amounts such
            # as "$10,000.00" (thousands commas only in groups of three, so "1,5" stays bad)
            return (f"COALESCE(TRY_CAST({t} AS {decimal}), CASE WHEN regexp_matches({t}, {lit(_FORMATTED)}) "
                    f"THEN TRY_CAST(regexp_replace({t}, '[$€£¥, ]', '', 'g') AS {decimal}) END)")
        if decimal != DECIMAL:
            return f"CAST({self.num(name)} AS {decimal})"
        kind = self.types[name].upper()
        if kind in ("DOUBLE", "FLOAT", "REAL"):
            # a binary float is read as the shortest decimal that round-trips (what the
            # exporter wrote), not its binary expansion: 0.07 stays 0.07, on every engine;
            # a DOUBLE tries the cheaper fixed-scale casts first
            shortest = f"TRY_CAST(CAST({q(name)} AS VARCHAR) AS {DECIMAL})"
            if kind != "DOUBLE":
                return shortest
            return f"(CASE {' '.join(_fixed_scale(q(name)))} ELSE {shortest} END)"
        return f"TRY_CAST({q(name)} AS {DECIMAL})"

    def ts(self, name: str | None, formats: Iterable[str] = DATE_FORMATS) -> str:
        """UTC timestamp from ISO 8601 (with or without ``T``/``Z``, any offset), US dates
        (``MM/DD/YYYY``, ``M/D/YYYY``, ``M/D/YY``), ``DD.MM.YYYY`` or one of ``formats``
        (``YYYY/MM/DD`` ...). An impossible date (``02/30/2025``) is NULL, never shifted."""
        if name is None or name not in self.types:
            return "NULL"
        if not self.is_text(name):
            return f"TRY_CAST({q(name)} AS TIMESTAMPTZ)"
        t = f"NULLIF(TRIM({q(name)}), '')"
        formats = list(formats)
        # one TRY_STRPTIME per format, first success wins: DuckDB's list form shifts some
        # impossible dates (02/30/2025 read as 2025-03-02 once the list holds a %z format)
        fmts = "COALESCE(" + ", ".join(f"CAST(TRY_STRPTIME({t}, {lit(f)}) AS TIMESTAMPTZ)" for f in formats) + ")"
        # the commonest text dates, MM/DD/YYYY (Azure), are read first, from the raw value
        # (ten ASCII characters starting and ending with a digit: nothing to trim) and
        # without a regex: the same result as the US date branch below, where formats[0] is
        # tried first
        x = q(name)
        us = (f"WHEN strlen({x}) = 10 AND {x} LIKE '__/__/____' AND substr({x}, 1, 1) BETWEEN '0' AND '9' "
              f"AND substr({x}, 10, 1) BETWEEN '0' AND '9' THEN CAST(TRY_STRPTIME({x}, '%m/%d/%Y') AS TIMESTAMPTZ) "
              if formats[:1] == ["%m/%d/%Y"] else "")
        return (
            f"CASE {us}WHEN regexp_matches({t}, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
            f"THEN COALESCE(TRY_CAST({t} AS TIMESTAMPTZ), {fmts}) "
            f"WHEN regexp_matches({t}, '^[0-9]{{1,2}}/[0-9]{{1,2}}/[0-9]{{2}}$') "
            f"THEN CAST(TRY_STRPTIME({t}, '%m/%d/%y') AS TIMESTAMPTZ) "
            f"WHEN regexp_matches({t}, '^[0-9]{{1,2}}/[0-9]{{1,2}}/[0-9]{{4}}') "
            f"THEN {fmts} "
            f"WHEN regexp_matches({t}, '^[0-9]{{1,2}}\\.[0-9]{{1,2}}\\.[0-9]{{4}}$') "
            f"THEN CAST(TRY_STRPTIME({t}, '%d.%m.%Y') AS TIMESTAMPTZ) "
            f"WHEN regexp_matches({t}, '^[0-9]{{4}}/') THEN {fmts} END"
        )

    # -- checks: SQL that is TRUE when a row's value is bad ---------------------
    def bad_num(self, name: str) -> str:
        if name not in self.types or not self.is_text(name):
            return "FALSE"
        return f"(NULLIF(TRIM({q(name)}), '') IS NOT NULL AND {self.num(name)} IS NULL)"

    def bad_ts(self, name: str, formats: Iterable[str] = DATE_FORMATS) -> str:
        if name not in self.types or not self.is_text(name):
            return "FALSE"
        return f"(NULLIF(TRIM({q(name)}), '') IS NOT NULL AND {self.ts(name, formats)} IS NULL)"
