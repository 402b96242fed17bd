"""Each package's __all__ is sorted, complete and importable (httpx test_exported_members)."""

from __future__ import annotations

import importlib

import pytest

from tests.conftest import PACKAGES


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=lambda s: (not s.isupper(), s))
    for attr in exported:
        assert hasattr(module, attr), attr


def test_ledger_exports_every_public_error() -> None:
    """Every error class of ledger.errors is part of the public API and has the root."""
    import ledger
    from ledger import errors

    for name in dir(errors):
        obj = getattr(errors, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, Exception)
            and obj.__module__ == errors.__name__
        ):
            assert name in ledger.__all__
            assert issubclass(obj, ledger.LedgerError)
