"""API routes of the service itself and its ledger: health, and an entry's receipt.

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from ledger import EntryNotFoundError
from server.http.deps import API, Deps
from server.services.auth import User
from server.services.history import HistoryService

__all__ = ["MAX_INDEX", "Health", "health_router", "ledger_router"]

MAX_INDEX = 2**63 - 1  # the largest SQL BIGINT: a ledger index beyond it cannot exist


class Health(BaseModel):
    """Liveness and the ledger's size."""

    status: str = Field(examples=["ok"])
    ledger_size: int = Field(examples=[1042])


def health_router(deps: Deps) -> APIRouter:
    """The health route (no login)."""
    router = APIRouter(prefix=API)

    @router.get("/health", tags=["service"])
    def health() -> Health:
        """Liveness, and the ledger's current size."""
        return Health(status="ok", ledger_size=deps.ctx.ledger.store.size())

    return router


def ledger_router(deps: Deps) -> APIRouter:
    """Routes for ledger receipts."""
    router = APIRouter(prefix=API)
    history = HistoryService(deps.ctx.engine)

    @router.get("/ledger/receipts/{index}", tags=["ledger"])
    def receipt(
        index: Annotated[int, PathParam(ge=0, le=MAX_INDEX)],
        user: Annotated[User, Depends(deps.may("read"))],
    ) -> dict[str, Any]:
        """The receipt of ledger entry ``index``: verifiable offline with the verifier key.

        A farmer may fetch only receipts of entries whose subjects name their farmer id.
        """
        # Refused before the receipt is built: building one may sign a checkpoint.
        history.check_receipt(user, index)
        try:
            found = deps.ctx.ledger.receipt(index)
        except EntryNotFoundError as exc:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no ledger entry {index}"
            ) from exc
        doc: dict[str, Any] = found.to_json()
        return doc

    return router
