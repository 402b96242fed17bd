"""What every ``agri`` command group shares: the application context, the shared data path.

Imported by ``main`` and by each command group, and importing none of them, so
the command modules form no import circle. Like ``main``, it imports only click
and the standard library at the top.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from server.config import Settings
    from server.context import AppContext

__all__ = ["SHARED_DATA", "app_context"]

SHARED_DATA = Path(os.environ.get("AGRI_SHARED_DATA", "../shared/data"))
"""The sample data folder (``AGRI_SHARED_DATA``, default ``../shared/data``)."""


class DatabaseUnusable(click.ClickException):
    """The database cannot be reached or opened: one line, exit 2 (as a usage error)."""

    exit_code = 2


def app_context(ctx: click.Context, *, chain: bool = False) -> AppContext:
    """The application context of the settings ``agri`` was started with, closed with the command.

    Raises:
        click.UsageError: the ledger's key or chain cannot be opened, or the
            database cannot be reached or opened (the reason named, one line).
    """
    from ledger import LedgerError
    from server.context import build_context

    settings: Settings = ctx.obj["settings"]
    try:
        app = build_context(settings, chain=chain)
    except LedgerError as exc:
        raise click.UsageError(str(exc)) from exc
    except ConnectionError as exc:
        # Storage's DatabaseAccessError: the URL masked and what to do, in one line.
        raise DatabaseUnusable(str(exc)) from exc
    ctx.call_on_close(app.close)
    return app
