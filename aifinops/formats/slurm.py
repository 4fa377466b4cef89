"""Slurm ``sacct`` job accounting exports (pipe-delimited ``sacct --parsable2`` output with a
header), as GPU usage of an on-prem cluster.

Recommended export (one row per job allocation)::

    sacct --allusers --parsable2 -X --starttime 2025-06-01 --endtime 2025-07-01 \\
      --format=JobID,JobIDRaw,JobName,User,Account,Partition,QOS,State,Submit,Start,End,Elapsed,ElapsedRaw,NNodes,NCPUS,AllocTRES,Cluster

One ledger row per job: GPU-hours ``x_GpuHours = gres/gpu x ElapsedRaw / 3600`` (rounded half
up to the micro-hour, in exact integer arithmetic), the GPU model from the typed TRES
``gres/gpu:<type>=N`` (upper case, e.g. ``H100``), the Slurm account as team (``x_Team``;
Slurm accounts are the cluster's chargeback unit) and ``Tags`` ``{"account", "user",
"partition", "qos", "job_name"}`` for the tag map. Owned hardware is not billed: the cost
columns are NULL and ``x_CostAuthority`` is ``usage`` (``aifinops.hybrid`` prices GPU-hours).

Job steps (``123.batch``, ``123.0``; exported without ``-X``) repeat their job's allocation:
they are quarantined (``value`` on ``JobID``) rather than counted twice. Jobs that never
started (``Start`` = ``Unknown``/``None``) are quarantined (``required`` Start);
running jobs (``End`` = ``Unknown``) end at ``Start + ElapsedRaw``. Reconciliation:
``x_GpuHours`` against the same formula over the raw ``AllocTRES`` and ``ElapsedRaw``.

Example:
    >>> from aifinops.formats.base import Probe
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "sacct.txt"
    >>> _ = p.write_text("JobID|User|Account|Partition|AllocTRES|ElapsedRaw|Start|End|State\\n"
    ...                  "7|ana|search|gpu|cpu=8,gres/gpu:h100=2,gres/gpu=2|5400|2025-06-01T00:00:00|"
    ...                  "2025-06-01T01:30:00|COMPLETED\\n")
    >>> SlurmSacctFormat().sniff(Probe.open(p))
    True
"""

from __future__ import annotations

from ..sql import Source, lit, q
from .base import Check, IngestOptions, Plan, Probe, Recon, SourceFormat, csv_relation

__all__ = ["FORMATS", "SlurmSacctFormat", "gpu_hours_sql"]

_NOT_A_TIME = ("Unknown", "None", "")


def _tres_int(alloc: str, pattern: str) -> str:
    """Integer TRES count matched by ``pattern`` (one capture group) in ``alloc`` text."""
    return f"TRY_CAST(NULLIF(REGEXP_EXTRACT({alloc}, {lit(pattern)}, 1), '') AS BIGINT)"


def gpu_count_sql(alloc: str) -> str:
    """GPUs of an ``AllocTRES`` value: ``gres/gpu=N``, else the sum of typed
    ``gres/gpu:<type>=N`` entries (first one), else 0 when the allocation names no GPU."""
    return (f"COALESCE({_tres_int(alloc, r'(?:^|,)gres/gpu=([0-9]+)(?:,|$)')}, "
            f"{_tres_int(alloc, r'(?:^|,)gres/gpu:[^=,]+=([0-9]+)(?:,|$)')}, "
            f"CASE WHEN {alloc} IS NOT NULL AND NOT regexp_matches({alloc}, 'gres/gpu') THEN 0 END)")


def gpu_hours_sql(gpus: str, seconds: str) -> str:
    """Exact GPU-hours ``gpus x seconds / 3600``, rounded half up to 1e-6 hour, as DECIMAL
    (integer arithmetic; no float)."""
    return (f"(CAST((CAST({gpus} AS HUGEINT) * CAST({seconds} AS HUGEINT) * 1000000 + 1800) // 3600 "
            f"AS DECIMAL(38,0)) * CAST('0.000001' AS DECIMAL(7,6)))")


class SlurmSacctFormat(SourceFormat):
    name = "slurm-sacct"
    title = "Slurm sacct job accounting (sacct --parsable2, pipe-delimited)"
    required = ("JobID", "User", "Account", "Partition", "AllocTRES", "ElapsedRaw", "Start", "End", "State")
    kinds = ("csv",)

    def relation(self, probe: Probe, options: IngestOptions) -> str:
        # sacct -P does not quote: a '"' in JobName is literal text
        return csv_relation(probe, options).replace("quote = '\"'", "quote = ''").replace("escape = '\"'",
                                                                                         "escape = ''")

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        t = source.text
        alloc = t("AllocTRES")
        job = t("JobID")
        not_time = ", ".join(lit(v) for v in _NOT_A_TIME if v)

        def when(col: str) -> str:
            return f"CASE WHEN TRIM({q(col)}) IN ({not_time}) THEN NULL ELSE {source.ts(col)} END"

        def bad_when(col: str) -> str:
            return f"(COALESCE(TRIM({q(col)}), '') NOT IN ({not_time}, '') AND {source.ts(col)} IS NULL)"

        seconds = f"TRY_CAST(TRIM({q('ElapsedRaw')}) AS BIGINT)"
        gpus = gpu_count_sql(alloc)
        hours = gpu_hours_sql(gpus, seconds)
        start = when("Start")
        end = f"COALESCE({when('End')}, {start} + {seconds} * INTERVAL 1 SECOND)"
        gpu_type = f"UPPER(NULLIF(REGEXP_EXTRACT({alloc}, '(?:^|,)gres/gpu:([^=,]+)=', 1), ''))"
        cluster = t("Cluster") if source.has("Cluster") else "NULL"
        bps = f"CAST(DATE_TRUNC('month', {start}) AS TIMESTAMPTZ)"
        tags = {"account": t("Account"), "user": t("User"), "partition": t("Partition"),
                "qos": t("QOS"), "job_name": t("JobName")}
        tag_args = ", ".join(f"{lit(k)}, {v}" for k, v in tags.items() if v != "NULL")
        cols = {
            "BillingAccountId": f"COALESCE({cluster}, 'slurm')",
            "BillingAccountName": f"COALESCE({cluster}, 'slurm')",
            "BillingCurrency": lit(options.default_currency),
            "BillingPeriodStart": bps,
            "BillingPeriodEnd": f"({bps} + INTERVAL 1 MONTH)",
            "ChargePeriodStart": start,
            "ChargePeriodEnd": end,
            "ChargeCategory": lit("Usage"),
            "ChargeClass": "NULL",
            "ChargeFrequency": lit("Usage-Based"),
            "ChargeDescription": f"CONCAT_WS(' ', 'Slurm job', {job}, {t('JobName')}, 'on', {t('Partition')})",
            "ConsumedQuantity": hours,
            "ConsumedUnit": lit("GPU-Hours"),
            "PricingQuantity": hours,
            "PricingUnit": lit("GPU-Hours"),
            "InvoiceIssuerName": lit("On-premises"),
            "ProviderName": lit("On-premises"),
            "PublisherName": lit("Slurm"),
            "ServiceName": lit("Slurm GPU cluster"),
            "ServiceCategory": lit("Compute"),
            "ResourceId": f"CONCAT('slurm://', COALESCE({cluster}, 'slurm'), '/', {t('Partition')})",
            "ResourceName": t("Partition"),
            "ResourceType": lit("Slurm partition"),
            "SubAccountId": t("Account"),
            "SubAccountName": t("Account"),
            "SkuId": f"COALESCE(REGEXP_EXTRACT({alloc}, '(?:^|,)(gres/gpu:[^=,]+)=', 1), 'gres/gpu')",
            "Tags": f"NULLIF(CAST(json_merge_patch('{{}}', json_object({tag_args})) AS VARCHAR), '{{}}')",
            "x_Team": f"LOWER({t('Account')})",
            "x_GpuHours": hours,
            "x_GpuModel": gpu_type,
        }
        checks = [
            Check("JobID", "required", f"({job} IS NULL)", q("JobID")),
            Check("JobID", "value", f"COALESCE(regexp_matches({job}, '^[0-9_\\[\\]+-]+\\.'), FALSE)", q("JobID")),
            Check("ElapsedRaw", "number", f"({t('ElapsedRaw')} IS NOT NULL AND {seconds} IS NULL)", q("ElapsedRaw")),
            Check("ElapsedRaw", "value", f"COALESCE({seconds} < 0, FALSE)", q("ElapsedRaw")),
            Check("AllocTRES", "number", f"({alloc} IS NOT NULL AND regexp_matches({alloc}, 'gres/gpu') "
                                         f"AND {gpus} IS NULL)", q("AllocTRES")),
            Check("Start", "timestamp", bad_when("Start"), q("Start")),
            Check("End", "timestamp", bad_when("End"), q("End")),
            Check("Start", "required", f"({start} IS NULL)", q("Start")),  # pending: never started
        ]
        # the raw source: the same arithmetic, straight from the text columns
        raw_alloc = f"TRIM({q('AllocTRES')})"
        recon = [Recon("x_GpuHours", gpu_hours_sql(gpu_count_sql(raw_alloc), seconds), "'gpu-hours'",
                       "AllocTRES gres/gpu x ElapsedRaw / 3600")]
        extra = {
            "x_JobId": job,
            "x_JobState": t("State"),
            "x_SlurmUser": t("User"),
            "x_SlurmPartition": t("Partition"),
        }
        return Plan(columns=cols, checks=checks, recon=recon, extra=extra, cost_authority="usage",
                    defaulted=["BillingCurrency"])


FORMATS = [SlurmSacctFormat()]
