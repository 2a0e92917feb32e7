"""Shared fixtures. Area-specific fixtures live in tests/fixtures_<area>.py modules."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = ROOT.parent / "shared" / "conformance"


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """The real public files of ../shared/conformance (present in CI beside the checkout)."""
    if not CONFORMANCE.is_dir():
        pytest.fail(f"conformance data missing: expected {CONFORMANCE} beside the checkout")
    return CONFORMANCE


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
