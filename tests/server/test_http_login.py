"""Login: the OAuth2 password form, a progressive delay shared through the database that
nobody can turn against the real user, no username oracle."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select, update

from ledger.adapters.memory import InMemoryAnchor
from server.chain import ChainContext
from server.config import Settings
from server.context import AppContext, build_context
from server.http.app import create_app
from server.http.auth import DEVICE_COOKIE, user_store
from server.services.auth import (
    AuthError,
    LoginLimits,
    TooManyAttemptsError,
    UserAdmin,
    UserStore,
)
from server.storage.schema import login_devices, login_failures

PASSWORD = "correct horse battery"
TOKEN = "/api/v1/auth/token"


@pytest.fixture
def ctx(make_settings: Callable[..., Settings]) -> Iterator[AppContext]:
    context = build_context(
        make_settings(
            login_free_failures=2,
            login_free_failures_per_address=3,
            login_free_failures_per_user=4,
            login_delay_cap_s=20,
            login_window_s=600,
        ),
        chain=ChainContext(InMemoryAnchor(), ephemeral=False, contract="mem"),
    )
    store = UserStore(context.engine)
    for name in ("alice", "bob", "carol"):
        store.create(name, PASSWORD, "adjuster")
    yield context
    context.close()


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
        yield c


def test_the_token_endpoint_takes_the_oauth2_password_form_and_json(
    client: TestClient,
) -> None:
    form = {"username": "alice", "password": PASSWORD, "grant_type": "password"}
    r = client.post(TOKEN, data=form)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert client.get("/api/v1/claims", headers=headers).status_code == 200
    r = client.post(TOKEN, json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text
    r = client.post(TOKEN, data=form | {"grant_type": "client_credentials"})
    assert r.status_code == 422
    assert r.json()["field"] == "grant_type"
    r = client.post(TOKEN, content=b"alice", headers={"Content-Type": "text/plain"})
    assert (r.status_code, r.json()["field"]) == (422, "body")


def test_the_openapi_declares_the_oauth2_password_flow(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    scheme = doc["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == TOKEN
    body = doc["paths"][TOKEN]["post"]["requestBody"]["content"]
    assert set(body) == {"application/x-www-form-urlencoded", "application/json"}
    assert doc["paths"]["/api/v1/claims"]["get"]["security"] == [
        {"OAuth2PasswordBearer": []}
    ]


def _age_failures(ctx: AppContext, seconds: float) -> None:
    """Make every recorded failure ``seconds`` older (time passing, without waiting)."""
    with ctx.engine.begin() as conn:
        rows = conn.execute(select(login_failures.c.id, login_failures.c.failed_at))
        for row_id, failed_at in rows.all():
            conn.execute(
                update(login_failures)
                .where(login_failures.c.id == row_id)
                .values(failed_at=failed_at - timedelta(seconds=seconds))
            )


def _fail(client: TestClient, username: str = "alice") -> int:
    wrong = {"username": username, "password": "not the password"}
    return client.post(TOKEN, json=wrong).status_code


def _log_in(client: TestClient, username: str = "alice") -> Response:
    return client.post(TOKEN, json={"username": username, "password": PASSWORD})


def test_a_guesser_waits_longer_after_each_failure_never_locked_out(
    client: TestClient, ctx: AppContext
) -> None:
    """Free failures, then 1, 2, 4 ... s between attempts, capped; nothing is checked early."""
    for _ in range(3):  # the address's free failures (any username)
        assert _fail(client, "bob") == 401
    waits = []
    for _ in range(6):
        r = client.post(TOKEN, json={"username": "bob", "password": PASSWORD})
        assert r.status_code == 429  # even the right password is not checked now
        assert r.json()["field"] == "username" and "too many" in r.json()["detail"]
        waits.append(int(r.headers["Retry-After"]))
        _age_failures(ctx, waits[-1])  # the client waits as told, then fails again
        assert _fail(client, "bob") == 401
    assert waits == [1, 2, 4, 8, 16, 20]  # doubling, up to the cap (20 s here)
    # The same count from another API worker: it lives in the database.
    other_worker = user_store(ctx)
    with pytest.raises(TooManyAttemptsError, match="try again in"):
        other_worker.login("bob", PASSWORD, "testclient")
    # Once the failures are older than the window, the count starts afresh.
    _age_failures(ctx, 601)
    assert _log_in(client, "bob").status_code == 200


def test_nobody_else_can_hold_the_real_user_off(
    client: TestClient, ctx: AppContext
) -> None:
    """Failures on alice's name from her own address and from anywhere else leave her device in."""
    assert _log_in(client).status_code == 200  # alice's device cookie, from now on
    cookie = client.cookies[DEVICE_COOKIE]
    guesser = TestClient(client.app)  # same address, no cookie
    for _ in range(10):
        guesser.post(TOKEN, json={"username": "alice", "password": "a guess"})
    store = user_store(ctx)
    for i in range(10):  # guesses spread over many addresses
        with pytest.raises(AuthError):
            store.login("alice", f"guess {i}", f"198.51.100.{i}")
    r = guesser.post(TOKEN, json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 429  # the guessers are slowed ...
    with pytest.raises(TooManyAttemptsError):
        store.login("alice", PASSWORD, "203.0.113.9")  # ... on any address
    r = _log_in(client)  # ... alice's device is not
    assert r.status_code == 200, r.text
    assert client.cookies[DEVICE_COOKIE] == cookie  # and keeps its cookie
    # Her cookie does not let anyone skip the delay on another username.
    for _ in range(3):
        _fail(client, "bob")
    assert client.post(
        TOKEN, json={"username": "bob", "password": PASSWORD}
    ).status_code in (401, 429)


def test_a_device_is_slowed_by_its_own_failures_only(
    client: TestClient, ctx: AppContext
) -> None:
    assert _log_in(client).status_code == 200
    phone = TestClient(client.app)
    assert _log_in(phone).status_code == 200  # a second device of alice
    for _ in range(2):  # the device's free failures
        assert _fail(client) == 401
    assert _fail(client) == 429
    assert _log_in(phone).status_code == 200  # her other device is not slowed
    # A success forgets the device's failures: the count starts from zero.
    _age_failures(ctx, 2)
    assert _log_in(client).status_code == 200
    for _ in range(2):
        assert _fail(client) == 401


def test_the_device_cookie_is_http_only_strict_and_scoped_to_the_login(
    client: TestClient,
) -> None:
    r = _log_in(client)
    set_cookie = r.headers["set-cookie"].lower()
    for part in ("agri_device=", "httponly", "samesite=strict", f"path={TOKEN}"):
        assert part in set_cookie, set_cookie
    assert "secure" not in set_cookie  # plain http here; https gets Secure
    # a made-up cookie is no device: treated as no cookie at all
    other = TestClient(client.app)
    r = other.post(
        TOKEN,
        json={"username": "alice", "password": PASSWORD},
        headers={"Cookie": f"{DEVICE_COOKIE}=forged"},
    )
    assert r.status_code == 200
    assert r.cookies[DEVICE_COOKIE] not in ("forged", "")


def test_a_password_reset_forgets_the_users_devices(
    client: TestClient, ctx: AppContext
) -> None:
    assert _log_in(client).status_code == 200
    with ctx.engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(login_devices)).scalar_one()
            == 1
        )
    UserAdmin(ctx.ledger).reset_password("alice", PASSWORD + "!", "admin")
    with ctx.engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(login_devices)).scalar_one()
            == 0
        )


def test_a_user_keeps_only_the_newest_devices(ctx: AppContext) -> None:
    store = UserStore(ctx.engine, limits=LoginLimits(devices_kept=2))
    cookies = [store.login("carol", PASSWORD, "192.0.2.1")[2] for _ in range(3)]
    assert len(set(cookies)) == 3
    with ctx.engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(login_devices)).scalar_one()
            == 2
        )


@pytest.mark.usefixtures("production_password_hashes")
def test_an_unknown_username_costs_as_much_as_a_wrong_password(ctx: AppContext) -> None:
    """Timing does not tell which usernames exist: both paths verify one argon2 hash."""
    store = UserStore(
        ctx.engine,
        limits=LoginLimits(
            free_failures_per_address=10_000, free_failures_per_user=10_000
        ),
    )

    def seconds(username: str) -> float:
        start = time.perf_counter()
        with pytest.raises(Exception, match="wrong username or password"):
            store.login(username, "not the password", "198.51.100.1")
        return time.perf_counter() - start

    known = statistics.median(seconds("alice") for _ in range(5))
    unknown = statistics.median(seconds("no-such-user") for _ in range(5))
    # Without the dummy verification the unknown path is a database read only,
    # two orders of magnitude faster than argon2id.
    assert unknown > 0.5 * known, (known, unknown)


def test_logging_out_ends_the_token_on_the_server_at_once(client: TestClient) -> None:
    token = client.post(TOKEN, json={"username": "alice", "password": PASSWORD}).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    other = client.post(TOKEN, json={"username": "alice", "password": PASSWORD}).json()
    assert client.get("/api/v1/me", headers=bearer).status_code == 200
    r = client.post("/api/v1/auth/logout", headers=bearer)
    assert r.status_code == 204 and r.content == b""
    gone = client.get("/api/v1/me", headers=bearer)
    assert gone.status_code == 401 and "log in again" in gone.json()["detail"]
    # the same user's other session goes on; a second logout is no error
    other_bearer = {"Authorization": f"Bearer {other['access_token']}"}
    assert client.get("/api/v1/me", headers=other_bearer).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=bearer).status_code == 204
    # without a token there is nothing to end
    assert client.post("/api/v1/auth/logout").status_code == 401
