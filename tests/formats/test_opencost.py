"""OpenCost loader: the real allocation API example (corpus), the sample against the truth,
malformed allocations, and the custom pricing files."""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pytest

from aifinops.errors import ConfigError, DateParseError, NumberParseError
from aifinops.formats import detect
from aifinops.formats.opencost import read_custom_pricing
from aifinops.ingest import ingest, preview
from aifinops.ledger import Ledger
from aifinops.samples import onprem as onprem_sample
from aifinops.samples.truth import ground_truth

EXAMPLE = "opencost/opencost_swagger_example__allocation_compute_window2d_aggregate_namespace.json"


def _alloc(name="ml", **kw):
    a = {"name": name, "properties": {"cluster": "c1", "namespace": name, "labels": {"team": "Search"}},
         "window": {"start": "2025-06-01T00:00:00Z", "end": "2025-06-02T00:00:00Z"},
         "start": "2025-06-01T00:00:00Z", "end": "2025-06-02T00:00:00Z", "minutes": 1440,
         "cpuCoreHours": 24, "cpuCost": 0.5, "gpuHours": 24, "gpuCost": 48.25, "ramCost": 0.25, "totalCost": 49}
    a.update(kw)
    return a


def _write(tmp_path, *steps, name="alloc.json"):
    p = tmp_path / name
    p.write_text(json.dumps({"code": 200, "status": "success", "data": list(steps)}))
    return p


def test_corpus_example_ingests_and_reconciles(corpus, tmp_path):
    path = corpus / EXAMPLE
    assert detect(path).name == "opencost-allocation"
    doc = json.loads(path.read_text(), parse_float=Decimal)
    allocs = [a for step in doc["data"] for a in step.values()]
    res = ingest([path], tmp_path / "l").files[0]
    assert res.status == "ok" and res.rows == len(allocs) and res.quarantined == 0
    recon = {r["column"]: r for r in res.recon}
    assert recon["BilledCost"]["difference"] == 0 and recon["x_GpuHours"]["difference"] == 0
    assert recon["BilledCost"]["source_total"] == sum((a["totalCost"] for a in allocs), Decimal(0))
    got = Ledger(tmp_path / "l").query(
        "SELECT ResourceName, SubAccountId, BilledCost, x_CostAuthority, BillingAccountId, ChargePeriodStart "
        "FROM ledger ORDER BY ResourceName")
    assert list(got["ResourceName"]) == sorted(a["name"] for a in allocs)
    assert dict(zip(got["ResourceName"], got["BilledCost"])) == {a["name"]: a["totalCost"] for a in allocs}
    assert set(got["x_CostAuthority"]) == {"estimate"} and set(got["BillingAccountId"]) == {"cluster-one"}
    assert set(got["ChargePeriodStart"]) == {pd.Timestamp("2023-01-18T11:38:45Z")}
    # estimates never count in billed totals
    assert Ledger(tmp_path / "l").query("SELECT COUNT(*) AS n FROM billed")["n"].item() == 0


def test_sample_gpu_hours_per_team_and_day_equal_truth(tmp_path):
    t = ground_truth(months=1)
    t = t[t["date"] < t["date"].min() + pd.Timedelta(days=3)]
    files = onprem_sample.write(t, tmp_path / "s")
    [f] = [p for p in files if p.name.startswith("allocation-")]
    res = ingest([f], tmp_path / "l").files[0]
    assert res.status == "ok" and all(r["difference"] == 0 for r in res.recon)
    got = Ledger(tmp_path / "l").query("SELECT x_Team, CAST(ChargePeriodStart AS DATE) AS d, x_GpuModel, "
                                       "x_Environment, SUM(x_GpuHours) AS gh FROM ledger GROUP BY ALL")
    k8s = t[(t["provider"] == "onprem") & ~t["team"].isin(onprem_sample.TRAINING_TEAMS)]
    want = {(tm, pd.Timestamp(d).date()): gh for tm, d, gh in zip(k8s["team"], k8s["date"], k8s["gpu_hours"])}
    assert {(tm, d): gh for tm, d, gh in zip(got["x_Team"], got["d"], got["gh"])} == want
    assert set(got["x_GpuModel"]) == {"H100"} and set(got["x_Environment"]) == {"prod"}


def test_cost_parts_tags_and_gpu_model(tmp_path):
    a = _alloc(properties={"cluster": "c1", "namespace": "ml", "labels": {"team": "Search",
                                                                          "nvidia.com/gpu.product": "NVIDIA-A100-SXM4"},
                           "namespaceLabels": {"team": "other", "cost-center": "cc-7"}})
    df = preview(_write(tmp_path, {"ml": a, "__idle__": _alloc("__idle__", gpuHours=0, properties={})}))
    row = df[df["ResourceName"] == "ml"].iloc[0]
    assert row["x_Team"] == "search" and row["x_CostCenter"] == "CC-7"  # pod labels win over namespace labels
    assert row["x_GpuModel"] == "A100" and row["x_GpuHours"] == Decimal(24) and row["ConsumedUnit"] == "GPU-Hours"
    assert row["BilledCost"] == Decimal(49) and row["x_GpuCost"] == "48.25"
    idle = df[df["ResourceName"] == "__idle__"].iloc[0]
    assert idle["ConsumedUnit"] == "Core-Hours" and pd.isna(idle["x_Team"]) and idle["BillingAccountId"] == "unknown"


def test_malformed_allocations_are_quarantined(tmp_path):
    p = _write(tmp_path, {"a": _alloc("a"), "b": _alloc("b", totalCost="lots"), "c": _alloc("c", start="soon"),
                          "d": _alloc("d", start=None, window={}), "e": _alloc("e", gpuHours=-1)})
    res = ingest([p], tmp_path / "l").files[0]
    assert res.rows == 1 and res.quarantined == 4 and res.status == "quarantined"
    q = Ledger(tmp_path / "l").quarantine_frame().sort_values("x_SourceRow")
    assert [r.split("\t")[:2] for r in q["x_QuarantineReason"]] == [
        ["number", "totalCost"], ["timestamp", "start"], ["required", "start"], ["value", "gpuHours"]]
    assert {NumberParseError, DateParseError} <= {type(e) for e in res.errors}
    by = {r["column"]: r for r in res.recon}
    assert by["x_GpuHours"]["difference"] == 0 and by["x_GpuHours"]["quarantined_total"] == Decimal(71)
    assert by["BilledCost"]["ledger_total"] == Decimal(49)


def test_not_an_allocation_response_is_rejected(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"code": 200, "data": "nope", "properties": {}, "totalCost": 1}))
    res = ingest([p], tmp_path / "l", format="opencost-allocation").files[0]
    assert res.status == "rejected" and res.error is not None and res.rows == 0


def test_custom_pricing_files_from_corpus(corpus):
    d = read_custom_pricing(corpus / "opencost" / "opencost_configs__default.json")
    prices = dict(zip(d["key"], d["price_hourly"]))
    assert prices["GPU"] == Decimal("0.95") and prices["spotCPU"] == Decimal("0.006655")
    assert set(d.loc[d["key"] == "GPU", "asset_class"]) == {"gpu"}
    g = read_custom_pricing(corpus / "opencost" / "opencost_configs__pricing_schema_mixed_gpu_ondemand.csv")
    assert dict(zip(g["key"], g["price_hourly"]))["a100-ondemand"] == Decimal("0.5")
    assert set(g["asset_class"]) == {"node", "gpu"} and list(g["source_row"]) == [2, 3, 4, 5]
    r = read_custom_pricing(corpus / "opencost" / "opencost_configs__pricing_schema_region.csv")
    assert list(r["region"].fillna("-")) == ["regionone", "regiontwo", "-"]


def test_custom_pricing_errors(tmp_path):
    p = tmp_path / "pricing.csv"
    p.write_text("EndTimestamp,InstanceID,Region,AssetClass,InstanceIDField,InstanceType,MarketPriceHourly,Version\n"
                 "2028-01-06 23:34:45 UTC,a100,,gpu,nvidia.com/gpu_type,,cheap,\n")
    with pytest.raises(ConfigError) as e:
        read_custom_pricing(p)
    assert e.value.file == str(p) and e.value.row == 2 and e.value.column == "MarketPriceHourly"
    p.write_text("InstanceID,Price\nx,1\n")
    with pytest.raises(ConfigError, match="AssetClass"):
        read_custom_pricing(p)
    j = tmp_path / "default.json"
    j.write_text('{"GPU": "-1"}')
    with pytest.raises(ConfigError) as e:
        read_custom_pricing(j)
    assert e.value.column == "GPU"
    j.write_text('{"GPU": ')
    with pytest.raises(ConfigError):
        read_custom_pricing(j)
