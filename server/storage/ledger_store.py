"""The ledger's SQL storage: entries, sequencer head, checkpoints, pending anchors."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from ledger import AnchorReceipt, Entry, EntryNotFoundError, Head, PendingAnchor
from ledger import sequence as sequence_entries
from server.storage.schema import (
    ledger_anchors,
    ledger_checkpoints,
    ledger_entries,
    ledger_head,
)

__all__ = ["AnchorRecord", "CheckpointRecord", "SqlLedgerStore", "subject_rows"]

logger = logging.getLogger(__name__)

READ_CHUNK = 10_000  # rows per fetch when streaming the whole log


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    """A stored signed checkpoint."""

    size: int
    root_hash: bytes
    note: str
    signed_at: datetime


@dataclass(frozen=True, slots=True)
class AnchorRecord:
    """A stored anchor transaction and what became of it."""

    tree_size: int
    chain_id: int
    tx_hash: str
    raw_tx: bytes
    status: str
    block_number: int | None
    detail: str | None

    def pending(self, log_id: bytes, root_hash: bytes) -> PendingAnchor:
        """Rebuild the prepared transaction to re-send it."""
        return PendingAnchor(
            self.chain_id, log_id, self.tree_size, root_hash, self.tx_hash, self.raw_tx
        )

    def receipt(self) -> AnchorReceipt | None:
        """The chain receipt, once mined."""
        if self.status != "mined" or self.block_number is None:
            return None
        return AnchorReceipt(self.chain_id, self.tx_hash, self.block_number)


class SqlLedgerStore:
    """Ledger rows in SQLite or PostgreSQL through SQLAlchemy Core.

    Appends take the sequencer lock (the ``ledger_head`` row, ``FOR UPDATE`` on
    PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite) for the rest of the caller's
    transaction, so concurrent writers in any number of processes get gap-free,
    unique indices and one history.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _reading(self, conn: Connection | None = None) -> Iterator[Connection]:
        """Use the caller's connection, or a read-only one (no write lock)."""
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as c:
            c.execution_options(readonly=True)
            yield c

    def bound(self, conn: Connection) -> _BoundReader:
        """A :class:`ledger.NodeReader` reading through ``conn`` (its transaction)."""
        return _BoundReader(self, conn)

    # --- writes ---------------------------------------------------------------

    def append(self, conn: Connection, items: Sequence[bytes]) -> list[Entry]:
        """Append ``items`` within the caller's transaction and return the entries.

        The caller commits; a rollback undoes the entries together with whatever
        domain change the transaction made. Each entry's subjects (its event's
        ``subjects``) are indexed in ``ledger_subjects`` in the same transaction,
        for a record's history.
        """
        head = self.lock_head(conn)
        entries, new_head = sequence_entries(head, items)
        if not entries:
            return entries
        # Entries are tuples in column order: bound as they are, through the
        # driver's executemany (SQLAlchemy's per-row processing costs 3x here).
        conn.exec_driver_sql(_insert_sql(conn), entries)
        subjects = [row for e in entries for row in subject_rows(e.index, e.data)]
        if subjects:
            conn.exec_driver_sql(_insert_subjects_sql(conn), subjects)
        conn.execute(
            update(ledger_head)
            .where(ledger_head.c.id == 1)
            .values(
                size=new_head.size,
                link=new_head.link,
                frontier=new_head.frontier_blob(),
            )
        )
        return entries

    def lock_head(self, conn: Connection) -> Head:
        """Take the sequencer lock for the rest of ``conn``'s transaction; return the head."""
        row = conn.execute(
            select(ledger_head.c.size, ledger_head.c.link, ledger_head.c.frontier)
            .where(ledger_head.c.id == 1)
            .with_for_update()
        ).one()
        return Head.from_blob(row.size, row.link, row.frontier)

    def append_many(self, items: Sequence[bytes]) -> list[Entry]:
        """Append ``items`` in a transaction of their own."""
        with self.engine.begin() as conn:
            return self.append(conn, items)

    # --- reads ----------------------------------------------------------------

    def head(self) -> Head:
        """Return the stored sequencer head."""
        with self._reading() as conn:
            row = conn.execute(
                select(ledger_head.c.size, ledger_head.c.link, ledger_head.c.frontier)
            ).one()
        return Head.from_blob(row.size, row.link, row.frontier)

    def size(self) -> int:
        """Return the number of entries according to the head."""
        return self.head().size

    def read_hashes(
        self, indices: Collection[int], conn: Connection | None = None
    ) -> Mapping[int, tuple[bytes, bytes]]:
        """Return ``{index: (leaf_hash, nodes)}`` for stored ``indices``."""
        if not indices:
            return {}
        with self._reading(conn) as conn:
            rows = conn.execute(
                select(
                    ledger_entries.c.idx,
                    ledger_entries.c.leaf_hash,
                    ledger_entries.c.nodes,
                ).where(ledger_entries.c.idx.in_(sorted(indices)))
            )
            return {r.idx: (r.leaf_hash, r.nodes) for r in rows}

    def entry(self, index: int) -> Entry:
        """Return one entry.

        Raises:
            EntryNotFoundError: no entry at ``index``.
        """
        with self._reading() as conn:
            r = conn.execute(
                select(ledger_entries).where(ledger_entries.c.idx == index)
            ).one_or_none()
        if r is None:
            raise EntryNotFoundError(f"no ledger entry at index {index}")
        return Entry(r.idx, r.data, r.leaf_hash, r.prev_link, r.nodes)

    def iter_entries(self, start: int = 0) -> Iterator[Entry]:
        """Stream every entry from ``start`` on, in index order, in chunks."""
        last = start - 1
        with self._reading() as conn:
            while True:
                rows = conn.execute(
                    select(ledger_entries)
                    .where(ledger_entries.c.idx > last)
                    .order_by(ledger_entries.c.idx)
                    .limit(READ_CHUNK)
                ).all()
                if not rows:
                    return
                for r in rows:
                    yield Entry(r.idx, r.data, r.leaf_hash, r.prev_link, r.nodes)
                last = rows[-1].idx

    def count_rows(self) -> int:
        """Return the number of stored entry rows (not trusting the head)."""
        with self._reading() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(ledger_entries)
                ).scalar_one()
            )

    # --- checkpoints ----------------------------------------------------------

    def latest_checkpoint(
        self, conn: Connection | None = None
    ) -> CheckpointRecord | None:
        """Return the checkpoint of the largest size, or None."""
        stmt = (
            select(ledger_checkpoints)
            .order_by(ledger_checkpoints.c.size.desc())
            .limit(1)
        )
        with self._reading(conn) as c:
            r = c.execute(stmt).one_or_none()
        return None if r is None else _checkpoint(r)

    def checkpoint_at(self, size: int) -> CheckpointRecord | None:
        """Return the checkpoint of exactly ``size`` entries, or None."""
        with self._reading() as conn:
            r = conn.execute(
                select(ledger_checkpoints).where(ledger_checkpoints.c.size == size)
            ).one_or_none()
        return None if r is None else _checkpoint(r)

    def checkpoints(self) -> list[CheckpointRecord]:
        """Return every stored checkpoint, smallest first."""
        with self._reading() as conn:
            rows = conn.execute(
                select(ledger_checkpoints).order_by(ledger_checkpoints.c.size)
            )
            return [_checkpoint(r) for r in rows]

    def add_checkpoint(self, conn: Connection, record: CheckpointRecord) -> None:
        """Store a signed checkpoint within the caller's transaction."""
        conn.execute(
            insert(ledger_checkpoints).values(
                size=record.size,
                root_hash=record.root_hash,
                note=record.note,
                signed_at=record.signed_at,
            )
        )

    # --- anchors --------------------------------------------------------------

    def record_pending_anchor(self, pending: PendingAnchor) -> None:
        """Record a signed anchor transaction before it is sent."""
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(
                insert(ledger_anchors).values(
                    tree_size=pending.tree_size,
                    chain_id=pending.chain_id,
                    tx_hash=pending.tx_hash,
                    raw_tx=pending.raw_tx,
                    status="pending",
                    created_at=now,
                    updated_at=now,
                )
            )

    def finish_anchor(
        self,
        tree_size: int,
        *,
        status: str,
        block_number: int | None,
        detail: str | None,
    ) -> None:
        """Record what became of an anchor transaction."""
        with self.engine.begin() as conn:
            conn.execute(
                update(ledger_anchors)
                .where(ledger_anchors.c.tree_size == tree_size)
                .values(
                    status=status,
                    block_number=block_number,
                    detail=detail,
                    updated_at=datetime.now(UTC),
                )
            )

    def anchors(self, statuses: Iterable[str] | None = None) -> list[AnchorRecord]:
        """Return anchor records, smallest tree size first, optionally by status."""
        stmt = select(ledger_anchors).order_by(ledger_anchors.c.tree_size)
        if statuses is not None:
            stmt = stmt.where(ledger_anchors.c.status.in_(list(statuses)))
        with self._reading() as conn:
            return [_anchor(r) for r in conn.execute(stmt)]

    def anchor_for(self, tree_size: int) -> AnchorRecord | None:
        """Return the anchor record of one checkpoint, if any."""
        with self._reading() as conn:
            r = conn.execute(
                select(ledger_anchors).where(ledger_anchors.c.tree_size == tree_size)
            ).one_or_none()
        return None if r is None else _anchor(r)


MAX_SUBJECT_KIND = 32
MAX_SUBJECT_ID = 255
"""Longest subject kind and id indexed in ``ledger_subjects`` (the services' ids are shorter)."""


def subject_rows(index: int, data: bytes) -> list[tuple[str, str, int]]:
    """The ``ledger_subjects`` rows of one entry: ``(kind, id, index)`` per subject.

    ``data`` is an event's canonical JSON (``ledger.Event``); entry bytes that
    are not an event document, and subjects longer than the columns, give no row.
    """
    if not data.startswith(b"{"):
        return []
    try:
        found = json.loads(data).get("subjects")
    except (ValueError, AttributeError, RecursionError):
        return []
    if not isinstance(found, dict):
        return []
    return [
        (kind, value, index)
        for kind, value in found.items()
        if isinstance(kind, str)
        and isinstance(value, str)
        and 0 < len(kind) <= MAX_SUBJECT_KIND
        and 0 < len(value) <= MAX_SUBJECT_ID
    ]


def _insert_subjects_sql(conn: Connection) -> str:
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return (
        "INSERT INTO ledger_subjects (kind, subject_id, idx) "
        f"VALUES ({mark}, {mark}, {mark})"
    )


def _insert_sql(conn: Connection) -> str:
    # pysqlite binds "?" (qmark); psycopg binds "%s" (format/pyformat).
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return (
        "INSERT INTO ledger_entries (idx, data, leaf_hash, prev_link, nodes) "
        f"VALUES ({', '.join([mark] * 5)})"
    )


def _anchor(r: Any) -> AnchorRecord:
    return AnchorRecord(
        r.tree_size, r.chain_id, r.tx_hash, r.raw_tx, r.status, r.block_number, r.detail
    )


def _checkpoint(r: Any) -> CheckpointRecord:
    return CheckpointRecord(r.size, r.root_hash, r.note, r.signed_at)


class _BoundReader:
    """Reads tree hashes through one connection (inside its transaction)."""

    def __init__(self, store: SqlLedgerStore, conn: Connection) -> None:
        self._store = store
        self._conn = conn

    def read_hashes(
        self, indices: Collection[int]
    ) -> Mapping[int, tuple[bytes, bytes]]:
        """Return ``{index: (leaf_hash, nodes)}`` for stored ``indices``."""
        return self._store.read_hashes(indices, self._conn)
