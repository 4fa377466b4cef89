"""Shared-cost allocation, showback and chargeback.

Shared cost (a platform team, a shared GPU cluster, untagged spend, support) is split over
owners (teams by default) by rules read from YAML (see ``templates/allocation.yaml``)::

    target: x_Team                 # the column that owns cost after allocation
    cost_column: EffectiveCost     # amortized cost (BilledCost for cash view)
    places: 2                      # amounts are rounded to cents; the remainder is kept exact
    cost_centers: {search: CC-110} # optional; else each team's main cost center in the ledger
    rules:                         # applied in order (step-down)
      - name: untagged-llm-by-tokens
        pool: {x_Team: null, ServiceCategory: AI and Machine Learning}
        driver: tokens             # cost | tokens | requests | gpu_hours | even | fixed | kpi
      - name: platform-even
        pool: {x_Team: platform}
        driver: even
        targets: [search, assistant, support-ai]
      - name: support-by-users
        pool: {x_Team: support-ai}
        driver: kpi
        kpi: active_users          # KPI metric whose dimension is the target (team)

How it works (:func:`allocate`):

1. The engine sums the billed cost (``x_CostAuthority = 'invoice'``) per billing period,
   currency, target and every column a pool names: the *entries*. Entries whose target is
   NULL are the ``(untagged)`` bucket, visible until a rule allocates them.
2. Rules run in order. A rule's *pool* is every current entry matching its selector (a
   column -> value or list of values; ``null`` matches NULL), so a later rule can re-allocate
   what an earlier one gave (step-down). Each pool entry is split over the targets by the
   rule's driver for that period (:data:`DRIVERS`); the targets default to every owner with
   a positive driver, minus the pool's own owners.
3. :func:`split` rounds each share to ``places`` and gives the rounding remainder to the
   largest share (ties: first by name), so the allocated amounts add up to the pool
   exactly. A pool whose driver is zero in a period stays where it is, listed in
   :attr:`Allocation.unallocated`.

Every allocated amount keeps its rule (a chain ``a > b`` after re-allocation), the pool's
owner, the driver, the driver value and total and the coefficient; the pool entry itself is
cancelled by an ``allocated_out`` line, so the detail adds up to the ledger's billed total
per period and currency (:meth:`Allocation.check`).

Example:
    >>> from decimal import Decimal
    >>> split(Decimal("100"), {"a": Decimal(1), "b": Decimal(1), "c": Decimal(1)})
    {'a': Decimal('33.34'), 'b': Decimal('33.33'), 'c': Decimal('33.33')}
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

import pandas as pd
import yaml

from . import schema
from .errors import AifinopsError, ConfigError
from .money import trim
from .sql import lit, q

__all__ = [
    "DEFAULT_FEATURE_RULES",
    "DRIVERS",
    "UNTAGGED",
    "Allocation",
    "ConservationError",
    "Rule",
    "Rules",
    "allocate",
    "load_rules",
    "split",
]

#: driver name -> what it splits by
DRIVERS: dict[str, str] = {
    "cost": "the targets' own billed cost in the period and currency (after earlier rules)",
    "tokens": "the targets' tokens (x_Tokens) in the period",
    "requests": "the targets' model requests (x_Requests) in the period",
    "gpu_hours": "the targets' GPU-hours (x_GpuHours) in the period",
    "even": "equal shares among the targets",
    "fixed": "fixed percentages (shares, adding up to 100)",
    "kpi": "a business KPI of the targets in the period (kpi: metric name; see aifinops.kpi)",
}
_USAGE = {"tokens": "x_Tokens", "requests": "x_Requests", "gpu_hours": "x_GpuHours"}
UNTAGGED = "(untagged)"
_KEYS = ("rules", "target", "cost_column", "places", "cost_centers")
_RULE_KEYS = ("name", "pool", "driver", "targets", "shares", "kpi", "driver_where", "description")


#: rules giving AI spend that carries no feature (LLM API invoices) to features, in proportion
#: to the tokens the gateway logs saw per feature (gateway rows carry feature metadata)
DEFAULT_FEATURE_RULES: dict = {
    "target": "x_Feature",
    "rules": [{"name": "unfeatured-ai-by-gateway-tokens",
               "pool": {"x_Feature": None, "ServiceCategory": "AI and Machine Learning"},
               "driver": "tokens", "driver_where": "x_CostAuthority = 'estimate'"}],
}


class ConservationError(AifinopsError, ArithmeticError):
    """Allocated amounts do not add up to the cost they split (a bug, never expected)."""


@dataclass(frozen=True)
class Rule:
    """One allocation rule (see the module docs).

    Attributes:
        name: shown in every line it allocates.
        pool: column -> tuple of accepted values (``None`` = NULL).
        driver: one of :data:`DRIVERS`.
        targets: restrict the receivers (default: all owners with a positive driver).
        shares: ``fixed`` driver: target -> percent.
        kpi: ``kpi`` driver: the KPI metric.
        driver_where: SQL condition restricting the ledger rows of usage drivers.
    """

    name: str
    pool: dict[str, tuple]
    driver: str
    targets: tuple[str, ...] | None = None
    shares: dict[str, Decimal] | None = None
    kpi: str | None = None
    driver_where: str | None = None

    def matches(self, attrs: dict) -> bool:
        return all(attrs.get(c) in vals for c, vals in self.pool.items())

    def describe_pool(self) -> str:
        return ", ".join(f"{c}={'|'.join('NULL' if v is None else str(v) for v in vals)}"
                         for c, vals in self.pool.items())


@dataclass(frozen=True)
class Rules:
    """A parsed allocation file."""

    rules: tuple[Rule, ...] = ()
    target: str = "x_Team"
    cost_column: str = "EffectiveCost"
    places: int = 2
    cost_centers: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """The ledger columns entries are grouped by: the target, then pool columns."""
        cols = [self.target]
        for r in self.rules:
            cols += [c for c in r.pool if c not in cols]
        return cols


def _err(msg: str, file: str, row: int | None = None, column: str | None = None) -> ConfigError:
    return ConfigError(msg, file=file, row=row, column=column)


def load_rules(source: str | Path | dict) -> Rules:
    """Parse allocation rules from a YAML file or an already loaded dict.

    Raises:
        ConfigError: naming the file, the rule number (as row) and the key at fault.

    Example:
        >>> r = load_rules({"rules": [{"name": "u", "pool": {"x_Team": None}, "driver": "even"}]})
        >>> r.rules[0].pool, r.target
        ({'x_Team': (None,)}, 'x_Team')
    """
    label = "<rules>"
    if isinstance(source, dict):
        doc = source
    else:
        label = str(source)
        try:
            doc = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise _err("allocation file not found", label) from None
        except yaml.YAMLError as e:
            raise _err(f"invalid YAML: {e}", label) from None
    if not isinstance(doc, dict):
        raise _err("expected a mapping with 'rules'", label)
    for k in doc:
        if k not in _KEYS:
            raise _err(f"unknown key (known: {', '.join(_KEYS)})", label, column=str(k))
    target = str(doc.get("target", "x_Team"))
    cost_column = str(doc.get("cost_column", "EffectiveCost"))
    if target not in schema.COLUMNS:
        raise _err("target is not a ledger column", label, column="target")
    if cost_column not in schema.MONEY_COLUMNS:
        raise _err(f"cost_column must be one of {', '.join(schema.MONEY_COLUMNS)}", label, column="cost_column")
    places = doc.get("places", 2)
    if not isinstance(places, int) or not 0 <= places <= 18:
        raise _err("places must be an integer 0..18", label, column="places")
    cc = doc.get("cost_centers") or {}
    if not isinstance(cc, dict):
        raise _err("cost_centers must map target -> cost center", label, column="cost_centers")
    rules: list[Rule] = []
    names: set[str] = set()
    for i, r in enumerate(doc.get("rules") or [], start=1):
        if not isinstance(r, dict):
            raise _err("a rule must be a mapping", label, row=i)
        for k in r:
            if k not in _RULE_KEYS:
                raise _err(f"unknown rule key (known: {', '.join(_RULE_KEYS)})", label, row=i, column=str(k))
        name = str(r.get("name") or f"rule-{i}")
        if name in names:
            raise _err(f"duplicate rule name {name!r}", label, row=i, column="name")
        names.add(name)
        pool = r.get("pool")
        if not isinstance(pool, dict) or not pool:
            raise _err("pool must map ledger columns to values", label, row=i, column="pool")
        pool_t: dict[str, tuple] = {}
        for c, v in pool.items():
            if c not in schema.COLUMNS or c == schema.PARTITION_COLUMN:
                raise _err(f"pool column {c!r} is not a ledger column", label, row=i, column="pool")
            vals = v if isinstance(v, list) else [v]
            pool_t[str(c)] = tuple(None if x is None else str(x) for x in vals)
        driver = r.get("driver")
        if driver not in DRIVERS:
            raise _err(f"driver {driver!r} unknown (known: {', '.join(DRIVERS)})", label, row=i, column="driver")
        targets = r.get("targets")
        if targets is not None:
            if not isinstance(targets, list) or not targets:
                raise _err("targets must be a non-empty list", label, row=i, column="targets")
            targets = tuple(str(t) for t in targets)
        shares = None
        if driver == "fixed":
            sh = r.get("shares")
            if not isinstance(sh, dict) or not sh:
                raise _err("fixed driver needs shares: {target: percent}", label, row=i, column="shares")
            try:
                shares = {str(k): Decimal(str(v)) for k, v in sh.items()}
            except ArithmeticError:
                raise _err("shares must be numbers", label, row=i, column="shares") from None
            if any(v < 0 for v in shares.values()) or sum(shares.values()) != 100:
                raise _err(f"shares must be >= 0 and add up to 100 (got {sum(shares.values())})", label, row=i,
                           column="shares")
        kpi = r.get("kpi")
        if driver == "kpi" and not kpi:
            raise _err("kpi driver needs kpi: <metric>", label, row=i, column="kpi")
        dw = r.get("driver_where")
        if dw is not None:
            import sqlglot

            try:
                sqlglot.parse_one(f"SELECT 1 WHERE {dw}", read="duckdb")
            except sqlglot.errors.ParseError as e:
                raise _err(f"driver_where is not a SQL condition: {e}", label, row=i, column="driver_where") from None
        rules.append(Rule(name, pool_t, driver, targets, shares, str(kpi) if kpi else None, dw))
    return Rules(tuple(rules), target, cost_column, places, {str(k): str(v) for k, v in cc.items()})


def split(amount: Decimal, weights: dict[str, Decimal], places: int = 2) -> dict[str, Decimal]:
    """Split ``amount`` in proportion to ``weights`` (all >= 0, total > 0).

    Each share is rounded half-even to ``places``; the remainder (``amount`` minus the rounded
    shares, which also absorbs digits of ``amount`` beyond ``places``) goes to the largest
    weight, ties to the first key in sorted order. The result adds up to ``amount`` exactly.

    Raises:
        ValueError: negative weights or a zero total.

    Example:
        >>> split(Decimal("10.005"), {"x": Decimal(3), "y": Decimal(1)})
        {'x': Decimal('7.505'), 'y': Decimal('2.50')}
    """
    if any(w < 0 for w in weights.values()):
        raise ValueError("negative driver weight")
    total = sum(weights.values(), Decimal(0))
    if total <= 0:
        raise ValueError("driver total is zero")
    quantum = Decimal(1).scaleb(-places)
    with localcontext() as ctx:
        ctx.prec = 80
        out = {k: (amount * w / total).quantize(quantum, rounding=ROUND_HALF_EVEN)
               for k, w in sorted(weights.items())}
        top = min(sorted(weights), key=lambda k: -weights[k])
        out[top] += amount - sum(out.values(), Decimal(0))
    return out


@dataclass
class Allocation:
    """The result of :func:`allocate`.

    Attributes:
        detail: one line per amount: ``period, currency, <target>, x_CostCenter, source``
            (``direct``, ``allocated``, ``allocated_out``), ``rule``, ``pool_owner``, ``pool``,
            ``driver``, ``driver_value``, ``driver_total``, ``coefficient``, ``amount``,
            ``remainder`` (this line took the rounding remainder) and the pool columns.
        unallocated: pools a rule could not split (``period, currency, rule, pool_owner, amount, reason``).
        billed: the ledger's billed total per ``period, currency`` (the conservation reference).
        rules: the rules applied.
    """

    detail: pd.DataFrame
    unallocated: pd.DataFrame
    billed: pd.DataFrame
    rules: Rules

    @property
    def target(self) -> str:
        return self.rules.target

    def check(self) -> pd.DataFrame:
        """Per period and currency: billed total, detail total and difference (always 0).

        Raises:
            ConservationError: a difference is not zero.
        """
        got = self.detail.groupby(["period", "currency"], as_index=False)["amount"].agg(
            lambda s: sum(s, Decimal(0))).rename(columns={"amount": "allocated_total"})
        m = self.billed.merge(got, on=["period", "currency"], how="outer")
        m["billed_total"] = m["billed_total"].map(lambda v: v if isinstance(v, Decimal) else Decimal(0))
        m["allocated_total"] = m["allocated_total"].map(lambda v: v if isinstance(v, Decimal) else Decimal(0))
        m["difference"] = [a - b for a, b in zip(m["allocated_total"], m["billed_total"])]
        bad = m[m["difference"] != 0]
        if len(bad):
            r = bad.iloc[0]
            raise ConservationError(f"period {r['period']} {r['currency']}: allocated {r['allocated_total']} "
                                    f"!= billed {r['billed_total']}", column=self.rules.cost_column)
        return m.sort_values(["period", "currency"]).reset_index(drop=True)

    def showback(self) -> pd.DataFrame:
        """Per period, owner (``(untagged)`` until allocated), cost center and currency:
        ``direct``, ``allocated_in``, ``allocated_out`` and ``total`` (exact Decimals)."""
        d = self.detail.copy()
        d["owner"] = d[self.target].fillna(UNTAGGED)
        d["x_CostCenter"] = d["x_CostCenter"].fillna(UNTAGGED)
        rows = []
        for (p, o, cc, cur), g in d.groupby(["period", "owner", "x_CostCenter", "currency"], sort=True):
            parts = {s: sum(g.loc[g["source"] == s, "amount"], Decimal(0))
                     for s in ("direct", "allocated", "allocated_out")}
            rows.append((p, o, cc, cur, trim(parts["direct"]), trim(parts["allocated"]),
                         trim(parts["allocated_out"]),
                         trim(parts["direct"] + parts["allocated"] + parts["allocated_out"])))
        return pd.DataFrame(rows, columns=["period", self.target, "x_CostCenter", "currency", "direct",
                                           "allocated_in", "allocated_out", "total"])

    def chargeback(self) -> pd.DataFrame:
        """What each cost center is charged per period and currency (net of allocations);
        ``(untagged)`` holds spend no rule allocated."""
        s = self.showback()
        rows = []
        for (p, cc, cur), g in s.groupby(["period", "x_CostCenter", "currency"], sort=True):
            rows.append((p, cc, cur, trim(sum(g["total"], Decimal(0))), ", ".join(sorted(g[self.target]))))
        return pd.DataFrame(rows, columns=["period", "x_CostCenter", "currency", "charge", "owners"])

    def trace(self) -> pd.DataFrame:
        """The allocated lines only: where every shared amount went, by which rule and driver."""
        return self.detail[self.detail["source"] == "allocated"].reset_index(drop=True)


def _period_where(period) -> str:
    if period is None:
        return "TRUE"
    periods = [period] if isinstance(period, str) else list(period)
    return f"x_BillingPeriod IN ({', '.join(lit(p) for p in periods)})"


def _entries(ledger, rules: Rules, where: str, fx=None, currency: str | None = None) -> pd.DataFrame:
    cols = rules.columns
    sel = ", ".join(f"CAST({q(c)} AS VARCHAR) AS {q(c)}" for c in cols)
    day = ", CAST(ChargePeriodStart AS DATE) AS day" if fx is not None else ""
    df = ledger.query(
        f"SELECT x_BillingPeriod AS period, BillingCurrency AS currency, {sel}{day}, "
        f"SUM({q(rules.cost_column)}) AS amount FROM billed WHERE {where} GROUP BY ALL")
    if fx is not None:
        df = fx.convert(df, currency, ["amount"], date_column="day", currency_column="currency")
        df = df.drop(columns=["day", "x_BillingCurrency", "x_FxRate", "x_FxRateDate"])
        df = (df.groupby(["period", "currency", *cols], dropna=False, as_index=False)["amount"]
              .agg(lambda s: sum(s, Decimal(0))))
    for c in cols:
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df


def _usage_drivers(ledger, rules: Rules, rule: Rule, where: str, cache: dict) -> dict[str, dict[str, Decimal]]:
    """Tokens, requests and GPU-hours per period and target in one pass per ``driver_where``."""
    key = rule.driver_where or ""
    if key not in cache:
        extra = f" AND ({rule.driver_where})" if rule.driver_where else ""
        sums = ", ".join(f"SUM({col}) AS {name}" for name, col in _USAGE.items())
        cache[key] = ledger.query(
            f"SELECT x_BillingPeriod AS period, CAST({q(rules.target)} AS VARCHAR) AS t, {sums} FROM ledger "
            f"WHERE {where} AND {q(rules.target)} IS NOT NULL{extra} GROUP BY ALL")
    df = cache[key]
    out: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for p, t, v in df[["period", "t", rule.driver]].itertuples(index=False):
        if isinstance(v, Decimal):
            out[p][t] = v
    return out


def _kpi_drivers(kpis, rules: Rules, rule: Rule) -> dict[str, dict[str, Decimal]]:
    from .kpi import DIMENSIONS, monthly

    if kpis is None:
        raise ConfigError(f"rule {rule.name!r} needs KPIs (pass kpis=)", column="kpi")
    dims = [d for d, c in DIMENSIONS.items() if c == rules.target]
    m = monthly(kpis)
    m = m[(m["metric"] == rule.kpi) & m["dimension"].isin(dims)]
    if m.empty:
        raise ConfigError(f"rule {rule.name!r}: no KPI {rule.kpi!r} for dimension(s) {', '.join(dims) or '?'}",
                          column="kpi")
    out: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for p, k, v in m[["period", "key", "value"]].itertuples(index=False):
        out[p][k] = out[p].get(k, Decimal(0)) + v
    return out


def _cost_centers(ledger, rules: Rules, where: str) -> dict[str, str]:
    if rules.target == "x_CostCenter":
        return {}
    df = ledger.query(
        f"SELECT CAST({q(rules.target)} AS VARCHAR) AS t, x_CostCenter AS cc, COUNT(*) AS c "
        f"FROM ledger WHERE {where} AND {q(rules.target)} IS NOT NULL AND x_CostCenter IS NOT NULL GROUP BY ALL")
    best: dict[str, tuple] = {}
    for t, cc, c in df.itertuples(index=False):
        key = (-(c or 0), cc)
        if t not in best or key < best[t][0]:
            best[t] = (key, cc)
    out = {t: v[1] for t, v in best.items()}
    out.update(rules.cost_centers)
    return out


def allocate(ledger, rules: Rules | str | Path | dict, *, period=None, kpis: pd.DataFrame | None = None,
             fx=None, currency: str | None = None) -> Allocation:
    """Allocate the ledger's shared cost by ``rules`` (see the module docs).

    Args:
        ledger: an :class:`aifinops.ledger.Ledger`.
        rules: :class:`Rules`, a YAML path or a dict.
        period: a billing period ``YYYY-MM``, a list of them, or None for all.
        kpis: KPI rows (:func:`aifinops.kpi.read_kpis`) for ``kpi`` drivers.
        fx: :class:`aifinops.fx.FxRates` to report in ``currency`` (amounts converted per day
            before allocation).
        currency: the reporting currency (with ``fx``).

    Returns:
        :class:`Allocation`; :meth:`Allocation.check` has already passed.
    """
    if not isinstance(rules, Rules):
        rules = load_rules(rules)
    if fx is not None and not currency:
        raise ConfigError("a reporting currency is needed with fx rates", column="currency")
    where = _period_where(period)
    cols = rules.columns
    ent = _entries(ledger, rules, where, fx, currency)
    billed = (ent.groupby(["period", "currency"], as_index=False)["amount"].agg(lambda s: sum(s, Decimal(0)))
              .rename(columns={"amount": "billed_total"}))
    # state: list of lines; the "live" ones (direct or allocated, not cancelled) form the entries
    lines: list[dict] = []
    for rec in ent.sort_values(["period", "currency", *cols], na_position="first").to_dict("records"):
        lines.append({"period": rec["period"], "currency": rec["currency"], **{c: rec[c] for c in cols},
                      "source": "direct", "rule": None, "pool_owner": None, "pool": None, "driver": None,
                      "driver_value": None, "driver_total": None, "coefficient": None, "amount": rec["amount"],
                      "remainder": False, "_live": True})
    unalloc: list[dict] = []
    usage_cache: dict[str, pd.DataFrame] = {}
    target = rules.target
    for rule in rules.rules:
        pool = [ln for ln in lines if ln["_live"] and rule.matches(ln)]
        if not pool:
            continue
        if rule.driver in _USAGE:
            drivers = _usage_drivers(ledger, rules, rule, where, usage_cache)
        elif rule.driver == "kpi":
            drivers = _kpi_drivers(kpis, rules, rule)
        else:
            drivers = None
        pool_ids = {id(ln) for ln in pool}
        excluded = set(rule.pool.get(target, ()))
        for ln in pool:
            p, cur = ln["period"], ln["currency"]
            if rule.driver == "cost":
                w: dict[str, Decimal] = defaultdict(Decimal)
                for o in lines:
                    if (o["_live"] and id(o) not in pool_ids and o["period"] == p and o["currency"] == cur
                            and o[target] is not None):
                        w[o[target]] += o["amount"]
                w = dict(w)
            elif rule.driver == "even":
                names = rule.targets or sorted({o[target] for o in lines if o[target] is not None
                                                and o["period"] == p})
                w = {n: Decimal(1) for n in names}
            elif rule.driver == "fixed":
                w = dict(rule.shares)
            else:
                w = dict(drivers.get(p, {}))
            if rule.targets:
                w = {k: v for k, v in w.items() if k in rule.targets}
            if rule.driver != "fixed":
                w = {k: v for k, v in w.items() if k not in excluded and v > 0}
            if not w or sum(w.values()) <= 0:
                unalloc.append({"period": p, "currency": cur, "rule": rule.name, "pool_owner": ln[target],
                                "amount": ln["amount"], "reason": f"no {rule.driver} driver among the targets"})
                continue
            shares = split(ln["amount"], w, rules.places)
            total = sum(w.values(), Decimal(0))
            chain = f"{ln['rule']} > {rule.name}" if ln["rule"] else rule.name
            ln["_live"] = False
            lines.append({**ln, "source": "allocated_out", "rule": chain, "pool_owner": ln[target],
                          "pool": rule.describe_pool(), "driver": rule.driver, "driver_value": None,
                          "driver_total": total, "coefficient": None, "amount": -ln["amount"],
                          "remainder": False, "_live": False})
            top = min(sorted(w), key=lambda k: -w[k])
            with localcontext() as ctx:
                ctx.prec = 40
                for t, amt in shares.items():
                    lines.append({**ln, target: t, "source": "allocated", "rule": chain, "pool_owner": ln[target],
                                  "pool": rule.describe_pool(), "driver": rule.driver, "driver_value": w[t],
                                  "driver_total": total, "coefficient": +(w[t] / total), "amount": amt,
                                  "remainder": t == top, "_live": True})
    ccs = _cost_centers(ledger, rules, where)
    detail = pd.DataFrame(lines)
    if detail.empty:
        detail = pd.DataFrame(columns=["period", "currency", *cols, "source", "rule", "pool_owner", "pool", "driver",
                                       "driver_value", "driver_total", "coefficient", "amount", "remainder", "_live"])
    detail = detail.drop(columns=["_live"])
    if target != "x_CostCenter":  # the owner's cost center (a pool column of that name is superseded)
        detail["x_CostCenter"] = detail[target].map(lambda t: ccs.get(t) if t is not None else None)
    order = ["period", "currency", target, "x_CostCenter", "source", "rule", "pool_owner", "pool", "driver",
             "driver_value", "driver_total", "coefficient", "amount", "remainder"]
    detail = detail[order + [c for c in cols if c not in order]]
    for c in ("amount", "driver_value", "driver_total", "coefficient"):
        detail[c] = detail[c].map(lambda v: trim(v) if isinstance(v, Decimal) else None)
    res = Allocation(detail.reset_index(drop=True),
                     pd.DataFrame(unalloc, columns=["period", "currency", "rule", "pool_owner", "amount", "reason"]),
                     billed, rules)
    res.check()
    return res
