"""Regressions of the claims side of issue 9, on SQLite and PostgreSQL.

Each test failed before its fix: check-then-insert races (defect 2), photo
reuse (defect 4), the farm's calendar (defect 5), decisions without controls
(defect 6) and a missing plot answering 500 (defect 8).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from shapely import box
from sqlalchemy import delete, insert

from claims import ClaimRules
from ledger.adapters.memory import InMemoryAnchor
from livestock import FaceID, Photo
from livestock.data import scan_folder
from remote_sensing import ImageSpec, plots_from_geometries
from server.chain import ChainContext
from server.config import Settings
from server.context import AppContext, build_context
from server.errors import ForbiddenError, InvalidInputError, NotFoundError
from server.services.claims import (
    ClaimRecord,
    ClaimsService,
    ClaimStateError,
    EvidencePhoto,
)
from server.storage.schema import animals, enrolments, plots
from tests.server.notices import clear_for_payment
from tests.words import en
from underwriting import CropProduct, LivestockProduct, Money

TAGS = ("998230000007001", "998230000007002", "998230000007003")
VALUE = Money.parse("7600")


def lights(c: ClaimRecord) -> dict[str, str]:
    return {x.code: x.light for x in c.checks}


def reason(c: ClaimRecord, code: str) -> str:
    return next(en(x) for x in c.checks if x.code == code)


def events(app: AppContext) -> list[dict[str, Any]]:
    return [json.loads(e.data) for e in app.ledger.store.iter_entries()]


def _enrolled_rows(app: AppContext, farm: str, tags: tuple[str, ...]) -> None:
    """Animals on record as enrolled (rows only: no face photos needed for intake)."""
    now = datetime.now(UTC)
    rng = np.random.default_rng(7)
    faceid = FaceID.load()
    dim = faceid.manifest.embedding_dim
    with app.engine.begin() as conn:
        for tag in tags:
            template = rng.normal(size=dim).astype("<f4")
            template /= np.linalg.norm(template)
            conn.execute(
                insert(animals).values(
                    tag=tag,
                    scheme="iso11784",
                    farm=farm,
                    policy=None,
                    template=template.tobytes(),
                    photos=1,
                    photo_hashes="[]",
                    enrolled_at=now,
                    model=faceid.version,  # enrolled by the running model
                )
            )
            conn.execute(
                insert(enrolments).values(
                    tag=tag,
                    farmer_id=farm,
                    status="enrolled",
                    match_tag=None,
                    match_farm=None,
                    score=None,
                    detail="enrolled for a test",
                    created_at=now,
                )
            )


@pytest.fixture
def today() -> date:
    return datetime.now(UTC).date()


def insured_herd(app: AppContext, today: date, tags: tuple[str, ...]) -> str:
    """F-1 (region Hohhot, UTC+8) insures ``tags`` under COW (8,000.00 a head,
    deductible 200.00), in force around ``today``; the policy id."""
    uw = app.underwriting
    uw.register_farmer("F-1", "Liu", "Hohhot", lat=40.842, lon=111.749, actor="admin")
    uw.add_product(
        LivestockProduct(
            "COW", Money.parse("8000"), Decimal("0.06"), Money.parse("200"), 0
        ),
        actor="admin",
    )
    _enrolled_rows(app, "F-1", tags)
    a = uw.apply_livestock(
        "F-1",
        "COW",
        list(tags),
        start=today - timedelta(days=100),
        end=today + timedelta(days=200),
        actor="agent",
    )
    return uw.decide(a.id, "approve", actor="uw", reason="tested").policy_id or ""


@pytest.fixture
def herd(app: AppContext, today: date) -> str:
    """F-1 (region Hohhot, UTC+8) insures the animals TAGS; returns the policy id."""
    return insured_herd(app, today, TAGS)


@pytest.fixture
def field(app: AppContext, today: date) -> str:
    """F-2 holds a crop policy on plot P1; returns the policy id."""
    uw = app.underwriting
    uw.register_farmer("F-2", "Wang", "Shaanxi", lat=34.30, lon=108.90, actor="admin")
    uw.add_product(
        CropProduct("WHEAT", Money.parse("900"), "mu", Decimal("0.06")), actor="admin"
    )
    mine = plots_from_geometries(
        [box(108.90, 34.30, 108.902, 34.302)], 4326, ids=["P1"]
    )
    a = uw.apply_crop(
        "F-2",
        "WHEAT",
        mine,
        start=today - timedelta(days=100),
        end=today + timedelta(days=200),
        actor="agent",
    )
    return uw.decide(a.id, "approve", actor="uw", reason="surveyed").policy_id or ""


def animal_claim(
    cl: ClaimsService,
    policy: str,
    tag: str,
    event: date,
    reported: datetime | None = None,
) -> ClaimRecord:
    return cl.file(
        policy_id=policy,
        farmer_id="F-1",
        subject_kind="animal",
        subject_id=tag,
        event_date=event,
        reported_at=reported or datetime.combine(event, datetime.min.time(), UTC),
        market_value=VALUE,
        actor="agent",
    )


def plot_claim(
    cl: ClaimsService, policy: str, event: date, reported: datetime | None = None
) -> ClaimRecord:
    return cl.file(
        policy_id=policy,
        farmer_id="F-2",
        subject_kind="plot",
        subject_id="P1",
        event_date=event,
        reported_at=reported or datetime.combine(event, datetime.min.time(), UTC),
        claimed_fraction=0.5,
        actor="agent",
    )


def at_once(n: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` in ``n`` threads released together; results or exceptions."""
    barrier = threading.Barrier(n)
    out: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = work(i)
        except Exception as exc:  # the test inspects it
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


# --- defect 2: check-then-insert races ---------------------------------------------


def test_concurrent_claims_on_one_animal_only_one_passes_the_duplicate_check(
    app: AppContext, herd: str, today: date
) -> None:
    got = at_once(
        6,
        lambda i: animal_claim(app.claims, herd, TAGS[0], today - timedelta(days=1)),
    )
    assert all(isinstance(c, ClaimRecord) for c in got), got
    dup = sorted(lights(c)["duplicate_claim"] for c in got)  # type: ignore[arg-type]
    assert dup == ["green"] + ["red"] * 5


def test_concurrent_claims_on_one_plot_only_one_passes_the_duplicate_check(
    app: AppContext, field: str, today: date
) -> None:
    got = at_once(
        6, lambda i: plot_claim(app.claims, field, today - timedelta(days=1 + i))
    )
    assert all(isinstance(c, ClaimRecord) for c in got), got
    dup = sorted(lights(c)["duplicate_claim"] for c in got)  # type: ignore[arg-type]
    assert dup == ["green"] + ["red"] * 5


@pytest.fixture(scope="module")
def cow_photo(shared_data: Path) -> bytes:
    """One real cow-face photo (any will do: the reuse check is by pHash)."""
    path = sorted(scan_folder(shared_data / "cattle_faces"), key=lambda c: c.path)[0]
    return path.path.read_bytes()


def test_concurrent_uploads_of_one_photo_to_three_claims_flag_two(
    app: AppContext, herd: str, today: date, cow_photo: bytes
) -> None:
    cl = app.claims
    mine = [animal_claim(cl, herd, tag, today - timedelta(days=1)) for tag in TAGS]
    photo = EvidencePhoto(Photo("carcass.jpg", cow_photo), datetime.now(UTC))
    app.registry().examine(TAGS[2], [photo.photo])  # load the model before the race
    got = at_once(3, lambda i: cl.add_evidence(mine[i].id, [photo], actor="agent"))
    assert all(isinstance(c, ClaimRecord) for c in got), got
    reuse = sorted(lights(c)["photo_reuse"] for c in got)  # type: ignore[arg-type]
    assert reuse == ["green", "red", "red"]


# --- defect 4: photo reuse ------------------------------------------------------------


def test_a_photo_sent_twice_to_one_claim_is_not_reuse_but_elsewhere_it_is(
    app: AppContext, herd: str, today: date, cow_photo: bytes
) -> None:
    cl = app.claims
    c = animal_claim(cl, herd, TAGS[0], today - timedelta(days=1))
    photo = EvidencePhoto(Photo("carcass.jpg", cow_photo), datetime.now(UTC))
    cl.add_evidence(c.id, [photo], actor="agent")
    again = cl.add_evidence(c.id, [photo], actor="agent")  # the phone retried
    assert lights(again)["photo_reuse"] == "green", reason(again, "photo_reuse")
    # Re-compressed and resized, for another claim: a near-duplicate, caught.
    img = Image.open(io.BytesIO(cow_photo)).convert("RGB")
    buf = io.BytesIO()
    img.resize((img.width * 3 // 4, img.height * 3 // 4)).save(buf, "JPEG", quality=70)
    other = animal_claim(cl, herd, TAGS[1], today - timedelta(days=1))
    other = cl.add_evidence(
        other.id,
        [EvidencePhoto(Photo("copy.jpg", buf.getvalue()), datetime.now(UTC))],
        actor="agent",
    )
    assert lights(other)["photo_reuse"] == "red"
    assert f"claim {c.id[:8]}" in reason(other, "photo_reuse")


# --- defect 5: the farm's calendar ---------------------------------------------------


def test_a_report_before_8am_in_china_on_the_day_of_the_loss_is_not_in_the_future(
    app: AppContext, herd: str, today: date
) -> None:
    day = today - timedelta(days=3)
    # 07:30 in Hohhot on ``day`` is 23:30 UTC the day before.
    early = datetime.combine(day, datetime.min.time(), UTC) - timedelta(minutes=30)
    c = animal_claim(app.claims, herd, TAGS[0], day, reported=early)
    assert lights(c)["notice"] == "green"
    assert reason(c, "notice") == "reported on the day of the event"
    # The same instant on a UTC calendar: the day had not begun.
    utc = ClaimsService(
        app.ledger,
        app.underwriting,
        app.registry,
        ClaimRules(farm_timezone="UTC"),
    )
    with pytest.raises(InvalidInputError, match="in the future") as refused:
        animal_claim(utc, herd, TAGS[1], day, reported=early)
    assert refused.value.field == "event_date"


def test_the_farm_time_zone_is_a_setting_and_per_region(
    make_settings: Callable[..., Settings], anchor: InMemoryAnchor
) -> None:
    ctx = build_context(
        make_settings(
            farm_timezone="Europe/Vienna", farm_timezones={"Kashgar": "Asia/Urumqi"}
        ),
        chain=ChainContext(anchor, ephemeral=False, contract="mem"),
    )
    try:
        rules = ctx.claims.rules
        assert rules.zone("Upper Austria").key == "Europe/Vienna"
        assert rules.zone("Kashgar").key == "Asia/Urumqi"
    finally:
        ctx.close()
    assert Settings(data_dir=Path("var")).farm_timezone == "Asia/Shanghai"
    with pytest.raises(ValueError, match="not an IANA time zone"):
        ClaimRules(farm_timezone="Asia/Atlantis")


def test_a_photo_taken_early_on_the_loss_day_in_china_is_not_before_the_loss(
    app: AppContext, herd: str, today: date, cow_photo: bytes
) -> None:
    day = today - timedelta(days=3)
    c = animal_claim(app.claims, herd, TAGS[0], day)
    # 07:00 on the loss day in Hohhot: 23:00 UTC the day before.
    taken = datetime.combine(day, datetime.min.time(), UTC) - timedelta(hours=1)
    c = app.claims.add_evidence(
        c.id, [EvidencePhoto(Photo("dawn.jpg", cow_photo), taken)], actor="agent"
    )
    assert lights(c)["capture_time"] == "green", reason(c, "capture_time")
    before = datetime.combine(day, datetime.min.time(), UTC) - timedelta(hours=9)
    c2 = animal_claim(app.claims, herd, TAGS[1], day)
    c2 = app.claims.add_evidence(
        c2.id, [EvidencePhoto(Photo("eve.jpg", cow_photo), before)], actor="agent"
    )
    assert lights(c2)["capture_time"] == "red"
    assert "before the loss" in reason(c2, "capture_time")


def test_a_phone_time_without_offset_is_the_farms_clock_not_utc(
    app: AppContext, herd: str, today: date, cow_photo: bytes
) -> None:
    """20:00 the evening before the loss, stamped without an offset, is before the loss.

    Read as UTC it would be 04:00 on the loss day in Hohhot and pass.
    """
    day = today - timedelta(days=3)
    c = animal_claim(app.claims, herd, TAGS[0], day)
    evening = datetime.combine(day - timedelta(days=1), datetime.min.time()).replace(
        hour=20
    )
    assert evening.tzinfo is None
    c = app.claims.add_evidence(
        c.id, [EvidencePhoto(Photo("eve.jpg", cow_photo), evening)], actor="agent"
    )
    assert lights(c)["capture_time"] == "red", reason(c, "capture_time")
    assert "20:00 farm time" in reason(c, "capture_time")


# --- defect 6: decisions without controls --------------------------------------------


def test_approving_an_amber_claim_needs_a_reason_and_a_missing_reason_is_invalid_input(
    app: AppContext, herd: str, today: date
) -> None:
    cl = app.claims
    c = animal_claim(cl, herd, TAGS[0], today - timedelta(days=1))
    assert c.light == "amber"  # evidence awaited
    size = app.ledger.store.size()
    for decision in ("approve", "reject", "survey"):
        with pytest.raises(InvalidInputError, match="needs a reason") as refused:
            cl.decide(c.id, decision, actor="adj-1")
        assert refused.value.field == "reason"
    with pytest.raises(InvalidInputError, match="needs a reason"):
        cl.decide(c.id, "approve", actor="adj-1", reason="  ")
    assert app.ledger.store.size() == size  # nothing written
    ok = cl.decide(c.id, "approve", actor="adj-1", reason="vet certificate seen")
    assert (ok.status, ok.reason, ok.decided_by) == (
        "approved",
        "vet certificate seen",
        "adj-1",
    )
    with pytest.raises(ClaimStateError, match="already decided"):
        cl.decide(c.id, "reject", actor="adj-2", reason="changed my mind")


def test_four_eyes_the_approver_may_not_pay(
    app: AppContext, herd: str, today: date
) -> None:
    cl = app.claims
    c = animal_claim(cl, herd, TAGS[0], today - timedelta(days=1))
    cl.decide(c.id, "approve", actor="adj-1", reason="vet certificate seen")
    clear_for_payment(app, c.id)
    with pytest.raises(ForbiddenError, match="four-eyes rule"):
        cl.pay(c.id, actor="adj-1", payment_ref="PAY-1")
    paid, changed = cl.pay(c.id, actor="adj-2", payment_ref="PAY-1")
    assert (paid.status, changed, paid.amount) == ("paid", True, Money.parse("7400"))
    again, changed = cl.pay(c.id, actor="adj-1", payment_ref="PAY-2")
    assert (again.payment_ref, changed) == ("PAY-1", False)  # a retry changes nothing
    kinds = [e["type"] for e in events(app)]
    assert kinds[-4:] == [
        "claim.filed",
        "claim.approved",
        "notice.published",
        "claim.paid",
    ]
    assert events(app)[-1]["actor"] == "adj-2"
    # Above a threshold only: 7400.00 is below 10,000.00, so one adjuster may do both.
    lenient = ClaimsService(
        app.ledger,
        app.underwriting,
        app.registry,
        replace(cl.rules, four_eyes_above_minor=1_000_000),
    )
    d = animal_claim(lenient, herd, TAGS[1], today - timedelta(days=1))
    lenient.decide(d.id, "approve", actor="adj-1", reason="vet certificate seen")
    clear_for_payment(app, d.id)
    assert lenient.pay(d.id, actor="adj-1", payment_ref="PAY-3")[1] is True


def test_payment_happens_once_when_adjusters_pay_at_once(
    app: AppContext, herd: str, today: date
) -> None:
    cl = app.claims
    c = animal_claim(cl, herd, TAGS[0], today - timedelta(days=1))
    cl.decide(c.id, "approve", actor="adj-0", reason="vet certificate seen")
    clear_for_payment(app, c.id)
    got = at_once(
        8, lambda i: cl.pay(c.id, actor=f"adj-{i + 1}", payment_ref=f"PAY-{i}")[1]
    )
    assert sorted(got) == [False] * 7 + [True]  # type: ignore[type-var]
    assert [e["type"] for e in events(app)].count("claim.paid") == 1
    assert app.ledger.verify().ok


def test_the_lifecycle_refuses_what_it_does_not_allow(
    app: AppContext, field: str, today: date
) -> None:
    cl = app.claims
    c = plot_claim(cl, field, today - timedelta(days=1))
    with pytest.raises(ClaimStateError, match="not approved"):
        cl.pay(c.id, actor="adj-2", payment_ref="PAY-1")
    s = cl.decide(c.id, "survey", actor="adj-1", reason="walk the field")
    with pytest.raises(ClaimStateError, match="is survey: it cannot go to survey"):
        cl.decide(c.id, "survey", actor="adj-1", reason="again")
    r = cl.decide(s.id, "reject", actor="adj-1", reason="no damage in the field")
    assert r.status == "rejected"
    with pytest.raises(ClaimStateError, match="is rejected: it is already decided"):
        cl.decide(c.id, "approve", actor="adj-2", reason="x")
    with pytest.raises(NotFoundError, match="no claim"):
        cl.decide("missing", "approve", actor="adj-1")
    assert [e["type"] for e in events(app)][-3:] == [
        "claim.filed",
        "claim.survey_requested",
        "claim.rejected",
    ]


# --- defect 8: a missing plot ---------------------------------------------------------


def test_assessing_a_claim_whose_plot_is_gone_is_not_found(
    app: AppContext, field: str, today: date, tmp_path: Path
) -> None:
    c = plot_claim(app.claims, field, today - timedelta(days=1))
    with app.engine.begin() as conn:
        conn.execute(delete(plots).where(plots.c.plot_ref == "P1"))
    scene = ImageSpec(tmp_path / "none.tif", {"red": 1, "nir": 2}, 1.0)
    with pytest.raises(NotFoundError, match="plot P1 of policy") as missing:
        app.claims.assess_by_map(c.id, scene, scene, actor="adj-1")
    assert missing.value.field == "subject_id"


def test_over_http_an_unexplained_approval_is_422_and_the_approver_paying_is_403(
    app: AppContext, herd: str, today: date
) -> None:
    from fastapi.testclient import TestClient

    from server.http.app import create_app
    from server.services.auth import UserStore

    users = UserStore(app.engine)
    for name in ("adj-1", "adj-2"):
        users.create(name, "correct horse battery", "adjuster")
    c = animal_claim(app.claims, herd, TAGS[0], today - timedelta(days=1))
    with TestClient(create_app(app), raise_server_exceptions=False) as client:

        def as_(name: str) -> dict[str, str]:
            r = client.post(
                "/api/v1/auth/token",
                json={"username": name, "password": "correct horse battery"},
            )
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        url = f"/api/v1/claims/{c.id}"
        r = client.post(
            f"{url}/decision", json={"decision": "approve"}, headers=as_("adj-1")
        )
        assert (r.status_code, r.json()["field"]) == (422, "reason")
        assert "amber needs a reason" in r.json()["detail"]
        r = client.post(
            f"{url}/decision",
            json={"decision": "approve", "reason": "vet certificate seen"},
            headers=as_("adj-1"),
        )
        assert r.status_code == 200, r.text
        clear_for_payment(app, c.id)
        r = client.post(
            f"{url}/payment", json={"payment_ref": "PAY-1"}, headers=as_("adj-1")
        )
        assert r.status_code == 403 and "four-eyes rule" in r.json()["detail"]
        r = client.post(
            f"{url}/payment", json={"payment_ref": "PAY-1"}, headers=as_("adj-2")
        )
        assert (r.status_code, r.json()["status"]) == (200, "paid")
