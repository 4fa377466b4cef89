"""OpenCost allocation API responses (``GET /allocation`` or ``/allocation/compute``, JSON:
``{"code", "status", "data": [{<name>: Allocation}, ...]}``, one map per step), and
OpenCost's custom pricing files (:func:`read_custom_pricing`).

One ledger row per allocation and step: ``BilledCost`` (and Effective/List/Contracted) =
``totalCost``; the parts are kept as ``x_CpuCost``, ``x_GpuCost``, ``x_RamCost``,
``x_PvCost``, ``x_NetworkCost``, ``x_LoadBalancerCost``, ``x_SharedCost``, ``x_ExternalCost``;
``x_GpuHours`` = ``gpuHours``; the GPU model from the ``nvidia.com/gpu.product`` label (or
``gpu.product``/``gpu_type``); ``Tags`` = the pod labels over the namespace labels, plus
``namespace`` (so the tag map finds ``team``, ``app``, ``environment`` ...). OpenCost costs
are an allocation model's estimates, not an invoice: ``x_CostAuthority`` is ``estimate``,
so they never add to billed totals. The API carries no currency: the ingest option
``default_currency`` is used and recorded as defaulted. Special allocations
(``__idle__``, ``__unallocated__``, ``__unmounted__``) are kept as rows (their names in
``ResourceName``).

Reconciliation: ``BilledCost`` against the raw ``totalCost`` and ``x_GpuHours`` against the
raw ``gpuHours``.

Example:
    >>> from aifinops.formats.base import Probe
    >>> import tempfile, pathlib, json
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "alloc.json"
    >>> _ = p.write_text(json.dumps({"code": 200, "data": [{"ns": {"name": "ns", "totalCost": 1.5,
    ...     "properties": {"namespace": "ns"}, "start": "2025-06-01T00:00:00Z", "end": "2025-06-02T00:00:00Z"}}]}))
    >>> OpenCostAllocationFormat().sniff(Probe.open(p))
    True
"""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..sql import Source, lit, q
from .base import Check, IngestOptions, Plan, Probe, Recon, SourceFormat
from .openai import json_docs_sql, json_field_sql

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["FORMATS", "OpenCostAllocationFormat", "read_custom_pricing"]

#: allocation fields read (column -> JSON path inside one allocation)
_FIELDS = {
    "name": "$.name",
    "cluster": "$.properties.cluster",
    "node": "$.properties.node",
    "namespace": "$.properties.namespace",
    "controller": "$.properties.controller",
    "controllerKind": "$.properties.controllerKind",
    "pod": "$.properties.pod",
    "container": "$.properties.container",
    "providerID": "$.properties.providerID",
    "labels": "$.properties.labels",
    "namespaceLabels": "$.properties.namespaceLabels",
    "windowStart": "$.window.start",
    "windowEnd": "$.window.end",
    "start": "$.start",
    "end": "$.end",
    "minutes": "$.minutes",
    "cpuCoreHours": "$.cpuCoreHours",
    "gpuCount": "$.gpuCount",
    "gpuHours": "$.gpuHours",
    "ramByteHours": "$.ramByteHours",
    "cpuCost": "$.cpuCost",
    "gpuCost": "$.gpuCost",
    "ramCost": "$.ramCost",
    "pvCost": "$.pvCost",
    "networkCost": "$.networkCost",
    "loadBalancerCost": "$.loadBalancerCost",
    "sharedCost": "$.sharedCost",
    "externalCost": "$.externalCost",
    "totalCost": "$.totalCost",
    "cpuEfficiency": "$.cpuEfficiency",
    "gpuEfficiency": "$.gpuEfficiency",
    "totalEfficiency": "$.totalEfficiency",
}
_COST_PARTS = {"cpuCost": "x_CpuCost", "gpuCost": "x_GpuCost", "ramCost": "x_RamCost", "pvCost": "x_PvCost",
               "networkCost": "x_NetworkCost", "loadBalancerCost": "x_LoadBalancerCost",
               "sharedCost": "x_SharedCost", "externalCost": "x_ExternalCost"}
_NUMBERS = ("minutes", "cpuCoreHours", "gpuCount", "gpuHours", "ramByteHours", *_COST_PARTS, "totalCost")
#: GPU product label value -> ledger GPU model (first match)
_GPU_MODEL_RE = r"(?i)(H200|H100|B200|GB200|A100|A10G|A10|L40S|L40|L4|T4|V100|MI300X|MI250)"


class OpenCostAllocationFormat(SourceFormat):
    name = "opencost-allocation"
    title = "OpenCost allocation API response (/allocation, /allocation/compute JSON)"
    required = ()
    kinds = ("json",)

    def sniff(self, probe: Probe) -> bool:
        return (probe.kind == "json" and '"data"' in probe.head
                and bool(re.search(r'"(totalCost|cpuCoreHours|gpuHours|ramByteHours)"\s*:', probe.head))
                and bool(re.search(r'"(properties|window)"\s*:', probe.head)))

    def similarity(self, probe: Probe) -> float:
        return 0.5 if probe.kind == "json" and '"totalCost"' in probe.head else 0.0

    def relation(self, probe: Probe, options: IngestOptions) -> str:
        docs = json_docs_sql(probe)
        data = "json_extract(__j, '$.data')"
        # data: a list of step maps (the API), or one map (accumulated responses)
        steps = (f"SELECT __doc, UNNEST(CASE WHEN json_type({data}) = 'ARRAY' THEN CAST({data} AS JSON[]) "
                 f"WHEN json_type({data}) = 'OBJECT' THEN [{data}] "
                 f"ELSE error('OpenCost response: \"data\" is not a list of allocation maps') END) AS __s, "
                 f"generate_subscripts(CASE WHEN json_type({data}) = 'ARRAY' THEN CAST({data} AS JSON[]) "
                 f"WHEN json_type({data}) = 'OBJECT' THEN [{data}] "
                 f"ELSE error('OpenCost response: \"data\" is not a list of allocation maps') END, 1) AS __si FROM ({docs})")
        allocs = (f"SELECT __doc, __si, __e.key AS __key, __e.value AS __a FROM ({steps}) AS __st, "
                  f"json_each(__st.__s) AS __e")
        cols = [f"{json_field_sql('__a', p)} AS {q(n)}" for n, p in _FIELDS.items()]
        return (f"SELECT CAST(row_number() OVER (ORDER BY __doc, __si, __key) AS BIGINT) AS __row, "
                f"__key AS allocationKey, {', '.join(cols)} FROM ({allocs})")

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        t, n = source.text, source.num
        start = f"COALESCE({source.ts('start')}, {source.ts('windowStart')})"
        end = f"COALESCE({source.ts('end')}, {source.ts('windowEnd')})"
        bps = f"CAST(DATE_TRUNC('month', {start}) AS TIMESTAMPTZ)"
        name = f"COALESCE({t('name')}, {t('allocationKey')})"
        cluster = t("cluster")
        ns = t("namespace")
        labels = f"(CASE WHEN json_valid({t('labels')}) THEN {t('labels')} END)"
        ns_labels = f"(CASE WHEN json_valid({t('namespaceLabels')}) THEN {t('namespaceLabels')} END)"
        tags = (f"NULLIF(CAST(json_merge_patch('{{}}', COALESCE({ns_labels}, '{{}}'), COALESCE({labels}, '{{}}'), "
                f"CASE WHEN {ns} IS NOT NULL THEN json_object('namespace', {ns}) ELSE '{{}}' END) AS VARCHAR), '{{}}')")
        product = (f"COALESCE(json_extract_string({labels}, '$.\"nvidia.com/gpu.product\"'), "
                   f"json_extract_string({labels}, '$.\"gpu.product\"'), json_extract_string({labels}, '$.gpu_type'))")
        gpu_model = f"UPPER(NULLIF(REGEXP_EXTRACT({product}, {lit(_GPU_MODEL_RE)}, 1), ''))"
        gpu_h = n("gpuHours")
        use_gpu = f"COALESCE({gpu_h} > 0, FALSE)"
        cost = n("totalCost")
        cols = {
            "BillingAccountId": f"COALESCE({cluster}, 'unknown')",
            "BillingAccountName": cluster,
            "BillingCurrency": lit(options.default_currency),
            "BillingPeriodStart": bps,
            "BillingPeriodEnd": f"({bps} + INTERVAL 1 MONTH)",
            "ChargePeriodStart": start,
            "ChargePeriodEnd": end,
            "ChargeCategory": lit("Usage"),
            "ChargeFrequency": lit("Usage-Based"),
            "ChargeDescription": f"CONCAT_WS(' ', 'OpenCost allocation', {name}, 'in', {cluster})",
            "BilledCost": cost,
            "EffectiveCost": cost,
            "ListCost": cost,
            "ContractedCost": cost,
            "ConsumedQuantity": f"CASE WHEN {use_gpu} THEN {gpu_h} ELSE {n('cpuCoreHours')} END",
            "ConsumedUnit": f"CASE WHEN {use_gpu} THEN 'GPU-Hours' ELSE 'Core-Hours' END",
            "InvoiceIssuerName": lit("OpenCost"),
            "ProviderName": lit("Kubernetes"),
            "PublisherName": lit("OpenCost"),
            "ServiceName": lit("Kubernetes"),
            "ServiceCategory": lit("Compute"),
            "ServiceSubcategory": lit("Containers"),
            "ResourceId": f"CONCAT_WS('/', {cluster}, {ns}, {name})",
            "ResourceName": name,
            "ResourceType": lit("Kubernetes allocation"),
            "SubAccountId": ns,
            "SubAccountName": ns,
            "SubAccountType": f"CASE WHEN {ns} IS NOT NULL THEN 'Namespace' END",
            "Tags": tags,
            "x_GpuHours": gpu_h,
            "x_GpuModel": gpu_model,
        }
        checks = [Check(c, "number", source.bad_num(c), q(c)) for c in _NUMBERS]
        checks += [Check(c, "timestamp", source.bad_ts(c), q(c)) for c in ("start", "end", "windowStart", "windowEnd")]
        checks.append(Check("start", "required", f"({start} IS NULL)", q("start")))
        checks.append(Check("gpuHours", "value", f"COALESCE({gpu_h} < 0, FALSE)", q("gpuHours")))
        checks.append(Check("labels", "value", f"({t('labels')} IS NOT NULL AND NOT json_valid({t('labels')}))",
                            q("labels")))
        recon = [Recon("BilledCost", cost, lit(options.default_currency), "totalCost"),
                 Recon("x_GpuHours", gpu_h, "'gpu-hours'", "gpuHours")]
        extra = {v: t(k) for k, v in _COST_PARTS.items()}
        extra.update({
            "x_Cluster": cluster, "x_Namespace": ns, "x_Node": t("node"), "x_Pod": t("pod"),
            "x_Controller": t("controller"), "x_ControllerKind": t("controllerKind"), "x_Container": t("container"),
            "x_CpuCoreHours": t("cpuCoreHours"), "x_RamByteHours": t("ramByteHours"), "x_GpuCount": t("gpuCount"),
            "x_GpuEfficiency": t("gpuEfficiency"), "x_TotalEfficiency": t("totalEfficiency"),
        })
        return Plan(columns=cols, checks=checks, recon=recon, extra=extra, cost_authority="estimate",
                    defaulted=["BillingCurrency"])


# -- custom pricing files --------------------------------------------------------------------

_PRICE_KEYS = ("CPU", "spotCPU", "RAM", "spotRAM", "GPU", "spotGPU", "storage", "zoneNetworkEgress",
               "regionNetworkEgress", "internetNetworkEgress")
_CSV_COLUMNS = ("EndTimestamp", "InstanceID", "Region", "AssetClass", "InstanceIDField", "InstanceType",
                "MarketPriceHourly", "Version")


def read_custom_pricing(path: str | Path) -> pd.DataFrame:
    """OpenCost custom pricing as a tidy table of hourly prices (exact Decimals).

    Reads ``configs/default.json`` (keys ``CPU``, ``RAM``, ``GPU``, ``storage``, network
    egress, spot variants; prices as strings) and the CSV pricing files
    (``configs/pricing_schema*.csv``: ``EndTimestamp, InstanceID, Region, AssetClass,
    InstanceIDField, InstanceType, MarketPriceHourly, Version``). Columns: ``asset_class``
    (``cpu``, ``ram``, ``gpu``, ``storage``, ``network``, ``node``, ``pv``), ``key``,
    ``region``, ``price_hourly``, ``spot``, ``end``, ``source_row``.

    Raises:
        ConfigError: unreadable file, missing columns or a bad price (naming file, row, column).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "default.json"
        >>> _ = p.write_text('{"provider": "custom", "GPU": "0.95", "CPU": "0.031611"}')
        >>> read_custom_pricing(p)[["asset_class", "price_hourly"]].values.tolist()
        [['gpu', Decimal('0.95')], ['cpu', Decimal('0.031611')]]
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"cannot read the OpenCost pricing file: {exc}", file=str(path)) from exc
    rows: list[dict] = []
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not JSON: {exc.msg}", file=str(path), row=exc.lineno) from exc
        for key, value in doc.items():
            if key not in _PRICE_KEYS:
                continue
            spot = key.startswith("spot")
            base = key[4:] if spot else key
            cls = {"CPU": "cpu", "RAM": "ram", "GPU": "gpu", "storage": "storage"}.get(base, "network")
            rows.append({"asset_class": cls, "key": key, "region": None, "price_hourly": _price(value, path, None, key),
                         "spot": spot, "end": None, "source_row": None})
    else:
        reader = csv.DictReader(text.splitlines())
        missing = [c for c in ("InstanceID", "AssetClass", "MarketPriceHourly") if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"OpenCost pricing CSV lacks column(s) {', '.join(missing)}", file=str(path), row=1,
                              column=missing[0])
        for i, r in enumerate(reader, start=2):
            rows.append({"asset_class": (r.get("AssetClass") or "").strip().lower(), "key": (r["InstanceID"] or "").strip(),
                         "region": (r.get("Region") or "").strip() or None,
                         "price_hourly": _price(r["MarketPriceHourly"], path, i, "MarketPriceHourly"),
                         "spot": "spot" in (r["InstanceID"] or "").lower(), "end": (r.get("EndTimestamp") or None),
                         "source_row": i})
    import pandas as pd  # imported on use: an ingest never needs pandas (0.5 s of its start)

    return pd.DataFrame(rows, columns=["asset_class", "key", "region", "price_hourly", "spot", "end", "source_row"])


def _price(value, path: Path, row: int | None, column: str) -> Decimal:
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ConfigError(f"bad price {value!r}", file=str(path), row=row, column=column) from None
    if not d.is_finite() or d < 0:
        raise ConfigError(f"bad price {value!r}", file=str(path), row=row, column=column)
    return d


FORMATS = [OpenCostAllocationFormat()]
