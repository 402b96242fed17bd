"""Whole-database copies: SQLite's online backup, PostgreSQL's ``pg_dump`` / ``pg_restore``.

A copy is one file. SQLite's is a database file made by SQLite's online backup
API (consistent while the server writes); PostgreSQL's is a ``pg_dump``
custom-format archive (one consistent snapshot). Restoring loads such a file
into a database given by URL: SQLite's is written beside the target and moved
into place; PostgreSQL's replaces the target's tables (``pg_restore --clean``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

__all__ = [
    "BackupError",
    "dump",
    "holds_a_ledger",
    "is_sqlite",
    "load",
    "scratch_database",
    "sqlite_path",
]


class BackupError(OSError):
    """A copy could not be made or loaded (the message says which and why)."""


def is_sqlite(url: str) -> bool:
    """Whether ``url`` names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL.

    Raises:
        BackupError: an in-memory database (nothing to copy).
    """
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database has no file to copy")
    return Path(database)


def _search_path(url: URL) -> str | None:
    """The schema a URL's ``options=-csearch_path=...`` names (one installation's)."""
    options = url.query.get("options")
    found = options if isinstance(options, str) else " ".join(options or ())
    for part in found.split():
        if part.startswith("-csearch_path="):
            return part.removeprefix("-csearch_path=").split(",")[0] or None
    return None


def _pg_args(url: URL) -> tuple[list[str], dict[str, str]]:
    args = ["--dbname", url.database or ""]
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return args, env


def _run(tool: str, args: list[str], env: dict[str, str]) -> None:
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not installed (PostgreSQL's client tools)")
    done = subprocess.run(
        [tool, *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise BackupError(f"{tool}: {last}")


def dump(url: str, out: Path) -> None:
    """Write a consistent copy of the database at ``url`` to ``out`` (replaced if there).

    Raises:
        BackupError: the database cannot be read or the file written.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    try:
        if is_sqlite(url):
            source = sqlite_path(url)
            if not source.is_file():
                raise BackupError(f"{source}: no such database file")
            with (
                closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
                closing(sqlite3.connect(tmp)) as dst,
            ):
                src.backup(dst)
        else:
            parsed = make_url(url)
            args, env = _pg_args(parsed)
            schema = _search_path(parsed)
            if schema:  # an installation in its own schema: only that one
                args += ["--schema", schema]
            _run(
                "pg_dump",
                ["--format=custom", "--no-owner", "--file", str(tmp), *args],
                env,
            )
        os.replace(tmp, out)
    except (OSError, sqlite3.Error) as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, BackupError):
            raise
        raise BackupError(str(exc)) from exc


def load(url: str, src: Path) -> None:
    """Load the copy ``src`` into the database at ``url``, replacing what is there.

    Raises:
        BackupError: ``src`` is not such a copy, or the database cannot be written.
    """
    if not src.is_file():
        raise BackupError(f"{src}: no such file")
    try:
        if is_sqlite(url):
            target = sqlite_path(url)
            target.parent.mkdir(parents=True, exist_ok=True)
            # SQLite's backup API into the target: page by page under its lock,
            # through its journal (a file moved over it would meet its old WAL).
            with (
                closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True)) as source,
                closing(sqlite3.connect(target)) as dst,
            ):
                source.execute("SELECT count(*) FROM sqlite_master").fetchone()
                source.backup(dst)
        else:
            args, env = _pg_args(make_url(url))
            _run(
                "pg_restore",
                [
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--single-transaction",
                    *args,
                    str(src),
                ],
                env,
            )
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{src}: not a SQLite database copy ({exc})") from exc


def holds_a_ledger(url: str) -> bool:
    """Whether the database at ``url`` holds ledger entries (no file, no table: False)."""
    if is_sqlite(url) and not sqlite_path(url).exists():
        return False
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(text("SELECT count(*) FROM ledger_entries")).scalar()
            )
    except SQLAlchemyError:  # no such table, no database: nothing to lose
        return False
    finally:
        engine.dispose()


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """An empty database beside ``url``'s, dropped on leaving: its URL.

    SQLite: a file in the same folder. PostgreSQL: a database on the same
    server (the user needs CREATEDB).

    Raises:
        BackupError: it cannot be created.
    """
    tag = uuid.uuid4().hex[:8]
    if is_sqlite(url):
        scratch = sqlite_path(url).with_name(f"restore-check-{tag}.db")
        scratch.parent.mkdir(parents=True, exist_ok=True)
        try:
            yield f"sqlite:///{scratch}"
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                scratch.with_name(scratch.name + suffix).unlink(missing_ok=True)
        return
    target = make_url(url)
    name = f"{target.database}_restore_{tag}"
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except SQLAlchemyError as exc:
            raise BackupError(
                f"cannot create a scratch database to check the copy in: the database "
                f"user needs CREATEDB ({exc.__class__.__name__})"
            ) from exc
        try:
            scratch_url = target.set(database=name)
            _same_extensions(target, scratch_url)
            yield scratch_url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _same_extensions(source: URL, scratch: URL) -> None:
    """Create in ``scratch`` the PostGIS extension ``source``'s database has (plots.geom).

    Raises:
        BackupError: the user may not create it (a superuser adds PostGIS to
            template1 once, and every new database has it).
    """
    engine = create_engine(source)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT n.nspname FROM pg_extension e "
                    "JOIN pg_namespace n ON n.oid = e.extnamespace "
                    "WHERE e.extname = 'postgis'"
                )
            ).scalar()
    finally:
        engine.dispose()
    if found is None:
        return
    engine = create_engine(scratch, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(
                text(f'CREATE EXTENSION IF NOT EXISTS postgis SCHEMA "{found}"')
            )
    except SQLAlchemyError as exc:
        raise BackupError(
            "cannot create PostGIS in the scratch database the copy is checked in "
            f"({exc.__class__.__name__}): as the postgres superuser, run "
            '`psql -d template1 -c "CREATE EXTENSION IF NOT EXISTS postgis"` once'
        ) from exc
    finally:
        engine.dispose()
