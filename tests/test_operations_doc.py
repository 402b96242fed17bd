"""docs/operations.md runs as written: its shell blocks, in order, in a scratch folder.

The guide's conventions (stated in its introduction): a ```sh block whose first
line says "not run by the test" is skipped (apt, systemd, nginx, a chain, a
running service); one whose first line starts "# PostgreSQL" or "# SQLite" runs
only on that database; the others run on both. The guide's folders are mapped
into tmp_path (``ROOTS``), ``sudo -u postgres`` runs the command with the test
server's administrator credentials, and the PostgreSQL role and database get
names of their own for each run. Before the nightly backup the test appends 3
ledger entries, so that the restore drill's ``agri ledger verify`` has something
to check. The error lines the guide quotes are compared with what the commands
print.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from server.cli.main import cli
from tests.conftest import REPO, shared_data_dir
from tests.server.conftest import _postgres_base

GUIDE = REPO / "docs" / "operations.md"
SKIPPED = "not run by the test"
# The guide's folders, and where they are in the scratch folder.
ROOTS = {
    "/opt/agri-insurance": "opt",
    "/etc/agri-insurance": "etc",
    "/var/lib/agri-insurance": "data",
    "/var/backups/agri-insurance": "backups",
}
# What the skipped root block of section 1 makes.
MADE_BY_ROOT = ("etc", "data/photos", "data/imagery", "backups")
# The guide's PostgreSQL names, given names of their own for each run.
PG_ROLE, PG_DATABASE, PG_ADDRESS = "agri_app", "agri_insurance", "127.0.0.1:5432"
SEEDED = 3
OUTSIDE = re.compile(r"(?<![\w./-])/(etc|var|opt|srv|media|home|root)/")


@dataclass(frozen=True)
class Block:
    """A ```sh block of the guide: its first line number and its text."""

    line: int
    text: str

    @property
    def first(self) -> str:
        return self.text.splitlines()[0] if self.text else ""

    @property
    def runs_on(self) -> set[str]:
        if SKIPPED in self.first:
            return set()
        if self.first.startswith("# PostgreSQL"):
            return {"postgresql"}
        if self.first.startswith("# SQLite"):
            return {"sqlite"}
        return {"postgresql", "sqlite"}


def guide_blocks(markdown: str) -> list[Block]:
    """The ```sh blocks of ``markdown``, in order."""
    blocks, lines, start = [], markdown.splitlines(), None
    for number, line in enumerate(lines, start=1):
        if start is None and line.strip() == "```sh":
            start = number
        elif start is not None and line.strip() == "```":
            blocks.append(Block(start + 1, "\n".join(lines[start : number - 1])))
            start = None
    assert start is None, f"unclosed ```sh block at line {start}"
    return blocks


GUIDE_TEXT = GUIDE.read_text()
BLOCKS = guide_blocks(GUIDE_TEXT)


@dataclass
class Sandbox:
    """The scratch folder: the guide's folders in it, the project folder as cwd."""

    root: Path
    replace: dict[str, str]

    @property
    def project(self) -> Path:
        return self.root / "opt"

    def path(self, name: str) -> Path:
        return self.root / name

    def map(self, text: str) -> str:
        for old, new in self.replace.items():
            text = text.replace(old, new)
        return text


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    root = tmp_path / "sandbox"
    for name in ("opt", "home", *MADE_BY_ROOT):
        (root / name).mkdir(parents=True)
    (root / "opt" / ".venv").symlink_to(REPO / ".venv")
    replace = {old: str(root / new) for old, new in ROOTS.items()}
    replace["/srv/imagery"] = str(shared_data_dir() / "sentinel2" / "slovenia")
    return Sandbox(root, replace)


def _env(sandbox: Sandbox, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGRI_", "PG"))}
    env.update(
        HOME=str(sandbox.path("home")),
        LANG="C.UTF-8",
        AGRI_DATA_DIR=str(sandbox.path("data")),
        AGRI_NEW_PASSWORD="a long test password",
    )
    env.update(extra)
    return env


def _script(sandbox: Sandbox, database: str, admin: URL | None) -> str:
    """The guide's blocks for ``database`` as one bash script, run in the project folder."""
    sudo = ""
    if admin is not None:
        sudo = (
            "sudo() {\n"
            '  if [ "$1" != -u ] || [ "$2" != postgres ]; then\n'
            '    echo "test: only sudo -u postgres is stood in for: $*" >&2; return 97\n'
            "  fi\n"
            "  shift 2\n"
            f"  PGHOST={admin.host or ''} PGPORT={admin.port or 5432} "
            f"PGUSER={admin.username or 'postgres'} "
            f"PGPASSWORD='{admin.password or ''}' \"$@\"\n"
            "}\n"
        )
    parts = ["set -euo pipefail", f"cd '{sandbox.project}'", sudo]
    seeded = False
    for block in BLOCKS:
        if database not in block.runs_on:
            continue
        if "every night" in block.first and not seeded:
            payload = sandbox.path("home") / "payload.json"
            parts.append(
                f"echo '### the test appends {SEEDED} ledger entries' >&2\n"
                f"""echo '{{"note": "seeded by the test"}}' > '{payload}'\n"""
                f"for i in $(seq {SEEDED}); do .venv/bin/agri ledger append "
                f"--type op.seeded --subject test=$i --payload-file '{payload}' "
                ">/dev/null; done"
            )
            seeded = True
        body = sandbox.map(block.text)
        where = OUTSIDE.search(body)
        assert where is None, (
            f"guide line {block.line}: {where.group(0)} is outside the sandbox"
        )
        parts.append(f"echo '### guide line {block.line}' >&2\n{body}")
    assert seeded, "no nightly backup block to seed the ledger before"
    return "\n".join(parts) + "\n"


def _run(sandbox: Sandbox, script: str, env: dict[str, str]) -> str:
    path = sandbox.path("home") / "guide.sh"
    path.write_text(script)
    done = subprocess.run(
        ["bash", str(path)],
        cwd=sandbox.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        where = re.findall(r"### (.*)", done.stderr)
        pytest.fail(
            f"the guide failed (exit {done.returncode}) after {where[-1:]}:\n"
            f"{done.stderr[-3000:]}\n--- stdout ---\n{done.stdout[-2000:]}"
        )
    return done.stdout


def _check_outcome(sandbox: Sandbox, out: str, drills: int) -> None:
    assert "created the schema on the empty database " in out
    assert "is already at the latest schema (revision " in out
    assert '"name": "slovenia-2015-08-30"' in out
    assert '"reembedded": 0' in out
    # the restore drill and the nightly check both find the seeded entries
    assert out.count(f"ledger OK: {SEEDED} entries") == drills + 1, out
    key = sandbox.path("etc") / "insurer.example_ledger.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((sandbox.project / ".env").stat().st_mode) == 0o600
    assert not (sandbox.path("backups") / "drill").exists()


def test_the_guide_marks_its_blocks_and_maps_every_folder() -> None:
    """Each skipped block says so on its first line; the mapped folders are the guide's."""
    assert BLOCKS
    for block in BLOCKS:
        assert block.first.startswith("#") or block.runs_on, block
    for old in (*ROOTS, "/srv/imagery", PG_ROLE, PG_DATABASE, PG_ADDRESS):
        assert old in GUIDE_TEXT, f"the guide no longer mentions {old}"
    kinds = [b.runs_on for b in BLOCKS]
    assert set() in kinds and {"postgresql"} in kinds and {"sqlite"} in kinds


def test_the_guide_runs_on_sqlite(sandbox: Sandbox) -> None:
    """Every block but PostgreSQL's, on a SQLite file in the sandbox's data folder."""
    if shutil.which("sqlite3") is None:
        pytest.skip("no sqlite3 here: apt-get install sqlite3 (section 1 installs it)")
    url = f"sqlite:///{sandbox.path('data')}/agri.db"
    out = _run(
        sandbox, _script(sandbox, "sqlite", None), _env(sandbox, AGRI_DATABASE_URL=url)
    )
    _check_outcome(sandbox, out, drills=1)


def _quoted(prefix: str) -> Iterator[str]:
    """The guide's quoted lines (```text blocks) that start with ``prefix``."""
    for line in GUIDE_TEXT.splitlines():
        if line.startswith(prefix):
            yield line


def test_the_band_refusal_the_guide_quotes_is_what_the_command_prints(
    sandbox: Sandbox,
) -> None:
    (quoted,) = _quoted("Error: Invalid value for --bands: S2_L1C_2015-08-30.tif")
    source = sandbox.map("/srv/imagery/S2_L1C_2015-08-30.tif")
    r = CliRunner().invoke(
        cli,
        [
            *("imagery", "register", source, "--name", "x", "--date", "2015-08-30"),
            *("--bands", "red=1,green=2,blue=3,nir=4"),
        ],
        env=_env(sandbox),
        obj={},
    )
    assert r.exit_code == 2
    assert quoted in r.output.splitlines()


def test_the_no_server_error_the_guide_quotes_is_what_db_upgrade_prints(
    sandbox: Sandbox,
) -> None:
    """On a port where nothing listens, the guide's line with that port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (quoted,) = _quoted(
        "Error: cannot use the database postgresql+psycopg://agri_app:***@"
        "127.0.0.1:5432/agri_insurance: no PostgreSQL"
    )
    quoted = quoted.replace(PG_ADDRESS, f"127.0.0.1:{port}")
    url = f"postgresql+psycopg://{PG_ROLE}:change-me@127.0.0.1:{port}/{PG_DATABASE}"
    r = CliRunner().invoke(
        cli, ["db", "upgrade"], env=_env(sandbox, AGRI_DATABASE_URL=url), obj={}
    )
    assert r.exit_code == 2
    assert r.output.strip() == quoted


@pytest.fixture
def pg_names(sandbox: Sandbox) -> Iterator[tuple[URL, str, str]]:
    """The test server's admin URL and a role and database name of this run's own.

    The role, the database and its drill copy are dropped afterwards.
    """
    admin = make_url(_postgres_base())
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "no server here"
        engine.dispose()
        if os.environ.get("AGRI_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but unreachable at {admin!r}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {admin!r}")
    missing = [
        t
        for t in ("psql", "createdb", "dropdb", "pg_dump", "pg_restore")
        if shutil.which(t) is None
    ]
    if missing:
        engine.dispose()
        pytest.skip(f"PostgreSQL client tools missing here: {', '.join(missing)}")
    tag = uuid.uuid4().hex[:10]
    role, database = f"doc_{tag}_app", f"doc_{tag}_db"
    address = f"{admin.host or '127.0.0.1'}:{admin.port or 5432}"
    sandbox.replace.update({PG_ROLE: role, PG_DATABASE: database, PG_ADDRESS: address})
    try:
        yield admin, role, database
    finally:
        with engine.connect() as conn:
            for name in (f"{database}_drill", database):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        engine.dispose()


@pytest.mark.postgres
def test_the_guide_runs_on_postgresql(
    sandbox: Sandbox, pg_names: tuple[URL, str, str]
) -> None:
    """Every block but SQLite's, on a role and database of this run's own.

    Then, the database dropped, ``db upgrade`` prints the line the guide quotes.
    """
    admin, _, database = pg_names
    out = _run(sandbox, _script(sandbox, "postgresql", admin), _env(sandbox))
    _check_outcome(sandbox, out, drills=1)
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{database}" WITH (FORCE)'))
    engine.dispose()
    (quoted,) = _quoted(
        "Error: cannot use the database postgresql+psycopg://agri_app:***@"
        "127.0.0.1:5432/agri_insurance: database"
    )
    url = sandbox.map(
        f"postgresql+psycopg://{PG_ROLE}:change-me@{PG_ADDRESS}/{PG_DATABASE}"
    )
    r = CliRunner().invoke(
        cli, ["db", "upgrade"], env=_env(sandbox, AGRI_DATABASE_URL=url), obj={}
    )
    assert r.exit_code == 2
    assert r.output.strip() == sandbox.map(quoted)
