"""The HTTP API (FastAPI), versioned under ``/api/v1``: the assembly of its parts.

* :mod:`server.http.middleware`: :class:`RequestGuard` bounds every body
  (``AGRI_MAX_REQUEST_MB``, 413) and refuses ``NaN``, ``Infinity`` and NUL (422)
  before anything parses them; :class:`AllowedMethods` makes a 405's ``Allow``
  name the path's methods; :mod:`server.http.security` adds the security headers.
* :mod:`server.http.errors`: every 4xx is one JSON body,
  :class:`~server.http.deps.ErrorOut` ``{"detail", "field"}``; no stack trace
  reaches a client.
* :mod:`server.http.auth`: login, logout, users, and the role check; who may
  do what and see whose records is :mod:`server.services.access`'s.
* :mod:`server.http.openapi`: the OpenAPI document (``ErrorOut`` declared for
  every 4xx of every route) and the offline Swagger UI.
* Routers: health and receipts (:mod:`~server.http.ledger`); farmers,
  products, animals, applications and policies (:mod:`~server.http.records`);
  claims, photos, maps, histories, scenes, devices and the pages.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from server.context import AppContext
from server.http.auth import auth_router, make_require, user_store
from server.http.claims import claims_router
from server.http.deps import API, Deps
from server.http.devices import devices_router
from server.http.errors import install_error_handlers
from server.http.exports import exports_router
from server.http.history import history_router
from server.http.ledger import health_router, ledger_router
from server.http.maps import maps_router
from server.http.middleware import AllowedMethods, RequestGuard
from server.http.notices import notices_router
from server.http.ogc import ogc_router
from server.http.openapi import mount_docs, openapi_document
from server.http.pages import mount_pages, pages_router
from server.http.photos import photos_router
from server.http.records import records_router
from server.http.reports import reports_router
from server.http.scenes import scenes_router
from server.http.security import SecurityHeaders

__all__ = ["RequestGuard", "create_app"]


def create_app(ctx: AppContext) -> FastAPI:
    """The API on a wired application context."""
    tick_s = min(60.0, ctx.settings.checkpoint_interval_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Requests sign due checkpoints; one background thread anchors them (a
        # request never waits on a chain) and applies the checkpoint policy on
        # a quiet server. Joined at shutdown, so no database work outlives the app.
        ctx.ledger.start_background(tick_s)
        try:
            yield
        finally:
            ctx.ledger.stop_background()

    app = FastAPI(
        title="Agricultural insurance",
        version="1",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,  # served by mount_docs from the installed Swagger UI, not a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    # a 405's Allow names the path's methods, as the OpenAPI document has them
    app.add_middleware(
        AllowedMethods, routes=app.routes, paths=lambda: app.openapi()["paths"]
    )
    app.add_middleware(RequestGuard, max_bytes=ctx.settings.max_request_mb << 20)
    # outermost: the guard's own refusals carry the headers too
    app.add_middleware(SecurityHeaders, docs_prefix=f"{API}/docs")
    install_error_handlers(app)

    users = user_store(ctx)
    deps = Deps(ctx, make_require(users))
    app.include_router(health_router(deps))
    app.include_router(auth_router(deps, users))
    mount_docs(app)
    app.include_router(ledger_router(deps))
    app.include_router(records_router(deps))
    app.include_router(claims_router(deps))
    app.include_router(photos_router(deps))
    app.include_router(maps_router(deps))
    app.include_router(history_router(deps))
    app.include_router(scenes_router(deps))
    app.include_router(devices_router(deps))
    app.include_router(reports_router(deps))
    app.include_router(notices_router(deps))
    app.include_router(exports_router(deps))
    app.include_router(ogc_router(deps))  # OGC API - Features at /ogc
    app.include_router(pages_router(deps))
    mount_pages(app)  # after every API route: the pages at /, npm packages at /vendor/
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    return app
