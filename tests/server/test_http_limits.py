"""Upload limits before parsing and decoding, and no blocking work on the event loop."""

from __future__ import annotations

import asyncio
import io
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.exc import OperationalError

from ledger import AnchorReceipt, PendingAnchor
from ledger.adapters.memory import InMemoryAnchor
from server.chain import ChainContext
from server.config import Settings
from server.context import AppContext, build_context
from server.http.app import create_app
from server.services.auth import UserStore
from tests import aio

PASSWORD = "correct horse battery"
CHECK = "/api/v1/photos/check"


def _context(make_settings: Callable[..., Settings], **overrides: Any) -> AppContext:
    ctx = build_context(
        make_settings(**overrides),
        chain=ChainContext(InMemoryAnchor(), ephemeral=False, contract="mem"),
    )
    UserStore(ctx.engine).create("agent", PASSWORD, "field_agent")
    UserStore(ctx.engine).create("admin", PASSWORD, "admin")
    return ctx


@pytest.fixture
def client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    ctx = _context(
        make_settings,
        max_request_mb=1,
        max_photo_megapixels=0.01,  # 10,000 pixels
        max_request_megapixels=0.025,  # 25,000 pixels
    )
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
        yield c
    ctx.close()


def login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 60, 40)).save(out, "PNG")
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_a_body_over_the_limit_is_refused_before_parsing(client: TestClient) -> None:
    agent = login(client, "agent")
    files = [("files", ("big.jpg", b"\xff" * (1 << 20), "image/jpeg"))]
    r = client.post(CHECK, files=files, headers=agent)
    assert r.status_code == 413
    assert r.json()["field"] == "body" and "1,048,576 bytes" in r.json()["detail"]
    assert "AGRI_MAX_REQUEST_MB" in r.json()["detail"]
    big_json = {"id": "F-1", "name": "x" * (1 << 20), "region": "r"}
    r = client.post("/api/v1/farmers", json=big_json, headers=login(client, "admin"))
    assert (r.status_code, r.json()["field"]) == (413, "body")


def test_a_streamed_body_is_cut_at_the_limit(
    make_settings: Callable[..., Settings],
) -> None:
    """Without a Content-Length, the body is counted as it arrives and reading stops."""
    ctx = _context(make_settings, max_request_mb=1)
    app = create_app(ctx)
    chunk = b"x" * 65536
    pulled = 0

    head = (
        b"--xyz\r\n"
        b'Content-Disposition: form-data; name="files"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n"
    )

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        body = head + chunk if pulled == 1 else chunk
        # 4 MiB in all: past the limit, but an unguarded app still finishes reading.
        return {"type": "http.request", "body": body, "more_body": pulled < 64}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": CHECK,
        "raw_path": CHECK.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"multipart/form-data; boundary=xyz")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }
    aio.run(app(scope, receive, send))  # type: ignore[arg-type]
    ctx.close()
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    assert pulled <= (1 << 20) // len(chunk) + 1


def test_each_photo_has_a_pixel_limit_read_from_its_header(client: TestClient) -> None:
    agent = login(client, "agent")
    files = [
        ("files", ("ok.png", png(50, 50), "image/png")),
        ("files", ("huge.png", png(200, 100), "image/png")),
    ]
    r = client.post(CHECK, files=files, headers=agent)
    assert r.status_code == 413
    assert r.json()["field"] == "files"
    assert r.json()["detail"] == (
        "huge.png: 200 x 100 = 20,000 pixels, over the limit of 10,000 per photo "
        "(AGRI_MAX_PHOTO_MEGAPIXELS)"
    )
    bomb = [("files", ("bomb.png", png_header(100_000, 100_000), "image/png"))]
    r = client.post(CHECK, files=bomb, headers=agent)
    assert r.status_code == 413 and "bomb.png" in r.json()["detail"]
    assert r.json()["field"] == "files"


def test_the_photos_of_a_request_share_a_pixel_budget(client: TestClient) -> None:
    files = [
        ("files", (f"p{i}.png", png(100, 100), "image/png")) for i in range(3)
    ]  # 10,000 pixels each: each within the limit, 30,000 together over 25,000
    r = client.post(CHECK, files=files, headers=login(client, "agent"))
    assert r.status_code == 413
    assert r.json()["field"] == "files"
    assert "p2.png" in r.json()["detail"] and "per request" in r.json()["detail"]


class SlowAnchor(InMemoryAnchor):
    """The in-memory chain, taking ``delay_s`` to mine each transaction."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    def submit(self, pending: PendingAnchor) -> AnchorReceipt:
        time.sleep(self.delay_s)
        return super().submit(pending)


def test_signing_and_anchoring_after_a_write_do_not_block_the_event_loop(
    make_settings: Callable[..., Settings],
) -> None:
    """Other requests are answered while a write's checkpoint is anchored."""
    ctx = build_context(
        make_settings(checkpoint_every=1, anchor_enabled=True),
        chain=ChainContext(SlowAnchor(1.5), ephemeral=False, contract="mem"),
    )
    UserStore(ctx.engine).create("admin", PASSWORD, "admin")
    app = create_app(ctx)  # no lifespan here: no background anchorer either

    async def scenario() -> tuple[int, float, int]:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.post(
                "/api/v1/auth/token", json={"username": "admin", "password": PASSWORD}
            )
            admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
            farmer = {"id": "F-1", "name": "Liu", "region": "Hohhot"}
            write = asyncio.create_task(
                c.post("/api/v1/farmers", json=farmer, headers=admin)
            )
            start = time.perf_counter()
            await asyncio.sleep(0.5)  # the write is now anchoring
            health = await c.get("/api/v1/health")
            # A blocked loop wakes this coroutine only once the anchoring is done.
            waited = time.perf_counter() - start - 0.5
            return (await write).status_code, waited, health.status_code

    created, waited, healthy = aio.run(scenario())
    ctx.close()
    assert (created, healthy) == (201, 200)
    assert waited < 0.5, f"health waited {waited:.2f} s behind the anchoring"


def test_threads_of_the_pool_do_the_anchoring(
    make_settings: Callable[..., Settings],
) -> None:
    """The checkpoint policy after a write runs on a worker thread, not the loop's."""
    seen: list[str] = []

    class Recording(InMemoryAnchor):
        def submit(self, pending: PendingAnchor) -> AnchorReceipt:
            seen.append(threading.current_thread().name)
            return super().submit(pending)

    ctx = build_context(
        make_settings(checkpoint_every=1, anchor_enabled=True),
        chain=ChainContext(Recording(), ephemeral=False, contract="mem"),
    )
    UserStore(ctx.engine).create("admin", PASSWORD, "admin")
    app = create_app(ctx)
    loop_thread: list[str] = []

    async def scenario() -> int:
        loop_thread.append(threading.current_thread().name)
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.post(
                "/api/v1/auth/token", json={"username": "admin", "password": PASSWORD}
            )
            admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
            farmer = {"id": "F-1", "name": "Liu", "region": "Hohhot"}
            return (
                await c.post("/api/v1/farmers", json=farmer, headers=admin)
            ).status_code

    assert aio.run(scenario()) == 201
    ctx.close()
    assert seen and loop_thread[0] not in seen


def test_a_failure_to_sign_after_the_commit_does_not_fail_the_request(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change is on record: the client gets its 201, not a 500 that invites a retry."""
    ctx = build_context(make_settings(checkpoint_every=1), chain=False)
    UserStore(ctx.engine).create("admin", PASSWORD, "admin")

    def locked(*_: Any, **__: Any) -> None:
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    monkeypatch.setattr(ctx.ledger, "checkpoint", locked)
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        admin = login(client, "admin")
        r = client.post(
            "/api/v1/farmers",
            json={"id": "F-1", "name": "Liu", "region": "Hohhot"},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        assert client.get("/api/v1/farmers", headers=admin).json()["total"] == 1
    ctx.close()
