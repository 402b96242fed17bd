"""What every router of the API shares: roles, idempotent POSTs, pages, uploads.

(No ``from __future__ import annotations``: FastAPI reads dependencies from
the annotations of route functions at runtime.)
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Header, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from server.services.auth import Role, User
from server.context import AppContext
from server.errors import InvalidInputError
from server.services import IdempotencyMismatch, Page, run_idempotent

__all__ = [
    "API",
    "Deps",
    "IdempotencyKey",
    "Limit",
    "Offset",
    "PageOut",
    "fingerprint",
    "page_of",
    "parse_json_field",
    "read_photos",
    "read_upload",
]

API = "/api/v1"
T = TypeVar("T")

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=128,
        description="Send the same key when retrying: the first response comes back "
        "and nothing is done twice.",
    ),
]
Offset = Annotated[int, Query(ge=0, description="Items to skip.")]
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page (at most 200).")]


class PageOut(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int = Field(description="Items in the whole list.")
    offset: int
    limit: int


def page_of(model: type[T], page: Page, convert: Callable[[Any], T]) -> "PageOut[T]":
    """A service's page as the API's, each item converted to ``model``."""
    return PageOut[model](  # type: ignore[valid-type]
        items=[convert(x) for x in page.items],
        total=page.total,
        offset=page.offset,
        limit=page.limit,
    )


@dataclass
class Deps:
    """The wired context and the role check, handed to each router."""

    ctx: AppContext
    require: Callable[..., Callable[..., User]]

    def roles(self, *roles: Role) -> Any:
        """A dependency admitting only ``roles`` (403 for everyone else)."""
        return self.require(*roles)

    async def idempotent(
        self,
        request: Request,
        user: User,
        key: str | None,
        work: Callable[[Any], tuple[int, dict[str, Any]]],
        body: bytes | None = None,
    ) -> JSONResponse:
        """Run ``work(conn)`` in one transaction, once per Idempotency-Key.

        ``body`` is what identifies the request for the key (default: the raw
        body); database and model work runs in the thread pool.
        """
        raw = body if body is not None else await request.body()
        try:
            (code, doc), replayed = await run_in_threadpool(
                lambda: run_idempotent(
                    self.ctx.engine,
                    user_id=user.id,
                    key=key,
                    method=request.method,
                    path=request.url.path,
                    body=raw,
                    work=work,
                )
            )
        except IdempotencyMismatch as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)
            ) from exc
        self.ctx.ledger.after_append()
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return JSONResponse(doc, status_code=code, headers=headers)


def fingerprint(*parts: bytes | str | None) -> bytes:
    """What identifies a multipart request for its Idempotency-Key (fields and files).

    A form's raw body carries a random boundary, so the parsed parts are
    hashed instead, each prefixed with its length.
    """
    h = hashlib.sha256()
    for part in parts:
        data = b"" if part is None else part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big") + data)
    return h.digest()


async def read_upload(upload: UploadFile, limit: int, field: str) -> bytes:
    """The uploaded file's bytes, refusing more than ``limit`` bytes with 413."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{upload.filename or field}: over the limit of {limit:,} bytes",
        )
    return data


async def read_photos(
    files: list[UploadFile], most: int = 20
) -> list[tuple[str, bytes]]:
    """Each uploaded photo's name and bytes: 1 to ``most`` photos, each within the size limit."""
    from livestock.preprocess import MAX_BYTES

    if not 1 <= len(files) <= most:
        raise InvalidInputError(f"send between 1 and {most} photos", field="files")
    return [
        (f.filename or f"photo-{i}", await read_upload(f, MAX_BYTES, "files"))
        for i, f in enumerate(files)
    ]


def parse_json_field(text: str | None, field: str) -> Any:
    """A JSON value sent as a multipart form field."""
    if text is None or not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"not valid JSON: {exc.msg}", field=field) from exc
