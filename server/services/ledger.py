"""The ledger as the application uses it: append, checkpoint, anchor, prove, audit.

Anchoring never holds up the ledger: with the chain unreachable, appends and
checkpoints go on and the background anchorer retries with exponential
backoff (:class:`Backoff`), saying so once when the chain goes away and once
when it is back, not at every retry. When it is back, the latest checkpoint
is anchored (a transaction recorded before it was sent is re-sent, never
made again), so nothing is anchored twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError as DuplicateRowError

from ledger import (
    AnchorError,
    AnchorRejectedError,
    AnchorUnavailableError,
    Checkpoint,
    Entry,
    EntryNotFoundError,
    Event,
    IntegrityError,
    LedgerError,
    NoteSigner,
    Receipt,
    audit_log,
    consistency_proof,
    inclusion_proof,
    log_id_for,
    open_checkpoint,
    sign_checkpoint,
)
from server.chain import ChainContext
from server.storage.ledger_store import CheckpointRecord, SqlLedgerStore
from server.storage.locks import session_lock

__all__ = ["Backoff", "CheckpointPolicy", "LedgerService", "VerifyReport"]

logger = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """When to sign: every ``every_n`` entries or after ``interval_s`` seconds."""

    every_n: int = 1000
    interval_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long the background anchorer waits after the chain failed to answer.

    ``first_s`` after the first failure, doubling with each failure in a row,
    never more than ``max_s`` (seconds, both > 0, ``first_s <= max_s``).
    """

    first_s: float = 1.0
    max_s: float = 300.0

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.max_s:
            raise ValueError(
                f"backoff needs 0 < first_s <= max_s, not {self.first_s} and {self.max_s}"
            )

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` (>= 1) failures in a row."""
        if failures < 1:
            return 0.0
        return min(self.max_s, self.first_s * 2.0 ** min(failures - 1, 62))


@dataclass
class VerifyReport:
    """What ``agri ledger verify`` found.

    Attributes:
        size: entries re-hashed.
        checkpoints: checkpoints whose signature and root verified.
        anchors_checked: anchor transactions confirmed on chain.
        notes: things worth knowing that are not failures.
        error: the first failure, or None when the log is intact.
        first_bad_index: the first bad entry, when one can be named.
    """

    size: int = 0
    checkpoints: int = 0
    anchors_checked: int = 0
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    first_bad_index: int | None = None

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return self.error is None


class LedgerService:
    """Appends, checkpoints, anchors and receipts over a :class:`SqlLedgerStore`.

    Args:
        store: the SQL store.
        signer: the log's checkpoint key; its name is the checkpoint origin.
        chain: where checkpoints are anchored, or None.
        policy: when to sign checkpoints automatically.
        backoff: how the background anchorer waits for an unreachable chain.
    """

    def __init__(
        self,
        store: SqlLedgerStore,
        signer: NoteSigner,
        *,
        chain: ChainContext | None = None,
        policy: CheckpointPolicy | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.store = store
        self.signer = signer
        self.verifier = signer.verifier()
        self.chain = chain
        self.policy = policy or CheckpointPolicy()
        # One anchorer at a time: this lock within the process, a session
        # lock in the database across processes (PostgreSQL).
        self._anchoring = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.backoff = backoff or Backoff()
        # The chain's state as the anchorer last saw it (guarded by _anchoring):
        # failures in a row, and the earliest time.monotonic() of the next
        # background attempt.
        self._chain_failures = 0
        self._chain_retry_at = 0.0
        # The anchorer's steps failing now, and their last error (logged once).
        self._worker_failing: dict[str, str] = {}
        # When the events it records happened: now, unless a replay (the demo's
        # story) sets its own clock. Checkpoints are always signed at the real time.
        self.clock: Callable[[], datetime] = _now

    @property
    def origin(self) -> str:
        """The checkpoint origin line (the key name)."""
        return self.signer.name

    # --- appends ----------------------------------------------------------------

    def append_events(self, conn: Connection, events: Sequence[Event]) -> list[Entry]:
        """Append events in the caller's transaction (with its domain change)."""
        return self.store.append(conn, [e.to_canonical_bytes() for e in events])

    def record(
        self,
        conn: Connection,
        kind: str,
        subjects: dict[str, str],
        actor: str,
        payload: dict[str, Any],
        when: datetime | None = None,
    ) -> int:
        """Append one event (at ``clock()`` unless ``when``) in the open transaction; its index."""
        (entry,) = self.append_events(
            conn, [Event(kind, subjects, actor, when or self.clock(), payload)]
        )
        return entry.index

    @contextmanager
    def transaction(self, conn: Connection | None = None) -> Iterator[Connection]:
        """The caller's transaction, or one of our own; after our own commits, the policy runs.

        Services write a change and its events inside; with ``conn`` they join
        the caller's transaction (an idempotent request), whose owner applies
        the checkpoint policy after it commits.
        """
        if conn is not None:
            yield conn
            return
        with self.store.engine.begin() as own:
            yield own
        self.after_commit()

    def append(self, items: Sequence[bytes]) -> list[Entry]:
        """Append entry bytes in their own transaction, then apply the policy."""
        entries = self.store.append_many(items)
        self.after_append()
        return entries

    def after_commit(self) -> None:
        """Apply the checkpoint policy after a change committed; never raises.

        The change is on record whatever happens here: a failure to sign (a
        locked database, a chain error) is logged and left to the background
        anchorer's next tick, so the caller is not told that its committed
        change failed (and does not retry it).
        """
        try:
            self.after_append()
        except DBAPIError as exc:  # the database went away: no traceback needed
            cause = str(exc.orig or exc).strip().split("\n")[0]
            logger.warning(
                "signing a due checkpoint failed (database: %s); the next tick retries",
                cause,
            )
        except Exception:
            logger.exception("signing a due checkpoint failed; the next tick retries")

    def after_append(self) -> CheckpointRecord | None:
        """Sign a checkpoint if the policy says one is due, then have it anchored.

        With the background anchorer running (the API server), anchoring is
        handed to it and this returns at once: a request never waits on a chain.
        Without it (the CLI, the demo), the checkpoint is anchored here.
        """
        head = self.store.head()
        latest = self.store.latest_checkpoint()
        signed_size = latest.size if latest else 0
        if head.size == signed_size:
            return None
        overdue = latest is not None and (
            (datetime.now(UTC) - latest.signed_at).total_seconds()
            >= self.policy.interval_s
        )
        if head.size - signed_size >= self.policy.every_n or overdue:
            record = self.checkpoint(anchor=False)
            self.request_anchor()
            return record
        return None

    # --- the background anchorer --------------------------------------------------

    def request_anchor(self) -> None:
        """Anchor the latest checkpoint: in the background if the anchorer runs, else now."""
        if self._worker is not None and self._worker.is_alive():
            self._wake.set()
        else:
            self.anchor_catch_up()

    def start_background(self, tick_s: float = 60.0) -> None:
        """Start the thread that applies the checkpoint policy and anchors.

        It wakes every ``tick_s`` seconds (a quiet server still signs and
        anchors due checkpoints) and whenever :meth:`request_anchor` asks.
        While the chain does not answer, it anchors only when the backoff
        (:attr:`backoff`) has passed, waking for that moment if it comes
        before the next tick; checkpoints are still signed on every wake.
        Idempotent; :meth:`stop_background` joins it.
        """
        if self._worker is not None and self._worker.is_alive():
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set():
                self._wake.wait(self._next_wait(tick_s))
                self._wake.clear()
                if self._stop.is_set():
                    break
                self._background_step("signing a due checkpoint", self.after_append)
                if self.anchor_due():
                    self._background_step("anchoring", self.anchor_catch_up)

        self._worker = threading.Thread(target=run, name="ledger-anchorer", daemon=True)
        self._worker.start()

    def anchor_due(self) -> bool:
        """Whether the background anchorer may try the chain now (not backing off)."""
        return self._chain_failures == 0 or time.monotonic() >= self._chain_retry_at

    def _next_wait(self, tick_s: float) -> float:
        """Seconds until the anchorer's next wake: the tick, or sooner for a retry."""
        if self._chain_failures == 0:
            return tick_s
        return max(0.0, min(tick_s, self._chain_retry_at - time.monotonic()))

    def _background_step(self, what: str, step: Callable[[], object]) -> None:
        """Run one step of the anchorer; a failure is logged once until it works again.

        A database that cannot be reached fails every tick until it is back:
        that is logged the first time (one line; a traceback for any other
        error), then nothing until the step works again, which is logged too.
        """
        try:
            step()
        except Exception as exc:  # keep going; the next tick retries
            cause = str(getattr(exc, "orig", None) or exc).strip().split("\n")[0]
            if what not in self._worker_failing:
                if isinstance(exc, DBAPIError):  # the database went away: one line
                    logger.warning(
                        "background %s failed (database: %s); it is retried at "
                        "every wake until it works",
                        what,
                        cause,
                    )
                else:
                    logger.exception(
                        "background %s failed; it is retried at every wake until "
                        "it works",
                        what,
                    )
            self._worker_failing[what] = cause
            return
        failed = self._worker_failing.pop(what, None)
        if failed is not None:
            logger.warning("background %s works again (it failed: %s)", what, failed)

    def stop_background(self) -> None:
        """Stop and join the background anchorer (no database work outlives it)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            self._stop.set()
            self._wake.set()
            worker.join()

    # --- checkpoints --------------------------------------------------------------

    def checkpoint(self, *, anchor: bool = True) -> CheckpointRecord:
        """Sign a checkpoint of the current head (or return the latest if current).

        Holds the sequencer lock while signing, so the checkpoint is of a head no
        writer is extending, and refuses to sign if it is not consistent with the
        previous checkpoint.

        Raises:
            InconsistentCheckpointError: the stored tree does not extend the last
                signed checkpoint (the database was altered).
        """
        with self.store.engine.begin() as conn:
            head = self.store.lock_head(conn)
            latest = self.store.latest_checkpoint(conn)
            if latest is not None and latest.size == head.size:
                record = latest
            else:
                if head.size == 0:
                    raise LedgerError("the log is empty: nothing to checkpoint")
                cp = Checkpoint(self.origin, head.size, head.root())
                previous = None
                proof: list[bytes] = []
                if latest is not None:
                    previous = open_checkpoint(latest.note, [self.verifier])
                    proof = consistency_proof(
                        self.store.bound(conn), previous.size, head.size
                    )
                note = sign_checkpoint(cp, self.signer, previous=previous, proof=proof)
                record = CheckpointRecord(
                    cp.size, cp.root_hash, note, datetime.now(UTC)
                )
                self.store.add_checkpoint(conn, record)
                logger.info("checkpoint signed at size %d", cp.size)
        if anchor:
            self.anchor_catch_up()
        return record

    # --- anchoring ----------------------------------------------------------------

    def anchor_catch_up(self) -> str:
        """Anchor the latest checkpoint if it is not yet; never raises for the chain.

        Re-sends recorded pending transactions first (idempotent), then prepares,
        records and sends one for the latest checkpoint. An unreachable chain
        leaves the pending record for the next call.

        Returns:
            A one-line status for operators.
        """
        if self.chain is None:
            return "anchoring disabled"
        with self._anchoring, session_lock(self.store.engine, "ledger:anchor") as held:
            if not held:
                return "another process is anchoring"
            try:
                status = self._anchor_catch_up(self.chain)
            except AnchorUnavailableError as exc:
                self._chain_down(exc)
                return f"chain unavailable, will catch up: {exc}"
            self._chain_up(status)
            return status

    def _chain_down(self, exc: AnchorUnavailableError) -> None:
        """Count a failed attempt and set the next; warn only when the chain just went."""
        self._chain_failures += 1
        delay = self.backoff.delay(self._chain_failures)
        self._chain_retry_at = time.monotonic() + delay
        if self._chain_failures == 1:
            logger.warning(
                "chain unavailable, anchoring will catch up later (appends and "
                "checkpoints go on; retrying after %.3g s, doubling up to %.3g s): %s",
                delay,
                self.backoff.max_s,
                exc,
            )
        else:
            logger.debug(
                "chain still unavailable after %d attempts; next in %.3g s: %s",
                self._chain_failures,
                delay,
                exc,
            )

    def _chain_up(self, status: str) -> None:
        """The chain answered: say so once if it had not, and stop backing off."""
        if self._chain_failures:
            logger.warning(
                "chain reachable again after %d failed attempts: %s",
                self._chain_failures,
                status,
            )
        self._chain_failures = 0
        self._chain_retry_at = 0.0

    def _anchor_catch_up(self, chain: ChainContext) -> str:
        """:meth:`anchor_catch_up`'s work, under the anchoring locks."""
        anchor = chain.anchor
        log_id = log_id_for(self.origin)
        try:
            for rec in self.store.anchors(["pending"]):
                cp = self._checkpoint_record(rec.tree_size)
                try:
                    receipt = anchor.submit(rec.pending(log_id, cp.root_hash))
                except AnchorRejectedError as exc:
                    self.store.finish_anchor(
                        rec.tree_size,
                        status="rejected",
                        block_number=None,
                        detail=str(exc),
                    )
                    continue
                self.store.finish_anchor(
                    rec.tree_size,
                    status="mined",
                    block_number=receipt.block_number,
                    detail=None,
                )
            latest = self.store.latest_checkpoint()
            if latest is None:
                return "no checkpoint to anchor"
            if self.store.anchor_for(latest.size) is not None:
                return f"checkpoint {latest.size} already anchored or recorded"
            done = [a.tree_size for a in self.store.anchors(["mined"])]
            if done and max(done) > latest.size:  # pragma: no cover - sizes only grow
                return "a larger checkpoint is already anchored"
            pending = anchor.prepare(
                Checkpoint(self.origin, latest.size, latest.root_hash)
            )
            try:
                self.store.record_pending_anchor(pending)
            except DuplicateRowError:  # another anchorer recorded it first
                return f"checkpoint {latest.size} already recorded for anchoring"
            receipt = anchor.submit(pending)
            self.store.finish_anchor(
                latest.size,
                status="mined",
                block_number=receipt.block_number,
                detail=None,
            )
            return f"anchored size {latest.size} in {receipt.tx_hash}"
        except AnchorUnavailableError:
            raise  # anchor_catch_up backs off and says so once
        except OSError as exc:  # a network error the adapter did not translate
            raise AnchorUnavailableError(f"chain unreachable: {exc}") from exc
        except AnchorError as exc:
            logger.error("anchoring failed: %s", exc)
            return f"anchoring failed: {exc}"

    def _checkpoint_record(self, size: int) -> CheckpointRecord:
        record = self.store.checkpoint_at(size)
        if record is None:
            raise IntegrityError(f"anchor for missing checkpoint {size}", index=None)
        return record

    # --- receipts -----------------------------------------------------------------

    def receipt(self, index: int) -> Receipt:
        """Return the receipt of entry ``index`` against the latest checkpoint.

        Signs a checkpoint first when none covers ``index`` yet.

        Raises:
            EntryNotFoundError: ``index`` is not in the log.
        """
        if index < 0 or index >= self.store.size():
            raise EntryNotFoundError(
                f"no ledger entry at index {index} (log size {self.store.size()})"
            )
        latest = self.store.latest_checkpoint()
        if latest is None or latest.size <= index:
            latest = self.checkpoint(anchor=False)
            self.request_anchor()
        entry = self.store.entry(index)
        proof = inclusion_proof(self.store, index, latest.size)
        anchor_rec = self.store.anchor_for(latest.size)
        return Receipt(
            index=index,
            tree_size=latest.size,
            entry=entry.data,
            leaf_hash=entry.leaf_hash,
            inclusion_proof=tuple(proof),
            checkpoint=latest.note,
            anchor=anchor_rec.receipt() if anchor_rec else None,
        )

    # --- audit --------------------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Re-hash everything stored and check signatures and anchors (the fsck)."""
        report = VerifyReport()
        try:
            checkpoints = []
            for rec in self.store.checkpoints():
                cp = open_checkpoint(rec.note, [self.verifier])
                if (cp.size, cp.root_hash) != (rec.size, rec.root_hash):
                    raise IntegrityError(
                        f"checkpoint row {rec.size} differs from its signed note",
                        index=None,
                    )
                checkpoints.append(cp)
            result = audit_log(
                self.store.iter_entries(),
                head=self.store.head(),
                checkpoints=checkpoints,
            )
            report.size = result.size
            report.checkpoints = len(result.checkpoints)
            if result.unsigned_tail:
                report.notes.append(
                    f"{result.unsigned_tail} entries after the latest checkpoint are "
                    "not signed yet"
                )
            self._verify_anchors(report, {cp.size: cp for cp in checkpoints})
        except IntegrityError as exc:
            report.error = str(exc)
            report.first_bad_index = exc.index
        except LedgerError as exc:
            report.error = f"checkpoint: {exc}"
        except (TypeError, ValueError) as exc:  # a row of the wrong type: altered
            report.error = f"an entry is unreadable ({exc})"
        return report

    def _verify_anchors(
        self, report: VerifyReport, by_size: dict[int, Checkpoint]
    ) -> None:
        mined = self.store.anchors(["mined"])
        pending = self.store.anchors(["pending"])
        if pending:
            report.notes.append(f"{len(pending)} anchor transaction(s) still pending")
        if not mined:
            return
        if self.chain is None:
            report.notes.append("anchors not checked: anchoring is disabled")
            return
        anchor = self.chain.anchor
        try:
            for rec in mined:
                found = anchor.find(rec.tx_hash)
                if found is None:
                    if self.chain.ephemeral:
                        report.notes.append(
                            "anchors recorded on an earlier in-process chain cannot be "
                            "re-checked"
                        )
                        return
                    raise IntegrityError(
                        f"anchor tx {rec.tx_hash} of size {rec.tree_size} is not on "
                        "chain",
                        index=None,
                    )
                report.anchors_checked += 1
            log_id = log_id_for(self.origin)
            size, root = anchor.anchored(log_id)
            cp = by_size.get(size)
            if size and (cp is None or cp.root_hash != root):
                raise IntegrityError(
                    f"the chain anchors size {size} with a root this log does not "
                    "have (log truncated or rewritten?)",
                    index=min(size, report.size),
                )
        except AnchorUnavailableError as exc:
            report.notes.append(f"anchors not checked: {exc}")
