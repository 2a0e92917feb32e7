"""Shared fixtures. Area-specific fixtures live in tests/fixtures_<area>.py modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = ROOT / "data" / "conformance"
REALDATA = Path(os.environ.get("MARKETPHYS_REALDATA", ROOT.parent / "shared" / "realdata"))
LOBSTER_AMZN = REALDATA / "LOBSTER_SampleFile_AMZN_2012-06-21_5.zip"


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """The real public files that travel with the repository (data/conformance, see data/README.md)."""
    if not CONFORMANCE.is_dir():
        pytest.fail(f"conformance data missing: expected {CONFORMANCE} in the checkout")
    return CONFORMANCE


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def lobster_amzn() -> Path:
    """The real LOBSTER AMZN day; kept outside the repository (its terms), so tests skip without it."""
    if not LOBSTER_AMZN.is_file():
        pytest.skip(f"real-data file {LOBSTER_AMZN.name} not found at {LOBSTER_AMZN} (set MARKETPHYS_REALDATA)")
    return LOBSTER_AMZN


# Whole modules that take minutes, marked here (not in each file) so `make test-fast` skips them by name;
# `make test` runs everything. A module listed here that no longer exists fails the collection.
SLOW_MODULES = {
    "test_workflows_notebooks": "runs the seven notebooks top to bottom in Jupyter kernels",
    "test_options_e2e": "builds two synthetic days on a local Dask cluster",
}


def pytest_collection_modifyitems(config, items):
    gone = [m for m in SLOW_MODULES if not any(ROOT.joinpath("tests").rglob(f"{m}.py"))]
    if gone:
        raise pytest.UsageError(f"tests/conftest.py SLOW_MODULES names missing test modules: {gone}")
    for item in items:
        if item.path.stem in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
