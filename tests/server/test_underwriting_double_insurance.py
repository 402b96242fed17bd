"""One field or one animal is never insured twice in a period, even by concurrent approvals."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from livestock.registry import AnimalRecord
from livestock.tags import Tag
from remote_sensing import PlotSet, plots_from_geometries
from server.context import AppContext
from server.errors import ConflictError
from server.services.underwriting import ApplicationRecord, UnderwritingService
from server.storage.animal_store import SqlTemplateStore
from server.storage.schema import (
    applications,
    enrolments,
    plots,
    policies,
    policy_animals,
)

SPRING, AUTUMN = date(2025, 3, 1), date(2025, 10, 31)
NEXT_SPRING, NEXT_AUTUMN = date(2026, 3, 1), date(2026, 10, 31)
COW, CALF = "156010000000001", "156010000000002"


def field_plots(ids: list[str], lon: float = 108.90, lat: float = 34.30) -> PlotSet:
    geoms = [shapely.box(lon, lat, lon + 0.003, lat + 0.003) for _ in ids]
    measured = plots_from_geometries(geoms, 4326, ids=ids)
    return plots_from_geometries(geoms, 4326, ids=ids, declared_m2=measured.area_m2)


def enrol(app: AppContext, tag: str, farmer_id: str) -> None:
    """An animal enrolled to ``farmer_id``, as the registry stores it (template aside)."""
    SqlTemplateStore(app.engine).add(
        AnimalRecord(
            Tag("iso11784", tag),
            farmer_id,
            None,
            np.ones(8, dtype=np.float32),
            1,
            (0,),
        )
    )
    with app.engine.begin() as conn:
        conn.execute(
            insert(enrolments).values(
                tag=tag,
                farmer_id=farmer_id,
                status="enrolled",
                detail="{}",
                created_at=datetime.now(UTC),
            )
        )


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


@pytest.fixture
def uw(app: AppContext, uw: UnderwritingService) -> UnderwritingService:
    """The shared service (tests/server/conftest.py) with F-1's cow and calf enrolled."""
    enrol(app, COW, "F-1")
    enrol(app, CALF, "F-1")
    return uw


def two_crop_applications(uw: UnderwritingService) -> tuple[str, str]:
    """Two farmers' pending applications over one field, both green when submitted."""
    first = uw.apply_crop(
        "F-1", "WHEAT", field_plots(["A"]), start=SPRING, end=AUTUMN, actor="agent"
    )
    second = uw.apply_crop(
        "F-2", "WHEAT", field_plots(["B"]), start=SPRING, end=AUTUMN, actor="agent"
    )
    assert (first.recommendation, second.recommendation) == ("approve", "approve")
    return first.id, second.id


def two_livestock_applications(uw: UnderwritingService) -> tuple[str, str]:
    """Two pending applications for one cow, both green when submitted."""
    first = uw.apply_livestock(
        "F-1", "COW", [COW], start=SPRING, end=AUTUMN, actor="agent"
    )
    second = uw.apply_livestock(
        "F-1", "COW", [COW, CALF], start=date(2025, 6, 1), end=NEXT_SPRING, actor="b"
    )
    assert (first.recommendation, second.recommendation) == ("approve", "approve")
    return first.id, second.id


PENDING: dict[
    str, tuple[Callable[[UnderwritingService], tuple[str, str]], str, str]
] = {
    "plot": (two_crop_applications, "plots", "plot B overlaps A of policy"),
    "animal": (two_livestock_applications, "animals", f"animal {COW} is insured by"),
}


@pytest.mark.parametrize("subject", sorted(PENDING))
def test_of_two_pending_applications_over_one_subject_only_the_first_is_approved(
    uw: UnderwritingService, app: AppContext, subject: str
) -> None:
    make, field, message = PENDING[subject]
    first_id, second_id = make(uw)
    first = uw.decide(first_id, "approve", actor="uw")
    before = app.ledger.store.size()
    with pytest.raises(ConflictError, match=message) as caught:
        uw.decide(second_id, "approve", actor="uw")
    assert caught.value.field == field
    assert (first.policy_id or "")[:8] in str(caught.value)
    # Nothing written: no policy, no ledger entry, the application still pending.
    assert app.ledger.store.size() == before
    assert count(app.engine, policies) == 1
    second = uw.application(second_id)
    assert (second.status, second.policy_id, second.decided_by) == (
        "submitted",
        None,
        None,
    )
    with app.engine.connect() as conn:
        assert (
            conn.execute(
                select(func.count()).where(
                    plots.c.policy_id.is_not(None), plots.c.application_id == second_id
                )
            ).scalar_one()
            == 0
        )
    # The first policy keeps what it insures; the second can still be declined.
    policy = uw.policy(first.policy_id or "")
    assert policy.animals == ((COW,) if subject == "animal" else ())
    assert uw.decide(second_id, "decline", actor="uw", reason="insured").status == (
        "declined"
    )


def test_a_referred_approval_with_a_reason_is_refused_as_well(
    uw: UnderwritingService, app: AppContext
) -> None:
    """Another farmer's application for an insured cow: red, but a reason does not help."""
    first = uw.apply_livestock(
        "F-1", "COW", [COW], start=SPRING, end=AUTUMN, actor="agent"
    )
    uw.decide(first.id, "approve", actor="uw")
    other = uw.apply_livestock(
        "F-2", "COW", [COW], start=SPRING, end=AUTUMN, actor="agent"
    )
    assert other.recommendation == "decline"
    with pytest.raises(ConflictError, match=f"animal {COW} is insured by policy"):
        uw.decide(other.id, "approve", actor="uw", reason="the farmer insists")
    assert count(app.engine, policies) == 1


def test_the_next_season_is_insured_and_each_policy_keeps_its_animals(
    uw: UnderwritingService,
) -> None:
    this_year = uw.apply_livestock(
        "F-1", "COW", [COW], start=SPRING, end=AUTUMN, actor="agent"
    )
    this_policy = uw.decide(this_year.id, "approve", actor="uw").policy_id or ""
    next_year = uw.apply_livestock(
        "F-1", "COW", [COW], start=NEXT_SPRING, end=NEXT_AUTUMN, actor="agent"
    )
    assert next_year.light == "green"
    next_policy = uw.decide(next_year.id, "approve", actor="uw").policy_id or ""
    # Before policy_animals, the renewal took the cow from the first policy.
    assert uw.policy(this_policy).animals == (COW,)
    assert uw.policy(next_policy).animals == (COW,)


def test_the_database_refuses_one_animal_in_two_policies_in_force(
    uw: UnderwritingService, app: AppContext
) -> None:
    """The trigger on policy_animals holds even for a writer that skips the service."""
    a = uw.apply_livestock("F-1", "COW", [COW], start=SPRING, end=AUTUMN, actor="x")
    uw.decide(a.id, "approve", actor="uw")
    b = uw.apply_livestock(
        "F-1", "COW", [CALF], start=NEXT_SPRING, end=NEXT_AUTUMN, actor="x"
    )
    other_policy = uw.decide(b.id, "approve", actor="uw").policy_id
    row = {"policy_id": other_policy, "tag": COW}
    with pytest.raises(IntegrityError), app.engine.begin() as conn:
        conn.execute(
            insert(policy_animals).values(
                **row, start_date=date(2025, 10, 31), end_date=NEXT_AUTUMN
            )
        )
    with app.engine.begin() as conn:  # the day after the first policy ends: allowed
        conn.execute(
            insert(policy_animals).values(
                **row, start_date=date(2025, 11, 1), end_date=NEXT_AUTUMN
            )
        )
    assert count(app.engine, policy_animals) == 3


@pytest.mark.parametrize("subject", sorted(PENDING))
def test_an_approval_waits_for_a_concurrent_one_and_then_is_refused(
    uw: UnderwritingService, app: AppContext, subject: str
) -> None:
    """The second approval starts while the first is uncommitted: exactly one policy.

    Without the lock, the second would read no policy in force (the first's is
    not committed yet) and issue a second one.
    """
    make, field, _ = PENDING[subject]
    first_id, second_id = make(uw)
    outcome: list[object] = []

    def approve_second() -> None:
        try:
            outcome.append(uw.decide(second_id, "approve", actor="uw2"))
        except ConflictError as exc:
            outcome.append(exc)

    with app.engine.begin() as conn:
        uw.decide(first_id, "approve", actor="uw1", conn=conn)
        racer = threading.Thread(target=approve_second)
        racer.start()
        time.sleep(0.5)  # the racer is now waiting on the lock (or the writer)
    racer.join(timeout=60)
    (result,) = outcome
    assert isinstance(result, ConflictError), result
    assert result.field == field
    assert count(app.engine, policies) == 1


@pytest.mark.parametrize("subject", sorted(PENDING))
def test_two_approvals_at_once_issue_exactly_one_policy(
    uw: UnderwritingService, app: AppContext, subject: str
) -> None:
    make, _, _ = PENDING[subject]
    ids = make(uw)
    start = threading.Barrier(2)
    outcome: list[object] = []

    def approve(app_id: str) -> None:
        start.wait()
        try:
            outcome.append(uw.decide(app_id, "approve", actor="uw"))
        except ConflictError as exc:
            outcome.append(exc)

    threads = [threading.Thread(target=approve, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    approved = [r for r in outcome if isinstance(r, ApplicationRecord)]
    refused = [r for r in outcome if isinstance(r, ConflictError)]
    assert (len(approved), len(refused)) == (1, 1), outcome
    assert count(app.engine, policies) == 1
    with app.engine.connect() as conn:
        statuses = sorted(
            conn.execute(
                select(applications.c.status).where(applications.c.id.in_(ids))
            ).scalars()
        )
    assert statuses == ["approved", "submitted"]
    issued = [
        json.loads(e.data)["type"]
        for e in app.ledger.store.iter_entries()
        if json.loads(e.data)["type"] == "policy.issued"
    ]
    assert len(issued) == 1


def test_a_small_plot_inside_an_insured_field_is_insured_twice(
    uw: UnderwritingService,
) -> None:
    """A 60 m2 garden plot inside an insured field: under the 100 m2 floor, still red."""
    first = uw.apply_crop(
        "F-1", "WHEAT", field_plots(["A"]), start=SPRING, end=AUTUMN, actor="agent"
    )
    uw.decide(first.id, "approve", actor="uw")
    lon, lat = 108.901, 34.301
    small = shapely.box(lon, lat, lon + 0.00009, lat + 0.00006)  # about 8 m x 7 m
    measured = plots_from_geometries([small], 4326, ids=["G"])
    assert measured.area_m2[0] < 100
    plots = plots_from_geometries(
        [small], 4326, ids=["G"], declared_m2=measured.area_m2
    )
    second = uw.apply_crop(
        "F-2", "WHEAT", plots, start=SPRING, end=AUTUMN, actor="agent"
    )
    lights = {c.code: c.light for c in second.checks}
    assert lights["double_insurance"] == "red"
    with pytest.raises(ConflictError, match="double insurance"):
        uw.decide(second.id, "approve", actor="uw", reason="looks fine")
