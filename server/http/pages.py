"""The pages: the front-end's files at ``/``, its npm packages at ``/vendor/<pkg>/``.

The server only serves files and JSON: ``web/index.html`` at ``/`` (and
``web/notice.html`` at ``/notices/{id}``, a notice's public page), ``web/css/``
and ``web/js/`` as they are (plain ES modules, no build step), and each package
named in ``web/package.json``'s ``dependencies`` from ``web/node_modules/<pkg>/``
at ``/vendor/<pkg>/`` (``make setup`` runs ``npm ci --prefix web``). Nothing else
of ``web/`` (``node_modules`` as a whole, the lock file) is reachable. Two small
API routes serve the pages: ``GET /api/v1/me`` (who is logged in) and ``GET
/api/v1/ledger/key`` (the note verifier key receipts are checked against).

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from server.http.agent import mount_agent
from server.http.deps import API, Deps
from server.http.notices import mount_notice_page
from server.services.auth import User

__all__ = ["WEB_DIR", "mount_pages", "pages_router", "vendor_packages"]

logger = logging.getLogger(__name__)

WEB_DIR = (
    Path(__file__).resolve().parents[2] / "web"
)  # server/http/pages.py -> repo/web
_NO_CACHE = {"Cache-Control": "no-cache"}  # revalidate: pages change with the code


class MeOut(BaseModel):
    """The logged-in user, as the pages need it."""

    username: str = Field(examples=["f-0001"])
    role: str = Field(examples=["farmer"])
    farmer_id: str | None = Field(examples=["F-0001"])


class LedgerKeyOut(BaseModel):
    """The ledger's note verifier key: what a receipt's checkpoint must be signed by."""

    name: str = Field(examples=["agri-insurance.local/ledger"])
    key_id: str = Field(description="8 hex digits.", examples=["3c2f9a10"])
    verifier_key: str = Field(
        description="C2SP note verifier key: name+hexid+base64(0x01 || Ed25519 key).",
        examples=["agri-insurance.local/ledger+3c2f9a10+AR2l..."],
    )


def vendor_packages(web_dir: Path) -> list[str]:
    """The npm packages the pages may load: ``dependencies`` of ``web/package.json``.

    Returns:
        Package names (scoped names keep their ``@scope/``), sorted; empty when
        there is no ``package.json``.
    """
    manifest = web_dir / "package.json"
    if not manifest.is_file():
        return []
    deps = json.loads(manifest.read_text(encoding="utf-8")).get("dependencies", {})
    return sorted(str(name) for name in deps)


def mount_pages(app: FastAPI, web_dir: Path = WEB_DIR) -> None:
    """Serve the pages and their npm packages on ``app`` (after the API's routes).

    A package not installed yet (``npm ci --prefix web`` not run) answers 404
    naming the command, and is logged once at start. The field agent's app is
    served at ``/agent/`` beside them (:func:`server.http.agent.mount_agent`).
    """
    mount_agent(app)
    if not (web_dir / "index.html").is_file():
        logger.warning("no pages at %s: only the API is served", web_dir)
        return
    for pkg in vendor_packages(web_dir):
        folder = web_dir / "node_modules" / pkg
        if folder.is_dir():
            app.mount(
                f"/vendor/{pkg}", StaticFiles(directory=folder), name=f"vendor:{pkg}"
            )
        else:
            logger.warning("npm package %s is not installed: run make setup", pkg)
            app.add_api_route(
                f"/vendor/{pkg}/{{rest:path}}",
                _missing(pkg),
                include_in_schema=False,
            )
    for sub in ("css", "js"):
        if (web_dir / sub).is_dir():
            app.mount(
                f"/{sub}", StaticFiles(directory=web_dir / sub), name=f"web:{sub}"
            )
    index = web_dir / "index.html"

    @app.get("/", include_in_schema=False)
    def pages() -> FileResponse:
        """The app shell: one page, routed by its URL's hash."""
        return FileResponse(index, media_type="text/html", headers=_NO_CACHE)

    mount_notice_page(app, web_dir)  # /notices/{id}: what a notice's QR code opens


def _missing(pkg: str) -> Callable[[str], JSONResponse]:
    def missing(rest: str) -> JSONResponse:
        return JSONResponse(
            {
                "detail": f"the npm package {pkg} is not installed: "
                "run `make setup` (npm ci --prefix web)",
                "field": None,
            },
            status_code=404,
        )

    return missing


def pages_router(deps: Deps) -> APIRouter:
    """``GET /api/v1/me`` and ``GET /api/v1/ledger/key``."""
    router = APIRouter(prefix=API)
    readers = deps.may("read")
    ledger = deps.ctx.ledger

    @router.get("/me", tags=["auth"])
    def me(user: Annotated[User, Depends(readers)]) -> MeOut:
        """The logged-in user: name, role and (for farmers) farmer id."""
        return MeOut(username=user.username, role=user.role, farmer_id=user.farmer_id)

    @router.get("/ledger/key", tags=["ledger"])
    def ledger_key() -> LedgerKeyOut:
        """The ledger's note verifier key (public): receipts verify against it.

        Compare it with the key published by the insurer before trusting a
        receipt checked with it.
        """
        v = ledger.verifier
        return LedgerKeyOut(name=v.name, key_id=f"{v.key_id:08x}", verifier_key=str(v))

    return router
