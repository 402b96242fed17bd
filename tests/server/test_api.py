"""The HTTP API so far: health, login with argon2 and expiring tokens, roles, receipts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from ledger import Event, verify_receipt
from ledger.models import Receipt
from server.api import create_app
from server.auth import ROLES, AuthError, UserStore
from server.context import AppContext
from server.db import api_tokens, users

PASSWORD = "correct horse battery"


@pytest.fixture
def client(app: AppContext) -> Iterator[TestClient]:
    store = UserStore(app.engine)
    for role in ROLES:
        store.create(role, PASSWORD, role, "F-1" if role == "farmer" else None)
    store.create("other_farmer", PASSWORD, "farmer", "F-2")
    event = Event(
        "policy.issued",
        {"farmer": "F-1", "policy": "P-1"},
        "underwriter",
        datetime.now(UTC),
        {"premium_cents": 48000},
    )
    app.ledger.append([event.to_canonical_bytes()])
    with TestClient(create_app(app), raise_server_exceptions=False) as c:
        yield c


def login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_health(client: TestClient) -> None:
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "ledger_size": 1}


def test_passwords_are_argon2_hashes_and_wrong_ones_fail(
    client: TestClient, app: AppContext
) -> None:
    with app.engine.connect() as conn:
        stored = conn.execute(
            select(users.c.password_hash).where(users.c.username == "admin")
        ).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    r = client.post(
        "/api/v1/auth/token", json={"username": "admin", "password": "wrong password!"}
    )
    assert (r.status_code, r.json()["detail"]) == (401, "wrong username or password")
    r = client.post(
        "/api/v1/auth/token", json={"username": "nobody", "password": PASSWORD}
    )
    assert r.status_code == 401


def test_tokens_expire(client: TestClient, app: AppContext) -> None:
    headers = login(client, "adjuster")
    assert client.get("/api/v1/ledger/receipts/0", headers=headers).status_code == 200
    with app.engine.begin() as conn:
        conn.execute(
            update(api_tokens).values(expires_at=datetime(2000, 1, 1, tzinfo=UTC))
        )
    r = client.get("/api/v1/ledger/receipts/0", headers=headers)
    assert (r.status_code, r.json()["detail"]) == (
        401,
        "the token is unknown or expired: log in again",
    )
    assert client.get("/api/v1/ledger/receipts/0").status_code == 401


def test_receipts_verify_offline_and_farmers_see_only_their_own(
    client: TestClient, app: AppContext
) -> None:
    r = client.get("/api/v1/ledger/receipts/0", headers=login(client, "farmer"))
    assert r.status_code == 200
    receipt = Receipt.from_json(r.json())
    assert verify_receipt(receipt, [app.ledger.verifier]).size >= 1
    r = client.get("/api/v1/ledger/receipts/0", headers=login(client, "other_farmer"))
    assert (r.status_code, r.json()["detail"]) == (
        403,
        "entry 0 is not one of your records",
    )
    r = client.get("/api/v1/ledger/receipts/99", headers=login(client, "underwriter"))
    assert (r.status_code, r.json()["detail"]) == (404, "no ledger entry 99")
    assert (
        client.get(
            "/api/v1/ledger/receipts/abc", headers=login(client, "admin")
        ).status_code
        == 422
    )


def test_users_are_validated(app: AppContext) -> None:
    store = UserStore(app.engine)
    with pytest.raises(AuthError, match="role 'vet'"):
        store.create("v", PASSWORD, "vet")
    with pytest.raises(AuthError, match="farmer id"):
        store.create("f", PASSWORD, "farmer")
    with pytest.raises(AuthError, match="at least 10"):
        store.create("s", "short", "admin")
    store.create("dup", PASSWORD, "admin")
    with pytest.raises(AuthError, match="taken"):
        store.create("dup", PASSWORD, "admin")


def test_openapi_schema_is_served(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/ledger/receipts/{index}" in doc["paths"]


CLAIM = {
    "policy_id": "P-1",
    "farmer_id": "F-1",
    "subject_kind": "animal",
    "subject_id": "998230000006455",
    "event_date": "2026-05-10T06:00:00Z",
    "amount": "7500.00",
}


def events_of(app: AppContext, kind: str) -> int:
    return sum(
        json.loads(e.data)["type"] == kind for e in app.ledger.store.iter_entries()
    )


def test_filing_a_claim_is_idempotent(client: TestClient, app: AppContext) -> None:
    agent = login(client, "field_agent") | {"Idempotency-Key": "phone-42-claim-1"}
    first = client.post("/api/v1/claims", json=CLAIM, headers=agent)
    assert first.status_code == 201, first.text
    retry = client.post("/api/v1/claims", json=CLAIM, headers=agent)
    assert (retry.status_code, retry.json()["id"]) == (201, first.json()["id"])
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert events_of(app, "claim.filed") == 1
    other = client.post(
        "/api/v1/claims", json=CLAIM | {"amount": "9000"}, headers=agent
    )
    assert other.status_code == 422
    assert "used before with a different request" in other.json()["detail"]


def test_bad_claims_name_the_field_and_write_nothing(
    client: TestClient, app: AppContext
) -> None:
    agent = login(client, "field_agent")
    future = client.post(
        "/api/v1/claims",
        json=CLAIM | {"event_date": "2099-01-01T00:00:00Z"},
        headers=agent,
    )
    assert (future.status_code, future.json()["detail"]) == (
        422,
        "event_date is in the future",
    )
    bad_amount = client.post(
        "/api/v1/claims", json=CLAIM | {"amount": "lots"}, headers=agent
    )
    assert bad_amount.status_code == 422 and "amount" in bad_amount.json()["detail"]
    malformed = client.post(
        "/api/v1/claims",
        content=b"{not json",
        headers=agent | {"content-type": "application/json"},
    )
    assert malformed.status_code == 422
    wrong_type = client.post(
        "/api/v1/claims",
        content=b"policy_id=P-1",
        headers=agent | {"content-type": "text/plain"},
    )
    assert wrong_type.status_code == 422
    missing = client.post(
        "/api/v1/claims",
        json={k: v for k, v in CLAIM.items() if k != "subject_id"},
        headers=agent,
    )
    assert missing.status_code == 422 and "subject_id" in missing.text
    assert (
        client.post(
            "/api/v1/claims", json=CLAIM, headers=login(client, "farmer")
        ).status_code
        == 403
    )
    assert events_of(app, "claim.filed") == 0


def test_decide_and_pay_once_even_when_retried_or_concurrent(
    client: TestClient, app: AppContext
) -> None:
    claim_id = client.post(
        "/api/v1/claims", json=CLAIM, headers=login(client, "field_agent")
    ).json()["id"]
    adjuster = login(client, "adjuster")
    assert (
        client.post(
            f"/api/v1/claims/{claim_id}/payment",
            json={"payment_ref": "X"},
            headers=adjuster,
        ).status_code
        == 409
    )
    decision = client.post(
        f"/api/v1/claims/{claim_id}/decision", json={"approve": True}, headers=adjuster
    )
    assert decision.json()["status"] == "approved"
    results: list[int] = []

    def pay(n: int) -> None:
        r = client.post(
            f"/api/v1/claims/{claim_id}/payment",
            json={"payment_ref": f"PAY-{n}"},
            headers=adjuster,
        )
        results.append(r.status_code)

    threads = [threading.Thread(target=pay, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 6
    assert events_of(app, "claim.paid") == 1
    farmer = client.get(f"/api/v1/claims/{claim_id}", headers=login(client, "farmer"))
    assert farmer.json()["status"] == "paid"
    assert (
        client.get(
            f"/api/v1/claims/{claim_id}", headers=login(client, "other_farmer")
        ).status_code
        == 403
    )
    assert client.get("/api/v1/claims/missing", headers=adjuster).status_code == 404


# Which roles each endpoint admits; every other role must get 403.
MATRIX = {
    ("GET", "/api/v1/ledger/receipts/0"): {
        "farmer",
        "field_agent",
        "underwriter",
        "adjuster",
        "admin",
    },
    ("POST", "/api/v1/claims"): {"field_agent"},
    ("GET", "/api/v1/claims/{claim}"): {"farmer", "adjuster", "field_agent", "admin"},
    ("POST", "/api/v1/claims/{claim}/decision"): {"adjuster"},
    ("POST", "/api/v1/claims/{claim}/payment"): {"adjuster"},
    ("POST", "/api/v1/photos/check"): {"field_agent"},
}
BODIES = {
    "/api/v1/claims": CLAIM,
    "/api/v1/claims/{claim}/decision": {"approve": True},
    "/api/v1/claims/{claim}/payment": {"payment_ref": "PAY-1"},
}


@pytest.mark.parametrize("role", ROLES)
def test_role_endpoint_matrix(client: TestClient, role: str) -> None:
    claim_id = client.post(
        "/api/v1/claims", json=CLAIM, headers=login(client, "field_agent")
    ).json()["id"]
    headers = login(client, role)
    for (method, template), allowed in MATRIX.items():
        path = template.replace("{claim}", claim_id)
        if template == "/api/v1/photos/check":
            r = client.post(
                path,
                files=[("files", ("p.png", _dark_png(), "image/png"))],
                headers=headers,
            )
        else:
            r = client.request(method, path, json=BODIES.get(template), headers=headers)
        if role in allowed:
            assert r.status_code != 403, (role, method, template, r.text)
        else:
            assert r.status_code == 403, (role, method, template, r.status_code)
            assert f"role {role} may not do this" in r.json()["detail"]


def test_photo_quality_gate_over_http(client: TestClient, shared_data) -> None:
    from pathlib import Path

    cow = next((Path(shared_data) / "cattle_faces").glob("*/2025*.jpg")).read_bytes()
    agent = login(client, "field_agent")
    files = [
        ("files", ("cow.jpg", cow, "image/jpeg")),
        ("files", ("dark.png", _dark_png(), "image/png")),
    ]
    r = client.post("/api/v1/photos/check", files=files, headers=agent)
    assert r.status_code == 200, r.text
    results = {p["name"]: p for p in r.json()["photos"]}
    assert results["cow.jpg"]["passed"] is True
    assert "too_dark" in results["dark.png"]["reasons"]
    broken = client.post(
        "/api/v1/photos/check",
        files=[("files", ("x.jpg", b"\xff\xd8", "image/jpeg"))],
        headers=agent,
    )
    assert broken.status_code == 422 and "x.jpg" in broken.json()["detail"]
    big = client.post(
        "/api/v1/photos/check",
        files=[("files", ("big.jpg", b"\0" * (26 << 20), "image/jpeg"))],
        headers=agent,
    )
    assert big.status_code == 413 and "big.jpg" in big.json()["detail"]
    assert (
        client.post(
            "/api/v1/photos/check", files=files, headers=login(client, "farmer")
        ).status_code
        == 403
    )


def _dark_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (100, 180), (3, 3, 3)).save(buf, "PNG")
    return buf.getvalue()
