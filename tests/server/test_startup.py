"""A production server refuses to start with secrets others can read or everyone knows."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from ledger import generate_key
from server.cli.main import cli
from server.config import Settings
from server.context import build_context
from server.services.auth import UserAdmin, UserStore
from server.services.startup import DEMO_PASSWORD, production_problems
from server.storage.migrate import upgrade

OWN_PASSWORD = "an admin's own long password"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = create_engine(f"sqlite:///{tmp_path / 'agri.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


def _production(tmp_path: Path, **overrides: object) -> Settings:
    key = tmp_path / "ledger.key"
    if not key.exists():
        key.write_text(f"{generate_key('test.example/ledger')}\n")
        key.chmod(0o600)
    values: dict[str, object] = {
        "environment": "production",
        "data_dir": tmp_path,
        "database_url": f"sqlite:///{tmp_path / 'agri.db'}",
        "ledger_key_file": key,
        "anchor_enabled": False,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


def test_development_starts_with_anything(tmp_path: Path, engine: Engine) -> None:
    UserStore(engine).create("admin", DEMO_PASSWORD, "admin")
    assert production_problems(Settings(data_dir=tmp_path), engine) == []


def test_production_with_own_secrets_starts(tmp_path: Path, engine: Engine) -> None:
    UserStore(engine).create("admin", OWN_PASSWORD, "admin")
    assert production_problems(_production(tmp_path), engine) == []


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_is_refused(
    tmp_path: Path, engine: Engine, mode: int
) -> None:
    settings = _production(tmp_path)
    assert settings.ledger_key_file is not None
    settings.ledger_key_file.chmod(mode)
    (problem,) = production_problems(settings, engine)
    assert "AGRI_LEDGER_KEY_FILE" in problem and f"mode {mode:04o}" in problem
    assert f"chmod 600 {settings.ledger_key_file}" in problem


@pytest.mark.parametrize(
    "key",
    [
        "0x" + "00" * 31 + "01",  # eth-tester's first account
        # the first account of the Hardhat / Anvil test mnemonic
        # (address 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266)
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    ],
)
def test_a_development_chains_account_key_is_refused(
    tmp_path: Path, engine: Engine, key: str
) -> None:
    chain_key = tmp_path / "chain.key"
    chain_key.write_text(key + "\n")
    chain_key.chmod(0o600)
    problems = production_problems(
        _production(tmp_path, chain_key_file=chain_key), engine
    )
    assert problems == [
        f"AGRI_CHAIN_KEY_FILE {chain_key} holds a development chain's well-known "
        "account key: anyone can spend from it; use a key of your own"
    ]
    chain_key.write_text(os.urandom(32).hex())
    assert (
        production_problems(_production(tmp_path, chain_key_file=chain_key), engine)
        == []
    )


def test_an_admin_with_the_demos_password_is_refused(
    tmp_path: Path, engine: Engine
) -> None:
    store = UserStore(engine)
    store.create("admin", DEMO_PASSWORD, "admin")
    store.create("root2", OWN_PASSWORD, "admin")
    store.create("agent", DEMO_PASSWORD, "field_agent")
    (problem,) = production_problems(_production(tmp_path), engine)
    assert problem.startswith("admin user(s) admin still have the demo's password")
    ctx = build_context(_production(tmp_path), chain=False)
    try:  # an admin resets it: the server starts
        UserAdmin(ctx.ledger).reset_password("admin", OWN_PASSWORD, "root2")
    finally:
        ctx.close()
    assert production_problems(_production(tmp_path), engine) == []


def test_a_database_password_everyone_knows_is_refused(
    tmp_path: Path, db_url: str
) -> None:
    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("SQLite has no password")
    url = url.set(password="postgres")  # trusted locally, required in CI
    eng = create_engine(url)
    try:
        upgrade(eng)
        settings = _production(
            tmp_path, database_url=url.render_as_string(hide_password=False)
        )
        problems = production_problems(settings, eng)
    finally:
        eng.dispose()
    assert problems == [
        "AGRI_DATABASE_URL uses a well-known default password: set a password "
        "of your own on the database user"
    ]


def test_agri_serve_refuses_in_one_line_and_listens_to_nothing(
    tmp_path: Path, engine: Engine
) -> None:
    settings = _production(tmp_path)
    assert settings.ledger_key_file is not None
    settings.ledger_key_file.chmod(0o644)
    env = {
        "AGRI_ENVIRONMENT": "production",
        "AGRI_DATABASE_URL": f"sqlite:///{tmp_path / 'agri.db'}",
        "AGRI_DATA_DIR": str(tmp_path),
        "AGRI_LEDGER_KEY_FILE": str(settings.ledger_key_file),
        "AGRI_ANCHOR_ENABLED": "false",
    }
    r = CliRunner().invoke(cli, ["serve", "--port", "1"], env=env, obj={})
    assert r.exit_code == 2, r.output
    (line,) = [x for x in r.output.splitlines() if x]
    assert line.startswith("Error: production refuses to start: AGRI_LEDGER_KEY_FILE")
    assert "Traceback" not in r.output
