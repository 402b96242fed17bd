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

from sqlalchemy import Connection, text

__all__ = ["lock"]


def _key(name: str) -> int:
    """A signed 64-bit key for ``name`` (PostgreSQL's advisory keys are bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def lock(conn: Connection, *names: str) -> None:
    """Hold the named locks until ``conn``'s transaction ends.

    Preconditions: ``conn`` is inside a write transaction. Names are taken in
    sorted order so that two transactions naming the same set cannot deadlock.
    """
    if conn.dialect.name != "postgresql":
        return
    for name in sorted(set(names)):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _key(name)})
