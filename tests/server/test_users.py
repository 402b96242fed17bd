"""A farmer user names a registered farmer: the API and ``agri users add`` refuse another."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from server.context import AppContext
from server.services.auth import AuthError, UnknownFarmerError, UserStore
from server.services.underwriting import UnderwritingService
from tests.server.test_api_flows import PASSWORD, login


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
