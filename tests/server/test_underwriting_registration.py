"""A farmer id or a product code is taken once: the primary key decides, even under a race."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select

from server.context import AppContext
from server.errors import ConflictError
from server.http.app import create_app
from server.services.auth import UserStore
from server.services.underwriting import UnderwritingService
from server.storage.schema import farmers, products
from underwriting import LivestockProduct, Money

COW = LivestockProduct(
    "COW", Money.parse("8000"), Decimal("0.06"), Money.parse("200"), 7
)
COW_AGAIN = LivestockProduct(
    "COW", Money.parse("9000"), Decimal("0.05"), Money.parse("100"), 3
)


def register_farmer(
    name: str,
) -> Callable[[UnderwritingService, Connection | None], object]:
    def run(uw: UnderwritingService, conn: Connection | None) -> object:
        return uw.register_farmer("F-1", name, "Shaanxi", actor="admin", conn=conn)

    return run


def add_product(
    product: LivestockProduct,
) -> Callable[[UnderwritingService, Connection | None], object]:
    def run(uw: UnderwritingService, conn: Connection | None) -> object:
        return uw.add_product(product, actor="admin", conn=conn)

    return run


# (first registration, the second with the same id, its field, what the row must still hold)
CASES = {
    "farmer": (register_farmer("first"), register_farmer("second"), "farmer_id"),
    "product": (add_product(COW), add_product(COW_AGAIN), "code"),
}


def stored(app: AppContext, kind: str) -> list[str]:
    query = select(farmers.c.name) if kind == "farmer" else select(products.c.terms)
    with app.engine.connect() as conn:
        return [str(v) for v in conn.execute(query).scalars()]


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_second_registration_is_a_conflict_and_writes_nothing(
    app: AppContext, kind: str
) -> None:
    first, second, field = CASES[kind]
    first(app.underwriting, None)
    rows, size = stored(app, kind), app.ledger.store.size()
    with pytest.raises(ConflictError, match="exists") as caught:
        second(app.underwriting, None)
    assert caught.value.field == field
    assert stored(app, kind) == rows
    assert app.ledger.store.size() == size


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_registration_racing_an_uncommitted_one_is_a_conflict(
    app: AppContext, kind: str
) -> None:
    """The racer reads before the first commits; only the primary key can refuse it.

    With a read before the insert, PostgreSQL let the racer through its read and
    then failed its insert with an IntegrityError (a 500), not a conflict.
    """
    first, second, field = CASES[kind]
    outcome: list[object] = []

    def race() -> None:
        try:
            outcome.append(second(app.underwriting, None))
        except ConflictError as exc:
            outcome.append(exc)

    with app.engine.begin() as conn:
        first(app.underwriting, conn)
        racer = threading.Thread(target=race)
        racer.start()
        time.sleep(0.5)  # the racer now waits on the key (or the writer lock)
    racer.join(timeout=60)
    (result,) = outcome
    assert isinstance(result, ConflictError), result
    assert result.field == field
    assert len(stored(app, kind)) == 1


def test_a_taken_farmer_id_is_409_over_http(app: AppContext) -> None:
    UserStore(app.engine).create("admin", "correct horse battery", "admin", None)
    with TestClient(create_app(app), raise_server_exceptions=False) as client:
        token = client.post(
            "/api/v1/auth/token",
            json={"username": "admin", "password": "correct horse battery"},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        body = {"id": "F-1", "name": "first", "region": "r"}
        assert (
            client.post("/api/v1/farmers", json=body, headers=headers).status_code
            == 201
        )
        size = app.ledger.store.size()
        again = client.post(
            "/api/v1/farmers", json=body | {"name": "second"}, headers=headers
        )
    assert again.status_code == 409, again.text
    assert again.json()["field"] == "farmer_id"
    assert stored(app, "farmer") == ["first"]
    assert app.ledger.store.size() == size
