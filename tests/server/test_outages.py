"""Outages: the chain, the database and the photo disk go away; the API holds.

* The EVM endpoint (eth-tester's chain behind a real JSON-RPC HTTP endpoint on
  a loopback port, :class:`RpcEndpoint`) refuses connections or answers 503:
  the API keeps working, appends and checkpoints go on, the anchorer retries
  with exponential backoff, says so once when the chain goes and once when it
  is back, and catches up without anchoring anything twice.
* A private PostgreSQL cluster (initdb and pg_ctl in a scratch folder, on a
  free port; run as ``postgres`` when the test runs as root) is restarted
  under load: requests fail fast with 503 and Retry-After, the pool recovers
  by itself, and every request, retried with its Idempotency-Key, is done once.
* The photo folder on a full file system: a real tmpfs of a few hundred KiB,
  mounted in a private mount namespace of the server (``unshare``), filled
  up: the enrolment answers 507 naming the photo, with no row and no file left.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from ledger import Checkpoint, log_id_for
from server.chain import DeferredAnchor, connect_chain
from server.config import Settings
from server.context import AppContext, build_context
from server.http.errors import database_outage
from server.services.auth import UserStore
from server.services.ledger import Backoff
from server.storage.photo_store import PhotoFiles
from server.storage.schema import (
    PG_CONNECT_TIMEOUT_S,
    enrolments,
    farmers,
    idempotency_keys,
    make_engine,
    photos,
)
from tests.conftest import REPO
from tests.server.test_crash_safety import (
    PASSWORD,
    REQUEST_S,
    Server,
    forked,
    free_port,
    server_env,
    zygote,  # noqa: F401  (the fixture)
)

# --- the chain ------------------------------------------------------------------


class RpcEndpoint:
    """eth-tester's chain behind a JSON-RPC HTTP endpoint on a loopback port.

    ``mode``: ``up`` answers every call; ``failing`` answers 503 to every call
    (a gateway whose node is down); ``no-sends`` answers all but
    ``eth_sendRawTransaction`` (the node went away as a transaction was sent).
    :meth:`stop` closes the port (connection refused), :meth:`start` opens it
    again on the same chain. ``refused`` holds the time.monotonic() of each
    call answered 503.
    """

    def __init__(self) -> None:
        from web3 import Web3
        from web3.providers.eth_tester import EthereumTesterProvider

        provider = EthereumTesterProvider()
        self.w3 = Web3(provider)  # the chain, seen from the test (not through HTTP)
        raw = Web3(provider, middleware=[])  # JSON-RPC in, JSON-RPC out
        self._call = provider.request_func(raw, raw.middleware_onion)
        self._lock = threading.Lock()
        self.port = free_port()
        self.mode = "up"
        self.refused: list[float] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The JSON-RPC answer to one call, or None to answer 503."""
        method = request["method"]
        if self.mode == "failing" or (
            self.mode == "no-sends" and method == "eth_sendRawTransaction"
        ):
            self.refused.append(time.monotonic())
            return None
        with self._lock:
            response = dict(self._call(method, request.get("params", [])))
        response.update(jsonrpc="2.0", id=request.get("id"))
        return response

    def start(self) -> None:
        """Listen (again) on the endpoint's port."""
        from web3._utils.encoding import Web3JsonEncoder

        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", "0"))
                answer = endpoint.answer(json.loads(self.rfile.read(size)))
                if answer is None:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps(answer, cls=Web3JsonEncoder).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Close the port: every call is refused until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@dataclass
class Chain:
    """A running endpoint, a funded anchoring account and the deployed contract."""

    endpoint: RpcEndpoint
    key_file: Path
    account: str
    contract: str
    chain_id: int
    deployed: int  # the account's nonce after deploying the contract

    def settings(self, make_settings: Callable[..., Settings], **more: Any) -> Settings:
        """Settings that anchor on this chain (development mode)."""
        return make_settings(
            anchor_enabled=True,
            chain_rpc_url=self.endpoint.url,
            chain_id=self.chain_id,
            chain_key_file=self.key_file,
            chain_contract=self.contract,
            **more,
        )

    def env(self) -> dict[str, str]:
        """The same settings as ``agri serve``'s environment."""
        return {
            "AGRI_ANCHOR_ENABLED": "true",
            "AGRI_CHAIN_RPC_URL": self.endpoint.url,
            "AGRI_CHAIN_ID": str(self.chain_id),
            "AGRI_CHAIN_KEY_FILE": str(self.key_file),
            "AGRI_CHAIN_CONTRACT": self.contract,
        }

    def sent(self) -> int:
        """Anchor transactions the account sent (its nonce, less the deployment)."""
        nonce = self.endpoint.w3.eth.get_transaction_count(self.account)  # type: ignore[arg-type]
        return int(nonce) - self.deployed


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    from eth_account import Account
    from web3 import Web3

    from ledger.adapters.evm import deploy_anchor_contract

    endpoint = RpcEndpoint()
    w3 = endpoint.w3
    account = Account.create()
    key = "0x" + bytes(account.key).hex()
    funding = w3.eth.send_transaction(
        {
            "from": w3.eth.accounts[0],
            "to": account.address,
            "value": Web3.to_wei(10, "ether"),
        }
    )
    w3.eth.wait_for_transaction_receipt(funding)
    contract = deploy_anchor_contract(w3, key)
    key_file = tmp_path / "chain.key"
    key_file.write_text(key)
    key_file.chmod(0o600)
    deployed = int(w3.eth.get_transaction_count(account.address))
    endpoint.start()
    yield Chain(
        endpoint, key_file, account.address, contract, int(w3.eth.chain_id), deployed
    )
    endpoint.stop()


def check_anchored_once(ctx: AppContext, chain: Chain) -> None:
    """Every anchor record mined, one transaction each, the latest checkpoint on chain."""
    records = ctx.ledger.store.anchors()
    assert records, "nothing was anchored"
    assert {r.status for r in records} == {"mined"}, records
    assert len({r.tx_hash for r in records}) == len(records)
    assert chain.sent() == len(records), "a transaction was sent twice"
    latest = ctx.ledger.store.latest_checkpoint()
    assert latest is not None
    assert records[-1].tree_size == latest.size
    log_id = log_id_for(ctx.ledger.origin)
    assert ctx.ledger.chain is not None
    assert ctx.ledger.chain.anchor.anchored(log_id) == (latest.size, latest.root_hash)
    report = ctx.ledger.verify()
    assert report.ok, report.error
    assert report.anchors_checked == len(records)


def wait_for(what: str, done: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("failures", "delay"),
    [
        (0, 0.0),
        (1, 1.0),
        (2, 2.0),
        (3, 4.0),
        (8, 128.0),
        (9, 256.0),
        (10, 300.0),
        (1000, 300.0),
    ],
)
def test_the_backoff_doubles_from_one_second_up_to_five_minutes(
    failures: int, delay: float
) -> None:
    assert Backoff().delay(failures) == delay


@pytest.mark.parametrize(("first", "most"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 5.0)])
def test_a_backoff_that_cannot_work_is_refused(first: float, most: float) -> None:
    with pytest.raises(ValueError, match="first_s"):
        Backoff(first, most)


def test_the_anchorer_backs_off_says_so_once_and_catches_up_anchoring_nothing_twice(
    make_settings: Callable[..., Settings],
    chain: Chain,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Appends and checkpoints go on while the chain fails; retries space out; then one anchor.

    The chain first answers 503 (attempts counted: spaced by the backoff, not
    by the appends that wake the anchorer), then refuses connections, then
    comes back: the latest checkpoint is anchored once.
    """
    caplog.set_level(logging.WARNING, logger="server.services.ledger")
    ctx = build_context(chain.settings(make_settings, checkpoint_every=1))
    try:
        ctx.ledger.backoff = Backoff(first_s=0.1, max_s=0.4)
        ctx.ledger.start_background(tick_s=3600)
        ctx.ledger.append([b"before"])
        wait_for(
            "the first anchor", lambda: bool(ctx.ledger.store.anchors(["mined"])), 20
        )
        chain.endpoint.mode = "failing"
        started = time.monotonic()
        appended = 0
        while time.monotonic() - started < 2.5:  # each append wakes the anchorer
            ctx.ledger.append([b"during %d" % appended])
            appended += 1
            time.sleep(0.02)
        attempts = list(chain.endpoint.refused)
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert appended >= 20 and 5 <= len(attempts) <= 12, (appended, attempts)
        assert gaps[0] >= 0.08 and all(0.3 <= g <= 0.6 for g in gaps[-3:]), gaps
        latest = ctx.ledger.store.latest_checkpoint()
        assert latest is not None and latest.size == appended + 1  # signed meanwhile
        chain.endpoint.stop()  # then refused outright
        time.sleep(1.0)
        chain.endpoint.mode = "up"
        chain.endpoint.start()
        wait_for(
            "the catch-up",
            lambda: (
                (a := ctx.ledger.store.anchor_for(appended + 1)) is not None
                and a.status == "mined"
            ),
            10,
        )
        ctx.ledger.stop_background()
        check_anchored_once(ctx, chain)
        assert len(ctx.ledger.store.anchors()) == 2  # before, and the catch-up
    finally:
        ctx.ledger.stop_background()
        ctx.close()
    said = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("chain unavailable") for m in said) == 1, said
    assert sum(m.startswith("chain reachable again") for m in said) == 1, said


def test_a_transaction_sent_as_the_chain_went_away_is_resent_not_made_again(
    make_settings: Callable[..., Settings], chain: Chain
) -> None:
    """The node takes everything but the send: the anchor stays pending, then the
    same transaction (same hash, same nonce) lands once the chain is back."""
    ctx = build_context(chain.settings(make_settings))
    try:
        ctx.ledger.append([b"a", b"b"])
        chain.endpoint.mode = "no-sends"
        ctx.ledger.checkpoint(anchor=False)
        assert "unavailable" in ctx.ledger.anchor_catch_up()
        (pending,) = ctx.ledger.store.anchors(["pending"])
        assert chain.sent() == 0
        chain.endpoint.mode = "up"
        assert "already anchored or recorded" in ctx.ledger.anchor_catch_up()
        (mined,) = ctx.ledger.store.anchors()
        assert (mined.status, mined.tx_hash) == ("mined", pending.tx_hash)
        check_anchored_once(ctx, chain)
    finally:
        ctx.close()


def test_a_chain_that_does_not_answer_at_start_is_connected_when_it_does(
    make_settings: Callable[..., Settings], chain: Chain
) -> None:
    """The server starts on an unreachable endpoint; the anchor connects on first use."""
    chain.endpoint.stop()
    context = connect_chain(chain.settings(make_settings))
    assert context is not None and isinstance(context.anchor, DeferredAnchor)
    assert context.anchor.chain_id == chain.chain_id
    cp = Checkpoint("test.example/ledger", 1, b"\x22" * 32)
    from ledger import AnchorUnavailableError

    with pytest.raises(AnchorUnavailableError):
        context.anchor.prepare(cp)
    chain.endpoint.start()
    context.anchor.submit(context.anchor.prepare(cp))
    assert context.anchor.anchored(cp.log_id) == (1, b"\x22" * 32)


def test_the_api_keeps_working_while_the_chain_is_down_and_anchoring_catches_up(
    make_settings: Callable[..., Settings],
    chain: Chain,
    zygote: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A real ``agri serve`` anchoring on the endpoint: down at start, failing, back.

    Requests answer at once throughout (each signs a checkpoint); the server's
    log says once that the chain is unavailable and once that it is back, however
    many times the anchorer tried; then the latest checkpoint is anchored, once.
    """
    settings = chain.settings(make_settings, checkpoint_every=1)
    ctx = build_context(settings, chain=False)
    UserStore(ctx.engine).create("admin", PASSWORD, "admin", None)
    env = server_env(settings, AGRI_CHECKPOINT_INTERVAL_S="1", **chain.env())
    server = Server(env, tmp_path, forked(zygote, tmp_path))
    chain.endpoint.stop()  # down when the server starts
    try:
        server.up()
        admin = server.auth("admin")
        slowest = 0.0
        n = 0

        def register() -> None:
            nonlocal n, slowest
            t0 = time.monotonic()
            r = server.session.post(
                f"{server.url}/farmers",
                json={"id": f"F-{n}", "name": "n", "region": "r"},
                headers=admin | {"Idempotency-Key": f"farmer-{n}"},
                timeout=REQUEST_S,
            )
            slowest = max(slowest, time.monotonic() - t0)
            assert r.status_code == 201, r.text
            n += 1

        for _ in range(5):
            register()
        chain.endpoint.mode = "failing"
        chain.endpoint.start()
        # Requests for 5 s, and on until the anchorer has tried twice (its
        # backoff starts at 1 s; a loaded machine may start it late).
        start = time.monotonic()
        while time.monotonic() < start + 5 or (
            len(chain.endpoint.refused) < 2 and time.monotonic() < start + 30
        ):
            register()
            time.sleep(0.1)
        tried = len(chain.endpoint.refused)
        chain.endpoint.mode = "up"
        size = ctx.ledger.store.size()
        wait_for(
            "the catch-up",
            lambda: (
                (a := ctx.ledger.store.anchor_for(size)) is not None
                and a.status == "mined"
            ),
            40,
        )
        assert slowest < 2.0, f"a request took {slowest:.1f} s while the chain was down"
        assert tried >= 2, "the anchorer did not retry while the chain failed"
    finally:
        server.stop()
        ctx.close()
    anchored = build_context(settings)  # the chain is back: verify against it
    try:
        check_anchored_once(anchored, chain)
        events = [
            json.loads(e.data)["type"] for e in anchored.ledger.store.iter_entries()
        ]
        assert events.count("farmer.registered") == n
    finally:
        anchored.close()
    log = server.logs()
    assert log.count("the chain does not answer") == 1, log
    assert log.count("chain unavailable") == 1, log
    assert log.count("chain reachable again") == 1, log
    assert "Traceback" not in log, log


# --- the database ---------------------------------------------------------------


def test_what_counts_as_a_database_outage() -> None:
    """503 for 'not now', 507 for a full disk, nothing for a bad statement."""

    def sqlite_error(message: str) -> OperationalError:
        return OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))

    assert database_outage(sqlite_error("database is locked")) == 503
    assert database_outage(sqlite_error("database or disk is full")) == 507
    assert database_outage(sqlite_error("no such table: claims")) is None
    assert database_outage(ValueError("no")) is None
    engine = make_engine(f"postgresql+psycopg://agri@127.0.0.1:{free_port()}/agri")
    try:
        with pytest.raises(OperationalError) as refused:
            engine.connect()
    finally:
        engine.dispose()
    assert database_outage(refused.value) == 503


def test_a_postgresql_server_that_never_answers_fails_within_the_connect_timeout() -> (
    None
):
    """A port that accepts and then says nothing: the connection gives up, no hang."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        engine = make_engine(f"postgresql+psycopg://agri@127.0.0.1:{port}/agri")
        t0 = time.monotonic()
        try:
            with pytest.raises(OperationalError) as hung:
                engine.connect()
        finally:
            engine.dispose()
        took = time.monotonic() - t0
    assert PG_CONNECT_TIMEOUT_S - 1 <= took <= PG_CONNECT_TIMEOUT_S + 5, took
    assert database_outage(hung.value) == 503


def _pg_bin() -> Path | None:
    """The newest PostgreSQL's server programs (Debian's layout), or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: (
            int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster on a free loopback port.

    As root, its programs run as the ``postgres`` user (pg_ctl refuses root)
    through ``runuser`` (or ``su``), in a folder that user owns.
    """

    bin: Path
    folder: Path
    port: int
    as_user: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str, timeout: float = 120) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_user:
            command = [*self.as_user, " ".join(_quote(c) for c in command)]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        assert done.returncode == 0, f"{args[0]}: {done.stderr}{done.stdout}"

    def pg_ctl(self, action: str, *more: str) -> None:
        self.run(
            "pg_ctl",
            action,
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "log"),
            "-w",
            "-t",
            "60",
            *more,
        )


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\"'\"'") + "'"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    binary = _pg_bin()
    if binary is None:
        pytest.skip("no initdb here (the PostgreSQL server package is not installed)")
    share = subprocess.run(
        [str(binary / "pg_config"), "--sharedir"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if not (Path(share) / "extension" / "postgis.control").is_file():
        pytest.skip(f"no PostGIS for the PostgreSQL of {binary} (the schema needs it)")
    folder = Path(tempfile.mkdtemp(prefix="agri-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            postgres = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder)
            pytest.skip("running as root and no postgres user to run the cluster as")
        os.chown(folder, postgres.pw_uid, postgres.pw_gid)
        runuser = shutil.which("runuser")
        as_user = (
            [runuser, "-u", "postgres", "--", "sh", "-c"]
            if runuser
            else ["su", "postgres", "-s", "/bin/sh", "-c"]
        )
    c = Cluster(binary, folder, free_port(), as_user)
    try:
        c.run(
            "initdb", "-D", str(c.data), "-U", "postgres", "--auth=trust", "--no-sync"
        )
        c.pg_ctl(
            "start",
            "-o",
            f"-p {c.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
        )
        yield c
    finally:
        try:
            c.pg_ctl("stop", "-m", "immediate")
        except AssertionError:
            pass  # never started
        shutil.rmtree(folder, ignore_errors=True)


def test_a_postgresql_restart_under_load_is_503_then_recovers_and_loses_nothing(
    cluster: Cluster,
    tmp_path: Path,
    key_file: Path,
    zygote: Any,  # noqa: F811
) -> None:
    """Four clients register farmers while the database restarts.

    Each request during the outage fails fast with 503 and Retry-After (not
    a 500, not a hang); the same server, unrestarted, serves again once the
    database is back; every farmer, sent again with its key until it
    succeeds, is registered once with one ledger event, and the ledger verifies.
    """
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=cluster.url,
        ledger_key_file=key_file,
        anchor_enabled=False,
        checkpoint_every=10,
    )
    ctx = build_context(settings, chain=False)
    UserStore(ctx.engine).create("admin", PASSWORD, "admin", None)
    server = Server(server_env(settings), tmp_path, forked(zygote, tmp_path))
    seen: list[tuple[int, float, str | None]] = []  # status, seconds, Retry-After
    done: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def client(who: int) -> None:
        session = requests.Session()
        n = 0
        while not stop.is_set():
            farmer = f"F-{who}-{n}"
            while True:  # this farmer, until registered
                t0 = time.monotonic()
                try:
                    r = session.post(
                        f"{server.url}/farmers",
                        json={"id": farmer, "name": "n", "region": "r"},
                        headers=admin | {"Idempotency-Key": farmer},
                        timeout=REQUEST_S,
                    )
                except requests.RequestException as exc:  # pragma: no cover
                    with lock:
                        seen.append((0, time.monotonic() - t0, repr(exc)))
                    return
                with lock:
                    seen.append(
                        (
                            r.status_code,
                            time.monotonic() - t0,
                            r.headers.get("Retry-After"),
                        )
                    )
                if r.status_code == 201:
                    break
                if r.status_code != 503:
                    with lock:
                        seen.append((r.status_code, 0.0, r.text))
                    return
                time.sleep(0.2)  # Retry-After says 5 s: shortened for the test
            with lock:
                done.append(farmer)
            n += 1

    try:
        server.up()
        admin = server.auth("admin")
        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        before = len(done)
        cluster.pg_ctl("stop", "-m", "fast")
        time.sleep(2.0)  # the outage
        cluster.pg_ctl(
            "start",
            "-o",
            f"-p {cluster.port} -k {cluster.folder} "
            "-c listen_addresses=127.0.0.1 -c fsync=off",
        )
        restarted = len(done)
        time.sleep(2.5)
        stop.set()
        for t in threads:
            t.join(REQUEST_S)
        after = len(done)
    finally:
        stop.set()
        server.stop()
    statuses = [s for s, _, _ in seen]
    assert set(statuses) <= {201, 503}, [x for x in seen if x[0] not in (201, 503)]
    assert 503 in statuses, "no request met the outage"
    outage = [(t, ra) for s, t, ra in seen if s == 503]
    assert all(ra == "5" for _, ra in outage), outage
    assert max(t for t, _ in outage) < PG_CONNECT_TIMEOUT_S + 2, outage
    assert before > 0 and after > restarted, (before, restarted, after)
    assert server.starts == 1  # the same server recovered by itself
    try:
        with ctx.engine.connect() as conn:
            registered = list(conn.execute(select(farmers.c.id)).scalars())
            keys = conn.execute(
                select(func.count()).select_from(idempotency_keys)
            ).scalar_one()
        assert sorted(registered) == sorted(done)
        assert keys == len(done)
        events = [json.loads(e.data) for e in ctx.ledger.store.iter_entries()]
        per_farmer = [
            e["subjects"]["farmer"] for e in events if e["type"] == "farmer.registered"
        ]
        assert sorted(per_farmer) == sorted(done), (
            "a farmer's event is missing or twice"
        )
        report = ctx.ledger.verify()
        assert report.ok, report.error
    finally:
        ctx.close()
    log = server.logs()
    assert "unexpected error" not in log and "Traceback" not in log, log[-3000:]
    assert "the database is unavailable" in log


# --- the photo disk -------------------------------------------------------------


def _namespace_prefix(probe_dir: Path) -> list[str] | None:
    """How to run a command in a mount namespace of its own where a tmpfs can be mounted.

    ``unshare -m`` as root (CI), else ``unshare -Urm`` (an unprivileged user
    namespace); None when neither may mount.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    tries = [[unshare, "-m"]] if os.geteuid() == 0 else []
    tries.append([unshare, "-Urm"])
    for prefix in tries:
        done = subprocess.run(
            [*prefix, "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs '{probe_dir}'"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if done.returncode == 0:
            return prefix
    return None


def test_a_full_photo_disk_answers_507_naming_the_photo_and_leaves_nothing(
    tmp_path: Path, key_file: Path, shared_data: Path
) -> None:
    """A real tmpfs, filled up, as the photo folder of a real ``agri serve``.

    The server runs in a mount namespace of its own (``unshare``: root in CI,
    an unprivileged user namespace elsewhere) whose photo folder is a 512 KiB
    tmpfs; the test fills it (through /proc/PID/root) to leave room for the
    first photo only. The enrolment of a cow from three photos answers 507
    naming the second photo; nothing is recorded (no enrolment, animal, photo
    row, ledger entry or idempotency key) and no file is left in the folder.
    Once space is freed, the same request with the same key enrols the cow
    once, with its three photos.
    """
    from livestock.data import scan_folder, split_enrol_query
    from tests.cattle import sample_animals

    probe = tmp_path / "probe"
    probe.mkdir()
    prefix = _namespace_prefix(probe)
    if prefix is None:
        pytest.skip(
            "cannot mount a tmpfs in a private mount namespace here (unshare -m "
            "needs CAP_SYS_ADMIN; unshare -Urm needs user namespaces)"
        )
    photo_dir = tmp_path / "photos"
    photo_dir.mkdir()
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path / 'agri.db'}",
        ledger_key_file=key_file,
        anchor_enabled=False,
        photo_dir=photo_dir,
        checkpoint_every=1_000_000,
    )
    ctx = build_context(settings, chain=False)
    UserStore(ctx.engine).create("agent", PASSWORD, "field_agent", None)
    ctx.underwriting.register_farmer("F-1", "Liu", "Hohhot", actor="admin")
    (tag,) = sample_animals(shared_data)[:1]
    split = split_enrol_query(
        [c for c in scan_folder(shared_data / "cattle_faces") if c.animal == tag]
    )
    shots = [(c.path.name, c.path.read_bytes()) for c in split.enrol[tag][:3]]
    assert len(shots) == 3
    env = server_env(settings, AGRI_PHOTO_DIR=str(photo_dir))
    agri = REPO / ".venv" / "bin" / "agri"
    started: list[subprocess.Popen[bytes]] = []

    def start(port: int, env: dict[str, str], log: Path) -> int:
        script = (
            f"mount -t tmpfs -o size=512k tmpfs '{photo_dir}' && exec '{agri}' serve "
            f"--host 127.0.0.1 --port {port}"
        )
        with log.open("ab") as out:
            started.append(
                subprocess.Popen(
                    [*prefix, "sh", "-c", script],
                    cwd=tmp_path,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
        return started[-1].pid

    # The pages the first photo and its thumbnail take: the room left for them.
    scratch = PhotoFiles(tmp_path / "scratch")
    first = scratch.put(shots[0][1])
    page = 4096
    room = sum(
        -(-path.stat().st_size // page) * page
        for path in (
            scratch.path(first.sha256, first.media_type),
            scratch.thumb_path(first.sha256),
        )
    )
    server = Server(env, tmp_path, start)
    try:
        server.up()
        assert server.process is not None
        seen_dir = Path(f"/proc/{server.process.pid}/root") / str(photo_dir).lstrip("/")
        stat = os.statvfs(seen_dir)
        free = stat.f_bavail * stat.f_frsize
        assert stat.f_frsize == page and free <= 512 * 1024, "not the tmpfs"
        filler = seen_dir / "filler"
        filler.write_bytes(b"\0" * (free - room))
        agent = server.auth("agent")

        def enrol() -> requests.Response:
            return server.session.post(
                f"{server.url}/animals",
                data={"tag": tag, "farmer_id": "F-1"},
                files=[("files", (n, b, "image/jpeg")) for n, b in shots],
                headers=agent | {"Idempotency-Key": "enrol-full-disk"},
                timeout=REQUEST_S,
            )

        size = ctx.ledger.store.size()
        full = enrol()
        assert full.status_code == 507, full.text
        assert full.json()["field"] == "files"
        assert full.json()["detail"].startswith(
            f"{shots[1][0]}: the photo could not be stored"
        )
        assert "ENOSPC" in full.json()["detail"]
        left = [p.name for p in seen_dir.rglob("*") if p.is_file() and p != filler]
        assert left == [], f"files left behind: {left}"
        with ctx.engine.connect() as conn:
            for table in (enrolments, photos, idempotency_keys):
                n = conn.execute(select(func.count()).select_from(table)).scalar_one()
                assert n == 0, f"{table.name}: {n} rows"
        assert ctx.ledger.store.size() == size
        filler.unlink()  # space is freed
        done = enrol()
        assert done.status_code == 201, done.text
        again = enrol()
        assert again.headers.get("Idempotent-Replayed") == "true"
        kept = [p for p in seen_dir.rglob("*") if p.is_file()]
        assert len(kept) == 6, kept  # three photos, three thumbnails
        with ctx.engine.connect() as conn:
            rows = conn.execute(select(photos.c.sha256)).scalars().all()
        assert len(rows) == 3 and all(any(r in p.name for p in kept) for r in rows)
        events = [json.loads(e.data)["type"] for e in ctx.ledger.store.iter_entries()]
        assert events.count("animal.enrolled") == 1
    finally:
        server.stop()
        for proc in started:
            proc.wait(30)
        ctx.close()
    log = server.logs()
    assert "the photo folder is full" in log
    assert "Traceback" not in log, log[-3000:]
