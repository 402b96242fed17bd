"""The HTTP API (FastAPI), versioned under ``/api/v1``.

Built so far: health, password login issuing expiring bearer tokens, role
checks, and ledger receipts. Every error is a JSON body ``{"detail": ...}``
that names the problem; no stack trace reaches a client.

(No ``from __future__ import annotations`` here: FastAPI reads the
dependencies of route functions from their annotations, and closures'
string annotations cannot be resolved.)
"""

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from ledger import EntryNotFoundError
from server.auth import AuthError, Role, User, UserStore
from server.context import AppContext

__all__ = ["create_app"]

API = "/api/v1"
_bearer = HTTPBearer(auto_error=False)


class Credentials(BaseModel):
    """A login."""

    username: str = Field(examples=["adjuster1"])
    password: str = Field(examples=["correct horse battery"])


class Token(BaseModel):
    """A bearer token and when it expires."""

    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class Health(BaseModel):
    """Liveness and the ledger's size."""

    status: str = Field(examples=["ok"])
    ledger_size: int = Field(examples=[1042])


def create_app(ctx: AppContext) -> FastAPI:
    """The API on a wired application context."""
    app = FastAPI(
        title="Agricultural insurance",
        version="1",
        openapi_url=f"{API}/openapi.json",
        docs_url=f"{API}/docs",
    )
    user_store = UserStore(ctx.engine, ctx.settings.token_ttl_s)

    def current_user(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> User:
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing bearer token: log in at POST /api/v1/auth/token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        user = user_store.user_for(credentials.credentials)
        if user is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "the token is unknown or expired: log in again",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return user

    def require(*roles: Role) -> Callable[..., User]:
        def check(user: Annotated[User, Depends(current_user)]) -> User:
            if user.role not in roles:
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN,
                    f"role {user.role} may not do this (allowed: {', '.join(roles)})",
                )
            return user

        return check

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": "internal error; it has been logged"}, status_code=500
        )

    @app.get(f"{API}/health", tags=["service"])
    def health() -> Health:
        """Liveness, and the ledger's current size."""
        return Health(status="ok", ledger_size=ctx.ledger.store.size())

    @app.post(f"{API}/auth/token", tags=["auth"])
    def login(credentials: Credentials) -> Token:
        """Exchange a username and password for a bearer token."""
        try:
            token, expires = user_store.login(
                credentials.username, credentials.password
            )
        except AuthError as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
        return Token(access_token=token, expires_at=expires)

    @app.get(f"{API}/ledger/receipts/{{index}}", tags=["ledger"])
    def receipt(
        index: int,
        user: Annotated[
            User,
            Depends(
                require("farmer", "field_agent", "underwriter", "adjuster", "admin")
            ),
        ],
    ) -> dict[str, Any]:
        """The receipt of ledger entry ``index``: verifiable offline with the verifier key.

        A farmer may fetch only receipts of entries whose subjects name their farmer id.
        """
        if index < 0:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "index must be >= 0"
            )
        try:
            found = ctx.ledger.receipt(index)
        except EntryNotFoundError as exc:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no ledger entry {index}"
            ) from exc
        if user.role == "farmer":
            subjects = json.loads(found.entry).get("subjects", {})
            if subjects.get("farmer") != user.farmer_id:
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN,
                    f"entry {index} is not one of your records",
                )
        doc: dict[str, Any] = found.to_json()
        return doc

    return app
