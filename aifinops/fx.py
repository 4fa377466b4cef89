"""Currency conversion for reports in one reporting currency, from rates the user provides.

The rates file is a dated CSV (no network, ever)::

    date,from_currency,to_currency,rate
    2025-06,EUR,USD,1.0850          # a monthly rate: every day of June 2025
    2025-06-15,EUR,USD,1.0921       # a daily rate: wins over the month's rate on that day

``1 from_currency = rate to_currency``. A charge is converted with the rate of its charge
day (a daily rate if there is one, else its month's rate); the billing currency, the rate
and the rate's date stay beside the converted amount (``x_BillingCurrency``, ``x_FxRate``,
``x_FxRateDate``). An amount already in the reporting currency keeps rate 1. A missing rate
is a :class:`MissingRateError` naming the currency and the date.

Example:
    >>> import io, datetime
    >>> from decimal import Decimal
    >>> fx = FxRates.read(io.StringIO("date,from_currency,to_currency,rate\\n2025-06,EUR,USD,1.085\\n"))
    >>> fx.rate("EUR", "USD", datetime.date(2025, 6, 3))
    (Decimal('1.085'), '2025-06')
    >>> fx.rate("GBP", "USD", datetime.date(2025, 6, 3))
    Traceback (most recent call last):
    ...
    aifinops.fx.MissingRateError: <fx>, column 'BillingCurrency': no GBP->USD rate for 2025-06-03 (nor for 2025-06)
"""

from __future__ import annotations

import io
import math
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path

import pandas as pd

from .errors import AifinopsError, ConfigError

__all__ = ["COLUMNS", "FxRates", "MissingRateError"]

COLUMNS = ("date", "from_currency", "to_currency", "rate")
_CUR = re.compile(r"^[A-Z]{3}$")
_Q18 = Decimal(1).scaleb(-18)


class MissingRateError(AifinopsError, KeyError):
    """No rate converts ``currency`` to the reporting currency on ``date``."""

    def __init__(self, currency: str, to: str, day: date, **kw) -> None:
        self.currency, self.to, self.date = currency, to, day
        kw.setdefault("column", "BillingCurrency")
        super().__init__(f"no {currency}->{to} rate for {day.isoformat()} (nor for {day.isoformat()[:7]})", **kw)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return Exception.__str__(self)


class FxRates:
    """Dated exchange rates: ``(from, to, 'YYYY-MM-DD' or 'YYYY-MM') -> Decimal``."""

    def __init__(self, rates: dict[tuple[str, str, str], Decimal] | None = None, *, source: str = "<fx>") -> None:
        self.rates = dict(rates or {})
        self.source = source

    @classmethod
    def read(cls, source: str | Path | io.TextIOBase) -> FxRates:
        """Read and validate a rates CSV.

        Raises:
            ConfigError: missing column, bad date or currency code, non-positive or unparsable
                rate, or two rates for the same key; names file, row (1-based data row) and column.
        """
        label = str(source) if isinstance(source, (str, Path)) else "<fx>"
        if isinstance(source, (str, Path)):
            if not Path(source).exists():
                raise ConfigError("FX rates file not found", file=label)
            text = Path(source).read_text(encoding="utf-8-sig")
        else:
            text = source.read()
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        raw.columns = [str(c).strip() for c in raw.columns]
        for c in COLUMNS:
            if c not in raw.columns:
                raise ConfigError("missing column", file=label, column=c)
        rates: dict[tuple[str, str, str], Decimal] = {}
        for i, (d, f, t, r) in enumerate(raw[list(COLUMNS)].itertuples(index=False), start=1):
            d, f, t, r = d.strip(), f.strip().upper(), t.strip().upper(), r.strip()
            try:
                if len(d) == 10:
                    datetime.strptime(d, "%Y-%m-%d")
                elif len(d) == 7:
                    datetime.strptime(d, "%Y-%m")
                else:
                    raise ValueError
            except ValueError:
                raise ConfigError(f"date {d!r} is not YYYY-MM-DD or YYYY-MM", file=label, row=i,
                                  column="date") from None
            for col, v in (("from_currency", f), ("to_currency", t)):
                if not _CUR.match(v):
                    raise ConfigError(f"{v!r} is not a 3-letter currency code", file=label, row=i, column=col)
            try:
                rate = Decimal(r)
                if not rate.is_finite() or rate <= 0:
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                raise ConfigError(f"rate {r!r} is not a positive number", file=label, row=i, column="rate") from None
            key = (f, t, d)
            if key in rates and rates[key] != rate:
                raise ConfigError(f"two different {f}->{t} rates for {d}", file=label, row=i, column="rate")
            rates[key] = rate
        return cls(rates, source=label)

    def rate(self, currency: str, to: str, day: date) -> tuple[Decimal, str | None]:
        """The rate converting ``currency`` to ``to`` on ``day`` and the rate's date key
        (``None`` when no conversion is needed).

        Raises:
            MissingRateError: neither a daily nor a monthly rate exists.
        """
        if currency == to:
            return Decimal(1), None
        d = day.isoformat()
        for key in (d, d[:7]):
            r = self.rates.get((currency, to, key))
            if r is not None:
                return r, key
        raise MissingRateError(currency, to, day, file=self.source)

    def convert(self, frame: pd.DataFrame, to: str, amount_columns: list[str], *, date_column: str = "day",
                currency_column: str = "currency") -> pd.DataFrame:
        """Convert ``amount_columns`` of an aggregated frame to ``to``.

        Args:
            frame: one row per currency and charge day (``date_column`` holds dates).
            to: the reporting currency.
            amount_columns: Decimal columns to convert (exact; quantized to 18 places).

        Returns:
            A copy with ``currency_column`` set to ``to`` and ``x_BillingCurrency``, ``x_FxRate``
            and ``x_FxRateDate`` added.

        Raises:
            MissingRateError: the first (currency, day) lacking a rate, in date order.
        """
        out = frame.copy()
        if not _CUR.match(str(to)):
            raise ConfigError(f"reporting currency {to!r} is not a 3-letter code", column="reporting_currency")
        days = [pd.Timestamp(v).date() for v in out[date_column]]
        curs = list(out[currency_column])
        cache: dict[tuple[str, date], tuple[Decimal, str | None]] = {}
        for cur, day in sorted(set(zip(curs, days)), key=lambda k: (k[1], k[0])):
            cache[(cur, day)] = self.rate(cur, to, day)
        rates = [cache[(c, d)] for c, d in zip(curs, days)]
        with localcontext() as ctx:
            ctx.prec = 80
            for col in amount_columns:
                out[col] = [None if v is None or (isinstance(v, float) and math.isnan(v))
                            else (Decimal(v) * r).quantize(_Q18) for v, (r, _) in zip(out[col], rates)]
        out["x_BillingCurrency"] = curs
        out["x_FxRate"] = [r for r, _ in rates]
        out["x_FxRateDate"] = pd.Series([k for _, k in rates], index=out.index, dtype=object)
        out[currency_column] = to
        return out
