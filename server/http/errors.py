"""The one 4xx body of the API, and the handlers that turn every error into it.

Every 4xx is :class:`~server.http.deps.ErrorOut` ``{"detail", "field"}``,
naming the problem and the field at fault. No stack trace reaches a client:
anything unexpected is logged and answered 500.

Outages are not the client's fault, so not a 4xx: a database that cannot be
reached (refused, restarting, a dropped connection, SQLite locked past its
busy timeout) is 503 with ``Retry-After``; a full disk (a photo that cannot be
written, a database that cannot grow) is 507. Both come in the same body;
nothing was written, so the request can be sent again (with its
Idempotency-Key).
"""

import logging
import sqlite3
import threading
import time
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from claims import ClaimsError
from livestock import ImageError, LivestockError, ModelError, RegistryError, TagError
from remote_sensing import PlotFileError, RasterError, RemoteSensingError
from server.errors import ConflictError, ForbiddenError, NotFoundError, ServiceError
from server.http.deps import ErrorOut, FieldHTTPError
from server.services.photos import PhotoStorageError
from underwriting import MoneyError, ProductError, UnderwritingError

__all__ = [
    "RETRY_AFTER_S",
    "database_outage",
    "error_body",
    "install_error_handlers",
    "validation_error",
]

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
"""The ``Retry-After`` of a 503, in seconds: about how long a database restart takes."""

_LOG_EVERY_S = 10.0
"""Outage warnings are logged at most once per this many seconds (a count of the rest)."""

# SQLite's messages (sqlite3.OperationalError) that mean "not now", not "wrong".
_SQLITE_BUSY = ("database is locked", "database is busy", "unable to open database")
_SQLITE_FULL = "database or disk is full"
# PostgreSQL SQLSTATEs of a server that is going away, starting, or out of room.
_PG_UNAVAILABLE = ("08", "57P01", "57P02", "57P03", "53300")
_PG_FULL = "53100"

_DOMAIN_FIELDS: tuple[tuple[type[Exception], str], ...] = (
    (TagError, "tag"),
    (ImageError, "files"),
    (RegistryError, "tag"),
    (MoneyError, "amount"),
    (ProductError, "terms"),
    (PlotFileError, "file"),
    (RasterError, "imagery"),
)


MAX_DETAIL = 1000
"""The most characters of an error's ``detail``: a refusal never echoes a large input."""


def error_body(detail: str, field: str | None = None) -> dict[str, Any]:
    """The one 4xx body: :class:`~server.http.deps.ErrorOut` (``detail`` cut to MAX_DETAIL)."""
    return ErrorOut(detail=_cut(detail, MAX_DETAIL), field=field).model_dump()


def _cut(text: str, most: int = 40) -> str:
    return text if len(text) <= most else text[: most - 3] + "..."


def validation_error(exc: RequestValidationError | ValidationError) -> dict[str, Any]:
    """The first problem of a validation error as the one error body (input not echoed)."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid"}
    # Each part cut to 40 characters: a key of the input is a part too.
    loc = [_cut(str(p)) for p in first.get("loc", ())]
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
    return error_body(f"{field}: {message}{more}", field)


def database_outage(exc: BaseException) -> int | None:
    """503 or 507 when ``exc`` says the database is unavailable or full; else None.

    503: the connection failed or was lost (PostgreSQL down or restarting, a
    dropped connection, the pool exhausted past its timeout, SQLite locked
    past its busy timeout). 507: the database's disk is full. Anything else,
    a bad statement included, is not an outage (None).
    """
    if isinstance(exc, PoolTimeoutError):
        return status.HTTP_503_SERVICE_UNAVAILABLE
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        message = str(orig).lower()
        if _SQLITE_FULL in message:
            return status.HTTP_507_INSUFFICIENT_STORAGE
        if exc.connection_invalidated or any(m in message for m in _SQLITE_BUSY):
            return status.HTTP_503_SERVICE_UNAVAILABLE
        return None
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate == _PG_FULL:
        return status.HTTP_507_INSUFFICIENT_STORAGE
    if exc.connection_invalidated:
        return status.HTTP_503_SERVICE_UNAVAILABLE
    if isinstance(exc, OperationalError) and sqlstate is None:
        return status.HTTP_503_SERVICE_UNAVAILABLE  # libpq: the connection failed
    if isinstance(sqlstate, str) and sqlstate.startswith(_PG_UNAVAILABLE):
        return status.HTTP_503_SERVICE_UNAVAILABLE
    return None


class _OutageLog:
    """Warns of an outage once per :data:`_LOG_EVERY_S`, counting the requests between."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._quiet = 0

    def warn(self, what: str, request: Request, exc: BaseException) -> None:
        """Log ``what`` and the cause's first line, unless logged a moment ago."""
        now = time.monotonic()
        with self._lock:
            if now - self._last < _LOG_EVERY_S:
                self._quiet += 1
                return
            quiet, self._quiet, self._last = self._quiet, 0, now
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        more = (
            f" ({quiet} more requests refused since the last warning)" if quiet else ""
        )
        logger.warning(
            "%s on %s %s: %s%s",
            what,
            request.method,
            request.url.path,
            cause[0] if cause else type(exc).__name__,
            more,
        )


_outages = _OutageLog()


def _outage_answer(request: Request, exc: BaseException, code: int) -> JSONResponse:
    if code == status.HTTP_507_INSUFFICIENT_STORAGE:
        _outages.warn("the database's disk is full", request, exc)
        return JSONResponse(
            error_body(
                "the database's disk is full: nothing was recorded; send the "
                "request again once space is freed"
            ),
            status_code=code,
        )
    _outages.warn("the database is unavailable", request, exc)
    return JSONResponse(
        error_body(
            "the database is unavailable (restarting or unreachable): nothing was "
            f"recorded; send the request again in {RETRY_AFTER_S} s "
            "(with the same Idempotency-Key)"
        ),
        status_code=code,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _database(request: Request, exc: Exception) -> JSONResponse:
    code = database_outage(exc)
    if code is None:
        return await _unexpected(request, exc)
    return _outage_answer(request, exc, code)


async def _photo_storage(request: Request, exc: PhotoStorageError) -> JSONResponse:
    if exc.no_space:
        _outages.warn("the photo folder is full", request, exc)
        return JSONResponse(
            exc.body(), status_code=status.HTTP_507_INSUFFICIENT_STORAGE
        )
    _outages.warn("the photo folder cannot be written", request, exc)
    return JSONResponse(
        exc.body(),
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _refused(request: Request, exc: ServiceError) -> JSONResponse:
    if isinstance(exc, PhotoStorageError):
        return await _photo_storage(request, exc)
    code = status.HTTP_422_UNPROCESSABLE_CONTENT
    for kind, kind_code in (
        (NotFoundError, status.HTTP_404_NOT_FOUND),
        (ForbiddenError, status.HTTP_403_FORBIDDEN),
        (ConflictError, status.HTTP_409_CONFLICT),
    ):
        if isinstance(exc, kind):
            code = kind_code
    return JSONResponse(error_body(str(exc), exc.field), status_code=code)


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(
        validation_error(exc), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
    )


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    field = exc.field if isinstance(exc, FieldHTTPError) else None
    if field is None and exc.status_code == status.HTTP_400_BAD_REQUEST:
        field = "body"  # the framework could not read the body (encoding, multipart)
    return JSONResponse(
        error_body(str(exc.detail), field),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, ModelError):
        return await _unexpected(request, exc)
    # The exception's own field (the product term, the plot file's option) when
    # it knows one; else its kind's.
    field = getattr(exc, "field", None) or next(
        (f for kind, f in _DOMAIN_FIELDS if isinstance(exc, kind)), None
    )
    return JSONResponse(
        error_body(str(exc), field), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    code = database_outage(exc)  # raised outside the routes (a middleware)
    if code is not None:
        return _outage_answer(request, exc, code)
    logger.error(
        "unexpected error on %s %s", request.method, request.url.path, exc_info=exc
    )
    return JSONResponse(
        {"detail": "internal error; it has been logged"}, status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as the one error body (500 for the unexpected).

    Database outages are 503 with ``Retry-After`` (507 when its disk is full),
    and so are photos that cannot be written (507 when the folder is full).
    """
    app.add_exception_handler(ServiceError, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(PoolTimeoutError, _database)
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    for domain in (LivestockError, UnderwritingError, ClaimsError, RemoteSensingError):
        app.add_exception_handler(domain, _domain)
    app.add_exception_handler(Exception, _unexpected)
