"""DCGM exporter samples loader: intervals per GPU, energy and utilization, the sample
against the truth, malformed samples (no real DCGM CSV export is public, formats.md §4.3)."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from aifinops.errors import DateParseError, InvalidValueError, NumberParseError
from aifinops.formats import detect
from aifinops.ingest import ingest, preview
from aifinops.ledger import Ledger
from aifinops.samples import onprem as onprem_sample
from aifinops.samples.truth import ground_truth

HEADER = "timestamp,Hostname,gpu,UUID,modelName,DCGM_FI_DEV_GPU_UTIL,DCGM_FI_DEV_POWER_USAGE,DCGM_FI_DEV_FB_USED"


def _csv(tmp_path, *rows, header=HEADER):
    p = tmp_path / "dcgm.csv"
    p.write_text(header + "\n" + "\n".join(rows) + "\n")
    return p


def test_intervals_per_gpu_energy_and_utilization(tmp_path):
    p = _csv(tmp_path,
             "2025-06-01T00:00:00Z,n1,0,GPU-a,NVIDIA A100-SXM4-80GB,50,400.5,1000",
             "2025-06-01T00:00:00Z,n1,1,GPU-b,NVIDIA A100-SXM4-80GB,0,60,0",
             "2025-06-01T00:15:00Z,n1,0,GPU-a,NVIDIA A100-SXM4-80GB,100,700,2000",
             "2025-06-01T00:45:00Z,n1,0,GPU-a,NVIDIA A100-SXM4-80GB,75,500,2000",
             "2025-06-01T00:30:00Z,n1,1,GPU-b,NVIDIA A100-SXM4-80GB,10,90,0")
    assert detect(p).name == "dcgm-samples"
    df = preview(p).sort_values("x_SourceRow").reset_index(drop=True)
    assert df["x_QuarantineReason"].isna().all()
    # GPU-a: 15 min, 30 min, last sample repeats 30 min; GPU-b: 30 min, 30 min
    assert list(df["ConsumedQuantity"]) == [Decimal("0.25"), Decimal("0.5"), Decimal("0.5"), Decimal("0.5"),
                                            Decimal("0.5")]
    assert df.iloc[0]["ChargePeriodEnd"] == pd.Timestamp("2025-06-01T00:15:00Z")
    assert Decimal(df.iloc[0]["x_EnergyKWh"]) == Decimal("0.100125")  # 400.5 W x 900 s / 3.6e6
    assert Decimal(df.iloc[2]["x_GpuBusyHours"]) == Decimal("0.5")
    assert set(df["x_GpuModel"]) == {"A100"} and df["x_GpuHours"].isna().all()
    assert df["BilledCost"].isna().all() and set(df["x_CostAuthority"]) == {"usage"}
    assert df.iloc[0]["ResourceId"] == "GPU-a" and df.iloc[0]["x_Hostname"] == "n1"


def test_sample_covers_every_gpu_hour_of_the_last_week(tmp_path):
    t = ground_truth(months=1)
    files = onprem_sample.write(t, tmp_path / "s")
    [f] = [p for p in files if p.parent.name == "dcgm"]
    res = ingest([f], tmp_path / "l").files[0]
    assert res.status == "ok" and res.recon[0]["difference"] == 0
    gpus = len(onprem_sample.NODES) * onprem_sample.GPUS_PER_NODE
    assert res.recon[0]["ledger_total"] == Decimal(gpus * 24 * onprem_sample.DCGM_DAYS)
    got = Ledger(tmp_path / "l").query(
        "SELECT CAST(ChargePeriodStart AS DATE) AS d, SUM(CAST(x_GpuBusyHours AS DECIMAL(38,6)) > 0) AS busy "
        "FROM ledger GROUP BY 1 ORDER BY 1")
    on = t[t["provider"] == "onprem"].groupby("date")["gpu_hours"].sum()
    for d, busy in zip(got["d"], got["busy"]):
        want = min(gpus, int((on[pd.Timestamp(d)] / 24).to_integral_value(rounding="ROUND_HALF_UP")))
        assert busy == want * 24


def test_malformed_samples_are_quarantined(tmp_path):
    p = _csv(tmp_path,
             "2025-06-01T00:00:00Z,n1,0,GPU-a,H100,50,400,1",
             "2025-06-01T01:00:00Z,n1,0,GPU-a,H100,busy,400,1",
             "2025-06-01T02:00:00Z,n1,0,GPU-a,H100,150,400,1",
             "not a time,n1,0,GPU-a,H100,50,400,1",
             "2025-06-01T03:00:00Z,n1,0,GPU-a,H100,50,40O,1",
             ",n1,0,GPU-a,H100,50,400,1",
             "2025-06-01T04:00:00Z,n1,0,GPU-a,H100,50,400,1",
             "2025-06-01T00:00:00Z,n2,0,GPU-z,H100,50,400,1")  # a single sample: no interval
    res = ingest([p], tmp_path / "l").files[0]
    assert res.rows == 2 and res.quarantined == 6
    reasons = Ledger(tmp_path / "l").quarantine_frame().sort_values("x_SourceRow")["x_QuarantineReason"]
    assert [r.split("\t")[:2] for r in reasons] == [
        ["number", "DCGM_FI_DEV_GPU_UTIL"], ["value", "DCGM_FI_DEV_GPU_UTIL"], ["timestamp", "timestamp"],
        ["number", "DCGM_FI_DEV_POWER_USAGE"], ["required", "timestamp"], ["value", "interval"]]
    assert {NumberParseError, InvalidValueError, DateParseError} <= {type(e) for e in res.errors}
    assert res.recon[0]["difference"] == 0


def test_without_a_time_column_it_is_not_dcgm(tmp_path):
    p = _csv(tmp_path, "n1,0,50", header="Hostname,gpu,DCGM_FI_DEV_GPU_UTIL")
    with pytest.raises(Exception) as e:
        detect(p)
    assert "dcgm" in str(e.value).lower() or "format" in str(e.value).lower()
