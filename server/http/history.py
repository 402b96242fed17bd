"""API route of a record's history: its ledger entries, oldest first, with receipts.

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from server.http.deps import API, Deps, Limit, Offset, PageOut, page_of
from server.services.auth import User
from server.services.history import HistoryEntry, HistoryService, Kind

__all__ = ["HistoryEntryOut", "history_router"]


class HistoryEntryOut(BaseModel):
    """One ledger entry of a record's history and where its receipt is."""

    index: int = Field(examples=[42])
    type: str = Field(examples=["claim.filed"])
    actor: str = Field(examples=["li.wei"])
    timestamp: str = Field(examples=["2025-04-14T08:00:00Z"])
    subjects: dict[str, str]
    payload: dict[str, Any]
    receipt: str = Field(examples=["/api/v1/ledger/receipts/42"])


def _out(e: HistoryEntry) -> HistoryEntryOut:
    return HistoryEntryOut(
        index=e.index,
        type=e.type,
        actor=e.actor,
        timestamp=e.timestamp,
        subjects=e.subjects,
        payload=e.payload,
        receipt=e.receipt,
    )


def history_router(deps: Deps) -> APIRouter:
    """Routes for records' histories."""
    router = APIRouter(prefix=API)
    readers = deps.may("read")
    history = HistoryService(deps.ctx.engine)

    @router.get("/history/{kind}/{subject_id}", tags=["ledger"])
    def record_history(
        kind: Kind,
        subject_id: Annotated[str, PathParam(min_length=1, max_length=255)],
        user: Annotated[User, Depends(readers)],
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> PageOut[HistoryEntryOut]:
        """The ledger entries naming a record, oldest first, each with its receipt's path.

        ``kind``: application, policy, claim, animal, plot (its id in the
        farmer's file) or farmer. A farmer sees only entries naming himself;
        another farmer's record is 403.
        """
        page = history.history(
            user,
            kind,
            subject_id,
            offset=offset,
            limit=limit,
        )
        return page_of(HistoryEntryOut, page, _out)

    return router
