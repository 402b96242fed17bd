"""Cross-cutting fixtures: where the shared sample data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """``AGRI_SHARED_DATA`` or ``../shared/data`` beside the repository."""
    return Path(os.environ.get("AGRI_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"sample data not found at {path}: set AGRI_SHARED_DATA")
    return path


# The project's top-level packages, for tests that walk them all.
PACKAGES = [
    "livestock",
    "remote_sensing",
    "ledger",
    "underwriting",
    "claims",
    "edge",
    "server",
]
