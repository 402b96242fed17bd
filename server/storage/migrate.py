"""Bring a database to the latest schema with Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

__all__ = ["upgrade"]


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` (idempotent).

    A database already at the head is only read (one query): every ``agri``
    command opens the database, and running Alembic's machinery for nothing
    cost each of them about half a second.
    """
    cfg = _config()
    with engine.begin() as conn:
        if revision == "head":
            heads = set(ScriptDirectory.from_config(cfg).get_heads())
            current = set(MigrationContext.configure(conn).get_current_heads())
            if current == heads:
                return
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
