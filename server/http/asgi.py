"""The API for a process manager: ``agri serve --workers N`` starts uvicorn workers on it.

Each worker process builds its own context from the environment's settings
(``AGRI_*`` and ``.env``, as the command that started them read them). They
share the database: the ledger's appends and checkpoints, the anchorer and
the face-ID registry coordinate through it (see DESIGN.md).
"""

from fastapi import FastAPI

from server.config import Settings
from server.context import build_context
from server.http.app import create_app

__all__ = ["app_from_environment"]


def app_from_environment() -> FastAPI:
    """The API on ``Settings()``, connected to the configured chain (a uvicorn factory)."""
    return create_app(build_context(Settings(), chain=True, migrate=False))
