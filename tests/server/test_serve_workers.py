"""`agri serve --workers N`: API processes on one database, each seeing the others' writes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner

from server.cli.main import cli
from server.config import Settings
from server.context import build_context
from server.services.auth import UserStore

PASSWORD = "correct horse battery"
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux's /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


@pytest.fixture
def env(db_url: str, tmp_path: Path, key_file: Path) -> dict[str, str]:
    env = {
        "AGRI_DATABASE_URL": db_url,
        "AGRI_DATA_DIR": str(tmp_path / "var"),
        "AGRI_LEDGER_KEY_FILE": str(key_file),
        "AGRI_ANCHOR_ENABLED": "false",
    }
    ctx = build_context(
        Settings(
            database_url=db_url,
            data_dir=tmp_path / "var",
            ledger_key_file=key_file,
            anchor_enabled=False,
        ),
        chain=False,
    )
    UserStore(ctx.engine).create("admin", PASSWORD, "admin")
    ctx.close()
    return env


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[tuple[str, int]]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from server.cli.main import main; main()",
            "-q",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=os.environ | env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                if httpx2.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read() if proc.stderr else b""
                pytest.fail(f"agri serve --workers 2 did not start: {err!r}")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stderr:
            proc.stderr.close()


def test_two_workers_serve_one_database_and_see_each_others_writes(
    served: tuple[str, int],
) -> None:
    base, pid = served
    deadline = time.monotonic() + 30
    while len(_children(pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # the second worker may still be starting
    assert len(_children(pid)) >= 2, "two worker processes"
    token = httpx2.post(
        f"{base}/api/v1/auth/token", json={"username": "admin", "password": PASSWORD}
    ).json()["access_token"]
    admin = {"Authorization": f"Bearer {token}"}
    # Each request on a fresh connection: the kernel hands them to either worker.
    for i in range(12):
        r = httpx2.post(
            f"{base}/api/v1/farmers",
            json={"id": f"F-{i}", "name": f"farmer {i}", "region": "r"},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        listed = httpx2.get(f"{base}/api/v1/farmers?limit=100", headers=admin)
        assert {f["id"] for f in listed.json()["items"]} >= {
            f"F-{j}" for j in range(i + 1)
        }
    # the ledger is one: every registration is an entry, in order, verified
    size = httpx2.get(f"{base}/api/v1/health").json()["ledger_size"]
    assert size >= 12


def test_several_workers_on_the_in_process_chain_are_refused(
    env: dict[str, str],
) -> None:
    r = CliRunner().invoke(
        cli,
        ["serve", "--workers", "2", "--port", "1"],
        env=env | {"AGRI_ANCHOR_ENABLED": "true"},
        obj={},
    )
    assert r.exit_code == 2, r.output
    (line,) = [x for x in r.output.splitlines() if x]
    assert line.startswith("Error: --workers 2: each worker would anchor on a chain")
