"""Output paths that cannot escape their output folder.

Report names, periods and sheet names can come from configuration or data; every file a
report writes goes through :func:`safe_output_path`, which refuses absolute names, ``..``
and symlinks that lead outside the root.

Example:
    >>> import tempfile
    >>> from aifinops.paths import safe_output_path
    >>> root = tempfile.mkdtemp()
    >>> safe_output_path(root, "2025-06/finance.xlsx").name
    'finance.xlsx'
    >>> safe_output_path(root, "../etc/passwd")
    Traceback (most recent call last):
    ...
    aifinops.errors.UnsafePathError: ../etc/passwd: output path escapes its output folder
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from .errors import UnsafePathError

__all__ = ["safe_output_path"]


def safe_output_path(root: str | Path, name: str | Path) -> Path:
    """Resolve ``name`` inside ``root`` or raise.

    Args:
        root: the output folder (need not exist yet).
        name: a relative path below ``root``; ``/`` separates folders.

    Returns:
        The absolute, resolved path (symlinks followed), guaranteed to be inside ``root``
        and not ``root`` itself.

    Raises:
        UnsafePathError: ``name`` is empty, absolute, has a drive, contains NUL, or resolves
            outside ``root`` (through ``..`` or a symlink).

    Example:
        >>> import tempfile
        >>> safe_output_path(tempfile.mkdtemp(), "/tmp/x")
        Traceback (most recent call last):
        ...
        aifinops.errors.UnsafePathError: /tmp/x: output path escapes its output folder
    """
    text = os.fspath(name)
    shown = str(text)
    if not text or "\x00" in text:
        raise UnsafePathError("empty output name or NUL in it", file=repr(shown))
    if (PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute()
            or PureWindowsPath(text).drive or text.startswith(("\\", "/"))):
        raise UnsafePathError("output path escapes its output folder", file=shown)
    base = Path(root).resolve()
    target = (base / text).resolve()
    if target == base or not target.is_relative_to(base):
        raise UnsafePathError("output path escapes its output folder", file=shown)
    return target
