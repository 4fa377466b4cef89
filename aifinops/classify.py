"""AI and GPU line recognition from data tables, not if-chains.

Each ``aifinops/data/ai_skus/<provider>.csv`` row says: on rows of ``provider`` whose ledger
column ``field`` matches the regular expression ``pattern``, the model is ``model`` (a literal
or ``\\1``-style capture reference), the token type ``token_type``; for GPU instance rows the
GPU model is ``gpu_model`` with ``gpus_per_unit`` GPUs, so GPU-hours = hours x GPUs;
``subcategory`` is the FOCUS ServiceSubcategory (e.g. ``Generative AI``).

The rules become SQL ``CASE`` expressions evaluated in the engine. Values a loader already
set are kept.

Example:
    >>> from aifinops.classify import Rule, rules_sql
    >>> r = Rule("AWS", "x_UsageType", r"-(Claude[0-9A-Za-z.]+)-input-tokens$", r"\\1", "input", "", None, "Generative AI")
    >>> import duckdb
    >>> cols = {"ProviderName": "VARCHAR", "x_UsageType": "VARCHAR", "ConsumedUnit": "VARCHAR", "PricingUnit": "VARCHAR"}
    >>> exprs = rules_sql([r], cols)
    >>> duckdb.sql(f"SELECT {exprs['x_Model']}, {exprs['x_TokenType']} FROM (SELECT 'AWS' AS ProviderName, "
    ...            "'USE1-Claude3.5Sonnet-input-tokens' AS x_UsageType, NULL AS ConsumedUnit, NULL AS PricingUnit)").fetchall()
    [('Claude3.5Sonnet', 'input')]
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources

from .errors import ConfigError
from .schema import TOKEN_TYPES
from .sql import lit, q

__all__ = ["Rule", "load_rules", "rules_sql"]

_FIELDS = ("provider", "field", "pattern", "model", "token_type", "gpu_model", "gpus_per_unit", "subcategory")


@dataclass(frozen=True)
class Rule:
    provider: str
    field: str
    pattern: str
    model: str
    token_type: str
    gpu_model: str
    gpus_per_unit: Decimal | None
    subcategory: str


@cache
def load_rules() -> tuple[Rule, ...]:
    """Every rule of every ``data/ai_skus/*.csv``, files in name order, rows in file order."""
    rules: list[Rule] = []
    folder = resources.files("aifinops").joinpath("data/ai_skus")
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".csv"):
            continue
        text = entry.read_text(encoding="utf-8")
        reader = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
        if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != list(_FIELDS):
            raise ConfigError(f"header must be {','.join(_FIELDS)}", file=entry.name, row=1)
        for i, row in enumerate(reader, start=2):
            rules.append(_rule(row, entry.name, i))
    return tuple(rules)


def _rule(row: dict, file: str, line: int) -> Rule:
    tt = (row["token_type"] or "").strip()
    if tt and tt not in TOKEN_TYPES:
        raise ConfigError(f"unknown token_type {tt!r}", file=file, row=line, column="token_type")
    try:
        re.compile(row["pattern"])
    except re.error as exc:
        raise ConfigError(f"bad pattern: {exc}", file=file, row=line, column="pattern") from exc
    gpus = (row["gpus_per_unit"] or "").strip()
    try:
        gpus_d = Decimal(gpus) if gpus else None
    except InvalidOperation as exc:
        raise ConfigError(f"gpus_per_unit {gpus!r} is not a number", file=file, row=line,
                          column="gpus_per_unit") from exc
    return Rule(row["provider"].strip(), row["field"].strip(), row["pattern"], (row["model"] or "").strip(), tt,
                (row["gpu_model"] or "").strip(), gpus_d, (row["subcategory"] or "").strip())


def _value(rule: Rule, template: str) -> str:
    if not template:
        return "NULL"
    f = q(rule.field)
    if re.fullmatch(r"\\[0-9]", template):
        return f"NULLIF(regexp_extract({f}, {lit(rule.pattern)}, {template[1]}), '')"
    if "\\" in template:
        return f"regexp_replace(regexp_extract({f}, {lit(rule.pattern)}, 0), {lit(rule.pattern)}, {lit(template)})"
    return lit(template)


def rules_sql(rules: tuple[Rule, ...] | list[Rule], columns: dict[str, str]) -> dict[str, str]:
    """SQL for the classified values over a relation with ``columns`` (name -> type):
    keys ``x_Model``, ``x_TokenType``, ``x_GpuModel``, ``__gpus``, ``ServiceSubcategory``.
    Rules whose field the relation lacks are skipped. Per (provider, field) an alternation
    of all patterns is tested first, so rows that match nothing cost one regex."""
    usable = [r for r in rules if r.field in columns]
    out = {k: "NULL" for k in ("x_Model", "x_TokenType", "x_GpuModel", "__gpus", "ServiceSubcategory")}
    if not usable:
        return out
    groups: dict[tuple[str, str], list[Rule]] = {}
    for r in usable:
        groups.setdefault((r.provider.lower(), r.field), []).append(r)
    hours = ("(LOWER(COALESCE(\"ConsumedUnit\", \"PricingUnit\", '')) LIKE '%hour%')"
             if "ConsumedUnit" in columns else "TRUE")

    def case(pick) -> str:
        parts = []
        for (prov, fld), rs in groups.items():
            whens = []
            for r in rs:
                v = pick(r)
                if v == "NULL":
                    continue
                whens.append(f"WHEN regexp_matches({q(fld)}, {lit(r.pattern)}) THEN {v}")
            if not whens:
                continue
            anyp = "|".join(f"(?:{r.pattern})" for r in rs)
            parts.append(
                f"WHEN LOWER(\"ProviderName\") = {lit(prov)} AND regexp_matches({q(fld)}, {lit(anyp)}) "
                f"THEN (CASE {' '.join(whens)} END)"
            )
        return f"(CASE {' '.join(parts)} END)" if parts else "NULL"

    out["x_Model"] = case(lambda r: _value(r, r.model))
    out["x_TokenType"] = case(lambda r: lit(r.token_type) if r.token_type else "NULL")
    out["x_GpuModel"] = case(lambda r: lit(r.gpu_model) if r.gpu_model else "NULL")
    out["__gpus"] = case(lambda r: f"CASE WHEN {hours} THEN CAST({lit(str(r.gpus_per_unit))} AS DECIMAL(9,3)) END"
                         if r.gpus_per_unit is not None else "NULL")
    out["ServiceSubcategory"] = case(lambda r: lit(r.subcategory) if r.subcategory else "NULL")
    return out
