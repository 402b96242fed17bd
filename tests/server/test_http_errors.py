"""Hostile input gets a 4xx naming the field, in the one error model the OpenAPI declares."""

from __future__ import annotations

from fastapi.testclient import TestClient

from server.services.auth import ROLES

PASSWORD = "correct horse battery"
API = "/api/v1"


def login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post(
        f"{API}/auth/token", json={"username": username, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


# Every route that takes a JSON body, the role allowed to call it, and a body.
JSON_ROUTES = [
    ("/auth/token", None, '{"username": "admin", "password": Infinity}'),
    ("/users", "admin", '{"username": "u", "password": NaN, "role": "admin"}'),
    ("/farmers", "admin", '{"id": "F-9", "name": "n", "region": "r", "lat": Infinity}'),
    ("/farmers", "admin", '{"id": "F-9", "name": "n", "region": "r", "lat": NaN}'),
    ("/farmers", "admin", '{"id": "F-9", "name": "n", "region": "r", "lon": 1e999}'),
    ("/products", "admin", '{"kind": "livestock", "waiting_days": Infinity}'),
    (
        "/applications/livestock",
        "field_agent",
        '{"farmer_id": "F-1", "product_code": "C", "start_date": "2025-01-01",'
        ' "end_date": "2025-12-31", "animals": [-Infinity]}',
    ),
    ("/applications/A-1/decision", "underwriter", '{"decision": NaN}'),
    (
        "/claims",
        "field_agent",
        '{"policy_id": "P", "farmer_id": "F-1", "subject_kind": "animal",'
        ' "subject_id": "1", "event_date": "2025-01-01", "claimed_fraction": NaN}',
    ),
    ("/claims/C-1/decision", "adjuster", '{"decision": "approve", "reason": Infinity}'),
    ("/claims/C-1/payment", "adjuster", '{"payment_ref": NaN}'),
    (
        "/claims/C-1/assessment",
        "adjuster",
        '{"before": "a", "after": "b", "scale": NaN}',
    ),
]


def test_nan_and_infinity_in_json_get_a_422_naming_the_body(
    client: TestClient,
) -> None:
    tokens: dict[str, dict[str, str]] = {r: login(client, r) for r in ROLES}
    for path, role, body in JSON_ROUTES:
        headers = {"Content-Type": "application/json"}
        headers |= tokens[role] if role else {}
        r = client.post(f"{API}{path}", content=body.encode(), headers=headers)
        assert r.status_code == 422, (path, body, r.text)
        assert r.json()["field"] == "body", (path, body)
        assert "finite" in r.json()["detail"], (path, body)


def test_bad_json_is_named_not_echoed(client: TestClient) -> None:
    admin = login(client, "admin")
    r = client.post(
        f"{API}/farmers",
        content=b'{"id": "F-9", "name": ',
        headers=admin | {"Content-Type": "application/json"},
    )
    assert (r.status_code, r.json()["field"]) == (422, "body")
    r = client.post(
        f"{API}/farmers",
        json={"id": "F-9", "name": "n", "region": "r", "lat": 91},
        headers=admin,
    )
    assert r.status_code == 422
    assert r.json() == {
        "detail": "lat: Input should be less than or equal to 90",
        "field": "lat",
    }


LISTS = ["/farmers", "/applications", "/policies", "/claims", "/users"]


def test_offsets_and_limits_out_of_range_get_a_422_naming_them(
    client: TestClient,
) -> None:
    admin = login(client, "admin")
    for path in LISTS:
        for offset in ("99999999999999999999", str(2**31 + 1), "-1", "1e3"):
            r = client.get(f"{API}{path}?offset={offset}", headers=admin)
            assert r.status_code == 422, (path, offset, r.text)
            assert r.json()["field"] == "offset"
        for limit in ("0", "201", "99999999999999999999"):
            r = client.get(f"{API}{path}?limit={limit}", headers=admin)
            assert (r.status_code, r.json()["field"]) == (422, "limit"), (path, limit)
        r = client.get(f"{API}{path}?offset={2**31}", headers=admin)
        assert r.status_code == 200, (path, r.text)
        assert r.json()["items"] == []


def test_a_huge_ledger_index_gets_a_422(client: TestClient) -> None:
    r = client.get(
        f"{API}/ledger/receipts/99999999999999999999", headers=login(client, "admin")
    )
    assert (r.status_code, r.json()["field"]) == (422, "index")


def test_every_4xx_of_every_route_is_declared_as_the_one_error_model(
    client: TestClient,
) -> None:
    doc = client.get(f"{API}/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorOut"]["properties"]) == {"detail", "field"}
    seen = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            codes = {c for c in op["responses"] if c.startswith("4")}
            assert {"413", "422"} <= codes, (method, path)
            for code in codes:
                schema = op["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}
                seen += 1
    assert seen > 100
