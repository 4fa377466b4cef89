"""KPI file: validation with file/row/column, monthly sums, rates averaged, sample KPIs."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from aifinops.errors import ConfigError
from aifinops.kpi import dimension_column, monthly, read_kpis

D = Decimal
HEAD = "date,dimension,key,metric,value,unit\n"


def test_daily_rows_add_up_to_their_month_and_rates_average():
    k = read_kpis(io.StringIO(HEAD + "2025-01-03,feature,chat,requests,10,\n2025-01-20,feature,chat,requests,2.5,\n"
                              "2025-01,feature,chat,hourly_rate,50,USD\n2025-01-09,feature,chat,hourly_rate,70,USD\n"))
    m = monthly(k).set_index("metric")["value"]
    assert m["requests"] == D("12.5") and m["hourly_rate"] == D("60")


def test_unit_column_is_optional():
    k = read_kpis(io.StringIO("date,dimension,key,metric,value\n2025-01,team,a,active_users,3\n"))
    assert list(k["unit"]) == [""]


@pytest.mark.parametrize("body, row, column", [
    ("2025-1-3,feature,chat,requests,1,\n", 1, "date"),
    ("2025-01,flavour,chat,requests,1,\n", 1, "dimension"),
    ("2025-01,feature,chat,requests,1,\n2025-01,feature,chat,requests,one,\n", 2, "value"),
    ("2025-01,feature,chat,revenue,100,dollars\n", 1, "unit"),
    ("2025-01,feature,chat,,1,\n", 1, "metric"),
])
def test_bad_rows_name_row_and_column(body, row, column):
    with pytest.raises(ConfigError) as e:
        read_kpis(io.StringIO(HEAD + body), name="k.csv")
    assert (e.value.file, e.value.row, e.value.column) == ("k.csv", row, column)


def test_missing_column_and_file(tmp_path):
    with pytest.raises(ConfigError) as e:
        read_kpis(io.StringIO("date,dimension,key,value\n"))
    assert e.value.column == "metric"
    with pytest.raises(ConfigError, match="not found"):
        read_kpis(tmp_path / "x.csv")


def test_dimension_columns():
    assert dimension_column("customer") == "x_Customer" and dimension_column("company") is None
    with pytest.raises(ConfigError):
        dimension_column("planet")


def test_parquet_input(tmp_path):
    import pandas as pd

    p = tmp_path / "k.parquet"
    pd.DataFrame({"date": ["2025-02"], "dimension": ["team"], "key": ["a"], "metric": ["active_users"],
                  "value": ["7"], "unit": ["users"]}).to_parquet(p)
    assert read_kpis(p)["value"].tolist() == [D(7)]


def test_sample_company_kpis_are_derived_from_the_truth(tmp_path):
    from aifinops.samples import kpis as sample
    from aifinops.samples.truth import ground_truth

    truth = ground_truth(months=1)
    paths = sample.write(truth, tmp_path)
    k = monthly(read_kpis(paths[0]))
    req = k[(k["metric"] == "requests") & (k["dimension"] == "feature")]
    assert sum(req["value"], D(0)) == D(int(truth["requests"].fillna(0).sum()))
    rev = k[(k["metric"] == "revenue")].set_index("key")["value"]
    n = truth[truth["feature"] == "chat-assistant"]["customer"].nunique()
    assert rev["chat-assistant"] == n * sample.FEATURE_PRICE["chat-assistant"]
    # the same truth gives the same bytes
    again = sample.write(truth, tmp_path / "again")
    assert paths[0].read_bytes() == again[0].read_bytes()


def test_template_parses(repo):
    assert len(read_kpis(repo / "templates" / "kpis.csv")) > 5
