"""The Alembic migrations build exactly the schema that server.storage.schema declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from server.storage.migrate import upgrade
from server.storage.schema import make_engine, metadata


def test_migrations_match_the_declared_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_downgrade_then_upgrade_again(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        from alembic import command

        from server.storage.migrate import _config

        cfg = _config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0005")
        upgrade(engine)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        engine.dispose()
