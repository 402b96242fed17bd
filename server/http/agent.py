"""The field agent's app: ``edge/`` served at ``/agent/`` (a Progressive Web App).

What is served, and nothing else of ``edge/``:

- ``/agent/`` (``edge/index.html``), ``/agent/manifest.webmanifest`` and
  ``/agent/sw.js`` (the service worker; its scope is ``/agent/``);
- ``/agent/src/`` (``edge/src/``: plain ES modules and the style sheet, no build step);
- ``/agent/model/`` (``edge/model/``: the on-device face-ID model and its manifest);
- ``/agent/vendor/onnxruntime-web/`` (``edge/node_modules/onnxruntime-web/dist/``,
  installed by ``make setup``: ``npm ci --prefix edge``).

Every response under ``/agent`` is cross-origin isolated
(``Cross-Origin-Opener-Policy: same-origin``, ``Cross-Origin-Embedder-Policy:
require-corp``), so the WebAssembly runtime may use threads (SharedArrayBuffer).

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
The app's files are static and public, like the staff pages; the API they call
needs a login.

Cache headers: the shell, the service worker, the app's modules and the model
are ``no-cache`` (always revalidated, so a new release is seen at once; the
service worker keeps its own copies for offline use); the runtime's files,
pinned to one exact npm version, may be kept a day.
"""

import logging
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["EDGE_DIR", "ISOLATION_HEADERS", "mount_agent"]

logger = logging.getLogger(__name__)

EDGE_DIR = Path(__file__).resolve().parents[2] / "edge"  # server/http -> repo/edge
PREFIX = "/agent"
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}
NO_CACHE = "no-cache"
RUNTIME_CACHE = "public, max-age=86400"  # onnxruntime-web: one pinned version


class _AgentFiles(StaticFiles):
    """Static files with the isolation headers and a fixed Cache-Control."""

    def __init__(self, *, directory: Path, cache_control: str) -> None:
        super().__init__(directory=directory)
        self.cache_control = cache_control

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """The file, with the isolation and cache headers (304s included)."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(ISOLATION_HEADERS)
        response.headers["Cache-Control"] = self.cache_control
        if str(full_path).endswith(".webmanifest"):
            response.headers["Content-Type"] = "application/manifest+json"
        return response


def _file(path: Path, media_type: str, **extra: str) -> FileResponse:
    headers = {**ISOLATION_HEADERS, "Cache-Control": NO_CACHE, **extra}
    return FileResponse(path, media_type=media_type, headers=headers)


def _missing(what: str, hint: str) -> Any:
    def missing(rest: str) -> JSONResponse:
        return JSONResponse(
            {"detail": f"{what} is not installed: {hint}", "field": None},
            status_code=404,
            headers=ISOLATION_HEADERS,
        )

    return missing


def mount_agent(app: FastAPI, edge_dir: Path = EDGE_DIR) -> None:
    """Serve the field agent's app from ``edge_dir`` at ``/agent/`` on ``app``.

    Call after the API's routes. Without ``edge_dir/index.html`` nothing is
    served (logged). A missing onnxruntime-web (``npm ci --prefix edge`` not run)
    or a missing model answers 404 naming what to run, and is logged at start.
    """
    index = edge_dir / "index.html"
    if not index.is_file():
        logger.warning("no field agent's app at %s: /agent/ is not served", edge_dir)
        return

    @app.get(PREFIX, include_in_schema=False)
    def agent_root() -> RedirectResponse:
        """``/agent`` -> ``/agent/`` (the service worker's scope)."""
        return RedirectResponse(f"{PREFIX}/", status_code=308)

    @app.get(f"{PREFIX}/", include_in_schema=False)
    def agent_index() -> FileResponse:
        """The app's shell."""
        return _file(index, "text/html")

    @app.get(f"{PREFIX}/sw.js", include_in_schema=False)
    def agent_worker() -> FileResponse:
        """The service worker: offline copies of the shell, the model and the runtime."""
        return _file(
            edge_dir / "sw.js",
            "text/javascript",
            **{"Service-Worker-Allowed": f"{PREFIX}/"},
        )

    @app.get(f"{PREFIX}/manifest.webmanifest", include_in_schema=False)
    def agent_manifest() -> FileResponse:
        """The web app manifest (name, icons, start URL, scope)."""
        return _file(edge_dir / "manifest.webmanifest", "application/manifest+json")

    folders = {
        "src": (edge_dir / "src", NO_CACHE, "the app's modules", "check out edge/src"),
        "model": (
            edge_dir / "model",
            NO_CACHE,
            "the face-ID model",
            "run `make edge-model` (agri edge export)",
        ),
        "vendor/onnxruntime-web": (
            edge_dir / "node_modules" / "onnxruntime-web" / "dist",
            RUNTIME_CACHE,
            "the npm package onnxruntime-web",
            "run `make setup` (npm ci --prefix edge)",
        ),
    }
    for sub, (folder, cache, what, hint) in folders.items():
        if folder.is_dir():
            app.mount(
                f"{PREFIX}/{sub}",
                _AgentFiles(directory=folder, cache_control=cache),
                name=f"agent:{sub}",
            )
        else:
            logger.warning("%s is missing at %s: %s", what, folder, hint)
            app.add_api_route(
                f"{PREFIX}/{sub}/{{rest:path}}",
                _missing(what, hint),
                include_in_schema=False,
            )
