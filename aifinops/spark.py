"""The same normalization on Spark: a loader's :class:`~aifinops.formats.base.Plan` and the
ingest pipeline's SQL (``aifinops.ingest``), transpiled from DuckDB to Spark SQL with
sqlglot, run on a Spark cluster (Databricks, EMR, Dataproc) or ``local[2]``, writing the
same ledger layout: Parquet partitioned by ``x_BillingPeriod``, the same columns and types
(``DECIMAL(38,18)``, UTC timestamps), the same quarantine and reconciliation.

pyspark is an optional extra (``pip install aifinops[spark]``); this module imports it only
inside the functions that need a session. :func:`to_spark_sql` works without it.

Where a DuckDB function has no Spark twin through sqlglot, :func:`to_spark_sql` rewrites it:

* ``element_at(map, k)[1]`` (DuckDB returns a list) and ``map_extract_value(map, k)`` ->
  ``element_at(map, k)``;
* ``json_valid(x)`` -> ``json_object_keys(x) IS NOT NULL OR json_array_length(x) IS NOT NULL``
  (a JSON object or array; a bare JSON scalar such as ``"a"`` counts as invalid on Spark);
* ``json_extract_string(x, '$."k"')`` -> ``get_json_object(x, '$['k']')`` (Spark's JSON path
  has no quoted member names);
* ``to_json(<row alias>)`` -> ``to_json(struct(alias.*))``; ``to_json(<scalar>)`` -> the
  JSON text of the scalar (``to_json(array(x))`` without its brackets);
* ``TRY_STRPTIME(x, fmt | [fmts])`` -> ``COALESCE(to_timestamp(x, javafmt), ...)``;
* ``regexp_replace`` templates ``\\1`` -> ``$1``;
* ``row_number() OVER ()`` (file order, which Spark does not have) -> the ``__row`` column
  :func:`normalize` derives from Parquet's ``_metadata.row_index``.

Example:
    >>> from aifinops.spark import to_spark_sql
    >>> to_spark_sql("SELECT json_valid(t), element_at(m, 'k')[1], strftime(d, '%Y-%m') FROM x")
    "SELECT (NOT JSON_OBJECT_KEYS(t) IS NULL OR NOT JSON_ARRAY_LENGTH(t) IS NULL), ELEMENT_AT(m, 'k'), DATE_FORMAT(d, 'yyyy-MM') FROM x"
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import sqlglot
from sqlglot import exp

from . import schema
from .errors import (
    AifinopsError,
    FormatError,
    MixedCurrencyError,
    error_from_reason,
)
from .formats import detect, get_format
from .formats.base import IngestOptions, Probe
from .ingest import FileResult, _Pipeline, check_reconciled, commit_entry, file_hash, manifest_entry
from .ledger import Ledger
from .money import trim
from .sql import Source, lit, q
from .tags import TagMap

__all__ = ["SESSION_CONF", "local_session", "normalize", "spark_types", "to_spark_sql"]

#: Spark SQL settings under which the transpiled SQL means what it means in DuckDB:
#: UTC session; lenient casts (TRY_CAST semantics, NULL on a failed parse) instead of ANSI
#: errors; exact decimal arithmetic (no silent scale reduction to 6); Parquet timestamps as
#: INT64 microseconds marked UTC (DuckDB reads them as TIMESTAMPTZ), zstd.
SESSION_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.sql.mapKeyDedupPolicy": "LAST_WIN",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
}

_STRFTIME = {"%Y": "yyyy", "%y": "yy", "%m": "M", "%d": "d", "%H": "H", "%I": "h", "%M": "m", "%S": "s",
             "%p": "a", "%z": "XXX", "%f": "SSSSSS", "%b": "MMM", "%B": "MMMM", "%%": "%"}


def _java_format(fmt: str) -> str:
    """A strftime format as a Spark (java.time) pattern; literal text is quoted."""
    out, lit_buf = [], ""
    i = 0
    while i < len(fmt):
        tok = fmt[i:i + 2]
        if tok in _STRFTIME:
            if lit_buf:
                out.append("'" + lit_buf.replace("'", "''") + "'")
                lit_buf = ""
            out.append(_STRFTIME[tok])
            i += 2
        else:
            ch = fmt[i]
            if ch.isalpha() or ch == "'":
                lit_buf += ch
            else:
                if lit_buf:
                    out.append("'" + lit_buf.replace("'", "''") + "'")
                    lit_buf = ""
                out.append(ch)
            i += 1
    if lit_buf:
        out.append("'" + lit_buf.replace("'", "''") + "'")
    return "".join(out)


def _fname(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return ""


def _rewrite(node: exp.Expression, row_aliases: set[str]) -> exp.Expression:
    # element_at(map, key)[1]: DuckDB's list of values -> Spark's value
    if isinstance(node, exp.Bracket) and _fname(node.this) == "element_at" and len(node.expressions) == 1 \
            and isinstance(node.expressions[0], exp.Literal) and str(node.expressions[0].this) in ("0", "1") \
            and not node.args.get("offset"):
        return node.this
    if isinstance(node, exp.Anonymous):
        name = _fname(node)
        args = node.expressions
        if name == "map_extract_value" and len(args) == 2:
            # DuckDB's value of a map key (NULL when absent) -> Spark's element_at
            return exp.Anonymous(this="ELEMENT_AT", expressions=[a.copy() for a in args])
        if name == "json_valid" and len(args) == 1:
            # a JSON object or array that parses (GET_JSON_OBJECT(x, '$') is not a validator:
            # it returns a prefix of some malformed documents)
            def ok(fn: str) -> exp.Expression:
                return exp.Not(this=exp.Is(this=exp.Anonymous(this=fn, expressions=[args[0].copy()]),
                                           expression=exp.Null()))
            return exp.Paren(this=exp.Or(this=ok("JSON_OBJECT_KEYS"), expression=ok("JSON_ARRAY_LENGTH")))
        if name == "to_json" and len(args) == 1:
            a = args[0]
            if isinstance(a, exp.Column) and not a.table and a.name in row_aliases:
                return exp.Anonymous(this="TO_JSON", expressions=[exp.Struct(expressions=[
                    exp.Column(this=exp.Star(), table=exp.to_identifier(a.name))])])
            if not isinstance(a, (exp.Struct, exp.Map, exp.Array, exp.MapFromEntries, exp.VarMap)) and \
                    _fname(a) not in ("map_from_entries", "map", "struct", "named_struct"):
                inner = exp.Anonymous(this="TO_JSON", expressions=[exp.Array(expressions=[a])])
                return exp.RegexpExtract(this=inner, expression=exp.Literal.string(r"^\[(.*)\]$"),
                                         group=exp.Literal.number(1))
        if name == "try_strptime" and len(args) == 2:
            fmts = args[1].expressions if isinstance(args[1], exp.Array) else [args[1]]
            parts = [exp.Anonymous(this="TO_TIMESTAMP", expressions=[args[0].copy(),
                                                                     exp.Literal.string(_java_format(f.this))])
                     for f in fmts]
            return parts[0] if len(parts) == 1 else exp.Coalesce(this=parts[0], expressions=parts[1:])
    if isinstance(node, (exp.JSONExtractScalar, exp.JSONExtract)):
        path = node.expression
        text = path.sql(dialect="duckdb").strip("'") if path is not None else ""
        m = re.fullmatch(r"\$\.\"((?:[^\"\\]|\\.)*)\"", text)
        if m:
            key = json.loads('"' + m.group(1) + '"')
            return exp.Anonymous(this="GET_JSON_OBJECT", expressions=[
                node.this, exp.Literal.string("$['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']")])
    if isinstance(node, exp.RegexpReplace):
        rep = node.args.get("replacement")
        if isinstance(rep, exp.Literal) and "\\" in rep.this:
            java = re.sub(r"\\([0-9])", r"$\1", rep.this.replace("$", "\\$"))
            node.set("replacement", exp.Literal.string(java))
    if isinstance(node, exp.Window) and isinstance(node.this, exp.RowNumber) and not node.args.get("order") \
            and not node.args.get("partition_by"):
        return exp.column("__row")
    return node


def to_spark_sql(sql: str) -> str:
    """DuckDB SQL of the pipeline as Spark SQL (see the module docstring for the rewrites)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    row_aliases = {a.name for a in tree.find_all(exp.TableAlias) if a.name}
    tree = tree.transform(lambda n: _rewrite(n, row_aliases))
    return tree.sql(dialect="spark")


def spark_types(struct) -> dict[str, str]:
    """Engine type names (DuckDB spelling, as loaders expect) of a Spark schema."""
    from pyspark.sql import types as T

    def name(dt) -> str:
        if isinstance(dt, T.StringType):
            return "VARCHAR"
        if isinstance(dt, T.DoubleType):
            return "DOUBLE"
        if isinstance(dt, T.FloatType):
            return "FLOAT"
        if isinstance(dt, T.LongType):
            return "BIGINT"
        if isinstance(dt, (T.IntegerType, T.ShortType, T.ByteType)):
            return "INTEGER"
        if isinstance(dt, T.BooleanType):
            return "BOOLEAN"
        if isinstance(dt, T.DecimalType):
            return f"DECIMAL({dt.precision},{dt.scale})"
        if isinstance(dt, T.TimestampNTZType):
            return "TIMESTAMP"
        if isinstance(dt, T.TimestampType):
            return "TIMESTAMP WITH TIME ZONE"
        if isinstance(dt, T.DateType):
            return "DATE"
        if isinstance(dt, T.MapType):
            return f"MAP({name(dt.keyType)}, {name(dt.valueType)})"
        if isinstance(dt, T.ArrayType):
            return f"{name(dt.elementType)}[]"
        return dt.simpleString().upper()

    return {f.name: name(f.dataType) for f in struct.fields}


def local_session(master: str = "local[2]", app: str = "aifinops", **conf: str):
    """A Spark session with :data:`SESSION_CONF`, the UI off and few shuffle partitions
    (for tests and one-machine runs; on a cluster use the platform's session)."""
    from pyspark.sql import SparkSession

    b = SparkSession.builder.master(master).appName(app).config("spark.ui.enabled", "false") \
        .config("spark.ui.showConsoleProgress", "false") \
        .config("spark.sql.shuffle.partitions", "4")
    for k, v in {**SESSION_CONF, **conf}.items():
        b = b.config(k, v)
    s = b.getOrCreate()
    s.sparkContext.setLogLevel("ERROR")
    return s


def _spark_errors() -> tuple[type[BaseException], ...]:
    """The exception types a Spark job raises for unreadable or unexpected input."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JJavaError)


def _short(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


def _is_uri(p: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", p)) and not p.startswith("file://")


def _local(p: str) -> Path:
    """A local path from a path or ``file:`` URI (Spark reports ``file:/tmp/x``)."""
    if p.startswith("file:"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(p).path))
    return Path(p)


def normalize(spark, path: str | Path, fmt: str | None, out: str | Path, *, tag_map: TagMap | str | Path | None = None,
              options: IngestOptions | None = None) -> FileResult:
    """Normalize one CUR 2.0 or FOCUS Parquet source (a file, a folder of part files, or an
    object-store URI such as ``s3://bucket/cur/2025-06/``) on Spark into the ledger at ``out``.

    Args:
        spark: a ``SparkSession``; :data:`SESSION_CONF` is applied for the duration of the call.
        path: the source (Parquet).
        fmt: a format name (``aws-cur2``, ``focus`` ...) or None to detect it from the column names.
        out: the ledger: a local folder (atomic commit, manifest; readable by
            :class:`aifinops.ledger.Ledger`) or an object-store URI (``data/`` and
            ``quarantine/`` are written under it; no manifest).
        tag_map: a :class:`TagMap`, a YAML path, or None for the default map.
        options: loader options.

    Returns:
        A :class:`aifinops.ingest.FileResult` with the same row counts and reconciliation
        as the DuckDB ingest of the same file.

    Raises:
        FormatError: the source cannot be read as Parquet or as ``fmt``.
        ReconciliationError: source total != ledger total + quarantined total (nothing committed).
    """
    t0 = time.perf_counter()
    saved = {k: spark.conf.get(k, None) for k in SESSION_CONF}
    for k, v in SESSION_CONF.items():
        spark.conf.set(k, v)
    try:
        return _normalize(spark, str(path), fmt, str(out), tag_map, options or IngestOptions(), t0)
    finally:
        for k, v in saved.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


def _normalize(spark, path: str, fmt_name, out: str, tag_map, options, t0) -> FileResult:
    from pyspark.sql import functions as F

    if tag_map is None:
        tag_map = TagMap.default()
    elif not isinstance(tag_map, TagMap):
        tag_map = TagMap.from_yaml(tag_map)
    res = FileResult(path=path)
    tag = uuid.uuid4().hex[:12]
    views: list[str] = []

    def view(df, stem: str) -> str:
        name = f"__aifinops_{stem}_{tag}"
        df.createOrReplaceTempView(name)
        views.append(name)
        return name

    def run(sql: str):
        return spark.sql(to_spark_sql(sql))

    cached = []
    try:
        try:
            raw = spark.read.parquet(path)
            types = spark_types(raw.schema)
        except _spark_errors() as exc:
            raise FormatError(f"cannot read as Parquet: {_short(exc)}", file=path) from exc
        probe = Probe(_local(path), "parquet", columns=list(types))
        fmt = get_format(fmt_name) if fmt_name else detect(path, probe)
        res.format = fmt.name
        miss = fmt.missing(probe)
        if fmt.required and miss and not fmt.sniff(probe):
            raise FormatError(f"required column missing for format {fmt.name!r}: {', '.join(miss)}", file=path)

        # record numbers in file order: per-file Parquet row index, files in path order
        meta = raw.select(F.col("_metadata.file_path").alias("f"))
        counts = sorted((r["f"], r["count"]) for r in meta.groupBy("f").count().collect())
        offsets, acc = {}, 0
        for f, n in counts:
            offsets[f], acc = acc, acc + n
        files = [f for f, _ in counts]
        local = not _is_uri(path) and len(files) == 1 and _local(files[0]).is_file()
        res.hash = file_hash(_local(files[0])) if local else hashlib.sha256(
            "\n".join(f"{f}\t{n}" for f, n in counts).encode()).hexdigest()
        off = F.create_map(*[x for f, o in offsets.items() for x in (F.lit(f), F.lit(o))]) if offsets else F.lit(None)
        numbered = raw.select("*", (F.element_at(off, F.col("_metadata.file_path")) + F.col("_metadata.row_index")
                                    + F.lit(1)).cast("bigint").alias("__row"))
        src_view = view(numbered, "src")
        plan = fmt.plan(Source(types), probe, options)
        res.defaulted = list(plan.defaulted)
        ingested_at = datetime.now(UTC).replace(microsecond=0)
        pipe = _Pipeline(f"SELECT * FROM {src_view}", {**types, "__row": "BIGINT"}, plan, tag_map, src_label=path,
                         fmt=fmt, digest=res.hash, ingested_at=ingested_at)

        # pass 1: counts, reconciliation amounts per currency, periods, distinct lookup keys
        n_recon = len(plan.recon)
        group = [f"__rcur_{i}" for i in range(n_recon)] + (["__scur"] if plan.single_currency else []) + \
            [q(k) for k in pipe.key_cols]
        sums = "".join(f", sum(__rsrc_{i}) AS __rsrc_{i}" for i in range(n_recon))
        ngroup = len(group) + 2
        chk0 = view(run(f"SELECT __reason IS NULL AS __ok, {', '.join(group)}, "
                        f"strftime(\"BillingPeriodStart\", '%Y-%m') AS __period, count(*) AS __n{sums} "
                        f"FROM ({pipe.base}) AS __p GROUP BY {', '.join(str(i) for i in range(1, ngroup + 1))}"
                        ).cache(), "chk0")
        cached.append(spark.table(chk0))
        # Tags validity and attribution once per distinct value; rows with invalid Tags JSON
        # are quarantined too (as the DuckDB pipeline does)
        tagl_df = run(pipe.tag_lookup(f"SELECT * FROM {chk0}")).cache()
        cached.append(tagl_df)
        tagl = view(tagl_df, "tagl")
        chk_df = spark.sql(f"SELECT c.__ok AND t.__tbad IS NULL AS __ok2, c.* FROM {chk0} AS c "
                           f"LEFT JOIN {tagl} AS t ON c.`Tags` <=> t.__tk").drop("__ok") \
            .withColumnRenamed("__ok2", "__ok").cache()
        cached.append(chk_df)
        chk = view(chk_df, "chk")
        clsl_df = run(pipe.class_lookup(f"SELECT * FROM {chk} WHERE __ok")).cache()
        cached.append(clsl_df)
        clsl = view(clsl_df, "clsl")
        n_all, n_bad = run(f"SELECT COALESCE(sum(__n), 0) AS a, COALESCE(sum(CASE WHEN NOT __ok THEN __n END), 0) AS b "
                           f"FROM {chk}").collect()[0]
        res.source_rows, res.quarantined = int(n_all), int(n_bad)
        if plan.single_currency:
            cur = [r[0] for r in run(f"SELECT DISTINCT __scur FROM {chk} WHERE __scur IS NOT NULL ORDER BY 1").collect()]
            if len(cur) > 1:
                row = run(f"SELECT min(__row) FROM ({pipe.base}) AS __p WHERE __scur <> {lit(cur[0])}").collect()[0][0]
                raise MixedCurrencyError(f"format {fmt.name} allows one currency per file; found {', '.join(cur)}",
                                         file=path, row=row, column="BillingCurrency")

        final = pipe.final(pipe.base, f"SELECT * FROM {tagl}", f"SELECT * FROM {clsl}")
        sel = ", ".join(q(c) for c in pipe.ledger_cols + pipe.extras)
        short = res.hash[:16]
        if _is_uri(out):
            ledger, stage = None, out.rstrip("/") + f"/_staging/{short}-{tag}"
        else:
            ledger = Ledger(_local(out), create=True)
            stage = str(ledger.new_staging())
        good = run(f"SELECT {sel} FROM ({final}) AS __p WHERE __reason IS NULL")
        good.write.mode("overwrite").partitionBy(schema.PARTITION_COLUMN).parquet(stage + "/data")
        if res.quarantined:
            bad = run(f"SELECT {lit(path)} AS x_SourceFile, __row AS x_SourceRow, __reason AS x_QuarantineReason, "
                      f"__raw AS x_RawRecord FROM ({pipe.base_raw}) AS __p WHERE __reason IS NOT NULL")
            bad.coalesce(1).sortWithinPartitions("x_SourceRow").write.mode("overwrite").parquet(stage + "/quarantine")
            res.errors = [error_from_reason(r[1], file=path, row=r[0]) for r in
                          spark.read.parquet(stage + "/quarantine").orderBy("x_SourceRow")
                          .select("x_SourceRow", "x_QuarantineReason").limit(20).collect()]
        res.rows = res.source_rows - res.quarantined
        res.recon = _reconcile(spark, run, plan, chk, stage + "/data", res.rows)
        check_reconciled(res.recon, path)
        if ledger is not None:
            _commit(ledger, Path(stage), res, path, fmt, plan, pipe.extras, ingested_at, short, tag_map, options)
        else:
            _publish(spark, stage, out, short, bool(res.quarantined))
        res.status = "quarantined" if res.quarantined else "ok"
    except AifinopsError as exc:
        res.status, res.error = "rejected", exc
    except _spark_errors() as exc:
        res.status, res.error = "rejected", FormatError(f"cannot read as {res.format}: {_short(exc)}", file=path)
    finally:
        for df in cached:
            df.unpersist()
        for v in views:
            spark.catalog.dropTempView(v)
        res.seconds = time.perf_counter() - t0
    return res


def _reconcile(spark, run, plan, chk: str, data: str, rows: int) -> list[dict]:
    out = []
    led_df = spark.read.parquet(data) if rows else None
    if led_df is not None:
        led_view = f"__aifinops_led_{uuid.uuid4().hex[:12]}"
        led_df.createOrReplaceTempView(led_view)
    try:
        for i, r in enumerate(plan.recon):
            src = {k: v for k, v in run(f"SELECT __rcur_{i}, sum(__rsrc_{i}) FROM {chk} GROUP BY 1").collect()}
            qua = {k: v for k, v in run(f"SELECT __rcur_{i}, sum(__rsrc_{i}) FROM {chk} WHERE NOT __ok GROUP BY 1").collect()}
            col = r.ledger_column
            led = {}
            if led_df is not None:
                group = '"BillingCurrency"' if col in schema.COLUMNS and schema.COLUMNS[col].is_money else r.currency
                led = {k: v for k, v in run(f"SELECT CAST({group} AS VARCHAR), sum(CAST({q(col)} AS {schema.DECIMAL})) "
                                            f"FROM {led_view} GROUP BY 1").collect()}
            for cur in sorted(set(src) | set(led) | set(qua), key=lambda c: (c is None, str(c))):
                s = Decimal(src.get(cur) or 0)
                l_ = Decimal(led.get(cur) or 0)
                qq = Decimal(qua.get(cur) or 0)
                out.append({"column": col, "source_column": r.label or col, "currency": cur,
                            "source_total": trim(s), "ledger_total": trim(l_), "quarantined_total": trim(qq),
                            "difference": trim(s - l_ - qq)})
    finally:
        if led_df is not None:
            spark.catalog.dropTempView(led_view)
    return out


def _commit(ledger: Ledger, stage: Path, res: FileResult, path: str, fmt, plan, extras, ingested_at, short,
            tag_map: TagMap, options: IngestOptions) -> None:
    """Staged Spark output -> the ledger's layout, committed atomically with its manifest entry."""
    added: list[tuple[Path, str]] = []
    for i, f in enumerate(sorted((stage / "data").rglob("*.parquet"))):
        rel = f"data/{f.parent.name}/part-{short}-{i}.parquet"
        added.append((f, rel))
    qfile = None
    if res.quarantined:
        parts = sorted((stage / "quarantine").glob("*.parquet"))
        dst = stage / f"{short}.parquet"
        shutil.move(str(parts[0]), dst)
        qfile = f"quarantine/{short}.parquet"
        added.append((dst, qfile))
    src = _local(path)
    entry = manifest_entry(res, path, src.resolve(), fmt, plan, extras, ingested_at, tag_map, options,
                           [rel for _, rel in added], qfile, engine="spark")
    commit_entry(ledger, res, entry, added)


def _publish(spark, stage: str, out: str, short: str, quarantined: bool) -> None:
    """Object-store output: the staged dataset is appended under ``out/data`` and the
    quarantine written under ``out/quarantine/<hash>`` (object stores have no atomic rename;
    a failed run leaves only ``out/_staging``)."""
    spark.read.parquet(stage + "/data").write.mode("append").partitionBy(schema.PARTITION_COLUMN) \
        .parquet(out.rstrip("/") + "/data")
    if quarantined:
        spark.read.parquet(stage + "/quarantine").write.mode("overwrite").parquet(
            out.rstrip("/") + f"/quarantine/{short}")
