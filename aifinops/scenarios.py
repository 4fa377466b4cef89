"""What-if scenarios on AI token spend, re-priced with the price catalogue.

A scenario starts from the token mix of a base window of the ledger (tokens per provider,
model and token type, scaled to a 30-day month) and changes its drivers:

* ``growth_pct``: monthly volume growth (compounding);
* ``switch_from`` / ``switch_to`` / ``routing_share``: route that share of a model's tokens to
  another model, re-priced with :func:`aifinops.price.price` ``as_model`` (1.0 = a full switch);
* ``price_cut_pct``: a cut on every token price;
* ``cache_hit_rate``: the share of prompt tokens served from the prompt cache (priced as
  ``cached_input``; None keeps each model's current rate);
* ``batch_share``: the share of (uncached) input and output tokens sent through the Batch API
  (priced as ``batch_input`` / ``batch_output``, or at :data:`BATCH_DISCOUNT` off when the
  catalogue has no batch price);
* ``launch_*``: a new feature from month ``launch_month``: requests per day x input and output
  tokens per request on ``launch_model``.

:func:`run` returns the exact month-by-month plan (``decimal.Decimal``) and Monte Carlo
P10/P50/P90 bands over the uncertain drivers (growth, routing share, cache hit rate, launch
volume), plus routing and caching savings stated as realised (what the current mix already
saves) vs potential (what the scenario would add). :data:`SCENARIOS` holds named parameter
sets, the papermill parameters of notebook 05.

Simplifications, stated: prices are per-token list prices at one date (``at``; long-context
tiers and commitments are not modelled); batch and cache discounts do not stack (batch applies
to uncached input); tokens of other types (cache writes, reasoning, audio...) scale with volume
and are re-priced on a switch.

Example:
    >>> base = pd.DataFrame({"ProviderName": ["OpenAI"] * 2, "x_ModelProvider": ["openai"] * 2,
    ...                      "x_Model": ["gpt-4o"] * 2, "x_TokenType": ["input", "output"],
    ...                      "x_Tokens": [Decimal(10**6), Decimal(10**6)]})
    >>> r = run(Scenario(months=1, switch_from=["gpt-4o"], switch_to="gpt-4o-mini", routing_share=0.5),
    ...         base=base, at="2026-01-01")
    >>> from aifinops.money import trim
    >>> str(trim(r.plan["baseline"].iloc[0])), str(trim(r.plan["scenario"].iloc[0]))  # 2.50 + 10 vs half at 0.15 + 0.60
    ('12.5', '6.625')
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from .errors import ConfigError

__all__ = [
    "BATCH_DISCOUNT",
    "SCENARIOS",
    "Scenario",
    "ScenarioResult",
    "base_usage",
    "chart",
    "compare",
    "notebook_parameters",
    "run",
    "run_presets",
    "scenario_parameters",
]

#: discount assumed for batch tokens when the catalogue has no batch price (OpenAI, Anthropic
#: and Gemini batch APIs bill 50 % of the synchronous price)
BATCH_DISCOUNT = Decimal("0.5")
_KEYS = ["ProviderName", "x_ModelProvider", "x_Model"]


@dataclass
class Scenario:
    """Drivers of a what-if scenario (see the module docstring). Percentages are in percent,
    shares and rates in [0, 1]. ``*_sd`` are standard deviations for the Monte Carlo."""

    name: str = "scenario"
    months: int = 12
    growth_pct: float = 0.0
    growth_sd_pct: float = 0.0
    switch_from: list[str] = field(default_factory=list)
    switch_to: str | None = None
    routing_share: float = 0.0
    routing_sd: float = 0.0
    price_cut_pct: float = 0.0
    cache_hit_rate: float | None = None
    cache_sd: float = 0.0
    batch_share: float = 0.0
    launch_model: str | None = None
    launch_provider: str | None = None
    launch_requests_per_day: float = 0.0
    launch_input_tokens: float = 0.0
    launch_output_tokens: float = 0.0
    launch_month: int = 1
    launch_sd_pct: float = 0.0
    simulations: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.switch_from, str):
            self.switch_from = [self.switch_from]
        for name in ("routing_share", "batch_share"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {v}", column=name)
        if self.cache_hit_rate is not None and not 0 <= self.cache_hit_rate <= 1:
            raise ConfigError(f"cache_hit_rate must be in [0, 1], got {self.cache_hit_rate}", column="cache_hit_rate")
        if not 0 <= self.price_cut_pct <= 100:
            raise ConfigError(f"price_cut_pct must be in [0, 100], got {self.price_cut_pct}", column="price_cut_pct")
        if self.months < 1:
            raise ConfigError(f"months must be at least 1, got {self.months}", column="months")
        if self.routing_share and (not self.switch_from or not self.switch_to):
            raise ConfigError("routing_share needs switch_from and switch_to", column="switch_to")
        if self.launch_requests_per_day and not self.launch_model:
            raise ConfigError("a launch needs launch_model", column="launch_model")

    @classmethod
    def from_parameters(cls, params: Mapping[str, Any]) -> Scenario:
        """Build from a parameter dict (papermill parameters; unknown keys are ignored).

        Example:
            >>> Scenario.from_parameters({"growth_pct": 5, "period": "2026-03"}).growth_pct
            5
        """
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in params.items() if k in names}
        if "scenario" in params and "name" not in params:
            kw["name"] = params["scenario"]
        # notebook parameters cannot be None: -1 / "" mean "not set"
        if kw.get("cache_hit_rate") is not None and kw["cache_hit_rate"] < 0:
            kw["cache_hit_rate"] = None
        for k in ("switch_to", "launch_model", "launch_provider"):
            if kw.get(k) == "":
                kw[k] = None
        return cls(**kw)


#: named scenarios: papermill parameter sets for notebook 05 (``scenario_parameters(name)``)
SCENARIOS: dict[str, dict[str, Any]] = {
    "baseline": {"growth_pct": 0.0},
    "growth": {"growth_pct": 8.0, "growth_sd_pct": 4.0},
    "route_to_mini": {"growth_pct": 5.0, "growth_sd_pct": 3.0, "switch_from": ["gpt-4o"],
                      "switch_to": "gpt-4.1-mini", "routing_share": 0.6, "routing_sd": 0.15},
    "sonnet_to_haiku": {"growth_pct": 5.0, "growth_sd_pct": 3.0, "switch_from": ["claude-sonnet-4"],
                        "switch_to": "claude-haiku-4-5", "routing_share": 0.4, "routing_sd": 0.1},
    "price_cut": {"growth_pct": 5.0, "price_cut_pct": 20.0},
    "caching": {"growth_pct": 5.0, "cache_hit_rate": 0.6, "cache_sd": 0.1},
    "batch": {"growth_pct": 5.0, "batch_share": 0.3},
    "feature_launch": {"growth_pct": 5.0, "growth_sd_pct": 3.0, "launch_model": "claude-sonnet-4",
                       "launch_provider": "Anthropic", "launch_requests_per_day": 20000.0,
                       "launch_input_tokens": 3000.0, "launch_output_tokens": 500.0, "launch_month": 3,
                       "launch_sd_pct": 40.0},
}


def scenario_parameters(name: str, **overrides) -> dict[str, Any]:
    """The papermill parameters of a named scenario (every :class:`Scenario` field).

    Example:
        >>> p = scenario_parameters("caching")
        >>> p["scenario"], p["cache_hit_rate"], p["months"]
        ('caching', 0.6, 12)
    """
    if name not in SCENARIOS:
        raise ConfigError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})", column="scenario")
    s = Scenario(name=name, **{**SCENARIOS[name], **overrides})
    d = asdict(s)
    d["scenario"] = d.pop("name")
    # notebook parameters cannot be None (see Scenario.from_parameters)
    d["cache_hit_rate"] = -1.0 if d["cache_hit_rate"] is None else d["cache_hit_rate"]
    for k in ("switch_to", "launch_model", "launch_provider"):
        d[k] = d[k] or ""
    return d


def notebook_parameters(name: str, **overrides) -> dict[str, Any]:
    """The papermill parameter set of notebook 05 for a named scenario (its drivers live in
    :data:`SCENARIOS`; ``overrides`` change some of them).

    Example:
        >>> notebook_parameters("caching", cache_hit_rate=0.8)
        {'scenario': 'caching', 'overrides': {'cache_hit_rate': 0.8}}
    """
    scenario_parameters(name, **overrides)  # validates the name and the drivers
    return {"scenario": name, "overrides": dict(overrides)}


def base_usage(ledger, *, days: int = 30, end=None) -> pd.DataFrame:
    """Tokens per provider, model and token type over the last ``days`` days before ``end``
    (default: the ledger's last day), scaled to a 30-day month (exact Decimal).

    Example:
        >>> from aifinops.report import open_ledger
        >>> base_usage(open_ledger("", inputs=None)).empty
        True
    """
    from .forecast import token_series

    t = token_series(ledger, end=end)
    cols = _KEYS + ["x_TokenType", "x_Tokens"]
    if t.empty:
        return pd.DataFrame(columns=cols)
    t["ds"] = pd.to_datetime(t["ds"])
    last = t["ds"].max()
    w = t[t["ds"] > last - pd.Timedelta(days=days)]
    for k in _KEYS:
        w[k] = w[k].astype(object).where(w[k].notna(), "")
    g = w.groupby(_KEYS + ["x_TokenType"], as_index=False)["x_Tokens"].agg(lambda s: sum(s, Decimal(0)))
    g["x_Tokens"] = g["x_Tokens"] * Decimal(30) / Decimal(days)
    g.attrs["window_end"] = last.date()
    return g[cols]


def _unit_prices(groups: pd.DataFrame, at, as_model: str | None, catalogue) -> pd.DataFrame:
    """Per group: unit prices of input, cached_input, output, batch_input, batch_output."""
    from .price import price

    types = ["input", "cached_input", "output", "batch_input", "batch_output"]
    u = groups.loc[groups.index.repeat(len(types)), _KEYS].reset_index(drop=True)
    u["x_TokenType"] = types * len(groups)
    u["x_Tokens"] = 1
    u["ChargePeriodStart"] = pd.Timestamp(at, tz="UTC")
    p = price(u.replace("", None), catalogue, as_model=as_model)
    vals = [None if _missing(v) else v for v in p["x_PricedCost"].astype(object)]
    wide = pd.DataFrame(np.array(vals, dtype=object).reshape(len(groups), len(types)), columns=types)
    wide.index = pd.MultiIndex.from_frame(groups[_KEYS].reset_index(drop=True))
    return wide


def _other_cost(rows: pd.DataFrame, at, as_model: str | None, catalogue) -> tuple[dict, dict, list]:
    """Monthly cost of the other token types per group, as priced and as ``as_model`` (a row
    the target model has no price for keeps its own price); and the unpriced groups."""
    from .price import price

    if rows.empty:
        return {}, {}, []
    u = rows.copy()
    u["ChargePeriodStart"] = pd.Timestamp(at, tz="UTC")
    u = u.replace("", None)
    own = list(price(u, catalogue)["x_PricedCost"].astype(object))
    sw = list(price(u, catalogue, as_model=as_model)["x_PricedCost"].astype(object)) if as_model else own
    out: dict = {}
    out_sw: dict = {}
    unpriced: list = []
    for key, c, cs in zip(map(tuple, rows[_KEYS].to_numpy()), own, sw):
        if _missing(c):
            if key not in unpriced:
                unpriced.append(key)
            continue
        out[key] = out.get(key, Decimal(0)) + c
        out_sw[key] = out_sw.get(key, Decimal(0)) + (c if _missing(cs) else cs)
    return out, out_sw, unpriced


@dataclass
class _Groups:
    frame: pd.DataFrame  # per (provider, model provider, model): P, h0, O, units, switched units, other costs
    unpriced: list


def _groups(base: pd.DataFrame, sc: Scenario, at, catalogue) -> _Groups:
    b = base.copy()
    for k in _KEYS:
        b[k] = b[k].astype(object).where(b[k].notna(), "")
    b["x_Tokens"] = [Decimal(str(v)) for v in b["x_Tokens"]]
    piv = []
    for key, g in b.groupby(_KEYS, sort=True):
        piv.append((key, dict(zip(g["x_TokenType"], g["x_Tokens"])), False))
    if sc.launch_model and sc.launch_requests_per_day:  # the new feature: its own group, tokens added per month
        piv.append(((sc.launch_provider or "", "", sc.launch_model), {}, True))
    groups = pd.DataFrame([dict(zip(_KEYS, k)) for k, _, _ in piv]).drop_duplicates()
    if groups.empty:
        return _Groups(groups, [])
    units = _unit_prices(groups, at, None, catalogue)
    sw_units = _unit_prices(groups, at, sc.switch_to, catalogue) if sc.switch_to else units
    other_rows = b[~b["x_TokenType"].isin(["input", "cached_input", "output"])]
    other, other_sw, other_unpriced = _other_cost(other_rows, at, sc.switch_to, catalogue)
    recs, unpriced = [], []
    for key, d, is_launch in piv:
        u = units.loc[key]
        us = sw_units.loc[key]
        switched = key[2] in sc.switch_from
        if _missing(u["input"]) or _missing(u["output"]):
            if is_launch:
                raise ConfigError(f"no input/output price for the launch model {key[2]!r}", column="launch_model")
            unpriced.append(key)
            continue
        if switched and (_missing(us["input"]) or _missing(us["output"])):
            raise ConfigError(f"cannot price {key[2]} as {sc.switch_to!r}: no input/output price", column="switch_to")
        P = d.get("input", Decimal(0)) + d.get("cached_input", Decimal(0))
        rec = {
            **dict(zip(_KEYS, key)), "prompt": P, "output": d.get("output", Decimal(0)),
            "h0": (d.get("cached_input", Decimal(0)) / P) if P else Decimal(0),
            "switched": switched, "launch": is_launch,
        }
        for name, src in (("", u), ("s_", us if switched else u)):
            rec[name + "u_in"] = src["input"]
            rec[name + "u_c"] = src["cached_input"] if not _missing(src["cached_input"]) else src["input"]
            rec[name + "u_out"] = src["output"]
            rec[name + "u_bin"] = (src["batch_input"] if not _missing(src["batch_input"])
                                   else src["input"] * (1 - BATCH_DISCOUNT))
            rec[name + "u_bout"] = (src["batch_output"] if not _missing(src["batch_output"])
                                    else src["output"] * (1 - BATCH_DISCOUNT))
        rec["other"] = Decimal(0) if is_launch else (other.get(key) or Decimal(0))
        rec["s_other"] = ((other_sw.get(key) or Decimal(0)) if switched else rec["other"]) if not is_launch else Decimal(0)
        recs.append(rec)
    unpriced += [k for k in other_unpriced if k not in unpriced]
    return _Groups(pd.DataFrame(recs), unpriced)


def _q(d: Decimal) -> Decimal:
    """Round to the ledger's 18 decimal places."""
    return Decimal(d).quantize(Decimal(1).scaleb(-18))


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _cost(g: pd.DataFrame, *, r, h, b, cut, volume, launch_tokens) -> Any:
    """Monthly cost of the groups (exact with Decimal arguments, vectorised with numpy floats).

    ``r``, ``h``: routing share and cache hit rate (h None: each group's own); ``volume``:
    volume multiplier; ``launch_tokens``: (prompt, output) tokens of the launch group."""
    total = 0
    one = type(cut)(1)
    for rec in g.to_dict("records"):
        P, O = rec["prompt"], rec["output"]
        other = rec["other"]
        hh = rec["h0"] if h is None else h
        if not isinstance(cut, Decimal):
            P, O, other = float(P), float(O), float(other)
            hh = float(hh) if h is None else hh
        if rec["launch"]:
            P, O = P + launch_tokens[0], O + launch_tokens[1]

        def at(prefix, P=P, O=O, hh=hh, rec=rec):
            u = {k: (rec[prefix + k] if isinstance(cut, Decimal) else float(rec[prefix + k]))
                 for k in ("u_in", "u_c", "u_out", "u_bin", "u_bout")}
            o = rec[prefix + "other"] if isinstance(cut, Decimal) else float(rec[prefix + "other"])
            return (P * ((one - hh) * ((one - b) * u["u_in"] + b * u["u_bin"]) + hh * u["u_c"])
                    + O * ((one - b) * u["u_out"] + b * u["u_bout"]) + o)

        rr = r if rec["switched"] else 0 * r
        total = total + volume * ((one - rr) * at("") + rr * at("s_")) if not rec["launch"] else \
            total + ((one - rr) * at("") + rr * at("s_"))
    return total * (one - cut)


@dataclass
class ScenarioResult:
    """A scenario's outcome.

    Attributes:
        scenario: the drivers.
        plan: per month ``month`` (1..n), ``baseline`` (exact cost at today's mix and volume) and
            ``scenario`` (exact cost at the scenario's expected drivers), ``p10``/``p50``/``p90``
            (Monte Carlo, floats).
        totals: one row: the horizon's baseline, scenario, p10, p50, p90 and change.
        savings: per lever (``routing``, ``caching``, ``batch``, ``price_cut``): ``realised``
            (what the current mix already saves per month) and ``potential`` (what this scenario adds
            per month at today's volume), exact.
        unpriced: (provider, model provider, model) groups left out (no catalogue price).
        priced_at: the price date.
    """

    scenario: Scenario
    plan: pd.DataFrame
    totals: pd.DataFrame
    savings: pd.DataFrame
    unpriced: list
    priced_at: dt.date


def run(sc: Scenario, ledger=None, *, base: pd.DataFrame | None = None, at=None, catalogue=None,
        base_days: int = 30) -> ScenarioResult:
    """Run a scenario on the ledger's recent token mix (or on ``base``).

    Args:
        sc: the drivers.
        ledger: a Ledger (read with :func:`base_usage`) unless ``base`` is given.
        base: monthly tokens per ``ProviderName``, ``x_ModelProvider``, ``x_Model``, ``x_TokenType``.
        at: price date (default the base window's last day, else today).
        catalogue: a PriceCatalogue (default the built-in one).
        base_days: base window length.

    Returns:
        A :class:`ScenarioResult`.
    """
    if base is None:
        if ledger is None:
            raise ConfigError("give a ledger or a base usage table", column="base")
        base = base_usage(ledger, days=base_days)
    at = pd.Timestamp(at or base.attrs.get("window_end") or dt.date.today()).date()
    g = _groups(base, sc, at, catalogue)
    if g.frame.empty:
        raise ConfigError("no priced token usage to run a scenario on", column="x_Tokens")
    D = Decimal
    r, b, cut = D(str(sc.routing_share)), D(str(sc.batch_share)), D(str(sc.price_cut_pct)) / 100
    h = None if sc.cache_hit_rate is None else D(str(sc.cache_hit_rate))
    growth = 1 + D(str(sc.growth_pct)) / 100
    launch_m = (D(str(sc.launch_requests_per_day)) * 30 * D(str(sc.launch_input_tokens)),
                D(str(sc.launch_requests_per_day)) * 30 * D(str(sc.launch_output_tokens)))
    zero = (D(0), D(0))
    rows = []
    for m in range(1, sc.months + 1):
        vol = growth ** (m - 1)
        lt = launch_m if m >= sc.launch_month else zero
        rows.append({
            "month": m,
            "baseline": _q(_cost(g.frame, r=D(0), h=None, b=D(0), cut=D(0), volume=D(1), launch_tokens=zero)),
            "scenario": _q(_cost(g.frame, r=r, h=h, b=b, cut=cut, volume=vol, launch_tokens=lt)),
        })
    plan = pd.DataFrame(rows)
    # Monte Carlo over the uncertain drivers
    rng = np.random.default_rng(sc.seed)
    n = sc.simulations
    gr = rng.normal(sc.growth_pct, sc.growth_sd_pct, n) / 100
    rs = np.clip(rng.normal(sc.routing_share, sc.routing_sd, n), 0, 1)
    hs = (np.clip(rng.normal(sc.cache_hit_rate, sc.cache_sd, n), 0, 1) if sc.cache_hit_rate is not None else None)
    ls = np.maximum(rng.normal(1.0, sc.launch_sd_pct / 100, n), 0)
    sims = np.zeros((n, sc.months))
    fcut = float(cut)
    for m in range(1, sc.months + 1):
        vol = (1 + gr) ** (m - 1)
        lt = (float(launch_m[0]) * ls, float(launch_m[1]) * ls) if m >= sc.launch_month else (0.0, 0.0)
        sims[:, m - 1] = _cost(g.frame, r=rs, h=hs, b=float(b), cut=fcut, volume=vol, launch_tokens=lt)
    plan["p10"], plan["p50"], plan["p90"] = (np.percentile(sims, q, axis=0) for q in (10, 50, 90))
    tot = sims.sum(axis=1)
    base_total = sum(plan["baseline"], D(0))
    scen_total = sum(plan["scenario"], D(0))
    totals = pd.DataFrame([{
        "months": sc.months, "baseline": base_total, "scenario": scen_total, "change": scen_total - base_total,
        "change_pct": float((scen_total - base_total) / base_total * 100) if base_total else math.nan,
        "p10": float(np.percentile(tot, 10)), "p50": float(np.percentile(tot, 50)),
        "p90": float(np.percentile(tot, 90)),
    }])
    savings = _savings(g.frame, sc, r, h, b, cut)
    return ScenarioResult(sc, plan, totals, savings, g.unpriced, at)


def _savings(g: pd.DataFrame, sc: Scenario, r, h, b, cut) -> pd.DataFrame:
    D = Decimal
    zero = (D(0), D(0))
    kw = {"volume": D(1), "launch_tokens": zero}
    now = _cost(g, r=D(0), h=None, b=D(0), cut=D(0), **kw)
    rows = []
    # caching realised: the cached prompt tokens priced as plain input, minus their actual price
    realised_cache = sum(((rec["prompt"] * rec["h0"]) * (rec["u_in"] - rec["u_c"]) for rec in g.to_dict("records")),
                         D(0))
    pot_cache = now - _cost(g, r=D(0), h=h, b=D(0), cut=D(0), **kw) if h is not None else D(0)
    rows.append({"lever": "caching", "realised": realised_cache, "potential": pot_cache})
    # routing realised: tokens already on the target model, priced as the source model
    realised_route = D(0)
    if sc.switch_to and sc.switch_from:
        tgt = g[g["x_Model"] == sc.switch_to]
        src = g[g["switched"]]
        if len(tgt) and len(src):
            s0 = src.iloc[0]
            for rec in tgt.to_dict("records"):
                P, O, hh = rec["prompt"], rec["output"], rec["h0"]
                as_src = P * ((1 - hh) * s0["u_in"] + hh * s0["u_c"]) + O * s0["u_out"]
                own = P * ((1 - hh) * rec["u_in"] + hh * rec["u_c"]) + O * rec["u_out"]
                realised_route += as_src - own
    pot_route = now - _cost(g, r=r, h=None, b=D(0), cut=D(0), **kw)
    rows.append({"lever": "routing", "realised": realised_route, "potential": pot_route})
    rows.append({"lever": "batch", "realised": D(0), "potential": now - _cost(g, r=D(0), h=None, b=b, cut=D(0), **kw)})
    rows.append({"lever": "price_cut", "realised": D(0), "potential": now * cut})
    out = pd.DataFrame(rows)
    for c in ("realised", "potential"):
        out[c] = out[c].map(_q)
    return out


def compare(results: Sequence[ScenarioResult]) -> pd.DataFrame:
    """One row per scenario: its totals over the horizon (exact baseline and scenario, Monte
    Carlo P10/P50/P90).

    Example:
        >>> compare([]).empty
        True
    """
    if not results:
        return pd.DataFrame(columns=["scenario", "months", "baseline", "scenario_cost", "change", "change_pct",
                                     "p10", "p50", "p90"])
    rows = []
    for res in results:
        t = res.totals.iloc[0].to_dict()
        t["scenario_cost"] = t.pop("scenario")
        rows.append({"scenario": res.scenario.name, **t})
    return pd.DataFrame(rows)[["scenario", "months", "baseline", "scenario_cost", "change", "change_pct",
                               "p10", "p50", "p90"]]


def chart(results: Sequence[ScenarioResult], *, title: str = "Scenario cost per month (P10-P90 band)"):
    """Altair chart: each scenario's monthly P50 with its P10-P90 band and the flat baseline.

    Example:
        >>> b = pd.DataFrame({"ProviderName": ["OpenAI"], "x_ModelProvider": ["openai"], "x_Model": ["gpt-4o"],
        ...                   "x_TokenType": ["input"], "x_Tokens": [Decimal(10**6)]})
        >>> type(chart([run(Scenario(months=2), base=b, at="2026-01-01")])).__name__
        'LayerChart'
    """
    import altair as alt

    rows = []
    for r in results:
        p = r.plan
        rows.append(pd.DataFrame({"scenario": r.scenario.name, "month": p["month"], "p10": p["p10"].astype(float),
                                  "p50": p["p50"].astype(float), "p90": p["p90"].astype(float),
                                  "baseline": p["baseline"].map(float)}))
    data = pd.concat(rows, ignore_index=True)
    base = alt.Chart(data).encode(x=alt.X("month:O", title="month ahead"), color=alt.Color("scenario:N"))
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("p10:Q", title="cost"), y2="p90:Q")
    mid = base.mark_line(point=True).encode(y="p50:Q", tooltip=["scenario:N", "month:O", "p10:Q", "p50:Q", "p90:Q"])
    flat = alt.Chart(data).mark_rule(strokeDash=[4, 3], color="gray").encode(y="mean(baseline):Q")
    return alt.layer(band, mid, flat).properties(width=620, height=260, title=title)


def run_presets(base: pd.DataFrame, names: Sequence[str] | None = None, *, at=None, catalogue=None,
                **overrides) -> list[ScenarioResult]:
    """Run the named scenarios (:data:`SCENARIOS`, default all) on one base usage table.

    Example:
        >>> b = pd.DataFrame({"ProviderName": ["OpenAI"], "x_ModelProvider": ["openai"], "x_Model": ["gpt-4o"],
        ...                   "x_TokenType": ["input"], "x_Tokens": [Decimal(10**6)]})
        >>> [r.scenario.name for r in run_presets(b, ["baseline", "price_cut"], at="2026-01-01", months=1)]
        ['baseline', 'price_cut']
    """
    out = []
    for name in names or list(SCENARIOS):
        out.append(run(Scenario.from_parameters(scenario_parameters(name, **overrides)), base=base, at=at,
                       catalogue=catalogue))
    return out
