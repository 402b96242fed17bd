"""The OpenAPI document (one error model for every 4xx) and the offline Swagger UI.

Its answers carry OpenAPI links (:data:`LINKS`): a created record's id to the
operations that take it. The document also says what
:class:`~server.http.middleware.RequestGuard`
refuses before any route runs: no text a request carries (a path or query
parameter, a JSON string or key, a form field) may hold NUL (U+0000), so every
such string is declared with the pattern :data:`~server.http.deps.NO_NUL`.

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
from server.http.deps import API, NO_NUL, ErrorOut
from server.http.records import product_terms_schema

__all__ = ["DOCS_ASSETS", "LINKS", "mount_docs", "openapi_document"]

DOCS_ASSETS = f"{API}/docs/assets"

_REF = "#/components/schemas/"
_ERROR_REF = {"$ref": f"{_REF}ErrorOut"}
NUL_FREE_JSON = "NulFreeJson"
"""The component of any JSON value without NUL in a string or key: what an
object may carry beyond its declared properties (they are ignored)."""
_NUL_FREE_JSON: dict[str, Any] = {
    "description": "Any JSON value; no string or key holds NUL (U+0000).",
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "number"},
        {"type": "string", "pattern": NO_NUL},
        {"type": "array", "items": {"$ref": f"{_REF}{NUL_FREE_JSON}"}},
        {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": {"$ref": f"{_REF}{NUL_FREE_JSON}"},
        },
    ],
}
# Strings these keywords already bound are left as they are: a format (dates,
# file parts), a pattern of their own, or a fixed set of values.
_BOUNDED_STRING = {"pattern", "format", "enum", "const", "contentMediaType"}
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


_USER = {"username": "$response.body#/username"}
_DEVICE = {"device_id": "$response.body#/device_id"}
_APPLICATION = {"application_id": "$response.body#/id"}
_CLAIM = {"claim_id": "$response.body#/id"}
_TAG = {"tag": "$response.body#/tag"}
_FIRST_PHOTO = {"sha256": "$response.body#/0/sha256"}
LINKS: dict[tuple[str, str], dict[str, tuple[str, str, dict[str, str]]]] = {
    ("POST", "/users"): {
        "DisableUser": ("POST", "/users/{username}/disable", _USER),
        "EnableUser": ("POST", "/users/{username}/enable", _USER),
        "SetUserRole": ("PUT", "/users/{username}/role", _USER),
        "ResetUserPassword": ("POST", "/users/{username}/password", _USER),
    },
    ("POST", "/farmers"): {
        "FarmerHistory": (
            "GET",
            "/history/{kind}/{subject_id}",
            {"kind": "farmer", "subject_id": "$response.body#/id"},
        ),
    },
    ("POST", "/devices"): {
        "RevokeDevice": ("POST", "/devices/{device_id}/revoke", _DEVICE),
        "ApproveDevice": ("POST", "/devices/{device_id}/approve", _DEVICE),
    },
    ("POST", "/animals"): {
        "AddAnimalSession": ("POST", "/animals/{tag}/sessions", _TAG),
        "AnimalPhotos": ("GET", "/animals/{tag}/photos", _TAG),
        "AnimalHistory": (
            "GET",
            "/history/{kind}/{subject_id}",
            {"kind": "animal", "subject_id": "$response.body#/tag"},
        ),
    },
    ("POST", "/animals/{tag}/sessions"): {
        "AnimalPhotos": ("GET", "/animals/{tag}/photos", _TAG),
    },
    ("GET", "/animals/{tag}/photos"): {
        "Photo": ("GET", "/photos/{sha256}", _FIRST_PHOTO),
        "Thumbnail": ("GET", "/photos/{sha256}/thumb", _FIRST_PHOTO),
    },
    ("GET", "/claims/{claim_id}/photos"): {
        "Photo": ("GET", "/photos/{sha256}", _FIRST_PHOTO),
        "Thumbnail": ("GET", "/photos/{sha256}/thumb", _FIRST_PHOTO),
    },
    **{
        ("POST", f"/applications/{kind}"): {
            "GetApplication": ("GET", "/applications/{application_id}", _APPLICATION),
            "DecideApplication": (
                "POST",
                "/applications/{application_id}/decision",
                _APPLICATION,
            ),
            "ApplicationPlots": (
                "GET",
                "/applications/{application_id}/plots.geojson",
                _APPLICATION,
            ),
        }
        for kind in ("livestock", "crop")
    },
    ("POST", "/applications/{application_id}/decision"): {
        "GetPolicy": (
            "GET",
            "/policies/{policy_id}",
            {"policy_id": "$response.body#/policy_id"},
        ),
        "PolicyPlots": (
            "GET",
            "/policies/{policy_id}/plots.geojson",
            {"policy_id": "$response.body#/policy_id"},
        ),
    },
    ("POST", "/claims"): {
        "GetClaim": ("GET", "/claims/{claim_id}", _CLAIM),
        "AddEvidence": ("POST", "/claims/{claim_id}/evidence", _CLAIM),
        "ClaimScenes": ("GET", "/claims/{claim_id}/scenes", _CLAIM),
        "AssessClaim": ("POST", "/claims/{claim_id}/assessment", _CLAIM),
        "DecideClaim": ("POST", "/claims/{claim_id}/decision", _CLAIM),
        "PayClaim": ("POST", "/claims/{claim_id}/payment", _CLAIM),
        "ClaimPhotos": ("GET", "/claims/{claim_id}/photos", _CLAIM),
        "ClaimDamage": ("GET", "/claims/{claim_id}/damage.geojson", _CLAIM),
        "ClaimSeries": ("GET", "/claims/{claim_id}/series", _CLAIM),
    },
    ("GET", "/scenes"): {
        "SceneTileJson": (
            "GET",
            "/scenes/{scene}/tilejson.json",
            {"scene": "$response.body#/items/0/name"},
        ),
    },
    ("GET", "/history/{kind}/{subject_id}"): {
        "Receipt": (
            "GET",
            "/ledger/receipts/{index}",
            {"index": "$response.body#/items/0/index"},
        ),
    },
}
"""OpenAPI links: what a 2xx answer of an operation (method, path under
``/api/v1``) names that a later operation takes, by link name: the target's
method, path and parameters (runtime expressions, or values)."""


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
    schemas.update(product_terms_schema()[1])  # POST /products declares its own body
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
    _declare_no_nul(doc)
    _add_links(doc)
    app.openapi_schema = doc
    return app.openapi_schema


def _add_links(doc: dict[str, Any]) -> None:
    """Add :data:`LINKS` to the 2xx answers of their operations.

    Raises:
        KeyError: a link names an operation the document lacks.
    """
    paths = doc.get("paths", {})
    for (method, path), links in LINKS.items():
        source = paths[f"{API}{path}"][method.lower()]
        declared = {}
        for name, (to_method, to_path, parameters) in links.items():
            target = paths[f"{API}{to_path}"][to_method.lower()]
            declared[name] = {
                "operationId": target["operationId"],
                "parameters": parameters,
            }
        for code, answer in source["responses"].items():
            if code.startswith("2"):
                answer.setdefault("links", {}).update(declared)


def _declare_no_nul(doc: dict[str, Any]) -> None:
    """Declare NUL refused in every string and object key that requests carry.

    Walks each operation's parameters and request bodies, and the components
    they refer to: a string gets the pattern :data:`NO_NUL` (unless a pattern,
    format or set of values bounds it already), an object ``propertyNames``
    with it, and an object whose undeclared properties are ignored (no
    ``additionalProperties``) the :data:`NUL_FREE_JSON` component for them.
    Components shared with responses get the same: text kept never holds NUL.
    """
    schemas: dict[str, Any] = doc["components"]["schemas"]
    schemas[NUL_FREE_JSON] = _NUL_FREE_JSON
    seen = {NUL_FREE_JSON}

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            name = ref.removeprefix(_REF)
            if name not in seen:
                seen.add(name)
                visit(schemas[name])
            return
        kinds = node.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if "string" in kinds and not _BOUNDED_STRING & node.keys():
            node["pattern"] = NO_NUL
        if "object" in kinds or "properties" in node:
            names = node.setdefault("propertyNames", {})
            if isinstance(names, dict):
                names.setdefault("pattern", NO_NUL)
            if node.get("additionalProperties", True) in (True, {}):
                node["additionalProperties"] = {"$ref": f"{_REF}{NUL_FREE_JSON}"}
        for key in ("properties", "patternProperties"):
            for sub in node.get(key, {}).values():
                visit(sub)
        for key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
            if key in node:
                visit(node[key])

    for item in doc.get("paths", {}).values():
        for op in item.values():
            for parameter in op.get("parameters", []):
                visit(parameter.get("schema"))
            for media in op.get("requestBody", {}).get("content", {}).values():
                visit(media.get("schema"))
