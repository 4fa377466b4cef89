"""Hybrid on-prem vs cloud: what an owned GPU cluster costs per GPU-hour at its actual
utilization, and how that compares with renting the same GPU-hours in the cloud or buying
the same tokens from an LLM API.

The on-prem cost model (:class:`OnPremModel`, from ``templates/onprem.yaml``) has

* **capital**: capex per server plus per GPU, depreciated straight-line over
  ``depreciation_years``; with a ``financing_rate`` > 0 the capex is paid as an annuity
  and the interest is its own line (``financing``);
* **power**: per server ``power_idle_kw + (power_loaded_kw - power_idle_kw) x utilization``,
  times ``pue``, for every hour of the year, at ``electricity_price`` per kWh; kgCO2e is the
  kWh times ``grid_kgco2e_per_kwh``;
* **operations**: colocation per server and month, network per month, maintenance as a
  percentage of capex a year, staff FTEs x cost per FTE, software licences per GPU a year.

The annual cost is ``fixed + variable x utilization`` (only loaded power varies), so the
cost per *used* GPU-hour is ``annual / (capacity_hours x utilization)``. The share of the
annual cost that pays for unused capacity, ``annual x (1 - utilization)``, is reported as
its own line (``idle capacity``). At 0 % utilization every cost is idle and there is no
cost per GPU-hour (``None``).

Break-even utilization against a cloud rate ``R`` per GPU-hour solves
``fixed + variable x u = capacity x u x R``: ``u = fixed / (capacity x R - variable)``
(``None`` when renting is always cheaper). Against an LLM API price ``P`` per 1M tokens,
with throughput ``T`` tokens/s per GPU, self-hosted $/1M tokens is
``cost_per_gpu_hour / (T x 3600) x 1e6`` and the break-even monthly volume is the token
count at which both cost the same.

Everything is :class:`decimal.Decimal`; money is never a float.

Example:
    >>> from decimal import Decimal as D
    >>> m = OnPremModel(servers=1, gpus_per_server=8, capex_per_server=D("200000"), capex_per_gpu=D("0"),
    ...                 depreciation_years=4, power_idle_kw=D("2"), power_loaded_kw=D("10"), pue=D("1.5"),
    ...                 electricity_price=D("0.20"))
    >>> r = m.annual(D("0.5"))
    >>> r.total, r.gpu_hours_used
    (Decimal('65768.0000'), Decimal('35040.0'))
    >>> round(r.cost_per_gpu_hour, 4)
    Decimal('1.8769')
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import ConfigError

__all__ = [
    "DEFAULT_RATES",
    "DEFAULT_SWINGS",
    "HOURS_PER_YEAR",
    "MODEL_INPUTS",
    "ONPREM_FORMATS",
    "AnnualCost",
    "OnPremModel",
    "api_comparison",
    "break_even_utilization",
    "cloud_comparison",
    "cost_per_gpu_hour_chart",
    "finance_sheet",
    "firm_rate",
    "hybrid_sheets",
    "ledger_gpu_rates",
    "load_model",
    "load_rates",
    "load_swings",
    "measured_utilization",
    "opencost_pricing",
    "overall_utilization",
    "recommendation",
    "resolve_utilization",
    "select_rates",
    "tco",
    "tco_chart",
    "telemetry",
    "tornado",
    "tornado_chart",
]

HOURS_PER_YEAR = Decimal(8760)
_MILLION = Decimal(1_000_000)
#: the dated GPU rate table shipped with aifinops (copied to data_samples/business/gpu_rates.csv;
#: replace it with your own negotiated rates)
DEFAULT_RATES = Path(__file__).resolve().parent / "data" / "gpu_rates.csv"
RATE_COLUMNS = ("as_of", "provider", "gpu_model", "pricing", "region", "usd_per_gpu_hour", "source")


def _d(value: Any, name: str, file: str | None = None) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        value = repr(value)
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}", file=file, column=name) from None
    if not d.is_finite():
        raise ConfigError(f"{name} must be finite, got {value!r}", file=file, column=name)
    return d


@dataclass(frozen=True)
class AnnualCost:
    """One year of the on-prem cluster at one utilization.

    Attributes:
        utilization: share of the GPU-hours used (0..1).
        lines: component -> annual cost (depreciation, financing, power, colocation,
            network, maintenance, staff, licences).
        total: sum of the lines.
        idle_cost: ``total x (1 - utilization)``, the cost of unused capacity.
        gpu_hours_capacity / gpu_hours_used: GPU-hours a year.
        cost_per_gpu_hour: ``total / gpu_hours_used`` (``None`` at 0 %).
        kwh: facility energy (IT power x PUE); kgco2e: ``kwh x`` grid intensity.
    """

    utilization: Decimal
    lines: dict[str, Decimal]
    total: Decimal
    idle_cost: Decimal
    gpu_hours_capacity: Decimal
    gpu_hours_used: Decimal
    cost_per_gpu_hour: Decimal | None
    kwh: Decimal
    kgco2e: Decimal


@dataclass(frozen=True)
class OnPremModel:
    """Inputs of the on-prem cost model (see ``templates/onprem.yaml`` for their meaning).

    Money is in ``currency``; power in kW per server; rates are fractions (0.05 = 5 %).
    """

    servers: int = 4
    gpus_per_server: int = 8
    gpu_model: str = "H100"
    capex_per_server: Decimal = Decimal("60000")
    capex_per_gpu: Decimal = Decimal("25000")
    depreciation_years: int = 4
    financing_rate: Decimal = Decimal("0")
    power_idle_kw: Decimal = Decimal("2.0")
    power_loaded_kw: Decimal = Decimal("10.2")
    pue: Decimal = Decimal("1.4")
    electricity_price: Decimal = Decimal("0.18")
    colocation_per_server_month: Decimal = Decimal("0")
    network_per_month: Decimal = Decimal("0")
    maintenance_pct: Decimal = Decimal("0")
    staff_fte: Decimal = Decimal("0")
    staff_cost_per_fte: Decimal = Decimal("0")
    licences_per_gpu_year: Decimal = Decimal("0")
    grid_kgco2e_per_kwh: Decimal = Decimal("0.38")
    throughput_tokens_per_s: Decimal = Decimal("1500")
    currency: str = "USD"

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type in ("Decimal", Decimal) and not isinstance(v, Decimal):
                object.__setattr__(self, f.name, _d(v, f.name))
            elif f.type in ("int", int) and not isinstance(v, int):
                object.__setattr__(self, f.name, int(_d(v, f.name)))
        if self.servers < 1 or self.gpus_per_server < 1:
            raise ConfigError("servers and gpus_per_server must be at least 1", column="servers")
        if self.depreciation_years < 1:
            raise ConfigError("depreciation_years must be at least 1", column="depreciation_years")
        if self.pue < 1:
            raise ConfigError(f"pue must be >= 1, got {self.pue}", column="pue")
        for name in ("capex_per_server", "capex_per_gpu", "financing_rate", "power_idle_kw", "power_loaded_kw",
                     "electricity_price", "colocation_per_server_month", "network_per_month", "maintenance_pct",
                     "staff_fte", "staff_cost_per_fte", "licences_per_gpu_year", "grid_kgco2e_per_kwh"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative", column=name)
        if self.power_loaded_kw < self.power_idle_kw:
            raise ConfigError("power_loaded_kw must be >= power_idle_kw", column="power_loaded_kw")
        if self.throughput_tokens_per_s <= 0:
            raise ConfigError("throughput_tokens_per_s must be > 0", column="throughput_tokens_per_s")

    # -- derived quantities ---------------------------------------------------------------
    @property
    def gpus(self) -> int:
        return self.servers * self.gpus_per_server

    @property
    def capex(self) -> Decimal:
        """Total hardware capex."""
        return self.servers * (self.capex_per_server + self.gpus_per_server * self.capex_per_gpu)

    @property
    def capacity_hours(self) -> Decimal:
        """GPU-hours a year."""
        return self.gpus * HOURS_PER_YEAR

    def annuity(self) -> Decimal:
        """Yearly capital payment: ``capex / years`` without financing, else the annuity
        ``capex x r / (1 - (1 + r)^-years)``."""
        n, r = self.depreciation_years, self.financing_rate
        if r == 0:
            return self.capex / n
        return self.capex * r / (1 - (1 + r) ** -n)

    def energy_kwh(self, utilization: Decimal) -> Decimal:
        u = _utilization(utilization)
        kw = self.power_idle_kw + (self.power_loaded_kw - self.power_idle_kw) * u
        return self.servers * kw * HOURS_PER_YEAR * self.pue

    def fixed_and_variable(self) -> tuple[Decimal, Decimal]:
        """(annual cost at 0 % utilization, extra annual cost per unit of utilization)."""
        fixed = self.annual(Decimal(0)).total
        return fixed, self.annual(Decimal(1)).total - fixed

    def annual(self, utilization: Decimal | float | str) -> AnnualCost:
        """The annual cost at ``utilization`` (0..1) with its lines, idle share and energy."""
        u = _utilization(utilization)
        dep = self.capex / self.depreciation_years
        kwh = self.energy_kwh(u)
        lines = {
            "depreciation": dep,
            "financing": self.annuity() - dep,
            "power": kwh * self.electricity_price,
            "colocation": self.servers * self.colocation_per_server_month * 12,
            "network": self.network_per_month * 12,
            "maintenance": self.capex * self.maintenance_pct,
            "staff": self.staff_fte * self.staff_cost_per_fte,
            "licences": self.gpus * self.licences_per_gpu_year,
        }
        total = sum(lines.values(), Decimal(0))
        used = self.capacity_hours * u
        return AnnualCost(
            utilization=u, lines=lines, total=total, idle_cost=total * (1 - u),
            gpu_hours_capacity=self.capacity_hours, gpu_hours_used=used,
            cost_per_gpu_hour=(total / used) if used > 0 else None,
            kwh=kwh, kgco2e=kwh * self.grid_kgco2e_per_kwh)

    def cost_per_mtok(self, utilization: Decimal | float | str) -> Decimal | None:
        """Self-hosted cost per 1M tokens at ``utilization``."""
        c = self.annual(utilization).cost_per_gpu_hour
        return None if c is None else c / (self.throughput_tokens_per_s * 3600) * _MILLION

    def breakdown(self, utilization: Decimal | float | str) -> pd.DataFrame:
        """Per component: annual cost, per used GPU-hour, and the idle-capacity line."""
        a = self.annual(utilization)
        rows = [{"component": k, "annual": v,
                 "per_gpu_hour": (v / a.gpu_hours_used) if a.gpu_hours_used else None} for k, v in a.lines.items()]
        rows.append({"component": "total", "annual": a.total, "per_gpu_hour": a.cost_per_gpu_hour})
        rows.append({"component": "of which idle capacity", "annual": a.idle_cost,
                     "per_gpu_hour": (a.idle_cost / a.gpu_hours_used) if a.gpu_hours_used else None})
        df = pd.DataFrame(rows)
        df["currency"] = self.currency
        return df


#: the names of the model's inputs (notebook parameters of the same names override the YAML)
MODEL_INPUTS: tuple[str, ...] = tuple(f.name for f in fields(OnPremModel))


def _utilization(u: Decimal | float | str) -> Decimal:
    d = _d(u, "utilization")
    if d < 0 or d > 1:
        raise ConfigError(f"utilization must be within 0..1, got {d}", column="utilization")
    return d


# -- configuration -------------------------------------------------------------------------

def load_model(path: str | Path | None = None, **overrides: Any) -> OnPremModel:
    """An :class:`OnPremModel` from a YAML file (``templates/onprem.yaml`` layout: a mapping
    of input names, optionally under ``onprem:``) and keyword overrides (``None`` and ``""``
    ignored, so notebook parameters left empty keep the file's value).

    Raises:
        ConfigError: unreadable YAML, unknown or non-numeric inputs (naming the file and key).

    Example:
        >>> load_model(servers=2).gpus
        16
    """
    data: dict[str, Any] = {}
    src = None
    if path is not None:
        import yaml

        src = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read the on-prem model: {exc}", file=src) from exc
        if not isinstance(loaded, dict):
            raise ConfigError("the on-prem model must be a mapping", file=src)
        loaded = loaded.get("onprem", loaded)
        if not isinstance(loaded, dict):
            raise ConfigError("'onprem' must be a mapping", file=src, column="onprem")
        data.update({k: v for k, v in loaded.items() if k not in ("sensitivity",)})
    data.update({k: v for k, v in overrides.items() if v is not None and v != ""})
    known = {f.name: f for f in fields(OnPremModel)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown on-prem model input(s): {', '.join(unknown)}", file=src, column=unknown[0])
    for k, v in list(data.items()):
        if k in ("gpu_model", "currency"):
            data[k] = str(v)
        else:
            data[k] = _d(v, k, src)
    try:
        return OnPremModel(**data)
    except ConfigError as exc:
        if src is None:
            raise
        raise ConfigError(exc.detail, file=src, column=exc.column) from exc


def load_rates(path: str | Path | None = None) -> pd.DataFrame:
    """The dated cloud GPU rate table (CSV with :data:`RATE_COLUMNS`), rates as Decimal.

    Raises:
        ConfigError: missing file or columns, bad numbers or dates (naming file, row, column).
    """
    path = Path(path) if path else DEFAULT_RATES
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise ConfigError(f"cannot read the GPU rate table: {exc}", file=str(path)) from exc
    if not rows:
        raise ConfigError("the GPU rate table has no rows", file=str(path))
    missing = [c for c in RATE_COLUMNS if c not in rows[0]]
    if missing:
        raise ConfigError(f"GPU rate table lacks column(s) {', '.join(missing)}", file=str(path), row=1,
                          column=missing[0])
    out = []
    for i, r in enumerate(rows, start=2):
        try:
            as_of = date.fromisoformat(r["as_of"].strip())
        except ValueError:
            raise ConfigError(f"bad date {r['as_of']!r}", file=str(path), row=i, column="as_of") from None
        rate = _d(r["usd_per_gpu_hour"], "usd_per_gpu_hour", str(path)) if r["usd_per_gpu_hour"] else None
        if rate is None or rate <= 0:
            raise ConfigError(f"usd_per_gpu_hour must be > 0, got {r['usd_per_gpu_hour']!r}", file=str(path),
                              row=i, column="usd_per_gpu_hour")
        out.append({**{k: (r[k] or "").strip() for k in RATE_COLUMNS}, "as_of": as_of, "usd_per_gpu_hour": rate})
    return pd.DataFrame(out, columns=list(RATE_COLUMNS))


def select_rates(rates: pd.DataFrame, gpu_model: str, as_of: date | str | None = None) -> pd.DataFrame:
    """For one GPU model, the latest rate on or before ``as_of`` (a date, or a billing period
    ``YYYY-MM`` meaning its last day) per (provider, pricing)."""
    df = rates[rates["gpu_model"].str.upper() == gpu_model.upper()]
    if as_of is not None and str(as_of) != "":
        text = str(as_of)[:10]
        if len(text) == 7:  # a billing period: its last day
            d = pd.Period(text, freq="M").end_time.date()
        else:
            try:
                d = date.fromisoformat(text)
            except ValueError:
                raise ConfigError(f"bad date {as_of!r} (YYYY-MM-DD or YYYY-MM)", column="as_of") from None
        df = df[df["as_of"] <= d]
    if df.empty:
        return df.copy()
    df = df.sort_values("as_of").groupby(["provider", "pricing"], as_index=False).tail(1)
    return df.sort_values(["usd_per_gpu_hour", "provider", "pricing"]).reset_index(drop=True)


# -- comparisons ---------------------------------------------------------------------------

def break_even_utilization(model: OnPremModel, rate: Decimal) -> Decimal | None:
    """Utilization above which owning is cheaper than renting at ``rate`` per GPU-hour
    (``None`` when renting is cheaper even at 100 %).

    Example:
        >>> from decimal import Decimal as D
        >>> m = OnPremModel(servers=1, gpus_per_server=1, capex_per_server=D("8760"), capex_per_gpu=D(0),
        ...                 depreciation_years=1, power_idle_kw=D(0), power_loaded_kw=D(0))
        >>> break_even_utilization(m, D("2"))
        Decimal('0.5')
    """
    fixed, variable = model.fixed_and_variable()
    denom = model.capacity_hours * rate - variable
    if denom <= 0:
        return None
    u = fixed / denom
    return u if u <= 1 else None


def cloud_comparison(model: OnPremModel, utilization: Decimal | float | str, rates: pd.DataFrame) -> pd.DataFrame:
    """The on-prem workload (used GPU-hours at ``utilization``) priced at each cloud rate:
    annual cost, difference vs on-prem, break-even utilization and monthly GPU-hours."""
    a = model.annual(utilization)
    rows = [{"option": "on-prem", "provider": "on-prem", "pricing": "owned", "as_of": None,
             "rate_per_gpu_hour": a.cost_per_gpu_hour, "annual_cost": a.total, "vs_onprem": Decimal(0),
             "break_even_utilization": None, "break_even_gpu_hours_per_month": None}]
    for r in rates.itertuples(index=False):
        rate = r.usd_per_gpu_hour
        be = break_even_utilization(model, rate)
        cost = a.gpu_hours_used * rate
        rows.append({"option": f"{r.provider} {r.pricing}", "provider": r.provider, "pricing": r.pricing,
                     "as_of": r.as_of, "rate_per_gpu_hour": rate, "annual_cost": cost, "vs_onprem": cost - a.total,
                     "break_even_utilization": be,
                     "break_even_gpu_hours_per_month": None if be is None else be * model.capacity_hours / 12})
    df = pd.DataFrame(rows)
    df["currency"] = model.currency
    return df


def api_comparison(model: OnPremModel, utilization: Decimal | float | str,
                   api_prices: dict[str, Decimal]) -> pd.DataFrame:
    """Self-hosted $/1M tokens at ``utilization`` vs each LLM API price per 1M tokens, with
    the break-even monthly token volume (``None`` if the API is always cheaper, or when the
    volume would need more than the cluster's capacity)."""
    fixed, variable = model.fixed_and_variable()
    tok_per_gpu_hour = model.throughput_tokens_per_s * 3600
    cap_tokens_year = model.capacity_hours * tok_per_gpu_hour
    self_hosted = model.cost_per_mtok(utilization)
    rows = [{"option": "self-hosted", "usd_per_mtok": self_hosted, "break_even_mtok_per_month": None,
             "break_even_utilization": None}]
    for name, price in api_prices.items():
        price = _d(price, f"api price {name}")
        # annual API cost = tokens_year x price / 1e6 ; on-prem = fixed + variable x tokens_year / cap
        per_token = price / _MILLION - variable / cap_tokens_year
        be_tokens_year = fixed / per_token if per_token > 0 else None
        if be_tokens_year is not None and be_tokens_year > cap_tokens_year:
            be_tokens_year = None
        rows.append({"option": name, "usd_per_mtok": price,
                     "break_even_mtok_per_month": None if be_tokens_year is None else be_tokens_year / 12 / _MILLION,
                     "break_even_utilization": None if be_tokens_year is None else be_tokens_year / cap_tokens_year})
    df = pd.DataFrame(rows)
    df["currency"] = model.currency
    return df


def tco(model: OnPremModel, utilization: Decimal | float | str, cloud_rate: Decimal, years: int = 5) -> pd.DataFrame:
    """Cash flow by year (0..``years``) of owning vs renting the same used GPU-hours.

    Without financing the capex is paid in year 0; with financing it is paid as the annuity
    in years 1..``depreciation_years``. Operating costs (power, colocation, network,
    maintenance, staff, licences) are paid every year; hardware is assumed replaced at the
    same cost when the depreciation ends, if the horizon is longer. Paid in cash, the book
    value left at the horizon (straight-line) is credited in the last year
    (``onprem_residual``); financed, the payments simply stop at the horizon.
    """
    if not 1 <= years <= 10:
        raise ConfigError(f"years must be within 1..10, got {years}", column="years")
    a = model.annual(utilization)
    opex = sum((v for k, v in a.lines.items() if k not in ("depreciation", "financing")), Decimal(0))
    cloud = a.gpu_hours_used * _d(cloud_rate, "cloud_rate")
    rows = []
    cum_o = cum_c = Decimal(0)
    n = model.depreciation_years
    last = ((years - 1) // n) * n  # the last purchase year (cash)
    residual = model.capex * (n - (years - last)) / n if model.financing_rate == 0 else Decimal(0)
    for y in range(years + 1):
        if model.financing_rate == 0:
            capital = model.capex if (y % n == 0 and y < years) else Decimal(0)
        else:
            capital = model.annuity() if y >= 1 else Decimal(0)
        credit = residual if y == years else Decimal(0)
        o = capital - credit + (opex if y >= 1 else Decimal(0))
        c = cloud if y >= 1 else Decimal(0)
        cum_o += o
        cum_c += c
        rows.append({"year": y, "onprem_capital": capital, "onprem_residual": -credit,
                     "onprem_opex": opex if y >= 1 else Decimal(0),
                     "onprem_total": o, "cloud_total": c, "onprem_cumulative": cum_o, "cloud_cumulative": cum_c,
                     "savings_cumulative": cum_c - cum_o})
    df = pd.DataFrame(rows)
    df["currency"] = model.currency
    return df


#: inputs varied by :func:`tornado` (name -> (low factor, high factor)) unless given
DEFAULT_SWINGS: dict[str, tuple[Decimal, Decimal]] = {
    "utilization": (Decimal("0.8"), Decimal("1.2")),
    "capex_per_gpu": (Decimal("0.8"), Decimal("1.2")),
    "electricity_price": (Decimal("0.7"), Decimal("1.3")),
    "depreciation_years": (Decimal("0.75"), Decimal("1.25")),
    "pue": (Decimal("0.9"), Decimal("1.1")),
    "staff_cost_per_fte": (Decimal("0.8"), Decimal("1.2")),
    "financing_rate": (Decimal("0.5"), Decimal("1.5")),
    "maintenance_pct": (Decimal("0.5"), Decimal("1.5")),
}


def load_swings(path: str | Path | None = None) -> dict[str, tuple[Decimal, Decimal]]:
    """The tornado's low/high factors per input from the YAML's ``sensitivity:`` mapping
    (``input: [low, high]``); :data:`DEFAULT_SWINGS` when the file has none.

    Raises:
        ConfigError: unknown input, or factors that are not two numbers with low <= 1 <= high.
    """
    if path is None:
        return dict(DEFAULT_SWINGS)
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the on-prem model: {exc}", file=str(path)) from exc
    raw = doc.get("sensitivity") if isinstance(doc, dict) else None
    if raw is None:
        return dict(DEFAULT_SWINGS)
    if not isinstance(raw, dict):
        raise ConfigError("'sensitivity' must map inputs to [low, high] factors", file=str(path), column="sensitivity")
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for name, pair in raw.items():
        if name != "utilization" and name not in MODEL_INPUTS:
            raise ConfigError(f"unknown sensitivity input {name!r}", file=str(path), column=str(name))
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ConfigError(f"{name}: expected [low, high] factors", file=str(path), column=str(name))
        lo, hi = (_d(v, str(name), str(path)) for v in pair)
        if not (0 < lo <= 1 <= hi):
            raise ConfigError(f"{name}: factors must satisfy 0 < low <= 1 <= high", file=str(path), column=str(name))
        out[str(name)] = (lo, hi)
    return out


def tornado(model: OnPremModel, utilization: Decimal | float | str,
            swings: dict[str, tuple[Decimal, Decimal]] | None = None) -> pd.DataFrame:
    """Sensitivity of the cost per used GPU-hour: each input set to low and high (factors of
    its value; utilization capped at 100 %), the others fixed. Sorted by swing, largest first."""
    u = _utilization(utilization)
    base = model.annual(u).cost_per_gpu_hour
    rows = []
    for name, (lo, hi) in (swings or DEFAULT_SWINGS).items():
        lo, hi = _d(lo, name), _d(hi, name)
        results = []
        values = []
        for f in (lo, hi):
            if name == "utilization":
                v = min(u * f, Decimal(1))
                r = model.annual(v).cost_per_gpu_hour
            else:
                cur = getattr(model, name)
                v = cur * f
                if isinstance(cur, int):
                    v = max(1, int(v.to_integral_value()))
                if name == "pue":
                    v = max(v, Decimal(1))
                r = replace(model, **{name: v}).annual(u).cost_per_gpu_hour
            values.append(v)
            results.append(r)
        if base is None or None in results:
            continue
        rows.append({"input": name, "low_value": values[0], "high_value": values[1], "low_result": results[0],
                     "high_result": results[1], "base_result": base, "swing": abs(results[1] - results[0])})
    df = pd.DataFrame(rows, columns=["input", "low_value", "high_value", "low_result", "high_result",
                                     "base_result", "swing"])
    return df.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)


def firm_rate(rates: pd.DataFrame) -> Decimal | None:
    """The cheapest like-for-like rate: on-demand or reserved (spot can be reclaimed), or the
    cheapest of all when the table has only spot rates; ``None`` for an empty table."""
    if rates.empty:
        return None
    firm = rates[~rates["pricing"].str.lower().str.contains("spot")]
    return (firm if not firm.empty else rates)["usd_per_gpu_hour"].min()


def recommendation(model: OnPremModel, utilization: Decimal | float | str, rates: pd.DataFrame) -> str:
    """One sentence: own or rent, against the cheapest like-for-like cloud rate (on-demand or
    reserved; spot capacity can be reclaimed, so it is only mentioned), stating its assumptions."""
    a = model.annual(utilization)
    u = a.utilization
    assumptions = (f"assuming {model.servers} servers x {model.gpus_per_server} {model.gpu_model}, "
                   f"{_pct(u)} utilization, {model.depreciation_years}-year depreciation at "
                   f"{_pct(model.financing_rate)} financing, PUE {model.pue}, electricity "
                   f"{model.electricity_price} {model.currency}/kWh")
    if rates.empty:
        return f"No cloud rate for {model.gpu_model} to compare with ({assumptions})."
    firm = rates[~rates["pricing"].str.lower().str.contains("spot")]
    spot = rates[rates["pricing"].str.lower().str.contains("spot")]
    best = (firm if not firm.empty else rates).sort_values("usd_per_gpu_hour").iloc[0]
    rate = best["usd_per_gpu_hour"]
    be = break_even_utilization(model, rate)
    cheapest = f"{best['provider']} {best['pricing']} at {rate} {model.currency}/GPU-hour (rates as of {best['as_of']})"
    if not spot.empty and not firm.empty:
        s = spot.sort_values("usd_per_gpu_hour").iloc[0]
        assumptions += (f"; spot ({s['provider']}, {s['usd_per_gpu_hour']} {model.currency}/GPU-hour) is left out "
                        f"because it can be reclaimed")
    if a.cost_per_gpu_hour is None:
        return (f"Rent: an idle cluster costs {a.total:,.0f} {model.currency} a year for nothing; cheapest cloud is "
                f"{cheapest}; {assumptions}.")
    own = a.cost_per_gpu_hour.quantize(Decimal("0.01"))
    if be is None:
        return (f"Rent: on-prem costs {own} {model.currency} per used GPU-hour and never beats {cheapest} even at "
                f"100 % utilization; {assumptions}.")
    if u >= be:
        return (f"Own: on-prem costs {own} {model.currency} per used GPU-hour, below {cheapest}, as long as "
                f"utilization stays above the break-even {_pct(be)}; {assumptions}.")
    return (f"Rent (or raise utilization): on-prem costs {own} {model.currency} per used GPU-hour, above {cheapest}; "
            f"owning pays off only above {_pct(be)} utilization; {assumptions}.")


def _pct(x: Decimal) -> str:
    return f"{(x * 100).quantize(Decimal('0.1'))} %"


# -- from the ledger -----------------------------------------------------------------------

#: ledger formats whose x_GpuHours are allocations of the on-prem cluster
ONPREM_FORMATS = ("slurm-sacct", "opencost-allocation")


def measured_utilization(ledger, model: OnPremModel, period: str | None = None,
                         source_formats: tuple[str, ...] = ONPREM_FORMATS) -> pd.DataFrame:
    """Monthly GPU-hours allocated on-prem (``x_GpuHours`` of ``source_formats`` rows, summed in
    the engine) against the model's capacity: columns ``x_BillingPeriod, gpu_hours,
    capacity_hours, utilization`` (capped at 1). The data's first and last months count
    capacity only from the first / to the last day with usage (a partial export month)."""
    from .sql import lit

    where = f"x_SourceFormat IN ({', '.join(lit(f) for f in source_formats)}) AND x_GpuHours IS NOT NULL"
    if period:
        where += f" AND x_BillingPeriod = {lit(period)}"
    df = ledger.query(f"SELECT x_BillingPeriod, SUM(x_GpuHours) AS gpu_hours, "
                      f"MIN(CAST(ChargePeriodStart AS DATE)) AS first_day, MAX(CAST(ChargePeriodStart AS DATE)) AS last_day "
                      f"FROM ledger WHERE {where} GROUP BY x_BillingPeriod ORDER BY x_BillingPeriod")
    caps = []
    for i, (p, first, last) in enumerate(zip(df["x_BillingPeriod"], df["first_day"], df["last_day"])):
        days = pd.Period(p, freq="M").days_in_month
        if len(df) and (i == 0 or i == len(df) - 1):  # the data's first/last month may be partial
            start = pd.Timestamp(first).day if i == 0 else 1
            end = pd.Timestamp(last).day if i == len(df) - 1 else days
            days = end - start + 1
        caps.append(Decimal(model.gpus * 24 * days))
    df = df.drop(columns=["first_day", "last_day"])
    df["capacity_hours"] = caps
    df["utilization"] = [min(Decimal(g or 0) / c, Decimal(1)) for g, c in zip(df["gpu_hours"], caps)]
    return df


def resolve_utilization(value: Any, monthly: pd.DataFrame, fallback: Decimal = Decimal("0.6")
                        ) -> tuple[Decimal, str]:
    """The utilization to model and where it came from: ``value`` if given (not ``""``/None),
    else the measured overall utilization of ``monthly``, else ``fallback``."""
    if value is not None and value != "":
        return _utilization(value), "parameter"
    measured = overall_utilization(monthly)
    if measured is not None:
        return measured, f"measured ({monthly['x_BillingPeriod'].min()} to {monthly['x_BillingPeriod'].max()})"
    return _utilization(fallback), "assumed (no on-prem GPU-hours in the ledger)"


def ledger_gpu_rates(ledger, period: str | None = None) -> pd.DataFrame:
    """What the cloud actually charged per GPU-hour: billed cost over ``x_GpuHours`` of the
    billed rows that carry GPU-hours, per provider, GPU model and currency (summed exactly in
    the engine; the rate is the exact quotient). Rows of instances include their CPU and
    memory, so this is the all-in rate of the GPU capacity bought."""
    from .sql import lit

    where = "x_GpuHours IS NOT NULL AND x_GpuHours > 0"
    if period:
        where += f" AND x_BillingPeriod = {lit(period)}"
    df = ledger.query("SELECT ProviderName, x_GpuModel, BillingCurrency, SUM(x_GpuHours) AS gpu_hours, "
                      f"SUM(BilledCost) AS billed_cost FROM billed WHERE {where} GROUP BY ALL "
                      "ORDER BY BillingCurrency, ProviderName, x_GpuModel")
    df["rate_per_gpu_hour"] = [
        (Decimal(c) / Decimal(h)) if h else None for c, h in zip(df["billed_cost"], df["gpu_hours"])]
    return df


def overall_utilization(monthly: pd.DataFrame) -> Decimal | None:
    """GPU-hours over capacity hours of a :func:`measured_utilization` frame (``None`` if empty)."""
    if monthly.empty:
        return None
    cap = sum(monthly["capacity_hours"], Decimal(0))
    return min(sum((Decimal(g or 0) for g in monthly["gpu_hours"]), Decimal(0)) / cap, Decimal(1))


def telemetry(ledger, period: str | None = None) -> pd.DataFrame:
    """Daily DCGM telemetry (``dcgm-samples`` rows): observed and busy GPU-hours, busy share
    and energy in kWh, summed exactly in the engine."""
    from .sql import lit

    where = "x_SourceFormat = 'dcgm-samples'"
    if period:
        where += f" AND x_BillingPeriod = {lit(period)}"
    return ledger.query(
        "SELECT CAST(ChargePeriodStart AS DATE) AS day, x_GpuModel, SUM(ConsumedQuantity) AS observed_gpu_hours, "
        "SUM(TRY_CAST(x_GpuBusyHours AS DECIMAL(38,18))) AS busy_gpu_hours, "
        "SUM(TRY_CAST(x_EnergyKWh AS DECIMAL(38,18))) AS it_kwh, "
        "SUM(TRY_CAST(x_GpuBusyHours AS DECIMAL(38,18))) / NULLIF(SUM(ConsumedQuantity), 0) AS busy_share "
        f"FROM ledger WHERE {where} GROUP BY ALL ORDER BY day")


def hybrid_sheets(model: OnPremModel, utilization: Decimal | float | str, rates: pd.DataFrame,
                  api_prices: dict[str, Decimal] | None = None, years: int = 5) -> dict[str, pd.DataFrame]:
    """The DataFrames of the finance workbook's "Hybrid TCO" sheet: ``Hybrid TCO`` (the
    inputs, the cost breakdown, comparison, TCO and sensitivity stacked as sections) and the
    same parts as separate frames (keys ``inputs``, ``breakdown``, ``cloud``, ``api``,
    ``tco``, ``tornado``)."""
    u = _utilization(utilization)
    inputs = pd.DataFrame([{"input": k, "value": str(v)} for k, v in asdict(model).items()]
                          + [{"input": "utilization", "value": str(u)},
                             {"input": "rates_as_of", "value": str(max(rates["as_of"])) if not rates.empty else ""}])
    cloud = cloud_comparison(model, u, rates)
    parts = {
        "inputs": inputs,
        "breakdown": model.breakdown(u),
        "cloud": cloud,
        "api": api_comparison(model, u, api_prices or {}),
        "tco": tco(model, u, firm_rate(rates) or Decimal(0), years),
        "tornado": tornado(model, u),
    }
    blocks = []
    for name, df in parts.items():
        blocks.append(pd.DataFrame({"section": [name.upper()]}))
        blocks.append(df.astype(object).assign(section=name))
    blocks.append(pd.DataFrame({"section": ["RECOMMENDATION"], "input": [recommendation(model, u, rates)]}))
    sheet = pd.concat(blocks, ignore_index=True)
    sheet = sheet[["section"] + [c for c in sheet.columns if c != "section"]]
    return {"Hybrid TCO": sheet, **parts}


def opencost_pricing(model: OnPremModel, utilization: Decimal | float | str,
                     base: dict[str, str] | None = None) -> dict[str, str]:
    """OpenCost custom pricing (``configs/default.json`` layout) whose ``GPU`` hourly price is
    the model's cost per used GPU-hour, so OpenCost allocations of the on-prem cluster carry
    the full cost of ownership (idle capacity included). Other keys come from ``base``.

    Example:
        >>> from decimal import Decimal as D
        >>> m = OnPremModel(servers=1, gpus_per_server=1, capex_per_server=D("8760"), capex_per_gpu=D(0),
        ...                 depreciation_years=1, power_idle_kw=D(0), power_loaded_kw=D(0))
        >>> opencost_pricing(m, "0.5")["GPU"]
        '2.000000'
    """
    cost = model.annual(utilization).cost_per_gpu_hour
    if cost is None:
        raise ConfigError("no GPU-hour price at 0 % utilization", column="utilization")
    out = {"provider": "custom", "description": f"aifinops on-prem TCO at {_pct(_utilization(utilization))} utilization"}
    out.update(base or {})
    out["GPU"] = f"{cost.quantize(Decimal('0.000001')):f}"
    return out


def finance_sheet(ledger, period: str | None = None, config_path: str | Path | None = None,
                  rates_path: str | Path | None = None, api_prices: dict[str, Decimal] | None = None,
                  years: int = 5) -> dict[str, pd.DataFrame]:
    """``{"Hybrid TCO": frame}`` for the finance workbook: the model from ``config_path`` (the
    dataclass defaults if None), utilization measured in ``ledger``, rates as of ``period``."""
    model = load_model(config_path)
    u, _ = resolve_utilization(None, measured_utilization(ledger, model))
    rates = select_rates(load_rates(rates_path), model.gpu_model, period)
    return {"Hybrid TCO": hybrid_sheets(model, u, rates, api_prices, years)["Hybrid TCO"]}


# -- charts --------------------------------------------------------------------------------

def tornado_chart(df: pd.DataFrame, currency: str = "USD"):
    """Horizontal tornado bars (low and high result per input) around the base result."""
    import altair as alt

    rows = []
    for r in df.itertuples(index=False):
        for side, res, val in (("low", r.low_result, r.low_value), ("high", r.high_result, r.high_value)):
            rows.append({"input": r.input, "side": side, "result": float(res), "base": float(r.base_result),
                         "value": str(val)})
    data = pd.DataFrame(rows)
    order = list(df["input"])
    bars = alt.Chart(data).mark_bar().encode(
        y=alt.Y("input:N", sort=order, title=None),
        x=alt.X("result:Q", title=f"cost per used GPU-hour ({currency})"),
        x2="base:Q",
        color=alt.Color("side:N", title="input at"),
        tooltip=["input", "side", "value", alt.Tooltip("result:Q", format=",.3f")])
    return bars.properties(title="Sensitivity of the on-prem cost per GPU-hour", width=480)


def cost_per_gpu_hour_chart(model: OnPremModel, rates: pd.DataFrame, steps: int = 20):
    """On-prem cost per used GPU-hour over utilization 5..100 % against each cloud rate."""
    import altair as alt

    rows = []
    for i in range(1, steps + 1):
        u = Decimal(i) / steps
        rows.append({"utilization": float(u), "option": "on-prem",
                     "rate": float(model.annual(u).cost_per_gpu_hour)})
        for r in rates.itertuples(index=False):
            rows.append({"utilization": float(u), "option": f"{r.provider} {r.pricing}",
                         "rate": float(r.usd_per_gpu_hour)})
    data = pd.DataFrame(rows)
    return alt.Chart(data).mark_line().encode(
        x=alt.X("utilization:Q", axis=alt.Axis(format="%"), title="utilization"),
        y=alt.Y("rate:Q", title=f"{model.currency} per GPU-hour", scale=alt.Scale(type="log")),
        color=alt.Color("option:N", title=None),
    ).properties(title=f"{model.gpu_model}: own vs rent", width=480)


def tco_chart(df: pd.DataFrame, currency: str = "USD"):
    """Cumulative cash out by year: on-prem vs cloud."""
    import altair as alt

    rows = []
    for r in df.itertuples(index=False):
        rows.append({"year": int(r.year), "option": "on-prem", "cumulative": float(r.onprem_cumulative)})
        rows.append({"year": int(r.year), "option": "cloud", "cumulative": float(r.cloud_cumulative)})
    return alt.Chart(pd.DataFrame(rows)).mark_line(point=True).encode(
        x=alt.X("year:O", title="year"), y=alt.Y("cumulative:Q", title=f"cumulative cash out ({currency})"),
        color=alt.Color("option:N", title=None)).properties(title="TCO: cumulative cash flow", width=480)
