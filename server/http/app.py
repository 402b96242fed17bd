"""The HTTP API (FastAPI), versioned under ``/api/v1``.

Health, password login issuing expiring bearer tokens, roles, ledger
receipts, the photo quality gate and the offline API docs live here; farmers,
products, animals, applications and policies in :mod:`server.http.records`;
claims in :mod:`server.http.claims`.

Every 4xx is one JSON body, :class:`~server.http.deps.ErrorOut` ``{"detail",
"field"}``, naming the problem and the field at fault; the OpenAPI document
declares it for every 4xx of every route. No stack trace reaches a client.
Before any parsing, :class:`RequestGuard` refuses a body over
``AGRI_MAX_REQUEST_MB`` (413) and JSON holding ``NaN`` or ``Infinity`` (422).

(No ``from __future__ import annotations`` here: FastAPI reads the
dependencies of route functions from their annotations, and closures'
string annotations cannot be resolved.)
"""

import email.message
import importlib.resources
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI, File, HTTPException, Request, UploadFile, status
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import (
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import OAuth2PasswordBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from claims import ClaimsError
from ledger import EntryNotFoundError
from livestock import (
    ImageError,
    LivestockError,
    ModelError,
    RegistryError,
    TagError,
)
from remote_sensing import PlotFileError, RasterError, RemoteSensingError
from server.context import AppContext
from server.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServiceError,
)
from server.http.claims import claims_router
from server.http.deps import (
    API,
    Deps,
    ErrorOut,
    FieldHTTPError,
    Limit,
    NonFiniteNumberError,
    Offset,
    PageOut,
    nul_field,
    read_photos,
    strict_json_loads,
)
from server.http.devices import devices_router
from server.http.history import history_router
from server.http.maps import maps_router
from server.http.pages import mount_pages, pages_router
from server.http.photos import photos_router
from server.http.records import records_router
from server.http.scenes import scenes_router
from server.http.security import SecurityHeaders
from server.services.auth import (
    AuthError,
    LoginLimits,
    Role,
    TooManyAttemptsError,
    User,
    UserStore,
)
from underwriting import MoneyError, ProductError, UnderwritingError

__all__ = ["RequestGuard", "create_app"]

logger = logging.getLogger(__name__)

TOKEN_PATH = f"{API}/auth/token"
DOCS_ASSETS = f"{API}/docs/assets"
MAX_INDEX = 2**63 - 1  # the largest SQL BIGINT: a ledger index beyond it cannot exist

_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_PATH, auto_error=False)


class Credentials(BaseModel):
    """A login, as JSON."""

    username: str = Field(min_length=1, max_length=64, examples=["adjuster1"])
    password: str = Field(
        min_length=1, max_length=1024, examples=["correct horse battery"]
    )


class PasswordForm(Credentials):
    """A login as the OAuth2 password grant form (RFC 6749 §4.3.2): the docs' Authorize."""

    grant_type: Literal["password"] | None = Field(None, examples=["password"])
    scope: str = Field("", max_length=1024, description="Ignored: roles decide.")
    client_id: str | None = Field(None, max_length=256, description="Ignored.")
    client_secret: str | None = Field(None, max_length=256, description="Ignored.")


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


def _error(detail: str, field: str | None = None) -> dict[str, Any]:
    """The one 4xx body: :class:`~server.http.deps.ErrorOut`."""
    return ErrorOut(detail=detail, field=field).model_dump()


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class _BodyTooLargeError(FieldHTTPError):
    """Raised by the guarded ``receive`` once a body passes its limit (413, ``body``).

    An HTTP exception, so the route's body parsing re-raises it as is and the
    app's handler answers it.
    """


class RequestGuard:
    """ASGI middleware: bound every request body before anything parses it.

    A ``Content-Length`` over ``max_bytes`` is answered 413 at once; a body
    streamed without one is counted as it arrives, and the request fails with
    413 as soon as it passes ``max_bytes``, so no parser (multipart included)
    ever holds more. A JSON body is read whole (within the limit) and refused
    with 422 when it holds ``NaN``, ``Infinity`` or a number overflowing a
    float, which no JSON parser downstream may then turn into a 500. A NUL
    character in the path, a query parameter, a JSON string or a URL-encoded
    form is refused with 422 naming the field (PostgreSQL cannot store it).

    Args:
        app: the application.
        max_bytes: the largest body, in bytes.
        setting: the setting that sets the limit, named in the 413's detail.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, setting: str = "AGRI_MAX_REQUEST_MB"
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.setting = setting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Guard one request (HTTP only; other scopes pass)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, 413, self._too_large())
            return
        nul = _nul_in_url(scope)
        if nul is not None:
            await self._refuse(scope, receive, send, 422, _error(*nul))
            return
        guarded = self._counting(receive)
        content_type = headers.get("content-type")
        form = (content_type or "").startswith("application/x-www-form-urlencoded")
        if not (_is_json(content_type) or form):
            try:
                await self.app(scope, guarded, send)
            except _BodyTooLargeError:
                # Raised where the app reads: its handlers never ran to a response.
                await self._refuse(scope, receive, send, 413, self._too_large())
            return
        try:
            body = await self._read_all(guarded)
        except _BodyTooLargeError:
            await self._refuse(scope, receive, send, 413, self._too_large())
            return
        problem = _form_problem(body) if form else _json_problem(body)
        if problem is not None:
            await self._refuse(scope, receive, send, 422, _error(*problem))
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self) -> dict[str, Any]:
        return _error(
            f"the request body is over the limit of {self.max_bytes:,} bytes "
            f"({self.setting}): send fewer or smaller files",
            "body",
        )

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def guarded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    body = self._too_large()
                    raise _BodyTooLargeError(413, body["detail"], field=body["field"])
            return message

        return guarded

    @staticmethod
    async def _read_all(receive: Receive) -> bytes:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, code: int, body: dict[str, Any]
    ) -> None:
        await JSONResponse(body, status_code=code)(scope, receive, send)


_NUL = "\x00"
_NUL_DETAIL = "holds a NUL character (U+0000), which no text field may hold"


def _nul_in_url(scope: Scope) -> tuple[str, str] | None:
    """(detail, field) if the path or a query parameter holds NUL, else None."""
    if _NUL in scope.get("path", ""):
        return f"the path {_NUL_DETAIL}", "path"
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if _NUL in name or _NUL in value:
            field = name.replace(_NUL, "")
            return f"{field}: {_NUL_DETAIL}", field
    return None


def _json_problem(body: bytes) -> tuple[str, str] | None:
    """(detail, field) if a JSON body is refused before the app sees it, else None."""
    try:
        doc = strict_json_loads(body)
    except NonFiniteNumberError as exc:
        return f"body: {exc}", "body"
    except RecursionError:
        return "body: the JSON is nested too deep", "body"
    except ValueError:
        return None  # malformed JSON: the route's validation names the position
    field = nul_field(doc)
    return (f"{field}: {_NUL_DETAIL}", field) if field is not None else None


def _form_problem(body: bytes) -> tuple[str, str] | None:
    """(detail, field) if a URL-encoded form holds NUL, else None."""
    for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
        if _NUL in name or _NUL in value:
            field = name.replace(_NUL, "") or "body"
            return f"{field}: {_NUL_DETAIL}", field
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect, when the client goes

    return replay


def _swagger_ui_dir() -> Path:
    """The Swagger UI assets of the ``swagger-ui-bundle-v2`` package (no CDN)."""
    vendor = Path(str(importlib.resources.files("swagger_ui_bundle") / "vendor"))
    found = sorted(vendor.glob("swagger-ui-*/swagger-ui-bundle.js"))
    if not found:
        raise RuntimeError(f"no Swagger UI in {vendor}: reinstall swagger-ui-bundle-v2")
    return found[-1].parent


def _validation_error(exc: RequestValidationError | ValidationError) -> dict[str, Any]:
    """The first problem of a validation error as the one error body (input not echoed)."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid"}
    loc = [str(p) for p in first.get("loc", ())]
    if len(loc) > 1 and loc[0] in ("body", "query", "path", "header", "cookie"):
        loc = loc[1:]
    field = ".".join(loc) or "body"
    message = str(first.get("msg", "invalid"))
    ctx = first.get("ctx")
    reason = ctx.get("error") if isinstance(ctx, dict) else None
    if first.get("type") == "json_invalid":
        field = "body"
        message = f"not valid JSON ({reason})" if reason else "not valid JSON"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return _error(f"{field}: {message}{more}", field)


def create_app(ctx: AppContext) -> FastAPI:
    """The API on a wired application context."""
    tick_s = min(60.0, ctx.settings.checkpoint_interval_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Requests sign due checkpoints; one background thread anchors them (a
        # request never waits on a chain) and applies the checkpoint policy on
        # a quiet server. Joined at shutdown, so no database work outlives the app.
        ctx.ledger.start_background(tick_s)
        try:
            yield
        finally:
            ctx.ledger.stop_background()

    settings = ctx.settings
    app = FastAPI(
        title="Agricultural insurance",
        version="1",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,  # served below from the installed Swagger UI, not a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_middleware(RequestGuard, max_bytes=settings.max_request_mb << 20)
    # outermost: the guard's own refusals carry the headers too
    app.add_middleware(SecurityHeaders, docs_prefix=f"{API}/docs")
    user_store = UserStore(
        ctx.engine,
        settings.token_ttl_s,
        LoginLimits(
            max_failures=settings.login_max_failures,
            max_failures_per_address=settings.login_max_failures_per_address,
            max_failures_per_user=settings.login_max_failures_per_user,
            window_s=settings.login_window_s,
        ),
    )

    def current_user(token: Annotated[str | None, Depends(_bearer)]) -> User:
        if token is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"missing bearer token: log in at POST {TOKEN_PATH}",
                headers={"WWW-Authenticate": "Bearer"},
            )
        user = user_store.user_for(token)
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

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            _validation_error(exc), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        field = exc.field if isinstance(exc, FieldHTTPError) else None
        return JSONResponse(
            _error(str(exc.detail), field),
            status_code=exc.status_code,
            headers=exc.headers,
        )

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

    @app.post(
        TOKEN_PATH,
        tags=["auth"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {"$ref": "#/components/schemas/PasswordForm"}
                    },
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/Credentials"}
                    },
                },
            }
        },
    )
    async def login(request: Request) -> Token:
        """Exchange a username and password for a bearer token.

        Send the OAuth2 password form (``application/x-www-form-urlencoded``:
        ``username``, ``password``, ``grant_type=password``; what the docs'
        Authorize button sends) or JSON ``{"username", "password"}``. After
        too many failures from one address (for one username) the answer is
        429 with ``Retry-After`` in seconds.
        """
        credentials = await _credentials(request)
        address = request.client.host if request.client else "unknown"
        try:
            token, expires = await run_in_threadpool(
                user_store.login, credentials.username, credentials.password, address
            )
        except TooManyAttemptsError as exc:
            raise FieldHTTPError(
                status.HTTP_429_TOO_MANY_REQUESTS,
                str(exc),
                field="username",
                headers={"Retry-After": str(exc.retry_after_s)},
            ) from exc
        except AuthError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                str(exc),
                headers={"WWW-Authenticate": "Bearer"},
            ) from exc
        return Token(access_token=token, expires_at=expires)

    @app.post(
        f"{API}/auth/logout",
        tags=["auth"],
        status_code=status.HTTP_204_NO_CONTENT,
        responses={401: {"description": "No bearer token was sent."}},
    )
    async def logout(token: Annotated[str | None, Depends(_bearer)]) -> Response:
        """End the bearer token now: every later request with it answers 401.

        Logging out twice, or with an expired token, is not an error (204).
        """
        if token is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing bearer token: send the token to end",
                headers={"WWW-Authenticate": "Bearer"},
            )
        await run_in_threadpool(user_store.revoke, token)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @app.get(f"{API}/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI, from the assets this app serves (works offline)."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "",
            title=f"{app.title} - API docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            oauth2_redirect_url=f"{API}/docs/oauth2-redirect",
            # Swagger UI would otherwise fetch a badge from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )

    @app.get(f"{API}/docs/oauth2-redirect", include_in_schema=False)
    def docs_redirect() -> HTMLResponse:
        """Swagger UI's OAuth2 redirect page."""
        return get_swagger_ui_oauth2_redirect_html()

    app.mount(DOCS_ASSETS, StaticFiles(directory=_swagger_ui_dir()), name="docs-assets")

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
        index: Annotated[int, PathParam(ge=0, le=MAX_INDEX)],
        user: Annotated[
            User,
            Depends(require(*get_args(Role))),
        ],
    ) -> dict[str, Any]:
        """The receipt of ledger entry ``index``: verifiable offline with the verifier key.

        A farmer may fetch only receipts of entries whose subjects name their farmer id.
        """
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

    deps = Deps(ctx, require)

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

        uploads = await read_photos(files, deps.photo_limits)
        photos = [Photo(name, data) for name, data in uploads]
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

    app.include_router(records_router(deps))
    app.include_router(claims_router(deps))
    app.include_router(photos_router(deps))
    app.include_router(maps_router(deps))
    app.include_router(history_router(deps))
    app.include_router(scenes_router(deps))
    app.include_router(devices_router(deps))
    app.include_router(pages_router(deps))
    mount_pages(app)  # after every API route: the pages at /, npm packages at /vendor/
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


async def _credentials(request: Request) -> Credentials:
    """The login of a token request: the OAuth2 password form, or JSON."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = await request.form()
            return PasswordForm.model_validate(
                {k: v for k, v in form.items() if isinstance(v, str)}
            )
        if _is_json(content_type):
            try:
                doc = strict_json_loads(await request.body())
            except ValueError as exc:
                raise FieldHTTPError(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    "body: not valid JSON",
                    field="body",
                ) from exc
            return Credentials.model_validate(doc)
    except ValidationError as exc:
        body = _validation_error(exc)
        raise FieldHTTPError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, body["detail"], field=body["field"]
        ) from exc
    raise FieldHTTPError(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        "send application/x-www-form-urlencoded (username, password, "
        "grant_type=password) or application/json",
        field="body",
    )


_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
_REASONS = {
    "400": "The body could not be parsed.",
    "401": "Not logged in, or the token expired.",
    "403": "The role may not do this, or the record is not yours.",
    "404": "A record named in the request does not exist.",
    "409": "The record's state does not allow this.",
    "413": "The body, a file or the photos' pixels are over a limit.",
    "422": "An input is malformed or inconsistent (``field`` names it).",
    "429": "Too many failed logins: wait ``Retry-After`` seconds.",
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with one error model for every 4xx of every route.

    FastAPI's ``HTTPValidationError`` is replaced by :class:`ErrorOut`, which
    is what the API answers; each operation lists the 4xx it can answer.
    """
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for model in (ErrorOut, Credentials, PasswordForm):
        schemas[model.__name__] = model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
    for path, item in doc.get("paths", {}).items():
        for op in item.values():
            responses = op.setdefault("responses", {})
            codes = {"400", "413", "422"}
            if op.get("security"):
                codes |= {"401", "403", "404", "409"}
            if path == TOKEN_PATH:
                codes |= {"401", "429"}
            codes |= {c for c in responses if c.startswith("4")}
            for code in sorted(codes):
                answer: dict[str, Any] = {
                    "description": _REASONS.get(code, "Refused."),
                    "content": {"application/json": {"schema": _ERROR_REF}},
                }
                if code == "429":
                    answer["headers"] = {
                        "Retry-After": {
                            "description": "Seconds until one more attempt is allowed.",
                            "schema": {"type": "integer", "minimum": 1},
                        }
                    }
                responses[code] = answer
    app.openapi_schema = doc
    return app.openapi_schema
