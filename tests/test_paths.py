"""safe_output_path: every report file stays inside its output folder."""

from __future__ import annotations

import os

import pytest

from aifinops.errors import UnsafePathError
from aifinops.paths import safe_output_path


def test_inside_is_resolved(tmp_path):
    p = safe_output_path(tmp_path, "2025-06/finance.xlsx")
    assert p == (tmp_path / "2025-06" / "finance.xlsx").resolve()


def test_inner_dotdot_that_stays_inside_is_allowed(tmp_path):
    assert safe_output_path(tmp_path, "a/../b.txt") == (tmp_path / "b.txt").resolve()


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "\\\\server\\share\\x", "C:\\x", "C:x",
                                  "", ".", "a/..", "x\x00y"])
def test_escapes_are_refused(tmp_path, name):
    with pytest.raises(UnsafePathError) as e:
        safe_output_path(tmp_path / "out", name)
    assert isinstance(e.value, PermissionError)


def test_symlink_out_of_root_is_refused(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(UnsafePathError, match="escapes"):
        safe_output_path(root, "link/file.txt")
