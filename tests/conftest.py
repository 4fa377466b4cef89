"""Shared fixtures. The real public corpus lives in ../shared/corpus beside the checkout;
tests that need it skip with a clear message when it is absent (it is never copied here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("AIFINOPS_CORPUS", REPO.parent / "shared" / "corpus"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The corpus folder, or skip."""
    if not CORPUS.is_dir():
        pytest.skip(f"real-export corpus not found at {CORPUS} (set AIFINOPS_CORPUS); corpus tests skipped")
    return CORPUS


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    return tmp_path / "ledger"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
