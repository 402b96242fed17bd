"""The application context builds each shared part once, even under concurrent first use."""

from __future__ import annotations

import threading
from collections.abc import Callable

from server.config import Settings
from server.context import build_context


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
