"""Under load, a real ``agri serve`` does each thing once: one approval, one payment, one animal.

A real server (``agri serve``, uvicorn, a subprocess on a free loopback
port) over a SQLite file and over a PostgreSQL schema. Requests are fired
from many threads released together by a :class:`threading.Barrier`, each
thread with its own HTTP client already connected:

* 20 approvals of one claim by an adjuster, then 20 payments by another
  (four-eyes): one ``claim.approved`` and one ``claim.paid`` on the ledger,
  the other approvals 409 and the other payments the paid claim as it is
  (its first payment reference); the same again with one Idempotency-Key
  per wave (a phone retrying): one is done, every other answer is its replay.
  A claim is paid only after its public notice's objection period (the
  server's clock is the real one), so the payments are of a claim approved
  and posted days before the server started; the claim just approved is
  refused payment until its notice has run;
* one cow enrolled from two phones (two field agents) at the same moment,
  with the same photos, under the same tag and under two tags (one misread):
  one animal, and the other phone told it is a duplicate (``duplicate`` with
  the animal it matches, or 422 "already enrolled" for the same tag); the
  same with each phone on its own server of one database (two workers).

No answer is a 5xx, the server logs no unexpected error, and the ledger verifies.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select

from livestock import Photo
from server.config import Settings
from server.context import AppContext, build_context
from server.services.auth import UserStore
from server.services.enrolment import caught_up
from server.services.work import reading
from server.storage.schema import animals, enrolments
from tests.server.live import free_port
from tests.server.notices import approved_and_cleared
from tests.server.pages_records import Cows, pick_cows
from tests.server.test_claims_regressions import animal_claim, insured_herd

API = "/api/v1"
PASSWORD = "a long test password"
N = 20
"""Requests released together in each wave."""
READY_S = 120.0
"""How long a server may take to start on a loaded machine."""
REQUEST_S = 120.0
"""How long one request may take (the first enrolment loads the face-ID model)."""
HERD = ("998230000009001", "998230000009002", "998230000009003", "998230000009004")
"""Claims of the first two are filed (approved under load), of the others approved and
posted on a claims notice days ago (paid under load)."""
MISREAD = "998230000099999"
"""The tag a second phone reads wrongly for the cow the first reads right."""
APPROVE = {"decision": "approve", "reason": "vet certificate seen"}
USERS = {
    "li.wei": "field_agent",
    "zhou.min": "field_agent",
    "wang.fang": "adjuster",
    "zhao.lei": "adjuster",
}


@dataclass(frozen=True)
class Server:
    """A running ``agri serve``: where it answers and where it logs."""

    url: str
    log: Path

    def token(self, username: str) -> dict[str, str]:
        r = httpx2.post(
            f"{self.url}/auth/token",
            json={"username": username, "password": PASSWORD},
            timeout=REQUEST_S,
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def agri() -> str:
    """The ``agri`` command of this interpreter's environment."""
    path = Path(sys.executable).parent / "agri"
    if not path.exists():
        pytest.fail(f"{path} is missing: install the project (make setup)")
    return str(path)


@pytest.fixture
def site(make_settings: Callable[..., Settings]) -> Iterator[AppContext]:
    """The database: users, F-1's herd of two insured cows, each with a filed claim."""
    ctx = build_context(make_settings(), chain=False)
    users = UserStore(ctx.engine)
    for name, role in USERS.items():
        users.create(name, PASSWORD, role, None)
    today = datetime.now(UTC).date()
    policy = insured_herd(ctx, today, HERD)
    claims = [
        animal_claim(ctx.claims, policy, tag, today - timedelta(days=1)).id
        for tag in HERD
    ]
    approved_and_cleared(ctx, *claims[2:], actor="wang.fang")
    yield ctx
    ctx.close()


@contextmanager
def serving(site: AppContext, folder: Path) -> Iterator[Server]:
    """``agri serve`` on the site's database, on a free loopback port, logging in ``folder``."""
    settings = site.settings
    assert settings.database_url is not None and settings.ledger_key_file is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRI_")}
    env.update(
        AGRI_DATA_DIR=str(settings.data_dir),
        AGRI_DATABASE_URL=settings.database_url.get_secret_value(),
        AGRI_LEDGER_KEY_FILE=str(settings.ledger_key_file),
        AGRI_ANCHOR_ENABLED="false",
        AGRI_CHECKPOINT_EVERY="1000000",
    )
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [agri(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=folder,  # not the repository: no .env of it is read
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}{API}"
    try:
        deadline = time.monotonic() + READY_S
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"agri serve exited ({proc.returncode}):\n{log.read_text()}"
                )
            try:
                if httpx2.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"agri serve did not answer in {READY_S} s:\n{log.read_text()}"
                )
            time.sleep(0.1)
        yield Server(url, log)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def server(site: AppContext, tmp_path: Path) -> Iterator[Server]:
    """``agri serve`` on the site's database."""
    with serving(site, tmp_path / "server") as s:
        yield s


# --- firing together ---------------------------------------------------------------


def at_once(
    server: Server | list[Server],
    requests: list[Callable[[httpx2.Client], httpx2.Response]],
) -> list[httpx2.Response]:
    """Send each request from its own thread and client, all released together.

    Each client is connected (a health check) before the barrier, so the
    requests leave at the same moment rather than as their connections open.

    Raises:
        AssertionError: a request failed to get an answer (the error named).
    """
    servers = server if isinstance(server, list) else [server]
    barrier = threading.Barrier(len(requests))
    out: list[httpx2.Response | BaseException | None] = [None] * len(requests)

    def run(i: int) -> None:
        with httpx2.Client(timeout=REQUEST_S) as client:
            try:
                client.get(f"{servers[i % len(servers)].url}/health")
                barrier.wait()
                out[i] = requests[i](client)
            except BaseException as exc:  # the test names it
                out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = [x for x in out if not isinstance(x, httpx2.Response)]
    assert not failed, f"requests without an answer: {failed}"
    return [x for x in out if isinstance(x, httpx2.Response)]


def codes(answers: list[httpx2.Response]) -> Counter[int]:
    return Counter(r.status_code for r in answers)


def events(ctx: AppContext, kind: str, **subjects: str) -> list[dict[str, Any]]:
    """The ledger's events of ``kind`` whose subjects include ``subjects``."""
    found = []
    for e in ctx.ledger.store.iter_entries():
        doc = json.loads(e.data)
        if doc["type"] == kind and subjects.items() <= doc["subjects"].items():
            found.append(doc)
    return found


def assert_server_well(ctx: AppContext, server: Server) -> None:
    """The ledger verifies and the server logged no unexpected error."""
    assert ctx.ledger.verify().ok
    log = server.log.read_text(errors="replace")
    assert "unexpected error" not in log and "Traceback" not in log, log[-4000:]


# --- approvals and payments --------------------------------------------------------


def _claim_of(ctx: AppContext, tag: str) -> str:
    """The claim of the animal ``tag``."""
    found: str = next(
        c.id for c in ctx.claims.claims(limit=10).items if c.subject_id == tag
    )
    return found


def test_twenty_approvals_and_payments_of_one_claim_pay_once(
    site: AppContext, server: Server
) -> None:
    claim = _claim_of(site, HERD[0])
    approver, payer = server.token("wang.fang"), server.token("zhao.lei")

    def approve(client: httpx2.Client) -> httpx2.Response:
        return client.post(
            f"{server.url}/claims/{claim}/decision",
            json=APPROVE,
            headers=approver,
        )

    approvals = at_once(server, [approve] * N)
    assert codes(approvals) == {200: 1, 409: N - 1}, [r.text for r in approvals]
    for r in approvals:
        if r.status_code == 409:
            assert "approved" in r.json()["detail"], r.text
    assert len(events(site, "claim.approved", claim=claim)) == 1
    waiting = httpx2.post(
        f"{server.url}/claims/{claim}/payment",
        json={"payment_ref": "PAY-EARLY"},
        headers=payer,
        timeout=REQUEST_S,
    )
    assert waiting.status_code == 409, waiting.text
    assert "public claims notice" in waiting.json()["detail"], waiting.text

    claim = _claim_of(site, HERD[2])  # approved and posted days ago

    def pay(i: int) -> Callable[[httpx2.Client], httpx2.Response]:
        return lambda client: client.post(
            f"{server.url}/claims/{claim}/payment",
            json={"payment_ref": f"PAY-{i}"},
            headers=payer,
        )

    payments = at_once(server, [pay(i) for i in range(N)])
    assert codes(payments) == {200: N}, [r.text for r in payments]
    refs = {r.json()["payment_ref"] for r in payments}
    assert len(refs) == 1 and {r.json()["status"] for r in payments} == {"paid"}
    paid = events(site, "claim.paid", claim=claim)
    assert [e["payload"]["payment_ref"] for e in paid] == list(refs)
    record = site.claims.claim(claim)
    assert (record.status, record.payment_ref) == ("paid", refs.pop())
    assert_server_well(site, server)


def test_one_idempotency_key_sent_twenty_times_at_once_is_done_once(
    site: AppContext, server: Server
) -> None:
    """A phone retrying with one key: one approval, one payment, every answer the same."""
    approving, paying = _claim_of(site, HERD[1]), _claim_of(site, HERD[3])
    approver, payer = server.token("wang.fang"), server.token("zhao.lei")

    def send(
        claim: str, path: str, body: dict[str, str], headers: dict[str, str]
    ) -> Callable[[httpx2.Client], httpx2.Response]:
        keyed = headers | {"Idempotency-Key": f"{path}-{claim}"}
        return lambda client: client.post(
            f"{server.url}/claims/{claim}/{path}", json=body, headers=keyed
        )

    for kind, claim, retried in (
        ("claim.approved", approving, send(approving, "decision", APPROVE, approver)),
        (
            "claim.paid",
            paying,
            send(paying, "payment", {"payment_ref": "PAY-ONCE"}, payer),
        ),
    ):
        answers = at_once(server, [retried] * N)
        assert codes(answers) == {200: N}, [r.text for r in answers]
        assert len({r.text for r in answers}) == 1  # one answer, replayed
        replayed = [r for r in answers if r.headers.get("Idempotent-Replayed")]
        assert len(replayed) == N - 1
        assert len(events(site, kind, claim=claim)) == 1
    assert site.claims.claim(approving).status == "approved"
    assert site.claims.claim(paying).status == "paid"
    assert_server_well(site, server)


# --- one cow from two phones ---------------------------------------------------------


@pytest.fixture(scope="module")
def cows(shared_data: Path) -> Cows:
    if not (shared_data / "cattle_faces").is_dir():
        pytest.skip(f"no cow photos at {shared_data / 'cattle_faces'}")
    return pick_cows(shared_data)


def _animals(ctx: AppContext, tags: list[str]) -> int:
    with reading(ctx.engine) as conn:
        found: int = conn.execute(
            select(func.count()).select_from(animals).where(animals.c.tag.in_(tags))
        ).scalar_one()
    return found


def _attempts(ctx: AppContext, tags: list[str]) -> Counter[str]:
    with reading(ctx.engine) as conn:
        rows = conn.execute(
            select(enrolments.c.status).where(enrolments.c.tag.in_(tags))
        ).all()
    return Counter(r.status for r in rows)


def two_phones(site: AppContext, servers: list[Server], cows: Cows) -> None:
    """Each of two cows enrolled from two phones at once (phone i on ``servers[i]``)."""
    phones = [servers[0].token("li.wei"), servers[-1].token("zhou.min")]

    def enrol(
        url: str, tag: str, cow: str, phone: dict[str, str]
    ) -> Callable[[httpx2.Client], httpx2.Response]:
        files = [
            ("files", (c.path.name, c.path.read_bytes(), "image/jpeg"))
            for c in cows.enrol[cow][:3]
        ]
        return lambda client: client.post(
            f"{url}/animals",
            data={"tag": tag, "farmer_id": "F-1"},
            files=files,
            headers=phone,
        )

    urls = [servers[0].url, servers[-1].url]
    for cow, tags in (
        (cows.tags[0], [cows.tags[0]] * 2),  # both phones read the tag right
        (cows.tags[1], [cows.tags[1], MISREAD]),  # the second misreads it
    ):
        sends = [
            enrol(url, tag, cow, phone)
            for url, tag, phone in zip(urls, tags, phones, strict=True)
        ]
        answers = at_once(servers, sends)
        what = [(r.status_code, r.text[:300]) for r in answers]
        assert all(r.status_code < 500 for r in answers), what
        enrolled = [r for r in answers if r.status_code == 201]
        assert len(enrolled) == 1, what
        winner = enrolled[0].json()
        assert winner["status"] == "enrolled"
        (other,) = [r for r in answers if r is not enrolled[0]]
        if other.status_code == 200:  # the duplicate flag, with the animal it matches
            doc = other.json()
            assert doc["status"] in ("duplicate", "needs_review"), doc
            assert doc["match"]["tag"] == winner["tag"], doc
        else:  # the same tag, seen enrolled: refused as such
            assert tags[0] == tags[1], what
            assert other.status_code == 422 and other.json()["field"] == "tag", what
            assert "already enrolled" in other.json()["detail"], what
        assert _animals(site, sorted(set(tags))) == 1, what
        assert (
            sum(len(events(site, "animal.enrolled", animal=t)) for t in set(tags)) == 1
        )
        attempts = _attempts(site, sorted(set(tags)))
        assert attempts["enrolled"] == 1, attempts
    for s in servers:
        assert_server_well(site, s)


def test_one_cow_enrolled_from_two_phones_at_once_is_one_animal_and_one_duplicate(
    site: AppContext, server: Server, cows: Cows
) -> None:
    two_phones(site, [server], cows)


def test_two_phones_on_two_servers_of_one_database_enrol_one_animal(
    site: AppContext, server: Server, cows: Cows, tmp_path: Path
) -> None:
    """Stateless workers behind a load balancer: each phone reaches another server."""
    with serving(site, tmp_path / "second") as second:
        for s in (server, second):  # each has loaded its face-ID registry
            r = httpx2.get(f"{s.url}/agent/gallery", headers=s.token("li.wei"))
            assert r.status_code == 200, r.text
        two_phones(site, [server, second], cows)


def test_a_registry_catches_up_with_what_another_process_enrolled(
    app: AppContext, cows: Cows
) -> None:
    """Two processes' registries on one database: each search sees the other's animals."""
    other = build_context(app.settings, chain=False)  # a second worker
    try:
        app.underwriting.register_farmer("F-1", "Liu", "Hohhot", actor="admin")
        late = other.registry()  # indexed now, before the animal exists
        photos = [Photo(c.path.name, c.path) for c in cows.enrol[cows.tags[0]][:3]]
        first = app.enrolment.enrol_animal(
            cows.tags[0], photos, farmer_id="F-1", actor="li.wei"
        )
        assert first.status == "enrolled"
        # A claim's 1:N search in the other process finds it...
        found = caught_up(late).identify(photos, k=1)
        assert [m.tag for m in found] == [cows.tags[0]]
        # ...and so does an enrolment there, under another tag: a duplicate.
        again = other.enrolment.enrol_animal(
            MISREAD, photos, farmer_id="F-1", actor="zhou.min"
        )
        assert again.status == "duplicate" and again.match is not None
        assert again.match.tag == cows.tags[0]
        assert _animals(app, [cows.tags[0], MISREAD]) == 1
    finally:
        other.close()
