"""The HTTP API (FastAPI), versioned under ``/api/v1``.

Health, password login issuing expiring bearer tokens, roles, ledger
receipts and the photo quality gate live here; farmers, products, animals,
applications and policies in :mod:`server.http.records`; claims in
:mod:`server.http.claims`. Every error is a JSON body ``{"detail": ...}``
that names the problem (and ``"field"`` when one field is at fault); no
stack trace reaches a client.

(No ``from __future__ import annotations`` here: FastAPI reads the
dependencies of route functions from their annotations, and closures'
string annotations cannot be resolved.)
"""

import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, HTTPException, Request, UploadFile, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from claims.errors import ClaimsError
from ledger import EntryNotFoundError
from livestock.errors import (
    ImageError,
    LivestockError,
    ModelError,
    RegistryError,
    TagError,
)
from remote_sensing.errors import PlotFileError, RasterError, RemoteSensingError
from server.http.claims import claims_router
from server.http.deps import API, Deps, Limit, Offset, PageOut, read_photos
from server.http.records import records_router
from server.services.auth import AuthError, Role, User, UserStore
from server.context import AppContext
from server.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServiceError,
)
from underwriting.errors import MoneyError, ProductError, UnderwritingError

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

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


class UserIn(BaseModel):
    """A new API user (admins create them)."""

    username: str = Field(min_length=1, max_length=64, examples=["li.wei"])
    password: str = Field(
        min_length=10, max_length=200, examples=["correct horse battery"]
    )
    role: Role = Field(examples=["field_agent"])
    farmer_id: str | None = Field(None, max_length=64, examples=[None])


class UserOut(BaseModel):
    """An API user (never the password)."""

    id: str
    username: str
    role: str
    farmer_id: str | None


class Health(BaseModel):
    """Liveness and the ledger's size."""

    status: str = Field(examples=["ok"])
    ledger_size: int = Field(examples=[1042])


_DOMAIN_FIELDS: tuple[tuple[type[Exception], str], ...] = (
    (TagError, "tag"),
    (ImageError, "files"),
    (RegistryError, "tag"),
    (MoneyError, "amount"),
    (ProductError, "terms"),
    (PlotFileError, "file"),
    (RasterError, "imagery"),
)


def create_app(ctx: AppContext) -> FastAPI:
    """The API on a wired application context."""
    tick_s = min(60.0, ctx.settings.checkpoint_interval_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The checkpoint policy runs after appends; a quiet server still signs
        # (and anchors) what was appended once the interval has passed. A
        # thread, joined at shutdown, so no database work outlives the app.
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(tick_s):
                try:
                    ctx.ledger.after_append()
                except Exception:  # keep ticking; the next tick retries
                    logger.exception("periodic checkpoint failed")

        ticker = threading.Thread(target=tick, name="checkpoint-tick", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join()

    app = FastAPI(
        title="Agricultural insurance",
        version="1",
        openapi_url=f"{API}/openapi.json",
        docs_url=f"{API}/docs",
        lifespan=lifespan,
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

    @app.exception_handler(ServiceError)
    async def _refused(request: Request, exc: ServiceError) -> JSONResponse:
        code = status.HTTP_422_UNPROCESSABLE_CONTENT
        for kind, kind_code in (
            (NotFoundError, status.HTTP_404_NOT_FOUND),
            (ForbiddenError, status.HTTP_403_FORBIDDEN),
            (ConflictError, status.HTTP_409_CONFLICT),
        ):
            if isinstance(exc, kind):
                code = kind_code
        return JSONResponse(exc.body(), status_code=code)

    @app.exception_handler(LivestockError)
    @app.exception_handler(UnderwritingError)
    @app.exception_handler(ClaimsError)
    @app.exception_handler(RemoteSensingError)
    async def _domain(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, ModelError):
            return await _unexpected(request, exc)
        field = next((f for kind, f in _DOMAIN_FIELDS if isinstance(exc, kind)), None)
        body: dict[str, Any] = {"detail": str(exc)}
        if field:
            body["field"] = field
        return JSONResponse(body, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error(
            "unexpected error on %s %s", request.method, request.url.path, exc_info=exc
        )
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

    @app.post(f"{API}/users", tags=["auth"], status_code=201)
    def create_user(
        new: UserIn, _: Annotated[User, Depends(require("admin"))]
    ) -> UserOut:
        """Create a user with a role (admins); farmers need the farmer id of their records."""
        try:
            u = user_store.create(new.username, new.password, new.role, new.farmer_id)
        except AuthError as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)
            ) from exc
        return UserOut(id=u.id, username=u.username, role=u.role, farmer_id=u.farmer_id)

    @app.get(f"{API}/users", tags=["auth"])
    def list_users(
        _: Annotated[User, Depends(require("admin"))],
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> PageOut[UserOut]:
        """Users by name (admins)."""
        found, total = user_store.list(offset, limit)
        return PageOut[UserOut](
            items=[
                UserOut(
                    id=u.id, username=u.username, role=u.role, farmer_id=u.farmer_id
                )
                for u in found
            ],
            total=total,
            offset=offset,
            limit=limit,
        )

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

    def faceid() -> Any:
        """The face-ID model, loaded on first use (checksum verified)."""
        return ctx.registry().faceid

    @app.post(f"{API}/photos/check", tags=["livestock"])
    async def check_photos(
        files: Annotated[
            list[UploadFile], File(description="Cow-face photos, JPEG or PNG.")
        ],
        user: Annotated[User, Depends(require("field_agent"))],
    ) -> dict[str, Any]:
        """Run the quality gate on photos before enrolment or a claim (field agents).

        Each photo gets ``passed`` and its reasons (too small, too dark or bright,
        blurred, not a cow face); unreadable files and files over the size limit
        are named with the problem.
        """
        from livestock import Photo

        photos = [Photo(name, data) for name, data in await read_photos(files)]
        analyses = await run_in_threadpool(lambda: faceid().analyse(photos))
        return {
            "photos": [
                {
                    "name": a.name,
                    "passed": a.quality.passed,
                    "reasons": list(a.quality.reasons),
                    "detail": a.quality.describe(),
                }
                for a in analyses
            ]
        }

    deps = Deps(ctx, require)
    app.include_router(records_router(deps))
    app.include_router(claims_router(deps))

    return app
