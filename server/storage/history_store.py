"""A record's history as stored: the ledger entries indexed under a subject.

Every appended event is indexed by its subjects in ``ledger_subjects`` (written
by :meth:`server.storage.ledger_store.SqlLedgerStore.append` in the append's
transaction), so the entries naming one record are one indexed range read.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, exists, func, select

from server.storage.schema import ledger_entries, ledger_subjects

__all__ = ["HistoryStore", "SubjectEntry"]


@dataclass(frozen=True)
class SubjectEntry:
    """A ledger entry naming the subject: its index and its event's bytes (JSON)."""

    index: int
    data: bytes


class HistoryStore:
    """Reads of ``ledger_subjects`` joined to ``ledger_entries``."""

    def entries(
        self,
        conn: Connection,
        kind: str,
        subject_id: str,
        *,
        farmer_id: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[SubjectEntry], int]:
        """The entries naming ``kind`` ``subject_id``, oldest first: a page and the total.

        Args:
            conn: the connection to read on.
            kind: the subject's kind (``claim``, ``policy``, ``plot``...).
            subject_id: the subject's id.
            farmer_id: only entries that also name this farmer (a subject ``farmer``);
                None for every entry.
            offset: entries to skip.
            limit: most entries on the page.
        """
        s = ledger_subjects
        where = [s.c.kind == kind, s.c.subject_id == subject_id]
        if farmer_id is not None:
            mine = ledger_subjects.alias("mine")
            where.append(
                exists().where(
                    mine.c.idx == s.c.idx,
                    mine.c.kind == "farmer",
                    mine.c.subject_id == farmer_id,
                )
            )
        cond = and_(*where)
        total = conn.execute(
            select(func.count()).select_from(s).where(cond)
        ).scalar_one()
        rows = conn.execute(
            select(ledger_entries.c.idx, ledger_entries.c.data)
            .select_from(s.join(ledger_entries, ledger_entries.c.idx == s.c.idx))
            .where(cond)
            .order_by(s.c.idx)
            .offset(offset)
            .limit(limit)
        ).all()
        return [SubjectEntry(int(r.idx), bytes(r.data)) for r in rows], int(total)
