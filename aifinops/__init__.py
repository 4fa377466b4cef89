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


def _defer_iri_parser() -> None:
    """Make ``import jsonschema`` cheap: build rfc3987-syntax's IRI parser on first use.

    jsonschema imports ``rfc3987_syntax`` (when installed) for its ``iri`` format check, and
    that module builds an Earley parser from its grammar at import time: 2-5 s of CPU in every
    process that imports jsonschema (altair in each report notebook's kernel, nbformat in
    papermill), although no schema aifinops validates uses the ``iri`` formats. This puts a
    stand-in module in ``sys.modules`` whose functions import the real parser module when
    first called, so any check that does run gives the same answer. Does nothing when
    ``rfc3987_syntax`` is absent or already imported, or jsonschema is already imported.

    Example:
        >>> import sys
        >>> m = sys.modules.get("rfc3987_syntax")
        >>> m is None or m.is_valid_syntax("iri", "http://example.com/é") is True
        True
    """
    import importlib
    import importlib.util
    import sys
    import types

    if "rfc3987_syntax" in sys.modules or "jsonschema" in sys.modules:
        return
    try:
        spec = importlib.util.find_spec("rfc3987_syntax")
    except (ImportError, ValueError):  # pragma: no cover - broken install
        return
    if spec is None or not spec.submodule_search_locations:
        return
    stand_in = types.ModuleType("rfc3987_syntax", "rfc3987-syntax, its parser built on first use (see aifinops)")
    stand_in.__path__ = list(spec.submodule_search_locations)
    stand_in.__spec__ = spec
    stand_in.__file__ = spec.origin

    def _real():
        return importlib.import_module("rfc3987_syntax.syntax_helpers")

    def is_valid_syntax(term: str, value: str):
        return _real().is_valid_syntax(term, value)

    def parse(term: str, value: str):
        return _real().parse(term, value)

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_real(), name)

    stand_in.is_valid_syntax, stand_in.parse, stand_in.__getattr__ = is_valid_syntax, parse, __getattr__
    sys.modules["rfc3987_syntax"] = stand_in


_defer_iri_parser()
