"""aifinops.spark: the DuckDB -> Spark SQL rewrites (fast, no Spark needed) and the same
inputs through DuckDB and Spark local[2] giving identical ledgers (slow; skipped when
pyspark or Java is missing)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aifinops.engine import connect
from aifinops.formats.base import IngestOptions
from aifinops.ingest import _open_source, _Pipeline, ingest
from aifinops.ledger import Ledger
from aifinops.spark import _java_format, to_spark_sql
from aifinops.sql import Source
from aifinops.tags import TagMap

REPO = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_ingest", REPO / "benchmarks" / "ingest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# -- rewrites ----------------------------------------------------------------------------

def test_element_at_list_index_dropped():
    assert to_spark_sql("SELECT element_at(\"product\", 'region')[1] FROM t") == \
        "SELECT ELEMENT_AT(`product`, 'region') FROM t"


def test_json_valid_and_quoted_json_path():
    out = to_spark_sql("SELECT json_valid(t), json_extract_string(t, '$.\"cost center\"') FROM x")
    assert out == ("SELECT (NOT JSON_OBJECT_KEYS(t) IS NULL OR NOT JSON_ARRAY_LENGTH(t) IS NULL), "
                   "GET_JSON_OBJECT(t, '$[\\'cost center\\']') FROM x")


def test_to_json_of_row_alias_and_of_scalar():
    assert to_spark_sql("SELECT to_json(__n) FROM (SELECT 1 AS a) AS __n") == \
        "SELECT TO_JSON(STRUCT(__n.*)) FROM (SELECT 1 AS a) AS __n"
    assert to_spark_sql("SELECT to_json(x) FROM t") == \
        r"SELECT REGEXP_EXTRACT(TO_JSON(ARRAY(x)), '^\\[(.*)\\]$') FROM t"  # Spark's default group is 1
    assert "TO_JSON(MAP_FROM_ENTRIES(" in to_spark_sql("SELECT to_json(map_from_entries(e)) FROM t")


def test_try_strptime_list_becomes_coalesce_of_java_patterns():
    out = to_spark_sql("SELECT TRY_STRPTIME(x, ['%m/%d/%Y %I:%M:%S %p', '%Y-%m-%dT%H:%MZ']) FROM t")
    assert out == ("SELECT COALESCE(TO_TIMESTAMP(x, 'M/d/yyyy h:m:s a'), "
                   "TO_TIMESTAMP(x, 'yyyy-M-d\\'T\\'H:m\\'Z\\'')) FROM t")
    assert _java_format("%d.%m.%Y") == "d.M.yyyy"


def test_regexp_replace_backreferences_and_row_number():
    assert to_spark_sql(r"SELECT regexp_replace(x, '(a)(b)', 'claude-\1-\2') FROM t") == \
        "SELECT REGEXP_REPLACE(x, '(a)(b)', 'claude-$1-$2') FROM t"
    assert to_spark_sql("SELECT row_number() OVER () AS __seq, * FROM t") == "SELECT __row AS __seq, * FROM t"
    assert "ROW_NUMBER() OVER (ORDER BY" in to_spark_sql("SELECT row_number() OVER (ORDER BY a) FROM t")


@pytest.mark.parametrize("fmt", ["cur2-parquet", "focus-parquet"])
def test_whole_pipeline_transpiles_without_duckdb_only_functions(tmp_path, fmt):
    src = _bench().generate(fmt, 50, tmp_path)
    con = connect()
    probe, f, rel, raw = _open_source(con, src, None, IngestOptions())
    plan = f.plan(Source(raw), probe, IngestOptions())
    pipe = _Pipeline(rel, {**raw, "__row": "BIGINT"}, plan, TagMap.default(), src_label=str(src), fmt=f,
                     digest="x", ingested_at=datetime.now(UTC))
    for sql in (pipe.final(pipe.base, pipe.tag_lookup(pipe.base), pipe.class_lookup(pipe.base)), pipe.base_raw):
        out = to_spark_sql(sql)
        for bad in ("JSON_VALID", "TRY_STRPTIME", "STRFTIME", "REGEXP_MATCHES", "JSON_EXTRACT_STRING", "TIMESTAMPTZ",
                    "ROW_NUMBER() OVER ()", "'$.\"", "TO_JSON(__n)"):
            assert bad not in out.upper(), bad
        assert not re.search(r"ELEMENT_AT\([^()]*\)\[", out)


# -- DuckDB vs Spark ----------------------------------------------------------------------

def _spark_or_skip():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        pytest.skip("pyspark not installed (pip install aifinops[spark]); Spark equivalence test skipped")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("no Java runtime (java on PATH or JAVA_HOME); Spark equivalence test skipped")
    from aifinops.spark import local_session

    return local_session("local[2]")


@pytest.fixture(scope="module")
def spark():
    s = _spark_or_skip()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("spark-inputs")
    b = _bench()
    cur = b.generate("cur2-parquet", 1000, d)
    focus = b.generate("focus-parquet", 1000, d)
    # quarantine paths: an unparsable amount, invalid Tags JSON, an unknown ChargeCategory,
    # and a second billing period (two partitions)
    t = pq.read_table(focus)
    cost = t["BilledCost"].to_pylist()
    tags = t["Tags"].to_pylist()
    cat = t["ChargeCategory"].to_pylist()
    bps = t["BillingPeriodStart"].to_pylist()
    cost[4], tags[9], cat[14] = "12,5", "{bad", "Refund"
    for i in range(600, 1000):
        bps[i] = datetime(2025, 7, 1)
    t = t.set_column(t.column_names.index("BilledCost"), "BilledCost", pa.array(cost))
    t = t.set_column(t.column_names.index("Tags"), "Tags", pa.array(tags))
    t = t.set_column(t.column_names.index("ChargeCategory"), "ChargeCategory", pa.array(cat))
    t = t.set_column(t.column_names.index("BillingPeriodStart"), "BillingPeriodStart",
                     pa.array(bps, t["BillingPeriodStart"].type))
    pq.write_table(t, focus)
    return {"aws-cur2": cur, "focus": focus}

#: DECIMAL quantities read from DOUBLE source columns by a plain cast: DuckDB converts the
#: binary value exactly (0.261983000000000032), Spark its shortest decimal (0.261983); equal
#: to 12 decimal places (money columns are compared exactly)
_FROM_DOUBLE = {"PricingQuantity", "ConsumedQuantity", "x_Tokens", "x_GpuHours"}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["aws-cur2", "focus"])
def test_duckdb_and_spark_give_identical_ledgers(spark, inputs, tmp_path, fmt):
    from aifinops.spark import normalize

    src = inputs[fmt]
    d_res = ingest([src], tmp_path / "duck").files[0]
    s_res = normalize(spark, src, None, tmp_path / "spark")
    assert s_res.error is None, s_res.error
    assert (s_res.status, s_res.format, s_res.source_rows, s_res.rows, s_res.quarantined) == \
        (d_res.status, d_res.format, d_res.source_rows, d_res.rows, d_res.quarantined)
    assert s_res.source_rows == 1000
    if fmt == "focus":
        assert s_res.quarantined == 3 and s_res.status == "quarantined"
        assert [(e.row, e.column) for e in s_res.errors] == [(e.row, e.column) for e in d_res.errors]
    # reconciliation: per currency and column, exactly
    key = ("column", "currency", "source_total", "ledger_total", "quarantined_total", "difference")
    assert [tuple(r[k] for k in key) for r in s_res.recon] == [tuple(r[k] for k in key) for r in d_res.recon]
    assert all(r["difference"] == 0 for r in s_res.recon)

    a, b = Ledger(tmp_path / "duck"), Ledger(tmp_path / "spark")
    assert {p.parent.name for p in b.data_files()} == {p.parent.name for p in a.data_files()}
    con = connect()
    con.execute(f"CREATE VIEW a AS {a.relation_sql()}")
    con.execute(f"CREATE VIEW b AS {b.relation_sql()}")
    ta = [tuple(r[:2]) for r in con.execute("DESCRIBE a").fetchall()]
    tb = [tuple(r[:2]) for r in con.execute("DESCRIBE b").fetchall()]
    assert sorted(ta) == sorted(tb)
    assert ("BilledCost", "DECIMAL(38,18)") in tb and ("ChargePeriodStart", "TIMESTAMP WITH TIME ZONE") in tb
    # per-currency totals of every money column, exactly, and counts per billing period
    money = [c for c, t in ta if c.endswith("Cost") and t == "DECIMAL(38,18)"]
    sums = ", ".join(f'sum("{c}")' for c in money)
    agg = f"SELECT \"BillingCurrency\", x_BillingPeriod, count(*), {sums} FROM {{}} GROUP BY ALL ORDER BY ALL"
    assert con.execute(agg.format("a")).fetchall() == con.execute(agg.format("b")).fetchall()
    # row by row, every column (lineage timestamps aside)
    diffs = {}
    for c, _ in ta:
        if c in ("x_IngestedAt", "x_SourceRow"):
            continue
        cmp = (f"round(a.\"{c}\", 12) IS DISTINCT FROM round(b.\"{c}\", 12)" if c in _FROM_DOUBLE
               else f"a.\"{c}\" IS DISTINCT FROM b.\"{c}\"")
        n = con.execute(f"SELECT count(*) FROM a FULL JOIN b USING (x_SourceRow) WHERE {cmp}").fetchall()[0][0]
        if n:
            diffs[c] = n
    assert diffs == {}
    n_joined = con.execute("SELECT count(*) FROM a JOIN b USING (x_SourceRow)").fetchall()[0][0]
    assert n_joined == s_res.rows
    # quarantine: same rows and reasons
    qa = a.quarantine_frame()[["x_SourceRow", "x_QuarantineReason"]].sort_values("x_SourceRow").values.tolist()
    qb = b.quarantine_frame()[["x_SourceRow", "x_QuarantineReason"]].sort_values("x_SourceRow").values.tolist()
    assert qa == qb
    # the manifest entry records the Spark engine and the same totals
    entry = next(iter(b.manifest["files"].values()))
    assert entry["engine"] == "spark" and entry["rows"] == s_res.rows
    assert Decimal(entry["recon"][0]["ledger_total"]) == d_res.recon[0]["ledger_total"]


@pytest.mark.slow
def test_spark_reingest_replaces_and_bad_input_is_rejected(spark, inputs, tmp_path):
    from aifinops.spark import normalize

    src = inputs["aws-cur2"]
    normalize(spark, src, None, tmp_path / "l")
    again = normalize(spark, src, "aws-cur2", tmp_path / "l")
    assert again.replaced == [str(src)]
    assert Ledger(tmp_path / "l").query("SELECT count(*) AS n FROM ledger")["n"][0] == 1000
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    bad = normalize(spark, tmp_path / "junk.parquet", None, tmp_path / "l")
    assert bad.status == "rejected" and "junk.parquet" in str(bad.error)
    wrong = normalize(spark, inputs["focus"], "aws-cur2", tmp_path / "l")
    assert wrong.status == "rejected" and "line_item" in str(wrong.error)
