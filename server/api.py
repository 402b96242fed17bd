"""The HTTP API (FastAPI), versioned under ``/api/v1``.

Built so far: health, password login issuing expiring bearer tokens, role
checks, and ledger receipts. Every error is a JSON body ``{"detail": ...}``
that names the problem; no stack trace reaches a client.

(No ``from __future__ import annotations`` here: FastAPI reads the
dependencies of route functions from their annotations, and closures'
string annotations cannot be resolved.)
"""

import functools
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import (
    Depends,
    FastAPI,
    File,
    Header,
    HTTPException,
    Request,
    UploadFile,
    status,
)
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ledger import EntryNotFoundError
from server.auth import AuthError, Role, User, UserStore
from server.claims_store import ClaimRecord, ClaimStore
from server.context import AppContext
from server.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServiceError,
)
from server.idempotency import IdempotencyMismatch, run_idempotent
from underwriting.errors import MoneyError
from underwriting.money import Money

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

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


class ClaimIn(BaseModel):
    """A claim as a field agent files it."""

    policy_id: str = Field(min_length=1, max_length=64, examples=["P-2026-0001"])
    farmer_id: str = Field(min_length=1, max_length=64, examples=["F-1"])
    subject_kind: Literal["animal", "plot"] = Field(examples=["animal"])
    subject_id: str = Field(min_length=1, max_length=64, examples=["998230000006455"])
    event_date: datetime = Field(examples=["2026-05-10T06:00:00Z"])
    amount: str = Field(
        description="Claimed amount in major units.", examples=["7500.00"]
    )
    currency: str = Field("CNY", examples=["CNY"])


class DecisionIn(BaseModel):
    """An adjuster's decision."""

    approve: bool
    reason: str | None = Field(
        None, max_length=2000, examples=["photo matches the tag"]
    )


class PaymentIn(BaseModel):
    """A payment instruction."""

    payment_ref: str = Field(min_length=1, max_length=64, examples=["BANK-2026-000123"])


class ClaimOut(BaseModel):
    """A claim as stored."""

    id: str
    policy_id: str
    farmer_id: str
    subject_kind: str
    subject_id: str
    status: str
    amount: str
    currency: str
    reason: str | None
    payment_ref: str | None


def _claim_out(c: ClaimRecord) -> dict[str, Any]:
    return ClaimOut(
        id=c.id,
        policy_id=c.policy_id,
        farmer_id=c.farmer_id,
        subject_kind=c.subject_kind,
        subject_id=c.subject_id,
        status=c.status,
        amount=str(c.amount),
        currency=c.amount.currency,
        reason=c.reason,
        payment_ref=c.payment_ref,
    ).model_dump()


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
        body: dict[str, Any] = {"detail": str(exc)}
        if exc.field:
            body["field"] = exc.field
        return JSONResponse(body, status_code=code)

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

    claim_store = ClaimStore(ctx.ledger)

    @functools.cache
    def faceid() -> Any:
        """The face-ID model, loaded on first use (checksum verified)."""
        from livestock import FaceID

        return FaceID.load()

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
        from livestock import ImageError, Photo
        from livestock.preprocess import MAX_BYTES

        if not files or len(files) > 20:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "send between 1 and 20 photos"
            )
        photos = []
        for f in files:
            data = await f.read(MAX_BYTES + 1)
            name = f.filename or "upload"
            if len(data) > MAX_BYTES:
                raise HTTPException(
                    status.HTTP_413_CONTENT_TOO_LARGE,
                    f"{name}: over the limit of {MAX_BYTES:,} bytes",
                )
            photos.append(Photo(name, data))
        try:
            analyses = await run_in_threadpool(lambda: faceid().analyse(photos))
        except ImageError as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)
            ) from exc
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

    async def idempotent(
        request: Request,
        user: User,
        key: str | None,
        work: Callable[[Any], tuple[int, dict[str, Any]]],
    ) -> JSONResponse:
        body = await request.body()
        try:
            # Database work runs in the thread pool, off the event loop.
            (code, doc), replayed = await run_in_threadpool(
                lambda: run_idempotent(
                    ctx.engine,
                    user_id=user.id,
                    key=key,
                    method=request.method,
                    path=request.url.path,
                    body=body,
                    work=work,
                )
            )
        except IdempotencyMismatch as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)
            ) from exc
        ctx.ledger.after_append()
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return JSONResponse(doc, status_code=code, headers=headers)

    IdempotencyKey = Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=128,
            description="Send the same key when retrying: the first response comes back.",
        ),
    ]

    @app.post(
        f"{API}/claims", tags=["claims"], status_code=201, response_model=ClaimOut
    )
    async def file_claim(
        claim: ClaimIn,
        request: Request,
        user: Annotated[User, Depends(require("field_agent"))],
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        """File a claim (field agents)."""
        if claim.event_date > datetime.now(UTC):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "event_date is in the future"
            )
        try:
            amount = Money.parse(claim.amount, claim.currency)
        except MoneyError as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"amount: {exc}"
            ) from exc

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            record = claim_store.file(
                policy_id=claim.policy_id,
                farmer_id=claim.farmer_id,
                subject_kind=claim.subject_kind,
                subject_id=claim.subject_id,
                event_date=claim.event_date,
                amount=amount,
                actor=user.username,
                conn=conn,
            )
            return 201, _claim_out(record)

        return await idempotent(request, user, idempotency_key, work)

    @app.get(f"{API}/claims/{{claim_id}}", tags=["claims"])
    def get_claim(
        claim_id: str,
        user: Annotated[
            User, Depends(require("farmer", "adjuster", "field_agent", "admin"))
        ],
    ) -> ClaimOut:
        """A claim (a farmer sees only their own)."""
        record = claim_store.get(claim_id)
        if user.role == "farmer" and record.farmer_id != user.farmer_id:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this claim is not yours")
        return ClaimOut(**_claim_out(record))

    @app.post(
        f"{API}/claims/{{claim_id}}/decision", tags=["claims"], response_model=ClaimOut
    )
    async def decide_claim(
        claim_id: str,
        decision: DecisionIn,
        request: Request,
        user: Annotated[User, Depends(require("adjuster"))],
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        """Approve or reject a filed claim (adjusters)."""

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            record = claim_store.decide(
                claim_id,
                approve=decision.approve,
                reason=decision.reason,
                actor=user.username,
                conn=conn,
            )
            return 200, _claim_out(record)

        return await idempotent(request, user, idempotency_key, work)

    @app.post(
        f"{API}/claims/{{claim_id}}/payment", tags=["claims"], response_model=ClaimOut
    )
    async def pay_claim(
        claim_id: str,
        payment: PaymentIn,
        request: Request,
        user: Annotated[User, Depends(require("adjuster"))],
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        """Pay an approved claim, exactly once (adjusters)."""

        def work(conn: Any) -> tuple[int, dict[str, Any]]:
            record, _ = claim_store.pay(
                claim_id,
                actor=user.username,
                payment_ref=payment.payment_ref,
                conn=conn,
            )
            return 200, _claim_out(record)

        return await idempotent(request, user, idempotency_key, work)

    return app
