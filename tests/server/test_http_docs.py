"""The API docs work offline: Swagger UI is served by the app, nothing comes from a CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from server.context import AppContext
from server.http.app import create_app

DOCS = "/api/v1/docs"


@pytest.fixture
def client(app: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(app), raise_server_exceptions=False) as c:
        yield c


def test_the_docs_page_loads_nothing_from_outside_the_app(client: TestClient) -> None:
    r = client.get(DOCS)
    assert r.status_code == 200
    html = r.text
    assert not re.findall(r"(?:https?:)?//[\w.-]+\.\w+", html), "an outside URL"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith(".js") for a in assets)
    assert any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert asset.startswith("/"), asset
        got = client.get(asset)
        assert got.status_code == 200, asset
        assert len(got.content) > 100, asset
    spec = re.search(r"url: '([^']+)'", html)
    assert spec and client.get(spec.group(1)).status_code == 200
    assert '"validatorUrl": null' in html  # no badge fetched from validator.swagger.io


def test_the_swagger_ui_speaks_openapi_3_1(client: TestClient) -> None:
    """Swagger UI 5 renders the OpenAPI 3.1 document FastAPI writes (4.x shows nothing)."""
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    js = client.get(f"{DOCS}/assets/swagger-ui-bundle.js").text
    assert "OpenAPI 3.1" in js or "openapi31" in js.lower() or "3.1.0" in js


def test_the_oauth2_redirect_page_is_served_and_redoc_is_gone(
    client: TestClient,
) -> None:
    assert client.get(f"{DOCS}/oauth2-redirect").status_code == 200
    assert client.get("/redoc").status_code == 404
    assert client.get("/api/v1/redoc").status_code == 404
