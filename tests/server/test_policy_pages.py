"""A farmer's policies, page by page: the items and the total on every page shape."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from shapely.geometry import box

from remote_sensing import plots_from_geometries
from server.context import AppContext
from underwriting import CropProduct, Money


@pytest.fixture
def three_policies(app: AppContext) -> list[str]:
    """F-1 holds three crop policies (one plot each); F-2 holds one; ids newest first."""
    uw = app.underwriting
    uw.add_product(
        CropProduct("WHEAT", Money.parse("900"), "mu", Decimal("0.06")), actor="admin"
    )
    for farmer in ("F-1", "F-2"):
        uw.register_farmer(farmer, farmer, "Hohhot", lat=40.8, lon=111.7, actor="admin")
    today = date(2026, 6, 1)
    ids: list[str] = []
    for i, farmer in enumerate(("F-1", "F-2", "F-1", "F-1")):
        x = 111.0 + i * 0.01
        a = uw.apply_crop(
            farmer,
            "WHEAT",
            plots_from_geometries(
                [box(x, 40.0, x + 0.002, 40.002)], 4326, ids=[f"P{i}"]
            ),
            start=today,
            end=today + timedelta(days=200),
            actor="agent",
        )
        decided = uw.decide(a.id, "approve", actor="uw", reason="surveyed")
        if farmer == "F-1":
            ids.append(decided.policy_id or "")
    return ids[::-1]


@pytest.mark.parametrize(
    ("offset", "limit", "shown"),
    [(0, 50, 3), (0, 3, 3), (0, 2, 2), (2, 2, 1), (3, 2, 0), (9, 50, 0)],
)
def test_a_farmers_page_holds_the_right_policies_and_the_total(
    app: AppContext, three_policies: list[str], offset: int, limit: int, shown: int
) -> None:
    page = app.underwriting.policies(farmer_id="F-1", offset=offset, limit=limit)
    assert page.total == 3
    assert len(page.items) == shown
    assert {p.farmer_id for p in page.items} <= {"F-1"}
    assert {p.id for p in page.items} <= set(three_policies)
    assert all(len(p.plots) == 1 for p in page.items)


def test_a_farmer_without_policies_has_an_empty_first_page(
    app: AppContext, three_policies: list[str]
) -> None:
    page = app.underwriting.policies(farmer_id="F-9", offset=0, limit=50)
    assert (page.items, page.total) == ([], 0)


def test_staff_see_every_farmers_policies(
    app: AppContext, three_policies: list[str]
) -> None:
    page = app.underwriting.policies(farmer_id=None, offset=0, limit=2)
    assert (len(page.items), page.total) == (2, 4)
