"""Users: farmers name a registered farmer; admins disable, enable, re-role and reset passwords.

Each admin change is a ledger event without secrets, written with the change; a
disabled user's tokens stop at once, and so do all of a user's tokens after a
password reset; the last active admin is kept. Every test runs on SQLite and
PostgreSQL (the ``db_url`` fixture under ``app``).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server.cli.main import cli
from server.context import AppContext
from server.errors import ConflictError, InvalidInputError, NotFoundError
from server.services import auth as auth_module
from server.services.auth import (
    AuthError,
    DisabledUserError,
    UnknownFarmerError,
    UserAdmin,
    UserStore,
)
from server.services.underwriting import UnderwritingService
from server.storage.schema import api_tokens
from tests.server.test_api_flows import PASSWORD, login

NEW_PASSWORD = "a brand new passphrase"


def _events(app: AppContext, kind: str | None = None) -> list[dict[str, Any]]:
    docs = [json.loads(e.data) for e in app.ledger.store.iter_entries()]
    return [d for d in docs if kind is None or d["type"] == kind]


def _bearer(client: TestClient, username: str, password: str = PASSWORD) -> str:
    r = client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )
    assert r.status_code == 200, r.text
    return f"Bearer {r.json()['access_token']}"


def _listed(client: TestClient, admin: dict[str, str]) -> dict[str, dict[str, Any]]:
    page = client.get("/api/v1/users?limit=200", headers=admin).json()
    return {u["username"]: u for u in page["items"]}


def _tokens(app: AppContext) -> int:
    with app.engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(api_tokens)).scalar_one()
        )


# --- farmers name a registered farmer -------------------------------------------


def test_the_api_refuses_a_farmer_user_of_an_unregistered_farmer(
    uw: UnderwritingService, client: TestClient
) -> None:
    admin = login(client, "admin")
    r = client.post(
        "/api/v1/users",
        json={
            "username": "f404",
            "password": PASSWORD,
            "role": "farmer",
            "farmer_id": "F-404",
        },
        headers=admin,
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "farmer_id"
    assert "F-404" in r.json()["detail"] and "not registered" in r.json()["detail"]
    listed = client.get("/api/v1/users?limit=200", headers=admin).json()
    assert "f404" not in {u["username"] for u in listed["items"]}

    ok = client.post(
        "/api/v1/users",
        json={
            "username": "f2",
            "password": PASSWORD,
            "role": "farmer",
            "farmer_id": "F-2",
        },
        headers=admin,
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["farmer_id"] == "F-2"
    assert client.get("/api/v1/me", headers=login(client, "f2")).status_code == 200


def test_staff_users_need_no_farmer(
    uw: UnderwritingService, client: TestClient
) -> None:
    r = client.post(
        "/api/v1/users",
        json={"username": "agent2", "password": PASSWORD, "role": "field_agent"},
        headers=login(client, "admin"),
    )
    assert r.status_code == 201, r.text


def test_the_store_checks_the_farmer_only_when_asked(app: AppContext) -> None:
    store = UserStore(app.engine)
    with pytest.raises(UnknownFarmerError, match="'F-9' is not registered") as info:
        store.create("f9", PASSWORD, "farmer", "F-9", farmer_registered=lambda _: False)
    assert isinstance(info.value, AuthError) and info.value.field == "farmer_id"
    assert store.list()[1] == 0  # nothing stored
    # A short password is reported before the farmer is looked up.
    with pytest.raises(AuthError, match="at least 10"):
        store.create("f9", "short", "farmer", "F-9", farmer_registered=lambda _: False)
    asked: list[str] = []
    store.create(
        "f9",
        PASSWORD,
        "farmer",
        "F-9",
        farmer_registered=lambda fid: asked.append(fid) or True,
    )
    store.create("a", PASSWORD, "admin", farmer_registered=lambda _: False)
    assert asked == ["F-9"]


# --- disable and enable -----------------------------------------------------------


def test_a_disabled_users_tokens_stop_at_once_and_enabling_lets_them_log_in_anew(
    client: TestClient, app: AppContext
) -> None:
    admin = login(client, "admin")
    agent = {"Authorization": _bearer(client, "field_agent")}
    second = {"Authorization": _bearer(client, "field_agent")}
    assert client.get("/api/v1/me", headers=agent).status_code == 200
    assert _listed(client, admin)["field_agent"]["disabled"] is False

    r = client.post("/api/v1/users/field_agent/disable", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["disabled"] is True and r.json()["disabled_at"]
    for token in (agent, second):  # both sessions end, at once
        gone = client.get("/api/v1/me", headers=token)
        assert gone.status_code == 401, gone.text
    listed = _listed(client, admin)["field_agent"]
    assert listed["disabled"] is True and listed["disabled_at"]

    right = client.post(
        "/api/v1/auth/token", json={"username": "field_agent", "password": PASSWORD}
    )
    assert right.status_code == 403, right.text
    assert right.json() == {
        "detail": "this account is disabled: ask an administrator",
        "field": "username",
    }
    wrong = client.post(
        "/api/v1/auth/token",
        json={"username": "field_agent", "password": "not the password"},
    )
    assert wrong.status_code == 401 and "wrong username or password" in wrong.text

    (event,) = _events(app, "user.disabled")
    assert event["subjects"] == {"user": "field_agent"}
    assert event["actor"] == "admin"
    assert event["payload"] == {"tokens_revoked": 2}
    # Disabling again changes nothing and appends nothing.
    size = app.ledger.store.size()
    again = client.post("/api/v1/users/field_agent/disable", headers=admin)
    assert again.status_code == 200 and again.json()["disabled"] is True
    assert app.ledger.store.size() == size

    r = client.post("/api/v1/users/field_agent/enable", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["disabled"] is False and r.json()["disabled_at"] is None
    assert client.get("/api/v1/me", headers=agent).status_code == 401  # stays ended
    fresh = {"Authorization": _bearer(client, "field_agent")}
    assert client.get("/api/v1/me", headers=fresh).status_code == 200
    (event,) = _events(app, "user.enabled")
    assert event["subjects"] == {"user": "field_agent"} and event["payload"] == {}
    size = app.ledger.store.size()
    assert client.post("/api/v1/users/field_agent/enable", headers=admin).is_success
    assert app.ledger.store.size() == size


def test_a_token_of_a_disabled_user_is_refused_even_if_it_was_issued_after(
    app: AppContext,
) -> None:
    """user_for reads the user with the token: a token that outlived the disabling is dead."""
    store = UserStore(app.engine)
    store.create("agent", PASSWORD, "field_agent")
    store.create("boss", PASSWORD, "admin")
    store.create("boss2", PASSWORD, "admin")
    token, _, _ = store.login("agent", PASSWORD)
    admin = UserAdmin(app.ledger)
    admin.disable("agent", "boss")
    assert store.user_for(token) is None
    with pytest.raises(DisabledUserError, match="disabled"):
        store.login("agent", PASSWORD)
    # A token stored behind the service's back (as a login racing the disabling
    # could) is refused all the same.
    from server.services.auth import _token_hash
    from server.storage.users_store import UserRows

    with app.engine.begin() as conn:
        row = UserRows().by_username(conn, "agent")
        assert row is not None and row.disabled_at is not None
        UserRows().insert_token(
            conn, _token_hash("late"), row.id, row.disabled_at.replace(year=2999)
        )
    assert store.user_for("late") is None
    admin.enable("agent", "boss")
    assert store.user_for("late") is not None  # the row's state decides, at once
    assert admin.user("agent").disabled is False


# --- roles -------------------------------------------------------------------------


def test_a_new_role_applies_at_the_users_next_request(
    uw: UnderwritingService, client: TestClient, app: AppContext
) -> None:
    admin = login(client, "admin")
    adjuster = {"Authorization": _bearer(client, "adjuster")}
    farmers = "/api/v1/farmers"
    r = client.post(
        farmers, json={"id": "F-9", "name": "n", "region": "r"}, headers=adjuster
    )
    assert r.status_code == 403

    r = client.put(
        "/api/v1/users/adjuster/role", json={"role": "underwriter"}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert (r.json()["role"], r.json()["farmer_id"]) == ("underwriter", None)
    me = client.get("/api/v1/me", headers=adjuster)  # the same token, the new role
    assert me.status_code == 200 and me.json()["role"] == "underwriter"
    (event,) = _events(app, "user.role_changed")
    assert event["subjects"] == {"user": "adjuster"}
    assert event["payload"] == {"role": "underwriter", "previous_role": "adjuster"}

    # A farmer names a registered farmer; the event says which.
    r = client.put(
        "/api/v1/users/adjuster/role",
        json={"role": "farmer", "farmer_id": "F-2"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["role"], r.json()["farmer_id"]) == ("farmer", "F-2")
    assert client.get("/api/v1/me", headers=adjuster).json()["farmer_id"] == "F-2"
    assert _events(app, "user.role_changed")[-1]["payload"] == {
        "role": "farmer",
        "previous_role": "underwriter",
        "farmer_id": "F-2",
        "previous_farmer_id": None,
    }
    # Back to staff: the farmer id goes.
    r = client.put(
        "/api/v1/users/adjuster/role", json={"role": "adjuster"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["farmer_id"] is None
    # The role the user has changes nothing.
    size = app.ledger.store.size()
    r = client.put(
        "/api/v1/users/adjuster/role", json={"role": "adjuster"}, headers=admin
    )
    assert r.status_code == 200 and app.ledger.store.size() == size


@pytest.mark.parametrize(
    ("path", "body", "code", "field", "words"),
    [
        ("adjuster/role", {"role": "boss"}, 422, "role", "role"),
        ("adjuster/role", {}, 422, "role", "role"),
        ("adjuster/role", {"role": "farmer"}, 422, "farmer_id", "needs the farmer id"),
        (
            "adjuster/role",
            {"role": "farmer", "farmer_id": "F-404"},
            422,
            "farmer_id",
            "'F-404' is not registered",
        ),
        (
            "adjuster/role",
            {"role": "underwriter", "farmer_id": "F-1"},
            422,
            "farmer_id",
            "only a farmer user has a farmer id",
        ),
        ("nobody/role", {"role": "adjuster"}, 404, "username", "'nobody' is not known"),
        ("adjuster/password", {"password": "short"}, 422, "password", "password"),
        ("adjuster/password", {}, 422, "password", "password"),
        ("nobody/password", {"password": NEW_PASSWORD}, 404, "username", "nobody"),
        ("nobody/disable", None, 404, "username", "'nobody' is not known"),
        ("nobody/enable", None, 404, "username", "'nobody' is not known"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    uw: UnderwritingService,
    client: TestClient,
    app: AppContext,
    path: str,
    body: dict[str, Any] | None,
    code: int,
    field: str,
    words: str,
) -> None:
    admin = login(client, "admin")
    adjuster = {"Authorization": _bearer(client, "adjuster")}
    before = (_listed(client, admin), app.ledger.store.size(), _tokens(app))
    method = "PUT" if path.endswith("/role") else "POST"
    r = client.request(method, f"/api/v1/users/{path}", json=body, headers=admin)
    assert r.status_code == code, r.text
    assert r.json()["field"] == field and words in r.json()["detail"]
    assert (_listed(client, admin), app.ledger.store.size(), _tokens(app)) == before
    assert client.get("/api/v1/me", headers=adjuster).json()["role"] == "adjuster"


def test_only_admins_manage_users(client: TestClient) -> None:
    for role in ("field_agent", "underwriter", "adjuster", "farmer"):
        headers = login(client, role)
        for method, path, body in (
            ("POST", "/api/v1/users/adjuster/disable", None),
            ("POST", "/api/v1/users/adjuster/enable", None),
            ("PUT", "/api/v1/users/adjuster/role", {"role": "admin"}),
            ("POST", "/api/v1/users/adjuster/password", {"password": NEW_PASSWORD}),
        ):
            r = client.request(method, path, json=body, headers=headers)
            assert r.status_code == 403, (role, path, r.text)
    assert client.post("/api/v1/users/adjuster/disable").status_code == 401


# --- passwords -----------------------------------------------------------------------


def test_a_password_reset_ends_every_token_and_the_event_keeps_no_secret(
    client: TestClient, app: AppContext
) -> None:
    admin = login(client, "admin")
    farmer = {"Authorization": _bearer(client, "farmer")}
    r = client.post(
        "/api/v1/users/farmer/password", json={"password": NEW_PASSWORD}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["username"] == "farmer" and "password" not in r.json()
    assert client.get("/api/v1/me", headers=farmer).status_code == 401
    old = client.post(
        "/api/v1/auth/token", json={"username": "farmer", "password": PASSWORD}
    )
    assert old.status_code == 401
    fresh = {"Authorization": _bearer(client, "farmer", NEW_PASSWORD)}
    assert client.get("/api/v1/me", headers=fresh).status_code == 200

    (event,) = _events(app, "user.password_reset")
    assert event["subjects"] == {"user": "farmer"} and event["actor"] == "admin"
    assert event["payload"] == {"tokens_revoked": 1}
    log = b"".join(e.data for e in app.ledger.store.iter_entries())
    assert NEW_PASSWORD.encode() not in log and PASSWORD.encode() not in log
    assert b"argon2" not in log


def test_a_disabled_user_keeps_disabled_through_a_password_reset(
    app: AppContext,
) -> None:
    store = UserStore(app.engine)
    for name, role in (("agent", "field_agent"), ("boss", "admin")):
        store.create(name, PASSWORD, role)
    admin = UserAdmin(app.ledger)
    admin.disable("agent", "boss")
    assert admin.reset_password("agent", NEW_PASSWORD, "boss").disabled
    with pytest.raises(DisabledUserError):
        store.login("agent", NEW_PASSWORD)
    with pytest.raises(InvalidInputError, match="at least 10") as info:
        admin.reset_password("agent", "x" * 9, "boss")
    assert info.value.field == "password"


def test_a_login_whose_password_is_reset_while_it_is_checked_gets_no_token(
    app: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token is stored only if the hash checked is still the user's (read under lock)."""
    store = UserStore(app.engine)
    store.create("agent", PASSWORD, "field_agent")
    admin = UserAdmin(app.ledger)
    real = auth_module._HASHER

    class ResetMeanwhile:
        def hash(self, password: str) -> str:
            return real.hash(password)

        def verify(self, stored: str, password: str) -> bool:
            ok = real.verify(stored, password)
            admin.reset_password("agent", NEW_PASSWORD, "operator")  # commits now
            return ok

    monkeypatch.setattr(auth_module, "_HASHER", ResetMeanwhile())
    with pytest.raises(AuthError, match="wrong username or password"):
        store.login("agent", PASSWORD)
    assert _tokens(app) == 0
    monkeypatch.setattr(auth_module, "_HASHER", real)
    token, _, _ = store.login("agent", NEW_PASSWORD)
    assert store.user_for(token) is not None


# --- the last admin ---------------------------------------------------------------------


def test_the_last_active_admin_is_kept(client: TestClient, app: AppContext) -> None:
    admin = login(client, "admin")
    size = app.ledger.store.size()
    for method, path, body in (
        ("POST", "/api/v1/users/admin/disable", None),
        ("PUT", "/api/v1/users/admin/role", {"role": "adjuster"}),
    ):
        r = client.request(method, path, json=body, headers=admin)
        assert r.status_code == 409, r.text
        assert r.json()["field"] == "username"
        assert "admin is the last active admin" in r.json()["detail"]
    assert app.ledger.store.size() == size
    assert client.get("/api/v1/me", headers=admin).json()["role"] == "admin"

    # With another admin, an admin may step down; a disabled admin does not count.
    r = client.put(
        "/api/v1/users/underwriter/role", json={"role": "admin"}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert client.post("/api/v1/users/underwriter/disable", headers=admin).is_success
    assert client.post("/api/v1/users/admin/disable", headers=admin).status_code == 409
    assert client.post("/api/v1/users/underwriter/enable", headers=admin).is_success
    second = login(client, "underwriter")
    r = client.put("/api/v1/users/admin/role", json={"role": "adjuster"}, headers=admin)
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/users", headers=admin).status_code == 403  # at once
    r = client.post("/api/v1/users/underwriter/disable", headers=second)
    assert r.status_code == 409 and "underwriter is the last active admin" in r.text


def test_two_admins_stepping_down_at_once_leave_one(app: AppContext) -> None:
    store = UserStore(app.engine)
    for name in ("a1", "a2"):
        store.create(name, PASSWORD, "admin")
    admin = UserAdmin(app.ledger)
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def step_down(name: str) -> None:
        start.wait()
        try:
            admin.set_role(name, "adjuster", None, name)
            outcomes[name] = "done"
        except ConflictError as exc:
            outcomes[name] = str(exc)

    threads = [threading.Thread(target=step_down, args=(n,)) for n in ("a1", "a2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    done, refused = sorted(outcomes.values(), key=lambda o: o != "done")
    assert done == "done" and "is the last active admin" in refused
    assert [u.role for u in store.list()[0]].count("admin") == 1
    assert len(_events(app, "user.role_changed")) == 1


def test_the_service_names_unknown_users(app: AppContext) -> None:
    admin = UserAdmin(app.ledger)
    for call in (
        lambda: admin.user("ghost"),
        lambda: admin.disable("ghost", "op"),
        lambda: admin.enable("ghost", "op"),
        lambda: admin.set_role("ghost", "adjuster", None, "op"),
        lambda: admin.reset_password("ghost", NEW_PASSWORD, "op"),
    ):
        with pytest.raises(NotFoundError, match="'ghost' is not known") as info:
            call()
        assert info.value.field == "username"
    assert app.ledger.store.size() == 0


# --- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def env(db_url: str, tmp_path: Path, key_file: Path) -> dict[str, str]:
    return {
        "AGRI_DATABASE_URL": db_url,
        "AGRI_DATA_DIR": str(tmp_path / "var"),
        "AGRI_LEDGER_KEY_FILE": str(key_file),
        "AGRI_ANCHOR_ENABLED": "false",
    }


def _agri(env: dict[str, str], *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(cli, ["users", *args], env=env, input=input, obj={})


def _one_line_error(result: Any, *words: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for w in words:
        assert w in lines[0], result.output


def test_agri_users_disable_enable_role_list_passwd(
    uw: UnderwritingService, app: AppContext, env: dict[str, str], tmp_path: Path
) -> None:
    store = UserStore(app.engine)
    store.create("boss", PASSWORD, "admin")
    store.create("li", PASSWORD, "field_agent")
    token, _, _ = store.login("li", PASSWORD)

    r = _agri(env, "disable", "li")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {
        "username": "li",
        "role": "field_agent",
        "farmer_id": None,
        "disabled": True,
    }
    assert store.user_for(token) is None
    r = _agri(env, "enable", "li", "--actor", "ops.wang")
    assert r.exit_code == 0 and json.loads(r.output)["disabled"] is False
    assert _events(app, "user.disabled")[0]["actor"] == "operator"
    assert _events(app, "user.enabled")[0]["actor"] == "ops.wang"

    r = _agri(env, "role", "li", "farmer", "--farmer-id", "F-1")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["farmer_id"] == "F-1"
    r = _agri(env, "list")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == [
        {"username": "boss", "role": "admin", "farmer_id": None, "disabled": False},
        {"username": "li", "role": "farmer", "farmer_id": "F-1", "disabled": False},
    ]

    r = _agri(env, "passwd", "li", input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert r.exit_code == 0, r.output
    store.login("li", NEW_PASSWORD)
    secret = tmp_path / "pw.txt"
    secret.write_text("from a file, at last\n")
    r = _agri(env, "passwd", "li", "--password-file", str(secret))
    assert r.exit_code == 0, r.output
    store.login("li", "from a file, at last")
    kinds = [e["type"] for e in _events(app)]
    assert kinds.count("user.password_reset") == 2
    log = b"".join(e.data for e in app.ledger.store.iter_entries())
    assert b"from a file" not in log and NEW_PASSWORD.encode() not in log


def test_agri_users_refusals_are_one_line_exit_2(
    uw: UnderwritingService, app: AppContext, env: dict[str, str], tmp_path: Path
) -> None:
    store = UserStore(app.engine)
    store.create("boss", PASSWORD, "admin")
    store.create("li", PASSWORD, "field_agent")
    size = app.ledger.store.size()
    _one_line_error(_agri(env, "disable", "ghost"), "'ghost' is not known")
    _one_line_error(_agri(env, "enable", "ghost"), "'ghost' is not known")
    _one_line_error(_agri(env, "disable", "boss"), "last active admin")
    _one_line_error(_agri(env, "role", "boss", "adjuster"), "last active admin")
    _one_line_error(_agri(env, "role", "li", "boss"), "role 'boss'", "adjuster")
    _one_line_error(_agri(env, "role", "li", "farmer"), "needs the farmer id")
    _one_line_error(
        _agri(env, "role", "li", "farmer", "--farmer-id", "F-404"),
        "'F-404' is not registered",
    )
    short = tmp_path / "short.txt"
    short.write_text("short\n")
    _one_line_error(
        _agri(env, "passwd", "li", "--password-file", str(short)), "at least 10"
    )
    _one_line_error(
        _agri(env, "passwd", "li", "--password-file", str(tmp_path / "none.txt")),
        "--password-file",
        "none.txt",
    )
    assert app.ledger.store.size() == size
    store.login("li", PASSWORD)  # unchanged
    # The prompt asks twice; two different answers are asked again.
    r = _agri(
        env,
        "passwd",
        "li",
        input=f"{NEW_PASSWORD}\nsomething else\n{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )
    assert r.exit_code == 0, r.output
    assert "do not match" in r.output
    store.login("li", NEW_PASSWORD)
