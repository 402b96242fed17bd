"""Uniqueness decided by the database: an insert that a key or trigger refuses is a conflict."""

from __future__ import annotations

from sqlalchemy import Connection, Executable
from sqlalchemy.exc import IntegrityError

from server.errors import ConflictError

__all__ = ["insert_or_conflict"]


def insert_or_conflict(
    conn: Connection, statement: Executable, error: ConflictError
) -> None:
    """Run ``statement`` in a savepoint; if the database refuses it, raise ``error``.

    The key (or trigger) decides: a read first would race a concurrent insert.
    The savepoint keeps the caller's transaction usable after the refusal.
    """
    try:
        with conn.begin_nested():
            conn.execute(statement)
    except IntegrityError as exc:
        raise error from exc
