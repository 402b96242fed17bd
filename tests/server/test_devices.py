"""Devices of field agents over HTTP: register, list, revoke, with their ledger events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.context import AppContext
from server.http.app import create_app
from server.services.auth import ROLES, UserStore
from tests.claims.capture_phone import Phone

PASSWORD = "correct horse battery"
DEVICES = "/api/v1/devices"


@pytest.fixture
def client(app: AppContext) -> Iterator[TestClient]:
    store = UserStore(app.engine)
    for role in ROLES:
        store.create(role, PASSWORD, role, "F-1" if role == "farmer" else None)
    store.create("field_agent_2", PASSWORD, "field_agent", None)
    with TestClient(create_app(app), raise_server_exceptions=False) as c:
        yield c


def login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def events(app: AppContext, kind: str) -> list[dict[str, Any]]:
    docs = [json.loads(e.data) for e in app.ledger.store.iter_entries()]
    return [d for d in docs if d["type"] == kind]


def register(
    client: TestClient, who: dict[str, str], phone: Phone, label: str = "phone"
) -> Any:
    return client.post(
        DEVICES, json={"public_key": phone.jwk(), "label": label}, headers=who
    )


def test_an_agent_registers_a_key_once_and_the_same_key_gives_the_same_device(
    client: TestClient, app: AppContext
) -> None:
    agent = login(client, "field_agent")
    phone = Phone()
    first = register(client, agent, phone, "Li Wei's phone")
    assert first.status_code == 201, first.text
    device = first.json()
    assert device["device_id"].startswith("dev_") and len(device["device_id"]) == 36
    assert (device["status"], device["agent"], device["label"]) == (
        "active",
        "field_agent",
        "Li Wei's phone",
    )
    again = register(client, agent, phone, "another label")
    assert again.status_code == 200
    assert again.json() == device
    (event,) = events(app, "device.registered")
    assert event["subjects"] == {"device": device["device_id"], "agent": "field_agent"}
    assert event["payload"]["public_key"] == {
        k: phone.jwk()[k] for k in ("crv", "kty", "x", "y")
    }
    assert event["payload"]["thumbprint"] == device["thumbprint"]
    second = register(client, agent, Phone())
    assert second.status_code == 201
    assert second.json()["device_id"] != device["device_id"]


def test_a_key_registered_to_another_agent_is_refused(client: TestClient) -> None:
    phone = Phone()
    assert register(client, login(client, "field_agent"), phone).status_code == 201
    r = register(client, login(client, "field_agent_2"), phone)
    assert (r.status_code, r.json()["field"]) == (409, "public_key")
    assert "another agent" in r.json()["detail"]


@pytest.mark.parametrize(
    ("key", "detail"),
    [
        (Phone().private_jwk(), "private key"),
        (Phone().jwk() | {"crv": "P-384"}, "crv must be P-256"),
        (Phone().jwk() | {"kty": "OKP", "crv": "Ed25519"}, "kty must be EC"),
        (Phone().jwk() | {"x": "AAAA"}, "x must be 32 bytes"),
        (Phone().jwk() | {"y": "A" * 43}, "not on P-256"),
    ],
)
def test_a_key_that_is_not_an_ec_p256_public_jwk_is_refused(
    client: TestClient, app: AppContext, key: dict[str, Any], detail: str
) -> None:
    r = client.post(
        DEVICES,
        json={"public_key": key, "label": "phone"},
        headers=login(client, "field_agent"),
    )
    assert (r.status_code, r.json()["field"]) == (422, "public_key"), r.text
    assert detail in r.json()["detail"]
    assert events(app, "device.registered") == []


def test_only_field_agents_register_and_the_body_is_checked(client: TestClient) -> None:
    r = register(client, login(client, "adjuster"), Phone())
    assert r.status_code == 403
    agent = login(client, "field_agent")
    r = client.post(
        DEVICES, json={"public_key": "not a key", "label": "x"}, headers=agent
    )
    assert (r.status_code, r.json()["field"]) == (422, "public_key")
    r = client.post(
        DEVICES, json={"public_key": Phone().jwk(), "label": ""}, headers=agent
    )
    assert (r.status_code, r.json()["field"]) == (422, "label")
    r = client.post(
        DEVICES, json={"public_key": Phone().jwk(), "label": "   "}, headers=agent
    )
    assert (r.status_code, r.json()["field"]) == (422, "label")


def test_an_agent_lists_own_devices_and_an_admin_all(client: TestClient) -> None:
    one, two = login(client, "field_agent"), login(client, "field_agent_2")
    mine = [register(client, one, Phone(), f"p{i}").json() for i in range(3)]
    theirs = register(client, two, Phone()).json()
    got = client.get(DEVICES, headers=one).json()
    assert got["total"] == 3
    assert {d["device_id"] for d in got["items"]} == {d["device_id"] for d in mine}
    page = client.get(
        DEVICES, params={"limit": 2, "offset": 0}, headers=login(client, "admin")
    ).json()
    assert (page["total"], len(page["items"]), page["limit"]) == (4, 2, 2)
    rest = client.get(
        DEVICES, params={"limit": 2, "offset": 2}, headers=login(client, "admin")
    ).json()
    every = {d["device_id"] for d in page["items"] + rest["items"]}
    assert every == {d["device_id"] for d in [*mine, theirs]}
    assert client.get(DEVICES, headers=login(client, "underwriter")).status_code == 403


def test_revoke_by_the_agent_or_an_admin_never_by_another_agent(
    client: TestClient, app: AppContext
) -> None:
    one, two = login(client, "field_agent"), login(client, "field_agent_2")
    a = register(client, one, Phone()).json()["device_id"]
    b = register(client, one, Phone()).json()["device_id"]
    refused = client.post(f"{DEVICES}/{a}/revoke", headers=two)
    assert refused.status_code == 403 and "another agent" in refused.json()["detail"]
    assert events(app, "device.revoked") == []
    own = client.post(f"{DEVICES}/{a}/revoke", headers=one)
    assert own.status_code == 200, own.text
    assert (own.json()["status"], own.json()["revoked_by"]) == (
        "revoked",
        "field_agent",
    )
    assert own.json()["revoked_at"] is not None
    by_admin = client.post(f"{DEVICES}/{b}/revoke", headers=login(client, "admin"))
    assert (by_admin.json()["status"], by_admin.json()["revoked_by"]) == (
        "revoked",
        "admin",
    )
    again = client.post(f"{DEVICES}/{a}/revoke", headers=one)
    assert again.status_code == 200 and again.json() == own.json()
    revoked = events(app, "device.revoked")
    assert [(e["subjects"]["device"], e["actor"]) for e in revoked] == [
        (a, "field_agent"),
        (b, "admin"),
    ]
    missing = client.post(f"{DEVICES}/dev_nothing/revoke", headers=one)
    assert (missing.status_code, missing.json()["field"]) == (404, "device_id")
    assert (
        client.post(
            f"{DEVICES}/{a}/revoke", headers=login(client, "farmer")
        ).status_code
        == 403
    )


def test_a_revoked_key_registered_again_stays_revoked(client: TestClient) -> None:
    agent = login(client, "field_agent")
    phone = Phone()
    device = register(client, agent, phone).json()["device_id"]
    client.post(f"{DEVICES}/{device}/revoke", headers=agent)
    again = register(client, agent, phone)
    assert again.status_code == 200
    assert (again.json()["device_id"], again.json()["status"]) == (device, "revoked")


def test_a_registration_retried_with_its_key_is_replayed(
    client: TestClient, app: AppContext
) -> None:
    agent = login(client, "field_agent") | {"Idempotency-Key": "register-1"}
    body = {"public_key": Phone().jwk(), "label": "phone"}
    first = client.post(DEVICES, json=body, headers=agent)
    retry = client.post(DEVICES, json=body, headers=agent)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert len(events(app, "device.registered")) == 1


def test_after_an_admin_revokes_a_device_new_ones_await_approval(
    client: TestClient, app: AppContext
) -> None:
    agent, admin = login(client, "field_agent"), login(client, "admin")
    # The agent revoking their own phone (lost, replaced): the next is active.
    own = register(client, agent, Phone()).json()["device_id"]
    client.post(f"{DEVICES}/{own}/revoke", headers=agent)
    assert register(client, agent, Phone()).json()["status"] == "active"
    # An admin revoking one: the agent's login alone no longer approves.
    client.post(f"{DEVICES}/{own}/revoke", headers=admin)  # already revoked: no change
    assert register(client, agent, Phone()).json()["status"] == "active"
    seized = register(client, agent, Phone()).json()["device_id"]
    client.post(f"{DEVICES}/{seized}/revoke", headers=admin)
    new = register(client, agent, Phone())
    assert (new.status_code, new.json()["status"]) == (201, "pending")
    device = new.json()["device_id"]
    (event,) = [
        e for e in events(app, "device.registered") if e["subjects"]["device"] == device
    ]
    assert event["payload"]["status"] == "pending"
    # Another agent is not concerned.
    other = register(client, login(client, "field_agent_2"), Phone())
    assert other.json()["status"] == "active"
    # Only an admin approves.
    for who in (agent, login(client, "adjuster")):
        assert (
            client.post(f"{DEVICES}/{device}/approve", headers=who).status_code == 403
        )
    approved = client.post(f"{DEVICES}/{device}/approve", headers=admin)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active"
    again = client.post(f"{DEVICES}/{device}/approve", headers=admin)
    assert again.json() == approved.json()
    assert [
        (e["subjects"]["device"], e["actor"]) for e in events(app, "device.approved")
    ] == [(device, "admin")]
    # A revoked device is not approved back; an unknown one is not found.
    refused = client.post(f"{DEVICES}/{seized}/approve", headers=admin)
    assert (refused.status_code, refused.json()["field"]) == (409, "device_id")
    missing = client.post(f"{DEVICES}/dev_{'0' * 32}/approve", headers=admin)
    assert missing.status_code == 404
    # A pending device may be revoked (by its agent too).
    pending = register(client, agent, Phone()).json()
    assert pending["status"] == "pending"
    gone = client.post(f"{DEVICES}/{pending['device_id']}/revoke", headers=agent)
    assert gone.json()["status"] == "revoked"


@pytest.mark.postgres
def test_a_revocation_waits_for_the_upload_that_read_the_device(
    app: AppContext, client: TestClient
) -> None:
    """The verdicts lock the devices they read (FOR SHARE) until the upload commits."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from server.services.devices import SignedPhoto

    if app.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's (SQLite has one writer at a time)")
    agent = login(client, "field_agent")
    phone = Phone()
    phone.device_id = register(client, agent, phone).json()["device_id"]
    data = b"\xff\xd8 a photo \xff\xd9"
    signed, signature = phone.capture("field_agent", data)
    service = app.devices
    with app.engine.begin() as upload:
        (verdict,) = service.verdicts(
            upload, "field_agent", [SignedPhoto(data, signed, signature)]
        )
        assert verdict.light == "green", verdict.message
        # While the upload's transaction is open, the revocation cannot pass it.
        with app.engine.connect() as other, other.begin():
            other.execute(text("SET LOCAL lock_timeout = '300ms'"))
            with pytest.raises(OperationalError):
                service.revoke(
                    phone.device_id, actor="admin", any_agent=True, conn=other
                )
    # Once it has committed, the revocation goes through.
    revoked = service.revoke(phone.device_id, actor="admin", any_agent=True)
    assert revoked.status == "revoked"


def test_verdicts_read_before_a_revocation_are_refused_in_the_storing_transaction(
    app: AppContext, client: TestClient
) -> None:
    """Verdicts judged on one connection are confirmed under a lock where photos are stored."""
    from server.errors import ConflictError
    from server.services.devices import SignedPhoto

    agent = login(client, "field_agent")
    phone = Phone()
    phone.device_id = register(client, agent, phone).json()["device_id"]
    data = b"\xff\xd8 a photo \xff\xd9"
    signed, signature = phone.capture("field_agent", data)
    service = app.devices
    with app.engine.connect() as read:
        verdicts = service.verdicts(
            read, "field_agent", [SignedPhoto(data, signed, signature)]
        )
    assert verdicts[0].light == "green"
    with app.engine.begin() as store:
        service.confirm(store, verdicts)  # nothing changed: fine
    client.post(f"{DEVICES}/{phone.device_id}/revoke", headers=agent)
    with app.engine.begin() as store, pytest.raises(ConflictError, match="revoked"):
        service.confirm(store, verdicts)
