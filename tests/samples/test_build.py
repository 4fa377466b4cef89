"""The sample builder and the FOCUS sample writer: discovery, manifest, deterministic bytes,
FOCUS detection, ingest with exact reconciliation, and the truth's totals recovered."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from aifinops import schema
from aifinops.errors import UnsafePathError
from aifinops.formats import detect
from aifinops.samples import build as B
from aifinops.samples import focus
from aifinops.samples.truth import ground_truth

CENT = Decimal("0.01")
#: sample writer -> the truth provider it renders (None: not invoice data)
WRITER_PROVIDER = {"aws": "aws", "azure": "azure", "gcp": "gcp", "oci": "oci", "openai": "openai",
                   "anthropic": "anthropic", "focus": "saas", "gateways": None, "onprem": None, "kpis": None}
#: business inputs (KPIs, FX, GPU rate tables) live under business/ and are not exports
BUSINESS = "business/"


@pytest.fixture(scope="module")
def truth2() -> pd.DataFrame:
    return ground_truth(months=2)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """The samples of a 2-month truth built twice into separate folders."""
    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    B.build(a, months=2)
    B.build(b, months=2)
    return a, b


def _manifest(d: Path) -> dict:
    return json.loads((d / B.MANIFEST).read_text(encoding="utf-8"))


# -- discovery ----------------------------------------------------------------------------------
def test_writers_are_discovered_and_non_writers_skipped():
    found = B.writers()
    assert "focus" in found and found["focus"] is focus.write
    assert not set(found) & {"truth", "build", "__main__", "__init__"}
    assert list(found) == sorted(found)
    with pytest.raises(KeyError, match="nosuch"):
        B.writers(["focus", "nosuch"])


# -- build --------------------------------------------------------------------------------------
def test_manifest_lists_every_file_with_hash_format_and_rows(built):
    a, _ = built
    m = _manifest(a)
    assert m["args"] == {"start": "2025-06-01", "months": 2, "seed": 7, "scale": 1.0}
    files = {f["file"]: f for f in m["files"]}
    assert "ground_truth.parquet" in files and "focus/pinecone-focus-1.2.csv" in files
    for rel, f in files.items():
        p = a / rel
        assert p.is_file(), rel
        assert hashlib.sha256(p.read_bytes()).hexdigest() == f["sha256"]
        assert f["rows"] > 0, rel
        assert f["writer"] in set(B.writers()) | {"truth"}
        if f["writer"] != "truth" and not rel.startswith(BUSINESS):
            assert f["format"] is not None, f"{rel} is not detected as any aifinops format"
    assert files["focus/pinecone-focus-1.2.csv"]["format"] == "focus"
    assert files["ground_truth.parquet"]["rows"] == m["truth_rows"] == len(ground_truth(months=2))
    on_disk = {p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file()} - {B.MANIFEST}
    assert on_disk == set(files)


def test_csv_and_json_outputs_are_byte_identical_across_builds(built):
    a, b = built
    ma, mb = _manifest(a), _manifest(b)
    assert (a / B.MANIFEST).read_bytes() == (b / B.MANIFEST).read_bytes()
    text = [f for f in ma["files"] if f["file"].endswith((".csv", ".json", ".jsonl", ".csv.gz", ".jsonl.gz"))]
    assert any(f["file"].endswith(".csv") for f in text)
    differ = [f["file"] for f, g in zip(ma["files"], mb["files"]) if f in text and f["sha256"] != g["sha256"]]
    assert differ == [], f"non-deterministic sample files: {differ}"


def test_ground_truth_parquet_round_trips(built, truth2):
    a, _ = built
    t = pq.read_table(a / B.TRUTH_FILE)
    assert t.column_names == list(truth2.columns)
    assert str(t.schema.field("cost").type) == "decimal128(38, 18)"
    df = t.to_pandas()
    assert sum(v for v in df["cost"] if v is not None) == sum(v for v in truth2["cost"] if v is not None)
    assert json.loads(df["tags"].iloc[-1]) == truth2["tags"].iloc[-1]
    assert df["account_id"].tolist() == truth2["account_id"].astype(object).where(truth2["account_id"].notna(),
                                                                                  None).tolist()


def test_rebuild_removes_files_of_the_previous_manifest_only(tmp_path):
    B.build(tmp_path, months=1, only=["focus"])
    stale = tmp_path / "focus" / "old-name.csv"
    stale.write_text("x\n")
    m = _manifest(tmp_path)
    m["files"].append({"file": "focus/old-name.csv"})
    m["files"].append({"file": "../outside.txt"})  # never followed outside the folder
    (tmp_path / B.MANIFEST).write_text(json.dumps(m))
    (tmp_path.parent / "outside.txt").write_text("keep")
    mine = tmp_path / "notes.md"
    mine.write_text("keep")
    B.build(tmp_path, months=1, only=["focus"])
    assert not stale.exists()
    assert mine.read_text() == "keep" and (tmp_path.parent / "outside.txt").read_text() == "keep"
    assert (tmp_path / "focus" / "pinecone-focus-1.2.csv").is_file()


def test_writer_escaping_the_folder_is_refused(tmp_path, monkeypatch):
    outside = tmp_path / "elsewhere.csv"

    def evil(truth, out_dir):
        outside.write_text("a\n")
        return [outside]

    monkeypatch.setattr(B, "writers", lambda only=None: {"evil": evil})
    with pytest.raises(UnsafePathError, match="evil"):
        B.build(tmp_path / "samples", months=1)


def test_writer_failure_names_the_writer(tmp_path, monkeypatch):
    def broken(truth, out_dir):
        raise RuntimeError("boom")

    monkeypatch.setattr(B, "writers", lambda only=None: {"broken": broken})
    with pytest.raises(RuntimeError, match="boom") as info:
        B.build(tmp_path, months=1)
    assert any("aifinops.samples.broken" in n for n in info.value.__notes__)


@pytest.mark.parametrize("kind", ["csv", "csv.gz", "jsonl", "pages", "list"])
def test_count_rows(tmp_path, kind):
    p = tmp_path / f"f.{kind}"
    if kind == "csv":
        p.write_text('a,b\n1,"x\ny"\n2,z\n')
    elif kind == "csv.gz":
        p.write_bytes(gzip.compress(b"a;b\n1;2\n3;4\n"))
    elif kind == "jsonl":
        p.write_text('{"a": 1}\n\n{"a": 2}\n')
    elif kind == "pages":
        page = {"data": [{"results": [{}, {}]}, {"results": [{}]}]}
        p.write_text(json.dumps([page, page]))
    else:
        p.write_text(json.dumps([{"a": 1}, {"a": 2}]))
    assert B.count_rows(p) == {"csv": 2, "csv.gz": 2, "jsonl": 2, "pages": 6, "list": 2}[kind]


def test_main_entry_point(tmp_path, capsys):
    from aifinops.samples.__main__ import main

    assert main(["--out", str(tmp_path), "--months", "1", "--only", "focus"]) == 0
    assert "wrote 2 files" in capsys.readouterr().out
    assert (tmp_path / "focus" / "pinecone-focus-1.2.csv").is_file()


# -- the FOCUS writer ---------------------------------------------------------------------------
def test_focus_file_has_all_57_columns_and_plain_decimals(tmp_path, truth2):
    [p] = focus.write(truth2, tmp_path)
    with open(p, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == schema.FOCUS_12_COLUMNS and len(rows[0]) == 57
    saas = truth2[truth2["provider"] == "saas"]
    assert len(rows) - 1 == len(saas)
    ix = {c: i for i, c in enumerate(rows[0])}
    for r in rows[1:]:
        for c in ("BilledCost", "ListCost", "PricingQuantity", "ContractedUnitPrice"):
            assert "E" not in r[ix[c]] and "e" not in r[ix[c]], (c, r[ix[c]])
        assert r[ix["ProviderName"]] == "Pinecone" and r[ix["ChargeCategory"]] in schema.CHARGE_CATEGORIES
        assert r[ix["ServiceCategory"]] in schema.SERVICE_CATEGORIES
    assert {r[ix["ChargeCategory"]] for r in rows[1:]} == {"Usage", "Purchase"}
    assert sum(Decimal(r[ix["BilledCost"]]) for r in rows[1:]) == sum(saas["cost"])
    assert detect(p).name == "focus"
    assert focus.write(truth2[truth2["provider"] == "aws"], tmp_path / "none") == []


def test_focus_file_ingests_reconciles_and_recovers_the_truth(tmp_path, truth2):
    from aifinops.ingest import ingest
    from aifinops.ledger import Ledger

    files = focus.write(truth2, tmp_path / "samples")
    rep = ingest(files, tmp_path / "ledger")
    [res] = rep.files
    assert (res.format, res.status, res.quarantined, res.error) == ("focus", "ok", 0, None)
    assert res.recon and all(r["difference"] == 0 for r in res.recon)
    led = Ledger(tmp_path / "ledger").frame(columns=["BillingCurrency", "BilledCost", "ListCost", "x_Team",
                                                     "x_Feature", "x_Environment", "ChargeCategory"])
    saas = truth2[truth2["provider"] == "saas"]
    assert len(led) == len(saas)
    assert sum(led["BilledCost"]).quantize(CENT) == sum(saas["cost"]).quantize(CENT)
    assert sum(led["BilledCost"]) == sum(saas["cost"])  # exact, not only to the cent
    assert sum(led["ListCost"]) == sum(saas["list_cost"])
    assert set(led["x_Team"]) == {"search"} and set(led["x_Feature"]) == {"semantic-search"}


# -- everyone's writers, end to end ---------------------------------------------------------------
@pytest.mark.slow
def test_built_samples_ingest_and_recover_truth_totals_per_provider(built, tmp_path):
    """Every sample file ingests with exact reconciliation, and the invoice rows of each
    writer add up to the truth's totals of its provider per currency, to the cent."""
    from aifinops.ingest import ingest
    from aifinops.ledger import Ledger

    a, _ = built
    m = _manifest(a)
    files = [a / f["file"] for f in m["files"] if f["writer"] != "truth" and not f["file"].startswith(BUSINESS)]
    rep = ingest(files, tmp_path / "ledger")
    bad = [(r.path, r.status, str(r.error)) for r in rep.files if r.status != "ok" or r.quarantined]
    assert bad == []
    assert all(x["difference"] == 0 for r in rep.files for x in r.recon)
    led = Ledger(tmp_path / "ledger").frame(columns=["x_SourceFile", "x_CostAuthority", "BillingCurrency",
                                                     "BilledCost"])
    led = led[led["x_CostAuthority"].fillna("invoice") == "invoice"]
    writer_of = {str(a / f["file"]): f["writer"] for f in m["files"]}
    led["provider"] = led["x_SourceFile"].map(lambda s: WRITER_PROVIDER.get(writer_of.get(s, ""), "?"))
    assert "?" not in set(led["provider"]), "ledger rows whose source file is not in the manifest"
    got = led.groupby(["provider", "BillingCurrency"])["BilledCost"].agg(lambda s: sum(s).quantize(CENT))
    truth = ground_truth(months=2)
    truth = truth[truth["provider"].isin(set(led["provider"]))]
    want = truth.groupby(["provider", "currency"])["cost"].agg(lambda s: sum(s).quantize(CENT))
    assert got.to_dict() == want.to_dict()
