"""A record's history: the ledger entries whose event names it, oldest first, with receipts.

Every appended event is indexed by its subjects (``ledger_subjects``, written
in the append's transaction; migration 0011 indexed the entries before it), so
the history of a claim, policy, application, animal, plot or farmer is one
indexed range read, whatever the size of the log.

Who sees what: staff see every history. A farmer sees only entries whose
subjects name his own farmer id (the rule of the receipt endpoint, so every
receipt listed can be fetched), and asking for another farmer's claim,
policy, application, animal or farmer record is refused (403).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import Connection, Engine, and_, exists, func, select

from server.services.access import Caller, check_may_see, only_theirs, own_farmer
from server.storage.paging import Page
from server.storage.schema import (
    animals,
    applications,
    claims,
    ledger_entries,
    ledger_subjects,
    policies,
)

__all__ = ["KINDS", "HistoryEntry", "HistoryService", "Kind", "receipt_path"]

Kind = Literal["application", "policy", "claim", "animal", "plot", "farmer"]
KINDS: tuple[Kind, ...] = get_args(Kind)


def receipt_path(index: int) -> str:
    """The API path of entry ``index``'s receipt."""
    return f"/api/v1/ledger/receipts/{index}"


@dataclass(frozen=True)
class HistoryEntry:
    """One ledger entry of a record's history (its event, decoded)."""

    index: int
    type: str
    actor: str
    timestamp: str
    subjects: dict[str, str]
    payload: dict[str, Any]

    @property
    def receipt(self) -> str:
        """The API path of this entry's receipt."""
        return receipt_path(self.index)


def _entry(index: int, data: bytes) -> HistoryEntry:
    try:
        doc = json.loads(data)
    except ValueError:  # pragma: no cover - indexed entries are events
        doc = {}
    return HistoryEntry(
        index,
        str(doc.get("type", "")),
        str(doc.get("actor", "")),
        str(doc.get("timestamp", "")),
        dict(doc.get("subjects") or {}),
        dict(doc.get("payload") or {}),
    )


_OWNERS = {
    "claim": (claims.c.farmer_id, claims.c.id),
    "policy": (policies.c.farmer_id, policies.c.id),
    "application": (applications.c.farmer_id, applications.c.id),
    "animal": (animals.c.farm, animals.c.tag),
}


class HistoryService:
    """Ledger entries by subject, for a record's history page."""

    def __init__(self, engine: Engine) -> None:
        """Read through ``engine`` (the ledger's database)."""
        self.engine = engine

    def _read(self) -> Connection:
        return self.engine.connect().execution_options(readonly=True)

    @staticmethod
    def _check_owner(conn: Connection, viewer: Caller, kind: str, sid: str) -> None:
        """Refuse a farmer another farmer's record (403)."""
        if own_farmer(viewer) is None:  # staff: every record
            return
        if kind == "farmer":
            check_may_see(viewer, sid, "farmer's history")
            return
        owner = _OWNERS.get(kind)
        if owner is None:  # plots: filtered entry by entry
            return
        farmer = conn.execute(select(owner[0]).where(owner[1] == sid)).scalar()
        if farmer is not None:  # an unknown record: its entries are filtered
            check_may_see(viewer, farmer, kind)

    def history(
        self,
        viewer: Caller,
        kind: Kind,
        subject_id: str,
        *,
        offset: int = 0,
        limit: int = 50,
    ) -> Page:
        """The entries naming ``kind`` ``subject_id``, oldest first, one page.

        Raises:
            ForbiddenError: a farmer asking for another farmer's record.
        """
        s = ledger_subjects
        where = [s.c.kind == kind, s.c.subject_id == subject_id]
        mine = ledger_subjects.alias("mine")
        theirs = only_theirs(viewer, mine.c.subject_id)
        if theirs is not None:  # a farmer: only entries naming himself
            where.append(
                exists().where(mine.c.idx == s.c.idx, mine.c.kind == "farmer", theirs)
            )
        cond = and_(*where)
        with self._read() as conn:
            self._check_owner(conn, viewer, kind, subject_id)
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
        items = [_entry(r.idx, bytes(r.data)) for r in rows]
        return Page(items, int(total), offset, limit)
