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

Not modelled from genai-prices: service-tier variants other than batch (priority, flex),
time-of-day (off-peak) prices, which a daily ledger row cannot place, and price keys with no
ledger token type (cached audio/image reads, video, characters, pages).

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


@cache
def _safe_loader():
    """``yaml.SafeLoader`` that leaves dates as text, so a bad date is reported with its key."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    return Loader


def _parse_overrides(path: Path) -> tuple[_Overrides, bytes]:
    import yaml

    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read price overrides: {e.strerror or e}", file=file) from None
    try:
        doc = yaml.load(raw.decode("utf-8"), Loader=_safe_loader()) or {}
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, TypeError) as e:
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
        self._cached_arrays = None

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def load(cls, overrides: str | Path | Sequence[str | Path] | None = None) -> PriceCatalogue:
        """genai-prices' bundled prices plus override files (applied in order).

        Raises:
            ConfigError: an override file is unreadable, not YAML, or has an invalid key
                (the error names the file and the key, e.g. ``discounts[0].percent_off``).

        Example:
            >>> import pathlib, tempfile
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "prices.yaml"
            >>> _ = p.write_text("discounts:\\n  - {provider: openai, percent_off: ten}\\n")
            >>> PriceCatalogue.load(p)  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            aifinops.errors.ConfigError: ...prices.yaml, column 'discounts[0].percent_off': not a number: 'ten'
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
        models through genai-prices' matching unless ``use_genai_matching=False``.

        Example:
            >>> from decimal import Decimal
            >>> t = pd.DataFrame([{"provider": "acme", "model": "m", "token_type": "input",
            ...     "effective_from": "2025-01-01", "effective_to": None, "tier_min_prompt_tokens": 0,
            ...     "unit_price_per_token": Decimal("0.000001"), "price_per_request": None,
            ...     "currency": "EUR", "source": "contract 42"}])
            >>> cat = PriceCatalogue.from_frame(t, version="contract-42")
            >>> cat.find("m", provider="acme")["unit_price_per_token"].tolist()
            [Decimal('0.000001')]
        """
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
_NO_END = np.int32(2**31 - 1)
_NO_MAX = np.int64(2**62)
_I64_MAX = 2**63 - 1
_E18 = 10**18


@dataclass
class _CatArrays:
    """The catalogue as numpy arrays for the vectorized lookup."""

    index: dict[tuple[str, str, str], np.ndarray]
    from_days: np.ndarray
    to_days: np.ndarray
    tmin: np.ndarray
    tmax: np.ndarray
    unit_int: np.ndarray      # unit price x 10^18 (0 when NULL)
    fee_int: np.ndarray       # request fee x 10^18 (0 when NULL)
    has_unit: np.ndarray
    has_fee: np.ndarray
    fits: bool                # every price x 10^18 fits in int64
    unit: pa.Array            # exact decimal128(38,18) unit prices
    fee: pa.Array
    source_codes: np.ndarray
    sources: list[str]
    currency_codes: np.ndarray
    currencies: list[str]


def _cat_arrays(cat: PriceCatalogue) -> _CatArrays:
    if cat._cached_arrays is not None:
        return cat._cached_arrays
    t = cat.table
    index: dict[tuple[str, str, str], list[int]] = {}
    for i, key in enumerate(zip(t["provider"], t["model"], t["token_type"])):
        index.setdefault(key, []).append(i)

    def days(values, missing):
        return np.array([missing if v is None or pd.isna(v) else (v - EPOCH).days for v in values], dtype=np.int32)

    def scaled(values):
        ints = [0 if v is None else int(v.scaleb(18)) for v in values]
        return ints, all(abs(x) <= _I64_MAX for x in ints)

    unit_ints, fit1 = scaled(t["unit_price_per_token"])
    fee_ints, fit2 = scaled(t["price_per_request"])
    src_codes, sources = pd.factorize(t["source"])
    cur_codes, currencies = pd.factorize(t["currency"])
    arr = _CatArrays(
        index={k: np.array(v, dtype=np.int64) for k, v in index.items()},
        from_days=days(t["effective_from"], 0), to_days=days(t["effective_to"], _NO_END),
        tmin=t["tier_min_prompt_tokens"].to_numpy(np.int64),
        tmax=t["tier_max_prompt_tokens"].fillna(_NO_MAX).to_numpy(np.int64),
        unit_int=np.array(unit_ints if fit1 else [0] * len(t), dtype=np.int64),
        fee_int=np.array(fee_ints if fit2 else [0] * len(t), dtype=np.int64),
        has_unit=t["unit_price_per_token"].notna().to_numpy(bool),
        has_fee=t["price_per_request"].notna().to_numpy(bool),
        fits=fit1 and fit2,
        unit=pa.array(list(t["unit_price_per_token"]), _DEC), fee=pa.array(list(t["price_per_request"]), _DEC),
        source_codes=src_codes.astype(np.int64), sources=list(sources),
        currency_codes=cur_codes.astype(np.int64), currencies=list(currencies),
    )
    cat._cached_arrays = arr
    return arr


def _col(usage: pd.DataFrame, name: str):
    return usage[name] if name in usage.columns else None


def _to_arrow(s: pd.Series, typ: pa.DataType | None = None) -> pa.Array:
    """One contiguous Arrow array for a pandas column (zero-copy for Arrow-backed columns)."""
    if s.dtype == object:
        arr = pa.array(s.to_numpy(dtype=object), from_pandas=True, type=typ)
    else:
        arr = pa.array(s.array, from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _codes(s: pd.Series | None, n: int) -> tuple[np.ndarray, list]:
    """Integer codes and their values (``None`` last) for a text column, without Python per row."""
    if s is None:
        return np.zeros(n, dtype=np.int64), [None]
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy(np.int64)
        values = [str(v) for v in s.cat.categories] + [None]
    else:
        arr = _to_arrow(s.astype(str).where(s.notna(), None) if s.dtype == object and
                        not all(isinstance(v, str) for v in s.dropna().unique()) else s, pa.string())
        if not pa.types.is_dictionary(arr.type):
            if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
                arr = arr.cast(pa.string())
            arr = arr.dictionary_encode()
        idx = arr.indices
        codes = (idx.fill_null(-1) if idx.null_count else idx).to_numpy(zero_copy_only=False).astype(np.int64)
        values = [None if v is None else str(v) for v in arr.dictionary.to_pylist()] + [None]
        if not idx.null_count:
            return codes, values
    codes = np.where(codes < 0, len(values) - 1, codes)
    return codes, values


def _int_column(s: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray, pa.Array | None]:
    """``(int64 values, valid mask, exact decimal array when the values are not whole numbers)``."""
    if s is None:
        return np.zeros(n, np.int64), np.zeros(n, bool), None
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu":
        return s.to_numpy(np.int64), np.ones(n, bool), None
    if isinstance(s.dtype, pd.ArrowDtype):
        arr = pa.array(s.array)
    elif s.dtype == object:
        arr = pa.array(s.to_numpy(dtype=object), from_pandas=True)
    elif isinstance(s.dtype, np.dtype) and s.dtype.kind == "f":
        v = s.to_numpy(np.float64)
        ok = np.isfinite(v)
        if np.all(v[ok] == np.round(v[ok])) and np.all(np.abs(v[ok]) < 2**53):
            return np.where(ok, v, 0).astype(np.int64), ok, None
        arr = pa.array(v, mask=~ok)
    else:
        arr = pa.array(s, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    valid = ~arr.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_integer(arr.type) or pa.types.is_null(arr.type):
        return arr.cast(pa.int64()).fill_null(0).to_numpy(), valid, None
    try:  # whole numbers: exact integer path
        return arr.cast(pa.int64(), safe=True).fill_null(0).to_numpy(), valid, None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        exact = arr if pa.types.is_decimal(arr.type) else pa.array(
            [None if x is None else Decimal(repr(x)) for x in arr.to_pylist()], _DEC)
        return np.zeros(n, np.int64), valid, exact


def _mul128(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact signed int64 x int64 -> 128-bit ``(lo uint64, hi int64)``.

    Products that fit in int64 (nearly all: tokens x price x 10^18) are multiplied directly;
    the rest go through 32-bit limbs.

    >>> lo, hi = _mul128(np.array([3, -2, 2**62]), np.array([5, 7, 8]))
    >>> [int(h) * 2**64 + int(l) for l, h in zip(lo, hi)] == [15, -14, 2**65]
    True
    """
    if not len(a):
        return a.view(np.uint64), a
    if max(abs(int(a.max())), abs(int(a.min()))) * max(abs(int(b.max())), abs(int(b.min()))) < 2**63:
        p = a * b
        return p.view(np.uint64), p >> np.int64(63)
    small = np.abs(a.astype(np.float64) * b.astype(np.float64)) < 4.0e18
    if small.any():
        lo = np.empty(len(a), np.uint64)
        hi = np.empty(len(a), np.int64)
        p = a[small] * b[small]
        lo[small], hi[small] = p.view(np.uint64), np.where(p < 0, -1, 0)
        big = ~small
        lo[big], hi[big] = _mul128_limbs(a[big], b[big])
        return lo, hi
    return _mul128_limbs(a, b)


def _mul128_limbs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    neg = (a < 0) ^ (b < 0)
    ua = np.abs(a).astype(np.uint64)
    ub = np.abs(b).astype(np.uint64)
    m32 = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    a0, a1 = ua & m32, ua >> s32
    b0, b1 = ub & m32, ub >> s32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> s32) + (p01 & m32) + (p10 & m32)
    lo = (p00 & m32) | ((mid & m32) << s32)
    hi = p11 + (p01 >> s32) + (p10 >> s32) + (mid >> s32)
    # two's complement negation where negative
    nlo = (~lo) + np.uint64(1)
    nhi = (~hi) + (nlo == 0).astype(np.uint64)
    lo = np.where(neg, nlo, lo)
    hi = np.where(neg, nhi, hi)
    return lo, hi.view(np.int64)


def _add128(x: tuple[np.ndarray, np.ndarray], y: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lo = x[0] + y[0]
    carry = (lo < x[0]).astype(np.int64)
    return lo, x[1] + y[1] + carry


def _decimal_from_int128(lo: np.ndarray, hi: np.ndarray, valid: np.ndarray) -> pa.Array:
    data = np.empty((len(lo), 2), dtype=np.uint64)
    data[:, 0] = lo
    data[:, 1] = hi.view(np.uint64)
    mask = None if valid.all() else pa.array(valid).buffers()[1]
    return pa.Array.from_buffers(_DEC, len(lo), [mask, pa.py_buffer(data)])


def _exact_cost_duckdb(qty: pa.Array, price_: pa.Array, req: pa.Array, fee: pa.Array) -> pa.Array:
    """Slow exact path for fractional quantities or prices beyond the integer fast path."""
    con = connect()
    try:
        con.register("x", pa.table({"q": qty.cast(_DEC), "p": price_, "r": req.cast(_DEC), "f": fee}))
        r = con.sql("SELECT CAST(COALESCE(CAST(q AS DECIMAL(38,9)) * p, 0) + COALESCE(CAST(r AS DECIMAL(38,9)) * f, 0)"
                    " AS DECIMAL(38,18)) AS c FROM x").to_arrow_table()
        return r.column("c").combine_chunks()
    finally:
        con.close()


def _dates(s: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """UTC day numbers since 1970-01-01 and a valid mask."""
    if s is None:
        return np.zeros(n, np.int32), np.zeros(n, bool)
    if isinstance(s.dtype, pd.ArrowDtype):
        arr = pa.array(s.array)
    else:
        ts = pd.to_datetime(s, utc=True, errors="coerce")
        arr = pa.array(ts.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_date(arr.type):
        arr = arr.cast(pa.date32())
        v = arr.cast(pa.int32()).fill_null(0).to_numpy()
        return v.astype(np.int32), ~arr.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(arr.type) and arr.type.tz is None:
        arr = arr.cast(pa.timestamp(arr.type.unit, "UTC"))
    arr = arr.cast(pa.timestamp("us", "UTC"))
    us = arr.cast(pa.int64()).fill_null(0).to_numpy()
    return np.floor_divide(us, 86_400_000_000).astype(np.int32), ~arr.is_null().to_numpy(zero_copy_only=False)


def price(usage: pd.DataFrame, catalogue: PriceCatalogue | None = None, *, at=None,
          as_model: str | None = None, prompt_tokens_column: str = "x_PromptTokens") -> pd.DataFrame:
    """Price token usage against the catalogue.

    Vectorized: the distinct (provider, model, token type) references are resolved once each;
    rows are matched to the price period and tier in force with numpy, and costs are exact
    128-bit integer products of whole token counts and prices scaled by 10^18 (fractional
    quantities take an exact decimal path in the engine).

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
        ``decimal.Decimal``; NULL when unpriced, never 0), ``x_UnitPrice`` (same type),
        ``x_PriceCurrency``, ``x_PriceEffectiveFrom`` (date), ``x_PriceSource`` and
        ``x_PriceReason`` (categoricals; the reason is NULL when priced, else why: unknown
        model, unknown token type, no price for the token type, no price in force on the date,
        no token count, no date).

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
    ca = _cat_arrays(catalogue)
    n = len(usage)

    # 1. distinct references -> combo codes
    parts = [_codes(_col(usage, c), n) for c in ("ProviderName", "x_ModelProvider", "x_Model", "x_TokenType")]
    combined = np.zeros(n, dtype=np.int64)
    for codes, values in parts:
        if len(values) > 1:
            combined *= len(values)
            combined += codes
    if np.prod([float(len(v)) for _, v in parts]) >= 2**62:  # pathological cardinality: decode per row
        keys = pd.MultiIndex.from_arrays([c for c, _ in parts])
        ucode, mi = pd.factorize(keys)
        uniq_vals = [tuple(parts[k][1][int(x)] for k, x in enumerate(t)) for t in mi]
    else:
        ucode, uniq = pd.factorize(combined, sort=False)
        uniq_vals = []
        for u in np.asarray(uniq, dtype=np.int64):
            vals, rest = [], int(u)
            for codes, values in reversed(parts):
                rest, k = divmod(rest, len(values))
                vals.append(values[k])
            uniq_vals.append(tuple(reversed(vals)))
    ucode = np.asarray(ucode, dtype=np.int64)

    target = None
    if as_model is not None:
        ap, _, am = as_model.rpartition("/")
        target = catalogue.resolve([ap] if ap else [], am)
    known = set(schema.TOKEN_TYPES)
    combos = []  # per unique combo: (cand rows, reason, is_request, label)
    for p1, p2, m, tt in uniq_vals:
        key = target if as_model is not None else catalogue.resolve([p1, p2], m)
        reason = None
        cand = np.empty(0, np.int64)
        if tt is None:
            reason = "no token type"
        elif tt not in known:
            reason = f"unknown token type '{tt}'"
        elif m is None and as_model is None:
            reason = "no model"
        elif key is None:
            reason = f"unknown model '{as_model if as_model is not None else m}'"
        else:
            cand = ca.index.get((key[0], key[1], tt), cand)
            if not len(cand):
                reason = f"no '{tt}' price for {key[0]}/{key[1]}"
        combos.append((cand, reason, tt == "request", f"'{tt}' price in force on {{}} for "
                       + (f"{key[0]}/{key[1]}" if key else "")))

    # 2. per-row date, prompt size and quantities
    if at is not None:
        d = np.full(n, (pd.Timestamp(at).date() - EPOCH).days, np.int32)
        d_ok = np.ones(n, bool)
    else:
        d, d_ok = _dates(_col(usage, "ChargePeriodStart"), n)
    prompt, prompt_ok = _int_column(_col(usage, prompt_tokens_column), n)[:2]
    prompt = np.where(prompt_ok, prompt, 0)
    tok, tok_ok, tok_exact = _int_column(_col(usage, "x_Tokens"), n)
    req, req_ok, req_exact = _int_column(_col(usage, "x_Requests"), n)

    # 3. match each row to the one catalogue row in force (period and tier). A combination
    #    with a single always-valid price needs no per-row test; the others are tested slot
    #    by slot on their own rows only.
    maxc = max((len(c[0]) for c in combos), default=0)
    cand = np.full((len(combos), max(maxc, 1)), -1, dtype=np.int64)
    for i, c in enumerate(combos):
        cand[i, :len(c[0])] = c[0]
    first = cand[:, 0]
    fc = np.where(first >= 0, first, 0)
    simple = (first >= 0) & (cand[:, 1:] < 0).all(axis=1) & (ca.from_days[fc] == 0) \
        & (ca.to_days[fc] == _NO_END) & (ca.tmin[fc] == 0) & (ca.tmax[fc] == _NO_MAX)
    chosen = np.where(simple, first, -1)[ucode]
    if not simple.all() and maxc:
        rows = np.flatnonzero(~simple[ucode])
        uc, dd, pp = ucode[rows], d[rows], prompt[rows]
        sub = np.full(len(rows), -1, dtype=np.int64)
        hits = np.zeros(len(rows), dtype=np.int8)
        for j in range(maxc):
            idx = cand[uc, j]
            ok = idx >= 0
            ic = np.where(ok, idx, 0)
            match = ok & (dd >= ca.from_days[ic]) & (dd < ca.to_days[ic]) \
                & ((ca.tmin[ic] == 0) | (pp > ca.tmin[ic])) & (pp <= ca.tmax[ic])
            sub = np.where(match, ic, sub)
            hits += match
        if np.any(hits > 1):
            raise ValueError(f"catalogue {catalogue.version} has overlapping price periods or tiers")
        chosen[rows] = sub
    is_req = np.array([c[2] for c in combos], bool)[ucode] if combos else np.zeros(n, bool)
    qty_ok = np.where(is_req, req_ok | tok_ok, tok_ok)

    # 4. reasons: per combo, then per row
    reason_cats = [c[1] for c in combos if c[1]]
    reason_cats = list(dict.fromkeys(reason_cats))
    rc_index = {r: i for i, r in enumerate(reason_cats)}
    combo_reason = np.array([rc_index[c[1]] if c[1] else -1 for c in combos], np.int64)
    reason = combo_reason[ucode] if combos else np.full(n, -1, np.int64)
    extra = {"no date": (reason < 0) & ~d_ok}
    extra["no quantity"] = (reason < 0) & d_ok & (chosen >= 0) & ~qty_ok
    for text, mask in extra.items():
        if mask.any():
            reason_cats.append(text)
            reason[mask] = len(reason_cats) - 1
    gap = (reason < 0) & (chosen < 0)
    if gap.any():  # no price in force on the row's date: one reason per (combo, date)
        rows = np.flatnonzero(gap)
        key = ucode[rows] * (2**32) + d[rows].astype(np.int64)
        kc, ku = pd.factorize(key)
        base = len(reason_cats)
        for k in np.asarray(ku, dtype=np.int64):
            day = EPOCH + dt.timedelta(days=int(k % (2**32)))
            reason_cats.append("no " + combos[int(k // (2**32))][3].format(day.isoformat()))
        reason[rows] = base + kc
    priced = reason < 0

    # 5. exact cost
    ic = np.where(priced, chosen, 0)
    qty = np.where(is_req & req_ok, req, tok)
    if ca.fits and tok_exact is None and req_exact is None:
        main = _mul128(np.where(priced & ~is_req, qty, 0), ca.unit_int[ic])
        fee_int = ca.fee_int[ic] if ca.fee_int.any() else None
        if fee_int is not None and fee_int.any():
            fee_qty = np.where(is_req, qty, np.where(req_ok, req, 0))
            cost_lo, cost_hi = _add128(main, _mul128(np.where(priced, fee_qty, 0), fee_int))
        else:
            cost_lo, cost_hi = main
        cost = _decimal_from_int128(cost_lo, cost_hi, priced)
    else:
        take = pa.array(ic)
        qty_arr = (tok_exact if tok_exact is not None else pa.array(tok, mask=~tok_ok)).cast(_DEC)
        req_arr = (req_exact if req_exact is not None else pa.array(req, mask=~req_ok)).cast(_DEC)
        isr = pa.array(is_req)
        q_main = pa.compute.if_else(isr, pa.nulls(n, _DEC), qty_arr)
        q_fee = pa.compute.if_else(isr, pa.compute.coalesce(req_arr, qty_arr), req_arr)
        cost = _exact_cost_duckdb(q_main, ca.unit.take(take), q_fee, ca.fee.take(take))
        cost = pa.compute.if_else(pa.array(priced), cost, pa.nulls(n, _DEC))

    # 6. attach
    out = usage.copy(deep=False)
    idx_arr = pa.array(ic, mask=~priced)
    out["x_PricedCost"] = pd.Series(pd.arrays.ArrowExtensionArray(cost), index=usage.index)
    out["x_UnitPrice"] = pd.Series(pd.arrays.ArrowExtensionArray(ca.unit.take(idx_arr)), index=usage.index)
    out["x_PriceCurrency"] = pd.Categorical.from_codes(np.where(priced, ca.currency_codes[ic], -1),
                                                        categories=ca.currencies or ["USD"])
    days = pa.array(ca.from_days[ic], type=pa.int32(), mask=~priced).cast(pa.date32())
    out["x_PriceEffectiveFrom"] = pd.Series(pd.arrays.ArrowExtensionArray(days), index=usage.index)
    out["x_PriceSource"] = pd.Categorical.from_codes(np.where(priced, ca.source_codes[ic], -1),
                                                      categories=ca.sources or ["none"])
    out["x_PriceReason"] = pd.Categorical.from_codes(reason, categories=reason_cats or ["none"])
    return out


# -- ledger re-pricing -------------------------------------------------------------------
_LEDGER_COLS = ["ChargePeriodStart", "ProviderName", "x_ModelProvider", "x_Model", "x_TokenType", "x_Tokens",
                "x_Requests", "BilledCost", "BillingCurrency", "x_BillingPeriod", "x_Team", "x_Feature",
                "x_Application", "x_Customer", "x_SourceFile", "x_SourceRow"]


def reprice_ledger(ledger_dir: str | Path, out: str | Path, *, at=None, as_model: str | None = None,
                   catalogue: PriceCatalogue | None = None,
                   overrides: str | Path | Sequence[str | Path] | None = None) -> Path:
    """Write the ledger's token rows with their cost as billed, priced at the time, and
    re-priced at ``at`` and/or as ``as_model``, side by side (``.parquet`` or ``.csv``).

    Columns: the row's identity and attribution, ``BilledCost`` / ``BillingCurrency`` (as
    billed), ``x_CostAtTime`` (catalogue prices in force on the row's date), ``x_CostRepriced``
    (at ``at`` and/or as ``as_model``; only when one is given), ``x_PriceCurrency``,
    ``x_PriceReason`` / ``x_RepriceReason`` and ``x_PriceCatalogue`` (the catalogue version).
    Money is written exactly (Parquet ``decimal128(38,18)``, CSV decimal text). The
    catalogue is ``catalogue`` if given, else genai-prices plus the ``overrides`` YAML files.

    Returns:
        The path written.

    Raises:
        LedgerError: the folder is not a ledger.

    Example:
        >>> reprice_ledger("/no/such/ledger", "out.parquet")
        Traceback (most recent call last):
        ...
        aifinops.errors.LedgerError: /no/such/ledger: ledger folder not found
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
    catalogue = catalogue or PriceCatalogue.load(overrides)
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
