"""The ground truth of the sample company: one daily usage-and-cost table that every
sample writer (``aifinops.samples.<format>.write``) renders in its own export format.

**Northwind Labs** is a fictional AI product company. Five teams (``platform``,
``search``, ``assistant``, ``data-science``, ``support-ai``; cost centers ``CC-100``,
``CC-110``, ``CC-120``, ``CC-130``, ``CC-140``) run five AI features (``chat-assistant``,
``semantic-search``, ``doc-summarizer``, ``support-triage``, ``code-review``) for up to
40 B2B customers (``cust-001`` .. ``cust-040``, onboarding over time) in ``prod`` and
``staging``, on AWS, Azure, Google Cloud, Oracle Cloud, the OpenAI and Anthropic APIs, a
vector database (Pinecone, provider ``saas``) and an on-prem Slurm cluster of 4 x 8 H100.

The table is deterministic: the same ``(start, months, seed, scale)`` gives an identical
frame (one ``numpy.random.Generator`` seeded with ``seed``, fixed call order). It has:

- weekly seasonality (B2B traffic dips at weekends, training runs on weekdays) and a
  growth trend (LLM traffic grows ~7 % a month, customers onboard over time);
- a list-price cut: OpenAI ``o3`` dropped 80 % on 2025-06-10 (real, from genai-prices);
- a negotiated price cut mid-period: Amazon Bedrock tokens are billed 20 % under list
  from the first month after the period's midpoint (``cost`` < ``list_cost``);
- model shifts: ``chat-assistant`` moves from ``gpt-4o`` to ``gpt-4.1-mini`` over four
  weeks from ~35 % into the period (OpenAI first, Azure OpenAI two weeks later), and
  ``support-triage`` moves from ``claude-3-5-haiku`` to ``claude-haiku-4-5`` on its
  release day 2025-10-16;
- a runaway job: four ``p5.48xlarge`` instances of ``data-science`` left running 24 h a
  day for four days at ~60 % into the period.

See :func:`events` for the exact dates of a given period.

Money is exact: ``quantity``, ``unit_price``, ``cost``, ``list_cost`` and ``gpu_hours``
are :class:`decimal.Decimal`; ``cost = (quantity * unit_price)`` quantized (half up) to the
provider's precision (:data:`PRECISION`), ``list_cost`` likewise with the list price.
Token prices come from genai-prices 0.2.3 (:data:`TOKEN_PRICES`, checked against the
package by the tests) so re-pricing the tokens reproduces ``list_cost``; exceptions:
Azure OpenAI in the EUR subscription (USD price x :data:`EUR_PER_USD`) and cloud
instance/storage prices, which are illustrative list prices, not from a catalogue.

Conventions the writers rely on:

- token rows are per token type and do not overlap: ``input`` excludes cached and
  cache-write tokens, ``output`` excludes ``reasoning`` tokens (billed at the output price);
- ``requests`` is set on ``input`` rows only (one count per request);
- ``quantity`` is in ``pricing_unit`` (``1K Tokens`` rows have ``quantity = tokens / 1000``);
- ``tax``/``credit``/``fee``/``purchase`` rows have ``quantity``/``unit_price`` None and
  ``list_cost == cost``; tax and fee rows are dated on the first day of their month;
- each GCP ``credit`` row mirrors one Vertex usage row (same date, project, service, sku,
  resource_id and tags) whose cost it offsets, so it can be attached as that row's ``credits[]``;
- ``onprem`` rows have ``cost``/``list_cost``/``unit_price``/``currency`` None (owned
  hardware; costed later by aifinops' on-prem rates);
- OpenAI and Anthropic rows carry no tags (``{}``): the API exports identify only the
  project/workspace, user and model; team/feature/customer come from gateway metadata;
- ``project_name`` (the sub-account's display name) is an extra column beyond the contract.

Example:
    >>> from aifinops.samples.truth import ground_truth
    >>> t = ground_truth(months=1)
    >>> sorted(t["provider"].unique())[:3]
    ['anthropic', 'aws', 'azure']
    >>> row = t[t["charge_type"] == "usage"].iloc[0]
    >>> row["cost"] == (row["quantity"] * row["unit_price"]).quantize(PRECISION_QUANTUM[row["provider"]], ROUND_HALF_UP)
    True
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from operator import itemgetter

import numpy as np
import pandas as pd

__all__ = [
    "COLUMNS",
    "PROVIDERS",
    "TEAMS",
    "FEATURES",
    "COST_CENTERS",
    "PRECISION",
    "PRECISION_QUANTUM",
    "TOKEN_PRICES",
    "GENAI_PRICES_REFS",
    "EUR_PER_USD",
    "events",
    "ground_truth",
    "fmt_decimal",
]

#: the contract columns, in order (``project_name`` is an addition)
COLUMNS: tuple[str, ...] = (
    "date", "provider", "account_id", "account_name", "project", "project_name", "region",
    "service", "service_category", "resource_id", "sku", "charge_type", "pricing_unit",
    "quantity", "unit_price", "cost", "list_cost", "currency", "model", "token_type", "tokens",
    "requests", "gpu_model", "gpu_hours", "team", "feature", "environment", "user", "customer",
    "cost_center", "tags",
)
_STR_COLUMNS = ("provider", "account_id", "account_name", "project", "project_name", "region",
                "service", "service_category", "resource_id", "sku", "charge_type", "pricing_unit",
                "currency", "model", "token_type", "gpu_model", "team", "feature", "environment",
                "user", "customer", "cost_center")
_DECIMAL_COLUMNS = ("quantity", "unit_price", "cost", "list_cost", "gpu_hours")
_INT_COLUMNS = ("tokens", "requests")

PROVIDERS: tuple[str, ...] = ("aws", "azure", "gcp", "oci", "openai", "anthropic", "onprem", "saas")
TEAMS: dict[str, str] = {  # team -> cost center
    "platform": "CC-100",
    "search": "CC-110",
    "assistant": "CC-120",
    "data-science": "CC-130",
    "support-ai": "CC-140",
}
COST_CENTERS: tuple[str, ...] = tuple(TEAMS.values())
FEATURES: dict[str, str] = {  # feature -> owning team
    "chat-assistant": "assistant",
    "semantic-search": "search",
    "doc-summarizer": "assistant",
    "support-triage": "support-ai",
    "code-review": "platform",
}

#: decimal places of billed amounts per provider (rounding half up)
PRECISION: dict[str, int] = {
    "aws": 10, "azure": 8, "gcp": 6, "oci": 10, "openai": 8, "anthropic": 6, "saas": 6, "onprem": 6,
}
PRECISION_QUANTUM: dict[str, Decimal] = {p: Decimal(1).scaleb(-n) for p, n in PRECISION.items()}
_CENT = Decimal("0.01")
_Q10 = Decimal("1E-10")

#: fixed conversion of the EUR-billed Azure subscription (documented, not a market rate)
EUR_PER_USD = Decimal("0.92")

_D = Decimal
#: USD per million tokens, from genai-prices 0.2.3: (provider, model) -> [(from_date, prices)].
#: ``reasoning`` is billed at the output price (OpenAI bills reasoning tokens as output).
TOKEN_PRICES: dict[tuple[str, str], list[tuple[str | None, dict[str, Decimal]]]] = {
    ("openai", "gpt-4o"): [(None, {"input": _D("2.5"), "cached_input": _D("1.25"), "output": _D("10")})],
    ("openai", "gpt-4.1-mini"): [(None, {"input": _D("0.4"), "cached_input": _D("0.1"), "output": _D("1.6")})],
    ("openai", "o3"): [
        (None, {"input": _D("10"), "cached_input": _D("0.5"), "output": _D("40")}),
        ("2025-06-10", {"input": _D("2"), "cached_input": _D("0.5"), "output": _D("8")}),
    ],
    ("anthropic", "claude-sonnet-4"): [(None, {
        "input": _D("3"), "output": _D("15"), "cached_input": _D("0.3"),
        "cache_write_5m": _D("3.75"), "cache_write_1h": _D("6")})],
    ("anthropic", "claude-3-5-haiku"): [(None, {
        "input": _D("0.8"), "output": _D("4"), "cached_input": _D("0.08"),
        "cache_write_5m": _D("1"), "cache_write_1h": _D("1.6")})],
    ("anthropic", "claude-haiku-4-5"): [(None, {
        "input": _D("1"), "output": _D("5"), "cached_input": _D("0.1"),
        "cache_write_5m": _D("1.25"), "cache_write_1h": _D("2")})],
    ("aws", "claude-3-haiku"): [(None, {"input": _D("0.25"), "output": _D("1.25")})],
    ("aws", "titan-embed-text-v2"): [(None, {"input": _D("0.02")})],
    ("azure", "gpt-4o"): [(None, {"input": _D("2.5"), "cached_input": _D("1.25"), "output": _D("10")})],
    ("azure", "gpt-4.1-mini"): [(None, {"input": _D("0.4"), "cached_input": _D("0.1"), "output": _D("1.6")})],
    ("gcp", "gemini-2.5-flash"): [(None, {"input": _D("0.3"), "cached_input": _D("0.03"), "output": _D("2.5")})],
}
#: (provider, model) -> (genai-prices provider id, model ref) the prices were read from
GENAI_PRICES_REFS: dict[tuple[str, str], tuple[str, str]] = {
    ("openai", "gpt-4o"): ("openai", "gpt-4o"),
    ("openai", "gpt-4.1-mini"): ("openai", "gpt-4.1-mini"),
    ("openai", "o3"): ("openai", "o3"),
    ("anthropic", "claude-sonnet-4"): ("anthropic", "claude-sonnet-4"),
    ("anthropic", "claude-3-5-haiku"): ("anthropic", "claude-3-5-haiku"),
    ("anthropic", "claude-haiku-4-5"): ("anthropic", "claude-haiku-4-5"),
    ("aws", "claude-3-haiku"): ("aws", "regional.anthropic.claude-3-haiku-20240307-v1:0"),
    ("aws", "titan-embed-text-v2"): ("aws", "amazon.titan-embed-text-v2:0"),
    ("azure", "gpt-4o"): ("azure", "gpt-4o"),
    ("azure", "gpt-4.1-mini"): ("azure", "gpt-4.1-mini"),
    ("gcp", "gemini-2.5-flash"): ("google", "gemini-2.5-flash"),
}

_MILLION = Decimal(1_000_000)


def fmt_decimal(value: Decimal | None) -> str:
    """Plain (never scientific) text of a Decimal for writers; None -> ``''``.

    >>> fmt_decimal(Decimal("3E-7")), fmt_decimal(Decimal("0E-10")), fmt_decimal(None)
    ('0.0000003', '0.0000000000', '')
    """
    if value is None:
        return ""
    return format(value, "f")


def _token_price_mtok(provider: str, model: str, token_type: str, day: date) -> Decimal:
    """USD per million tokens in force on ``day``."""
    prices = None
    for since, table in TOKEN_PRICES[(provider, model)]:
        if since is None or day >= date.fromisoformat(since):
            prices = table
    assert prices is not None
    return prices["output" if token_type == "reasoning" else token_type]


# -- the company's accounts ------------------------------------------------------------------
_AWS_PAYER = ("000412345678", "Northwind Labs")
_AWS_ACCOUNTS = {  # usage account id -> name
    "ai-prod": ("012345678901", "nw-ai-prod"),
    "training": ("009876543210", "nw-ml-training"),
    "staging": ("001122334455", "nw-staging"),
}
_AZ_EA = ("80012345", "Northwind Labs EA")
_AZ_MCA = ("7d1c3a52-5f0e-4b8a-9c6d-2e4f1a0b9c8d:1f2e3d4c-5b6a-4789-a0b1-c2d3e4f5a6b7_2019-05-31",
           "Northwind Labs GmbH")
_AZ_SUBS = {
    "us": ("a1b2c3d4-1111-4a5b-8c9d-000000000001", "nw-ai-prod-us"),
    "eu": ("e5f6a7b8-2222-4c3d-9e8f-000000000002", "nw-ai-prod-eu"),
}
_GCP_BILLING = ("01A2B3-C4D5E6-F7A8B9", "Northwind Labs GCP")
_GCP_PROJECTS = {"search": ("nw-search-prod", "NW Search Prod"), "training": ("nw-ml-training", "NW ML Training")}
_OCI_TENANCY = ("ocid1.tenancy.oc1..aaaaaaaanorthwindlabs7q2xk4m5n6p7r8s9t0u1v2w3x4y5z6a7b8c9d0e",
                "northwindlabs")
_OCI_COMPARTMENT = ("ocid1.compartment.oc1..aaaaaaaadatascience3h4j5k6l7m8n9p0q1r2s3t4u5v6w7x8y9z0a1b2",
                    "data-science")
_OPENAI_ORG = ("org-N0rthw1ndLabs2025aBcD", "Northwind Labs")
_OPENAI_PROJECTS = {
    ("chat-assistant", "prod"): ("proj_Ch4tAssistProd01xYz", "chat-assistant-prod"),
    ("chat-assistant", "staging"): ("proj_Ch4tAssistStg01xYz", "chat-assistant-staging"),
    ("code-review", "prod"): ("proj_C0deReviewProd01xYz", "code-review-prod"),
}
_ANTHROPIC_ORG = ("6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b", "Northwind Labs")
_ANTHROPIC_WORKSPACES = {
    ("doc-summarizer", "prod"): ("wrkspc_01DocSummarizerProd9", "doc-summarizer-prod"),
    ("support-triage", "prod"): ("wrkspc_01SupportTriageProd9", "support-triage-prod"),
    ("support-triage", "staging"): ("wrkspc_01SupportTriageStg99", "support-triage-staging"),
}
_PINECONE = ("org-nw-7f3a9c", "Northwind Labs")
_PINECONE_PROJECT = ("proj-9c1e5b7d", "semantic-search-prod")
_ONPREM = ("onprem-fra1", "Northwind DC Frankfurt")

_SERVICE_CATEGORY = {
    "Amazon Bedrock": "AI and Machine Learning",
    "Amazon Elastic Compute Cloud": "Compute",
    "Amazon Simple Storage Service": "Storage",
    "AWS Support (Business)": "Management and Governance",
    "Azure OpenAI": "AI and Machine Learning",
    "Virtual Machines": "Compute",
    "Storage": "Storage",
    "Vertex AI": "AI and Machine Learning",
    "Compute Engine": "Compute",
    "COMPUTE": "Compute",
    "OpenAI API": "AI and Machine Learning",
    "Claude API": "AI and Machine Learning",
    "Pinecone Serverless": "Databases",
    "Slurm GPU cluster": "Compute",
}

# -- provider-native SKU names per (model, token type) ---------------------------------------
_BEDROCK_MODEL_TOKEN = {"claude-3-haiku": "Claude3Haiku", "titan-embed-text-v2": "TitanEmbedTextV2"}
_AZURE_METER = {
    ("gpt-4o", "input"): "gpt-4o 1120 Inp glbl Tokens",
    ("gpt-4o", "cached_input"): "gpt-4o 1120 cached Inp glbl Tokens",
    ("gpt-4o", "output"): "gpt-4o 1120 Outp glbl Tokens",
    ("gpt-4.1-mini", "input"): "gpt 4.1 mini Inp glbl Tokens",
    ("gpt-4.1-mini", "cached_input"): "gpt 4.1 mini cached Inp glbl Tokens",
    ("gpt-4.1-mini", "output"): "gpt 4.1 mini Outp glbl Tokens",
}
_VERTEX_SKU = {
    "input": "Gemini 2.5 Flash GA Text Input - Predictions",
    "cached_input": "Gemini 2.5 Flash GA Input Text Caching",
    "output": "Gemini 2.5 Flash GA Text Output - Predictions",
    "reasoning": "Gemini 2.5 Flash GA Thinking Text Output - Predictions",
}
_OPENAI_LINE = {"input": "input_tokens", "cached_input": "input_cached_tokens",
                "output": "output_tokens", "reasoning": "reasoning_tokens"}
_ANTHROPIC_MODEL_NAME = {"claude-sonnet-4": "Claude Sonnet 4", "claude-3-5-haiku": "Claude Haiku 3.5",
                         "claude-haiku-4-5": "Claude Haiku 4.5"}
_ANTHROPIC_LINE = {"input": "Input Tokens", "output": "Output Tokens", "cached_input": "Cache Read",
                   "cache_write_5m": "5m Cache Write", "cache_write_1h": "1h Cache Write"}

# -- illustrative cloud list prices (not from a catalogue) ------------------------------------
_EC2 = {  # instance type -> (USD/hour, GPU model, GPUs per instance)
    "p4d.24xlarge": (_D("32.7726"), "A100", 8),
    "p5.48xlarge": (_D("55.04"), "H100", 8),
    "g5.2xlarge": (_D("1.212"), "A10G", 1),
}
_AZ_VM = {  # meter -> (USD/hour, GPU model, GPUs)
    "NC24ads A100 v4": (_D("3.673"), "A100", 1),
    "ND96asr A100 v4": (_D("27.197"), "A100", 8),
}
_GCP_GPU = {  # SKU -> (USD/GPU-hour, GPU model)
    "Nvidia Tesla A100 GPU running in Americas": (_D("2.933908"), "A100"),
    "Nvidia H100 80GB GPU running in Americas": (_D("11.061250"), "H100"),
}
_GCP_CORE = {"A2 Instance Core running in Americas": _D("0.031611"),
             "A3 Instance Core running in Americas": _D("0.029917")}


# -- events ------------------------------------------------------------------------------------
def _period(start: str | date, months: int) -> tuple[date, date]:
    s = date.fromisoformat(start) if isinstance(start, str) else start
    s = s.replace(day=1) if s.day != 1 else s
    y, m = divmod(s.month - 1 + months, 12)
    return s, date(s.year + y, m + 1, 1)


def _monday_on_or_after(d: date) -> date:
    return d + timedelta(days=(7 - d.weekday()) % 7)


def events(start: str | date = "2025-06-01", months: int = 15) -> dict[str, dict]:
    """The dated story events of a period (dates outside the period do not occur).

    Returns:
        ``price_cut`` (OpenAI o3 list price, real), ``discount`` (Bedrock billed at 80 %
        of list from ``date``), ``model_shift`` (gpt-4o -> gpt-4.1-mini ramp), ``azure_shift``,
        ``haiku_shift`` (claude-3-5-haiku -> claude-haiku-4-5) and ``runaway`` (four
        p5.48xlarge of data-science, 24 h/day on ``days``).

    >>> events()["runaway"]["days"][0]
    datetime.date(2026, 3, 2)
    """
    s, e = _period(start, months)
    n = (e - s).days
    shift = _monday_on_or_after(s + timedelta(days=int(n * 0.35)))
    mid = s + timedelta(days=n // 2)
    y, m = divmod(mid.month, 12)
    discount = date(mid.year + y, m + 1, 1)
    runaway = _monday_on_or_after(s + timedelta(days=int(n * 0.6)))
    return {
        "price_cut": {"provider": "openai", "model": "o3", "date": date(2025, 6, 10),
                      "before": TOKEN_PRICES[("openai", "o3")][0][1],
                      "after": TOKEN_PRICES[("openai", "o3")][1][1]},
        "discount": {"provider": "aws", "service": "Amazon Bedrock", "date": discount,
                     "billed_share_of_list": _D("0.80")},
        "model_shift": {"provider": "openai", "feature": "chat-assistant", "from": "gpt-4o",
                        "to": "gpt-4.1-mini", "start": shift, "days": 28, "final_share": 0.85},
        "azure_shift": {"provider": "azure", "feature": "chat-assistant", "from": "gpt-4o",
                        "to": "gpt-4.1-mini", "start": shift + timedelta(days=14), "days": 28,
                        "final_share": 0.85},
        "haiku_shift": {"provider": "anthropic", "feature": "support-triage", "from": "claude-3-5-haiku",
                        "to": "claude-haiku-4-5", "start": date(2025, 10, 16), "days": 0, "final_share": 1.0},
        "runaway": {"provider": "aws", "team": "data-science", "sku": "BoxUsage:p5.48xlarge",
                    "instances": 4, "days": [runaway + timedelta(days=i) for i in range(4)]},
    }


def _shift_share(ev: dict, day: date) -> float:
    """Share of traffic on the new model on ``day``."""
    if day < ev["start"]:
        return 0.0
    if ev["days"] == 0:
        return ev["final_share"]
    return ev["final_share"] * min(1.0, ((day - ev["start"]).days + 1) / ev["days"])


# -- the generator -----------------------------------------------------------------------------
_ROW = {c: None for c in COLUMNS}
_GET_ROW = itemgetter(*COLUMNS)
_IX = {c: i for i, c in enumerate(COLUMNS)}
_SORT_KEY = itemgetter(_IX["date"], _IX["provider"])


class _Acc:
    """Row accumulator: tuples in :data:`COLUMNS` order."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, **kw) -> None:
        row = dict(_ROW)
        row.update(kw)
        self.rows.append(_GET_ROW(row))

    def __len__(self) -> int:
        return len(self.rows)


def _money(quantity: Decimal, price: Decimal, provider: str) -> Decimal:
    return (quantity * price).quantize(PRECISION_QUANTUM[provider], ROUND_HALF_UP)


_WEEKLY_B2B = np.array([1.0, 1.06, 1.07, 1.04, 0.96, 0.55, 0.48])
_WEEKLY_FLAT = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.92, 0.9])
_WEEKLY_NONE = np.ones(7)


class _Company:
    def __init__(self, start: date, end: date, seed: int, scale: float) -> None:
        self.start, self.end = start, end
        self.days = [start + timedelta(days=i) for i in range((end - start).days)]
        self.n = len(self.days)
        self.rng = np.random.default_rng(seed)
        self.scale = scale
        self.ev = events(start, _months_between(start, end))
        self.acc = _Acc()
        self._price_cache: dict[tuple, tuple[Decimal, Decimal]] = {}
        self.dow = np.array([d.weekday() for d in self.days])
        self.month_idx = np.array([(d - start).days / 30.4375 for d in self.days])
        # customers: zipf-like sizes, onboarding over the period
        n_cust = max(40, int(round(40 * scale)))
        self.customers = [f"cust-{i + 1:03d}" for i in range(n_cust)]
        weights = 1.0 / np.arange(1, n_cust + 1) ** 1.1
        self.cust_weight = self.rng.permutation(weights)
        initial = max(15, int(round(15 * scale)))
        onboard = np.zeros(n_cust, dtype=int)
        onboard[initial:] = np.sort(self.rng.integers(0, max(1, int(self.n * 0.85)), n_cust - initial))
        self.cust_onboard = onboard
        self.fanout = max(1, int(round(5 * scale)))

    # daily multipliers
    def curve(self, growth: float, weekly: np.ndarray, sigma: float) -> np.ndarray:
        trend = (1.0 + growth) ** self.month_idx
        noise = self.rng.lognormal(0.0, sigma, self.n)
        return trend * weekly[self.dow] * noise

    def split(self, i: int) -> list[tuple[str, float]]:
        """Customers active on day ``i`` and their shares of that day's traffic."""
        active = np.flatnonzero(self.cust_onboard <= i)
        k = min(self.fanout, len(active))
        # Gumbel top-k: k draws without replacement, proportional to customer size
        keys = np.log(self.cust_weight[active]) + self.rng.gumbel(size=len(active))
        chosen = np.sort(active[np.argsort(-keys, kind="stable")[:k]])
        w = self.cust_weight[chosen] * self.rng.lognormal(0.0, 0.25, k)
        return [(self.customers[c], float(s)) for c, s in zip(chosen, w / w.sum())]

    # -- row helpers --------------------------------------------------------------------------
    def usage(self, *, day: date, provider: str, quantity: Decimal, unit_price: Decimal | None,
              list_price: Decimal | None, **kw) -> None:
        cost = _money(quantity, unit_price, provider) if unit_price is not None else None
        list_cost = _money(quantity, list_price, provider) if list_price is not None else None
        self.acc.add(date=day, provider=provider, charge_type="usage", quantity=quantity,
                     unit_price=unit_price, cost=cost, list_cost=list_cost, **kw)

    def tokens(self, *, day: date, provider: str, model: str, token_type: str, tokens: int,
               block: int, fx: Decimal = _D(1), discount: Decimal = _D(1), **kw) -> None:
        key = (provider, model, token_type, day, block, fx, discount)
        prices = self._price_cache.get(key)
        if prices is None:
            list_price = _token_price_mtok(provider, model, token_type, day) * fx * block / _MILLION
            prices = self._price_cache[key] = (list_price, list_price * discount)
        list_price, unit_price = prices
        quantity = _D(tokens) / block if block != 1 else _D(tokens)
        q = PRECISION_QUANTUM[provider]
        row = dict(_ROW)
        row.update(kw)
        row.update(date=day, provider=provider, charge_type="usage", quantity=quantity, unit_price=unit_price,
                   cost=(quantity * unit_price).quantize(q, ROUND_HALF_UP),
                   list_cost=(quantity * list_price).quantize(q, ROUND_HALF_UP), model=model,
                   token_type=token_type, tokens=tokens,
                   pricing_unit="Tokens" if block == 1 else f"{block // 1000}K Tokens")
        self.acc.rows.append(_GET_ROW(row))

    # -- providers ----------------------------------------------------------------------------
    def llm_api(self) -> None:
        """OpenAI and Anthropic API traffic, split per customer in prod."""
        ev = self.ev
        streams = [
            # provider, feature, env, base tokens/day by type at start, prompt size, users
            ("openai", "chat-assistant", "prod", {"input": 38e6, "cached_input": 16e6, "output": 6.5e6}, 2400,
             ["svc-chat-assistant"]),
            ("openai", "chat-assistant", "staging", {"input": 2.2e6, "cached_input": 0.6e6, "output": 0.4e6}, 2400,
             ["dana.okafor", "eli.brandt"]),
            ("openai", "code-review", "prod",
             {"input": 5.5e6, "cached_input": 2.5e6, "output": 0.9e6, "reasoning": 2.1e6}, 9000,
             ["svc-code-review"]),
            ("anthropic", "doc-summarizer", "prod",
             {"input": 9e6, "output": 1.6e6, "cached_input": 26e6, "cache_write_5m": 2.8e6,
              "cache_write_1h": 0.9e6}, 12000, ["svc-doc-summarizer"]),
            ("anthropic", "support-triage", "prod",
             {"input": 21e6, "output": 3.8e6, "cached_input": 11e6, "cache_write_5m": 1.9e6,
              "cache_write_1h": 0.3e6}, 1800, ["svc-support-triage"]),
            ("anthropic", "support-triage", "staging",
             {"input": 1.1e6, "output": 0.2e6, "cached_input": 0.5e6, "cache_write_5m": 0.1e6,
              "cache_write_1h": 0.02e6}, 1800, ["farah.nasser"]),
        ]
        for provider, feature, env, base, prompt, users in streams:
            team = FEATURES[feature]
            growth = 0.07 if env == "prod" else 0.03
            curve = self.curve(growth, _WEEKLY_B2B if env == "prod" else _WEEKLY_FLAT, 0.09)
            if provider == "openai":
                org, (proj, pname) = _OPENAI_ORG, _OPENAI_PROJECTS[(feature, env)]
                service = "OpenAI API"
            else:
                org, (proj, pname) = _ANTHROPIC_ORG, _ANTHROPIC_WORKSPACES[(feature, env)]
                service = "Claude API"
            for i, day in enumerate(self.days):
                if feature == "chat-assistant":
                    s = _shift_share(ev["model_shift"], day)
                    models = [("gpt-4o", 1.0 - s)] + ([("gpt-4.1-mini", s * 1.15)] if s > 0 else [])
                elif feature == "code-review":
                    models = [("o3", 1.0)]
                elif feature == "doc-summarizer":
                    models = [("claude-sonnet-4", 1.0)]
                else:
                    s = _shift_share(ev["haiku_shift"], day)
                    models = [(m, sh) for m, sh in (("claude-3-5-haiku", 1.0 - s), ("claude-haiku-4-5", s)) if sh > 0]
                if env == "prod":
                    parts = [(c, sh, users[0]) for c, sh in self.split(i)]
                else:
                    parts = [(None, 1.0 / len(users), u) for u in users]
                for model, m_share in models:
                    for customer, c_share, user in parts:
                        for tt, base_tokens in base.items():
                            n = int(base_tokens * curve[i] * m_share * c_share)
                            if n <= 0:
                                continue
                            if provider == "openai":
                                sku = f"{model}, {_OPENAI_LINE[tt]}"
                            else:
                                sku = f"{_ANTHROPIC_MODEL_NAME[model]} Usage - {_ANTHROPIC_LINE[tt]}"
                            self.tokens(
                                day=day, provider=provider, model=model, token_type=tt, tokens=n, block=1,
                                account_id=org[0], account_name=org[1], project=proj, project_name=pname,
                                region=None, service=service, service_category=_SERVICE_CATEGORY[service],
                                resource_id=None, sku=sku, currency="USD",
                                requests=max(1, n // prompt) if tt == "input" else None,
                                team=team, feature=feature, environment=env, user=user,
                                customer=customer, cost_center=TEAMS[team], tags={})

    def aws(self) -> None:
        ev = self.ev
        payer = _AWS_PAYER
        # Bedrock: semantic-search query rewriting and embeddings, split per customer
        # through application inference profiles tagged with the customer.
        curve = self.curve(0.06, _WEEKLY_B2B, 0.08)
        acct, aname = _AWS_ACCOUNTS["ai-prod"]
        base = [("claude-3-haiku", "input", 30e6), ("claude-3-haiku", "output", 4.5e6),
                ("titan-embed-text-v2", "input", 55e6)]
        for i, day in enumerate(self.days):
            discount = ev["discount"]["billed_share_of_list"] if day >= ev["discount"]["date"] else _D(1)
            for customer, share in self.split(i):
                profile = f"semsearch-{customer}"
                for model, tt, b in base:
                    n = int(b * curve[i] * share)
                    if n <= 0:
                        continue
                    kind = "input-tokens" if tt == "input" else "output-tokens"
                    self.tokens(
                        day=day, provider="aws", model=model, token_type=tt, tokens=n, block=1000,
                        discount=discount, account_id=payer[0], account_name=payer[1], project=acct,
                        project_name=aname, region="us-east-1", service="Amazon Bedrock",
                        service_category=_SERVICE_CATEGORY["Amazon Bedrock"],
                        resource_id=f"arn:aws:bedrock:us-east-1:{acct}:application-inference-profile/{profile}",
                        sku=f"USE1-{_BEDROCK_MODEL_TOKEN[model]}-{kind}", currency="USD",
                        requests=max(1, n // 900) if tt == "input" else None,
                        team="search", feature="semantic-search", environment="prod", customer=customer,
                        cost_center=TEAMS["search"],
                        tags={"team": "search", "feature": "semantic-search", "env": "prod",
                              "cost-center": TEAMS["search"], "customer": customer})
        # EC2: training on p4d (weekdays), inference on g5 (24/7), the runaway p5 job
        tacct, tname = _AWS_ACCOUNTS["training"]
        runaway_days = set(ev["runaway"]["days"])
        train_hours = self.rng.uniform(9, 17, (self.n, 2))
        train_hours[self.dow >= 5] *= 0.25
        fleet = [
            ("p4d.24xlarge", "i-0a1b2c3d4e5f60701", "data-science", None, "prod", tacct, tname, 0),
            ("p4d.24xlarge", "i-0a1b2c3d4e5f60702", "data-science", None, "prod", tacct, tname, 1),
            ("g5.2xlarge", "i-0f9e8d7c6b5a40301", "search", "semantic-search", "prod", acct, aname, None),
            ("g5.2xlarge", "i-0f9e8d7c6b5a40302", "search", "semantic-search", "prod", acct, aname, None),
            ("g5.2xlarge", "i-0f9e8d7c6b5a40303", "search", "semantic-search", "staging",
             *_AWS_ACCOUNTS["staging"], None),
        ]
        for i, day in enumerate(self.days):
            for itype, rid, team, feature, env, uacct, uname, slot in fleet:
                hours = _D(24) if slot is None else _D(str(round(float(train_hours[i, slot]), 2)))
                if env == "staging":
                    hours = _D(12) if self.dow[i] < 5 else _D(0)
                if hours == 0:
                    continue
                self._ec2(day, itype, rid, hours, team, feature, env, uacct, uname)
            if day in runaway_days:
                for k in range(ev["runaway"]["instances"]):
                    self._ec2(day, "p5.48xlarge", f"i-0deadbeef5a5a5a{k:02d}", _D(24), "data-science", None,
                              "prod", tacct, tname)
        # S3: datasets and logs, GB-months per day
        buckets = [("nw-training-datasets", "data-science", None, tacct, tname, 180_000.0),
                   ("nw-platform-logs", "platform", None, acct, aname, 42_000.0)]
        for bucket, team, feature, uacct, uname, gb0 in buckets:
            curve = self.curve(0.04, _WEEKLY_NONE, 0.01)
            for i, day in enumerate(self.days):
                dim = _days_in_month(day)
                gbmo = (_D(str(round(gb0 * float(curve[i]), 3))) / dim).quantize(_Q10, ROUND_HALF_UP)
                self.usage(day=day, provider="aws", quantity=gbmo, unit_price=_D("0.023"), list_price=_D("0.023"),
                           account_id=payer[0], account_name=payer[1], project=uacct, project_name=uname,
                           region="us-east-1", service="Amazon Simple Storage Service",
                           service_category="Storage", resource_id=bucket, sku="TimedStorage-ByteHrs",
                           pricing_unit="GB-Mo", currency="USD", team=team, feature=feature,
                           environment="prod", cost_center=TEAMS[team],
                           tags={"team": team, "env": "prod", "cost-center": TEAMS[team]})

    def _ec2(self, day, itype, rid, hours, team, feature, env, uacct, uname) -> None:
        price, gpu, gpus = _EC2[itype]
        tags = {"team": team, "env": env, "cost-center": TEAMS[team]}
        if feature:
            tags["feature"] = feature
        self.usage(day=day, provider="aws", quantity=hours, unit_price=price, list_price=price,
                   account_id=_AWS_PAYER[0], account_name=_AWS_PAYER[1], project=uacct, project_name=uname,
                   region="us-east-1", service="Amazon Elastic Compute Cloud", service_category="Compute",
                   resource_id=rid, sku=f"BoxUsage:{itype}", pricing_unit="Hours", currency="USD",
                   gpu_model=gpu, gpu_hours=hours * gpus, team=team, feature=feature, environment=env,
                   cost_center=TEAMS[team], tags=tags)

    def azure(self) -> None:
        ev = self.ev
        # Azure OpenAI for EU customers, billed in EUR, 1K-token blocks
        sub, sname = _AZ_SUBS["eu"]
        rid = (f"/subscriptions/{sub}/resourceGroups/rg-assistant-eu/providers/"
               "Microsoft.CognitiveServices/accounts/nw-aoai-eu")
        base = {"input": 14e6, "cached_input": 5e6, "output": 2.4e6}
        curve = self.curve(0.08, _WEEKLY_B2B, 0.09)
        tags = {"Team": "assistant", "Feature": "chat-assistant", "Environment": "Prod", "CostCenter": "CC-120"}
        for i, day in enumerate(self.days):
            s = _shift_share(ev["azure_shift"], day)
            for model, share in (("gpt-4o", 1.0 - s), ("gpt-4.1-mini", s * 1.15)):
                if share <= 0:
                    continue
                for tt, b in base.items():
                    n = int(b * curve[i] * share)
                    self.tokens(day=day, provider="azure", model=model, token_type=tt, tokens=n, block=1000,
                                fx=EUR_PER_USD, account_id=_AZ_MCA[0], account_name=_AZ_MCA[1], project=sub,
                                project_name=sname, region="swedencentral", service="Azure OpenAI",
                                service_category="AI and Machine Learning", resource_id=rid,
                                sku=_AZURE_METER[(model, tt)], currency="EUR",
                                requests=max(1, n // 2400) if tt == "input" else None, team="assistant",
                                feature="chat-assistant", environment="prod", cost_center="CC-120",
                                tags=dict(tags))
        # GPU VMs in the US subscription (USD, EA)
        usub, uname = _AZ_SUBS["us"]
        vms = [("ND96asr A100 v4", "nd96-train-01", "rg-ds-training", "data-science", None),
               ("NC24ads A100 v4", "nc24-summarize-01", "rg-assistant-prod", "assistant", "doc-summarizer")]
        nd_hours = self.rng.uniform(4, 14, self.n)
        for i, day in enumerate(self.days):
            for meter, vm, rg, team, feature in vms:
                price, gpu, gpus = _AZ_VM[meter]
                if feature is None:
                    if self.dow[i] >= 5 or self.dow[i] == 2:
                        continue
                    hours = _D(str(round(float(nd_hours[i]), 2)))
                else:
                    hours = _D(24)
                t = {"Team": team, "Environment": "Prod", "CostCenter": TEAMS[team]}
                if feature:
                    t["Feature"] = feature
                self.usage(day=day, provider="azure", quantity=hours, unit_price=price, list_price=price,
                           account_id=_AZ_EA[0], account_name=_AZ_EA[1], project=usub, project_name=uname,
                           region="eastus", service="Virtual Machines", service_category="Compute",
                           resource_id=(f"/subscriptions/{usub}/resourceGroups/{rg}/providers/"
                                        f"Microsoft.Compute/virtualMachines/{vm}"),
                           sku=meter, pricing_unit="Hours", currency="USD", gpu_model=gpu,
                           gpu_hours=hours * gpus, team=team, feature=feature, environment="prod",
                           cost_center=TEAMS[team], tags=t)
        # storage in both subscriptions
        for (acct, acct_name), (sub_id, sub_name), region, cur, account, gb0, fx in (
            (_AZ_EA, _AZ_SUBS["us"], "eastus", "USD", "nwdsdatalake", 60_000.0, _D(1)),
            (_AZ_MCA, _AZ_SUBS["eu"], "swedencentral", "EUR", "nwassistanteu", 8_000.0, EUR_PER_USD),
        ):
            team = "data-science" if cur == "USD" else "assistant"
            curve = self.curve(0.03, _WEEKLY_NONE, 0.01)
            price = _D("0.0184") * fx
            for i, day in enumerate(self.days):
                gbmo = (_D(str(round(gb0 * float(curve[i]), 3))) / _days_in_month(day)).quantize(_Q10, ROUND_HALF_UP)
                self.usage(day=day, provider="azure", quantity=gbmo, unit_price=price, list_price=price,
                           account_id=acct, account_name=acct_name, project=sub_id, project_name=sub_name,
                           region=region, service="Storage", service_category="Storage",
                           resource_id=(f"/subscriptions/{sub_id}/resourceGroups/rg-storage/providers/"
                                        f"Microsoft.Storage/storageAccounts/{account}"),
                           sku="Hot LRS Data Stored", pricing_unit="GB/Month", currency=cur, team=team,
                           environment="prod", cost_center=TEAMS[team],
                           tags={"Team": team, "Environment": "Prod", "CostCenter": TEAMS[team]})

    def gcp(self) -> None:
        bill = _GCP_BILLING
        proj, pname = _GCP_PROJECTS["search"]
        labels = {"team": "search", "feature": "semantic-search", "env": "prod", "cost_center": "CC-110"}
        base = {"input": 32e6, "cached_input": 9e6, "output": 2.8e6, "reasoning": 1.9e6}
        curve = self.curve(0.07, _WEEKLY_B2B, 0.08)
        rid = f"//aiplatform.googleapis.com/projects/{proj}/locations/us-central1/publishers/google/models/gemini-2.5-flash"
        credit_until = _add_months(self.start, 5)
        credit_left = _D("4000")
        for i, day in enumerate(self.days):
            for tt, b in base.items():
                n = int(b * curve[i])
                self.tokens(day=day, provider="gcp", model="gemini-2.5-flash", token_type=tt, tokens=n, block=1,
                            account_id=bill[0], account_name=bill[1], project=proj, project_name=pname,
                            region="us-central1", service="Vertex AI",
                            service_category="AI and Machine Learning", resource_id=rid, sku=_VERTEX_SKU[tt],
                            currency="USD", requests=max(1, n // 1500) if tt == "input" else None,
                            team="search", feature="semantic-search", environment="prod",
                            cost_center="CC-110", tags=dict(labels))
                # Google for Startups credits cover the text-input SKU for five months
                if tt == "input" and day < credit_until and credit_left > 0:
                    amount = min(self.acc.rows[-1][_IX["cost"]], credit_left)
                    credit_left -= amount
                    self._charge(day, "gcp", "credit", -amount, account_id=bill[0], account_name=bill[1],
                                 project=proj, project_name=pname, region="us-central1", service="Vertex AI",
                                 service_category="AI and Machine Learning", resource_id=rid,
                                 sku=_VERTEX_SKU[tt], currency="USD", team="search",
                                 feature="semantic-search", environment="prod", cost_center="CC-110",
                                 tags=dict(labels))
        # Compute Engine: one a2-highgpu-1g for embeddings 24/7, a3-highgpu-8g training bursts
        tproj, tpname = _GCP_PROJECTS["training"]
        a3_on = self.rng.random(self.n) < 0.3
        for i, day in enumerate(self.days):
            vms = [("a2-highgpu-1g", "nw-embed-a2-01", proj, pname, "search", "semantic-search", 1, 12,
                    "Nvidia Tesla A100 GPU running in Americas", "A2 Instance Core running in Americas", _D(24))]
            if a3_on[i] and self.dow[i] < 5:
                vms.append(("a3-highgpu-8g", "nw-train-a3-01", tproj, tpname, "data-science", None, 8, 208,
                            "Nvidia H100 80GB GPU running in Americas", "A3 Instance Core running in Americas",
                            _D(str(round(float(self.rng.uniform(6, 20)), 1)))))
            for mtype, name, p, pn, team, feature, gpus, cores, gsku, csku, hours in vms:
                lab = {"team": team, "env": "prod", "cost_center": TEAMS[team]}
                if feature:
                    lab["feature"] = feature
                rid_vm = f"//compute.googleapis.com/projects/{p}/zones/us-central1-a/instances/{name}"
                common = dict(account_id=bill[0], account_name=bill[1], project=p, project_name=pn,
                              region="us-central1", service="Compute Engine", service_category="Compute",
                              resource_id=rid_vm, pricing_unit="Hours", currency="USD", team=team,
                              feature=feature, environment="prod", cost_center=TEAMS[team])
                gprice, gmodel = _GCP_GPU[gsku]
                self.usage(day=day, provider="gcp", quantity=hours * gpus, unit_price=gprice, list_price=gprice,
                           sku=gsku, gpu_model=gmodel, gpu_hours=hours * gpus, tags=dict(lab), **common)
                cprice = _GCP_CORE[csku]
                self.usage(day=day, provider="gcp", quantity=hours * cores, unit_price=cprice, list_price=cprice,
                           sku=csku, tags=dict(lab), **common)

    def oci(self) -> None:
        ten, comp = _OCI_TENANCY, _OCI_COMPARTMENT
        tags = {"Ops.Team": "data-science", "Ops.Env": "prod", "Finance.CostCenter": "CC-130"}
        for i, day in enumerate(self.days):
            rows = [("Compute - Standard - E4 - OCPU", "ocid1.instance.oc1.iad.anuwcljnwdsjobs01", _D("96"),
                     _D("0.025"), "OCPU Hours", None, None)]
            if self.dow[i] < 5:
                h = _D(str(round(float(self.rng.uniform(6, 11)), 2)))
                rows.append(("Compute - GPU - A10", "ocid1.instance.oc1.iad.anuwcljnwdsnb0a10", h, _D("2.00"),
                             "GPU Hours", "A10", h))
            for sku, rid, qty, price, unit, gpu, gh in rows:
                self.usage(day=day, provider="oci", quantity=qty, unit_price=price, list_price=price,
                           account_id=ten[0], account_name=ten[1], project=comp[0], project_name=comp[1],
                           region="us-ashburn-1", service="COMPUTE", service_category="Compute", resource_id=rid,
                           sku=sku, pricing_unit=unit, currency="USD", gpu_model=gpu, gpu_hours=gh,
                           team="data-science", environment="prod", cost_center="CC-130", tags=dict(tags))

    def saas(self) -> None:
        """Pinecone serverless (written as a FOCUS 1.2 file, see aifinops.samples.focus)."""
        org, (proj, pname) = _PINECONE, _PINECONE_PROJECT
        curve = self.curve(0.06, _WEEKLY_B2B, 0.07)
        tags = {"team": "search", "feature": "semantic-search", "env": "prod"}
        common = dict(account_id=org[0], account_name=org[1], project=proj, project_name=pname,
                      region="us-east-1", service="Pinecone Serverless", service_category="Databases",
                      resource_id=f"pinecone://{pname}/indexes/docs-v3", currency="USD", team="search",
                      feature="semantic-search", environment="prod", cost_center="CC-110")
        for i, day in enumerate(self.days):
            reads = _D(int(4.8e6 * curve[i]))
            writes = _D(int(0.9e6 * (0.5 + 0.5 * curve[i])))
            gb = _D(str(round(210 * (1.035 ** float(self.month_idx[i])), 3)))
            for sku, qty, price, unit in (("Read Units", reads, _D("0.000016"), "Read Units"),
                                          ("Write Units", writes, _D("0.000004"), "Write Units"),
                                          ("Storage", gb * 24, _D("0.00045"), "GB-Hours")):
                self.usage(day=day, provider="saas", quantity=qty, unit_price=price, list_price=price, sku=sku,
                           pricing_unit=unit, tags=dict(tags), **common)
        for first in _month_starts(self.start, self.end):
            self._charge(first, "saas", "purchase", _D("50.00"), sku="Standard plan", tags=dict(tags), **common)

    def onprem(self) -> None:
        """Slurm cluster of 4 nodes x 8 H100 = 768 GPU-hours a day; cost is not billed."""
        shares = {"data-science": 0.52, "search": 0.12, "assistant": 0.08, "support-ai": 0.04}
        demand = {team: 768 * share * self.curve(0.01, _WEEKLY_FLAT if team != "data-science" else _WEEKLY_B2B,
                                                 0.15)
                  for team, share in shares.items()}
        total = sum(demand.values())
        fit = np.minimum(1.0, 768 * 0.95 / total)  # the queue never exceeds 95 % of the cluster
        for team in shares:
            for i, day in enumerate(self.days):
                gh = _D(str(round(float(demand[team][i] * fit[i]), 2)))
                self.acc.add(date=day, provider="onprem", account_id=_ONPREM[0], account_name=_ONPREM[1],
                             project=team, project_name=team, region="fra-dc1", service="Slurm GPU cluster",
                             service_category="Compute", resource_id="slurm://nw-h100", sku="gres/gpu:h100",
                             charge_type="usage", pricing_unit="Hours", quantity=gh, gpu_model="H100",
                             gpu_hours=gh, team=team, environment="prod", cost_center=TEAMS[team],
                             tags={"account": team, "partition": "gpu-h100"})

    # -- non-usage charges --------------------------------------------------------------------
    def _charge(self, day: date, provider: str, charge_type: str, amount: Decimal, **kw) -> None:
        self.acc.add(date=day, provider=provider, charge_type=charge_type, cost=amount, list_cost=amount, **kw)

    def monthly_charges(self) -> None:
        """AWS tax (6 % of each account's monthly usage per service, in cents), the AWS
        Support (Business) fee and AWS Activate credits."""
        ix = _IX
        totals: dict[tuple, Decimal] = {}
        attrs: dict[tuple, tuple] = {}
        for r in self.acc.rows:
            if r[ix["provider"]] != "aws" or r[ix["charge_type"]] != "usage":
                continue
            d = r[ix["date"]]
            key = (d.year, d.month, r[ix["project"]], r[ix["service"]])
            totals[key] = totals.get(key, _D(0)) + r[ix["cost"]]
            attrs.setdefault(key, (r[ix["project_name"]],))
        for (y, m, acct, service), total in sorted(totals.items()):
            first = date(y, m, 1)
            self._charge(first, "aws", "tax", (total * _D("0.06")).quantize(_CENT, ROUND_HALF_UP),
                         account_id=_AWS_PAYER[0], account_name=_AWS_PAYER[1], project=acct,
                         project_name=attrs[(y, m, acct, service)][0], region="us-east-1", service=service,
                         service_category=_SERVICE_CATEGORY[service], currency="USD", tags={})
        month_total: dict[tuple, Decimal] = {}
        for (y, m, _a, _s), total in totals.items():
            month_total[(y, m)] = month_total.get((y, m), _D(0)) + total
        acct, aname = _AWS_ACCOUNTS["ai-prod"]
        for k, first in enumerate(_month_starts(self.start, self.end)):
            total = month_total.get((first.year, first.month), _D(0))
            fee = max(_D(100), (total * _D("0.10")).quantize(_CENT, ROUND_HALF_UP))
            self._charge(first, "aws", "fee", fee, account_id=_AWS_PAYER[0], account_name=_AWS_PAYER[1],
                         project=acct, project_name=aname, region="us-east-1", service="AWS Support (Business)",
                         service_category=_SERVICE_CATEGORY["AWS Support (Business)"], sku="Business Support",
                         currency="USD", team="platform", environment="prod", cost_center="CC-100", tags={})
            if k < 3:
                self._charge(first, "aws", "credit", _D("-1000.00"), account_id=_AWS_PAYER[0],
                             account_name=_AWS_PAYER[1], project=acct, project_name=aname, region="us-east-1",
                             service="Amazon Bedrock", service_category="AI and Machine Learning",
                             currency="USD", team="search", feature="semantic-search", environment="prod",
                             cost_center="CC-110", tags={})


def _days_in_month(d: date) -> int:
    nxt = _add_months(d.replace(day=1), 1)
    return (nxt - d.replace(day=1)).days


def _add_months(d: date, k: int) -> date:
    y, m = divmod(d.month - 1 + k, 12)
    return date(d.year + y, m + 1, 1)


def _months_between(s: date, e: date) -> int:
    return (e.year - s.year) * 12 + e.month - s.month


def _month_starts(s: date, e: date) -> list[date]:
    return [_add_months(s, k) for k in range(_months_between(s, e))]


def ground_truth(start: str | date = "2025-06-01", months: int = 15, seed: int = 7,
                 scale: float = 1.0) -> pd.DataFrame:
    """The Northwind Labs ground truth: one row per day, provider line and attribution.

    Args:
        start: first day of the period (moved to the first of its month).
        months: whole months to generate (the spec'd range is 12-18; any >= 1 works).
        seed: seed of the single ``numpy.random.Generator``; same args -> identical frame
            (the last few results are cached per process; each call returns its own copy).
        scale: multiplies the per-customer fan-out of token rows (most rows) for benchmarks;
            1.0 gives ~71k rows for 15 months, 2.0 about 1.9 times as many.

    Returns:
        A frame with :data:`COLUMNS`: ``date`` datetime64, text columns ``str`` (missing
        as NaN), money/quantity columns ``object`` holding :class:`~decimal.Decimal` or
        None, ``tokens``/``requests`` ``Int64``, ``tags`` a ``dict`` per row. Rows are
        sorted by date, provider and then generation order.

    >>> t = ground_truth(months=1, seed=1)
    >>> t.equals(_cached.__wrapped__(date(2025, 6, 1), 1, 1, 1.0))  # a fresh run, not the cache
    True
    >>> t["cost"].map(type).loc[t["provider"] != "onprem"].unique().tolist()
    [<class 'decimal.Decimal'>]
    """
    if months < 1:
        raise ValueError(f"months must be >= 1, got {months}")
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    s, _e = _period(start, months)
    df = _cached(s, int(months), int(seed), float(scale)).copy(deep=True)
    df["tags"] = [dict(t) for t in df["tags"]]  # callers may mutate their copy
    return df


@lru_cache(maxsize=4)
def _cached(s: date, months: int, seed: int, scale: float) -> pd.DataFrame:
    """Generated once per process and arguments (test suites and build share it)."""
    s, e = _period(s, months)
    co = _Company(s, e, seed, scale)
    co.llm_api()
    co.aws()
    co.azure()
    co.gcp()
    co.oci()
    co.saas()
    co.onprem()
    co.monthly_charges()
    rows = co.acc.rows
    rows.sort(key=_SORT_KEY)  # stable: date, provider, then generation order
    cols = dict(zip(COLUMNS, map(list, zip(*rows))))
    data: dict[str, object] = {}
    data["date"] = pd.Series(np.array(cols["date"], dtype="datetime64[D]").astype("datetime64[ns]"))
    for c in COLUMNS[1:]:
        if c in _STR_COLUMNS:
            data[c] = pd.Series(cols[c], dtype="str")
        elif c in _INT_COLUMNS:
            data[c] = pd.Series(cols[c], dtype="Int64")
        else:
            data[c] = pd.Series(cols[c], dtype="object")
    return pd.DataFrame(data, columns=list(COLUMNS))

