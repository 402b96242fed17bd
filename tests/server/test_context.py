"""The application context builds each shared part once, even under concurrent first use."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy.exc
from sqlalchemy.pool import QueuePool

from server.config import Settings
from server.context import build_context
from server.storage.schema import make_engine


def test_registry_is_built_once_under_concurrent_first_use(
    make_settings: Callable[..., Settings],
) -> None:
    """Six requests asking for the registry at once get one registry (defect 8)."""
    ctx = build_context(make_settings(), chain=False)
    got: list[object] = []
    barrier = threading.Barrier(6)

    def ask() -> None:
        barrier.wait()
        got.append(ctx.registry())

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ctx.close()
    assert len(got) == 6
    assert len({id(r) for r in got}) == 1


def test_a_postgresql_pool_keeps_its_size_and_opens_as_many_again_under_load(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    """AGRI_DB_POOL_SIZE connections stay open; as many again are opened under
    load and closed when returned; one more waits for a free one."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite opens a connection per thread; no pool to size")
    ctx = build_context(make_settings(db_pool_size=3), chain=False)
    try:
        assert isinstance(ctx.engine.pool, QueuePool) and ctx.engine.pool.size() == 3
    finally:
        ctx.close()
    engine = make_engine(db_url, pool_size=2, pool_timeout=0.3)
    try:
        held = [engine.connect() for _ in range(4)]  # the pool and as many again
        with pytest.raises(sqlalchemy.exc.TimeoutError):
            engine.connect()
        for conn in held:
            conn.close()
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.checkedin() == 2  # the extra two were closed
    finally:
        engine.dispose()
