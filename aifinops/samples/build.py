"""Build the sample folder: the ground truth rendered by every sample writer.

:func:`build` generates the truth once (:func:`aifinops.samples.truth.ground_truth`), calls
``write(truth, out_dir)`` of every module in :mod:`aifinops.samples` that has one (found with
:mod:`pkgutil`; ``truth``, ``build`` and ``__main__`` are not writers), then writes

- ``ground_truth.parquet``: the truth table (money as ``decimal128(38, 18)``, ``tags`` as
  compact JSON text with sorted keys), for tests and notebooks to compare against;
- ``MANIFEST.json``: the generator arguments and, per file, its path relative to the
  folder, the writer, the aifinops format that detects it (``null`` if none), its sha256 and
  its row count (CSV records, JSON lines, Parquet rows; for JSON API documents the
  ``results`` of the ``data`` buckets, summed over a list of pages).

Files listed in a previous ``MANIFEST.json`` are deleted first, so a renamed output never
lingers (nothing else in the folder is touched). Writers must write below ``out_dir``
(checked: :class:`~aifinops.errors.UnsafePathError`). Same arguments -> same bytes for
the CSV and JSON outputs (writers are deterministic; the manifest has no timestamps).

Example:
    >>> import tempfile, json, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> written = build(out, months=1, only=["focus"])
    >>> sorted(written)
    ['focus', 'truth']
    >>> m = json.loads((out / "MANIFEST.json").read_text())
    >>> [(f["file"], f["format"]) for f in m["files"]]
    [('focus/pinecone-focus-1.2.csv', 'focus'), ('ground_truth.parquet', None)]
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib
import io
import json
import pkgutil
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import AifinopsError, UnsafePathError
from . import truth as _truth

__all__ = ["build", "writers", "count_rows", "write_truth_parquet", "MANIFEST", "TRUTH_FILE", "NOT_WRITERS"]

MANIFEST = "MANIFEST.json"
TRUTH_FILE = "ground_truth.parquet"
#: modules of aifinops.samples that are not format writers
NOT_WRITERS = frozenset({"truth", "build", "__init__", "__main__"})

_DEC = pa.decimal128(38, 18)


def writers(only: Iterable[str] | None = None) -> dict[str, Callable]:
    """The sample writers by module name, sorted: ``{"aws": aifinops.samples.aws.write, ...}``.

    Args:
        only: restrict to these module names (unknown names raise ``KeyError`` naming the known ones).
    """
    from .. import samples

    found: dict[str, Callable] = {}
    for mod in sorted(pkgutil.iter_modules(samples.__path__), key=lambda m: m.name):
        if mod.name in NOT_WRITERS or mod.name.startswith("_"):
            continue
        if only is not None and mod.name not in set(only):
            continue
        module = importlib.import_module(f"{samples.__name__}.{mod.name}")
        write = getattr(module, "write", None)
        if callable(write):
            found[mod.name] = write
    if only is not None:
        missing = sorted(set(only) - set(found))
        if missing:
            raise KeyError(f"no sample writer {', '.join(missing)} (known: {', '.join(sorted(writers()))})")
    return found


def write_truth_parquet(truth: pd.DataFrame, path: str | Path) -> Path:
    """The truth as Parquet: Decimal columns as ``decimal128(38, 18)``, tags as JSON text."""
    path = Path(path)
    arrays, names = [], []
    for c in truth.columns:
        s = truth[c]
        if c in ("quantity", "unit_price", "cost", "list_cost", "gpu_hours"):
            arr = pa.array([None if v is None else v for v in s.tolist()], type=_DEC)
        elif c == "tags":
            arr = pa.array([json.dumps(v or {}, sort_keys=True, separators=(",", ":")) for v in s.tolist()],
                           type=pa.string())
        elif c == "date":
            arr = pa.array(s.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]"), type=pa.date32())
        elif c in ("tokens", "requests"):
            arr = pa.array([None if pd.isna(v) else int(v) for v in s.tolist()], type=pa.int64())
        else:
            arr = pa.array([None if pd.isna(v) else str(v) for v in s.tolist()], type=pa.string())
        arrays.append(arr)
        names.append(c)
    table = pa.Table.from_arrays(arrays, names=names)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return path


def _open_text(path: Path) -> io.TextIOBase:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return io.StringIO(raw.decode("utf-8-sig", errors="replace"), newline="")


def _json_records(doc: object) -> int:
    """Records of a JSON document: a list of API pages sums its pages; a page's ``data``
    buckets count their ``results``; any other list counts its items."""
    if isinstance(doc, list):
        if doc and all(isinstance(d, dict) and isinstance(d.get("data"), list) for d in doc):
            return sum(_json_records(d) for d in doc)
        return len(doc)
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        data = doc["data"]
        if data and all(isinstance(b, dict) and isinstance(b.get("results"), list) for b in data):
            return sum(len(b["results"]) for b in data)
        return len(data)
    return 1


def count_rows(path: str | Path) -> int:
    """Data records in a sample file (see the module docstring for what counts)."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1":
        return pq.ParquetFile(path).metadata.num_rows
    text = _open_text(path)
    body = text.getvalue()
    stripped = body.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            doc = json.loads(stripped)
        except json.JSONDecodeError:  # JSON lines
            return sum(1 for line in body.splitlines() if line.strip())
        return _json_records(doc)
    sample = body[:4096]
    try:
        delim = csv.Sniffer().sniff(sample.splitlines()[0] if sample else ",", delimiters=",;\t|").delimiter
    except csv.Error:
        delim = ","
    return max(0, sum(1 for _ in csv.reader(io.StringIO(body, newline=""), delimiter=delim)) - 1)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _detect(path: Path) -> str | None:
    from ..formats import detect

    try:
        return detect(path).name
    except AifinopsError:
        return None


def _inside(path: Path, root: Path, writer: str) -> Path:
    resolved = path.resolve()
    if root.resolve() not in resolved.parents:
        raise UnsafePathError(f"sample writer {writer!r} wrote outside the sample folder {root}", file=str(path))
    return resolved


def _remove_previous(out: Path) -> None:
    manifest = out / MANIFEST
    if not manifest.is_file():
        return
    try:
        files = [f["file"] for f in json.loads(manifest.read_text(encoding="utf-8")).get("files", [])]
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError):
        return
    root = out.resolve()
    for rel in files:
        p = (out / rel).resolve()
        if root in p.parents and p.is_file():
            p.unlink()
            d = p.parent
            while d != root and d.is_dir() and not any(d.iterdir()):
                d.rmdir()
                d = d.parent


def build(out_dir: str | Path = "data_samples", start: str = "2025-06-01", months: int = 15, seed: int = 7,
          scale: float = 1.0, *, only: Iterable[str] | None = None) -> dict[str, list[Path]]:
    """Regenerate the sample folder.

    Args:
        out_dir: the folder (created if needed).
        start, months, seed, scale: passed to :func:`~aifinops.samples.truth.ground_truth`.
        only: only these writer modules (default: all).

    Returns:
        Files written per writer module name, plus ``"truth"`` -> ``[ground_truth.parquet]``.

    Raises:
        UnsafePathError: a writer returned a path outside ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _remove_previous(out)
    found = writers(only)
    truth = _truth.ground_truth(start, months, seed, scale)
    written: dict[str, list[Path]] = {}
    entries = []
    for name, write in found.items():
        try:
            paths = [Path(p) for p in write(truth, out)]
        except Exception as exc:
            exc.add_note(f"in sample writer aifinops.samples.{name}.write")
            raise
        written[name] = paths
        for p in paths:
            _inside(p, out, name)
            entries.append((name, p))
    truth_path = write_truth_parquet(truth, out / TRUTH_FILE)
    written["truth"] = [truth_path]
    entries.append(("truth", truth_path))
    root = out.resolve()
    files = []
    for name, p in entries:
        files.append({
            "file": p.resolve().relative_to(root).as_posix(),
            "writer": name,
            "format": None if name == "truth" else _detect(p),
            "sha256": _sha256(p),
            "rows": len(truth) if name == "truth" else count_rows(p),
        })
    files.sort(key=lambda f: f["file"])
    manifest = {
        "generator": "aifinops.samples.build",
        "company": "Northwind Labs",
        "args": {"start": str(start), "months": months, "seed": seed, "scale": scale},
        "truth_rows": len(truth),
        "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return written
