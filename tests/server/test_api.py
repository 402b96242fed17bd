"""The HTTP API so far: health, login with argon2 and expiring tokens, roles, receipts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from argon2 import PasswordHasher, extract_parameters
from fastapi.testclient import TestClient
from shapely import Polygon, box
from sqlalchemy import select, update

from ledger import Event, verify_receipt
from ledger.models import Receipt
from remote_sensing import plots_from_geometries
from server.context import AppContext
from server.http.app import create_app
from server.services.auth import ROLES, AuthError, UserStore
from server.storage.schema import api_tokens, users
from tests.server.notices import clear_for_payment
from underwriting.money import Money
from underwriting.products import CropProduct

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


@pytest.mark.usefixtures("production_password_hashes")
def test_passwords_are_argon2_hashes_and_wrong_ones_fail(
    client: TestClient, app: AppContext
) -> None:
    with app.engine.connect() as conn:
        stored = conn.execute(
            select(users.c.password_hash).where(users.c.username == "admin")
        ).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    # argon2-cffi's own parameters (RFC 9106's low-memory choice: 64 MiB, 3 passes)
    assert extract_parameters(stored) == extract_parameters(PasswordHasher().hash("x"))
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


def test_admins_create_users_over_http(client: TestClient) -> None:
    admin = login(client, "admin")
    r = client.post(
        "/api/v1/users",
        json={"username": "li.wei", "password": PASSWORD, "role": "field_agent"},
        headers=admin,
    )
    assert r.status_code == 201 and "password" not in r.json()
    assert login(client, "li.wei")
    farmer = client.post(
        "/api/v1/users",
        json={"username": "f9", "password": PASSWORD, "role": "farmer"},
        headers=admin,
    )
    assert farmer.status_code == 422 and "farmer id" in farmer.json()["detail"]
    vet = client.post(
        "/api/v1/users",
        json={"username": "v", "password": PASSWORD, "role": "vet"},
        headers=admin,
    )
    assert vet.status_code == 422 and "role" in vet.text
    listed = client.get("/api/v1/users?limit=3", headers=admin).json()
    assert listed["total"] == len(ROLES) + 2 and len(listed["items"]) == 3


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


def events_of(app: AppContext, kind: str) -> int:
    return sum(
        json.loads(e.data)["type"] == kind for e in app.ledger.store.iter_entries()
    )


def square(lon: float, lat: float, side_deg: float = 0.002) -> Polygon:
    return box(lon, lat, lon + side_deg, lat + side_deg)


@pytest.fixture
def policy(app: AppContext) -> str:
    """Farmer F-1 (the farmer user's records) holds a crop policy on plot P1."""
    uw = app.underwriting
    uw.register_farmer("F-1", "Wang", "Shaanxi", lat=34.30, lon=108.90, actor="admin")
    uw.register_farmer("F-2", "Li", "Shaanxi", actor="admin")
    uw.add_product(
        CropProduct("WHEAT", Money.parse("900"), "mu", Decimal("0.06")), actor="admin"
    )
    today = datetime.now(UTC).date()
    plots = plots_from_geometries([square(108.90, 34.30)], 4326, ids=["P1"])
    application = uw.apply_crop(
        "F-1",
        "WHEAT",
        plots,
        start=today - timedelta(days=100),
        end=today + timedelta(days=200),
        actor="agent",
    )
    assert application.light == "amber"  # no declared area to compare
    approved = uw.decide(application.id, "approve", actor="uw", reason="surveyed")
    assert approved.policy_id is not None
    return approved.policy_id


def claim_body(policy_id: str) -> dict[str, object]:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    return {
        "policy_id": policy_id,
        "farmer_id": "F-1",
        "subject_kind": "plot",
        "subject_id": "P1",
        "event_date": yesterday.isoformat(),
        "claimed_fraction": 0.5,
    }


def test_filing_a_claim_is_idempotent(
    client: TestClient, app: AppContext, policy: str
) -> None:
    agent = login(client, "field_agent") | {"Idempotency-Key": "phone-42-claim-1"}
    body = claim_body(policy)
    first = client.post("/api/v1/claims", json=body, headers=agent)
    assert first.status_code == 201, first.text
    doc = first.json()
    assert doc["light"] == "amber" and doc["status"] == "filed"
    assert {c["code"]: c["light"] for c in doc["checks"]} == {
        "notice": "green",
        "cover": "green",
        "covered": "green",
        "duplicate_claim": "green",
        "claimed_area": "green",
        "measured_damage": "amber",
    }
    retry = client.post("/api/v1/claims", json=body, headers=agent)
    assert (retry.status_code, retry.json()["id"]) == (201, doc["id"])
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert events_of(app, "claim.filed") == 1
    other = client.post(
        "/api/v1/claims", json=body | {"claimed_fraction": 0.9}, headers=agent
    )
    assert other.status_code == 422
    assert "used before with a different request" in other.json()["detail"]
    # Without the key, the same claim again is a second claim: flagged as a duplicate.
    second = client.post(
        "/api/v1/claims", json=body, headers=login(client, "field_agent")
    )
    dup = {c["code"]: c for c in second.json()["checks"]}["duplicate_claim"]
    assert dup["light"] == "red" and doc["id"][:8] in dup["reason"]


def test_bad_claims_name_the_field_and_write_nothing(
    client: TestClient, app: AppContext, policy: str
) -> None:
    agent = login(client, "field_agent")
    body = claim_body(policy)

    def refused(payload: object, field: str, code: int = 422) -> str:
        r = client.post("/api/v1/claims", json=payload, headers=agent)
        assert r.status_code == code, r.text
        assert field in r.text
        return str(r.json()["detail"])

    assert refused(body | {"event_date": "2099-01-01"}, "event_date") == (
        "event_date is in the future"
    )
    assert "not a policy of farmer F-2" in refused(
        body | {"farmer_id": "F-2"}, "policy_id"
    )
    assert "no policy" in refused(body | {"policy_id": "nope"}, "policy_id", 404)
    assert "not in policy" in refused(body | {"subject_id": "P9"}, "subject_id")
    refused(body | {"subject_kind": "animal", "market_value": "10"}, "subject_kind")
    refused(body | {"claimed_fraction": 1.5}, "claimed_fraction")
    refused(body | {"growth_stage": "flowering"}, "growth_stage")
    refused({k: v for k, v in body.items() if k != "subject_id"}, "subject_id")
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
    assert (
        client.post(
            "/api/v1/claims", json=body, headers=login(client, "farmer")
        ).status_code
        == 403
    )
    assert events_of(app, "claim.filed") == 0


def second_adjuster(client: TestClient, app: AppContext) -> dict[str, str]:
    """Another adjuster: the four-eyes rule keeps the approver from paying."""
    UserStore(app.engine).create("adjuster-2", PASSWORD, "adjuster")
    return login(client, "adjuster-2")


def test_decide_and_pay_once_even_when_retried_or_concurrent(
    client: TestClient, app: AppContext, policy: str
) -> None:
    claim_id = client.post(
        "/api/v1/claims", json=claim_body(policy), headers=login(client, "field_agent")
    ).json()["id"]
    adjuster = login(client, "adjuster")
    early = client.post(
        f"/api/v1/claims/{claim_id}/payment",
        json={"payment_ref": "X"},
        headers=adjuster,
    )
    assert early.status_code == 409
    no_reason = client.post(
        f"/api/v1/claims/{claim_id}/decision",
        json={"decision": "reject"},
        headers=adjuster,
    )
    assert (no_reason.status_code, no_reason.json()["field"]) == (422, "reason")
    survey = client.post(
        f"/api/v1/claims/{claim_id}/decision",
        json={"decision": "survey", "reason": "hail: walk the field"},
        headers=adjuster,
    )
    assert survey.json()["status"] == "survey"
    # The claim is amber (damage not yet measured): approving it needs a reason.
    unexplained = client.post(
        f"/api/v1/claims/{claim_id}/decision",
        json={"decision": "approve"},
        headers=adjuster,
    )
    assert (unexplained.status_code, unexplained.json()["field"]) == (422, "reason")
    decision = client.post(
        f"/api/v1/claims/{claim_id}/decision",
        json={"decision": "approve", "reason": "surveyed: hail damage confirmed"},
        headers=adjuster,
    )
    assert decision.json()["status"] == "approved"
    clear_for_payment(app, claim_id)
    results: list[int] = []
    second = second_adjuster(client, app)

    def pay(n: int) -> None:
        r = client.post(
            f"/api/v1/claims/{claim_id}/payment",
            json={"payment_ref": f"PAY-{n}"},
            headers=second,
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


def test_concurrent_approvals_pay_once(
    client: TestClient, app: AppContext, policy: str
) -> None:
    """Adjusters approving at the same moment: one approval; paying at once: one payment."""
    claim_id = client.post(
        "/api/v1/claims", json=claim_body(policy), headers=login(client, "field_agent")
    ).json()["id"]
    adjuster = login(client, "adjuster")
    codes: list[int] = []

    def approve_and_pay(n: int) -> None:
        r = client.post(
            f"/api/v1/claims/{claim_id}/decision",
            json={"decision": "approve", "reason": "damage seen on site"},
            headers=adjuster,
        )
        codes.append(r.status_code)

    def pay(n: int) -> None:
        client.post(
            f"/api/v1/claims/{claim_id}/payment",
            json={"payment_ref": f"PAY-{n}"},
            headers=adjuster,
        )

    threads = [threading.Thread(target=approve_and_pay, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    clear_for_payment(app, claim_id)  # its claims notice, then the objection period
    threads = [threading.Thread(target=pay, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409, 409, 409]
    assert events_of(app, "claim.approved") == 1
    assert events_of(app, "claim.paid") == 1


def test_lists_are_paginated_and_farmers_see_their_own(
    client: TestClient, app: AppContext, policy: str
) -> None:
    agent = login(client, "field_agent")
    body = claim_body(policy)
    for i in range(5):
        event = (
            datetime.now(UTC).date() - timedelta(days=1 + 40 * (i % 2))
        ).isoformat()
        assert (
            client.post(
                "/api/v1/claims", json=body | {"event_date": event}, headers=agent
            ).status_code
            == 201
        )
    adjuster = login(client, "adjuster")
    first = client.get("/api/v1/claims?limit=2", headers=adjuster).json()
    second = client.get("/api/v1/claims?limit=2&offset=2", headers=adjuster).json()
    assert (first["total"], len(first["items"]), len(second["items"])) == (5, 2, 2)
    assert not {c["id"] for c in first["items"]} & {c["id"] for c in second["items"]}
    assert client.get("/api/v1/claims?limit=500", headers=adjuster).status_code == 422
    mine = client.get("/api/v1/claims", headers=login(client, "farmer")).json()
    assert mine["total"] == 5
    assert (
        client.get("/api/v1/claims", headers=login(client, "other_farmer")).json()[
            "total"
        ]
        == 0
    )
    policies = client.get("/api/v1/policies", headers=login(client, "farmer")).json()
    assert [p["id"] for p in policies["items"]] == [policy]
    assert policies["items"][0]["plots"] == ["P1"]
    assert (
        client.get("/api/v1/policies", headers=login(client, "other_farmer")).json()[
            "items"
        ]
        == []
    )
    assert (
        client.get(
            f"/api/v1/policies/{policy}", headers=login(client, "other_farmer")
        ).status_code
        == 403
    )
    farmers = client.get("/api/v1/farmers?limit=1", headers=agent).json()
    assert (farmers["total"], farmers["items"][0]["id"]) == (2, "F-1")


ALL = set(ROLES)
STAFF = {"admin", "underwriter", "adjuster", "field_agent"}
DESKS = {"admin", "underwriter", "adjuster"}
CLAIM_READERS = {"farmer", "adjuster", "field_agent", "admin"}
MATRIX: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/v1/ledger/receipts/0"): ALL,
    ("POST", "/api/v1/users"): {"admin"},
    ("GET", "/api/v1/users"): {"admin"},
    ("POST", "/api/v1/users/{username}/disable"): {"admin"},
    ("POST", "/api/v1/users/{username}/enable"): {"admin"},
    ("PUT", "/api/v1/users/{username}/role"): {"admin"},
    ("POST", "/api/v1/users/{username}/password"): {"admin"},
    ("POST", "/api/v1/farmers"): {"admin"},
    ("GET", "/api/v1/farmers"): STAFF,
    ("POST", "/api/v1/products"): {"admin"},
    ("GET", "/api/v1/products"): ALL,
    ("POST", "/api/v1/animals"): {"field_agent"},
    ("POST", "/api/v1/applications/livestock"): {"field_agent"},
    ("POST", "/api/v1/applications/crop"): {"field_agent"},
    ("GET", "/api/v1/applications"): ALL,
    ("GET", "/api/v1/applications/{application}"): ALL,
    ("POST", "/api/v1/applications/{application}/decision"): {"underwriter"},
    ("GET", "/api/v1/policies"): ALL,
    ("GET", "/api/v1/policies/{policy}"): ALL,
    ("POST", "/api/v1/claims"): {"field_agent"},
    ("GET", "/api/v1/claims"): CLAIM_READERS,
    ("GET", "/api/v1/claims/{claim}"): CLAIM_READERS,
    ("POST", "/api/v1/claims/{claim}/evidence"): {"field_agent"},
    ("POST", "/api/v1/claims/{claim}/assessment"): {"adjuster"},
    ("GET", "/api/v1/claims/{claim}/scenes"): {"adjuster"},
    ("POST", "/api/v1/claims/{claim}/decision"): {"adjuster"},
    ("POST", "/api/v1/claims/{claim}/payment"): {"adjuster"},
    ("POST", "/api/v1/photos/check"): {"field_agent"},
    # Records for the pages: every role; a farmer's are refused record by record.
    ("GET", "/api/v1/claims/{claim}/photos"): ALL - {"field_agent"},
    ("GET", "/api/v1/animals/{tag}/photos"): ALL,
    ("GET", "/api/v1/photos/{sha256}"): ALL,
    ("GET", "/api/v1/photos/{sha256}/thumb"): ALL,
    ("GET", "/api/v1/applications/{application}/plots.geojson"): ALL,
    ("GET", "/api/v1/policies/{policy}/plots.geojson"): ALL,
    ("GET", "/api/v1/plots.geojson"): ALL,
    ("GET", "/api/v1/claims/{claim}/damage.geojson"): ALL,
    ("GET", "/api/v1/claims/{claim}/series"): ALL,
    ("GET", "/api/v1/history/{kind}/{subject_id}"): ALL,
    # The pages: who is logged in, the key receipts are checked against, imagery.
    ("GET", "/api/v1/me"): ALL,
    ("GET", "/api/v1/ledger/key"): ALL,
    ("GET", "/api/v1/scenes"): ALL,
    ("GET", "/api/v1/scenes/{scene}/tilejson.json"): ALL,
    ("GET", "/api/v1/scenes/{scene}/tiles/{z}/{x}/{y}.{format}"): ALL,
    # The field agent's phone: its devices and the gallery it matches offline.
    ("POST", "/api/v1/devices"): {"field_agent"},
    ("GET", "/api/v1/devices"): {"admin", "field_agent"},
    ("POST", "/api/v1/devices/{device}/revoke"): {"admin", "field_agent"},
    ("POST", "/api/v1/devices/{device}/approve"): {"admin"},
    # Later verified sessions that grow an animal's gallery.
    ("POST", "/api/v1/animals/{tag}/sessions"): {"field_agent"},
    ("GET", "/api/v1/agent/gallery"): {"field_agent"},
    # Exports and reports: the insurer's desks.
    **{
        ("GET", f"/api/v1/exports/{name}"): DESKS
        for name in (
            "plots.parquet",
            "plots.geojson",
            "claims.csv",
            "claims.xlsx",
            "policies.csv",
            "policies.xlsx",
            "stac/claim.zip",
            "stac/event.zip",
        )
    },
    ("GET", "/api/v1/reports/portfolio"): DESKS,
    ("GET", "/api/v1/reports/checks"): DESKS,
    # Public notices: anyone logged in reads (a farmer his region's), publishers
    # post and resolve, everyone may object; the receipt is public.
    ("GET", "/api/v1/notices"): ALL,
    ("GET", "/api/v1/notices/regions"): {"underwriter", "adjuster"},
    ("POST", "/api/v1/notices"): {"underwriter", "adjuster"},
    ("GET", "/api/v1/notices/{notice_id}"): ALL,
    ("GET", "/api/v1/notices/{notice_id}/pdf"): ALL,
    ("POST", "/api/v1/notices/{notice_id}/objections"): ALL,
    ("POST", "/api/v1/notices/{notice_id}/objections/{objection_id}/resolution"): {
        "underwriter",
        "adjuster",
    },
    ("GET", "/api/v1/ledger/notices/{notice_id}/receipt"): ALL,
    # OGC API - Features: any logged-in reader (a farmer his own records).
    **{
        ("GET", f"/ogc{path}"): ALL
        for path in (
            "",
            "/api",
            "/conformance",
            "/collections",
            "/collections/{collectionId}",
            "/collections/{collectionId}/items",
            "/collections/{collectionId}/items/{featureId}",
        )
    },
}
MULTIPART = {
    "/api/v1/animals",
    "/api/v1/animals/{tag}/sessions",
    "/api/v1/applications/crop",
    "/api/v1/claims/{claim}/evidence",
    "/api/v1/photos/check",
}
PATH_NAMES = {
    "{claim}": "{claim_id}",
    "{application}": "{application_id}",
    "{policy}": "{policy_id}",
    "{device}": "{device_id}",
    "receipts/0": "receipts/{index}",
}


def test_the_matrix_names_every_endpoint(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    served = {
        (method.upper(), path)
        for path, ops in paths.items()
        for method in ops
        # login and logout are any token holder's (tests/server/test_http_login.py)
        if path not in ("/api/v1/health", "/api/v1/auth/token", "/api/v1/auth/logout")
    }
    named = set()
    for method, template in MATRIX:
        for short, long in PATH_NAMES.items():
            template = template.replace(short, long)
        named.add((method, template))
    assert served == named


@pytest.mark.parametrize("role", ROLES)
def test_role_endpoint_matrix(
    client: TestClient, app: AppContext, policy: str, role: str
) -> None:
    claim_id = client.post(
        "/api/v1/claims", json=claim_body(policy), headers=login(client, "field_agent")
    ).json()["id"]
    application = app.underwriting.policy(policy).application_id
    bodies: dict[str, object] = {
        "/api/v1/farmers": {"id": f"F-{role}", "name": "n", "region": "r"},
        "/api/v1/users": {
            "username": f"u-{role}",
            "password": PASSWORD,
            "role": "adjuster",
        },
        "/api/v1/products": {
            "kind": "crop",
            "code": f"C-{role}",
            "sum_insured_per_unit": "1",
            "premium_rate": "0.1",
        },
        "/api/v1/applications/livestock": {
            "farmer_id": "F-1",
            "product_code": "WHEAT",
            "start_date": "2025-01-01",
            "end_date": "2025-12-31",
            "animals": ["998230000006455"],
        },
        "/api/v1/applications/{application}/decision": {
            "decision": "refer",
            "reason": "look",
        },
        "/api/v1/claims": claim_body(policy),
        "/api/v1/claims/{claim}/assessment": {
            "before": "none.tif",
            "after": "none.tif",
        },
        "/api/v1/claims/{claim}/decision": {"decision": "approve"},
        "/api/v1/claims/{claim}/payment": {"payment_ref": "PAY-1"},
    }
    headers = login(client, role)
    for (method, template), allowed in MATRIX.items():
        path = (
            template.replace("{claim}", claim_id)
            .replace("{application}", application)
            .replace("{policy}", policy)
        )
        if template in MULTIPART:
            r = client.post(
                path,
                data={"tag": "998230000006455", "farmer_id": "F-1"},
                files=[("files", ("p.png", _dark_png(), "image/png"))],
                headers=headers,
            )
        else:
            r = client.request(method, path, json=bodies.get(template), headers=headers)
        if role in allowed:
            assert r.status_code != 403, (role, method, template, r.text)
            assert r.status_code < 500, (role, method, template, r.text)
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


def test_a_quiet_server_still_signs_due_checkpoints(make_settings, anchor) -> None:
    import time

    from server.chain import ChainContext
    from server.context import build_context

    ctx = build_context(
        make_settings(checkpoint_interval_s=0.2),
        chain=ChainContext(anchor, ephemeral=False, contract="mem"),
    )
    try:
        event = Event(
            "farmer.registered", {"farmer": "F-1"}, "admin", datetime.now(UTC), {}
        )
        ctx.ledger.append([event.to_canonical_bytes()])
        ctx.ledger.checkpoint()
        ctx.ledger.append([event.to_canonical_bytes()])
        size = ctx.ledger.store.size()
        with TestClient(create_app(ctx)):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                latest = ctx.ledger.store.latest_checkpoint()
                if latest is not None and latest.size == size:
                    break
                time.sleep(0.1)
        latest = ctx.ledger.store.latest_checkpoint()
        assert latest is not None and latest.size == size
    finally:
        ctx.close()
