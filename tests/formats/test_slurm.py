"""Slurm sacct loader: sample round trip against the truth, GPU-hour arithmetic, job steps,
running/pending jobs and malformed rows (no real sacct export is public, formats.md §4.3)."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from aifinops.errors import (
    DateParseError,
    InvalidValueError,
    MissingColumnError,
    NumberParseError,
)
from aifinops.formats import detect
from aifinops.ingest import ingest, preview
from aifinops.ledger import Ledger
from aifinops.samples import onprem as onprem_sample
from aifinops.samples.truth import ground_truth

HEADER = "JobID|JobIDRaw|JobName|User|Account|Partition|QOS|State|Start|End|ElapsedRaw|AllocTRES|Cluster"


def _sacct(tmp_path, *rows: str, header: str = HEADER):
    p = tmp_path / "sacct.psv"
    p.write_text(header + "\n" + "\n".join(rows) + "\n")
    return p


def _job(jid="17", user="ana", account="Search", start="2025-07-01T10:00:00", end="2025-07-01T11:30:00",
         elapsed="5400", tres="billing=16,cpu=16,gres/gpu:a100=2,gres/gpu=2,mem=128G,node=1", state="COMPLETED"):
    return f"{jid}|{jid}|train|{user}|{account}|gpu|normal|{state}|{start}|{end}|{elapsed}|{tres}|c1"


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    t = ground_truth(months=1)
    return t[t["date"] < t["date"].min() + pd.Timedelta(days=3)].reset_index(drop=True)


@pytest.fixture(scope="module")
def sample(truth, tmp_path_factory):
    return onprem_sample.write(truth, tmp_path_factory.mktemp("onprem"))


def test_sample_round_trip_equals_truth(sample, truth, tmp_path):
    [f] = [p for p in sample if p.suffix == ".psv"]
    assert detect(f).name == "slurm-sacct"
    res = ingest([f], tmp_path / "l").files[0]
    assert res.status == "ok" and res.quarantined == 0
    [r] = res.recon
    assert r["column"] == "x_GpuHours" and r["difference"] == 0
    got = Ledger(tmp_path / "l").query(
        "SELECT x_Team, x_GpuModel, CAST(ChargePeriodStart AS DATE) AS d, SUM(x_GpuHours) AS gh, "
        "COUNT(BilledCost) AS costs, MIN(x_CostAuthority) AS a FROM ledger GROUP BY ALL")
    ds = truth[(truth["provider"] == "onprem") & truth["team"].isin(onprem_sample.TRAINING_TEAMS)]
    want = {(tm, pd.Timestamp(d).date()): gh for tm, d, gh in zip(ds["team"], ds["date"], ds["gpu_hours"])}
    assert {(t, d): gh for t, d, gh in zip(got["x_Team"], got["d"], got["gh"])} == want
    assert set(got["x_GpuModel"]) == {"H100"} and got["costs"].sum() == 0 and set(got["a"]) == {"usage"}
    assert r["ledger_total"] == sum(ds["gpu_hours"], Decimal(0))


def test_gpu_hours_model_attribution(tmp_path):
    df = preview(_sacct(tmp_path, _job(), _job(jid="18", elapsed="7", tres="cpu=4,gres/gpu=3,mem=8G"),
                        _job(jid="19", tres="cpu=4,mem=8G,node=1")))
    assert list(df["x_GpuHours"]) == [Decimal(3), Decimal("0.005833"), Decimal(0)]  # 21 GPU-s -> 0.005833 h
    assert list(df["x_GpuModel"].fillna("-")) == ["A100", "-", "-"]
    assert list(df["ConsumedQuantity"]) == list(df["x_GpuHours"])
    row = df.iloc[0]
    assert row["x_Team"] == "search" and row["x_User"] == "ana" and row["SubAccountId"] == "Search"
    assert row["ChargePeriodStart"] == pd.Timestamp("2025-07-01T10:00:00Z")
    assert row["BillingAccountId"] == "c1" and row["ProviderName"] == "On-premises"
    assert pd.isna(row["BilledCost"]) and row["x_CostAuthority"] == "usage"
    assert df["x_QuarantineReason"].isna().all()


def test_running_job_ends_at_start_plus_elapsed_and_pending_is_quarantined(tmp_path):
    p = _sacct(tmp_path, _job(end="Unknown", state="RUNNING"),
               _job(jid="20", start="Unknown", end="Unknown", elapsed="0", state="PENDING"))
    df = preview(p)
    assert df.iloc[0]["ChargePeriodEnd"] == pd.Timestamp("2025-07-01T11:30:00Z")
    assert pd.isna(df.iloc[0]["x_QuarantineReason"])
    assert df.iloc[1]["x_QuarantineReason"].startswith("required\tStart")


def test_malformed_rows_are_quarantined_not_dropped(tmp_path):
    p = _sacct(tmp_path,
               _job(),
               _job(jid="21.batch"),                       # a job step: would count twice
               _job(jid="22", elapsed="1:30:00"),          # Elapsed text in ElapsedRaw
               _job(jid="23", elapsed="-5"),
               _job(jid="24", start="yesterday"),
               _job(jid="25", tres="cpu=2,gres/gpu=two"),
               _job(jid=""))
    res = ingest([p], tmp_path / "l").files[0]
    assert res.status == "quarantined" and res.rows == 1 and res.quarantined == 6
    reasons = Ledger(tmp_path / "l").quarantine_frame()["x_QuarantineReason"].tolist()
    assert [r.split("\t")[:2] for r in reasons] == [
        ["value", "JobID"], ["number", "ElapsedRaw"], ["value", "ElapsedRaw"], ["timestamp", "Start"],
        ["number", "AllocTRES"], ["required", "JobID"]]
    kinds = {type(e) for e in res.errors}
    assert {InvalidValueError, NumberParseError, DateParseError} <= kinds
    assert all(e.file and e.row and e.column for e in res.errors)
    [r] = res.recon
    assert r["difference"] == 0 and r["ledger_total"] == Decimal(3)


def test_missing_column_is_a_typed_error(tmp_path):
    p = _sacct(tmp_path, "17|ana|search", header="JobID|User|Account")
    res = ingest([p], tmp_path / "l", format="slurm-sacct").files[0]
    assert res.status == "rejected" and isinstance(res.error, MissingColumnError)
    assert "AllocTRES" in str(res.error) or "Partition" in str(res.error)


def test_unquoted_pipe_output_keeps_quotes_and_commas_literal(tmp_path):
    p = _sacct(tmp_path, _job().replace("|train|", '|say "hi", ok|'))
    df = preview(p)
    assert df["x_QuarantineReason"].isna().all() and df["x_GpuHours"].item() == Decimal(3)
    assert 'say "hi", ok' in df["ChargeDescription"].item()
    assert '"job_name":"say \\"hi\\", ok"' in df["Tags"].item()
