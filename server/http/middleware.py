"""The body guard (bodies bounded; NaN, Infinity and NUL refused before parsing) and ``Allow``.

:class:`RequestGuard` refuses a body over ``AGRI_MAX_REQUEST_MB`` (413) and
JSON holding ``NaN`` or ``Infinity`` (422) before any route parses it;
:class:`AllowedMethods` makes a 405's ``Allow`` header list every method of
the path. The security headers are :mod:`server.http.security`'s.
"""

import email.message
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.http.deps import (
    FieldHTTPError,
    NonFiniteNumberError,
    nul_field,
    strict_json_loads,
)
from server.http.errors import error_body

__all__ = ["AllowedMethods", "RequestGuard", "is_json"]


def is_json(content_type: str | None) -> bool:
    """Whether ``content_type`` is JSON (``application/json`` or ``application/*+json``)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class _BodyTooLargeError(FieldHTTPError):
    """Raised by the guarded ``receive`` once a body passes its limit (413, ``body``).

    An HTTP exception, so the route's body parsing re-raises it as is and the
    app's handler answers it.
    """


class RequestGuard:
    """ASGI middleware: bound every request body before anything parses it.

    A ``Content-Length`` over ``max_bytes`` is answered 413 at once; a body
    streamed without one is counted as it arrives, and the request fails with
    413 as soon as it passes ``max_bytes``, so no parser (multipart included)
    ever holds more. A JSON body is read whole (within the limit) and refused
    with 422 when it holds ``NaN``, ``Infinity`` or a number overflowing a
    float, which no JSON parser downstream may then turn into a 500. A NUL
    character in the path, a query parameter, a JSON string or a URL-encoded
    form is refused with 422 naming the field (PostgreSQL cannot store it).

    Args:
        app: the application.
        max_bytes: the largest body, in bytes.
        setting: the setting that sets the limit, named in the 413's detail.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, setting: str = "AGRI_MAX_REQUEST_MB"
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.setting = setting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Guard one request (HTTP only; other scopes pass)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, 413, self._too_large())
            return
        nul = _nul_in_url(scope)
        if nul is not None:
            await self._refuse(scope, receive, send, 422, error_body(*nul))
            return
        guarded = self._counting(receive)
        content_type = headers.get("content-type")
        form = (content_type or "").startswith("application/x-www-form-urlencoded")
        if not (is_json(content_type) or form):
            try:
                await self.app(scope, guarded, send)
            except _BodyTooLargeError:
                # Raised where the app reads: its handlers never ran to a response.
                await self._refuse(scope, receive, send, 413, self._too_large())
            return
        try:
            body = await self._read_all(guarded)
        except _BodyTooLargeError:
            await self._refuse(scope, receive, send, 413, self._too_large())
            return
        problem = _form_problem(body) if form else _json_problem(body)
        if problem is not None:
            await self._refuse(scope, receive, send, 422, error_body(*problem))
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self) -> dict[str, Any]:
        return error_body(
            f"the request body is over the limit of {self.max_bytes:,} bytes "
            f"({self.setting}): send fewer or smaller files",
            "body",
        )

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def guarded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    body = self._too_large()
                    raise _BodyTooLargeError(413, body["detail"], field=body["field"])
            return message

        return guarded

    @staticmethod
    async def _read_all(receive: Receive) -> bytes:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, code: int, body: dict[str, Any]
    ) -> None:
        await JSONResponse(body, status_code=code)(scope, receive, send)


_NUL = "\x00"
_NUL_DETAIL = "holds a NUL character (U+0000), which no text field may hold"


def _nul_in_url(scope: Scope) -> tuple[str, str] | None:
    """(detail, field) if the path or a query parameter holds NUL, else None."""
    if _NUL in scope.get("path", ""):
        return f"the path {_NUL_DETAIL}", "path"
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if _NUL in name or _NUL in value:
            field = name.replace(_NUL, "")
            return f"{field}: {_NUL_DETAIL}", field
    return None


def _json_problem(body: bytes) -> tuple[str, str] | None:
    """(detail, field) if a JSON body is refused before the app sees it, else None."""
    try:
        doc = strict_json_loads(body)
    except NonFiniteNumberError as exc:
        return f"body: {exc}", "body"
    except RecursionError:
        return "body: the JSON is nested too deep", "body"
    except ValueError:
        return None  # malformed JSON: the route's validation names the position
    field = nul_field(doc)
    return (f"{field}: {_NUL_DETAIL}", field) if field is not None else None


def _form_problem(body: bytes) -> tuple[str, str] | None:
    """(detail, field) if a URL-encoded form holds NUL, else None."""
    for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
        if _NUL in name or _NUL in value:
            field = name.replace(_NUL, "") or "body"
            return f"{field}: {_NUL_DETAIL}", field
    return None


_METHODS = (
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "OPTIONS",
    "TRACE",
    "QUERY",
)
"""The methods :class:`AllowedMethods` names, in this order."""
_TEMPLATE_PARAM = re.compile(r"\{[^{}/]+\}")


class AllowedMethods:
    """ASGI middleware: a 405's ``Allow`` header names the methods of the path (RFC 9110 §15.5.6).

    Starlette answers a method a path lacks from the first route of that path,
    so ``OPTIONS /farmers`` would say ``Allow: POST`` though ``GET`` is there
    too (each method of a path is a route of its own). On a 405 this sets
    ``Allow`` to the methods of the path's item in the OpenAPI document, the
    item found as OpenAPI matches URLs: a concrete path before a templated one
    (``/photos/check`` allows ``POST`` only, though ``GET /photos/{sha256}``
    would take ``check`` for a digest and answer 404). A path the document
    lacks (the pages, the docs) gets the methods its routes serve. Other
    responses pass as they are.

    Args:
        app: the application.
        routes: the app's routes (the live list: routes added later count).
        paths: the OpenAPI document's ``paths``, asked on the first 405.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Sequence[BaseRoute],
        paths: Callable[[], dict[str, Any]],
    ) -> None:
        self.app = app
        self.routes = routes
        self.paths = paths
        self._templates: list[tuple[re.Pattern[str], int, frozenset[str]]] | None = None

    def _documented(self) -> list[tuple[re.Pattern[str], int, frozenset[str]]]:
        """Each documented path as (its regex, its parameters, its methods)."""
        if self._templates is None:
            templates = []
            for template, item in self.paths().items():
                parts = _TEMPLATE_PARAM.split(template)
                regex = "[^/]+".join(re.escape(part) for part in parts)
                methods = frozenset(m.upper() for m in item) & frozenset(_METHODS)
                templates.append((re.compile(regex), len(parts) - 1, methods))
            self._templates = templates
        return self._templates

    def allowed(self, scope: Scope) -> list[str]:
        """The methods of ``scope``'s path, in :data:`_METHODS`' order."""
        path: str = scope.get("path", "")
        found = [(n, m) for regex, n, m in self._documented() if regex.fullmatch(path)]
        if found:
            fewest = min(n for n, _ in found)
            methods = set().union(*(m for n, m in found if n == fewest))
            return [method for method in _METHODS if method in methods]
        return [
            method
            for method in _METHODS
            if any(
                route.matches({**scope, "method": method})[0] is Match.FULL
                for route in self.routes
            )
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; on a 405, set ``Allow`` to the path's methods."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_allowed(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = self.allowed(scope)
                if methods:
                    MutableHeaders(scope=message)["Allow"] = ", ".join(methods)
            await send(message)

        await self.app(scope, receive, send_allowed)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect, when the client goes

    return replay
