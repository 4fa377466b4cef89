from __future__ import annotations

from decimal import Decimal

import pytest

from aifinops.errors import LedgerError
from aifinops.ingest import ingest
from aifinops.ledger import Ledger


def test_missing_ledger_is_typed_error(tmp_path):
    with pytest.raises(LedgerError):
        Ledger(tmp_path / "nope")


def test_summary_and_readable_by_plain_duckdb_and_pandas(tmp_path, ledger_dir):
    f = tmp_path / "a.csv"
    f.write_text("BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ServiceName\n"
                 "1.5,2025-01-01,USD,Usage,x\n2.5,2025-02-01,USD,Usage,x\n")
    ingest([f], ledger_dir)
    s = Ledger(ledger_dir).summary()
    assert s.loc[s["column"] == "BilledCost", "ledger_total"].tolist() == [Decimal("4")]
    # the folder is a plain hive-partitioned Parquet dataset
    import duckdb
    import pandas as pd

    n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{ledger_dir}/data/*/*.parquet', hive_partitioning=true)").fetchall()
    assert n == [(2,)]
    df = pd.read_parquet(ledger_dir / "data")
    assert len(df) == 2 and "BilledCost" in df.columns
