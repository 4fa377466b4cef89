"""Tag map: which tag / label keys mean team, feature, application, environment, cost
center, user and customer, with aliases and case rules (YAML, loaded safely).

The map turns into SQL over the ledger's ``Tags`` JSON, so attribution runs in the engine.

Example:
    >>> from aifinops.tags import TagMap
    >>> tm = TagMap.from_dict({"team": {"keys": ["team"], "case": "lower", "aliases": {"ds": "data-science"}}})
    >>> import duckdb
    >>> duckdb.sql("SELECT " + tm.sql("t")["x_Team"] + " FROM (SELECT '{\\"Team\\": \\"DS\\"}' AS t)").fetchall()
    [('data-science',)]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from .errors import ConfigError
from .schema import ATTRIBUTION
from .sql import lit

__all__ = ["Attribute", "TagMap"]

_CASES = ("lower", "upper", "keep")


@dataclass(frozen=True)
class Attribute:
    """One attribution attribute: its ledger column, candidate keys, case rule, aliases."""

    name: str
    column: str
    keys: tuple[str, ...]
    case: str = "lower"
    aliases: dict[str, str] = field(default_factory=dict)

    def key_variants(self) -> list[str]:
        out: list[str] = []
        for k in self.keys:
            for v in (k, k.lower(), k.upper(), k.title(), k[:1].upper() + k[1:]):
                if v not in out:
                    out.append(v)
        return out


class TagMap:
    """The attribution rules. Build with :meth:`from_yaml`, :meth:`from_dict` or :meth:`default`."""

    def __init__(self, attributes: list[Attribute], source: str = "<dict>") -> None:
        self.attributes = attributes
        self.source = source

    @classmethod
    def default(cls) -> "TagMap":
        text = resources.files("aifinops").joinpath("data/tagmap.yaml").read_text()
        return cls.from_dict(yaml.safe_load(text), source="aifinops:data/tagmap.yaml")

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TagMap":
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML: {exc}", file=str(path)) from exc
        except OSError as exc:
            raise ConfigError(f"cannot read tag map: {exc}", file=str(path)) from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: object, source: str = "<dict>") -> "TagMap":
        if not isinstance(data, dict):
            raise ConfigError("a tag map is a mapping of attribute -> {keys, case, aliases}", file=source)
        attrs = []
        for name, spec in data.items():
            if name not in ATTRIBUTION:
                raise ConfigError(f"unknown attribute {name!r}; known: {', '.join(ATTRIBUTION)}",
                                  file=source, column=str(name))
            if isinstance(spec, list):
                spec = {"keys": spec}
            if not isinstance(spec, dict) or not spec.get("keys"):
                raise ConfigError("needs a non-empty 'keys' list", file=source, column=str(name))
            case = spec.get("case", "lower")
            if case not in _CASES:
                raise ConfigError(f"case must be one of {_CASES}, not {case!r}", file=source, column=str(name))
            aliases = spec.get("aliases") or {}
            if not isinstance(aliases, dict):
                raise ConfigError("aliases must be a mapping", file=source, column=str(name))
            attrs.append(Attribute(name, ATTRIBUTION[name], tuple(str(k) for k in spec["keys"]), case,
                                   {str(k): str(v) for k, v in aliases.items()}))
        return cls(attrs, source)

    def sql(self, tags_expr: str) -> dict[str, str]:
        """ledger column -> SQL that reads the attribute from the JSON text ``tags_expr``
        (NULL when absent or when the JSON is invalid)."""
        out = {}
        for a in self.attributes:
            picks = ", ".join(
                f"NULLIF(TRIM(json_extract_string({tags_expr}, {lit('$.' + _json_key(k))})), '')"
                for k in a.key_variants()
            )
            value = f"COALESCE({picks})" if len(a.key_variants()) > 1 else picks
            if a.case == "lower":
                value = f"LOWER({value})"
            elif a.case == "upper":
                value = f"UPPER({value})"
            if a.aliases:
                whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in a.aliases.items())
                value = f"(CASE {value} {whens} ELSE {value} END)"
            out[a.column] = f"(CASE WHEN json_valid({tags_expr}) THEN {value} END)"
        return out


def _json_key(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
