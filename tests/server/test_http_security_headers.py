"""Every response carries the security headers; the pages' policy allows no inline script."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from ledger.adapters.memory import InMemoryAnchor
from server.chain import ChainContext
from server.config import Settings
from server.context import build_context
from server.http.app import create_app


@pytest.fixture
def client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    ctx = build_context(
        make_settings(max_request_mb=1),
        chain=ChainContext(InMemoryAnchor(), ephemeral=False, contract="mem"),
    )
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
        yield c
    ctx.close()


def policy(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        d.split()[0]: " ".join(d.split()[1:])
        for d in response.headers["content-security-policy"].split("; ")
    }


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/agent/",
        "/api/v1/health",
        "/api/v1/claims",
        "/no/such/page",
        "/api/v1/docsx",
    ],
)
def test_pages_api_and_errors_carry_the_headers(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    csp = policy(r)
    assert csp["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    assert csp["object-src"] == "'none'" and csp["connect-src"] == "'self'"


def test_a_refused_oversized_body_carries_them_too(client: TestClient) -> None:
    r = client.post(
        "/api/v1/auth/token",
        content=b"x" * (2 << 20),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 413
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_only_the_api_docs_may_run_their_inline_script(client: TestClient) -> None:
    r = client.get("/api/v1/docs")
    assert r.status_code == 200 and "<script>" in r.text
    assert "'unsafe-inline'" in policy(r)["script-src"]
    assert policy(r)["frame-ancestors"] == "'none'"
