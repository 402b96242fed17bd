"""One anchorer at a time, and a request never waits on the chain (issue 9, defect 3)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ledger import AnchorReceipt, Checkpoint, PendingAnchor
from ledger.adapters.memory import InMemoryAnchor
from server.chain import ChainContext
from server.config import Settings
from server.context import AppContext, build_context


class SlowAnchor(InMemoryAnchor):
    """The in-memory chain, with a chain's latency on prepare and a gate on submit."""

    def __init__(self, delay_s: float = 0.05) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.gate = threading.Event()
        self.gate.set()
        self.submitting = threading.Event()

    def prepare(self, checkpoint: Checkpoint) -> PendingAnchor:
        time.sleep(self.delay_s)  # widens the check-then-record window
        return super().prepare(checkpoint)

    def submit(self, pending: PendingAnchor) -> AnchorReceipt:
        self.submitting.set()
        assert self.gate.wait(10), "the test never opened the gate"
        return super().submit(pending)


@pytest.fixture
def slow() -> SlowAnchor:
    return SlowAnchor()


@pytest.fixture
def ctx(
    make_settings: Callable[..., Settings], slow: SlowAnchor
) -> Iterator[AppContext]:
    c = build_context(
        make_settings(checkpoint_every=1),
        chain=ChainContext(slow, ephemeral=False, contract="mem"),
    )
    yield c
    c.ledger.stop_background()
    c.close()


def test_concurrent_anchorers_record_one_anchor_and_raise_nothing(
    ctx: AppContext,
) -> None:
    """Eight threads anchoring the same checkpoint: one transaction, no error anywhere."""
    ctx.ledger.append([b"a", b"b"])  # signs and anchors size 2 inline (no background)
    ctx.ledger.store.append_many([b"c"])
    ctx.ledger.checkpoint(anchor=False)
    errors: list[BaseException] = []
    statuses: list[str] = []
    barrier = threading.Barrier(8)

    def anchor() -> None:
        barrier.wait()
        try:
            statuses.append(ctx.ledger.anchor_catch_up())
        except BaseException as exc:  # the defect: IntegrityError in the loser
            errors.append(exc)

    threads = [threading.Thread(target=anchor) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sizes = sorted(a.tree_size for a in ctx.ledger.store.anchors())
    assert sizes == [2, 3]
    assert sum("anchored size 3" in s for s in statuses) == 1


def test_appends_do_not_wait_on_the_chain_when_the_anchorer_runs(
    ctx: AppContext, slow: SlowAnchor
) -> None:
    """With the background anchorer, a due checkpoint is signed at once and anchored later."""
    slow.gate.clear()  # the chain hangs
    ctx.ledger.start_background(tick_s=3600)
    started = time.monotonic()
    ctx.ledger.append([b"a"])
    assert time.monotonic() - started < 2.0
    cp = ctx.ledger.store.latest_checkpoint()
    assert cp is not None
    assert cp.size == 1
    assert slow.submitting.wait(5), "the anchorer was not woken"
    assert ctx.ledger.store.anchors(["mined"]) == []
    slow.gate.set()
    deadline = time.monotonic() + 5
    while not ctx.ledger.store.anchors(["mined"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [a.tree_size for a in ctx.ledger.store.anchors(["mined"])] == [1]
    ctx.ledger.stop_background()
    assert ctx.ledger._worker is None
