"""A record's history: the ledger entries whose event names it, oldest first, with receipts.

Every appended event is indexed by its subjects (``ledger_subjects``, written
in the append's transaction; migration 0011 indexed the entries before it), so
the history of a claim, policy, application, animal, plot or farmer is one
indexed range read, whatever the size of the log.

Who sees what: staff see every history. A farmer sees only entries whose
subjects name his own farmer id (the rule of the receipt endpoint,
:meth:`HistoryService.check_receipt`, so every receipt listed can be
fetched), and asking for another farmer's claim, policy, application,
animal or farmer record is refused (403).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import Connection, Engine

from ledger import EntryNotFoundError
from server.errors import ForbiddenError, NotFoundError
from server.services.access import Caller, check_may_see, may_see, own_farmer
from server.services.work import reading
from server.storage.history_store import HistoryStore
from server.storage.ledger_store import SqlLedgerStore
from server.storage.owner_store import OWNED_KINDS, OwnerStore
from server.storage.paging import Page

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


class HistoryService:
    """Ledger entries by subject, for a record's history page."""

    def __init__(self, engine: Engine) -> None:
        """Read through ``engine`` (the ledger's database)."""
        self.engine = engine
        self._entries = HistoryStore()
        self._owners = OwnerStore()

    def _check_owner(
        self, conn: Connection, viewer: Caller, kind: str, sid: str
    ) -> None:
        """Refuse a farmer another farmer's record (403)."""
        if own_farmer(viewer) is None:  # staff: every record
            return
        if kind == "farmer":
            check_may_see(viewer, sid, "farmer's history")
            return
        if kind not in OWNED_KINDS:  # plots: filtered entry by entry
            return
        farmer = self._owners.farmer_of(conn, kind, sid)
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

        A farmer gets only the entries that also name himself.

        Raises:
            ForbiddenError: a farmer asking for another farmer's record.
        """
        with reading(self.engine) as conn:
            self._check_owner(conn, viewer, kind, subject_id)
            rows, total = self._entries.entries(
                conn,
                kind,
                subject_id,
                farmer_id=own_farmer(viewer),
                offset=offset,
                limit=limit,
            )
        items = [_entry(r.index, r.data) for r in rows]
        return Page(items, total, offset, limit)

    def check_receipt(self, viewer: Caller, index: int) -> None:
        """Refuse the receipt of entry ``index`` to a viewer who may not fetch it.

        Call before the receipt is built: building one may sign a checkpoint,
        which a refused request must not. Staff fetch every receipt; a farmer
        only those of entries whose subjects name his farmer id (the rule of
        :meth:`history`, so every receipt a history lists can be fetched).

        Raises:
            NotFoundError: no entry ``index`` (field ``index``).
            ForbiddenError: a farmer and an entry that does not name him.
        """
        if own_farmer(viewer) is None:  # staff: every receipt
            return
        try:
            data = SqlLedgerStore(self.engine).entry(index).data
        except EntryNotFoundError as exc:
            raise NotFoundError(f"no ledger entry {index}", field="index") from exc
        if not may_see(viewer, _entry(index, data).subjects.get("farmer")):
            raise ForbiddenError(f"entry {index} is not one of your records")
