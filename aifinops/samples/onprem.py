"""Render the ground truth's ``onprem`` rows (the Frankfurt cluster: 4 nodes x 8 H100) as the
on-prem exports aifinops reads, under ``out_dir/onprem/``, plus the dated cloud GPU rate
table under ``out_dir/business/``:

* ``slurm/sacct-YYYY-MM.psv``: ``sacct --parsable2`` job records of the training team
  (``data-science``): each day's GPU-hours as 8-GPU jobs of at most 24 h plus one 1-GPU
  job for the remainder, so ``sum(gres/gpu x ElapsedRaw) / 3600`` is exactly the truth's
  ``gpu_hours`` (hundredths of an hour are whole multiples of 36 s).
* ``opencost/allocation-YYYY-MM.json``: the OpenCost ``/allocation/compute`` response
  (``window=month, step=1d, aggregate=namespace``) of the inference teams (``search``,
  ``assistant``, ``support-ai``), which run on the same nodes under Kubernetes: one daily
  allocation per namespace with ``gpuHours`` = the truth's ``gpu_hours`` and costs from
  the custom on-prem prices in ``business/opencost-pricing.json`` (OpenCost's
  ``default.json`` custom pricing format).
* ``dcgm/dcgm-YYYY-MM-DD.csv``: DCGM exporter samples (hourly, per GPU) of the last week:
  ``DCGM_FI_DEV_GPU_UTIL``, ``DCGM_FI_DEV_POWER_USAGE``, ``DCGM_FI_DEV_FB_USED``; the busy
  GPUs each hour are the day's total GPU-hours / 24.
* ``business/gpu_rates.csv``: the dated cloud GPU rate table (``aifinops/data/gpu_rates.csv``).

``business/`` holds reference tables, not exports (a folder ingest should skip it).

Each truth row is rendered exactly once (Slurm or OpenCost), so the ledger's GPU-hours of
both equal the truth's; DCGM is telemetry of the same GPUs (no ``x_GpuHours``).

Example:
    >>> import tempfile, pathlib
    >>> from decimal import Decimal
    >>> import pandas as pd
    >>> from aifinops.samples import onprem
    >>> truth = pd.DataFrame([{"date": pd.Timestamp("2025-06-01"), "provider": "onprem", "team": "data-science",
    ...     "gpu_hours": Decimal("200.70"), "gpu_model": "H100", "account_id": "onprem-fra1"}])
    >>> sorted(p.name for p in onprem.write(truth, pathlib.Path(tempfile.mkdtemp())))
    ['dcgm-2025-06-01.csv', 'gpu_rates.csv', 'sacct-2025-06.psv']
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd

__all__ = ["DCGM_DAYS", "GPUS_PER_NODE", "NODES", "OPENCOST_PRICES", "TRAINING_TEAMS", "write"]

#: teams whose on-prem GPU-hours are Slurm jobs; the others are Kubernetes (OpenCost)
TRAINING_TEAMS = frozenset({"data-science"})
NODES = ("nw-h100-01", "nw-h100-02", "nw-h100-03", "nw-h100-04")
GPUS_PER_NODE = 8
CLUSTER = "nw-h100"
#: days of DCGM telemetry written (the last ones of the truth)
DCGM_DAYS = 7
#: OpenCost custom pricing (``configs/default.json`` layout), USD per hour / per GB-hour
OPENCOST_PRICES = {
    "provider": "custom",
    "description": "Northwind DC Frankfurt on-prem rates (aifinops sample)",
    "CPU": "0.021",
    "spotCPU": "0.021",
    "RAM": "0.0028",
    "spotRAM": "0.0028",
    "GPU": "2.33",
    "storage": "0.00004",
    "zoneNetworkEgress": "0",
    "regionNetworkEgress": "0",
    "internetNetworkEgress": "0",
}
_USERS = ("akim", "bchen", "cdiaz", "dgupta")
_SACCT = ("JobID", "JobIDRaw", "JobName", "User", "Account", "Partition", "QOS", "State", "Submit", "Start", "End",
          "Elapsed", "ElapsedRaw", "NNodes", "NCPUS", "AllocTRES", "Cluster")
_DCGM = ("timestamp", "Hostname", "gpu", "UUID", "modelName", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_POWER_USAGE",
         "DCGM_FI_DEV_FB_USED")


def _elapsed(seconds: int) -> str:
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return (f"{d}-" if d else "") + f"{h:02d}:{m:02d}:{s:02d}"


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S")


def _jobs(day: datetime, team: str, gpu_hours: Decimal, first_id: int) -> list[dict]:
    """Jobs whose GPU-seconds sum to exactly ``gpu_hours x 3600``."""
    total = int(gpu_hours * 3600)
    if Decimal(total) != gpu_hours * 3600:
        raise ValueError(f"{gpu_hours} GPU-hours is not a whole number of GPU-seconds")
    chunk = GPUS_PER_NODE * 86400
    specs = []
    rest = total
    while rest >= GPUS_PER_NODE:
        seconds = min(rest, chunk) // GPUS_PER_NODE
        specs.append((GPUS_PER_NODE, seconds))
        rest -= seconds * GPUS_PER_NODE
    if rest:
        specs.append((1, rest))
    out = []
    for i, (gpus, seconds) in enumerate(specs):
        jid = first_id + i
        start = day + timedelta(minutes=7 * i)
        cpus = 12 * gpus
        out.append({
            "JobID": str(jid), "JobIDRaw": str(jid), "JobName": f"{team}-train-{jid % 1000:03d}",
            "User": _USERS[jid % len(_USERS)], "Account": team, "Partition": "gpu-h100", "QOS": "normal",
            "State": "FAILED" if jid % 23 == 0 else "COMPLETED",
            "Submit": _iso(start - timedelta(minutes=3)), "Start": _iso(start),
            "End": _iso(start + timedelta(seconds=seconds)), "Elapsed": _elapsed(seconds), "ElapsedRaw": str(seconds),
            "NNodes": "1", "NCPUS": str(cpus),
            "AllocTRES": f"billing={cpus},cpu={cpus},gres/gpu:h100={gpus},gres/gpu={gpus},mem={128 * gpus}G,node=1",
            "Cluster": CLUSTER,
        })
    return out


def _money(x: Decimal) -> float:
    """OpenCost writes floats rounded to 6 places; the writer keeps them exact in the text."""
    return x.quantize(Decimal("0.000001"), ROUND_HALF_UP)


def _opencost_doc(rows: pd.DataFrame) -> str:
    gpu, cpu, ram = (Decimal(OPENCOST_PRICES[k]) for k in ("GPU", "CPU", "RAM"))
    steps = []
    for day, grp in rows.groupby("date", sort=True):
        start = pd.Timestamp(day).to_pydatetime()
        end = start + timedelta(days=1)
        step = {}
        for r in grp.sort_values("team").itertuples(index=False):
            gh = r.gpu_hours
            cores = (gh / 24 * 12).quantize(Decimal("0.000001"), ROUND_HALF_UP)  # 12 cores per GPU
            ram_gib = cores * 8
            cpu_h, ram_gbh = cores * 24, ram_gib * 24
            costs = {"cpuCost": _money(cpu_h * cpu), "gpuCost": _money(gh * gpu), "ramCost": _money(ram_gbh * ram)}
            alloc = {
                "name": r.team,
                "properties": {"cluster": CLUSTER, "namespace": r.team,
                               "labels": {"team": r.team, "environment": "prod", "app": f"{r.team}-inference",
                                          "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}},
                "window": {"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "end": end.strftime("%Y-%m-%dT%H:%M:%SZ")},
                "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "minutes": 1440.0, "cpuCores": cores, "cpuCoreHours": cpu_h, "cpuCost": costs["cpuCost"],
                "cpuCostAdjustment": 0.0, "gpuCount": (gh / 24).quantize(Decimal("0.000001"), ROUND_HALF_UP),
                "gpuHours": gh, "gpuCost": costs["gpuCost"], "gpuCostAdjustment": 0.0, "networkCost": 0.0,
                "loadBalancerCost": 0.0, "pvCost": 0.0, "ramBytes": ram_gib * 1073741824,
                "ramByteHours": ram_gbh * 1073741824, "ramCost": costs["ramCost"], "ramCostAdjustment": 0.0,
                "sharedCost": 0.0, "externalCost": 0.0, "totalCost": sum(costs.values(), Decimal(0)),
            }
            step[r.team] = alloc
        steps.append(step)
    doc = {"code": 200, "status": "success", "data": steps}
    return _dumps(doc)


def _dumps(doc) -> str:
    """JSON with Decimals written as plain numbers (exact text, no float round trip)."""
    def enc(o):
        if isinstance(o, Decimal):
            return f"@@{o:f}@@"
        raise TypeError(type(o))
    text = json.dumps(doc, indent=1, default=enc)
    return text.replace('"@@', "").replace('@@"', "") + "\n"


def _dcgm(rows: pd.DataFrame) -> str:
    """Hourly per-GPU samples; the day's busy GPUs = round(GPU-hours / 24)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(_DCGM)
    per_day = rows.groupby("date")["gpu_hours"].sum()
    total_gpus = len(NODES) * GPUS_PER_NODE
    for day, gh in sorted(per_day.items()):
        busy = min(total_gpus, int((gh / 24).to_integral_value(ROUND_HALF_UP)))
        start = pd.Timestamp(day).to_pydatetime()
        for hour in range(24):
            ts = (start + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")
            for g in range(total_gpus):
                node, idx = divmod(g, GPUS_PER_NODE)
                active = g < busy
                util = 70 + (g * 7 + hour * 3) % 28 if active else 0
                power = Decimal(72) + Decimal(util) * Decimal("6.1") if active else Decimal("71.5")
                fb = 61000 + (g * 131 + hour * 17) % 17000 if active else 0
                w.writerow([ts, NODES[node], idx, f"GPU-{node:02d}{idx:02d}0000-aaaa-bbbb-cccc-{g:012d}",
                            "NVIDIA H100 80GB HBM3", util, f"{power:.3f}", fb])
    return buf.getvalue()


def write(truth: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write the on-prem exports (and the GPU rate table); returns the files written."""
    out_dir = Path(out_dir)
    rows = truth[truth["provider"] == "onprem"].copy()
    written: list[Path] = []
    rate_table = Path(__file__).resolve().parent.parent / "data" / "gpu_rates.csv"
    dest = out_dir / "business" / "gpu_rates.csv"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(rate_table, dest)
    written.append(dest)
    if rows.empty:
        return written
    rows["date"] = pd.to_datetime(rows["date"])
    rows["month"] = rows["date"].dt.strftime("%Y-%m")
    base = out_dir / "onprem"
    train = rows[rows["team"].isin(TRAINING_TEAMS)]
    k8s = rows[~rows["team"].isin(TRAINING_TEAMS)]
    next_id = 100001
    for month, grp in train.groupby("month", sort=True):
        buf = io.StringIO()
        buf.write("|".join(_SACCT) + "\n")
        for r in grp.sort_values(["date", "team"]).itertuples(index=False):
            for job in _jobs(r.date.to_pydatetime(), r.team, r.gpu_hours, next_id):
                buf.write("|".join(job[c] for c in _SACCT) + "\n")
                next_id += 1
        p = base / "slurm" / f"sacct-{month}.psv"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(buf.getvalue(), encoding="utf-8")
        written.append(p)
    if not k8s.empty:
        pricing = out_dir / "business" / "opencost-pricing.json"
        (base / "opencost").mkdir(parents=True, exist_ok=True)
        pricing.write_text(json.dumps(OPENCOST_PRICES, indent=4) + "\n", encoding="utf-8")
        written.append(pricing)
        for month, grp in k8s.groupby("month", sort=True):
            p = base / "opencost" / f"allocation-{month}.json"
            p.write_text(_opencost_doc(grp), encoding="utf-8")
            written.append(p)
    last = rows["date"].max()
    week = rows[rows["date"] > last - pd.Timedelta(days=DCGM_DAYS)]
    p = base / "dcgm" / f"dcgm-{week['date'].min():%Y-%m-%d}.csv"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(_dcgm(week), encoding="utf-8")
    written.append(p)
    return written
