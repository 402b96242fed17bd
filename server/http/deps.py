"""What every router of the API shares: role checks, idempotent POSTs, pages, uploads, errors.

(No ``from __future__ import annotations``: FastAPI reads dependencies from
the annotations of route functions at runtime.)
"""

import hashlib
import io
import json
import math
import re
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import (
    Depends,
    File,
    Header,
    HTTPException,
    Query,
    Request,
    UploadFile,
    status,
)
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from server.context import AppContext
from server.errors import InvalidInputError
from server.i18n import Lang, negotiate
from server.services import IdempotencyMismatch, Page, run_idempotent
from server.services.access import Action
from server.services.auth import User

__all__ = [
    "API",
    "MAX_OFFSET",
    "MOST_PHOTOS",
    "NOTE_TEXT",
    "NO_NUL",
    "PATH_ID",
    "PLAIN_TEXT",
    "Deps",
    "ErrorOut",
    "FieldHTTPError",
    "IdempotencyKey",
    "Limit",
    "NonFiniteNumberError",
    "Offset",
    "PageOut",
    "PhotoLimits",
    "PhotoMeta",
    "ReaderLang",
    "fingerprint",
    "json_list_part",
    "nul_field",
    "page_of",
    "parse_json_field",
    "parse_photo_meta",
    "photo_files",
    "read_photos",
    "read_upload",
    "strict_json_loads",
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
NO_NUL = r"^[^\x00]*$"  # a Form field's pattern: PostgreSQL text cannot hold U+0000
# What :func:`underwriting.first_control` refuses: Unicode's Cc (C0, DEL, C1) and
# the bidirectional and line-separating format characters; and the spaces
# str.strip() removes beside them (a blank name is refused too).
_CONTROLS = (
    r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
)
_NOTE_CONTROLS = (
    r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    r"\u2028\u2029"
)
_SPACES = r" \xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
PLAIN_TEXT = rf"^[^{_CONTROLS}]*[^{_CONTROLS}{_SPACES}][^{_CONTROLS}]*$"
"""A name: no control character (:func:`underwriting.first_control`), not blank."""
NOTE_TEXT = rf"^[^{_NOTE_CONTROLS}]*$"
"""A typed note: no control character but tab and line breaks."""
PATH_ID = rf"^[^{_CONTROLS}/\\]*[^{_CONTROLS}{_SPACES}./\\][^{_CONTROLS}/\\]*$"
"""An id that appears in the API's paths: a name without ``/`` or ``\\``, and
more than dots (never ``.`` or ``..``)."""
MAX_OFFSET = 2**31  # far beyond any list; keeps the SQL integer in range everywhere
Offset = Annotated[
    int,
    Query(ge=0, le=MAX_OFFSET, description=f"Items to skip (at most {MAX_OFFSET})."),
]
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page (at most 200).")]
MOST_PHOTOS = 20
"""The most photos one upload may carry."""


def photo_files(description: str) -> Any:
    """The ``files`` form field of a photo upload: 1 to :data:`MOST_PHOTOS` photos."""
    return File(min_length=1, max_length=MOST_PHOTOS, description=description)


def json_list_part(
    item: type[BaseModel], description: str
) -> Callable[[dict[str, Any]], None]:
    """The document of a form field whose text is a JSON list of ``item`` (``json_schema_extra``).

    The route reads the field as text and parses it; the document says what
    the text must be, so a client (and the API's fuzzing) sends such a list.
    """

    def declare(schema: dict[str, Any]) -> None:
        schema.clear()
        schema.update(
            {
                "type": "array",
                "items": item.model_json_schema(),
                "description": description,
            }
        )

    return declare


async def _reader_lang(  # async: pure, so it stays off the thread pool
    accept_language: Annotated[
        str | None,
        Header(
            alias="Accept-Language",
            description="zh-CN (or any zh) for Simplified Chinese; English otherwise.",
        ),
    ] = None,
) -> Lang:
    return negotiate(accept_language[:1000] if accept_language else None)


def iso_day(value: object) -> object:
    """A query's day as the document says, ``YYYY-MM-DD`` (a ``BeforeValidator``).

    Pydantic would read ``0`` as 1970-01-01 and ``1700000000`` as a day of 2023.
    """
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


ReaderLang = Annotated[Lang, Depends(_reader_lang)]
"""The reader's language, from ``Accept-Language``: what reasons and labels are rendered in."""


class ErrorOut(BaseModel):
    """Every 4xx answer of the API: what is wrong, and the input field at fault."""

    detail: str = Field(examples=["lat: Input should be less than or equal to 90"])
    field: str | None = Field(
        None,
        description="The field at fault (dotted path for nested JSON), when one is.",
        examples=["lat"],
    )


class FieldHTTPError(HTTPException):
    """An HTTP refusal that names the input field at fault (413 on ``files``...)."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail, headers=headers)
        self.field = field


class NonFiniteNumberError(ValueError):
    """A JSON text holds NaN, Infinity or a number too large for a float."""


def _no_constant(name: str) -> Any:
    raise NonFiniteNumberError(
        f"{name} is not a JSON number (RFC 8259): send finite numbers"
    )


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumberError(
            f"{text} is too large for a number: send a finite one"
        )
    return value


def strict_json_loads(data: bytes | str) -> Any:
    """Parse JSON as RFC 8259 has it: ``NaN``, ``Infinity`` and overflowing numbers refused.

    Raises:
        NonFiniteNumberError: a non-finite number.
        ValueError: not JSON at all (``json.JSONDecodeError``, ``UnicodeDecodeError``).
    """
    return json.loads(data, parse_constant=_no_constant, parse_float=_finite_float)


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


@dataclass(frozen=True)
class PhotoLimits:
    """How many pixels the photos of one request may have, read from their headers.

    Attributes:
        max_pixels: pixels (width x height) of one photo.
        max_total_pixels: pixels of all photos of the request together; it bounds
            the memory their decoding takes (3 bytes a pixel in RGB).
    """

    max_pixels: int = 40_000_000
    max_total_pixels: int = 120_000_000


@dataclass
class Deps:
    """The wired context and the role check, handed to each router.

    ``require`` is :func:`server.http.auth.make_require`'s; routes declare
    an action of the access policy: ``Depends(deps.may(...))``.
    """

    ctx: AppContext
    require: Callable[[Action], Callable[..., Awaitable[User]]]

    @property
    def photo_limits(self) -> PhotoLimits:
        """The pixel limits of photo uploads, from the settings."""
        settings = self.ctx.settings
        return PhotoLimits(
            max_pixels=int(settings.max_photo_megapixels * 1_000_000),
            max_total_pixels=int(settings.max_request_megapixels * 1_000_000),
        )

    def may(self, action: Action) -> Any:
        """A dependency admitting the roles the access policy lets take ``action``.

        401 without a login; 403 for any other role, naming the allowed roles.
        Every route declares its roles this way (:data:`server.services.access.ACTIONS`).
        """
        return self.require(action)

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
        body). Database and model work, and the checkpoint policy after it
        (signing), run in the thread pool: never on the event loop.
        """
        raw = body if body is not None else await request.body()

        def run() -> tuple[tuple[int, dict[str, Any]], bool]:
            done = run_idempotent(
                self.ctx.engine,
                user_id=user.id,
                key=key,
                method=request.method,
                path=request.url.path,
                body=raw,
                work=work,
            )
            self.ctx.ledger.after_commit()
            return done

        try:
            (code, doc), replayed = await run_in_threadpool(run)
        except IdempotencyMismatch as exc:
            raise FieldHTTPError(
                status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc), field="Idempotency-Key"
            ) from exc
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
    """The uploaded file's bytes, refusing more than ``limit`` bytes with 413.

    Raises:
        InvalidInputError: the file name holds a NUL character.
        FieldHTTPError: 413, over ``limit``.
    """
    if "\x00" in (upload.filename or ""):
        raise InvalidInputError(
            "the file name holds a NUL character (U+0000)", field=field
        )
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise FieldHTTPError(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{upload.filename or field}: over the limit of {limit:,} bytes",
            field=field,
        )
    return data


def _size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an image's header, nothing decoded; None if not an image.

    Raises:
        Image.DecompressionBombError: the header claims more than twice Pillow's
            ``MAX_IMAGE_PIXELS``.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except Image.DecompressionBombError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None  # the quality gate names it as unreadable
    return width, height


async def read_photos(
    files: list[UploadFile],
    limits: PhotoLimits | None = None,
    most: int = MOST_PHOTOS,
) -> list[tuple[str, bytes]]:
    """Each uploaded photo's name and bytes, within the byte and pixel limits.

    Every photo's pixels are read from its header before anything is decoded:
    one photo over ``limits.max_pixels``, or all together over
    ``limits.max_total_pixels``, is refused with 413 naming the field ``files``
    and the photo. Files that are not images pass: the quality gate names them.

    Raises:
        InvalidInputError: not 1 to ``most`` photos.
        FieldHTTPError: 413, a photo over the byte or pixel limit, or the request
            over its pixel budget.
    """
    from PIL.Image import DecompressionBombError

    from livestock import MAX_BYTES

    limits = limits or PhotoLimits()
    if not 1 <= len(files) <= most:
        raise InvalidInputError(f"send between 1 and {most} photos", field="files")
    photos: list[tuple[str, bytes]] = []
    total = 0
    for i, f in enumerate(files):
        name = f.filename or f"photo-{i}"
        data = await read_upload(f, MAX_BYTES, "files")
        try:
            size = await run_in_threadpool(_size, data)
        except DecompressionBombError as exc:
            raise FieldHTTPError(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"{name}: its header claims too many pixels to decode safely "
                f"(a decompression bomb?); the limit is {limits.max_pixels:,} per photo",
                field="files",
            ) from exc
        if size is not None:
            width, height = size
            pixels = width * height
            if pixels > limits.max_pixels:
                raise FieldHTTPError(
                    status.HTTP_413_CONTENT_TOO_LARGE,
                    f"{name}: {width} x {height} = {pixels:,} pixels, over the limit "
                    f"of {limits.max_pixels:,} per photo (AGRI_MAX_PHOTO_MEGAPIXELS)",
                    field="files",
                )
            total += pixels
            if total > limits.max_total_pixels:
                raise FieldHTTPError(
                    status.HTTP_413_CONTENT_TOO_LARGE,
                    f"{name}: the photos up to this one have {total:,} pixels, over "
                    f"the limit of {limits.max_total_pixels:,} per request "
                    "(AGRI_MAX_REQUEST_MEGAPIXELS): send fewer or smaller photos",
                    field="files",
                )
        photos.append((name, data))
    return photos


def nul_field(doc: Any, where: str = "") -> str | None:
    """The dotted path of the first string (or key) of ``doc`` holding NUL, or None."""
    if isinstance(doc, str):
        return (where or "body") if "\x00" in doc else None
    items: Any = ()
    if isinstance(doc, dict):
        items = doc.items()
    elif isinstance(doc, list):
        items = enumerate(doc)
    for key, value in items:
        here = f"{where}.{key}" if where else str(key)
        if "\x00" in str(key):
            return here.replace("\x00", "")
        found = nul_field(value, here)
        if found is not None:
            return found
    return None


def parse_json_field(text: str | None, field: str) -> Any:
    """A JSON value sent as a multipart form field."""
    if text is None or not text.strip():
        return None
    try:
        doc = strict_json_loads(text)
    except NonFiniteNumberError as exc:
        raise InvalidInputError(f"not valid JSON: {exc}", field=field) from exc
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"not valid JSON: {exc.msg}", field=field) from exc
    except RecursionError as exc:
        raise InvalidInputError("not valid JSON: nested too deep", field=field) from exc
    if nul_field(doc) is not None:
        raise InvalidInputError(
            "holds a NUL character (U+0000), which no text field may hold", field=field
        )
    return doc


class PhotoMeta(BaseModel):
    """What the phone recorded for one photo (matched by file name).

    ``signed`` and ``signature`` are the capture signature the agent's app
    made on the phone (the exact signed message, and its ECDSA P-256
    signature as P1363 ``r||s`` in base64url). When the signature is green
    (a camera photo signed on an active device of the sender) the signed time
    and place win over ``captured_at``, ``lat``, ``lon`` and EXIF; otherwise
    (a photo picked from the phone's files, a device awaiting approval, a red
    photo) these count, as for an unsigned photo.
    """

    name: str = Field(max_length=255, pattern=NO_NUL)
    captured_at: datetime | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    # Kept with the evidence even when refused: no character PostgreSQL cannot hold.
    signed: str | None = Field(None, max_length=2048, pattern=NO_NUL)
    signature: str | None = Field(None, max_length=128, pattern=NO_NUL)


def parse_photo_meta(text: str | None) -> dict[str, PhotoMeta]:
    """The ``meta`` form field of a photo upload: a JSON list of :class:`PhotoMeta`, by name.

    Raises:
        InvalidInputError: not JSON, not a list, or an entry that does not fit
            (its position and problem named; field ``meta``).
    """
    raw = parse_json_field(text, "meta") or []
    if not isinstance(raw, list):
        raise InvalidInputError("meta must be a JSON list", field="meta")
    try:
        return {m.name: m for m in (PhotoMeta.model_validate(x) for x in raw)}
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(f"{where}: {first['msg']}", field="meta") from exc
