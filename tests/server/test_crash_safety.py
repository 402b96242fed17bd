"""Killed mid-write, the server loses nothing and does nothing twice.

A real ``agri serve`` (uvicorn) on a loopback port is SIGKILLed, many times,
at seeded random moments while it enrols an animal, decides a claim, pays a
claim or signs a checkpoint. After each kill, before and after the restart:
no half-written record (a change without its ledger entry, an entry without
its change, a photo row without its file), the ledger verifies, and the
request sent again with its Idempotency-Key completes exactly once (one
record, one ledger event, one payment), and once more is a replay.

The servers are forked from a process that has imported the server once
(:func:`zygote_main`, as a pre-forking server does): each child runs the
``agri serve`` command itself, so a restart costs a fork, not the seconds of
imports, and dozens of kills fit in a few minutes. Kill counts: SQLite, 8 to
10 per operation; PostgreSQL, 3 (:data:`KILLS`).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from select import select as select_fds
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from ledger import Receipt, verify_receipt
from server.config import Settings
from server.context import AppContext, build_context
from server.services.auth import UserStore
from server.storage.schema import (
    animals,
    claims,
    enrolments,
    idempotency_keys,
    ledger_checkpoints,
    ledger_entries,
    ledger_head,
    photos,
)
from tests.conftest import REPO
from tests.server.live import free_port

logger = logging.getLogger(__name__)

PASSWORD = "a long test password"
API = "/api/v1"
READY_S = 180.0  # a loaded CI machine may take this long to start a server
REQUEST_S = 120.0  # one request (an enrolment loads the face-ID model)

# Kills per operation and database (the PostgreSQL runs share a busy server).
KILLS = {
    "sqlite": {"enrol": 8, "decide": 10, "pay": 10, "checkpoint": 10},
    "postgresql": {"enrol": 3, "decide": 3, "pay": 3, "checkpoint": 3},
}


# --- the servers -----------------------------------------------------------------


def zygote_main() -> None:
    """Import the server once, then fork one ``agri serve`` per line read on stdin.

    Each line is JSON ``{"port", "cwd", "env", "log"}``; the answer is the
    child's pid on a line of stdout. Children are reaped by the kernel
    (SIGCHLD ignored here, restored in the child). Nothing here runs torch
    or opens a database, so a child starts clean.
    """
    import server.http.app  # noqa: F401  (the import the children share)
    from server.cli.main import cli

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin:
        spec = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the server
            code = 1
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                os.chdir(spec["cwd"])
                null = os.open(os.devnull, os.O_RDONLY)
                log = os.open(spec["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                os.dup2(null, 0)
                os.dup2(log, 1)
                os.dup2(log, 2)
                sys.stdin = open(os.devnull)
                os.environ.clear()
                os.environ.update(spec["env"])
                cli.main(
                    args=["serve", "--host", "127.0.0.1", "--port", str(spec["port"])],
                    prog_name="agri",
                    standalone_mode=False,
                )
                code = 0
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()


class Zygote:
    """The forking process of :func:`zygote_main`, started once per test session."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"from {__name__} import zygote_main; zygote_main()",
            ],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lock = threading.Lock()

    def fork(self, port: int, cwd: Path, env: dict[str, str], log: Path) -> int:
        """A new ``agri serve`` on ``port``; its pid."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        spec = {"port": port, "cwd": str(cwd), "env": env, "log": str(log)}
        with self.lock:
            self.proc.stdin.write(json.dumps(spec) + "\n")
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline()
        if not answer.strip():
            raise RuntimeError(f"the zygote died (exit {self.proc.poll()})")
        return int(answer)

    def close(self) -> None:
        """End the zygote (its children are killed by their tests)."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck import
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


_ZYGOTES: list[Zygote] = []


def shared_zygote() -> Zygote:
    """The session's one zygote (started on first use, ended at exit)."""
    if not _ZYGOTES:
        _ZYGOTES.append(Zygote())
        atexit.register(_ZYGOTES[0].close)
    return _ZYGOTES[0]


@pytest.fixture(scope="session")
def zygote() -> Zygote:
    """The forking server process (one per session, shared by the modules that use it)."""
    return shared_zygote()


class Process:
    """A process by pidfd: signalled and watched without mistaking a reused pid for it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fd = os.pidfd_open(pid)

    def alive(self) -> bool:
        """Whether it still runs (a pidfd turns readable when the process ends)."""
        return not select_fds([self.fd], [], [], 0)[0]

    def kill(self) -> None:
        """SIGKILL it and wait until it is gone."""
        try:
            signal.pidfd_send_signal(self.fd, signal.SIGKILL)
        except ProcessLookupError:
            pass  # already gone
        ready = select_fds([self.fd], [], [], 30)[0]
        assert ready, f"pid {self.pid} survived SIGKILL for 30 s"
        os.close(self.fd)
        self.fd = -1


@dataclass
class Server:
    """``agri serve`` processes on one database, one at a time, each on a new port.

    Attributes:
        env: the environment of every start (AGRI_* settings).
        folder: its working folder; ``server-N.log`` holds each start's output.
        start: makes the process (a zygote fork, or a command) and returns its pid.
    """

    env: dict[str, str]
    folder: Path
    start: Callable[[int, dict[str, str], Path], int]
    process: Process | None = None
    port: int = 0
    starts: int = 0
    kills: int = 0
    session: requests.Session = field(default_factory=requests.Session)
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def log(self) -> Path:
        return self.folder / f"server-{self.starts}.log"

    def logs(self) -> str:
        """Every start's output, in order."""
        return "".join(
            (self.folder / f"server-{n}.log").read_text(errors="replace")
            for n in range(1, self.starts + 1)
            if (self.folder / f"server-{n}.log").exists()
        )

    def up(self) -> Server:
        """Start a server and wait until its health answers 200."""
        assert self.process is None, "one server at a time"
        self.starts += 1
        self.port = free_port()
        self.process = process = Process(self.start(self.port, self.env, self.log))
        self.session = requests.Session()
        self.tokens = {}
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if not process.alive():
                self.process = None
                pytest.fail(f"the server exited at start:\n{self.log.read_text()}")
            try:
                if self.session.get(f"{self.url}/health", timeout=5).status_code == 200:
                    logger.debug(
                        "server up in %.2f s", READY_S - (deadline - time.monotonic())
                    )
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        pytest.fail(
            f"the server did not answer in {READY_S} s:\n{self.log.read_text()}"
        )

    def kill(self) -> None:
        """SIGKILL the server and wait until it is gone."""
        assert self.process is not None
        self.process.kill()
        self.process = None
        self.kills += 1
        self.session.close()

    def stop(self) -> None:
        """Kill the server if it runs (the end of a test)."""
        if self.process is not None:
            self.kill()

    def auth(self, username: str) -> dict[str, str]:
        """The Authorization header of ``username`` on this server (logs in once)."""
        if username not in self.tokens:
            r = self.session.post(
                f"{self.url}/auth/token",
                json={"username": username, "password": PASSWORD},
                timeout=REQUEST_S,
            )
            assert r.status_code == 200, r.text
            self.tokens[username] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[username]}"}


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that gives ``agri serve`` these settings (and ``extra``)."""
    assert settings.database_url is not None and settings.ledger_key_file is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRI_")}
    env.update(
        AGRI_DATA_DIR=str(settings.data_dir),
        AGRI_DATABASE_URL=settings.database_url.get_secret_value(),
        AGRI_LEDGER_KEY_FILE=str(settings.ledger_key_file),
        AGRI_ANCHOR_ENABLED="false",
        AGRI_CHECKPOINT_EVERY=str(settings.checkpoint_every),
        AGRI_CHECKPOINT_INTERVAL_S=str(settings.checkpoint_interval_s),
        AGRI_FOUR_EYES_ABOVE_MINOR="0",
    )
    env.update(extra)
    return env


def forked(zygote: Zygote, folder: Path) -> Callable[[int, dict[str, str], Path], int]:
    """A :attr:`Server.start` that forks from ``zygote``."""

    def start(port: int, env: dict[str, str], log: Path) -> int:
        return zygote.fork(port, folder, env, log)

    return start


# --- the records the requests act on ----------------------------------------------

HERD = tuple(f"9982300000090{i:02d}" for i in range(max(KILLS["sqlite"].values()) + 2))
OPERATIONS = ("enrol", "decide", "pay", "checkpoint")


@dataclass
class Site:
    """A database with users, an insured herd and claims; the test's view of it.

    Attributes:
        ctx: the application over the database, in the test process (no chain).
        settings: what the servers are started with.
        claims: for ``decide``, filed claims; for ``pay``, approved ones (one a tag).
        cows: for ``enrol``, (tag, [photo paths]) of real cows not yet enrolled.
        receipts: for ``checkpoint``, the ledger index whose receipt request ``i`` asks.
    """

    ctx: AppContext
    settings: Settings
    claims: list[str] = field(default_factory=list)
    cows: list[tuple[str, list[Path]]] = field(default_factory=list)
    receipts: dict[int, int] = field(default_factory=dict)


def _site(
    make_settings: Callable[..., Settings], op: str, shared_data: Path, n: int
) -> Site:
    from livestock.data import scan_folder, split_enrol_query
    from tests.cattle import sample_animals
    from tests.server.notices import approved_and_cleared
    from tests.server.test_claims_regressions import animal_claim, insured_herd

    settings = make_settings(checkpoint_every=1_000_000, checkpoint_interval_s=86400)
    ctx = build_context(settings, chain=False)
    users = UserStore(ctx.engine)
    for name, role in (
        ("admin", "admin"),
        ("agent", "field_agent"),
        ("adj-a", "adjuster"),
        ("adj-b", "adjuster"),
    ):
        users.create(name, PASSWORD, role, None)
    today = datetime.now(UTC).date()
    policy = insured_herd(ctx, today, HERD[:n])
    site = Site(ctx, settings)
    if op in ("decide", "pay"):
        for tag in HERD[:n]:
            c = animal_claim(ctx.claims, policy, tag, today - timedelta(days=1))
            site.claims.append(c.id)
        if op == "pay":  # approved and on a claims notice whose period is over
            approved_and_cleared(ctx, *site.claims, actor="adj-a", reason="vet seen")
    if op == "enrol":
        held = sample_animals(shared_data)[:n]
        split = split_enrol_query(
            [c for c in scan_folder(shared_data / "cattle_faces") if c.animal in held]
        )
        site.cows = [(tag, [c.path for c in split.enrol[tag]][:2]) for tag in held]
    return site


def send(
    server: Server, op: str, site: Site, i: int, key: str
) -> Callable[[], requests.Response]:
    """The request of operation ``op`` on the ``i``-th record, ready to send."""
    url = server.url
    if op == "enrol":
        tag, paths = site.cows[i]
        headers = server.auth("agent") | {"Idempotency-Key": key}
        files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
        return lambda: server.session.post(
            f"{url}/animals",
            data={"tag": tag, "farmer_id": "F-1"},
            files=files,
            headers=headers,
            timeout=REQUEST_S,
        )
    if op == "decide":
        headers = server.auth("adj-a") | {"Idempotency-Key": key}
        body = {"decision": "approve", "reason": "vet certificate seen"}
        return lambda: server.session.post(
            f"{url}/claims/{site.claims[i]}/decision",
            json=body,
            headers=headers,
            timeout=REQUEST_S,
        )
    if op == "pay":
        headers = server.auth("adj-b") | {"Idempotency-Key": key}
        return lambda: server.session.post(
            f"{url}/claims/{site.claims[i]}/payment",
            json={"payment_ref": f"PAY-{i}"},
            headers=headers,
            timeout=REQUEST_S,
        )
    assert op == "checkpoint"
    # One new entry (not killed), then the receipt that signs a checkpoint over it.
    admin = server.auth("admin")
    r = server.session.post(
        f"{url}/farmers",
        json={"id": f"F-c{i}", "name": "n", "region": "r"},
        headers=admin | {"Idempotency-Key": f"farmer-{i}"},
        timeout=REQUEST_S,
    )
    assert r.status_code == 201, r.text
    size = server.session.get(f"{url}/health", timeout=REQUEST_S).json()["ledger_size"]
    index = site.receipts.setdefault(i, size - 1)
    return lambda: server.session.get(
        f"{url}/ledger/receipts/{index}", headers=admin, timeout=REQUEST_S
    )


# --- what must hold after every kill ----------------------------------------------


def events_of(site: Site) -> list[dict[str, Any]]:
    """Every ledger event, in order."""
    return [json.loads(e.data) for e in site.ctx.ledger.store.iter_entries()]


def count(events: list[dict[str, Any]], kind: str, subject: str, value: str) -> int:
    return sum(
        e["type"] == kind and e["subjects"].get(subject) == value for e in events
    )


def check_whole(site: Site, op: str) -> None:
    """No half-written record of ``op``, and the ledger verifies."""
    ctx = site.ctx
    report = ctx.ledger.verify()
    assert report.ok, report.error
    with ctx.engine.connect() as conn:
        head = conn.execute(select(ledger_head.c.size)).scalar_one()
        rows, top = conn.execute(
            select(func.count(), func.max(ledger_entries.c.idx))
        ).one()
        assert (head, rows) == (rows, (top + 1) if rows else 0), "the head is off"
        assert report.size == head
        keys = conn.execute(
            select(func.count()).select_from(idempotency_keys)
        ).scalar_one()
        state = {
            r.id: r
            for r in conn.execute(
                select(
                    claims.c.id,
                    claims.c.status,
                    claims.c.decided_by,
                    claims.c.payment_ref,
                )
            )
        }
        animal_tags = set(conn.execute(select(animals.c.tag)).scalars())
        enrolled = Counter(
            conn.execute(
                select(enrolments.c.tag).where(enrolments.c.status == "enrolled")
            ).scalars()
        )
        kept = conn.execute(
            select(photos.c.owner_id, photos.c.sha256, photos.c.media_type).where(
                photos.c.owner_kind == "animal"
            )
        ).all()
        sizes = list(conn.execute(select(ledger_checkpoints.c.size)).scalars())
    events = events_of(site)
    done = 0
    if op == "decide":
        for cid in site.claims:
            approved = state[cid].status == "approved"
            assert count(events, "claim.approved", "claim", cid) == int(approved), cid
            assert (state[cid].decided_by == "adj-a") == approved, cid
            done += approved
    if op == "pay":
        for cid in site.claims:
            paid = state[cid].status == "paid"
            assert count(events, "claim.paid", "claim", cid) == int(paid), cid
            assert (state[cid].payment_ref is not None) == paid, cid
            done += paid
    if op == "enrol":
        for tag, _ in site.cows:
            here = tag in animal_tags
            assert enrolled[tag] == int(here), tag
            assert count(events, "animal.enrolled", "animal", tag) == int(here), tag
            assert any(o == tag for o, _, _ in kept) == here, tag
            done += here
        files = ctx.photos.files
        for _, digest, media in kept:
            path = files.path(digest, media)
            assert path.is_file(), f"photo row {digest} has no file"
            assert sha256(path.read_bytes()).hexdigest() == digest, f"{path} is torn"
            assert files.thumb_path(digest).is_file(), f"{digest} has no thumbnail"
    if op == "checkpoint":
        assert len(sizes) == len(set(sizes))
        assert report.checkpoints == len(sizes)
        done = keys  # the farmers' keys; receipts take none
    assert keys == done, f"{keys} idempotency keys for {done} completed requests"


@dataclass
class Figures:
    """What the kills found, for the report."""

    kills: int = 0
    cut_off: int = 0  # the client got no answer
    answered: int = 0  # the answer came before the kill
    committed: int = 0  # cut off, yet done before the kill: the retry was a replay
    redone: int = 0  # cut off and rolled back: the retry did it

    def line(self, op: str, backend: str, seconds: float) -> str:
        return (
            f"{op} on {backend}: {self.kills} kills, {self.cut_off} cut off "
            f"({self.committed} committed before the kill, {self.redone} rolled back), "
            f"{self.answered} answered first; {seconds:.0f} s"
        )


def kill_during(
    server: Server, request: Callable[[], requests.Response], delay: float
) -> requests.Response | None:
    """Send ``request``, SIGKILL the server ``delay`` seconds later; the answer, if any."""
    box: dict[str, requests.Response] = {}

    def run() -> None:
        try:
            box["r"] = request()
        except requests.RequestException:
            pass  # cut off by the kill

    t = threading.Thread(target=run)
    t.start()
    time.sleep(delay)
    server.kill()
    t.join(REQUEST_S)
    assert not t.is_alive(), "the request outlived the server"
    return box.get("r")


def exactly_once(site: Site, op: str, i: int) -> None:
    """The ``i``-th record of ``op`` was done once: one record, one event."""
    events = events_of(site)
    if op == "decide":
        assert count(events, "claim.approved", "claim", site.claims[i]) == 1
    elif op == "pay":
        assert count(events, "claim.paid", "claim", site.claims[i]) == 1
    elif op == "enrol":
        tag = site.cows[i][0]
        assert count(events, "animal.enrolled", "animal", tag) == 1
        with site.ctx.engine.connect() as conn:
            n = conn.execute(
                select(func.count())
                .select_from(enrolments)
                .where(enrolments.c.tag == tag)
            ).scalar_one()
        assert n == 1, f"{n} enrolment attempts on record for {tag}"


def covered(site: Site, index: int) -> bool:
    """Whether a signed checkpoint covers ledger entry ``index``."""
    latest = site.ctx.ledger.store.latest_checkpoint()
    return latest is not None and latest.size > index


def check_receipt(site: Site, r: requests.Response, index: int) -> None:
    """A receipt of entry ``index`` that verifies offline with the log's key."""
    receipt = Receipt.from_json(r.json())
    assert receipt.index == index
    cp = verify_receipt(receipt, [site.ctx.ledger.verifier])
    assert cp.size > index


@pytest.mark.parametrize("op", OPERATIONS)
def test_a_server_killed_mid_request_loses_nothing_and_a_retry_completes_once(
    op: str,
    db_url: str,
    make_settings: Callable[..., Settings],
    zygote: Zygote,
    shared_data: Path,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    kills = KILLS[backend][op]
    site = _site(make_settings, op, shared_data, kills + 2)
    server = Server(server_env(site.settings), tmp_path, forked(zygote, tmp_path))
    rng = random.Random(f"{op}/{backend}")
    figures = Figures()
    started = time.monotonic()
    try:
        server.up()
        if op == "enrol":  # the model loads on first use: not part of the timing
            r = server.session.get(
                f"{server.url}/agent/gallery?limit=1",
                headers=server.auth("agent"),
                timeout=REQUEST_S,
            )
            assert r.status_code == 200, r.text
        # Record 0 warms the server up; record 1 times the request on a warm one.
        took = 0.0
        for i in (0, 1):
            request = send(server, op, site, i, f"{op}-{i}")
            t0 = time.monotonic()
            first = request()
            took = time.monotonic() - t0
            assert first.status_code in (200, 201), first.text
        check_whole(site, op)
        for i in range(2, kills + 2):
            key = f"{op}-{i}"
            request = send(server, op, site, i, key)
            delay = rng.uniform(0.0, took)
            answer = kill_during(server, request, delay)
            figures.kills += 1
            check_whole(site, op)  # the database as the kill left it
            signed = op == "checkpoint" and covered(site, site.receipts[i])
            server.up()
            check_whole(site, op)  # and as the new server found it
            retry = send(server, op, site, i, key)()
            assert retry.status_code in (200, 201), retry.text
            # Checkpoints take no key: signed before the kill, the retry finds it.
            done = signed or retry.headers.get("Idempotent-Replayed") == "true"
            if answer is not None:
                figures.answered += 1
                if op != "checkpoint":
                    assert done and retry.json() == answer.json()
            else:
                figures.cut_off += 1
                figures.committed += done
                figures.redone += not done
            again = send(server, op, site, i, key)()
            assert again.status_code == retry.status_code
            if op == "checkpoint":
                check_receipt(site, again, site.receipts[i])
            else:
                assert again.headers.get("Idempotent-Replayed") == "true"
                assert again.json() == retry.json()
            exactly_once(site, op, i)
            check_whole(site, op)
    finally:
        server.stop()
        site.ctx.close()
    assert figures.kills == kills
    assert "Traceback" not in server.logs(), server.logs()[-3000:]
    line = figures.line(op, backend, time.monotonic() - started)
    record_property("figures", line)
    logger.info(line)
