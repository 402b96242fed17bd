"""`agri serve --workers N`: API processes on one database, each seeing the others' writes."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner

from server.cli.main import cli
from server.config import Settings
from server.context import build_context
from server.services.auth import UserStore
from tests.server.live import agri_serve

PASSWORD = "correct horse battery"


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux's /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _listening_workers(pid: int, port: int, count: int = 2) -> list[Any]:
    """The ``count`` worker processes of ``agri serve`` (pid) listening on ``port``
    (not multiprocessing's resource tracker), once they all listen (30 s at most)."""
    import psutil  # type: ignore[import-untyped]

    def listening() -> list[Any]:
        found = []
        for child in _children(pid):
            try:
                process = psutil.Process(child)
                if any(
                    c.laddr.port == port and c.status == psutil.CONN_LISTEN
                    for c in process.net_connections("tcp")
                ):
                    found.append(process)
            except psutil.NoSuchProcess:
                pass
        return found

    deadline = time.monotonic() + 30
    while len(workers := listening()) < count:
        assert time.monotonic() < deadline, f"{count} workers never listened"
        time.sleep(0.2)
    return workers


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
    with agri_serve(env, "--workers", "2") as (base, proc):
        yield base, proc.pid


def test_two_workers_serve_one_database_and_see_each_others_writes(
    served: tuple[str, int],
) -> None:
    base, pid = served
    _listening_workers(pid, int(base.rsplit(":", 1)[1]))  # two processes serve
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


def test_a_burst_of_keep_alive_connections_is_spread_over_the_workers(
    served: tuple[str, int],
) -> None:
    """Each worker listens on a socket of its own (SO_REUSEPORT): 16 connections
    opened at once do not all land on one worker, as they could on one shared
    socket (asyncio accepts every pending connection on a wake-up)."""
    import psutil

    base, pid = served
    port = int(base.rsplit(":", 1)[1])
    workers = _listening_workers(pid, port)
    deadline = time.monotonic() + 30
    burst = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
    try:

        def accepted() -> list[int]:
            return [
                sum(
                    c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
                    for c in w.net_connections("tcp")
                )
                for w in workers
            ]

        while sum(accepted()) < 16 and time.monotonic() < deadline:
            time.sleep(0.1)
        counts = accepted()
        # By the kernel's hash of each connection's address: all 16 on one of
        # two sockets has a chance of 2 in 65,536.
        assert sum(counts) == 16 and min(counts) >= 1, counts
    finally:
        for conn in burst:
            conn.close()


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
