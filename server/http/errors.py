"""The one 4xx body of the API, and the handlers that turn every error into it.

Every 4xx is :class:`~server.http.deps.ErrorOut` ``{"detail", "field"}``,
naming the problem and the field at fault. No stack trace reaches a client:
anything unexpected is logged and answered 500.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from claims import ClaimsError
from livestock import ImageError, LivestockError, ModelError, RegistryError, TagError
from remote_sensing import PlotFileError, RasterError, RemoteSensingError
from server.errors import ConflictError, ForbiddenError, NotFoundError, ServiceError
from server.http.deps import ErrorOut, FieldHTTPError
from underwriting import MoneyError, ProductError, UnderwritingError

__all__ = ["error_body", "install_error_handlers", "validation_error"]

logger = logging.getLogger(__name__)

_DOMAIN_FIELDS: tuple[tuple[type[Exception], str], ...] = (
    (TagError, "tag"),
    (ImageError, "files"),
    (RegistryError, "tag"),
    (MoneyError, "amount"),
    (ProductError, "terms"),
    (PlotFileError, "file"),
    (RasterError, "imagery"),
)


def error_body(detail: str, field: str | None = None) -> dict[str, Any]:
    """The one 4xx body: :class:`~server.http.deps.ErrorOut`."""
    return ErrorOut(detail=detail, field=field).model_dump()


def validation_error(exc: RequestValidationError | ValidationError) -> dict[str, Any]:
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
    return error_body(f"{field}: {message}{more}", field)


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


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(
        validation_error(exc), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
    )


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    field = exc.field if isinstance(exc, FieldHTTPError) else None
    return JSONResponse(
        error_body(str(exc.detail), field),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, ModelError):
        return await _unexpected(request, exc)
    field = next((f for kind, f in _DOMAIN_FIELDS if isinstance(exc, kind)), None)
    body: dict[str, Any] = {"detail": str(exc)}
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "unexpected error on %s %s", request.method, request.url.path, exc_info=exc
    )
    return JSONResponse(
        {"detail": "internal error; it has been logged"}, status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as the one error body (500 for the unexpected)."""
    app.add_exception_handler(ServiceError, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    for domain in (LivestockError, UnderwritingError, ClaimsError, RemoteSensingError):
        app.add_exception_handler(domain, _domain)
    app.add_exception_handler(Exception, _unexpected)
