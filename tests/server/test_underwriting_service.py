"""Underwriting in the database: applications are checked, decided, and issue policies."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import numpy as np
import pytest
import shapely
from sqlalchemy import func, select

from remote_sensing import plots_from_geometries
from server.context import AppContext
from server.errors import ConflictError, InvalidInputError, NotFoundError
from server.services.underwriting import UnderwritingService
from server.storage.schema import applications, plots, policies
from tests.words import en
from underwriting.money import Money

SPRING, AUTUMN = date(2025, 3, 1), date(2025, 10, 31)


def field(lon: float, lat: float, side: float = 0.003) -> shapely.Polygon:
    """A square field of about 0.2 km side near (lon, lat)."""
    return shapely.box(lon, lat, lon + side, lat + side)


def plot_set(geoms, ids, declared_factor: float | None = 1.0):
    measured = plots_from_geometries(geoms, 4326, ids=ids)
    declared = None if declared_factor is None else measured.area_m2 * declared_factor
    return plots_from_geometries(geoms, 4326, ids=ids, declared_m2=declared)


def events(app: AppContext) -> list[dict]:
    return [json.loads(e.data) for e in app.ledger.store.iter_entries()]


def test_a_clean_application_is_approved_and_issues_a_policy(
    uw: UnderwritingService, app: AppContext
) -> None:
    geoms = [field(108.90, 34.30), field(108.91, 34.30)]
    a = uw.apply_crop(
        "F-1",
        "WHEAT",
        plot_set(geoms, ["A", "B"]),
        start=SPRING,
        end=AUTUMN,
        actor="agent",
    )
    assert (a.status, a.light, a.recommendation) == ("submitted", "green", "approve")
    assert a.plots == ("A", "B")
    a = uw.decide(a.id, "approve", actor="uw")
    policy = uw.policy(a.policy_id or "")
    area_m2 = float(plot_set(geoms, ["A", "B"]).area_m2.sum())
    mu = Decimal(str(round(area_m2, 2))) / (Decimal(10_000) / 15)
    assert policy.sum_insured == Money.parse("900").times(mu)
    premium = {k: Money.parse(v) for k, v in policy.premium.items()}
    assert premium["total"] == policy.sum_insured.times(Decimal("0.06"))
    parts = (
        premium["farmer"]
        + premium["central"]
        + premium["provincial"]
        + premium["county"]
    )
    assert parts == premium["total"]
    assert premium["farmer"] == premium["total"].times(Decimal("0.2"))
    kinds = [e["type"] for e in events(app)]
    assert kinds[-5:] == [
        "application.submitted",
        "plot.surveyed",
        "plot.surveyed",
        "application.approved",
        "policy.issued",
    ]
    with pytest.raises(ConflictError, match="already approved"):
        uw.decide(a.id, "decline", actor="uw", reason="changed my mind")


def test_inflated_area_and_double_insurance_are_red(uw: UnderwritingService) -> None:
    insured = field(108.90, 34.30)
    a = uw.apply_crop(
        "F-1",
        "WHEAT",
        plot_set([insured], ["A"]),
        start=SPRING,
        end=AUTUMN,
        actor="agent",
    )
    uw.decide(a.id, "approve", actor="uw")
    over = shapely.affinity.translate(
        insured, 0.001, 0.0
    )  # two thirds on the insured field
    elsewhere = field(108.95, 34.30)
    b = uw.apply_crop(
        "F-2",
        "WHEAT",
        plot_set([over, elsewhere], ["X", "Y"], 1.0),
        start=SPRING,
        end=AUTUMN,
        actor="agent",
    )
    red = {c.code: en(c) for c in b.checks if c.light == "red"}
    assert b.recommendation == "decline"
    assert "plot X overlaps insured plots: A of policy" in red["double_insurance"]
    assert "(F-1)" in red["double_insurance"] and "67%" in red["double_insurance"]
    inflated = uw.apply_crop(
        "F-2",
        "WHEAT",
        plot_set([elsewhere], ["Y"], 1.3),
        start=SPRING,
        end=AUTUMN,
        actor="agent",
    )
    (area,) = [c for c in inflated.checks if c.code == "plot_area"]
    assert area.light == "red" and "130.0% of it" in en(area)
    # A policy that ended is no longer in force: the overlap is not double insurance.
    later = uw.apply_crop(
        "F-2",
        "WHEAT",
        plot_set([over], ["X"]),
        start=date(2026, 3, 1),
        end=date(2026, 10, 31),
        actor="agent",
    )
    assert later.light == "green"


def test_one_bad_plot_is_listed_and_the_good_ones_kept(
    uw: UnderwritingService, app: AppContext
) -> None:
    bowtie = shapely.Polygon(
        [(108.9, 34.3), (108.903, 34.303), (108.903, 34.3), (108.9, 34.303)]
    )
    geoms = np.array([field(108.90, 34.30), None, bowtie], dtype=object)
    a = uw.apply_crop(
        "F-1",
        "WHEAT",
        plot_set(geoms, ["A", "B", "C"], None),
        start=SPRING,
        end=AUTUMN,
        actor="agent",
    )
    reasons = " | ".join(f"{c.light}:{en(c)}" for c in a.checks)
    assert "red:plot B" in reasons  # empty geometry
    assert "plot C" in reasons  # self-intersecting, repaired
    assert "A" in a.plots and "B" not in a.plots
    assert a.recommendation == "decline"


def test_bad_input_writes_nothing(uw: UnderwritingService, app: AppContext) -> None:
    before = app.ledger.store.size()
    geoms = [field(108.90, 34.30)]
    with pytest.raises(NotFoundError, match="no farmer F-9"):
        uw.apply_crop(
            "F-9",
            "WHEAT",
            plot_set(geoms, ["A"]),
            start=SPRING,
            end=AUTUMN,
            actor="agent",
        )
    with pytest.raises(InvalidInputError, match="not a crop product"):
        uw.apply_crop(
            "F-1",
            "COW",
            plot_set(geoms, ["A"]),
            start=SPRING,
            end=AUTUMN,
            actor="agent",
        )
    with pytest.raises(InvalidInputError, match="end_date must be after"):
        uw.apply_crop(
            "F-1",
            "WHEAT",
            plot_set(geoms, ["A"]),
            start=AUTUMN,
            end=SPRING,
            actor="agent",
        )
    with pytest.raises(InvalidInputError, match="plot ids repeat"):
        uw.apply_crop(
            "F-1",
            "WHEAT",
            plot_set(geoms * 2, ["A", "A"]),
            start=SPRING,
            end=AUTUMN,
            actor="agent",
        )
    with pytest.raises(InvalidInputError, match="never presented for enrolment"):
        uw.apply_livestock(
            "F-1", "COW", ["998230000006455"], start=SPRING, end=AUTUMN, actor="agent"
        )
    with pytest.raises(ConflictError, match="exists"):
        uw.register_farmer("F-1", "again", "x", actor="admin")
    with pytest.raises(InvalidInputError, match="both lat and lon"):
        uw.register_farmer("F-3", "x", "y", lat=1.0, actor="admin")
    assert app.ledger.store.size() == before
    with app.engine.connect() as conn:
        for table in (applications, plots, policies):
            assert (
                conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
            )


def test_decisions_need_reasons(uw: UnderwritingService) -> None:
    a = uw.apply_crop(
        "F-1",
        "WHEAT",
        plot_set([field(108.9, 34.3)], ["A"], None),
        start=SPRING,
        end=AUTUMN,
        actor="agent",
    )
    assert a.recommendation == "refer"  # no declared area to compare
    with pytest.raises(InvalidInputError, match="recommend refer: give a reason"):
        uw.decide(a.id, "approve", actor="uw")
    with pytest.raises(InvalidInputError, match="to decline, give a reason"):
        uw.decide(a.id, "decline", actor="uw")
    referred = uw.decide(a.id, "refer", actor="uw", reason="ask for the declared area")
    assert referred.status == "referred"
    approved = uw.decide(
        a.id, "approve", actor="uw2", reason="declared 0.09 ha by phone"
    )
    assert (approved.status, approved.decided_by) == ("approved", "uw2")
    page = uw.applications(status="approved")
    assert [x.id for x in page.items] == [a.id] and page.total == 1
