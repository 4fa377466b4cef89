"""Typed errors. Every error raised by aifinops derives from :class:`AifinopsError`
and from the closest built-in, and names the file, row and column when it knows them.

Example:
    >>> from aifinops.errors import NumberParseError, AifinopsError
    >>> e = NumberParseError("abc", file="bill.csv", row=7, column="lineItem/UnblendedCost")
    >>> isinstance(e, AifinopsError) and isinstance(e, ValueError)
    True
    >>> str(e)
    "bill.csv, row 7, column 'lineItem/UnblendedCost': unparsable number 'abc'"
"""

from __future__ import annotations

__all__ = [
    "AifinopsError",
    "FormatError",
    "UnknownFormatError",
    "MissingColumnError",
    "ParseError",
    "NumberParseError",
    "DateParseError",
    "RequiredValueError",
    "InvalidValueError",
    "MixedCurrencyError",
    "ReconciliationError",
    "LedgerError",
    "ConfigError",
    "UnsafePathError",
    "error_from_reason",
]


class AifinopsError(Exception):
    """Base class. ``file``, ``row`` and ``column`` locate the problem when known."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None) -> None:
        self.file, self.row, self.column = file, row, column
        self.detail = message
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)

    def __reduce__(self):
        # subclasses take other constructor arguments; rebuild from the state instead, so
        # errors survive pickling (ingest worker processes send them to the parent)
        return _restore, (type(self), self.args, self.__dict__.copy())


def _restore(cls: type, args: tuple, state: dict) -> AifinopsError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class FormatError(AifinopsError, ValueError):
    """The file is not in a format aifinops can read as asked."""


class UnknownFormatError(FormatError):
    """No known format matches the file's header; ``candidates`` lists the closest ones."""

    def __init__(self, message: str, *, candidates: list[str] | None = None, **kw) -> None:
        self.candidates = candidates or []
        if self.candidates:
            message += f" (closest known formats: {', '.join(self.candidates)})"
        super().__init__(message, **kw)


class MissingColumnError(FormatError, KeyError):
    """A column the format requires is absent from the header."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return Exception.__str__(self)


class ParseError(AifinopsError, ValueError):
    """A value in a row could not be read."""


class NumberParseError(ParseError):
    def __init__(self, value: object, **kw) -> None:
        self.value = value
        super().__init__(f"unparsable number {value!r}", **kw)


class DateParseError(ParseError):
    def __init__(self, value: object, **kw) -> None:
        self.value = value
        super().__init__(f"unparsable date/time {value!r}", **kw)


class RequiredValueError(ParseError):
    def __init__(self, value: object = None, **kw) -> None:
        self.value = value
        super().__init__("required value is empty", **kw)


class InvalidValueError(ParseError):
    def __init__(self, value: object, **kw) -> None:
        self.value = value
        super().__init__(f"value not allowed {value!r}", **kw)


class MixedCurrencyError(FormatError):
    """The format allows one currency per file and the file has several."""


class ReconciliationError(AifinopsError, ArithmeticError):
    """Source total != ledger total + quarantined total."""


class LedgerError(AifinopsError, OSError):
    """The ledger folder is missing, locked or inconsistent."""


class ConfigError(AifinopsError, ValueError):
    """A YAML or CSV configuration file is invalid."""


class UnsafePathError(AifinopsError, PermissionError):
    """An output path would escape its output folder."""


_REASONS = {
    "number": NumberParseError,
    "timestamp": DateParseError,
    "required": RequiredValueError,
    "value": InvalidValueError,
}


def error_from_reason(reason: str, *, file: str | None = None, row: int | None = None) -> ParseError:
    """Turn a quarantine reason ``code<TAB>column<TAB>value`` (as written by the
    ingest SQL) into its typed error.

    >>> str(error_from_reason("number\\tcost\\tx1", file="a.csv", row=3))
    "a.csv, row 3, column 'cost': unparsable number 'x1'"
    """
    code, _, rest = reason.partition("\t")
    column, _, value = rest.partition("\t")
    cls = _REASONS.get(code, InvalidValueError)
    return cls(value if value != "" else None, file=file, row=row, column=column or None)
