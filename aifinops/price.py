"""Effective-dated model price catalogue and the one pricing function.

The catalogue is a tidy table with one row per (provider, model, token type, price period,
long-context tier)::

    provider, model, token_type, effective_from, effective_to, tier_min_prompt_tokens,
    tier_max_prompt_tokens, unit_price_per_token, price_per_request, currency, source, derivation

Its base data is the ``genai-prices`` package's bundled snapshot (read offline; its network
update is never called). ``effective_from`` of a price with no start date is 1970-01-01
(``EPOCH``); ``effective_to`` is exclusive, NULL while the price is current.

Token types (``schema.TOKEN_TYPES``) and how a usage row is billed:

* ``input`` is **uncached** input. Loaders record cached prompt tokens as ``cached_input`` and
  cache writes as ``cache_write_5m`` / ``cache_write_1h`` (``cache_write`` = 5-minute write),
  never inside ``input``: OpenAI's prompt tokens include cached tokens, so the OpenAI loader
  subtracts them; Anthropic reports them apart. Every row is then priced at its own rate, so
  nothing is charged twice.
* ``reasoning`` tokens are billed at the model's reasoning price when the catalogue has one,
  otherwise at its output price (derivation ``reasoning billed as output``); loaders record
  ``output`` without the reasoning tokens.
* ``batch_input`` / ``batch_output``: the provider's batch price from genai-prices where it
  has one; before that (or without it), the standard price less the documented discount in
  :data:`BATCH_DISCOUNT` (50 % for the providers listed).
* Long-context tiers: a tier applies to **all** tokens of a request whose prompt is larger than
  ``tier_min_prompt_tokens`` (the cliff model of genai-prices, LiteLLM and the providers). The
  prompt size comes from the optional usage column ``x_PromptTokens``; without it, the base tier.
* ``web_search`` is priced per search (``unit_price_per_token`` is the price per unit of the
  token type). ``request`` rows and ``input`` rows' ``x_Requests`` pay ``price_per_request``:
  a request fee is charged once per request, on the input row (or on a ``request`` row when
  the usage records requests apart; its input rows then carry no ``x_Requests``).

Overrides (YAML, see ``templates/prices.yaml``) add negotiated discounts from a date, private
deployments and self-hosted models with their own prices, deployment aliases, and provisioned
throughput commitments (a fixed monthly amount, reported by
:meth:`PriceCatalogue.commitment_schedule`, never spread over tokens).

Example:
    >>> import pandas as pd
    >>> from aifinops.price import PriceCatalogue, price
    >>> cat = PriceCatalogue.load()
    >>> usage = pd.DataFrame({
    ...     "ChargePeriodStart": pd.to_datetime(["2025-07-01", "2025-07-01"], utc=True),
    ...     "x_ModelProvider": ["openai", "openai"],
    ...     "x_Model": ["gpt-4o-2024-08-06", "gpt-4o"],
    ...     "x_TokenType": ["input", "cached_input"],
    ...     "x_Tokens": [1_000_000, 1_000_000]})
    >>> out = price(usage, cat)
    >>> [str(c) for c in out["x_PricedCost"]]
    ['2.500000000000000000', '1.250000000000000000']
    >>> str(out["x_PricedCost"].sum())
    '3.750000000000000000'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from . import schema
from .engine import connect
from .errors import ConfigError, LedgerError
from .money import trim

__all__ = [
    "PriceCatalogue",
    "price",
    "reprice_ledger",
    "CATALOGUE_COLUMNS",
    "PRICED_COLUMNS",
    "BATCH_DISCOUNT",
    "PRICE_KEY_TOKEN_TYPES",
    "PROVIDER_ALIASES",
    "EPOCH",
]

EPOCH = dt.date(1970, 1, 1)

#: catalogue table columns, in order
CATALOGUE_COLUMNS: tuple[str, ...] = (
    "provider", "model", "token_type", "effective_from", "effective_to",
    "tier_min_prompt_tokens", "tier_max_prompt_tokens", "unit_price_per_token",
    "price_per_request", "currency", "source", "derivation",
)

#: columns :func:`price` adds to the usage
PRICED_COLUMNS: tuple[str, ...] = (
    "x_PricedCost", "x_UnitPrice", "x_PriceCurrency", "x_PriceEffectiveFrom", "x_PriceSource",
    "x_PriceReason",
)

#: genai-prices price key -> (token types, units the price is quoted per)
PRICE_KEY_TOKEN_TYPES: dict[str, tuple[tuple[str, ...], int]] = {
    "input_mtok": (("input",), 10**6),
    "output_mtok": (("output",), 10**6),
    "cache_read_mtok": (("cached_input",), 10**6),
    "cache_write_mtok": (("cache_write_5m", "cache_write"), 10**6),
    "cache_write_1h_mtok": (("cache_write_1h",), 10**6),
    "output_reasoning_mtok": (("reasoning",), 10**6),
    "input_audio_mtok": (("audio_input",), 10**6),
    "output_audio_mtok": (("audio_output",), 10**6),
    "input_image_mtok": (("image_input",), 10**6),
    "output_image_mtok": (("image_output",), 10**6),
    "web_searches_kcount": (("web_search",), 10**3),
}

#: Batch discount where the provider's batch API bills a fixed share of the standard price
#: (used when genai-prices has no batch variant in force for the date). Sources: OpenAI Batch
#: API ("50% discount", platform.openai.com/docs/guides/batch), Anthropic Message Batches
#: ("50% of standard prices", docs.anthropic.com batch-processing#pricing), Google Gemini
#: Batch Mode ("50% of the standard cost", ai.google.dev/gemini-api/docs/batch-mode),
#: Azure OpenAI Global Batch ("50% less cost than global standard"), Amazon Bedrock batch
#: inference ("50% lower price than on-demand" for supported models), Mistral Batch API
#: ("50% discount"), Together AI Batch API ("50% introductory discount").
BATCH_DISCOUNT: dict[str, Decimal] = {
    "openai": Decimal("0.5"), "anthropic": Decimal("0.5"), "google": Decimal("0.5"),
    "azure": Decimal("0.5"), "aws": Decimal("0.5"), "mistral": Decimal("0.5"),
    "together": Decimal("0.5"),
}

#: FOCUS ProviderName values that genai-prices' own provider matching does not know
PROVIDER_ALIASES: dict[str, str] = {
    "microsoft": "azure", "microsoft azure": "azure", "azure openai": "azure",
    "amazon": "aws", "amazon bedrock": "aws", "gcp": "google", "google cloud platform": "google",
    "vertex": "google", "xai": "x-ai",
}

_SCALE = Decimal(1).scaleb(-18)
_DEC = pa.decimal128(38, 18)
_OVERRIDE_TOKEN_TYPES = frozenset(schema.TOKEN_TYPES)


# -- internal price model ------------------------------------------------------------------
@dataclass(frozen=True)
class _Price:
    """Price of one token type in one period: tiers ``((min_prompt_tokens, per_unit), ...)``."""

    tiers: tuple[tuple[int, Decimal], ...]
    per_request: Decimal | None
    currency: str
    source: str
    derivation: str

    def scaled(self, factor: Decimal, derivation: str, source: str | None = None) -> _Price:
        tiers = tuple((m, _q(p * factor)) for m, p in self.tiers)
        fee = None if self.per_request is None else _q(self.per_request * factor)
        return replace(self, tiers=tiers, per_request=fee, derivation=derivation,
                       source=source or self.source)


@dataclass
class _Layer:
    """Prices that apply from ``start`` (until ``end``, exclusive).

    ``kind``: ``base`` replaces every price (a genai-prices price period or a private model
    version), ``set`` replaces the listed token types, ``batch_table`` derives batch prices
    from the base, ``discount`` multiplies the listed token types (all when empty).
    """

    start: dt.date
    end: dt.date | None
    kind: str
    prices: dict[str, _Price] = field(default_factory=dict)
    factor: Decimal = Decimal(1)
    token_types: frozenset[str] = frozenset()
    source: str = ""
    note: str = ""


def _q(d: Decimal) -> Decimal:
    """Round to the ledger scale (18 places) only when a value has more."""
    return d if d.as_tuple().exponent >= -18 else d.quantize(_SCALE)


def _per_unit(value: Decimal, per: int) -> Decimal:
    return _q(Decimal(value).scaleb(-len(str(per)) + 1))


def _genai_tiers(value, per: int) -> tuple[tuple[int, Decimal], ...]:
    from genai_prices.types import TieredPrices

    if isinstance(value, TieredPrices):
        return ((0, _per_unit(value.base, per)),) + tuple(
            (int(t.start), _per_unit(t.price, per)) for t in value.tiers)
    return ((0, _per_unit(value, per)),)


def _genai_version() -> str:
    import genai_prices

    return genai_prices.__version__


def _model_price_dict(mp, source: str) -> dict[str, _Price]:
    out: dict[str, _Price] = {}
    fee = getattr(mp, "requests_kcount", None)
    if fee is not None:
        fee = _per_unit(fee.base if hasattr(fee, "base") else fee, 1000)
    for key, (types, per) in PRICE_KEY_TOKEN_TYPES.items():
        value = mp.__dict__.get(key)
        if value is None:
            continue
        for tt in types:
            out[tt] = _Price(_genai_tiers(value, per), fee if tt == "input" else None, "USD", source, key)
    if fee is not None:
        out["request"] = _Price(((0, Decimal(0)),), fee, "USD", source, "requests_kcount")
        if "input" not in out:
            out["input"] = _Price(((0, Decimal(0)),), fee, "USD", source, "requests_kcount")
    return out


@cache
def _genai_layers() -> tuple[dict[tuple[str, str], list[_Layer]], dict[str, list[str]]]:
    """Layers per (provider id, model id) from the bundled genai-prices snapshot, and each
    provider's fallback providers."""
    from genai_prices.data import providers
    from genai_prices.types import ModelPrice, StartDateConstraint

    source = f"genai-prices {_genai_version()}"
    layers: dict[tuple[str, str], list[_Layer]] = {}
    fallbacks: dict[str, list[str]] = {}
    for p in providers:
        fallbacks[p.id] = list(p.fallback_model_providers or [])
        for m in p.models:
            ls: list[_Layer] = []
            periods = [(None, m.prices)] if isinstance(m.prices, ModelPrice) else [
                (c.constraint, c.prices) for c in m.prices]
            for constraint, mp in periods:
                if constraint is None:
                    start = EPOCH
                elif isinstance(constraint, StartDateConstraint):
                    start = constraint.start_date
                else:  # time-of-day (off-peak) prices cannot be told from a daily ledger row
                    continue
                ls.append(_Layer(start, None, "base", _model_price_dict(mp, source), source=source))
            if p.id in BATCH_DISCOUNT:
                ls.append(_Layer(EPOCH, None, "batch_table", factor=1 - BATCH_DISCOUNT[p.id],
                                 source=source))
            for v in m.price_variants or ():
                if v.when != {"processing": "batch"}:
                    continue
                start = v.constraint.start_date if isinstance(v.constraint, StartDateConstraint) else EPOCH
                batch = {}
                for key, tt in (("input_mtok", "batch_input"), ("output_mtok", "batch_output")):
                    value = v.prices.__dict__.get(key)
                    if value is not None:
                        batch[tt] = _Price(_genai_tiers(value, 10**6), None, "USD", source, f"batch {key}")
                if batch:
                    ls.append(_Layer(start, None, "set", batch, source=source))
            if ls:
                layers.setdefault((p.id, m.id.lower()), ls)
    return layers, fallbacks


def _compose(layers: Sequence[_Layer]) -> list[tuple[dt.date, dict[str, _Price]]]:
    """Resolve layers into consecutive versions ``(start, {token_type: _Price})``."""
    points = sorted({lay.start for lay in layers} | {lay.end for lay in layers if lay.end})
    versions = []
    for bp in points:
        active = [lay for lay in layers if lay.start <= bp and (lay.end is None or bp < lay.end)]
        base = [lay for lay in active if lay.kind == "base"]
        if not base and not any(lay.kind == "set" for lay in active):
            versions.append((bp, {}))
            continue
        prices: dict[str, _Price] = dict(max(base, key=lambda lay: lay.start).prices) if base else {}
        for lay in active:
            if lay.kind == "batch_table":
                pct = f"{float((1 - lay.factor) * 100):g}%"
                for src, dst in (("input", "batch_input"), ("output", "batch_output")):
                    if src in prices:
                        p = prices[src]
                        prices[dst] = replace(p.scaled(lay.factor, f"{p.derivation} less {pct} batch discount"),
                                              per_request=None)
        for lay in sorted((lay for lay in active if lay.kind == "set"), key=lambda lay: lay.start):
            prices.update(lay.prices)
        # documented fallbacks
        if "reasoning" not in prices and "output" in prices:
            prices["reasoning"] = replace(prices["output"], derivation="reasoning billed as output")
        for a, b in (("cache_write", "cache_write_5m"), ("cache_write_5m", "cache_write")):
            if a not in prices and b in prices:
                prices[a] = prices[b]
        for lay in active:
            if lay.kind == "discount":
                for tt, p in list(prices.items()):
                    if not lay.token_types or tt in lay.token_types:
                        prices[tt] = p.scaled(lay.factor, f"{p.derivation}; {lay.note}", lay.source)
        versions.append((bp, prices))
    return versions


def _rows(provider: str, model: str, layers: Sequence[_Layer]) -> list[tuple]:
    versions = _compose(layers)
    rows = []
    by_type: dict[str, list[tuple[dt.date, _Price | None]]] = {}
    for i, (start, prices) in enumerate(versions):
        for tt in set(prices) | set(by_type):
            by_type.setdefault(tt, []).append((start, prices.get(tt)))
    for tt, seq in by_type.items():
        # merge consecutive equal prices
        merged: list[list] = []
        for start, p in seq:
            if merged and merged[-1][1] == p:
                continue
            merged.append([start, p])
        for i, (start, p) in enumerate(merged):
            if p is None:
                continue
            end = merged[i + 1][0] if i + 1 < len(merged) else None
            for j, (tmin, unit) in enumerate(p.tiers):
                tmax = p.tiers[j + 1][0] if j + 1 < len(p.tiers) else None
                fee = p.per_request
                unit_out = None if tt == "request" else unit
                rows.append((provider, model, tt, start, end, tmin, tmax, unit_out, fee, p.currency,
                             p.source, p.derivation))
    return rows


# -- overrides ---------------------------------------------------------------------------
def _date(value, file: str, key: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"not a date (YYYY-MM-DD): {value!r}", file=file, column=key) from None


def _dec(value, file: str, key: str, *, minimum: Decimal | None = Decimal(0)) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ConfigError(f"not a number: {value!r}", file=file, column=key)
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"not a number: {value!r}", file=file, column=key) from None
    if not d.is_finite() or (minimum is not None and d < minimum):
        raise ConfigError(f"number out of range: {value!r}", file=file, column=key)
    return d


def _text(entry: Mapping, name: str, file: str, key: str, *, required: bool = True) -> str | None:
    value = entry.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ConfigError("required value is missing", file=file, column=f"{key}.{name}")
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ConfigError(f"expected text, got {value!r}", file=file, column=f"{key}.{name}")
    return str(value).strip()


def _check_keys(entry, allowed: Iterable[str], file: str, key: str) -> None:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"expected a mapping, got {type(entry).__name__}", file=file, column=key)
    unknown = sorted(set(map(str, entry)) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})",
                          file=file, column=f"{key}.{unknown[0]}")


_PER = {"token": 1, "ktok": 10**3, "mtok": 10**6}


@dataclass
class _Overrides:
    models: list[tuple[str, str, _Layer]] = field(default_factory=list)
    discounts: list[tuple[str, str | None, _Layer]] = field(default_factory=list)
    aliases: list[tuple[str | None, str, str]] = field(default_factory=list)
    commitments: list[dict] = field(default_factory=list)


def _parse_overrides(path: Path) -> tuple[_Overrides, bytes]:
    import yaml

    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read price overrides: {e.strerror or e}", file=file) from None
    try:
        doc = yaml.safe_load(raw.decode("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"invalid YAML: {e}".splitlines()[0], file=file) from None
    _check_keys(doc, ("version", "currency", "models", "discounts", "aliases", "provisioned"), file, "(top)")
    if doc.get("version", 1) != 1:
        raise ConfigError(f"unsupported version {doc.get('version')!r} (expected 1)", file=file, column="version")
    currency = _text(doc, "currency", file, "(top)", required=False) or "USD"
    source = f"override:{path.name}"
    out = _Overrides()

    def seq(name):
        v = doc.get(name) or []
        if not isinstance(v, list):
            raise ConfigError(f"expected a list, got {type(v).__name__}", file=file, column=name)
        return v

    for i, e in enumerate(seq("models")):
        key = f"models[{i}]"
        _check_keys(e, ("provider", "model", "from", "until", "unit", "prices", "per_request",
                        "currency", "note"), file, key)
        provider = _text(e, "provider", file, key).lower()
        model = _text(e, "model", file, key).lower()
        unit = _text(e, "unit", file, key, required=False) or "mtok"
        if unit not in _PER:
            raise ConfigError(f"unit must be one of {', '.join(_PER)}, got {unit!r}", file=file, column=f"{key}.unit")
        cur = _text(e, "currency", file, key, required=False) or currency
        start = _date(e["from"], file, f"{key}.from") if e.get("from") is not None else EPOCH
        end = _date(e["until"], file, f"{key}.until") if e.get("until") is not None else None
        if end is not None and end <= start:
            raise ConfigError("'until' must be after 'from'", file=file, column=f"{key}.until")
        fee = _dec(e["per_request"], file, f"{key}.per_request") if e.get("per_request") is not None else None
        prices_in = e.get("prices") or {}
        if not isinstance(prices_in, Mapping) or (not prices_in and fee is None):
            raise ConfigError("expected a mapping of token type to price", file=file, column=f"{key}.prices")
        prices: dict[str, _Price] = {}
        for tt, v in prices_in.items():
            pkey = f"{key}.prices.{tt}"
            if tt not in _OVERRIDE_TOKEN_TYPES or tt == "request":
                raise ConfigError(f"unknown token type {tt!r} (allowed: {', '.join(schema.TOKEN_TYPES[:-1])})",
                                  file=file, column=pkey)
            if isinstance(v, Mapping):
                _check_keys(v, ("base", "tiers"), file, pkey)
                tiers = [(0, _dec(v.get("base"), file, f"{pkey}.base"))]
                for j, t in enumerate(v.get("tiers") or []):
                    _check_keys(t, ("above", "price"), file, f"{pkey}.tiers[{j}]")
                    above = _dec(t.get("above"), file, f"{pkey}.tiers[{j}].above")
                    if above != above.to_integral_value() or above <= tiers[-1][0]:
                        raise ConfigError("tier thresholds must be increasing whole token counts",
                                          file=file, column=f"{pkey}.tiers[{j}].above")
                    tiers.append((int(above), _dec(t.get("price"), file, f"{pkey}.tiers[{j}].price")))
            else:
                tiers = [(0, _dec(v, file, pkey))]
            per = _PER[unit]
            prices[tt] = _Price(tuple((m, _q(p / per)) for m, p in tiers), fee if tt == "input" else None,
                                cur, source, f"{unit} price")
        if fee is not None:
            prices["request"] = _Price(((0, Decimal(0)),), fee, cur, source, "per_request")
            if "input" not in prices:
                prices["input"] = _Price(((0, Decimal(0)),), fee, cur, source, "per_request")
        out.models.append((provider, model, _Layer(start, end, "set", prices, source=source)))

    for i, e in enumerate(seq("discounts")):
        key = f"discounts[{i}]"
        _check_keys(e, ("provider", "model", "percent_off", "from", "until", "token_types", "note"), file, key)
        provider = _text(e, "provider", file, key).lower()
        model = _text(e, "model", file, key, required=False)
        pct = _dec(e.get("percent_off"), file, f"{key}.percent_off")
        if pct > 100:
            raise ConfigError(f"percent_off must be between 0 and 100, got {pct}", file=file, column=f"{key}.percent_off")
        start = _date(e["from"], file, f"{key}.from") if e.get("from") is not None else EPOCH
        end = _date(e["until"], file, f"{key}.until") if e.get("until") is not None else None
        if end is not None and end <= start:
            raise ConfigError("'until' must be after 'from'", file=file, column=f"{key}.until")
        tts = e.get("token_types") or []
        if not isinstance(tts, list) or any(t not in _OVERRIDE_TOKEN_TYPES for t in tts):
            raise ConfigError(f"token_types must be a list of {', '.join(schema.TOKEN_TYPES)}",
                              file=file, column=f"{key}.token_types")
        note = f"{pct:g}% off from {start}" + (f" until {end}" if end else "")
        out.discounts.append((provider, model.lower() if model else None, _Layer(
            start, end, "discount", factor=(100 - pct) / 100, token_types=frozenset(tts), source=source,
            note=note)))

    aliases = doc.get("aliases") or []
    if not isinstance(aliases, list):
        raise ConfigError("expected a list of {alias, model, provider}", file=file, column="aliases")
    for i, e in enumerate(aliases):
        key = f"aliases[{i}]"
        _check_keys(e, ("alias", "model", "provider"), file, key)
        prov = _text(e, "provider", file, key, required=False)
        out.aliases.append((prov.lower() if prov else None, _text(e, "alias", file, key).lower(),
                            _text(e, "model", file, key).lower()))

    for i, e in enumerate(seq("provisioned")):
        key = f"provisioned[{i}]"
        _check_keys(e, ("name", "provider", "model", "units", "monthly_amount", "currency", "from", "until",
                        "note"), file, key)
        if e.get("from") is None:
            raise ConfigError("required value is missing", file=file, column=f"{key}.from")
        start = _date(e["from"], file, f"{key}.from")
        end = _date(e["until"], file, f"{key}.until") if e.get("until") is not None else None
        if end is not None and end <= start:
            raise ConfigError("'until' must be after 'from'", file=file, column=f"{key}.until")
        out.commitments.append({
            "name": _text(e, "name", file, key),
            "provider": _text(e, "provider", file, key).lower(),
            "model": (_text(e, "model", file, key, required=False) or "").lower() or None,
            "units": _dec(e.get("units", 1), file, f"{key}.units"),
            "monthly_amount": _dec(e.get("monthly_amount"), file, f"{key}.monthly_amount"),
            "currency": _text(e, "currency", file, key, required=False) or currency,
            "effective_from": start, "effective_to": end, "source": source,
        })
    return out, raw


# -- the catalogue -----------------------------------------------------------------------
class PriceCatalogue:
    """Effective-dated prices per (provider, model, token type) with long-context tiers.

    Build one with :meth:`load` (genai-prices + optional YAML overrides) or
    :meth:`from_frame` (any table with :data:`CATALOGUE_COLUMNS`, e.g. a test fixture).

    Attributes:
        table: the tidy catalogue (``unit_price_per_token`` and ``price_per_request`` are
            ``decimal.Decimal``), one row per price period and tier.
        version: ``genai-prices <version>`` plus ``+overrides:<sha256 prefix>`` of the override
            files' bytes when there are any.
        commitments: provisioned-throughput commitments (fixed monthly amounts).
        aliases: ``{(provider or None, alias): model}`` deployment-name aliases.

    Example:
        >>> cat = PriceCatalogue.load()
        >>> cat.version.startswith("genai-prices ")
        True
        >>> row = cat.find("claude-sonnet-4-20250514", provider="anthropic", at="2025-08-01")
        >>> row.set_index("token_type").loc["cache_write_1h", "unit_price_per_token"]
        Decimal('0.000006')
    """

    def __init__(self, table: pd.DataFrame, *, version: str, commitments: pd.DataFrame | None = None,
                 aliases: Mapping[tuple[str | None, str], str] | None = None,
                 use_genai_matching: bool = True) -> None:
        missing = [c for c in CATALOGUE_COLUMNS if c not in table.columns and c != "derivation"
                   and c != "tier_max_prompt_tokens"]
        if missing:
            raise ConfigError(f"catalogue table lacks column(s) {', '.join(missing)}", column=missing[0])
        self.table = _normalize_table(table)
        self.version = version
        self.commitments = commitments if commitments is not None else pd.DataFrame(
            columns=["name", "provider", "model", "units", "monthly_amount", "currency", "effective_from",
                     "effective_to", "source"])
        self.aliases = dict(aliases or {})
        self.use_genai_matching = use_genai_matching
        self._keys = set(zip(self.table["provider"], self.table["model"]))
        self._models_by_name: dict[str, list[str]] = {}
        for p, m in sorted(self._keys):
            self._models_by_name.setdefault(m, []).append(p)
        self._arrow: pa.Table | None = None

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def load(cls, overrides: str | Path | Sequence[str | Path] | None = None) -> PriceCatalogue:
        """genai-prices' bundled prices plus override files (applied in order).

        Raises:
            ConfigError: an override file is unreadable, not YAML, or has an invalid key
                (the error names the file and the key, e.g. ``discounts[0].percent_off``).
        """
        paths = [] if overrides is None else [overrides] if isinstance(overrides, (str, os.PathLike)) else list(overrides)
        base_layers, fallbacks = _genai_layers()
        version = f"genai-prices {_genai_version()}"
        if not paths:
            return _default_catalogue()
        digest = hashlib.sha256()
        layers = {k: list(v) for k, v in base_layers.items()}
        aliases: dict[tuple[str | None, str], str] = {}
        commitments = []
        resolver = _GenaiResolver()
        for path in map(Path, paths):
            ov, raw = _parse_overrides(path)
            digest.update(raw)
            for provider, model, layer in ov.models:
                pid = resolver.provider_id(provider) or provider
                layers.setdefault((pid, model), []).append(layer)
            for prov, alias, model in ov.aliases:
                aliases[(resolver.provider_id(prov) or prov if prov else None, alias)] = model
            commitments.extend(ov.commitments)
            for provider, model, layer in ov.discounts:
                pid = resolver.provider_id(provider) or provider
                targets = []
                if model is None:
                    targets = [k for k in layers if k[0] == pid]
                    for fb in fallbacks.get(pid, []):  # models the provider sells from others
                        targets += [(pid, m) for (p, m) in base_layers if p == fb and (pid, m) not in layers]
                else:
                    key = (pid, model)
                    if key not in layers:
                        found = resolver.model(pid, model)
                        if found and (pid, found[1]) in layers:
                            key = (pid, found[1])
                        elif found:
                            layers[(pid, found[1])] = list(base_layers[found])
                            key = (pid, found[1])
                        else:
                            raise ConfigError(f"unknown model {model!r} for provider {provider!r}",
                                              file=str(path), column="discounts.model")
                    targets = [key]
                for key in targets:
                    if key not in layers:
                        src = next(((fb, key[1]) for fb in fallbacks.get(pid, []) if (fb, key[1]) in base_layers))
                        layers[key] = list(base_layers[src])
                    layers[key] = layers[key] + [layer]
        rows = [r for (p, m), ls in layers.items() for r in _rows(p, m, ls)]
        table = pd.DataFrame(rows, columns=list(CATALOGUE_COLUMNS))
        cm = pd.DataFrame(commitments, columns=["name", "provider", "model", "units", "monthly_amount",
                                                "currency", "effective_from", "effective_to", "source"])
        return cls(table, version=f"{version}+overrides:{digest.hexdigest()[:16]}", commitments=cm,
                   aliases=aliases)

    @classmethod
    def from_frame(cls, table: pd.DataFrame, *, version: str = "custom", use_genai_matching: bool = True,
                   aliases: Mapping[tuple[str | None, str], str] | None = None) -> PriceCatalogue:
        """A catalogue from a table with :data:`CATALOGUE_COLUMNS` (``derivation`` and
        ``tier_max_prompt_tokens`` optional). Dated model ids still resolve to the table's
        models through genai-prices' matching unless ``use_genai_matching=False``."""
        return cls(table, version=version, aliases=aliases, use_genai_matching=use_genai_matching)

    # -- reading -----------------------------------------------------------------------------
    def find(self, model: str, *, provider: str | None = None, at=None) -> pd.DataFrame:
        """Catalogue rows for a model reference (dated ids and aliases resolve), optionally
        only those in force on date ``at``."""
        key = self.resolve([provider], model)
        if key is None:
            return self.table.iloc[0:0]
        t = self.table[(self.table["provider"] == key[0]) & (self.table["model"] == key[1])]
        if at is not None:
            d = pd.Timestamp(at).date()
            t = t[(t["effective_from"] <= d) & (t["effective_to"].isna() | (t["effective_to"] > d))]
        return t.reset_index(drop=True)

    def resolve(self, providers: Sequence[str | None], model: str | None) -> tuple[str, str] | None:
        """The catalogue key ``(provider, model)`` for a usage row's provider candidates and
        model reference: exact catalogue key, override alias, genai-prices matching (dated
        ids, fallback providers such as Azure selling OpenAI models), then model name alone."""
        if model is None or (isinstance(model, float) and np.isnan(model)):
            return None
        m = str(model).strip().lower()
        g = _GenaiResolver()
        provs = []
        for p in providers:
            if p is None or (isinstance(p, float) and np.isnan(p)) or not str(p).strip():
                continue
            raw = str(p).strip().lower()
            provs.append(g.provider_id(raw) or raw)
        for pid in provs:
            m2 = self.aliases.get((pid, m)) or self.aliases.get((None, m)) or m
            if (pid, m2) in self._keys:
                return pid, m2
            if self.use_genai_matching and (found := g.model(pid, m2)):
                for key in ((pid, found[1]), found):
                    if key in self._keys:
                        return key
        m2 = self.aliases.get((None, m), m)
        owners = self._models_by_name.get(m2)
        if owners and len(owners) == 1:
            return owners[0], m2
        if self.use_genai_matching and (found := g.model(None, m2)) and found in self._keys:
            return found
        return None

    def arrow(self) -> pa.Table:
        """The catalogue as Arrow with exact ``decimal128(38,18)`` prices (for the engine)."""
        if self._arrow is None:
            t = self.table
            self._arrow = pa.table({
                "provider": pa.array(t["provider"], pa.string()),
                "model": pa.array(t["model"], pa.string()),
                "token_type": pa.array(t["token_type"], pa.string()),
                "effective_from": pa.array(t["effective_from"], pa.date32()),
                "effective_to": pa.array(t["effective_to"].astype(object).where(t["effective_to"].notna(), None),
                                         pa.date32()),
                "tier_min": pa.array(t["tier_min_prompt_tokens"], pa.int64()),
                "tier_max": pa.array(t["tier_max_prompt_tokens"].astype(object).where(
                    t["tier_max_prompt_tokens"].notna(), None), pa.int64()),
                "unit_price": pa.array(list(t["unit_price_per_token"]), _DEC),
                "price_per_request": pa.array(list(t["price_per_request"]), _DEC),
                "currency": pa.array(t["currency"], pa.string()),
                "source": pa.array(t["source"], pa.string()),
            })
        return self._arrow

    def commitment_schedule(self, start, end) -> pd.DataFrame:
        """Provisioned-throughput amounts per commitment and month between ``start`` and
        ``end`` (months, inclusive), pro-rated by the days the commitment runs in the month.

        Example:
            >>> import pathlib, aifinops
            >>> ex = pathlib.Path(aifinops.__file__).parent / "data" / "price_overrides.example.yaml"
            >>> s = PriceCatalogue.load(ex).commitment_schedule("2025-04", "2025-05")
            >>> [(r.month, r.name, str(r.amount)) for r in s.itertuples()]
            [('2025-04', 'ptu-eastus-gpt4o', '9000.00'), ('2025-05', 'ptu-eastus-gpt4o', '18000.00')]
        """
        first = pd.Period(start, "M")
        last = pd.Period(end, "M")
        rows = []
        for c in self.commitments.to_dict("records"):
            for per in pd.period_range(first, last, freq="M"):
                m0 = per.start_time.date()
                m1 = (per + 1).start_time.date()
                a = max(m0, c["effective_from"])
                b = min(m1, c["effective_to"]) if c["effective_to"] is not None and not pd.isna(c["effective_to"]) else m1
                if b <= a:
                    continue
                days = (b - a).days
                amount = c["monthly_amount"] * days / (m1 - m0).days
                rows.append({"month": str(per), "name": c["name"], "provider": c["provider"], "model": c["model"],
                             "units": c["units"], "days": days, "amount": _money(amount),
                             "currency": c["currency"], "source": c["source"]})
        return pd.DataFrame(rows, columns=["month", "name", "provider", "model", "units", "days", "amount",
                                           "currency", "source"])

    def __repr__(self) -> str:
        return f"PriceCatalogue({self.version!r}, {len(self.table)} rows, {len(self._keys)} models)"


def _money(d: Decimal) -> Decimal:
    """Pro-rated amounts: exact when the division is, else 18 places."""
    q = d.quantize(Decimal("0.01"))
    return q if q == d else d.quantize(_SCALE)


def _normalize_table(table: pd.DataFrame) -> pd.DataFrame:
    t = table.copy()
    if "derivation" not in t.columns:
        t["derivation"] = ""
    t["provider"] = t["provider"].astype(str).str.strip().str.lower()
    t["model"] = t["model"].astype(str).str.strip().str.lower()
    t["effective_from"] = [pd.Timestamp(d).date() for d in t["effective_from"]]
    t["effective_to"] = [None if d is None or pd.isna(d) else pd.Timestamp(d).date() for d in t["effective_to"]]
    t["tier_min_prompt_tokens"] = t["tier_min_prompt_tokens"].fillna(0).astype("int64")
    if "tier_max_prompt_tokens" not in t.columns:
        # next tier's minimum within the same (provider, model, token type, period)
        t = t.sort_values(["provider", "model", "token_type", "effective_from", "tier_min_prompt_tokens"])
        nxt = t.groupby(["provider", "model", "token_type", "effective_from"])["tier_min_prompt_tokens"].shift(-1)
        t["tier_max_prompt_tokens"] = nxt.astype("Int64")
    else:
        t["tier_max_prompt_tokens"] = t["tier_max_prompt_tokens"].astype("Int64")
    for c in ("unit_price_per_token", "price_per_request"):
        t[c] = [None if v is None or (isinstance(v, float) and np.isnan(v)) else trim(_q(Decimal(str(v))))
                for v in t[c]]
    t = t.sort_values(["provider", "model", "token_type", "effective_from", "tier_min_prompt_tokens"])
    return t[list(CATALOGUE_COLUMNS)].reset_index(drop=True)


@cache
def _default_catalogue() -> PriceCatalogue:
    layers, _ = _genai_layers()
    rows = [r for (p, m), ls in layers.items() for r in _rows(p, m, ls)]
    return PriceCatalogue(pd.DataFrame(rows, columns=list(CATALOGUE_COLUMNS)),
                          version=f"genai-prices {_genai_version()}")


class _GenaiResolver:
    """genai-prices' own provider and model matching (dated ids, fallback providers)."""

    @staticmethod
    @cache
    def _owner() -> dict[int, str]:
        from genai_prices.data import providers

        return {id(m): p.id for p in providers for m in p.models}

    @staticmethod
    @cache
    def provider_id(ref: str | None) -> str | None:
        from genai_prices.data import providers
        from genai_prices.data_snapshot import find_provider_by_id

        if not ref:
            return None
        ref = ref.strip().lower()
        ref = PROVIDER_ALIASES.get(ref, ref)
        p = find_provider_by_id(providers, ref)
        return p.id if p else None

    @staticmethod
    @cache
    def model(provider: str | None, model: str) -> tuple[str, str] | None:
        from genai_prices.data import providers
        from genai_prices.data_snapshot import find_provider_by_id

        if provider is not None:
            p = find_provider_by_id(providers, provider)
            if p is None:
                return None
            candidates = [p]
        else:
            candidates = [p for p in providers if p.model_match is not None and p.model_match.is_match(model)]
        for p in candidates:
            found = p.find_model(model, all_providers=providers)
            if found is not None:
                return _GenaiResolver._owner()[id(found)], found.id.lower()
        return None


# -- pricing -----------------------------------------------------------------------------
def _col(usage: pd.DataFrame, name: str):
    return usage[name] if name in usage.columns else None


def _arrow_col(s: pd.Series | None, n: int, typ: pa.DataType) -> pa.Array:
    if s is None:
        return pa.nulls(n, typ)
    if isinstance(s.dtype, pd.ArrowDtype):
        arr = pa.array(s.array)
    elif s.dtype == object:
        arr = pa.array(s.to_numpy(), from_pandas=True)
    else:
        arr = pa.array(s, from_pandas=True)
    if pa.types.is_decimal(arr.type) and pa.types.is_decimal(typ):
        return arr  # the engine casts; pyarrow's cast could refuse a narrowing it need not do
    if pa.types.is_floating(arr.type) and pa.types.is_decimal(typ):
        return arr
    return arr.cast(typ) if arr.type != typ else arr


def price(usage: pd.DataFrame, catalogue: PriceCatalogue | None = None, *, at=None,
          as_model: str | None = None, prompt_tokens_column: str = "x_PromptTokens") -> pd.DataFrame:
    """Price token usage against the catalogue.

    Args:
        usage: ledger-shaped rows with ``ChargePeriodStart``, ``x_ModelProvider`` and/or
            ``ProviderName`` (tried ``ProviderName`` first, then ``x_ModelProvider``), ``x_Model``,
            ``x_TokenType``, ``x_Tokens``; optional ``x_Requests`` and ``x_PromptTokens`` (the
            request's prompt size, which picks the long-context tier).
        catalogue: the price catalogue; default :meth:`PriceCatalogue.load` without overrides.
        at: price every row at the prices in force on this date (re-price history at one
            date's prices) instead of each row's own date.
        as_model: price the same token mix as if it ran on this model (what-if), e.g.
            ``"claude-haiku-4-5"`` or ``"anthropic/claude-haiku-4-5"``.
        prompt_tokens_column: the usage column holding the per-request prompt size.

    Returns:
        A copy of ``usage`` plus ``x_PricedCost`` (exact ``decimal128(38,18)``, elements are
        ``decimal.Decimal``; NULL when unpriced, never 0), ``x_UnitPrice``, ``x_PriceCurrency``,
        ``x_PriceEffectiveFrom``, ``x_PriceSource`` and ``x_PriceReason`` (NULL when priced,
        else why: unknown model, unknown token type, no price for the token type, no price in
        force on the date, no token count, no date).

    Example:
        >>> import pandas as pd
        >>> u = pd.DataFrame({"ChargePeriodStart": pd.to_datetime(["2025-05-01"], utc=True),
        ...                   "ProviderName": ["OpenAI"], "x_Model": ["o3"],
        ...                   "x_TokenType": ["output"], "x_Tokens": [1000]})
        >>> str(price(u)["x_PricedCost"][0])                       # o3 before its 2025-06-10 cut
        '0.040000000000000000'
        >>> str(price(u, at="2025-07-01")["x_PricedCost"][0])      # the same tokens after it
        '0.008000000000000000'
        >>> price(u, as_model="no-such-model")["x_PriceReason"][0]
        "unknown model 'no-such-model'"
    """
    catalogue = catalogue or PriceCatalogue.load()
    n = len(usage)
    prov1 = _col(usage, "ProviderName")
    prov2 = _col(usage, "x_ModelProvider")
    model = _col(usage, "x_Model")
    tokens = _col(usage, "x_Tokens")
    slim = pa.table({
        "rid": pa.array(np.arange(n, dtype=np.int64)),
        "p1": _arrow_col(prov1, n, pa.string()),
        "p2": _arrow_col(prov2, n, pa.string()),
        "m": _arrow_col(model, n, pa.string()),
        "tt": _arrow_col(_col(usage, "x_TokenType"), n, pa.string()),
        "ts": _arrow_col(_col(usage, "ChargePeriodStart"), n, pa.timestamp("us", "UTC")),
        "prompt": _arrow_col(_col(usage, prompt_tokens_column), n, pa.int64()),
        "tokens": _arrow_col(tokens, n, _DEC),
        "requests": _arrow_col(_col(usage, "x_Requests"), n, _DEC),
    })
    con = connect()
    try:
        con.register("u", slim)
        con.register("cat", catalogue.arrow())
        # resolve the distinct (provider, model) references once each, in Python
        pairs = con.execute("SELECT DISTINCT p1, p2, m FROM u").fetchall()
        target = None
        if as_model is not None:
            if "/" in as_model:
                ap, am = as_model.split("/", 1)
                target = catalogue.resolve([ap], am)
            else:
                target = catalogue.resolve([], as_model)
        res = []
        for p1, p2, m in pairs:
            key = (target if as_model is not None else catalogue.resolve([p1, p2], m))
            res.append((p1, p2, m, key[0] if key else None, key[1] if key else None))
        resolved = pa.table({k: pa.array([r[i] for r in res], pa.string())
                             for i, k in enumerate(["p1", "p2", "m", "cp", "cm"])})
        con.register("r", resolved)
        con.register("tts", pa.table({"tt": pa.array(list(schema.TOKEN_TYPES), pa.string())}))
        at_sql = "NULL" if at is None else f"DATE '{pd.Timestamp(at).date().isoformat()}'"
        shown = as_model if as_model is not None else None
        unknown_model = ("'unknown model ' || '''' || " + ("'" + shown.replace("'", "''") + "'" if shown else "m")
                         + " || ''''")
        sql = f"""
        WITH ur AS (
            SELECT u.rid, u.tt, u.tokens, u.requests, u.m, r.cp, r.cm,
                   COALESCE({at_sql}, CAST(u.ts AS DATE)) AS d, COALESCE(u.prompt, 0) AS prompt
            FROM u LEFT JOIN r ON r.p1 IS NOT DISTINCT FROM u.p1 AND r.p2 IS NOT DISTINCT FROM u.p2
                             AND r.m IS NOT DISTINCT FROM u.m
        ), firsts AS (
            SELECT provider, model, token_type, MIN(effective_from) AS first_from FROM cat GROUP BY ALL
        ), j AS (
            SELECT ur.*, c.unit_price, c.price_per_request, c.effective_from, c.source, c.currency,
                   c.token_type AS ctt, f.first_from, tts.tt AS known_tt
            FROM ur
            LEFT JOIN cat c ON c.provider = ur.cp AND c.model = ur.cm AND c.token_type = ur.tt
                 AND ur.d >= c.effective_from AND (c.effective_to IS NULL OR ur.d < c.effective_to)
                 AND (c.tier_min = 0 OR ur.prompt > c.tier_min)
                 AND (c.tier_max IS NULL OR ur.prompt <= c.tier_max)
            LEFT JOIN firsts f ON f.provider = ur.cp AND f.model = ur.cm AND f.token_type = ur.tt
            LEFT JOIN tts ON tts.tt = ur.tt
        )
        SELECT rid,
            CASE WHEN reason IS NULL THEN cost END AS cost,
            CASE WHEN reason IS NULL THEN unit_price END AS unit_price,
            CASE WHEN reason IS NULL THEN currency END AS currency,
            CASE WHEN reason IS NULL THEN effective_from END AS effective_from,
            CASE WHEN reason IS NULL THEN source END AS source,
            reason
        FROM (
            SELECT rid, unit_price, currency, effective_from, source,
                CAST(CASE WHEN ctt = 'request'
                          THEN CAST(COALESCE(requests, tokens) AS DECIMAL(38,9)) * price_per_request
                          ELSE CAST(tokens AS DECIMAL(38,9)) * unit_price
                               + COALESCE(CAST(requests AS DECIMAL(38,9)) * price_per_request, 0)
                     END AS DECIMAL(38,18)) AS cost,
                CASE
                    WHEN tt IS NULL THEN 'no token type'
                    WHEN known_tt IS NULL THEN 'unknown token type ''' || tt || ''''
                    WHEN m IS NULL AND cp IS NULL THEN 'no model'
                    WHEN cp IS NULL THEN {unknown_model}
                    WHEN d IS NULL THEN 'no date'
                    WHEN first_from IS NULL THEN 'no ''' || tt || ''' price for ' || cp || '/' || cm
                    WHEN ctt IS NULL THEN 'no ''' || tt || ''' price in force on ' || CAST(d AS VARCHAR)
                         || ' for ' || cp || '/' || cm
                    WHEN (CASE WHEN ctt = 'request' THEN COALESCE(requests, tokens) ELSE tokens END) IS NULL
                         THEN 'no quantity'
                END AS reason
            FROM j
        )
        """
        result = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    rid = result.column("rid").to_numpy()
    if len(rid) != n:  # a catalogue with overlapping periods or tiers would duplicate rows
        raise ValueError(f"catalogue {catalogue.version} has overlapping prices: {len(rid)} rows for {n}")
    if n and not (rid[0] == 0 and np.all(np.diff(rid) == 1)):
        inv = np.empty(n, dtype=np.int64)
        inv[rid] = np.arange(n, dtype=np.int64)
        result = result.take(pa.array(inv))
    out = usage.copy()
    for name, col in (("x_PricedCost", "cost"), ("x_UnitPrice", "unit_price"), ("x_PriceCurrency", "currency"),
                      ("x_PriceEffectiveFrom", "effective_from"), ("x_PriceSource", "source"),
                      ("x_PriceReason", "reason")):
        arr = result.column(col)
        if pa.types.is_decimal(arr.type) and arr.type != _DEC:
            arr = arr.cast(_DEC)
        out[name] = pd.Series(pd.arrays.ArrowExtensionArray(arr), index=usage.index)
    return out


# -- ledger re-pricing -------------------------------------------------------------------
_LEDGER_COLS = ["ChargePeriodStart", "ProviderName", "x_ModelProvider", "x_Model", "x_TokenType", "x_Tokens",
                "x_Requests", "BilledCost", "BillingCurrency", "x_BillingPeriod", "x_Team", "x_Feature",
                "x_Application", "x_Customer", "x_SourceFile", "x_SourceRow"]


def reprice_ledger(ledger_dir: str | Path, out: str | Path, *, at=None, as_model: str | None = None,
                   catalogue: PriceCatalogue | None = None) -> Path:
    """Write the ledger's token rows with their cost as billed, priced at the time, and
    re-priced at ``at`` and/or as ``as_model``, side by side (``.parquet`` or ``.csv``).

    Columns: the row's identity and attribution, ``BilledCost`` / ``BillingCurrency`` (as
    billed), ``x_CostAtTime`` (catalogue prices in force on the row's date), ``x_CostRepriced``
    (at ``at`` and/or as ``as_model``; only when one is given), ``x_PriceCurrency``,
    ``x_PriceReason`` / ``x_RepriceReason`` and ``x_PriceCatalogue`` (the catalogue version).
    Money is written exactly (Parquet ``decimal128(38,18)``, CSV decimal text).

    Raises:
        LedgerError: the folder is not a ledger.
    """
    from .ledger import Ledger

    ledger_dir = Path(ledger_dir)
    if not ledger_dir.is_dir():
        raise LedgerError("ledger folder not found", file=str(ledger_dir))
    led = Ledger(ledger_dir)
    con = led.connect()
    try:
        have = {r[0] for r in con.execute("DESCRIBE ledger").fetchall()}
    finally:
        con.close()
    cols = [c for c in _LEDGER_COLS if c in have]
    frame = led.frame(columns=cols, where="x_TokenType IS NOT NULL")
    catalogue = catalogue or PriceCatalogue.load()
    now = price(frame, catalogue)
    result = frame.copy()
    result["x_CostAtTime"] = now["x_PricedCost"]
    result["x_PriceCurrency"] = now["x_PriceCurrency"]
    result["x_PriceReason"] = now["x_PriceReason"]
    if at is not None or as_model is not None:
        again = price(frame, catalogue, at=at, as_model=as_model)
        result["x_CostRepriced"] = again["x_PricedCost"]
        result["x_RepriceAt"] = None if at is None else pd.Timestamp(at).date().isoformat()
        result["x_RepriceModel"] = as_model
        result["x_RepriceReason"] = again["x_PriceReason"]
    result["x_PriceCatalogue"] = catalogue.version
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(result, preserve_index=False)
    # ledger money arrives as Python Decimals: store it as exact decimals too
    fields = []
    for f in table.schema:
        fields.append(pa.field(f.name, _DEC) if pa.types.is_decimal(f.type) else f)
    table = table.cast(pa.schema(fields))
    if out.suffix.lower() == ".csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, out)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, out)
    return out
