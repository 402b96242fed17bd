"""The Alembic migrations build exactly the schema that server.storage.schema declares.

And ``upgrade`` says what it did (created, upgraded, already at the latest), or,
for a database it cannot reach, open or write, one line naming the URL (password
masked) and what to do.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from server.storage.migrate import DatabaseAccessError, masked_url, upgrade
from server.storage.schema import make_engine, metadata
from tests.server.conftest import _postgres_base


def test_migrations_match_the_declared_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_downgrade_then_upgrade_again(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        from alembic import command

        from server.storage.migrate import _config

        cfg = _config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0005")
        upgrade(engine)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        engine.dispose()


# --- what `agri db upgrade` says: created, upgraded, already there; or why it cannot --


def test_upgrade_says_created_then_upgraded_then_already_at_the_latest(
    db_url: str,
) -> None:
    """An empty database gets the schema (created), an old one is upgraded, then no-op."""
    engine = make_engine(db_url)
    try:
        first = upgrade(engine)
        assert first.created and first.before is None and first.after is not None
        assert first.message().startswith("created the schema on the empty database")
        head = first.after
        again = upgrade(engine)
        assert not again.changed and not again.created
        assert again.message().endswith(
            f"already at the latest schema (revision {head})"
        )
        from alembic import command

        from server.storage.migrate import _config

        cfg = _config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0012")
        older = upgrade(engine)
        assert (older.before, older.after, older.created) == ("0012", head, False)
        assert f"from revision 0012 to {head}" in older.message()
    finally:
        engine.dispose()


def test_an_unopenable_sqlite_file_is_one_line_naming_it(tmp_path: Path) -> None:
    """A folder where the file should be: the URL, the file and what to do."""
    url = f"sqlite:///{tmp_path}"
    engine = make_engine(url)
    try:
        with pytest.raises(DatabaseAccessError) as err:
            upgrade(engine)
    finally:
        engine.dispose()
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"cannot use the database {url}: cannot open the SQLite")
    assert "AGRI_DATA_DIR or AGRI_DATABASE_URL" in message
    assert isinstance(err.value, ConnectionError)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_server_at_the_address_is_one_line_with_the_password_masked() -> None:
    """Nothing listens on the port: the masked URL, the address, start it or fix it."""
    port = _closed_port()
    engine = make_engine(f"postgresql+psycopg://agri:s3cret@127.0.0.1:{port}/agri")
    try:
        with pytest.raises(DatabaseAccessError) as err:
            upgrade(engine)
    finally:
        engine.dispose()
    message = str(err.value)
    assert "s3cret" not in message and "\n" not in message
    assert message.startswith(
        f"cannot use the database postgresql+psycopg://agri:***@127.0.0.1:{port}/agri:"
    )
    assert f"no PostgreSQL server answers at 127.0.0.1:{port}" in message
    assert "start it, or correct the host and port in AGRI_DATABASE_URL" in message


@pytest.fixture
def pg_admin() -> URL:
    """The test server's admin URL; skipped (with why) where no server answers."""
    base = make_url(_postgres_base())
    engine = create_engine(base)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "no server here"
        if os.environ.get("AGRI_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but unreachable at {base}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {masked_url(base)}")
    finally:
        engine.dispose()
    return base


def _access_error(url: URL) -> str:
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with pytest.raises(DatabaseAccessError) as err:
            upgrade(engine)
    finally:
        engine.dispose()
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"cannot use the database {masked_url(url)}: ")
    return message


@pytest.mark.postgres
def test_a_database_that_does_not_exist_says_how_to_create_it(pg_admin: URL) -> None:
    """The database named in the URL is missing on a running server."""
    name = f"missing_{uuid.uuid4().hex[:8]}"
    message = _access_error(pg_admin.set(database=name))
    user = pg_admin.username
    assert f'database "{name}" does not exist' in message
    assert f"createdb --owner={user} {name}" in message


@pytest.mark.postgres
def test_a_refused_login_names_the_user(pg_admin: URL) -> None:
    """A role the server does not know (or a wrong password): check or create it."""
    role = f"nobody_{uuid.uuid4().hex[:8]}"
    message = _access_error(pg_admin.set(username=role, password="wrong-pw"))
    assert "wrong-pw" not in message
    assert f'refused the login of user "{role}"' in message


@pytest.mark.postgres
def test_a_user_who_may_not_create_tables_is_told_to_own_the_database(
    pg_admin: URL,
) -> None:
    """A role that may log in but not create tables in the database's schema."""
    role = f"reader_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_admin)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'"))
    schema = f"t_{uuid.uuid4().hex[:12]}"  # owned by the admin: the role may not write
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}'))
    try:
        url = pg_admin.set(username=role, password="pw").update_query_dict(
            {"options": f"-csearch_path={schema}"}
        )
        message = _access_error(url)
        assert f'user "{role}" may not create tables in database' in message
        assert f"ALTER DATABASE {pg_admin.database} OWNER TO {role}" in message
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()
