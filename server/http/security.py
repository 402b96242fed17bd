"""Security headers on every response: no sniffing, no framing, a Content-Security-Policy.

The pages and the field agent's app load scripts, styles, fonts and images only
from this origin (no CDN, no inline script); the phone's face model compiles
WebAssembly (``'wasm-unsafe-eval'``) and previews photos from ``blob:`` URLs.
Swagger UI's page starts itself with an inline script, so the API docs get a
policy that allows that one page's scripts and nothing else.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "SecurityHeaders"]

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        # the pages' h() helper and Leaflet set style attributes (web/js/ui.js)
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
"""The policy of every page and response but the API docs."""

_DOCS_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self' 'wasm-unsafe-eval'", "script-src 'self' 'unsafe-inline'"
)


class SecurityHeaders:
    """ASGI middleware: add the security headers to every HTTP response the app answers.

    A 500 from an unhandled exception is answered by Starlette's outermost
    error middleware, outside this one, and carries no page content.

    Args:
        app: the application.
        docs_prefix: paths under it (Swagger UI, ReDoc) may run inline scripts.
    """

    def __init__(self, app: ASGIApp, *, docs_prefix: str) -> None:
        self.app = app
        self.docs_prefix = docs_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; set the headers on its response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        docs = path == self.docs_prefix or path.startswith(self.docs_prefix + "/")
        policy = _DOCS_POLICY if docs else CONTENT_SECURITY_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)
