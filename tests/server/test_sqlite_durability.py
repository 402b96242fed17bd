"""SQLite ships durable: WAL with synchronous=FULL unless a setting lowers it.

Regression: the engine ran WAL with synchronous=NORMAL, which may lose the last
committed transactions (ledger entries, payments) on a power loss.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from server.config import Settings
from server.context import build_context
from server.storage.schema import make_engine

# PRAGMA synchronous reports a number: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
LEVELS = {"NORMAL": 1, "FULL": 2, "EXTRA": 3}


def _pragmas(engine: Engine) -> tuple[int, str]:
    """PRAGMA synchronous (a number) and journal_mode of a new connection."""
    with engine.connect() as conn:
        sync = conn.execute(text("PRAGMA synchronous")).scalar_one()
        journal = conn.execute(text("PRAGMA journal_mode")).scalar_one()
    return sync, journal


def test_new_engine_is_full_by_default(tmp_path: Path) -> None:
    """A new engine's connection reports synchronous=2 (FULL) on a WAL journal."""
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        assert _pragmas(engine) == (2, "wal")
    finally:
        engine.dispose()


@pytest.mark.parametrize(("level", "reported"), sorted(LEVELS.items()))
def test_the_level_can_be_chosen(tmp_path: Path, level: str, reported: int) -> None:
    """EXTRA, FULL or NORMAL (any case) reach PRAGMA synchronous."""
    engine = make_engine(
        f"sqlite:///{tmp_path / 'a.db'}", sqlite_synchronous=level.lower()
    )
    try:
        assert _pragmas(engine) == (reported, "wal")
    finally:
        engine.dispose()


@pytest.mark.parametrize("level", ["OFF", "0", "", "FULL; DROP TABLE x"])
def test_unsafe_or_unknown_levels_are_refused(level: str) -> None:
    """OFF (and anything that is not a level) is a ValueError naming the setting."""
    with pytest.raises(ValueError, match="sqlite_synchronous"):
        make_engine("sqlite://", sqlite_synchronous=level)


@pytest.mark.parametrize(("env", "reported"), [(None, 2), ("NORMAL", 1)])
def test_the_setting_reaches_the_application(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str | None, reported: int
) -> None:
    """build_context uses FULL unless AGRI_SQLITE_SYNCHRONOUS lowers it."""
    monkeypatch.delenv("AGRI_DATABASE_URL", raising=False)
    if env is None:
        monkeypatch.delenv("AGRI_SQLITE_SYNCHRONOUS", raising=False)
    else:
        monkeypatch.setenv("AGRI_SQLITE_SYNCHRONOUS", env)
    settings = Settings(data_dir=tmp_path, anchor_enabled=False)
    app = build_context(settings, chain=False, migrate=False)
    try:
        assert _pragmas(app.engine) == (reported, "wal")
    finally:
        app.close()
