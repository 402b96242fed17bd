"""Named transaction locks: check-then-write without races, on both databases.

On PostgreSQL a named lock is a transaction-scoped advisory lock
(``pg_advisory_xact_lock``): it is held until the transaction ends, so a check
made after taking it and the write that follows are atomic with respect to
every other transaction that takes the same lock. On SQLite every write
transaction already begins ``IMMEDIATE`` (one writer at a time for the whole
database), so the lock is implicit and this is a no-op.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text

__all__ = ["lock", "session_lock"]


def _key(name: str) -> int:
    """A signed 64-bit key for ``name`` (PostgreSQL's advisory keys are bigint)."""
    return int.from_bytes(
        hashlib.sha256(name.encode()).digest()[:8], "big", signed=True
    )


def lock(conn: Connection, *names: str) -> None:
    """Hold the named locks until ``conn``'s transaction ends.

    Preconditions: ``conn`` is inside a write transaction. Keys are taken in
    ascending order, in one statement, so that two transactions naming
    overlapping sets cannot deadlock.
    """
    if conn.dialect.name != "postgresql" or not names:
        return
    keys = sorted({_key(name) for name in names})
    # One round trip, the keys locked in ascending order (the subquery's order).
    conn.execute(
        text(
            "SELECT count(pg_advisory_xact_lock(k)) FROM "
            "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS ordered"
        ),
        {"keys": keys},
    )


@contextmanager
def session_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Try to hold the named lock for a long piece of work outside any transaction.

    Yields True when this process holds it for the ``with`` block, False when
    another session holds it (the caller skips the work). On PostgreSQL a
    session advisory lock on a connection of its own, released at the end; on
    SQLite always True: callers serialise within the process themselves, and
    a unique row settles a race between processes.
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as conn:
        key = {"k": _key(name)}
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), key).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), key)
                conn.commit()
