"""aifinops.sql: the portable mapping helpers, and exact decimals from binary floats."""

from decimal import Decimal

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from aifinops.sql import Source, case_map, coalesce, lit, q

TEXT_PATH = 'TRY_CAST(CAST("x" AS VARCHAR) AS DECIMAL(38,18))'


def _values() -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.concatenate([
        # billing-like amounts rounded to every number of decimals, at several magnitudes
        *[np.round(rng.gamma(0.6, 2.0, 20_000) * 10.0 ** (d % 7 - 3), d) for d in range(17)],
        rng.uniform(-1e6, 1e6, 20_000),                                        # full 17-digit doubles
        rng.standard_normal(20_000) * 10.0 ** rng.integers(-14, 14, 20_000),   # every magnitude
        np.round(rng.uniform(-1e5, 1e5, 20_000), 10), np.round(rng.uniform(-10, 10, 20_000), 14),
        np.array([0.0, -0.0, 1e-10, 5e-11, 2.5e-10, 99999.9999999999, 1e5, 9.99999999999999, 10.0,
                  0.1, 0.2, 0.1 + 0.2, 1 / 3, -1 / 3, 1e15, 1e20, 1e-19, 5e-324, np.nan, np.inf, -np.inf]),
    ])


def test_double_amounts_read_as_their_shortest_decimal():
    """The fixed-scale fast paths give exactly what the shortest-text path gives, for any double."""
    con = duckdb.connect()
    con.register("r", pa.table({"x": _values()}))
    fast = Source({"x": "DOUBLE"}).num("x")
    assert "DECIMAL(38,10)" in fast  # the fast path is really in use
    n, differ = con.execute(f"SELECT count(*), count(*) FILTER (WHERE {fast} IS DISTINCT FROM {TEXT_PATH}) "
                            "FROM r").fetchall()[0]
    assert n > 300_000 and differ == 0
    # and most billing-like values take a fast path
    fixed = con.execute("SELECT count(*) FROM r WHERE abs(x) < 100000 AND CAST(CAST(x AS DECIMAL(38,10)) "
                        "AS DOUBLE) = x").fetchall()[0][0]
    assert fixed > n / 3


@pytest.mark.parametrize("value, expected", [
    (0.07, "0.07"), (0.1 + 0.2, "0.30000000000000004"), (-3.25, "-3.25"), (123456.789, "123456.789"),
    (9.87654321098765, "9.87654321098765"), (1.5e-12, "1.5E-12"), (0.0, "0"),
])
def test_double_examples(value, expected):
    got = duckdb.sql(f"SELECT {Source({'x': 'DOUBLE'}).num('x')} FROM (SELECT {value!r}::DOUBLE AS x)").fetchall()[0][0]
    assert got == Decimal(expected)


def test_float_and_text_keep_their_paths():
    assert Source({"x": "FLOAT"}).num("x") == TEXT_PATH
    got = duckdb.sql(f"SELECT {Source({'x': 'VARCHAR'}).num('x')} FROM (SELECT '$1,234.50' AS x)").fetchall()
    assert got == [(Decimal("1234.5"),)]
    assert Source({"x": "VARCHAR"}).num("missing") == "NULL"


def test_helpers():
    assert q('a"b') == '"a""b"'
    assert lit(None) == "NULL" and lit(True) == "TRUE" and lit(2) == "2" and lit("o'k") == "'o''k'"
    assert coalesce("a", None, "b") == "COALESCE(a, b)" and coalesce("a") == "a"
    assert duckdb.sql(f"SELECT {case_map(lit('Tax'), {'Tax': 'T'}, lit('other'))}").fetchall() == [("T",)]


TS_CASES = {
    "06/01/2025": "2025-06-01 00:00:00", "6/1/2025": "2025-06-01 00:00:00", "6/1/25": "2025-06-01 00:00:00",
    "12/31/2025": "2025-12-31 00:00:00", "06/01/2025 10:30:00": "2025-06-01 10:30:00",
    "06/01/2025 10:30:00 PM": "2025-06-01 22:30:00", "2025-06-01": "2025-06-01 00:00:00",
    "2025-06-01T10:30:00Z": "2025-06-01 10:30:00", "2025-06-01T10:30+0200": "2025-06-01 08:30:00",
    "2025/06/01": "2025-06-01 00:00:00", "01.06.2025": "2025-06-01 00:00:00", " 06/01/2025 ": "2025-06-01 00:00:00",
    # impossible or malformed: NULL (a check then quarantines the row), never a shifted date
    "02/30/2025": None, "2/31/2025": None, "04/31/2025": None, "13/01/2025": None, "0a/01/2025": None,
    "1 /01/2025": None, "06-01-2025": None, "": None, None: None,
}


@pytest.mark.parametrize("text", list(TS_CASES))
def test_text_timestamps(text):
    s = Source({"x": "VARCHAR"})
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    got = con.execute(f"SELECT strftime({s.ts('x')}, '%Y-%m-%d %H:%M:%S'), {s.bad_ts('x')} FROM (SELECT ?::VARCHAR AS x)",
                      [text]).fetchall()[0]
    assert got == (TS_CASES[text], TS_CASES[text] is None and bool((text or "").strip()))
