"""The pipeline: reconciliation, quarantine, idempotent re-ingest, atomicity, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifinops.errors import (AifinopsError, DateParseError, FormatError, MissingColumnError, NumberParseError,
                             RequiredValueError, UnknownFormatError)
from aifinops.ingest import EXIT_OK, EXIT_PARTIAL, ingest, preview
from aifinops.ledger import Ledger

HEADER = "BilledCost,EffectiveCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ServiceName,Tags\n"


def write(p: Path, body: str, header: str = HEADER) -> Path:
    p.write_text(header + body, encoding="utf-8")
    return p


def test_exact_totals_and_lineage(tmp_path, ledger_dir):
    f = write(tmp_path / "a.csv", "0.1,0.1,2025-01-01,USD,Usage,S3,\n0.2,0.2,2025-01-02,USD,Usage,S3,\n"
                                  "0.0000000001,0,2025-02-01,USD,Tax,S3,\n")
    rep = ingest([f], ledger_dir)
    r = rep.files[0]
    assert (r.status, r.rows, r.quarantined, rep.exit_code) == ("ok", 3, 0, EXIT_OK)
    billed = next(x for x in r.recon if x["column"] == "BilledCost")
    assert billed["ledger_total"] == Decimal("0.3000000001") and billed["difference"] == 0
    df = Ledger(ledger_dir).frame()
    assert sorted(df["x_BillingPeriod"].unique()) == ["2025-01", "2025-02"]
    assert df["x_SourceRow"].tolist() == [1, 2, 3] or sorted(df["x_SourceRow"]) == [1, 2, 3]
    assert set(df["x_SourceFormat"]) == {"focus"}
    assert sum(df["BilledCost"]) == Decimal("0.3000000001")  # Decimal, not float
    # constant text columns (written from one-value ENUMs) are plain Parquet strings, so
    # pandas, Power BI and DuckDB all read them as text
    import pyarrow as pa
    import pyarrow.parquet as pq
    for part in Ledger(ledger_dir).data_files():
        schema = pq.read_schema(part)
        for c in ("x_SourceFile", "x_SourceFormat", "x_SourceHash", "ProviderName"):
            assert schema.field(c).type == pa.string(), (part, c, schema.field(c).type)
    assert df["x_SourceFile"].tolist() == [str(f)] * 3


def test_quarantine_names_file_row_column_and_reconciles(tmp_path, ledger_dir):
    f = write(tmp_path / "b.csv", "1.5,1.5,2025-01-01,USD,Usage,S3,\nabc,1,2025-01-01,USD,Usage,S3,\n"
                                  "2,2,2025-13-45,USD,Usage,S3,\n3,3,2025-01-01,USD,Usage,,\n")
    rep = ingest([f], ledger_dir)
    r = rep.files[0]
    assert (r.status, r.rows, r.quarantined, rep.exit_code) == ("quarantined", 1, 3, EXIT_PARTIAL)
    kinds = {type(e) for e in r.errors}
    assert kinds == {NumberParseError, DateParseError, RequiredValueError}
    e = next(e for e in r.errors if isinstance(e, NumberParseError))
    assert (e.file, e.row, e.column, e.value) == (str(f), 2, "BilledCost", "abc")
    billed = next(x for x in r.recon if x["column"] == "BilledCost")
    assert billed["source_total"] == Decimal("6.5") and billed["quarantined_total"] == Decimal("5")
    assert billed["ledger_total"] + billed["quarantined_total"] == billed["source_total"]
    q = Ledger(ledger_dir).quarantine_frame()
    assert q["x_SourceRow"].tolist() == [2, 3, 4]
    assert '"BilledCost":"abc"' in q["x_RawRecord"][0]


def test_reingest_replaces_not_doubles(tmp_path, ledger_dir):
    f = write(tmp_path / "c.csv", "10,10,2025-01-01,USD,Usage,S3,\n")
    first = ingest([f], ledger_dir).files[0]
    again = ingest([f], ledger_dir).files[0]
    assert not first.unchanged and again.unchanged  # identical bytes, loader, tag map: nothing rewritten
    assert (again.status, again.rows, again.recon) == (first.status, first.rows, first.recon)
    from aifinops.tags import TagMap
    other = ingest([f], ledger_dir, tag_map=TagMap.from_dict({"team": ["owner"]})).files[0]
    assert not other.unchanged  # another tag map changes the rows: re-ingested, replacing them
    assert Ledger(ledger_dir).query("SELECT sum(BilledCost) s FROM ledger")["s"][0] == Decimal(10)
    # a restated export at the same path replaces the earlier version
    write(f, "12,12,2025-01-01,USD,Usage,S3,\n")
    rep = ingest([f], ledger_dir)
    assert rep.files[0].replaced == [str(f)]
    led = Ledger(ledger_dir)
    assert led.query("SELECT sum(BilledCost) s FROM ledger")["s"][0] == Decimal(12)
    assert len(led.manifest["files"]) == 1 and len(led.data_files()) == 1


def test_header_only_file_is_valid(tmp_path, ledger_dir):
    f = write(tmp_path / "empty.csv", "")
    r = ingest([f], ledger_dir).files[0]
    assert (r.status, r.rows, r.quarantined) == ("ok", 0, 0)
    assert Ledger(ledger_dir).summary()["rows"].tolist()[0] == 0


def test_unknown_format_names_closest(tmp_path, ledger_dir):
    f = write(tmp_path / "x.csv", "1,2\n", header="BilledCost,Foo\n")
    r = ingest([f], ledger_dir).files[0]
    assert r.status == "rejected" and isinstance(r.error, UnknownFormatError)
    assert "focus" in r.error.candidates


def test_forced_format_missing_column(tmp_path, ledger_dir):
    f = write(tmp_path / "y.csv", "1\n", header="BilledCost\n")
    r = ingest([f], ledger_dir, format="focus").files[0]
    assert isinstance(r.error, MissingColumnError) and r.error.column == "ChargePeriodStart"


def test_other_files_still_ingest_when_one_is_rejected(tmp_path, ledger_dir):
    good = write(tmp_path / "good.csv", "1,1,2025-01-01,USD,Usage,S3,\n")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01garbage")
    rep = ingest([bad, good], ledger_dir)
    assert [f.status for f in rep.files] == ["rejected", "ok"] and rep.exit_code == EXIT_PARTIAL
    assert isinstance(rep.files[0].error, AifinopsError)


def test_tags_fill_attribution_through_tag_map(tmp_path, ledger_dir):
    f = write(tmp_path / "t.csv", '1,1,2025-01-01,USD,Usage,S3,"{""Team"": ""DS"", ""env"": ""Production""}"\n'
                                  '1,1,2025-01-01,USD,Usage,S3,not json\n')
    df = preview(f)
    assert df["x_Team"][0] == "data-science" and df["x_Environment"][0] == "prod"
    assert df["x_QuarantineReason"][1].startswith("value\tTags")


def test_mixed_currencies_reconcile_per_currency(tmp_path, ledger_dir):
    f = write(tmp_path / "m.csv", "1.25,1.25,2025-01-01,USD,Usage,S3,\n2.5,2.5,2025-01-01,EUR,Usage,S3,\n")
    r = ingest([f], ledger_dir).files[0]
    billed = {x["currency"]: x["ledger_total"] for x in r.recon if x["column"] == "BilledCost"}
    assert billed == {"EUR": Decimal("2.5"), "USD": Decimal("1.25")}


_KILL_SCRIPT = """
import sys, time
import aifinops.ledger as L
orig = L.Ledger.commit
def slow_commit(self, *a, **k):
    print("COMMITTING", flush=True); time.sleep(30); return orig(self, *a, **k)
L.Ledger.commit = slow_commit
from aifinops.ingest import ingest
ingest([sys.argv[1]], sys.argv[2])
"""


@pytest.mark.parametrize("large", [False, True])
def test_large_file_is_planned_while_hashed(tmp_path, monkeypatch, large):
    """A large file is opened and planned while it is hashed: an unchanged one is still
    skipped (its open connection closed), and a bad one is rejected with the same typed
    error and format as when it is opened after the hash."""
    import aifinops.ingest as ing

    if large:
        monkeypatch.setattr(ing, "SMALL_FILE_BYTES", 0)
    opened = []
    real = ing._open_and_plan
    monkeypatch.setattr(ing, "_open_and_plan", lambda *a: opened.append(1) or real(*a))
    f = write(tmp_path / "c.csv", "10,10,2025-01-01,USD,Usage,S3,\n")
    first = ingest([f], tmp_path / "l").files[0]
    again = ingest([f], tmp_path / "l").files[0]
    assert (first.status, first.unchanged, again.status, again.unchanged) == ("ok", False, "ok", True)
    assert again.format == first.format == "focus" and again.recon == first.recon
    assert len(opened) == (2 if large else 1)  # opened before the hash told it was unchanged
    bad = write(tmp_path / "bad.csv", "1K,m,c,s\n", header="UnitOfMeasure,MeterName,MeterCategory,ConsumedService\n")
    r = ingest([bad], tmp_path / "l", format="azure-ea").files[0]
    assert (r.status, r.format, type(r.error)) == ("rejected", "azure-ea", MissingColumnError)
    assert "'Date'" in str(r.error)


@pytest.mark.slow
def test_killed_ingest_leaves_ledger_unchanged(tmp_path, ledger_dir):
    first = write(tmp_path / "first.csv", "5,5,2025-01-01,USD,Usage,S3,\n")
    ingest([first], ledger_dir)
    before = Ledger(ledger_dir).manifest
    second = write(tmp_path / "second.csv", "".join(f"{i},1,2025-01-02,USD,Usage,S3,\n" for i in range(20000)))
    script = tmp_path / "k.py"
    script.write_text(_KILL_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(second), str(ledger_dir)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "COMMITTING"  # staged files written, commit not started
    assert any((ledger_dir / ".staging").rglob("*.parquet"))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    led = Ledger(ledger_dir)  # recovery discards the staging folder
    assert led.manifest == before
    assert led.query("SELECT sum(BilledCost) s, count(*) n FROM ledger").iloc[0].tolist() == [Decimal(5), 1]
    assert not (ledger_dir / ".staging").exists()


def test_interrupted_commit_rolls_forward(tmp_path, ledger_dir, monkeypatch):
    f = write(tmp_path / "r.csv", "7,7,2025-01-01,USD,Usage,S3,\n")
    import aifinops.ledger as L

    def crash(self, journal):
        raise SystemExit("power cut after the journal was written")

    monkeypatch.setattr(L.Ledger, "_apply", crash)
    with pytest.raises(SystemExit):
        ingest([f], ledger_dir)
    monkeypatch.undo()
    led = Ledger(ledger_dir)  # journal found: the commit is completed
    assert led.query("SELECT sum(BilledCost) s FROM ledger")["s"][0] == Decimal(7)


_cell = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_cell, _cell, _cell), min_size=0, max_size=6))
def test_garbage_rows_only_typed_errors_and_reconcile(tmp_path_factory, rows):
    tmp = tmp_path_factory.mktemp("g")
    import csv

    with open(tmp / "g.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["BilledCost", "ChargePeriodStart", "BillingCurrency"])
        w.writerows(rows)
    rep = ingest([tmp / "g.csv"], tmp / "ledger")
    r = rep.files[0]
    if r.status == "rejected":
        assert isinstance(r.error, AifinopsError)
        assert Ledger(tmp / "ledger").manifest["files"] == {}  # never a partial ledger
    else:
        assert r.rows + r.quarantined == r.source_rows
        assert all(x["difference"] == 0 for x in r.recon)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=300))
def test_garbage_files_only_typed_errors(tmp_path_factory, blob):
    tmp = tmp_path_factory.mktemp("b")
    (tmp / "x.csv").write_bytes(blob)
    r = ingest([tmp / "x.csv"], tmp / "ledger").files[0]
    assert r.status in ("rejected", "ok", "quarantined")
    if r.status == "rejected":
        assert isinstance(r.error, (FormatError, AifinopsError))
        assert Ledger(tmp / "ledger").data_files() == []


def test_invalid_tags_quarantined_on_ingest(tmp_path, ledger_dir):
    f = write(tmp_path / "tj.csv", '1,1,2025-01-01,USD,Usage,S3,"{""team"": ""a""}"\n2,2,2025-01-01,USD,Usage,S3,{bad\n')
    r = ingest([f], ledger_dir).files[0]
    assert (r.rows, r.quarantined) == (1, 1)
    assert r.errors[0].column == "Tags" and r.errors[0].row == 2
    billed = next(x for x in r.recon if x["column"] == "BilledCost")
    assert (billed["ledger_total"], billed["quarantined_total"]) == (Decimal(1), Decimal(2))


@pytest.mark.slow
def test_parallel_jobs_give_the_serial_ledger(tmp_path):
    files = [write(tmp_path / f"p{i}.csv", f"{i}.5,{i}.5,2025-0{1 + i % 3}-02,USD,Usage,S3,\n") for i in range(5)]
    files.append(write(tmp_path / "bad.csv", "x,1,2025-01-02,USD,Usage,S3,\n"))
    files.append(tmp_path / "missing.csv")
    serial = ingest(files, tmp_path / "serial")
    par = ingest(files, tmp_path / "par", jobs=2)
    # same results, in input order, with the same typed errors (they cross the process boundary)
    key = lambda r: (Path(r.path).name, r.status, r.rows, r.quarantined, [x["ledger_total"] for x in r.recon],
                     type(r.error).__name__, [str(e) for e in r.errors])
    assert [key(r) for r in par.files] == [key(r) for r in serial.files]
    assert isinstance(par.files[-1].error, FormatError) and par.files[-1].status == "rejected"
    assert isinstance(par.files[-2].errors[0], NumberParseError)
    q = "SELECT x_SourceRow, BilledCost, x_BillingPeriod FROM ledger ORDER BY BilledCost"
    assert Ledger(tmp_path / "par").query(q).equals(Ledger(tmp_path / "serial").query(q))
    assert not (tmp_path / "par" / ".staging").exists()
    # an identical re-run in parallel is a no-op per file
    again = ingest(files[:5], tmp_path / "par", jobs=2)
    assert all(r.unchanged for r in again.files)


def test_jobs_must_be_positive(tmp_path):
    with pytest.raises(AifinopsError, match="jobs"):
        ingest([write(tmp_path / "a.csv", "1,1,2025-01-02,USD,Usage,S3,\n")], tmp_path / "l", jobs=0)


def test_streaming_path_equals_small_file_path(tmp_path, monkeypatch):
    """Files above SMALL_FILE_BYTES stream through the mapping (quarantine records fetched for
    the failing rows only); small files are mapped once into a table. Same ledger, quarantine
    and reconciliation either way."""
    import aifinops.ingest as ing

    body = ('1.5,1.5,2025-01-01,USD,Usage,S3,"{""team"": ""ml""}"\n'
            "oops,1,2025-01-02,USD,Usage,S3,\n"
            "2.25,2.25,2025-02-01,EUR,Usage,EC2,not json\n"
            "3,3,,USD,Usage,S3,\n"
            "4.125,4.125,2025-02-03,EUR,Usage,EC2,\n")
    f = write(tmp_path / "s.csv", body)
    small = ingest([f], tmp_path / "small").files[0]
    monkeypatch.setattr(ing, "SMALL_FILE_BYTES", 0)
    big = ingest([f], tmp_path / "big").files[0]
    assert (big.rows, big.quarantined, big.recon) == (small.rows, small.quarantined, small.recon) == \
        (2, 3, big.recon)
    assert [str(e) for e in big.errors] == [str(e) for e in small.errors]
    for q in ("SELECT x_SourceRow, x_QuarantineReason, x_RawRecord FROM quarantine ORDER BY x_SourceRow",
              "SELECT x_SourceRow, BilledCost, x_Team, x_BillingPeriod FROM ledger ORDER BY x_SourceRow"):
        assert Ledger(tmp_path / "big").query(q).equals(Ledger(tmp_path / "small").query(q))


def test_scan_hashes_and_cuts_at_line_ends(tmp_path):
    """One read gives the file's sha256 and cuts just after newlines (the first after the
    header line), with the newlines before each cut."""
    import hashlib

    import aifinops.ingest as ing

    body = "h1,h2\n" + "".join(f"{i},{'x' * (i % 13)}\n" for i in range(500))
    f = tmp_path / "c.csv"
    f.write_text(body)
    digest, (cuts, lines, ends_nl) = ing._scan(f, 4)
    assert digest == hashlib.sha256(body.encode()).hexdigest() == ing.file_hash(f)
    assert (lines, ends_nl, len(cuts)) == (501, True, 4)
    data = body.encode()
    for offset, before in cuts:
        assert data[offset - 1:offset] == b"\n" and data[:offset].count(b"\n") == before
    assert cuts[0] == (len("h1,h2\n"), 1)
    assert ing._scan(f)[1] is None
    # one newline per record: parts numbered from the records before them
    spans = ing._record_spans((cuts, lines, ends_nl), 500)
    assert [s[2] for s in spans] == [c[1] - 1 for c in cuts] and spans[-1][1] is None
    # a newline inside a quoted value, a blank line or a missing last newline changes the count
    assert ing._record_spans((cuts, lines, ends_nl), 499) is None
    assert ing._record_spans((cuts, lines - 1, False), 500) is not None
    assert ing._record_spans((cuts[:1], lines, ends_nl), 500) is None


def _same_as_one_stream(f: Path, tmp_path: Path, monkeypatch, parts, status: tuple):
    """Ingest ``f`` again in two passes over one stream (into ``tmp_path/"one"``) and check
    that ``parts`` (its ingest written in parts into ``tmp_path/"parts"``) has the same status,
    rows, quarantined rows (``status``), totals and ledger; returns that ledger."""
    import aifinops.ingest as ing

    monkeypatch.setattr(ing, "_record_spans", lambda *a: None)
    one = ingest([f], tmp_path / "one").files[0]
    assert (parts.status, parts.rows, parts.quarantined) == (one.status, one.rows, one.quarantined) == status
    assert parts.recon == one.recon
    q = "SELECT * EXCLUDE (x_IngestedAt) FROM ledger ORDER BY x_SourceRow"
    got, want = Ledger(tmp_path / "parts").query(q), Ledger(tmp_path / "one").query(q)
    assert got.equals(want)
    return got


@pytest.mark.parametrize("months", [1, 3])
def test_csv_parts_equal_one_stream(tmp_path, monkeypatch, months):
    """A large CSV file is written in parts side by side, cut at the line ends found while
    hashing it, each part numbered from the records before it: the same ledger, row numbers,
    quarantine and totals as one stream, for one billing period (one file per part) and
    several (partitioned writers side by side)."""
    import aifinops.ingest as ing

    rows = [f'{i}.{i % 7},{i}.{i % 7},2025-0{1 + i % months}-0{1 + i % 9},USD,Usage,S{i % 5},'
            f'"{{""team"": ""t{i % 4}""}}"\n' for i in range(1, 400)]
    rows[17] = "oops,1,2025-01-02,USD,Usage,S3,\n"
    f = write(tmp_path / "p.csv", "".join(rows))
    monkeypatch.setattr(ing, "SMALL_FILE_BYTES", 0)
    monkeypatch.setattr(ing, "_parts_for", lambda path: 3)
    copies = []
    real = ing._PartCopies
    monkeypatch.setattr(ing, "_PartCopies", lambda path, spans, folder: copies.append(spans) or real(path, spans, folder))
    dropped = []
    real_drop = real.drop
    monkeypatch.setattr(real, "drop", lambda self, i: dropped.append((i, self.files[i].exists())) or real_drop(self, i))
    parts = ingest([f], tmp_path / "parts").files[0]
    assert len(copies) == 1 and len(copies[0]) == 3
    assert sorted(dropped) == [(0, True), (1, True), (2, True)]  # each copy as soon as its part is written
    assert len(list((tmp_path / "parts" / "data").rglob("*.parquet"))) == 3 * months
    assert sorted(d.name for d in (tmp_path / "parts" / "data").iterdir()) == \
        [f"x_BillingPeriod=2025-0{m}" for m in range(1, months + 1)]
    got = _same_as_one_stream(f, tmp_path, monkeypatch, parts, ("quarantined", 398, 1))
    assert got["x_SourceRow"].tolist() == [r for r in range(1, 400) if r != 18]
    assert Ledger(tmp_path / "parts").query("SELECT x_SourceRow FROM quarantine")["x_SourceRow"].tolist() == [18]


@pytest.mark.parametrize("sample_lines", [2, 10_000])
def test_csv_parts_fix_up_what_the_sample_missed(tmp_path, monkeypatch, sample_lines):
    """The parts of a large CSV file are written with lookups built from a sample of its
    lines. Rows whose tags, classification key or billing period the sample did not have
    are held back by the parts' tallies and written by a fix-up over just those rows, with
    the lookups completed: the same ledger, quarantine and totals as two passes over one
    stream, whether the sample saw two lines or the whole file. A bad Tags value that only
    the fix-up meets goes to the quarantine."""
    import aifinops.ingest as ing

    rows = []
    for i in range(1, 600):
        month = 1 if i < 300 else 2  # the second month only after the sample
        tags = f'"{{""team"": ""t{i % 9}"", ""feature"": ""f{i % 13}""}}"'
        unit = "Hours" if i % 5 else "1K Tokens"
        rows.append(f"{i}.{i % 7},{i}.{i % 3},2025-0{month}-0{1 + i % 9},{'USD' if i % 4 else 'EUR'},Usage,"
                    f"S{i % 11},{tags},{unit}\n")
    rows[17] = "oops,1,2025-01-02,USD,Usage,S3,,Hours\n"
    rows[450] = "5,5,2025-02-02,USD,Usage,S3,not json,Hours\n"
    header = HEADER.rstrip("\n") + ",ConsumedUnit\n"
    f = write(tmp_path / "p.csv", "".join(rows), header)
    monkeypatch.setattr(ing, "SMALL_FILE_BYTES", 0)
    monkeypatch.setattr(ing, "_parts_for", lambda path: 3)
    monkeypatch.setattr(ing, "_SAMPLE_SLICES", 1)
    monkeypatch.setattr(ing, "_SAMPLE_SLICE_BYTES", len(header) + sum(len(r) for r in rows[:sample_lines]))
    two = ing._write_in_two_passes
    monkeypatch.setattr(ing, "_write_in_two_passes", lambda *a: pytest.fail("not written in parts"))
    parts = ingest([f], tmp_path / "parts").files[0]
    fixed = sorted(p.name.split("-")[0] for p in (tmp_path / "parts" / "data").rglob("*.parquet"))
    assert ("fix" in fixed) == (sample_lines == 2)  # (a part to fix up keeps its copy until then)
    monkeypatch.setattr(ing, "_write_in_two_passes", two)
    got = _same_as_one_stream(f, tmp_path, monkeypatch, parts, ("quarantined", 597, 2))
    assert sorted(set(got["x_Team"])) == [f"t{i}" for i in range(9)]
    q = "SELECT x_SourceRow, x_QuarantineReason FROM quarantine ORDER BY 1"
    assert Ledger(tmp_path / "parts").query(q).equals(Ledger(tmp_path / "one").query(q))
    assert Ledger(tmp_path / "parts").query(q)["x_SourceRow"].tolist() == [18, 451]


def test_tally_counts_what_pass_one_sums():
    """A part's tally (the Arrow function in its write's filter) counts rows, sums amounts
    per currency exactly (NULL currency and all-NULL amounts as SQL's GROUP BY and sum),
    collects single-currency values, facts, and the keys and positions of the rows it
    holds back; it keeps the rows that neither failed a check nor missed a lookup."""
    import duckdb

    import aifinops.ingest as ing

    con = duckdb.connect()
    con.execute("""CREATE TABLE v AS SELECT i AS seq, i % 10 = 0 AS bad, i % 7 = 0 AS tmiss, i % 11 = 0 AS kmiss,
        CASE i % 3 WHEN 0 THEN 'USD' WHEN 1 THEN 'EUR' END AS cur,
        CAST(CASE WHEN i % 5 = 0 THEN NULL ELSE i / 8 END AS DECIMAL(38,18)) AS amt,
        CAST(CASE WHEN cur IS NOT NULL THEN 12345678901234567.123456789012345678 END AS DECIMAL(38,18)) AS big,
        'USD' AS one, i % 2 = 0 AS fact,
        CASE WHEN i % 7 = 0 THEN 'tag' || (i % 4) END AS tkey, CASE WHEN i % 11 = 0 THEN 'u' || (i % 3) END AS ckey
        FROM range(1, 5001) r(i)""")
    t = ing._Tally(currency_of=[0, 0], single_at=1, n_facts=1, n_class_keys=1)
    con.create_function("tally", t, ["BOOLEAN"] * 4 + ["BIGINT", "VARCHAR", "VARCHAR"] + ["DECIMAL(38,18)"] * 2
                        + ["BOOLEAN", "VARCHAR", "VARCHAR"], "BOOLEAN", type="arrow", null_handling="special",
                        side_effects=True)
    kept = con.execute("SELECT seq FROM v WHERE tally(bad, tmiss, kmiss, false, seq, cur, one, amt, big, fact, "
                       "tkey, ckey) ORDER BY 1").fetchall()
    assert kept == con.execute("SELECT seq FROM v WHERE NOT bad AND NOT tmiss AND NOT kmiss ORDER BY 1").fetchall()
    assert t.rows == 5000 and t.facts == [2500] and t.currencies == {"USD"}
    for i, col in enumerate(["amt", "big"]):
        assert t.sums[i] == dict(con.execute(f"SELECT cur, sum({col}) FROM v GROUP BY 1").fetchall())
    missed = sorted(x for m in t.missed for x in m.to_pylist())
    assert missed == [r[0] for r in con.execute("SELECT seq FROM v WHERE NOT bad AND (tmiss OR kmiss) ORDER BY 1")
                      .fetchall()]
    assert t.missed_tags == {f"tag{i}" for i in range(4)}
    assert t.missed_classes == {(f"u{i}",) for i in range(3)}


def test_engine_cursors_read_timestamps_in_utc():
    """The parts of a large CSV file are written through cursors; a cursor must read naive
    timestamps in UTC as the connection does, whatever the machine's time zone."""
    code = ("from aifinops.engine import connect; c = connect().cursor(); "
            "print(c.execute(\"SELECT current_setting('TimeZone'), "
            "CAST(TIMESTAMP '2025-01-01 00:00' AS TIMESTAMPTZ)::VARCHAR\").fetchone())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "TZ": "America/New_York"}).stdout
    assert out.strip() == "('UTC', '2025-01-01 00:00:00+00')"


def test_csv_with_quoted_newline_is_read_in_one_stream(tmp_path, monkeypatch):
    """A newline inside a quoted value: the file cannot be cut at line ends without parsing
    it, so it is read in one stream and every record keeps its record number. The sample
    of a large file shows it (an odd number of quotes on a line); when the sample misses
    it, the parts' record counts do (the parts are dropped)."""
    import aifinops.ingest as ing

    rows = [f"{i},{i},2025-01-0{1 + i % 9},USD,Usage,S3,\n" for i in range(1, 200)]
    rows[50] = '51,51,2025-01-01,USD,Usage,"S3\nstandard",\n'
    f = write(tmp_path / "n.csv", "".join(rows))
    monkeypatch.setattr(ing, "SMALL_FILE_BYTES", 0)
    monkeypatch.setattr(ing, "_parts_for", lambda path: 3)
    tried, copies = [], []
    real, real_copies = ing._write_in_parts, ing._PartCopies
    monkeypatch.setattr(ing, "_write_in_parts", lambda *a: tried.append(real(*a)) or tried[-1])
    monkeypatch.setattr(ing, "_PartCopies", lambda *a: copies.append(a) or real_copies(*a))
    for sampled in (True, False):
        if not sampled:  # a sample of one line without quotes: the parts are written, then dropped
            monkeypatch.setattr(ing, "_sample_lines", lambda path, start, out: out.write_bytes(rows[0].encode()) or True)
        r = ingest([f], tmp_path / f"l{sampled}").files[0]
        assert (r.status, r.rows, tried[-1], len(copies)) == ("ok", 199, None, 0 if sampled else 1)
        got = Ledger(tmp_path / f"l{sampled}").query("SELECT x_SourceRow, ServiceName, BilledCost FROM ledger ORDER BY 1")
        assert got["x_SourceRow"].tolist() == list(range(1, 200))
        assert got.loc[50, "ServiceName"] == "S3\nstandard" and got.loc[51, "BilledCost"] == Decimal(52)
        assert len(list((tmp_path / f"l{sampled}" / "data").rglob("*.parquet"))) == 1


@pytest.mark.slow
def test_streaming_path_equals_small_file_path_on_every_sample_format(tmp_path, monkeypatch):
    """One sample file per format through both paths (the samples are small, so the
    streaming path with its source-column grouped pass 1 is forced): same rows and totals."""
    import aifinops.ingest as ing

    root = Path(__file__).resolve().parents[1] / "data_samples"
    first: dict[str, Path] = {}
    for f in ing._expand([root]):
        first.setdefault(f"{f.parent.name}/{f.name.split('-20')[0]}", f)
    files = sorted(first.values())
    assert len(files) >= 15
    small = ingest(files, tmp_path / "small")
    monkeypatch.setattr(ing, "SMALL_FILE_BYTES", 0)
    big = ingest(files, tmp_path / "big")
    for s, b in zip(small.files, big.files):
        assert (b.status, b.rows, b.quarantined, b.recon) == (s.status, s.rows, s.quarantined, s.recon), s.path
    q = ("SELECT x_SourceFile, x_SourceRow, BilledCost, EffectiveCost, x_Tokens, x_Model, x_TokenType, x_GpuHours, "
         "x_Team, Tags, x_BillingPeriod FROM ledger ORDER BY ALL")
    assert Ledger(tmp_path / "big").query(q).equals(Ledger(tmp_path / "small").query(q))


def test_enum_columns_change_no_value(tmp_path, monkeypatch):
    """For DuckDB's Parquet writer, text columns are written as ENUMs where that is free: the
    lookup columns (tags, attribution, classification keys and results) from ENUM copies of
    the lookup tables, and CASEs of literals (charge class, pricing and service categories
    ...) with ENUM literals. The ledger is the same as without them: same values, and plain
    string columns in Parquet."""
    import pyarrow.parquet as pq

    import aifinops.ingest as ing

    root = Path(__file__).resolve().parents[1] / "data_samples"
    files = [root / "aws" / "cur-legacy-2025-06.csv.gz", sorted((root / "aws" / "cur2").rglob("*.parquet"))[0],
             root / "azure" / "ea-actual-2026-08-de.csv", root / "focus" / "pinecone-focus-1.2.csv",
             root / "gcp" / "billing-export-2025-06.jsonl"]
    monkeypatch.setattr(ing, "SMALL_FILE_BYTES", 0)  # the streaming write path, where the case ENUMs are used
    made: list[dict] = []
    lookup, enum_case = ing._lookup, ing._enum_case
    monkeypatch.setattr(ing, "_lookup", lambda *a, **kw: made.append(lookup(*a, **kw)) or made[-1])
    cases: list[str] = []
    monkeypatch.setattr(ing, "_enum_case", lambda sql: (e := enum_case(sql)) and (cases.append(e) or e))
    with_enums = ingest(files, tmp_path / "enums")
    assert {"__tk", "__t_x_Team", "ConsumedUnit", "__c_x_Model"} <= set().union(*made)
    assert len(cases) >= 10 and all("ENUM(" in c for c in cases)
    monkeypatch.setattr(ing, "_ENUM_MAX_VALUES", 0)
    monkeypatch.setattr(ing, "_enum_case", lambda sql: None)
    plain = ingest(files, tmp_path / "plain")
    assert [f.recon for f in with_enums.files] == [f.recon for f in plain.files]
    q = "SELECT * EXCLUDE (x_IngestedAt) FROM ledger ORDER BY ALL"  # GCP credits share their row's x_SourceRow
    a, b = Ledger(tmp_path / "enums").query(q), Ledger(tmp_path / "plain").query(q)
    assert len(a) > 1000 and a["x_Team"].notna().any() and a["x_Model"].notna().any()
    assert a["PricingCategory"].notna().any() and a["ChargeFrequency"].notna().any()
    assert a.equals(b)
    for f in (tmp_path / "enums").rglob("data/**/*.parquet"):
        schema = pq.read_schema(f)
        for c in ("Tags", "x_Team", "ConsumedUnit", "x_Model", "PricingCategory", "ChargeFrequency"):
            assert str(schema.field(c).type) == "string", (f, c)


@pytest.mark.slow
def test_shared_parses_read_timestamps_without_icu_as_with_it():
    """The write path's layers parse timestamps and add a day by microseconds instead of
    ICU's calendar (the engine's sessions are in UTC): the same values for every date
    format, offsets, month and year ends, a leap day, blanks and bad texts."""
    from aifinops.engine import connect
    from aifinops.sql import Source

    import aifinops.ingest as ing

    texts = ["03/31/2025", "12/31/2024", "02/29/2024", "2/3/2025", "03/09/2025 01:59:59", "11/02/2025 11:30:00 PM",
             "2025-03-30T01:00Z", "2025-10-26T02:30+02:00", "2025-01-01T00:00-05:30", "2025/06/30", "31.12.2025",
             "1.2.25", "12/31/99", "2025-02-28", "2025-06-01 12:00:00", " 06/01/2025 ", "", None, "13/45/2025",
             "garbage", "02/30/2025"]
    raw = {"d": "VARCHAR"}
    src = Source(raw)
    exprs = {"t": src.ts("d"), "end": f"({src.ts('d')} + INTERVAL 1 DAY)"}
    layers, out = ing._shared_parses(exprs, raw)
    assert "make_timestamptz" in layers[1][next(iter(layers[1]))] and "INTERVAL" not in out["end"]
    con = connect()
    con.execute("CREATE TABLE src AS SELECT unnest($t) AS d", {"t": texts})
    want = con.execute(f"SELECT {exprs['t']}, {exprs['end']} FROM src").fetchall()
    got = con.execute(f"SELECT {out['t']}, {out['end']} FROM ({ing._layered('SELECT * FROM src', layers)})").fetchall()
    assert got == want
    assert sum(w[0] is not None for w in want) >= 15


def test_shared_parses_write_the_same_ledger(tmp_path, monkeypatch):
    """The write path parses each text column once per row (:func:`_shared_parses`, with the
    fast TRIM): the same ledger, quarantine and totals as parsing in every expression, over
    the sample exports and over values with spaces to trim (ASCII and Unicode), formatted
    amounts, US dates and bad values."""
    import aifinops.ingest as ing

    root = Path(__file__).resolve().parents[1] / "data_samples"
    body = ('" 1.5 ",1.5, 2025-01-01 ,USD ,Usage,\u00a0S3\u3000,"{""team"": "" ml""}"\n'
            '"$1,234.50","1,234.5",01/02/2025,\u2009EUR,Usage,EC2 ,\n'
            "oops,1,2025-01-02,USD,Usage,S3,\n"
            "2.25,2.25,2025-02-30,EUR,Usage,EC2,\n"
            "3,3,2025-02-01,USD,Usage,\u00e9t\u00e9,\n"
            "4.125,,2025-02-03,EUR, Usage,\u00a0,\n")
    messy = write(tmp_path / "m.csv", body)
    files = [messy, root / "aws" / "cur-legacy-2025-06.csv.gz", sorted((root / "aws" / "cur2").rglob("*.parquet"))[0],
             root / "azure" / "ea-actual-2026-08-de.csv", root / "azure" / "mca-actual-2025-06_2026-08.csv",
             root / "focus" / "pinecone-focus-1.2.csv"]
    monkeypatch.setattr(ing, "SMALL_FILE_BYTES", 0)
    layered = []
    shared = ing._shared_parses
    monkeypatch.setattr(ing, "_shared_parses", lambda e, t: (r := shared(e, t)) and (layered.append(r[0]) or r))
    a = ingest(files, tmp_path / "shared")
    assert sum(len(x[0]) for x in layered) > 50 and sum(len(x[1]) for x in layered) > 10
    monkeypatch.setattr(ing, "_shared_parses", lambda e, t: ([], dict(e)))
    b = ingest(files, tmp_path / "plain")
    assert [(f.rows, f.quarantined, f.recon, [str(e) for e in f.errors]) for f in a.files] == \
        [(f.rows, f.quarantined, f.recon, [str(e) for e in f.errors]) for f in b.files]
    assert a.files[0].rows == 3 and a.files[0].quarantined == 3
    for q in ("SELECT * EXCLUDE (x_IngestedAt) FROM ledger ORDER BY ALL",
              "SELECT * FROM quarantine ORDER BY ALL"):
        x, y = Ledger(tmp_path / "shared").query(q), Ledger(tmp_path / "plain").query(q)
        assert len(x) > 0 and x.equals(y)
    got = Ledger(tmp_path / "shared").query("SELECT BillingCurrency, ServiceName, BilledCost, x_Team FROM ledger "
                                            f"WHERE x_SourceFile = '{messy}' ORDER BY x_SourceRow")
    got = got.astype(object).where(got.notna(), None)
    assert got.values.tolist() == [["USD", "S3", Decimal("1.5"), "ml"], ["EUR", "EC2", Decimal("1234.5"), None],
                                   ["USD", "\u00e9t\u00e9", Decimal("3"), None]]


def test_enum_case_only_for_cases_of_literals():
    from aifinops.ingest import _enum_case

    e = _enum_case("(CASE WHEN x = 'a' THEN 'It''s' WHEN y IS NULL THEN (CASE z WHEN 'q' THEN 'B' END) ELSE NULL END)")
    assert e.count("AS ENUM('B', 'It''s')") == 2
    assert _enum_case("'constant'") == "CAST('constant' AS ENUM('constant'))"
    assert _enum_case("COALESCE(CASE x WHEN 'a' THEN 'A' END, 'Other')").count("AS ENUM('A', 'Other')") == 2
    for sql in ("(CASE WHEN x = 'a' THEN y ELSE 'b' END)", "COALESCE(x, 'a')",
                "(CASE WHEN x THEN 1 END)", "(CASE WHEN x THEN NULL END)", "x +"):
        assert _enum_case(sql) is None, sql
    import duckdb
    con = duckdb.connect()
    assert con.execute(f"SELECT {e}, typeof({e}) FROM (VALUES ('a', 1, 'q')) t(x, y, z)").fetchall() == \
        [("It's", "ENUM('B', 'It''s')")]


@pytest.mark.parametrize("parts", [True, False])
@pytest.mark.parametrize("later", ["seen", "new unit", "amortized"])
def test_sampled_azure_plan_is_checked_by_the_first_pass(tmp_path, monkeypatch, later, parts):
    """An Azure plan built from a sample of the file (its first rows, or for a file written in
    parts its sampled lines: their units of measure and dataset) is checked over the whole
    file, by the first pass or the parts' tallies; a unit or a dataset the sample did not
    see means the plan is built again from the whole file. The ledger is the same either
    way as with a plan from the whole file."""
    import csv
    import io

    import aifinops.formats.azure as az
    import aifinops.ingest as ing

    src = Path(__file__).resolve().parents[1] / "data_samples" / "azure" / "ea-actual-2025-06_2026-07.csv"
    lines = src.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    cols = header.rstrip("\r\n").split(",")
    rec = next(csv.reader(io.StringIO(rows[0])))  # a row after the sample, like the first one but for:
    if later == "new unit":
        rec[cols.index("UnitOfMeasure")] = "10 Hours"
    elif later == "amortized":  # an unused reservation: the file holds amortized costs
        rec[cols.index("ChargeType")] = "UnusedReservation"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n" if rows[0].endswith("\r\n") else "\n").writerow(rec)
    f = tmp_path / "ea.csv"
    f.write_text(header + "".join(rows) + out.getvalue(), encoding="utf-8")
    monkeypatch.setattr(ing, "SMALL_FILE_BYTES", 0)
    monkeypatch.setattr(ing, "_parts_for", lambda path: 2 if parts else 0)
    exact = ingest([f], tmp_path / "exact").files[0]  # the sample holds the whole file

    replans = []
    plan = az.AzureFormat.plan
    monkeypatch.setattr(az.AzureFormat, "plan", lambda self, *a: replans.append(1) or plan(self, *a))
    monkeypatch.setattr(az, "_SAMPLE_ROWS", len(rows))  # a file read in one stream: its first rows
    monkeypatch.setattr(ing, "_SAMPLE_SLICES", 1)  # a file written in parts: its sampled lines
    monkeypatch.setattr(ing, "_SAMPLE_SLICE_BYTES", len("".join(rows).encode()))
    got = ingest([f], tmp_path / "sampled").files[0]
    assert bool(replans) == (later != "seen")
    assert (got.status, got.rows, got.recon) == (exact.status, exact.rows, exact.recon)
    q = "SELECT * EXCLUDE (x_IngestedAt) FROM ledger ORDER BY ALL"
    led = Ledger(tmp_path / "sampled").query(q)
    assert led.equals(Ledger(tmp_path / "exact").query(q))
    assert led["x_CostDataset"].unique().tolist() == ["amortized" if later == "amortized" else "actual"]
    assert ("10 Hours" in led["x_PricingUnitDescription"].tolist()) == (later == "new unit")


@pytest.mark.slow
def test_an_ingest_does_not_import_pandas(tmp_path):
    """Importing pandas is 0.5 s of an ingest process's start; an ingest needs none of it
    (its lookup tables go to DuckDB as list parameters, not through pyarrow, which imports
    pandas to convert Python values)."""
    root = Path(__file__).resolve().parents[1] / "data_samples"
    files = [root / "azure" / "ea-actual-2026-08-de.csv", root / "aws" / "cur-legacy-2025-06.csv.gz"]
    code = ("import sys; from aifinops.ingest import ingest; "
            f"r = ingest({[str(f) for f in files]!r}, {str(tmp_path / 'l')!r}); "
            "assert all(f.status == 'ok' and f.rows for f in r.files), r.files; print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
