"""aifinops: FinOps for AI — one FOCUS ledger from billing and usage exports, exact and
repeatable; token pricing, unit economics, forecasts and reports on top of it.

Example:
    >>> import aifinops
    >>> aifinops.__version__
    '0.1.0'
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aifinops")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
