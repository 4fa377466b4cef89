"""Format registry and detection. Every module in this package that defines a module-level
``FORMATS`` list of :class:`~aifinops.formats.base.SourceFormat` instances is registered.

Example:
    >>> from aifinops.formats import get_format
    >>> get_format("focus").name
    'focus'
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from ..errors import UnknownFormatError
from .base import IngestOptions, Plan, Probe, SourceFormat

__all__ = ["all_formats", "get_format", "detect", "Probe", "Plan", "SourceFormat", "IngestOptions"]


@cache
def all_formats() -> dict[str, SourceFormat]:
    """Every registered format by name, in detection order (most specific first)."""
    found: list[SourceFormat] = []
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if mod.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        found.extend(getattr(module, "FORMATS", []))
    # more required columns = more specific = tried first
    found.sort(key=lambda f: (-len(f.required), f.name))
    return {f.name: f for f in found}


def get_format(name: str) -> SourceFormat:
    """The format called ``name``; :class:`UnknownFormatError` lists the known ones."""
    formats = all_formats()
    if name not in formats:
        import difflib

        close = difflib.get_close_matches(name, list(formats), n=3, cutoff=0.3)
        raise UnknownFormatError(f"unknown format {name!r}", candidates=close or sorted(formats))
    return formats[name]


def detect(path: str | Path, probe: Probe | None = None) -> SourceFormat:
    """The format of ``path`` from its header.

    Raises:
        UnknownFormatError: no format matches; names the closest formats.
    """
    probe = probe or Probe.open(path)
    for fmt in all_formats().values():
        if fmt.sniff(probe):
            return fmt
    scored = sorted(((f.similarity(probe), f.name) for f in all_formats().values()), reverse=True)
    close = [n for s, n in scored[:3] if s > 0]
    raise UnknownFormatError(
        f"no known format matches this {probe.kind} header ({len(probe.columns)} columns: "
        f"{', '.join(probe.columns[:6])}{', ...' if len(probe.columns) > 6 else ''})",
        candidates=close,
        file=str(path),
    )
