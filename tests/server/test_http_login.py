"""Login: the OAuth2 password form, a rate limit shared through the database, no username oracle."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from ledger.adapters.memory import InMemoryAnchor
from server.chain import ChainContext
from server.config import Settings
from server.context import AppContext, build_context
from server.http.app import create_app
from server.services.auth import (
    AuthError,
    LoginLimits,
    TooManyAttemptsError,
    UserStore,
)
from server.storage.schema import login_failures

PASSWORD = "correct horse battery"
TOKEN = "/api/v1/auth/token"


@pytest.fixture
def ctx(make_settings: Callable[..., Settings]) -> Iterator[AppContext]:
    context = build_context(
        make_settings(
            login_max_failures=3, login_max_failures_per_address=5, login_window_s=600
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


def test_failed_logins_are_limited_per_user_and_address(
    client: TestClient, ctx: AppContext
) -> None:
    wrong = {"username": "alice", "password": "not the password"}
    for _ in range(3):
        assert client.post(TOKEN, json=wrong).status_code == 401
    r = client.post(TOKEN, json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 429
    assert r.json()["field"] == "username" and "too many" in r.json()["detail"]
    assert 1 <= int(r.headers["Retry-After"]) <= 600
    # Another user from the same address is not locked out by alice's failures.
    assert client.post(TOKEN, json={"username": "bob", "password": PASSWORD}).is_success
    # The count lives in the database: another worker on it sees the same limit.
    other_worker = UserStore(ctx.engine, limits=LoginLimits(3, 5, 600))
    with pytest.raises(TooManyAttemptsError, match="too many failed logins"):
        other_worker.login("alice", PASSWORD, "testclient")
    # From another address alice may log in.
    token, _ = other_worker.login("alice", PASSWORD, "192.0.2.7")
    assert token
    # Once the failures are older than the window, alice may try again.
    with ctx.engine.begin() as conn:
        conn.execute(
            update(login_failures).values(
                failed_at=datetime.now(UTC) - timedelta(seconds=601)
            )
        )
    r = client.post(TOKEN, json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text


def test_failed_logins_are_limited_per_address_whatever_the_username(
    client: TestClient,
) -> None:
    for name in ("alice", "bob", "carol", "nobody", "ghost"):
        r = client.post(TOKEN, json={"username": name, "password": "wrong password"})
        assert r.status_code == 401
    r = client.post(TOKEN, json={"username": "bob", "password": PASSWORD})
    assert r.status_code == 429 and "Retry-After" in r.headers


def test_failed_logins_are_limited_per_username_across_addresses(
    ctx: AppContext,
) -> None:
    """Guesses spread over many addresses still meet a limit on the username."""
    store = UserStore(ctx.engine, limits=LoginLimits(3, 50, 600, 4))
    for i in range(4):
        with pytest.raises(AuthError):
            store.login("alice", "a guess", f"198.51.100.{i}")
    with pytest.raises(TooManyAttemptsError):
        store.login("alice", PASSWORD, "203.0.113.9")
    token, _ = store.login("bob", PASSWORD, "203.0.113.9")
    assert token


def test_a_success_forgets_the_pairs_failures(
    client: TestClient, ctx: AppContext
) -> None:
    wrong = {"username": "alice", "password": "not the password"}
    for _ in range(2):
        assert client.post(TOKEN, json=wrong).status_code == 401
    assert client.post(
        TOKEN, json={"username": "alice", "password": PASSWORD}
    ).is_success
    with ctx.engine.connect() as conn:
        left = conn.execute(
            select(func.count())
            .select_from(login_failures)
            .where(login_failures.c.username == "alice")
        ).scalar_one()
    assert left == 0
    for _ in range(2):  # the count starts again from zero
        assert client.post(TOKEN, json=wrong).status_code == 401


def test_an_unknown_username_costs_as_much_as_a_wrong_password(ctx: AppContext) -> None:
    """Timing does not tell which usernames exist: both paths verify one argon2 hash."""
    store = UserStore(ctx.engine, limits=LoginLimits(10_000, 10_000, 600))

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
