"""Units of work: the one helper that gives a service a connection to read on.

The caller (an HTTP request, a CLI command, a demo step) opens the unit of work
and passes its connection down; a service method that only reads and was given
none reads on a read-only connection of its own. Writes open their transaction
through :meth:`server.services.ledger.LedgerService.transaction`, which joins
the caller's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

__all__ = ["reading"]


@contextmanager
def reading(engine: Engine, conn: Connection | None = None) -> Iterator[Connection]:
    """The caller's connection (it sees its own unit of work), or a read-only one."""
    if conn is not None:
        yield conn
        return
    with engine.connect().execution_options(readonly=True) as own:
        yield own
