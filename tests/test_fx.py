"""FX: daily over monthly rates, exact conversion, visible billing currency/rate/date, typed errors."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from aifinops.errors import AifinopsError, ConfigError
from aifinops.fx import FxRates, MissingRateError

D = Decimal
CSV = ("date,from_currency,to_currency,rate\n2025-01,EUR,USD,1.10\n2025-01-15,EUR,USD,1.2\n"
       "2025-02,EUR,USD,1.05\n")


def fx() -> FxRates:
    return FxRates.read(io.StringIO(CSV))


def test_daily_rate_wins_over_the_month():
    r = fx()
    assert r.rate("EUR", "USD", date(2025, 1, 15)) == (D("1.2"), "2025-01-15")
    assert r.rate("EUR", "USD", date(2025, 1, 16)) == (D("1.10"), "2025-01")
    assert r.rate("USD", "USD", date(1999, 1, 1)) == (D(1), None)


def test_missing_rate_names_currency_and_date():
    with pytest.raises(MissingRateError) as e:
        fx().rate("EUR", "USD", date(2025, 3, 1))
    assert e.value.currency == "EUR" and e.value.date == date(2025, 3, 1)
    assert "EUR->USD" in str(e.value) and "2025-03-01" in str(e.value)
    assert isinstance(e.value, AifinopsError) and isinstance(e.value, KeyError)
    # no inverse guessing: USD->EUR is not derived from EUR->USD
    with pytest.raises(MissingRateError):
        fx().rate("USD", "EUR", date(2025, 1, 3))


def test_convert_is_exact_and_keeps_the_billing_currency_visible():
    f = pd.DataFrame({"day": [date(2025, 1, 15), date(2025, 1, 2), date(2025, 2, 1)],
                      "currency": ["EUR", "EUR", "USD"],
                      "amount": [D("0.333333333333333333"), D("10"), D("5.5")]})
    out = fx().convert(f, "USD", ["amount"])
    assert list(out["amount"]) == [D("0.400000000000000000"), D("11.000000000000000000"), D("5.5")]
    assert list(out["currency"]) == ["USD"] * 3
    assert list(out["x_BillingCurrency"]) == ["EUR", "EUR", "USD"]
    assert list(out["x_FxRate"]) == [D("1.2"), D("1.10"), D(1)]
    assert list(out["x_FxRateDate"]) == ["2025-01-15", "2025-01", None]


def test_convert_reports_the_first_missing_rate_by_date():
    f = pd.DataFrame({"day": [date(2025, 4, 2), date(2025, 3, 9)], "currency": ["EUR", "GBP"],
                      "amount": [D(1), D(1)]})
    with pytest.raises(MissingRateError) as e:
        fx().convert(f, "USD", ["amount"])
    assert (e.value.currency, e.value.date) == ("GBP", date(2025, 3, 9))


@pytest.mark.parametrize("text, row, column", [
    ("date,from_currency,to_currency\n", None, "rate"),
    ("date,from_currency,to_currency,rate\n2025-13,EUR,USD,1\n", 1, "date"),
    ("date,from_currency,to_currency,rate\n2025-01-01,EURO,USD,1\n", 1, "from_currency"),
    ("date,from_currency,to_currency,rate\n2025-01,EUR,USD,1\n2025-01,EUR,usd,0\n", 2, "rate"),
    ("date,from_currency,to_currency,rate\n2025-01,EUR,USD,x\n", 1, "rate"),
    ("date,from_currency,to_currency,rate\n2025-01,EUR,USD,1\n2025-01,EUR,USD,2\n", 2, "rate"),
])
def test_bad_rates_files(text, row, column):
    with pytest.raises(ConfigError) as e:
        FxRates.read(io.StringIO(text))
    assert (e.value.row, e.value.column) == (row, column)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        FxRates.read(tmp_path / "nope.csv")


def test_templates_and_sample_rates_parse(repo):
    assert FxRates.read(repo / "templates" / "fx_rates.csv").rate("EUR", "USD", date(2025, 6, 15))[0] == D("1.0921")
    sample = repo / "data_samples" / "business" / "fx_rates.csv"
    if sample.exists():
        assert FxRates.read(sample).rate("EUR", "USD", date(2025, 6, 3))[0] == D("1.086957")
