"""Bring a database to the latest schema with Alembic; say what was done, or why not.

:func:`upgrade` returns (and logs, on this module's logger) what it did:
created the schema on an empty database, upgraded it from an older revision,
or found it at the latest. A database it cannot reach, open or write raises
:class:`DatabaseAccessError`, one line naming the URL (password masked), the
problem and what to do: a database that does not exist, no server at the
address, a login refused, a user that may not create tables, a SQLite file
that cannot be opened.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

__all__ = ["DatabaseAccessError", "SchemaUpgrade", "masked_url", "upgrade"]

logger = logging.getLogger(__name__)

GUIDE = "docs/operations.md"


class DatabaseAccessError(ConnectionError):
    """The database cannot be reached, opened or written with the configured URL.

    A :class:`ConnectionError` (so callers above the storage layer catch it
    without importing it). ``str()`` is one line: ``cannot use the database
    URL: PROBLEM: WHAT TO DO``, the password masked.

    Attributes:
        url: the URL, password masked.
        problem: what went wrong and what to do.
    """

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"cannot use the database {url}: {problem}")
        self.url = url
        self.problem = problem


@dataclass(frozen=True)
class SchemaUpgrade:
    """What :func:`upgrade` did.

    Attributes:
        url: the database URL, password masked.
        before: the schema revision found (None: an empty database).
        after: the revision it is at now.
    """

    url: str
    before: str | None
    after: str | None

    @property
    def created(self) -> bool:
        """The schema was created on an empty database."""
        return self.before is None and self.after is not None

    @property
    def changed(self) -> bool:
        """Any migration ran."""
        return self.before != self.after

    def message(self) -> str:
        """One line for the operator."""
        if self.created:
            return (
                f"created the schema on the empty database {self.url} "
                f"(revision {self.after})"
            )
        if self.changed:
            return (
                f"upgraded the database {self.url} from revision {self.before} "
                f"to {self.after}"
            )
        return (
            f"the database {self.url} is already at the latest schema "
            f"(revision {self.after})"
        )


def masked_url(url: URL | str) -> str:
    """``url`` with its password shown as ``***`` (nothing else changed)."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> SchemaUpgrade:
    """Apply every migration up to ``revision`` (idempotent) and say what was done.

    A database already at the head is only read (one query): every ``agri``
    command opens the database, and running Alembic's machinery for nothing
    cost each of them about half a second.

    Raises:
        DatabaseAccessError: the database cannot be reached or opened, or the
            user may not create its tables (one line naming the URL).
    """
    cfg = _config()
    url = masked_url(engine.url)
    try:
        conn = engine.connect()
    except DBAPIError as exc:
        raise DatabaseAccessError(url, _problem(engine.url, exc)) from exc
    with conn:
        try:
            trans = conn.begin()  # SQLite: BEGIN IMMEDIATE, which needs a writable file
        except DBAPIError as exc:
            raise DatabaseAccessError(url, _problem(engine.url, exc)) from exc
        with trans:
            before = MigrationContext.configure(conn).get_current_revision()
            script = ScriptDirectory.from_config(cfg)
            if revision == "head" and before == script.get_current_head():
                done = SchemaUpgrade(url, before, before)
                logger.debug("%s", done.message())
                return done
            cfg.attributes["connection"] = conn
            try:
                command.upgrade(cfg, revision)
            except DBAPIError as exc:
                problem = _write_problem(engine.url, exc)
                if problem is None:
                    raise
                raise DatabaseAccessError(url, problem) from exc
            after = MigrationContext.configure(conn).get_current_revision()
    done = SchemaUpgrade(url, before, after)
    logger.info("%s", done.message())
    return done


def _first_line(exc: DBAPIError) -> str:
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _where(url: URL) -> str:
    if url.host is None:
        return "the local socket"
    return f"{url.host}:{url.port or 5432}"


def _problem(url: URL, exc: DBAPIError) -> str:
    """What went wrong opening ``url``, and what to do, in one line."""
    text = str(exc.orig if exc.orig is not None else exc)
    first = _first_line(exc)
    if url.get_backend_name() == "sqlite":
        return (
            f"cannot open the SQLite file {url.database} ({first}): make its folder "
            "writable by this user, or set AGRI_DATA_DIR or AGRI_DATABASE_URL"
        )
    user, name, where = url.username or "(none)", url.database or "(none)", _where(url)
    if re.search(r'database "[^"]*" does not exist', text):
        return (
            f'database "{name}" does not exist on {where}: create it '
            f"(sudo -u postgres createdb --owner={user} {name}) or correct "
            f"AGRI_DATABASE_URL (see {GUIDE})"
        )
    refused = (
        "password authentication failed",
        "no password supplied",
        "authentication failed",
        "Peer authentication",
    )
    if any(s in text for s in refused) or re.search(
        r'role "[^"]*" does not exist', text
    ):
        return (
            f'the server at {where} refused the login of user "{user}" (wrong '
            "password, or no such role): check the user and password in "
            f"AGRI_DATABASE_URL, or create the role (see {GUIDE})"
        )
    unreachable = (
        "Connection refused",
        "could not translate host name",
        "failed to resolve host",
        "Name or service not known",
        "No route to host",
        "timeout expired",
        "timed out",
        "No such file or directory",  # no socket: no local server
    )
    if any(s in text for s in unreachable):
        reason = first.rsplit("failed: ", 1)[-1]
        return (
            f"no PostgreSQL server answers at {where} ({reason}): start it, or "
            "correct the host and port in AGRI_DATABASE_URL"
        )
    privilege = _write_problem(url, exc)
    if privilege is not None:
        return privilege
    return f"{first}: check AGRI_DATABASE_URL (see {GUIDE})"


def _write_problem(url: URL, exc: DBAPIError) -> str | None:
    """The problem when the user may not write the schema, else None."""
    text = str(exc.orig if exc.orig is not None else exc)
    if url.get_backend_name() == "sqlite":
        if "readonly database" in text or "unable to open" in text:
            return (
                f"cannot write the SQLite file {url.database} ({_first_line(exc)}): "
                "make it and its folder writable by this user"
            )
        return None
    if getattr(exc.orig, "sqlstate", None) == "42501" or "permission denied" in text:
        user, name = url.username or "(none)", url.database or "(none)"
        return (
            f'user "{user}" may not create tables in database "{name}" '
            f"({_first_line(exc)}): make it the owner (sudo -u postgres psql -c "
            f"'ALTER DATABASE {name} OWNER TO {user}')"
        )
    return None
