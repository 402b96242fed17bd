"""The OpenAPI document (one error model for every 4xx) and the offline Swagger UI.

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

import importlib.resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from server.http.auth import TOKEN_PATH, Credentials, PasswordForm
from server.http.deps import API, ErrorOut

__all__ = ["DOCS_ASSETS", "mount_docs", "openapi_document"]

DOCS_ASSETS = f"{API}/docs/assets"

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


def _swagger_ui_dir() -> Path:
    """The Swagger UI assets of the ``swagger-ui-bundle-v2`` package (no CDN)."""
    vendor = Path(str(importlib.resources.files("swagger_ui_bundle") / "vendor"))
    found = sorted(vendor.glob("swagger-ui-*/swagger-ui-bundle.js"))
    if not found:
        raise RuntimeError(f"no Swagger UI in {vendor}: reinstall swagger-ui-bundle-v2")
    return found[-1].parent


def mount_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/api/v1/docs`` from the installed assets (works offline)."""

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


def openapi_document(app: FastAPI) -> dict[str, Any]:
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
