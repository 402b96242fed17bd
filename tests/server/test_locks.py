"""Named transaction locks: a second transaction waits for the first (PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine

from server.storage.locks import lock


@pytest.mark.parametrize(
    "names", [("a",), ("b", "a", "c"), tuple(f"n{i}" for i in range(68))]
)
def test_a_named_lock_holds_until_the_transaction_ends(
    db_url: str, names: tuple[str, ...]
) -> None:
    """While one transaction holds a set of names, another naming any of them waits."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises write transactions itself: the lock is a no-op")
    engine = create_engine(db_url)
    held = threading.Event()
    release = threading.Event()
    waited: list[float] = []

    def first() -> None:
        with engine.begin() as conn:
            lock(conn, *names)
            held.set()
            release.wait(10)

    def second() -> None:
        held.wait(10)
        start = time.monotonic()
        with engine.begin() as conn:
            lock(conn, names[-1], "other")
            waited.append(time.monotonic() - start)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    release.set()
    for t in threads:
        t.join()
    engine.dispose()
    assert waited and waited[0] >= 0.3
