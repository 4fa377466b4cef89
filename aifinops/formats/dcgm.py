"""NVIDIA DCGM exporter samples as CSV: one row per GPU and sample time, with the exporter's
labels (``Hostname``, ``gpu``, ``UUID``, ``modelName``, and in Kubernetes ``namespace``,
``pod``, ``container``) and field columns named as the exporter's metrics
(``DCGM_FI_DEV_GPU_UTIL`` in %, ``DCGM_FI_DEV_POWER_USAGE`` in W, ``DCGM_FI_DEV_FB_USED`` in
MiB, ...), e.g. a Prometheus ``query_range`` of those metrics pivoted to columns.

Each sample stands for the time until that GPU's next sample (the last sample of a GPU for
the same time as its previous one; an ``interval_s`` column, if present, wins). A ledger row
is that GPU's observed interval: ``ConsumedQuantity`` in ``GPU-Hours`` (rounded half up to
1e-6 h, integer arithmetic), ``x_GpuModel`` from ``modelName``, and the measurements as
``x_GpuUtilization`` (%), ``x_GpuBusyHours`` (hours x utilization), ``x_PowerW`` and
``x_EnergyKWh`` (W x seconds / 3.6e6, to 1e-9 kWh). Telemetry measures the GPUs, not who
used them: ``x_GpuHours`` stays NULL so GPU-hours allocated by Slurm or OpenCost are not
counted twice; ``aifinops.hybrid`` reads utilization and energy from these rows.
Cost columns are NULL (``x_CostAuthority`` ``usage``). Reconciliation: ``ConsumedQuantity``
against the same interval arithmetic over the raw timestamps.

Example:
    >>> from aifinops.formats.base import Probe
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "dcgm.csv"
    >>> _ = p.write_text("timestamp,Hostname,gpu,UUID,modelName,DCGM_FI_DEV_GPU_UTIL\\n"
    ...                  "2025-06-01T00:00:00Z,n1,0,GPU-1,NVIDIA H100 80GB HBM3,87\\n")
    >>> DcgmSamplesFormat().sniff(Probe.open(p))
    True
"""

from __future__ import annotations

from ..sql import Source, lit, q
from .base import Check, IngestOptions, Plan, Probe, Recon, SourceFormat, csv_relation
from .slurm import gpu_hours_sql

__all__ = ["FORMATS", "DcgmSamplesFormat"]

_TIME_COLUMNS = ("timestamp", "Timestamp", "time", "Time")
_GPU_MODEL_RE = r"(?i)(H200|H100|B200|GB200|A100|A10G|A10|L40S|L40|L4|T4|V100)"


class DcgmSamplesFormat(SourceFormat):
    name = "dcgm-samples"
    title = "NVIDIA DCGM exporter samples per GPU (CSV of DCGM_FI_* fields)"
    required = ("DCGM_FI_DEV_GPU_UTIL",)
    kinds = ("csv",)

    def sniff(self, probe: Probe) -> bool:
        return super().sniff(probe) and any(c in probe.columns for c in _TIME_COLUMNS)

    def relation(self, probe: Probe, options: IngestOptions) -> str:
        cols = probe.columns
        tcol = next((c for c in _TIME_COLUMNS if c in cols), _TIME_COLUMNS[0])
        src = Source({c: "VARCHAR" for c in cols})
        ts = src.ts(tcol)
        key_parts = [src.text(c) for c in ("UUID", "Hostname", "gpu", "device") if c in cols] or ["''"]
        key = f"CONCAT_WS('|', {', '.join(key_parts)})"
        interval = ("date_diff('second', __ts, LEAD(__ts) OVER __w)", "date_diff('second', LAG(__ts) OVER __w, __ts)")
        explicit = f"TRY_CAST(NULLIF(TRIM({q('interval_s')}), '') AS BIGINT)" if "interval_s" in cols else "NULL"
        return (f"SELECT * EXCLUDE (__ts, __gpu), "
                f"CAST(COALESCE({explicit}, CASE WHEN __ts IS NOT NULL THEN COALESCE({interval[0]}, {interval[1]}) END) "
                f"AS BIGINT) AS __interval_s "
                f"FROM (SELECT row_number() OVER () AS __row, *, {ts} AS __ts, {key} AS __gpu "
                f"FROM ({csv_relation(probe, options)}) AS __c) AS __t "
                f"WINDOW __w AS (PARTITION BY __gpu, (__ts IS NULL) ORDER BY __ts, __row)")

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        t, n = source.text, source.num
        tcol = source.first(*_TIME_COLUMNS)
        start = source.ts(tcol)
        secs = '"__interval_s"'
        hours = gpu_hours_sql("1", secs)
        end = f"({start} + {secs} * INTERVAL 1 SECOND)"
        bps = f"CAST(DATE_TRUNC('month', {start}) AS TIMESTAMPTZ)"
        util = n("DCGM_FI_DEV_GPU_UTIL")
        power = n("DCGM_FI_DEV_POWER_USAGE")
        host, gpu, uuid = t("Hostname"), t("gpu"), t("UUID")
        model = t("modelName")
        tag_pairs = {k: t(k) for k in ("namespace", "pod", "container", "Hostname") if source.has(k)}
        tags = ("NULL" if not tag_pairs else
                "NULLIF(CAST(json_merge_patch('{}', json_object(" + ", ".join(
                    f"{lit(k.lower())}, {v}" for k, v in tag_pairs.items()) + ")) AS VARCHAR), '{}')")
        cluster = t("cluster") if source.has("cluster") else "NULL"
        cols = {
            "BillingAccountId": f"COALESCE({cluster}, 'on-premises')",
            "BillingCurrency": lit(options.default_currency),
            "BillingPeriodStart": bps,
            "BillingPeriodEnd": f"({bps} + INTERVAL 1 MONTH)",
            "ChargePeriodStart": start,
            "ChargePeriodEnd": end,
            "ChargeCategory": lit("Usage"),
            "ChargeFrequency": lit("Usage-Based"),
            "ChargeDescription": f"CONCAT_WS(' ', 'DCGM samples of', {host}, 'GPU', {gpu}, {model})",
            "ConsumedQuantity": hours,
            "ConsumedUnit": lit("GPU-Hours"),
            "InvoiceIssuerName": lit("On-premises"),
            "ProviderName": lit("On-premises"),
            "PublisherName": lit("NVIDIA DCGM"),
            "ServiceName": lit("GPU telemetry (DCGM)"),
            "ServiceCategory": lit("Compute"),
            "ResourceId": f"COALESCE({uuid}, CONCAT_WS(':', {host}, {gpu}))",
            "ResourceName": f"CONCAT_WS(':', {host}, {gpu})",
            "ResourceType": lit("GPU"),
            "Tags": tags,
            "x_GpuModel": f"UPPER(NULLIF(REGEXP_EXTRACT({model}, {lit(_GPU_MODEL_RE)}, 1), ''))",
        }
        micro_joules = f"CAST({power} * {secs} * 1000000 AS HUGEINT)"
        energy = f"(CAST(({micro_joules} + 1800) // 3600 AS DECIMAL(38,0)) * CAST('0.000000001' AS DECIMAL(10,9)))"
        busy = f"(CAST({hours} AS DECIMAL(38,6)) * CAST({util} AS DECIMAL(12,4)) * CAST('0.01' AS DECIMAL(3,2)))"
        extra = {
            "x_GpuUtilization": t("DCGM_FI_DEV_GPU_UTIL"),
            "x_GpuBusyHours": f"CAST({busy} AS VARCHAR)",
            "x_PowerW": t("DCGM_FI_DEV_POWER_USAGE"),
            "x_EnergyKWh": f"CAST({energy} AS VARCHAR)",
            "x_GpuMemoryUsedMiB": t("DCGM_FI_DEV_FB_USED"),
            "x_Hostname": host,
            "x_GpuUuid": uuid,
        }
        checks = [
            Check(tcol, "required", f"(NULLIF(TRIM({q(tcol)}), '') IS NULL)", q(tcol)),
            Check(tcol, "timestamp", source.bad_ts(tcol), q(tcol)),
            Check("DCGM_FI_DEV_GPU_UTIL", "number", source.bad_num("DCGM_FI_DEV_GPU_UTIL"), q("DCGM_FI_DEV_GPU_UTIL")),
            Check("DCGM_FI_DEV_GPU_UTIL", "value", f"COALESCE({util} < 0 OR {util} > 100, FALSE)",
                  q("DCGM_FI_DEV_GPU_UTIL")),
            Check("interval", "value", f"({start} IS NOT NULL AND ({secs} IS NULL OR {secs} < 0))",
                  "CAST(__interval_s AS VARCHAR)"),
        ]
        for c in ("DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_FB_USED"):
            if source.has(c):
                checks.append(Check(c, "number", source.bad_num(c), q(c)))
        recon = [Recon("ConsumedQuantity", gpu_hours_sql("1", secs), "'gpu-hours'", "sample intervals")]
        return Plan(columns=cols, checks=checks, recon=recon, extra=extra, cost_authority="usage",
                    defaulted=["BillingCurrency"])


FORMATS = [DcgmSamplesFormat()]
