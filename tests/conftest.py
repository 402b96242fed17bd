"""Cross-cutting fixtures: where the shared sample data lives."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Users created and logged in by the tests' in-process apps hash with
    argon2id's cheapest parameters: the production cost (about 80 ms a hash or
    a verification here, on purpose) was a quarter of the API tests' time. The
    tests of the cost itself ask for ``production_password_hashes``; servers
    started as processes keep the production hasher."""
    from server.services import auth

    auth._HASHER = PasswordHasher.from_parameters(CHEAPEST)
    auth._dummy_hash.cache_clear()


@pytest.fixture
def production_password_hashes() -> Iterator[None]:
    """argon2id at the library's own parameters, as ``agri serve`` hashes.

    Ask for it with ``@pytest.mark.usefixtures("production_password_hashes")``:
    it must be set up before the fixtures that create users."""
    from server.services import auth

    cheap = auth._HASHER
    auth._HASHER = PasswordHasher()
    auth._dummy_hash.cache_clear()
    try:
        yield
    finally:
        auth._HASHER = cheap
        auth._dummy_hash.cache_clear()


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
