"""The bad-input matrix: every route that takes a body or an upload, fed what no client should send.

Each case sends one bad input (corrupt, truncated, empty or oversized bodies and
files, decompression and zip bombs, the wrong type, NaN and Infinity, huge
integers, 10 MB strings, control characters and NUL, path traversal in file and
scene names, SQL and script injection, broken multipart) with the token of a
role allowed to call the route, so the refusal is about the input. A refused
case must answer a 4xx in the one error model (``{"detail", "field"}``) naming
the field, at most a couple of kilobytes long (the input is not echoed), and
write nothing: the row count of every table, the ledger's size and the kept
photo files are the same after it. An injection string that is a legal value
(a farmer's name, a decision's reason, a plot id in a farmer's file) is
accepted: it must then be stored verbatim (read back through the API), leave
every table in place, and reach the pages only as JSON under the app's
Content-Security-Policy; the pages write it as text
(:func:`test_the_pages_write_records_as_text_never_as_html`).

A case marked with a gap (``GAPS``) asserts what the app does today and says
what it should do; docs/bad-input.md shows the same matrix, cell for cell
(:func:`test_the_doc_shows_the_matrix`). Every route that takes input must have
its rows (:func:`test_every_route_that_takes_input_is_in_the_matrix`): a new
route without them fails.

One app per database serves every case (module-scoped), on SQLite and on
PostgreSQL, with small limits (12 MiB a body, 11 MiB a plot file, 0.1
megapixels a photo) so oversized inputs stay cheap.
"""

from __future__ import annotations

import base64
import gc
import io
import json
import os
import re
import struct
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from PIL import Image
from shapely.geometry import box
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from ledger import generate_key
from livestock import Photo
from remote_sensing import plots_from_geometries
from server.config import Settings
from server.context import AppContext, build_context, write_keypair
from server.http.app import create_app
from server.services.access import Viewer
from server.services.auth import UserStore
from tests.server.conftest import _postgres_base
from tests.server.notices import notices
from tests.server.pages_records import FARM_1, PASSWORD, login, pick_cows
from underwriting import CropProduct, LivestockProduct, Money

API = "/api/v1"
REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "bad-input.md"

LIMIT = (12 << 20) + 1  # one byte over AGRI_MAX_REQUEST_MB=12
FILE_LIMIT = (11 << 20) + 1  # one byte over AGRI_MAX_UPLOAD_MB=11
TEN_MB = 10 << 20
SQL = "'; DROP TABLE claims; --"
SCRIPT = "<script>alert(1)</script>"
SCRIPT_2 = "<img src=x onerror=alert(2)>"  # names no record an earlier case made
CONTROL = "a\x1b[2J\x07b"  # an escape sequence that clears a terminal, and a bell
TRAVERSAL = "../../../etc/passwd"
HUGE = str(10**400)  # a JSON integer no float or int64 holds
BIG = 2**64  # one past the largest unsigned 64-bit integer

KINDS_BODY = (
    "corrupt",
    "truncated",
    "empty",
    "oversized",
    "bomb",
    "wrong type",
    "broken multipart",
)
"""The columns of the first table: what is wrong with a body or a file as a whole."""

KINDS_VALUE = (
    "NaN/Infinity",
    "10**400",
    "2**64",
    "10 MB",
    "control",
    "NUL",
    "traversal",
    "SQL",
    "script",
)
"""The columns of the second table: what is wrong with one value."""

GAPS = {
    "G3": "A product's refusals name `terms`, not the term at fault, where the "
    "product's own parser does not know it (e.g. a code that is not a string). "
    "Fix: `underwriting` `ProductError` carries the term for every refusal "
    "(`server/http/errors.py` `_domain` already names `exc.field` when set).",
    "G6": "A multipart body cut inside a file part is answered 422 naming the "
    "missing field, but the cut part's SpooledTemporaryFile is never closed "
    "(Starlette's parser closes only finished parts; over 1 MiB it is a file on "
    "disk whose descriptor stays open until garbage collection). Fix: "
    "`server/http/middleware.py` `RequestGuard` refuses a multipart body whose "
    "stream ends before its closing boundary, raising from the guarded `receive` "
    "(422 naming `body`), so the parser's error path closes every part.",
}
"""Known gaps: each case marked with one asserts today's answer (the doc marks it too)."""


# --- the world the cases run in ------------------------------------------------------


class Photos(dict[str, bytes]):
    """The photos the cases send; ``BASE-anything`` is a copy of ``BASE`` of its own.

    A copy differs from its base by a JPEG comment only, so it is a new file to
    the photo store (content-addressed) and the same picture to the face model.
    """

    def __missing__(self, key: str) -> bytes:
        base, _, salt = key.partition("-")
        jpeg = self[base]
        assert salt and jpeg[:2] == b"\xff\xd8", key
        comment = salt.encode()
        segment = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
        self[key] = copy = jpeg[:2] + segment + jpeg[2:]
        return copy


@dataclass
class World:
    """One app on one database, its users' tokens and the records the cases address."""

    ctx: AppContext
    client: TestClient
    tokens: dict[str, dict[str, str]]
    ids: dict[str, str]
    photos: Photos
    enrol2: list[bytes]
    folder: Path

    def state(self) -> dict[str, int]:
        """Rows per table (every table of the schema), the ledger's size, kept files."""
        engine = self.ctx.engine
        names = sorted(inspect(engine).get_table_names())
        quote = engine.dialect.identifier_preparer.quote
        counts = " UNION ALL ".join(
            f"SELECT '{n}' AS t, COUNT(*) AS n FROM {quote(n)}" for n in names
        )
        with engine.connect() as conn:
            found = {str(t): int(n) for t, n in conn.execute(text(counts))}
        health = self.client.get(f"{API}/health").json()
        found["(ledger size)"] = int(health["ledger_size"])
        photos = self.ctx.settings.resolved_photo_dir()
        found["(kept files)"] = sum(1 for p in photos.rglob("*") if p.is_file())
        found["(other files)"] = sum(
            1
            for p in self.folder.rglob("*")
            if p.is_file() and photos not in p.parents and ".db" not in p.name
        )
        return found


Sent = tuple[bytes, str | None]
"""A request's body and Content-Type (None: no Content-Type header)."""

Send = Callable[[World], Sent]
"""What a case sends, made from the world."""


@dataclass(frozen=True)
class Kept:
    """What an accepted case keeps and how it is read back.

    Attributes:
        label: the matrix's word for it (``stored as text``, ``reported``...).
        check: reads the value back through the API (``world``, the response).
        writes: whether it writes at all (a photo check writes nothing).
        ledger: whether what it writes goes on the ledger (creating a user
            writes no event yet).
    """

    label: str
    check: Callable[[World, Any], None]
    writes: bool = True
    ledger: bool = True


@dataclass(frozen=True)
class Case:
    """One bad input to one route: what to send and what must come back.

    Attributes:
        route: ``METHOD /path`` as the OpenAPI names it, without ``/api/v1``.
        row: the field of the input the case is about (the matrix's row).
        kind: the matrix's column (:data:`KINDS_BODY`, :data:`KINDS_VALUE`).
        send: the body and its Content-Type, made from the world.
        status: the answer's status.
        names: the error's ``field`` (None: none).
        kept: for an accepted case, what it keeps; None for a refusal.
        gap: a key of :data:`GAPS` when today's answer is not yet the right one.
        writes: rows a refusal adds by design (a failed login is counted).
        ids: path parameters other than the route's own record (``=x``: literally x).
        quiet: a warning the case's request raises on purpose (ignored).
    """

    route: str
    row: str
    kind: str
    send: Callable[[World], Sent]
    status: int
    names: str | None = None
    kept: Kept | None = None
    gap: str | None = None
    writes: tuple[tuple[str, int], ...] = ()
    ids: tuple[tuple[str, str], ...] = ()
    quiet: str | None = None

    @property
    def name(self) -> str:
        return f"{self.route} | {self.row} | {self.kind}"

    def cell(self) -> str:
        """The matrix's cell: status, and the field named or what was kept; a gap's key."""
        if self.kept is not None:
            out = f"{self.status}, {self.kept.label}"
        elif ("login_failures", 1) in self.writes:
            out = f"{self.status}, a failed login (counted)"
        else:
            out = f"{self.status} `{self.names}`" if self.names else f"{self.status} -"
        return f"{out} ({self.gap})" if self.gap else out


ROLES = {
    "POST /auth/token": None,
    "POST /auth/logout": "admin",
    "POST /users": "admin",
    "POST /users/{username}/disable": "admin",
    "POST /users/{username}/enable": "admin",
    "PUT /users/{username}/role": "admin",
    "POST /users/{username}/password": "admin",
    "POST /farmers": "admin",
    "POST /products": "admin",
    "POST /animals": "field_agent",
    "POST /animals/{tag}/sessions": "field_agent",
    "POST /applications/livestock": "field_agent",
    "POST /applications/crop": "field_agent",
    "POST /applications/{application_id}/decision": "underwriter",
    "POST /claims": "field_agent",
    "POST /claims/{claim_id}/evidence": "field_agent",
    "POST /claims/{claim_id}/assessment": "adjuster",
    "POST /claims/{claim_id}/decision": "adjuster",
    "POST /claims/{claim_id}/payment": "adjuster",
    "POST /photos/check": "field_agent",
    "POST /devices": "field_agent",
    "POST /devices/{device_id}/revoke": "admin",
    "POST /devices/{device_id}/approve": "admin",
    "GET /scenes/{scene}/tilejson.json": "adjuster",
    "POST /notices": "underwriter",
    "POST /notices/{notice_id}/objections": "adjuster",
    "POST /notices/{notice_id}/objections/{objection_id}/resolution": "adjuster",
}
"""Each route of the matrix and a role allowed to call it (None: no login)."""

RECORDS = {
    "POST /users/{username}/disable": {"username": "leaver"},
    "POST /users/{username}/enable": {"username": "leaver"},
    "PUT /users/{username}/role": {"username": "target"},
    "POST /users/{username}/password": {"username": "target"},
    "POST /animals/{tag}/sessions": {"tag": "tag"},
    "POST /applications/{application_id}/decision": {"application_id": "application"},
    "POST /claims/{claim_id}/evidence": {"claim_id": "animal_claim"},
    "POST /claims/{claim_id}/assessment": {"claim_id": "crop_claim"},
    "POST /claims/{claim_id}/decision": {"claim_id": "crop_claim"},
    "POST /claims/{claim_id}/payment": {"claim_id": "crop_claim"},
    "POST /devices/{device_id}/revoke": {"device_id": "device"},
    "POST /devices/{device_id}/approve": {"device_id": "device"},
    "POST /notices/{notice_id}/objections": {"notice_id": "notice"},
    "POST /notices/{notice_id}/objections/{objection_id}/resolution": {
        "notice_id": "notice",
        "objection_id": "objection",
    },
}
"""The record each route's path names by default (a key of ``World.ids``)."""


def path_of(world: World, case: Case) -> str:
    """The case's URL path: the route with its records' ids."""
    _method, template = case.route.split(" ", 1)
    ids = dict(RECORDS.get(case.route, {})) | dict(case.ids)
    for name, key in ids.items():
        value = key[1:] if key.startswith("=") else world.ids[key]
        template = template.replace("{" + name + "}", value)
    return API + template


# --- bodies --------------------------------------------------------------------------


class Raw(str):
    """A JSON literal spliced into a body as it is: ``NaN``, a 400-digit integer."""

    __slots__ = ()


def encode(doc: Any) -> bytes:
    """``doc`` as JSON, its :class:`Raw` values written as they are."""
    raws: list[str] = []

    def mark(x: Any) -> Any:
        if isinstance(x, Raw):
            raws.append(str(x))
            return f"@@raw{len(raws) - 1}@@"
        if isinstance(x, dict):
            return {k: mark(v) for k, v in x.items()}
        if isinstance(x, list):
            return [mark(v) for v in x]
        return x

    out = json.dumps(mark(doc))
    for i, literal in enumerate(raws):
        out = out.replace(f'"@@raw{i}@@"', literal)
    return out.encode()


def put(doc: Any, where: str, new: Any) -> Any:
    """A copy of ``doc`` with ``new`` at the dotted path ``where`` (digits: list positions)."""
    if not where:
        return new
    head, _, rest = where.partition(".")
    if isinstance(doc, list):
        copy = list(doc)
        copy[int(head)] = put(copy[int(head)], rest, new)
        return copy
    return dict(doc) | {head: put(doc.get(head), rest, new)}


Body = Callable[["World"], dict[str, Any]]
"""A valid body of a JSON route, made from the world (its ids)."""


def json_body(make: Callable[[World], Any], media: str = "application/json") -> Send:
    """Send ``make(world)`` as JSON (under the Content-Type ``media``)."""
    return lambda w: (encode(make(w)), media)


def raw(data: bytes, media: str | None = "application/json") -> Send:
    """Send ``data`` as it is."""
    return lambda w: (data, media)


def body_rows(
    route: str, base: Body, nan_at: str, **other: tuple[int, str | None, str | None]
) -> list[Case]:
    """The six whole-body cases of a JSON route; ``other``: kind -> (status, field, gap).

    Corrupt is a body that is not UTF-8 (FastAPI's parser answers 400 naming the body).
    """

    def half(w: World) -> Sent:
        data = encode(base(w))
        return data[: len(data) // 2], "application/json"

    nan = json_body(lambda w: put(base(w), nan_at, Raw("NaN")))
    out = [
        Case(route, "body", "corrupt", raw(b'\xff{"a": ]'), 400, "body"),
        Case(route, "body", "truncated", half, 422, "body"),
        Case(route, "body", "empty", raw(b""), 422, "body"),
        Case(route, "body", "oversized", raw(b" " * LIMIT), 413, "body"),
        Case(route, "body", "wrong type", json_body(base, "text/plain"), 422, "body"),
        Case(route, "body", "NaN/Infinity", nan, 422, "body"),
    ]
    for i, case in enumerate(out):
        if case.kind in other:
            status, names, gap = other[case.kind]
            out[i] = Case(route, "body", case.kind, case.send, status, names, gap=gap)
    return out


Row = tuple[Any, ...]
"""A value case: (field, kind, value, status), then the error's field if not the row's."""


def putting(base: Body, where: str, new: Any) -> Callable[[World], Any]:
    """``base`` with ``new`` at ``where``, made from the world."""
    return lambda w: put(base(w), where, new)


def values(route: str, base: Body, rows: list[Row]) -> list[Case]:
    """Cases of a JSON route: ``base`` with the value at the row's field (a dotted path)."""
    out = []
    for row, kind, new, status, *names in rows:
        send = json_body(putting(base, row, new))
        out.append(Case(route, row, kind, send, status, names[0] if names else row))
    return out


def kept_value(
    route: str,
    base: Body,
    row: str,
    kind: str,
    new: Any,
    status: int,
    kept: Kept,
    **extra: Any,
) -> Case:
    """An accepted value case: ``base`` with ``new`` at ``row``, kept as ``kept`` says."""
    send = json_body(lambda w: put(base(w), row, new))
    return Case(route, row, kind, send, status, kept=kept, **extra)


# --- multipart -----------------------------------------------------------------------

BOUNDARY = "bad-input-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
Part = tuple[str, bytes | None, str | None, bytes]
"""A part of a form: name, file name (None: a plain field), content type, bytes."""

Parts = Callable[["World"], list[Part]]
"""A valid form of a multipart route, made from the world."""


def form(parts: list[Part]) -> bytes:
    """The parts as ``multipart/form-data`` bytes, file names sent byte for byte."""
    out = b""
    for name, filename, media, data in parts:
        head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"'.encode()
        if filename is not None:
            head += b'; filename="' + filename + b'"'
        head += b"\r\n"
        if media:
            head += f"Content-Type: {media}\r\n".encode()
        out += head + b"\r\n" + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def swap(parts: list[Part], name: str, new: Part) -> list[Part]:
    """``parts`` with the part ``name`` replaced by ``new`` (added last)."""
    return [*(p for p in parts if p[0] != name), new]


def multipart(make: Parts) -> Send:
    """Send the form ``make(world)``."""
    return lambda w: (form(make(w)), MULTIPART)


def field_of(base: Parts, name: str, data: bytes) -> Send:
    """Send ``base`` with the plain field ``name`` set to ``data``."""
    return multipart(lambda w: swap(base(w), name, (name, None, None, data)))


def file_of(
    base: Parts, name: str, filename: bytes, data: Callable[[World], bytes], media: str
) -> Send:
    """Send ``base`` with the file part ``name`` replaced."""
    return multipart(lambda w: swap(base(w), name, (name, filename, media, data(w))))


def photo_bytes(key: str) -> Callable[[World], bytes]:
    """The world's photo ``key``."""
    return lambda w: w.photos[key]


def photo(key: str) -> Parts:
    """A form of one photo ``files``: the world's photo ``key`` as ``cow.jpg``."""
    return lambda w: [("files", b"cow.jpg", "image/jpeg", w.photos[key])]


LEAKS = "ignore::pytest.PytestUnraisableExceptionWarning"
"""The warning a cut multipart body raises when its file part is collected unclosed (G6)."""


def multipart_body_rows(
    route: str, base: Parts, *, cut: str = "files", first: str = "files"
) -> list[Case]:
    """The six whole-body cases of a multipart route.

    ``cut``: the field a body cut in the middle of its file lacks; ``first``:
    the first required field of the route (what an empty body lacks).
    """

    def half(w: World) -> Sent:
        data = form(base(w))
        return data[: len(data) // 2], MULTIPART

    def no_boundary(w: World) -> Sent:
        return form(base(w)), "multipart/form-data"

    return [
        Case(route, "body", "corrupt", raw(b"\x00\xff" * 100, MULTIPART), 400, "body"),
        Case(route, "body", "truncated", half, 422, cut, gap="G6", quiet=LEAKS),
        Case(route, "body", "empty", raw(b"", MULTIPART), 422, first),
        Case(route, "body", "oversized", raw(b"\x00" * LIMIT, MULTIPART), 413, "body"),
        Case(route, "body", "wrong type", raw(b'{"files": []}'), 422, first),
        Case(route, "body", "broken multipart", no_boundary, 400, "body"),
    ]


FILE_NAMES = {
    "traversal": TRAVERSAL + ".jpg",
    "control": CONTROL + ".jpg",
    "script": SCRIPT + ".jpg",
}
"""The file name a photo is sent under, for each kind of hostile name."""


def photo_rows(
    route: str, base: Parts, accepted: dict[str, tuple[int, str, Kept]]
) -> list[Case]:
    """The cases of a photo upload's ``files``.

    ``accepted``: kind (a key of :data:`FILE_NAMES`) -> (status, the world's
    photo sent under that name, how the name is kept).
    """
    refused = [
        ("corrupt", b"c.jpg", "corrupt", "image/jpeg", 422),
        ("truncated", b"t.jpg", "truncated", "image/jpeg", 422),
        ("empty", b"e.jpg", "", "image/jpeg", 422),
        ("oversized", b"big.png", "big", "image/png", 413),
        ("bomb", b"bomb.png", "bomb", "image/png", 413),
        ("wrong type", b"notes.txt", "notes", "text/plain", 422),
        ("NUL", b"cow\x00.jpg", "cow", "image/jpeg", 422),
    ]
    out = []
    for kind, name, key, media, status in refused:
        data = photo_bytes(key) if key else (lambda w: b"")
        send = file_of(base, "files", name, data, media)
        out.append(Case(route, "files", kind, send, status, "files"))
    for kind, (status, key, kept) in accepted.items():
        send = file_of(
            base,
            "files",
            FILE_NAMES[kind].encode(),
            photo_bytes(key),
            "image/jpeg",
        )
        out.append(Case(route, "files", kind, send, status, kept=kept))
    return out


def meta_rows(
    route: str, base: Parts, kinds: tuple[str, ...] | None = None
) -> list[Case]:
    """The cases of a photo upload's ``meta`` (a JSON list in a form field)."""

    def meta(data: bytes) -> Send:
        return multipart(lambda w: [*base(w), ("meta", None, None, data)])

    lat = b'[{"name": "cow.jpg", "lat": %s}]'
    signed = b'[{"name": "cow.jpg", "signed": "' + b"x" * TEN_MB + b'"}]'
    rows = [
        Case(route, "meta", "corrupt", meta(b'[{"name": '), 422, "meta"),
        Case(route, "meta", "wrong type", meta(b'{"name": "cow.jpg"}'), 422, "meta"),
        Case(route, "meta", "NaN/Infinity", meta(lat % b"NaN"), 422, "meta"),
        Case(route, "meta", "10**400", meta(lat % HUGE.encode()), 422, "meta"),
        Case(route, "meta", "2**64", meta(lat % str(BIG).encode()), 422, "meta"),
        Case(route, "meta", "NUL", meta(b'[{"name": "c\\u0000.jpg"}]'), 422, "meta"),
        Case(route, "meta", "10 MB", meta(signed), 400, "body"),
    ]
    return [c for c in rows if kinds is None or c.kind in kinds]


# --- read back what an accepted case kept --------------------------------------------


def listed(path: str, key: str, *, ledger: bool = True) -> Callable[..., Kept]:
    """Kept as text: the value is among the ``key`` of the items listed at ``path``."""

    def kept(sent: str, label: str = "stored as text") -> Kept:
        def check(world: World, response: Any) -> None:
            got = world.client.get(f"{API}{path}", headers=world.tokens["admin"]).json()
            items = got["items"] if isinstance(got, dict) else got
            assert sent in [item[key] for item in items], (path, key)

        return Kept(label, check, ledger=ledger)

    return kept


def reason_of(kind: str, key: str, sent: str) -> Kept:
    """Kept as text: the decided record's ``reason`` is the value sent."""

    def check(world: World, response: Any) -> None:
        path = f"{API}/{kind}/{world.ids[key]}"
        got = world.client.get(path, headers=world.tokens["admin"]).json()
        assert got["reason"] == sent

    return Kept("stored as text", check)


def plot_named(sent: str) -> Kept:
    """Kept as text: the application and its map list the plot by the id in the file."""

    def check(world: World, response: Any) -> None:
        path = f"{API}/applications/{response.json()['id']}"
        got = world.client.get(path, headers=world.tokens["admin"]).json()
        assert got["plots"] == [sent]
        geo = world.client.get(f"{path}/plots.geojson", headers=world.tokens["admin"])
        assert sent in json.dumps(geo.json(), ensure_ascii=False)

    return Kept("stored as text", check)


def red_check(code: str) -> Kept:
    """Accepted, the plot's check ``code`` red: a person decides on the application."""

    def check(world: World, response: Any) -> None:
        lights = {c["code"]: c["light"] for c in response.json()["checks"]}
        assert lights.get(code) == "red", lights

    return Kept(f"red {code}", check)


def photo_named(key: str, kind: str, sent: str) -> Kept:
    """Kept as text: the record's kept photos list the file name sent; no path is made."""

    def check(world: World, response: Any) -> None:
        path = f"{API}/{kind}/{world.ids[key]}/photos"
        got = world.client.get(path, headers=world.tokens["admin"]).json()
        assert sent in [p["name"] for p in got]

    return Kept("stored as text", check)


def reported(sent: str) -> Kept:
    """Answered for the photo by its name; nothing is kept."""

    def check(world: World, response: Any) -> None:
        assert [p["name"] for p in response.json()["photos"]] == [sent]

    return Kept("reported", check, writes=False)


def logs_in(password: str) -> Kept:
    """Kept hashed: the user logs in with the new password as sent."""

    def check(world: World, response: Any) -> None:
        login = {"username": "target", "password": password}
        assert world.client.post(f"{API}/auth/token", json=login).status_code == 200

    return Kept("stored hashed", check)


# --- the matrix ----------------------------------------------------------------------


def _jwk() -> dict[str, str]:
    """The EC P-256 public JWK of a fresh key."""
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

    return {"kty": "EC", "crv": "P-256", "x": b64(numbers.x), "y": b64(numbers.y)}


RING = [[108.95, 34.35], [108.952, 34.35], [108.952, 34.352], [108.95, 34.352]]


def plot_file(props: dict[str, Any], ring: list[list[Any]] | None = None) -> bytes:
    """A GeoJSON FeatureCollection of one square plot (``ring``: its own corners)."""
    corners = ring or RING
    geometry = {"type": "Polygon", "coordinates": [[*corners, corners[0]]]}
    feature = {"type": "Feature", "properties": props, "geometry": geometry}
    return encode({"type": "FeatureCollection", "features": [feature]})


def _logins() -> list[Case]:
    r = "POST /auth/token"

    def body(w: World) -> dict[str, Any]:
        return {"username": "admin", "password": "not the password"}

    def form_body(data: bytes) -> Send:
        return raw(data, "application/x-www-form-urlencoded")

    failed = (("login_failures", 1),)  # a wrong login is counted (the rate limits)
    return [
        *body_rows(r, body, "password", corrupt=(422, "body", None)),
        *values(
            r,
            body,
            [
                ("username", "10**400", Raw(HUGE), 422),
                ("username", "2**64", BIG, 422),
                ("username", "10 MB", "u" * TEN_MB, 422),
                ("username", "NUL", "adm\x00in", 422),
            ],
        ),
        *(
            Case(
                r,
                "username",
                kind,
                json_body(putting(body, "username", name)),
                401,
                writes=failed,
            )
            for kind, name in (
                ("control", CONTROL),
                ("SQL", "admin' OR '1'='1"),
                ("script", SCRIPT),
            )
        ),
        Case(
            r,
            "password (form)",
            "10 MB",
            form_body(b"username=admin&password=" + b"x" * TEN_MB),
            400,
            "body",
        ),
        Case(
            r,
            "password (form)",
            "NUL",
            form_body(b"username=admin&password=a%00b"),
            422,
            "password",
        ),
    ]


def _users() -> list[Case]:
    r = "POST /users"

    def user(w: World) -> dict[str, Any]:
        return {"username": "new-user", "password": PASSWORD, "role": "adjuster"}

    def farmer_user(w: World) -> dict[str, Any]:
        return user(w) | {"role": "farmer"}

    users = listed("/users?limit=200", "username", ledger=False)
    out = [
        *body_rows(r, user, "password"),
        *values(
            r,
            user,
            [
                ("username", "10**400", Raw(HUGE), 422),
                ("username", "2**64", BIG, 422),
                ("username", "10 MB", "u" * TEN_MB, 422),
                ("username", "NUL", "u\x00", 422),
                ("role", "SQL", SQL, 422),
                ("farmer_id", "10 MB", "F" * TEN_MB, 422),
            ],
        ),
        *values(r, farmer_user, [("farmer_id", "traversal", TRAVERSAL, 422)]),
        *values(r, user, [("username", "control", CONTROL, 422, "username")]),
        kept_value(r, user, "username", "SQL", SQL, 201, users(SQL)),
        kept_value(r, user, "username", "script", SCRIPT, 201, users(SCRIPT)),
    ]

    r = "PUT /users/{username}/role"

    def role(w: World) -> dict[str, Any]:
        return {"role": "farmer", "farmer_id": "F-1"}

    out += [
        *body_rows(r, role, "farmer_id"),
        *values(
            r,
            role,
            [
                ("role", "2**64", BIG, 422),
                ("role", "SQL", SQL, 422),
                ("farmer_id", "10**400", Raw(HUGE), 422),
                ("farmer_id", "10 MB", "F" * TEN_MB, 422),
                ("farmer_id", "NUL", "F-1\x00", 422),
                ("farmer_id", "control", CONTROL, 422),
                ("farmer_id", "traversal", TRAVERSAL, 422),
                ("farmer_id", "SQL", SQL, 422),
            ],
        ),
    ]

    r = "POST /users/{username}/password"

    def password(w: World) -> dict[str, Any]:
        return {"password": "a new password of the target"}

    anything = "tab\there, a bell \x07 and an escape \x1b: a password may hold them"
    out += [
        *body_rows(r, password, "password"),
        *values(
            r,
            password,
            [
                ("password", "10**400", Raw(HUGE), 422),
                ("password", "2**64", BIG, 422),
                ("password", "10 MB", "p" * TEN_MB, 422),
                ("password", "NUL", "long enough\x00", 422),
            ],
        ),
        kept_value(
            r, password, "password", "control", anything, 200, logs_in(anything)
        ),
    ]
    return out


def _bodiless() -> list[Case]:
    """Writes without a body: a body over the limit is refused before anything runs."""
    routes = (
        "POST /auth/logout",
        "POST /users/{username}/disable",
        "POST /users/{username}/enable",
        "POST /devices/{device_id}/revoke",
        "POST /devices/{device_id}/approve",
    )
    send = raw(b"\x00" * LIMIT, "application/octet-stream")
    return [Case(r, "body", "oversized", send, 413, "body") for r in routes]


def _farmers_and_products() -> list[Case]:
    r = "POST /farmers"

    def farmer(w: World) -> dict[str, Any]:
        return {
            "id": "F-new",
            "name": "Liu Jun",
            "region": "Hohhot",
            "lat": 40.8,
            "lon": 111.7,
        }

    def other(w: World) -> dict[str, Any]:
        return farmer(w) | {"id": "F-script"}

    ids = listed("/farmers?limit=200", "id")
    names = listed("/farmers?limit=200", "name")
    out = [
        *body_rows(r, farmer, "lat"),
        *values(
            r,
            farmer,
            [
                ("id", "2**64", BIG, 422),
                ("id", "10 MB", "F" * TEN_MB, 422),
                ("id", "control", CONTROL, 422),
                ("id", "NUL", "F-\x00", 422),
                ("id", "traversal", TRAVERSAL, 422),
                ("name", "10 MB", "n" * TEN_MB, 422),
                ("name", "control", CONTROL, 422),
                ("name", "NUL", "Liu\x00", 422),
                ("region", "control", "Hohhot\u202eredro", 422),
                ("lat", "10**400", Raw(HUGE), 422),
                ("lat", "2**64", BIG, 422),
                ("lat", "wrong type", "north", 422),
            ],
        ),
        kept_value(r, farmer, "id", "SQL", "F-9" + SQL, 201, ids("F-9" + SQL)),
        kept_value(r, other, "name", "script", SCRIPT, 201, names(SCRIPT)),
    ]

    r = "POST /products"

    def cow(w: World) -> dict[str, Any]:
        return {
            "kind": "livestock",
            "code": "COW-NEW",
            "sum_insured_per_head": "8000",
            "premium_rate": "0.06",
            "deductible": "200",
            "waiting_days": 7,
        }

    def wheat(w: World) -> dict[str, Any]:
        return {
            "kind": "crop",
            "code": "WHEAT-NEW",
            "sum_insured_per_unit": "900",
            "unit": "mu",
            "premium_rate": "0.06",
        }

    codes = listed("/products", "code")
    terms = "terms"  # G3: a product's refusals name the terms, not the term
    out += [
        *body_rows(r, cow, "premium_rate", corrupt=(422, "body", None)),
        *values(r, cow, [("code", "NUL", "C\x00", 422)]),
        *(
            Case(c.route, c.row, c.kind, c.send, c.status, c.names, gap="G3")
            for c in values(
                r,
                cow,
                [
                    ("code", "2**64", BIG, 422, terms),
                    ("code", "10 MB", "C" * TEN_MB, 422, terms),
                    ("code", "control", CONTROL, 422, terms),
                    ("premium_rate", "NaN/Infinity", "NaN", 422, terms),
                    ("premium_rate", "10**400", Raw(HUGE), 422, terms),
                    ("premium_rate", "2**64", BIG, 422, terms),
                    ("sum_insured_per_head", "NaN/Infinity", "Infinity", 422, terms),
                    ("sum_insured_per_head", "10**400", Raw(HUGE), 422, terms),
                    ("sum_insured_per_head", "2**64", BIG, 422, terms),
                    ("sum_insured_per_head", "10 MB", "9" * TEN_MB, 422, terms),
                    ("waiting_days", "10**400", Raw(HUGE), 422, terms),
                    ("waiting_days", "2**64", BIG, 422, terms),
                    ("whole_herd", "wrong type", "no", 422, terms),
                ],
            )
            + values(
                r,
                wheat,
                [
                    ("scene_before_days", "2**64", BIG, 422, terms),
                    ("growth_stage_caps", "10 MB", {"s" * TEN_MB: "1"}, 422, terms),
                    ("calendars", "control", {CONTROL: {}}, 422, terms),
                ],
            )
        ),
        kept_value(r, cow, "code", "SQL", SQL, 201, codes(SQL)),
        kept_value(r, cow, "code", "script", SCRIPT, 201, codes(SCRIPT)),
    ]
    return out


def _photos() -> list[Case]:
    r = "POST /animals"

    def enrol(w: World, key: str = "cow") -> list[Part]:
        return [
            ("tag", None, None, b"998230000009999"),
            ("farmer_id", None, None, b"F-1"),
            ("files", b"cow.jpg", "image/jpeg", w.photos[key]),
        ]

    def second_cow(w: World) -> list[Part]:
        names = (f"{TRAVERSAL}{i}.jpg".encode() for i in range(len(w.enrol2)))
        return [
            ("tag", None, None, w.ids["tag2"].encode()),
            ("farmer_id", None, None, b"F-1"),
            *(
                ("files", n, "image/jpeg", data)
                for n, data in zip(names, w.enrol2, strict=True)
            ),
        ]

    def fresh(kind: str, name: str, data: bytes, status: int, names: str) -> Case:
        # A good photo never sent before: were it kept before the refusal, the
        # photo store would hold a new file (content-addressed).
        photo = f"cow-fresh {kind} {name}"
        send = multipart(
            lambda w: swap(enrol(w, photo), name, (name, None, None, data))
        )
        return Case(r, name, kind, send, status, names)

    out = [
        *multipart_body_rows(r, enrol, first="tag"),
        *photo_rows(r, enrol, {}),
        Case(
            r,
            "files",
            "traversal",
            multipart(second_cow),
            201,
            kept=photo_named("tag2", "animals", TRAVERSAL + "0.jpg"),
        ),
        *meta_rows(r, enrol, ("NaN/Infinity",)),
        Case(r, "tag", "10**400", field_of(enrol, "tag", HUGE.encode()), 422, "tag"),
        Case(r, "tag", "10 MB", field_of(enrol, "tag", b"9" * TEN_MB), 400, "body"),
        Case(r, "tag", "NUL", field_of(enrol, "tag", b"99823\x00"), 422, "tag"),
        fresh("2**64", "tag", str(BIG).encode(), 422, "tag"),
        fresh("control", "tag", CONTROL.encode(), 422, "tag"),
        fresh("traversal", "tag", TRAVERSAL.encode(), 422, "tag"),
        fresh("SQL", "tag", SQL.encode(), 422, "tag"),
        Case(  # the farmer is looked up before a photo is kept
            r,
            "farmer_id",
            "SQL",
            multipart(
                lambda w: swap(
                    enrol(w, "cow-fresh farmer"),
                    "farmer_id",
                    ("farmer_id", None, None, SQL.encode()),
                )
            ),
            404,
            "farmer_id",
        ),
    ]

    r = "POST /animals/{tag}/sessions"
    base = photo("cow")
    kept = photo_named("tag", "animals", FILE_NAMES["traversal"])
    out += [
        *multipart_body_rows(r, base),
        *photo_rows(r, base, {"traversal": (201, "session", kept)}),
        *meta_rows(r, base, ("corrupt", "NaN/Infinity", "NUL")),
    ]

    r = "POST /photos/check"
    base = photo("cow")
    out += [
        *multipart_body_rows(r, base),
        *photo_rows(
            r, base, {k: (200, "cow", reported(n)) for k, n in FILE_NAMES.items()}
        ),
    ]

    r = "POST /claims/{claim_id}/evidence"
    base = photo("cow")
    accepted = {
        k: (200, f"evidence-{k}", photo_named("animal_claim", "claims", n))
        for k, n in FILE_NAMES.items()
    }
    out += [
        *multipart_body_rows(r, base),
        *photo_rows(r, base, accepted),
        *meta_rows(r, base),
    ]
    return out


def _applications() -> list[Case]:
    r = "POST /applications/livestock"

    def herd(w: World) -> dict[str, Any]:
        return {
            "farmer_id": "F-1",
            "product_code": "COW",
            "start_date": "2025-04-01",
            "end_date": "2026-03-31",
            "animals": [w.ids["tag"]],
        }

    out = [
        *body_rows(r, herd, "animals.0"),
        *values(
            r,
            herd,
            [
                ("animals.0", "10**400", Raw(HUGE), 422),
                ("animals.0", "2**64", BIG, 422),
                ("animals.0", "10 MB", "9" * TEN_MB, 422),
                ("animals.0", "control", CONTROL, 422),
                ("animals.0", "NUL", "99\x00", 422),
                ("animals.0", "traversal", TRAVERSAL, 422),
                ("animals.0", "SQL", SQL, 422),
                ("farmer_id", "10 MB", "F" * TEN_MB, 422),
                ("farmer_id", "SQL", SQL, 404),
                ("product_code", "script", SCRIPT_2, 404),
                ("start_date", "10**400", Raw(HUGE), 422),
                ("start_date", "wrong type", "2025-13-45", 422),
            ],
        ),
    ]

    r = "POST /applications/crop"

    def crop(
        w: World, plots: bytes | None = None, name: bytes = b"plots.geojson"
    ) -> list[Part]:
        return [
            ("farmer_id", None, None, b"F-1"),
            ("product_code", None, None, b"WHEAT"),
            ("start_date", None, None, b"2025-04-01"),
            ("end_date", None, None, b"2025-10-31"),
            (
                "file",
                name,
                "application/geo+json",
                w.photos["plots"] if plots is None else plots,
            ),
        ]

    def plots(data: Callable[[World], bytes], name: bytes = b"plots.geojson") -> Send:
        return multipart(lambda w: crop(w, data(w), name))

    def declared(data: bytes) -> Send:
        return multipart(
            lambda w: [*crop(w, data), ("declared_column", None, None, b"area")]
        )

    def plot_id(new: str) -> Send:
        return plots(lambda w: plot_file({"id": new}))

    nan_ring: list[list[Any]] = [[Raw("NaN"), 34.35], *RING[1:]]
    nan_plot = plot_file({"id": "NAN-1"}, nan_ring)
    huge_area = plot_file({"id": "HUGE-1", "area": Raw(HUGE)})
    big_area = plot_file({"id": "BIG-1", "area": BIG})
    gdal_warns = (
        "ignore:Non closed ring detected:RuntimeWarning"  # NaN != NaN: GDAL closes it
    )
    out += [
        *multipart_body_rows(r, crop, cut="file", first="farmer_id"),
        Case(
            r,
            "file",
            "corrupt",
            plots(lambda w: b"\x00\x01 not GeoJSON {"),
            422,
            "file",
        ),
        Case(
            r, "file", "truncated", plots(lambda w: w.photos["plots"][:60]), 422, "file"
        ),
        Case(r, "file", "empty", plots(lambda w: b""), 422, "file"),
        Case(r, "file", "oversized", plots(lambda w: b" " * FILE_LIMIT), 413, "file"),
        Case(
            r,
            "file",
            "bomb",
            plots(lambda w: w.photos["zip_bomb"], b"plots.zip"),
            422,
            "file",
        ),
        Case(
            r,
            "file",
            "wrong type",
            plots(lambda w: b"MZ\x90\x00", b"plots.exe"),
            422,
            "file",
        ),
        Case(
            r,
            "file",
            "NUL",
            plots(lambda w: w.photos["plots"], b"plots\x00.geojson"),
            422,
            "file",
        ),
        Case(
            r,
            "file",
            "traversal",
            plots(
                lambda w: plot_file({"id": "TRAV-1"}),
                b"../../../etc/cron.d/plots.geojson",
            ),
            201,
            kept=plot_named("TRAV-1"),
        ),
        Case(
            r,
            "file",
            "NaN/Infinity",
            plots(lambda w: nan_plot),
            201,
            kept=red_check("plot_geometry"),
            quiet=gdal_warns,
        ),
        Case(r, "file (declared area)", "10**400", declared(huge_area), 422, "file"),
        Case(
            r,
            "file (declared area)",
            "2**64",
            declared(big_area),
            201,
            kept=red_check("plot_area"),
        ),
        Case(r, "file (plot id)", "10 MB", plot_id("p" * TEN_MB), 422, "file"),
        Case(r, "file (plot id)", "control", plot_id(CONTROL), 422, "file"),
        Case(
            r,
            "file (plot id)",
            "traversal",
            plot_id(TRAVERSAL),
            201,
            kept=plot_named(TRAVERSAL),
        ),
        Case(r, "file (plot id)", "SQL", plot_id(SQL), 201, kept=plot_named(SQL)),
        Case(
            r, "file (plot id)", "script", plot_id(SCRIPT), 201, kept=plot_named(SCRIPT)
        ),
        Case(
            r,
            "id_column",
            "NUL",
            field_of(crop, "id_column", b"i\x00d"),
            422,
            "id_column",
        ),
        Case(
            r,
            "id_column",
            "SQL",
            field_of(crop, "id_column", SQL.encode()),
            422,
            "id_column",
        ),
        Case(
            r,
            "id_column",
            "10 MB",
            field_of(crop, "id_column", b"c" * TEN_MB),
            400,
            "body",
        ),
        Case(
            r,
            "farmer_id",
            "SQL",
            field_of(crop, "farmer_id", SQL.encode()),
            404,
            "farmer_id",
        ),
        Case(
            r,
            "farmer_id",
            "control",
            field_of(crop, "farmer_id", CONTROL.encode()),
            404,
            "farmer_id",
        ),
        Case(
            r,
            "start_date",
            "10**400",
            field_of(crop, "start_date", HUGE.encode()),
            422,
            "start_date",
        ),
        Case(
            r,
            "start_date",
            "2**64",
            field_of(crop, "start_date", str(BIG).encode()),
            422,
            "start_date",
        ),
        Case(
            r,
            "declared_unit",
            "wrong type",
            field_of(crop, "declared_unit", b"acre"),
            422,
            "declared_unit",
        ),
    ]

    r = "POST /applications/{application_id}/decision"

    def decision(w: World) -> dict[str, Any]:
        return {"decision": "refer", "reason": "look at the plot on the map"}

    def on(key: str) -> tuple[tuple[str, str], ...]:
        return (("application_id", key),)

    out += [
        *body_rows(r, decision, "reason"),
        *values(
            r,
            decision,
            [
                ("decision", "2**64", BIG, 422),
                ("decision", "SQL", SQL, 422),
                ("reason", "10**400", Raw(HUGE), 422),
                ("reason", "10 MB", "r" * TEN_MB, 422),
                ("reason", "NUL", "r\x00", 422),
                ("reason", "control", CONTROL, 422),
            ],
        ),
        kept_value(
            r,
            decision,
            "reason",
            "SQL",
            SQL,
            200,
            reason_of("applications", "application_sql", SQL),
            ids=on("application_sql"),
        ),
        kept_value(
            r,
            decision,
            "reason",
            "script",
            SCRIPT,
            200,
            reason_of("applications", "application_script", SCRIPT),
            ids=on("application_script"),
        ),
    ]
    return out


def _claims() -> list[Case]:
    r = "POST /claims"

    def claim(w: World) -> dict[str, Any]:
        return {
            "policy_id": w.ids["animal_policy"],
            "farmer_id": "F-1",
            "subject_kind": "animal",
            "subject_id": w.ids["tag"],
            "event_date": "2025-04-20",
            "market_value": "7000",
        }

    out = [
        *body_rows(r, claim, "claimed_fraction"),
        *values(
            r,
            claim,
            [
                ("market_value", "NaN/Infinity", "NaN", 422),
                ("market_value", "10**400", Raw(HUGE), 422),
                ("market_value", "2**64", str(BIG), 422),
                ("market_value", "10 MB", "9" * TEN_MB, 422),
                ("market_value", "SQL", SQL, 422),
                ("claimed_fraction", "10**400", Raw(HUGE), 422),
                ("claimed_fraction", "2**64", BIG, 422),
                ("claimed_area", "10**400", Raw(HUGE), 422),
                ("subject_id", "10 MB", "9" * TEN_MB, 422),
                ("subject_id", "control", CONTROL, 422),
                ("subject_id", "NUL", "99\x00", 422),
                ("subject_id", "traversal", TRAVERSAL, 422),
                ("subject_id", "SQL", SQL, 422),
                ("subject_id", "script", SCRIPT, 422),
                ("event_date", "2**64", BIG, 422),
                ("event_date", "wrong type", "yesterday", 422),
            ],
        ),
    ]

    r = "POST /claims/{claim_id}/assessment"

    def pair(w: World) -> dict[str, Any]:
        return {"before": "austria-2021-06-17", "after": "austria-2021-09-25"}

    out += [
        # No body is the rules' pick: none of the (no) scenes covers the plot.
        *body_rows(r, pair, "before", empty=(422, "before", None)),
        *values(
            r,
            pair,
            [
                ("before", "10**400", Raw(HUGE), 422),
                ("before", "10 MB", "s" * TEN_MB, 422),
                ("before", "control", CONTROL, 422),
                ("before", "NUL", "scene\x00", 422),
                ("before", "traversal", TRAVERSAL, 422),
                ("before", "SQL", SQL, 422),
                ("before", "script", SCRIPT, 422),
                ("after", "2**64", BIG, 422),
                ("after", "traversal", "..\\..\\windows\\win.ini", 422),
                ("scale", "wrong type", 1, 422),
            ],
        ),
    ]

    r = "POST /claims/{claim_id}/decision"

    def verdict(w: World) -> dict[str, Any]:
        return {"decision": "reject", "reason": "the photos show another field"}

    def decided(kind: str, text_: str, **extra: Any) -> Case:
        key = f"claim_{kind.lower()}"
        kept = reason_of("claims", key, text_)
        return kept_value(
            r,
            verdict,
            "reason",
            kind,
            text_,
            200,
            kept,
            ids=(("claim_id", key),),
            **extra,
        )

    out += [
        *body_rows(r, verdict, "reason"),
        *values(
            r,
            verdict,
            [
                ("decision", "2**64", BIG, 422),
                ("reason", "10**400", Raw(HUGE), 422),
                ("reason", "10 MB", "r" * TEN_MB, 422),
                ("reason", "NUL", "r\x00", 422),
            ],
        ),
        *values(
            r,
            lambda w: verdict(w) | {"grounds": ["measured_damage"]},
            [
                ("grounds.0", "10**400", Raw(HUGE), 422),
                ("grounds.0", "SQL", SQL, 422),
                ("grounds.0", "script", SCRIPT, 422),
            ],
        ),
        Case(
            r,
            "reason",
            "control",
            json_body(putting(verdict, "reason", CONTROL)),
            422,
            "reason",
            ids=(("claim_id", "claim_control"),),
        ),
        decided("SQL", SQL),
        decided("script", SCRIPT),
    ]

    r = "POST /claims/{claim_id}/payment"

    def payment(w: World) -> dict[str, Any]:
        return {"payment_ref": "BANK-2025-000123"}

    out += [
        *body_rows(r, payment, "payment_ref"),
        *values(
            r,
            payment,
            [
                ("payment_ref", "10**400", Raw(HUGE), 422),
                ("payment_ref", "2**64", BIG, 422),
                ("payment_ref", "10 MB", "p" * TEN_MB, 422),
                ("payment_ref", "NUL", "p\x00", 422),
            ],
        ),
    ]
    return out


def _devices() -> list[Case]:
    r = "POST /devices"

    def device(w: World) -> dict[str, Any]:
        return {"public_key": _jwk(), "label": "Li Wei's phone"}

    labels = listed("/devices?limit=200", "label")
    key = "public_key"
    return [
        *body_rows(r, device, "public_key.x"),
        *values(
            r,
            device,
            [
                ("public_key.x", "10**400", Raw(HUGE), 422, key),
                ("public_key.x", "2**64", BIG, 422, key),
                ("public_key.x", "10 MB", "A" * TEN_MB, 422, key),
                ("public_key.x", "NUL", "A\x00", 422),
                ("public_key.kty", "control", CONTROL, 422, key),
                ("public_key.crv", "SQL", SQL, 422, key),
                ("public_key.crv", "10 MB", "c" * TEN_MB, 422, key),
                ("public_key", "wrong type", [1, 2], 422),
                ("label", "10 MB", "l" * TEN_MB, 422),
                ("label", "control", CONTROL, 422),
                ("label", "NUL", "l\x00", 422),
            ],
        ),
        kept_value(r, device, "label", "SQL", SQL, 201, labels(SQL)),
        kept_value(r, device, "label", "script", SCRIPT, 201, labels(SCRIPT)),
    ]


def _scenes() -> list[Case]:
    """Scene names in paths: never a file path."""
    r = "GET /scenes/{scene}/tilejson.json"
    nothing = raw(b"", None)
    return [
        Case(
            r,
            "scene",
            "traversal",
            nothing,
            404,
            "scene",
            ids=(("scene", "=..%5C..%5Cetc%5Cpasswd"),),
        ),
        Case(r, "scene", "NUL", nothing, 422, "path", ids=(("scene", "=scene%00"),)),
        Case(
            r,
            "scene",
            "10 MB",
            nothing,
            422,
            "scene",
            ids=(("scene", "=" + "s" * 8000),),
        ),
    ]


def _notices() -> list[Case]:
    """Public notices: publish, object to a row, resolve an objection."""
    r = "POST /notices"

    def notice(w: World) -> dict[str, Any]:
        return {
            "kind": "underwriting",
            "region": "Hohhot",
            "start": w.ids["notice_start"],
            "end": w.ids["notice_end"],
            "objection_days": 7,
        }

    out = [
        *body_rows(r, notice, "objection_days"),
        *values(
            r,
            notice,
            [
                ("kind", "SQL", SQL, 422),
                ("region", "10 MB", "r" * TEN_MB, 422),
                ("region", "control", CONTROL, 422),
                ("region", "NUL", "Hohhot\x00", 422),
                # Legal names of no region a farmer is in: nothing to post.
                ("region", "traversal", TRAVERSAL, 422),
                ("region", "SQL", SQL, 422),
                ("region", "script", SCRIPT, 422),
                ("start", "wrong type", "last spring", 422),
                ("end", "2**64", BIG, 422),
                ("objection_days", "10**400", Raw(HUGE), 422),
                ("objection_days", "2**64", BIG, 422),
            ],
        ),
    ]

    r = "POST /notices/{notice_id}/objections"

    def objection(w: World) -> dict[str, Any]:
        return {"row": 1, "text": "the herd is smaller", "on_behalf_of": "Zhang San"}

    def objected(sent: str, key: str) -> Kept:
        def check(world: World, response: Any) -> None:
            path = f"{API}/notices/{world.ids['notice']}"
            got = world.client.get(path, headers=world.tokens["admin"]).json()
            assert sent in [o[key] for o in got["objections"]], got["objections"]

        return Kept("stored as text", check)

    out += [
        *body_rows(r, objection, "row"),
        *values(
            r,
            objection,
            [
                ("row", "10**400", Raw(HUGE), 422),
                ("row", "2**64", BIG, 422),
                ("row", "wrong type", "first", 422),
                ("text", "10 MB", "t" * TEN_MB, 422),
                ("text", "control", CONTROL, 422),
                ("text", "NUL", "t\x00", 422),
                ("on_behalf_of", "10 MB", "o" * TEN_MB, 422),
                ("on_behalf_of", "control", CONTROL, 422),
                ("on_behalf_of", "NUL", "Zhang\x00", 422),
            ],
        ),
        kept_value(r, objection, "text", "SQL", SQL, 201, objected(SQL, "text")),
        kept_value(
            r, objection, "text", "script", SCRIPT, 201, objected(SCRIPT, "text")
        ),
        kept_value(
            r,
            objection,
            "on_behalf_of",
            "script",
            SCRIPT_2,
            201,
            objected(SCRIPT_2, "on_behalf_of"),
        ),
    ]

    r = "POST /notices/{notice_id}/objections/{objection_id}/resolution"

    def resolution(w: World) -> dict[str, Any]:
        return {"outcome": "dismissed", "reason": "the herd was counted again"}

    def resolved(key: str, sent: str) -> Kept:
        def check(world: World, response: Any) -> None:
            path = f"{API}/notices/{world.ids['notice']}"
            got = world.client.get(path, headers=world.tokens["admin"]).json()
            found = {o["id"]: o for o in got["objections"]}[world.ids[key]]
            assert (found["status"], found["reason"]) == ("dismissed", sent)

        return Kept("stored as text", check)

    def on(key: str) -> tuple[tuple[str, str], ...]:
        return (("objection_id", key),)

    out += [
        *body_rows(r, resolution, "reason"),
        *values(
            r,
            resolution,
            [
                ("outcome", "2**64", BIG, 422),
                ("outcome", "SQL", SQL, 422),
                ("reason", "10**400", Raw(HUGE), 422),
                ("reason", "10 MB", "r" * TEN_MB, 422),
                ("reason", "control", CONTROL, 422),
                ("reason", "NUL", "r\x00", 422),
            ],
        ),
        kept_value(
            r,
            resolution,
            "reason",
            "SQL",
            SQL,
            200,
            resolved("objection_sql", SQL),
            ids=on("objection_sql"),
        ),
        kept_value(
            r,
            resolution,
            "reason",
            "script",
            SCRIPT,
            200,
            resolved("objection_script", SCRIPT),
            ids=on("objection_script"),
        ),
    ]
    return out


CASES = [
    *_logins(),
    *_bodiless(),
    *_users(),
    *_farmers_and_products(),
    *_photos(),
    *_applications(),
    *_claims(),
    *_devices(),
    *_scenes(),
    *_notices(),
]
"""The matrix: every bad input tried, per database."""


# --- one world per database ----------------------------------------------------------


def _postgres_url(schema: str) -> str | None:
    """A URL of ``schema`` on the test server (created), or None where none answers."""
    base = _postgres_base()
    try:
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
    except Exception as exc:  # any driver error means "no server here"
        if os.environ.get("AGRI_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but unreachable at {base}: {exc}")
        return None
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def _drop_schema(schema: str) -> None:
    admin = create_engine(_postgres_base())
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 60, 40)).save(out, "PNG")
    return out.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels and holds none: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _zip_bomb() -> bytes:
    """A zip of 20 MiB of zeros in about 20 KB (a ratio over 1000)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("plots.shp", b"\x00" * (20 << 20))
    return out.getvalue()


def _records(
    ctx: AppContext, shared_data: Path
) -> tuple[dict[str, str], Photos, list[bytes]]:
    """The records the cases address, the photos they send, the second cow's photos."""
    cows = pick_cows(shared_data)
    tag, tag2 = cows.tags
    uw = ctx.underwriting
    uw.register_farmer(
        "F-1", "Liu", "Hohhot", lat=FARM_1[0], lon=FARM_1[1], actor="admin"
    )
    uw.add_product(
        LivestockProduct(
            "COW", Money.parse("8000"), Decimal("0.06"), Money.parse("200"), 7
        ),
        actor="admin",
    )
    uw.add_product(
        CropProduct("WHEAT", Money.parse("900"), "mu", Decimal("0.06")), actor="admin"
    )
    enrolled = ctx.enrolment.enrol_animal(
        tag,
        [Photo(c.path.name, c.path) for c in cows.enrol[tag]],
        farmer_id="F-1",
        actor="agent",
    )
    assert enrolled.status == "enrolled"
    start, end = date(2025, 4, 1), date(2026, 3, 31)
    herd = uw.apply_livestock("F-1", "COW", [tag], start=start, end=end, actor="agent")
    animal_policy = uw.decide(herd.id, "approve", actor="uw").policy_id or ""
    later = cows.later[tag]
    day = min(c.day for c in later if c.day)
    animal_claim = ctx.claims.file(
        policy_id=animal_policy,
        farmer_id="F-1",
        subject_kind="animal",
        subject_id=tag,
        event_date=day,
        reported_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
        market_value=Money.parse("7600"),
        actor="agent",
    )

    def crop_application(lon: float) -> str:
        square = plots_from_geometries(
            [box(lon, 34.30, lon + 0.002, 34.302)], 4326, ids=["P1"]
        )
        a = uw.apply_crop(
            "F-1",
            "WHEAT",
            square,
            start=date(2025, 4, 1),
            end=date(2025, 10, 31),
            actor="agent",
        )
        return a.id

    crop = uw.decide(crop_application(108.90), "approve", actor="uw", reason="surveyed")

    def crop_claim() -> str:
        return ctx.claims.file(
            policy_id=crop.policy_id or "",
            farmer_id="F-1",
            subject_kind="plot",
            subject_id="P1",
            event_date=date(2025, 6, 20),
            reported_at=datetime(2025, 6, 22, 12, tzinfo=UTC),
            claimed_fraction=0.5,
            actor="agent",
        ).id

    device, _ = ctx.devices.register(
        agent="field_agent", public_key=_jwk(), label="phone"
    )
    store = UserStore(ctx.engine)
    # One user per role the matrix calls with, and two whom its cases change.
    for name in ("admin", "underwriter", "adjuster", "field_agent"):
        store.create(name, PASSWORD, name)
    store.create("target", PASSWORD, "adjuster")
    store.create("leaver", PASSWORD, "adjuster")
    ids = {
        "tag": tag,
        "tag2": tag2,
        "animal_policy": animal_policy,
        "animal_claim": animal_claim.id,
        "crop_claim": crop_claim(),
        "claim_sql": crop_claim(),
        "claim_script": crop_claim(),
        "claim_control": crop_claim(),
        "application": crop_application(108.91),
        "application_sql": crop_application(108.92),
        "application_script": crop_application(108.93),
        "device": device.id,
        "target": "target",
        "leaver": "leaver",
    }
    cow = later[0].path.read_bytes()
    photos = Photos(
        {
            "cow": cow,
            "session": later[1].path.read_bytes(),  # verifies as the cow: a later visit
            "evidence": later[2].path.read_bytes(),
            "corrupt": b"\xff\xd8\xff\xe0" + b"not a JPEG " * 50,
            "truncated": cow[: len(cow) // 2],
            "big": _png(400, 400),  # 160,000 pixels: over 0.1 megapixels
            "bomb": _png_header(100_000, 100_000),
            "notes": b"field notes\n",
            "plots": plot_file({"id": "G-1"}),
            "zip_bomb": _zip_bomb(),
        }
    )
    enrol2 = [c.path.read_bytes() for c in cows.enrol[tag2]]
    # The underwriting notice of Hohhot (the policies above), and objections to it.
    service = notices(ctx)
    today = service._today("Hohhot")
    start = today - timedelta(days=30)
    posted = service.publish(
        Viewer("underwriter"),
        kind="underwriting",
        region="Hohhot",
        start=start,
        end=today,
        actor="underwriter",
    )
    ids |= {"notice": posted.record.id, "notice_start": start.isoformat()}
    ids["notice_end"] = today.isoformat()
    for key in ("objection", "objection_sql", "objection_script"):
        ids[key] = service.object(
            Viewer("adjuster"),
            posted.record.id,
            row=1,
            text="the herd is smaller",
            on_behalf_of="Li Si",
            actor="adjuster",
        ).id
    return ids, photos, enrol2


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_data: Path,
) -> Iterator[World]:
    """The app on one database, shared by every case of the module."""
    folder = tmp_path_factory.mktemp(f"bad-input-{request.param}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        url: str | None = f"sqlite:///{folder / 'agri.db'}"
    else:
        url = _postgres_url(schema)
        if url is None:
            pytest.skip("PostgreSQL not reachable")
    key, _ = write_keypair(generate_key("test.example/ledger"), folder / "keys")
    settings = Settings(
        data_dir=folder / "var",
        database_url=url,
        ledger_key_file=key,
        checkpoint_every=1_000_000,
        anchor_enabled=False,
        max_request_mb=12,
        max_upload_mb=11,
        max_photo_megapixels=0.1,
        max_request_megapixels=1.0,
    )
    ctx = build_context(settings, chain=False)
    try:
        ids, photos, enrol2 = _records(ctx, shared_data)
        with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
            tokens = {r: login(client, r) for r in set(ROLES.values()) if r}
            yield World(ctx, client, tokens, ids, photos, enrol2, folder)
    finally:
        ctx.close()
        if request.param == "postgresql":
            _drop_schema(schema)


# --- the tests -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c, id=c.name, marks=[pytest.mark.filterwarnings(c.quiet)] if c.quiet else []
        )
        for c in CASES
    ],
)
def test_bad_input(world: World, case: Case) -> None:
    """One bad input: refused in the one error model naming the field, nothing written;
    or, a legal value, accepted and kept verbatim."""
    sent, content_type = case.send(world)
    role = ROLES[case.route]
    headers = dict(world.tokens[role]) if role else {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    method = case.route.split(" ", 1)[0]
    before = world.state()
    r = world.client.request(
        method, path_of(world, case), content=sent, headers=headers
    )
    if case.quiet:
        gc.collect()  # what the request left unclosed warns now, under the case's filter
    after = world.state()
    assert r.status_code == case.status, (r.status_code, r.text[:500])
    if case.kept is None:
        assert 400 <= r.status_code < 500
        body = r.json()
        assert set(body) <= {"detail", "field"} and isinstance(body["detail"], str), (
            body
        )
        assert body.get("field") == case.names, body
        assert len(r.content) < 2048, f"{len(r.content):,} bytes: the input is echoed"
        expected = dict(before)
        for table, added in case.writes:
            expected[table] += added
        assert after == expected, _changed(before, after)
    else:
        assert 200 <= r.status_code < 300
        assert r.headers["content-type"] == "application/json"
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert set(after) == set(before), "a table was dropped or made"
        assert all(after[t] >= before[t] for t in before), _changed(before, after)
        if case.kept.writes:
            grew = after["(ledger size)"] > before["(ledger size)"]
            assert grew is case.kept.ledger, _changed(before, after)
            assert after["(other files)"] == before["(other files)"]
        else:
            assert after == before, _changed(before, after)
        case.kept.check(world, r)


def _changed(before: dict[str, int], after: dict[str, int]) -> str:
    return ", ".join(
        f"{k}: {before.get(k)} -> {after.get(k)}"
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    )


def _takes_files(schema: dict[str, Any], components: dict[str, Any]) -> set[str]:
    """The file fields of a multipart body's schema."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    out = set()
    for name, prop in schema.get("properties", {}).items():
        item = prop.get("items", prop)
        if item.get("contentMediaType") or item.get("format") == "binary":
            out.add(name)
    return out


JSON_BY_HAND = {"POST /products"}
"""Routes that read a JSON body themselves (the OpenAPI does not show their body)."""

BODY_KINDS = {"corrupt", "truncated", "empty", "oversized", "wrong type"}


def test_every_route_that_takes_input_is_in_the_matrix(world: World) -> None:
    """Each write route and each route with a body has its rows; a new one fails here."""
    doc = world.client.get(f"{API}/openapi.json").json()
    components = doc["components"]["schemas"]
    taking: dict[str, dict[str, Any]] = {}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method in ("post", "put", "patch", "delete") or "requestBody" in op:
                taking[f"{method.upper()} {path.removeprefix(API)}"] = op
    matrix = {c.route for c in CASES if not c.route.startswith("GET ")}
    assert set(taking) == matrix, (
        f"not in the matrix: {sorted(set(taking) - matrix)}; "
        f"in the matrix but not served: {sorted(matrix - set(taking))}"
    )
    assert set(ROLES) == {c.route for c in CASES}
    for route, op in taking.items():
        kinds = {(c.row, c.kind) for c in CASES if c.route == route}
        body = op.get("requestBody", {}).get("content", {})
        if "multipart/form-data" in body:
            assert {("body", k) for k in BODY_KINDS | {"broken multipart"}} <= kinds, (
                route
            )
            files = _takes_files(body["multipart/form-data"]["schema"], components)
            assert files, route
            for name in files:
                wanted = {"corrupt", "truncated", "empty", "oversized", "bomb"}
                wanted |= {"wrong type", "NUL", "traversal"}
                assert {(name, k) for k in wanted} <= kinds, (route, name)
        elif body or route in JSON_BY_HAND:
            assert {("body", k) for k in BODY_KINDS | {"NaN/Infinity"}} <= kinds, route
            values = {k for _, k in kinds}
            assert {"10**400", "2**64", "10 MB", "NUL"} <= values, route
        else:
            assert ("body", "oversized") in kinds, route
    assert {c.gap for c in CASES if c.gap} == set(GAPS)


def test_the_pages_write_records_as_text_never_as_html() -> None:
    """A name or plot id holding ``<script>`` reaches the pages as text.

    The pages and the phone app never parse data as HTML (no ``innerHTML`` and
    the like); Leaflet, which writes a string tooltip as HTML, is given text
    nodes (``textNode``).
    """
    sources = [
        p
        for folder in (REPO / "web" / "js", REPO / "edge" / "src")
        for p in folder.rglob("*.js")
        if "node_modules" not in p.parts
    ]
    assert len(sources) > 10
    html_sinks = re.compile(
        r"\.(innerHTML|outerHTML)\s*[+]?=|insertAdjacentHTML\s*\(|document\.write"
        r"|\beval\s*\(|new\s+Function\s*\(|\.html\s*\("
    )
    leaflet = re.compile(
        r"\.(bindTooltip|bindPopup|setContent|setTooltipContent)\(\s*([^)]*)"
    )
    for path in sources:
        code = path.read_text(encoding="utf-8")
        for n, line in enumerate(code.splitlines(), 1):
            if line.lstrip().startswith(("*", "//", "/*")):
                continue
            assert not html_sinks.search(line), f"{path}:{n}: {line.strip()}"
            for m in leaflet.finditer(line):
                assert m.group(2).startswith("textNode("), f"{path}:{n}: {line.strip()}"


# --- the doc -------------------------------------------------------------------------


def matrix_cells() -> dict[tuple[str, str, str], str]:
    """(route, row, kind) -> the cell the doc must show."""
    cells: dict[tuple[str, str, str], str] = {}
    for c in CASES:
        key = (c.route, c.row, c.kind)
        assert key not in cells, f"two cases for one cell: {key}"
        cells[key] = c.cell()
    return cells


def render_tables() -> str:
    """The doc's two tables, as the matrix has them."""
    cells = matrix_cells()
    rows = list(dict.fromkeys((route, row) for route, row, _ in cells))
    out = []
    for title, kinds in (("Bodies and files", KINDS_BODY), ("Values", KINDS_VALUE)):
        out.append(f"### {title}\n")
        out.append("| route | field | " + " | ".join(kinds) + " |")
        out.append("|---|---|" + "---|" * len(kinds))
        for route, row in rows:
            line = [cells.get((route, row, k), "") for k in kinds]
            if any(line):
                out.append(f"| `{route}` | `{row}` | " + " | ".join(line) + " |")
        out.append("")
    return "\n".join(out)


def parse_doc(doc: str) -> tuple[dict[tuple[str, str, str], str], set[str]]:
    """The doc's cells and the gaps it lists."""
    cells: dict[tuple[str, str, str], str] = {}
    kinds: list[str] = []
    for line in doc.splitlines():
        if line.startswith("| route | field |"):
            kinds = [k.strip() for k in line.strip("|").split("|")[2:]]
        elif line.startswith("| `") and kinds:
            parts = [p.strip() for p in line.strip().strip("|").split("|")]
            route, row = parts[0].strip("`"), parts[1].strip("`")
            for kind, cell in zip(kinds, parts[2:], strict=True):
                if cell:
                    cells[(route, row, kind)] = cell
    gaps = set(re.findall(r"^- \*\*(G\d+)\*\*", doc, flags=re.M))
    return cells, gaps


def test_the_doc_shows_the_matrix() -> None:
    """docs/bad-input.md's tables are the matrix, cell for cell, and list every gap."""
    cells, gaps = parse_doc(DOC.read_text(encoding="utf-8"))
    expected = matrix_cells()
    missing = {k: v for k, v in expected.items() if cells.get(k) != v}
    extra = {k: v for k, v in cells.items() if k not in expected}
    assert not missing and not extra, (
        f"cells to change in {DOC.name} (print tests.server.test_bad_input.render_tables()): "
        f"{list(missing.items())[:5]} {list(extra.items())[:5]}"
    )
    assert gaps == set(GAPS)
    tried = len(CASES)
    assert f"{tried} bad inputs" in DOC.read_text(encoding="utf-8")
