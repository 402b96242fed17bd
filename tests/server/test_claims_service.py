"""Claims on real cows and real imagery: each check fires for its reason, and only then."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from claims.indemnity import crop_indemnity
from livestock import Photo
from livestock.data import Capture, capture_time, scan_folder, split_enrol_query
from remote_sensing import read_plots
from server.context import AppContext
from server.errors import ConflictError, InvalidInputError
from server.i18n import render_line
from server.services.claims import ClaimRecord, ClaimsService, EvidencePhoto
from tests.cattle import sample_animals
from tests.server.pages_records import (
    AUSTRIA_FIELDS,
    PEERS,
    WHEAT,
    assessed_crop_claim,
    crop_claim,
    crop_policy,
    hail_pair,
)
from tests.words import en
from underwriting.money import Money
from underwriting.products import LivestockProduct

REPO = Path(__file__).resolve().parents[2]
FARM_1, FARM_2 = (40.842, 111.749), (40.700, 111.150)
START, END = date(2025, 4, 1), date(2026, 3, 31)
VALUE = Money.parse("7600")


def lights(c: ClaimRecord) -> dict[str, str]:
    return {x.code: x.light for x in c.checks}


def reason(c: ClaimRecord, code: str) -> str:
    return next(en(x) for x in c.checks if x.code == code)


def evidence(
    caps: list[Capture], near: tuple[float, float], n: int = 3
) -> list[EvidencePhoto]:
    return [
        EvidencePhoto(
            Photo(c.path.name, c.path),
            capture_time(c.path.name),
            near[0] + 0.001,
            near[1],
        )
        for c in caps[:n]
    ]


@pytest.fixture(scope="module")
def cows(shared_data: Path):
    """Four cows the model never trained on: enrolment photos and dated later photos."""

    held = sample_animals(shared_data)
    split = split_enrol_query(
        [c for c in scan_folder(shared_data / "cattle_faces") if c.animal in held]
    )
    dated = [
        a
        for a in held
        if any(c.day and c.day >= date(2025, 4, 14) for c in split.query[a])
    ][:4]
    later = {
        a: [c for c in split.query[a] if c.day and c.day >= date(2025, 4, 14)]
        for a in dated
    }
    return dated, split.enrol, later


@pytest.fixture
def herd(app: AppContext, cows):
    """F-1 insures cows 0 and 1, F-2 cows 2 and 3 (waiting period 7 days)."""
    tags, enrol, _ = cows
    uw = app.underwriting
    uw.register_farmer(
        "F-1", "Liu", "Hohhot", lat=FARM_1[0], lon=FARM_1[1], actor="admin"
    )
    uw.register_farmer(
        "F-2", "Chen", "Tumed", lat=FARM_2[0], lon=FARM_2[1], actor="admin"
    )
    uw.add_product(
        LivestockProduct(
            "COW", Money.parse("8000"), Decimal("0.06"), Money.parse("200"), 7
        ),
        actor="admin",
    )
    policy = {}
    for farmer, mine in (("F-1", tags[:2]), ("F-2", tags[2:])):
        for tag in mine:
            photos = [Photo(c.path.name, c.path) for c in enrol[tag]]
            assert app.enrolment.enrol_animal(
                tag, photos, farmer_id=farmer, actor="agent"
            ).status == ("enrolled")
        a = uw.apply_livestock(farmer, "COW", mine, start=START, end=END, actor="agent")
        assert a.light == "green", a.checks
        policy[farmer] = uw.decide(a.id, "approve", actor="uw").policy_id
    return policy


def file(
    cl: ClaimsService,
    policy: str,
    tag: str,
    event: date,
    farmer: str = "F-1",
    reported: datetime | None = None,
) -> ClaimRecord:
    return cl.file(
        policy_id=policy,
        farmer_id=farmer,
        subject_kind="animal",
        subject_id=tag,
        event_date=event,
        reported_at=reported
        or datetime.combine(event, datetime.min.time(), UTC) + timedelta(days=1),
        market_value=VALUE,
        actor="agent",
    )


def test_a_genuine_claim_passes_and_a_second_one_is_a_duplicate(
    app: AppContext, cows, herd
) -> None:
    tags, _, later = cows
    cl = app.claims
    c = file(cl, herd["F-1"], tags[0], date(2025, 4, 13))
    assert lights(c)["evidence"] == "amber" and c.amount == Money.parse("7400")
    assert (
        dict(render_line(x, "en") for x in c.indemnity)["basis (the lower)"]
        == "7600.00"
    )
    c = cl.add_evidence(c.id, evidence(later[tags[0]], FARM_1), actor="agent")
    got = lights(c)
    assert got["identity"] in ("green", "amber"), reason(c, "identity")
    assert tags[0] in reason(c, "identity")
    assert "evidence" not in got
    assert {got[k] for k in ("notice", "cover", "covered", "duplicate_claim")} == {
        "green"
    }
    assert {got[k] for k in ("photo_reuse", "photo_location", "capture_time")} == {
        "green"
    }
    again = file(cl, herd["F-1"], tags[0], date(2025, 4, 20))
    assert lights(again)["duplicate_claim"] == "red"
    assert c.id[:8] in reason(again, "duplicate_claim")
    kinds = [json.loads(e.data)["type"] for e in app.ledger.store.iter_entries()]
    assert kinds[-3:] == ["claim.filed", "claim.evidence_checked", "claim.filed"]


def test_another_farmers_cow_under_an_insured_tag_is_suspected_fraud(
    app: AppContext, cows, herd
) -> None:
    tags, _, later = cows
    c = file(app.claims, herd["F-1"], tags[1], date(2025, 4, 13))
    c = app.claims.add_evidence(c.id, evidence(later[tags[2]], FARM_2), actor="agent")
    assert lights(c)["identity"] == "red"
    assert "another farmer's animal" in reason(c, "identity")
    assert tags[2] in reason(c, "identity") and "suspected fraud" in reason(
        c, "identity"
    )
    assert lights(c)["photo_location"] == "red"  # taken at F-2's farm, 50 km away
    assert c.light == "red"


def test_reused_photos_are_caught_across_enrolment_and_claims(
    app: AppContext, cows, herd
) -> None:
    tags, enrol, later = cows
    cl = app.claims
    img = Image.open(enrol[tags[1]][0].path).convert("RGB")
    buf = io.BytesIO()
    img.resize((img.width * 3 // 2, img.height * 3 // 2)).save(buf, "JPEG", quality=60)
    taken = datetime(2025, 4, 14, 8, tzinfo=UTC)
    c = file(cl, herd["F-1"], tags[1], date(2025, 4, 13))
    c = cl.add_evidence(
        c.id,
        [EvidencePhoto(Photo("copy.jpg", buf.getvalue()), taken, *FARM_1)],
        actor="agent",
    )
    assert lights(c)["photo_reuse"] == "red"
    assert f"the enrolment of {tags[1]}" in reason(c, "photo_reuse")
    # Evidence of one claim, sent again for another animal's claim.
    first = file(cl, herd["F-2"], tags[2], date(2025, 4, 13), farmer="F-2")
    photos = evidence(later[tags[2]], FARM_2, 2)
    cl.add_evidence(first.id, photos, actor="agent")
    second = file(cl, herd["F-2"], tags[3], date(2025, 4, 13), farmer="F-2")
    second = cl.add_evidence(second.id, photos, actor="agent")
    assert lights(second)["photo_reuse"] == "red"
    assert f"claim {first.id[:8]}" in reason(second, "photo_reuse")


def test_time_place_and_waiting_period(app: AppContext, cows, herd) -> None:
    tags, _, later = cows
    cl = app.claims
    early = file(cl, herd["F-1"], tags[1], date(2025, 4, 3))
    assert lights(early)["waiting_period"] == "red"
    assert "waiting period ending 2025-04-08" in reason(early, "waiting_period")
    late = file(
        cl,
        herd["F-1"],
        tags[1],
        date(2025, 4, 13),
        reported=datetime(2025, 5, 30, tzinfo=UTC),
    )
    assert lights(late)["notice"] == "amber" and "limit is 14" in reason(late, "notice")
    photo = evidence(later[tags[1]], FARM_1, 1)[0]
    before_loss = EvidencePhoto(photo.photo, datetime(2025, 4, 1, tzinfo=UTC), *FARM_1)
    no_gps = EvidencePhoto(photo.photo, photo.captured_at)
    c = cl.add_evidence(late.id, [before_loss], actor="agent")
    assert lights(c)["capture_time"] == "red" and "before the loss" in reason(
        c, "capture_time"
    )
    c2 = file(cl, herd["F-2"], tags[3], date(2025, 4, 13), farmer="F-2")
    c2 = cl.add_evidence(c2.id, [no_gps], actor="agent")
    assert lights(c2)["photo_location"] == "amber"


def test_bad_claims_are_refused_and_decided_claims_stay_decided(
    app: AppContext, cows, herd
) -> None:
    tags, _, later = cows
    cl = app.claims
    size = app.ledger.store.size()
    with pytest.raises(InvalidInputError, match="not a policy of farmer F-2"):
        file(cl, herd["F-1"], tags[0], date(2025, 4, 13), farmer="F-2")
    with pytest.raises(InvalidInputError, match="no animal is enrolled"):
        file(cl, herd["F-1"], "998230000000001", date(2025, 4, 13))
    with pytest.raises(InvalidInputError, match="in the future"):
        file(cl, herd["F-1"], tags[0], date(2099, 1, 1), reported=datetime.now(UTC))
    assert app.ledger.store.size() == size
    other = file(cl, herd["F-1"], tags[2], date(2025, 4, 13))
    assert lights(other)["covered"] == "red"  # F-2's cow under F-1's policy
    cl.decide(other.id, "reject", actor="adj", reason="not covered")
    with pytest.raises(ConflictError, match="can no longer be assessed"):
        cl.add_evidence(other.id, evidence(later[tags[2]], FARM_1, 1), actor="agent")


def test_a_crop_claim_is_measured_on_imagery_and_paid_what_is_both_claimed_and_measured(
    app: AppContext, shared_data: Path, tmp_path: Path
) -> None:
    cl = app.claims
    # Hail planted on AT-0488's real pixels, in a pair 3 and 7 days from the loss;
    # eight more insured wheat fields are its peers (unchanged).
    _, policy = crop_policy(app, ["AT-0488", "AT-0001", *PEERS])
    fields = read_plots(AUSTRIA_FIELDS, id_column="plot_id")
    idx = [fields.ids.index("AT-0488")]
    before, after = hail_pair(shared_data, tmp_path, ["AT-0488"])
    results = {}
    for plot_id, claimed, stage in (
        ("AT-0488", 0.8, "heading"),
        ("AT-0001", 0.9, "maturity"),
    ):
        c = crop_claim(app, policy, plot_id, claimed=claimed, stage=stage)
        assert lights(c)["measured_damage"] == "amber" and c.amount.minor == 0
        results[plot_id] = cl.assess_by_map(c.id, before, after, actor="adj")
    hail, m = results["AT-0488"]
    assert m.status == "assessed" and m.damaged_fraction > 0.9
    assert (
        lights(hail).items()
        >= {
            "measured_damage": "green",
            "scene_timing": "green",
            "season_baseline": "green",
        }.items()
    )
    baseline = next(ch for ch in hail.checks if ch.code == "season_baseline")
    assert baseline.message == "season_baseline.loss"
    assert baseline.params["baseline"] == "peers" and baseline.params["count"] == 9
    area = float(fields.area_m2[idx[0]])
    expected = crop_indemnity(
        WHEAT,
        damaged_area_m2=Decimal(str(round(0.8 * area, 2))),
        insured_area_m2=Decimal(str(round(area, 2))),
        loss_degree=Decimal(1),
        growth_stage="heading",
    )
    assert hail.amount == expected.amount
    # 0.8 x area in mu x 900, capped at 70 % of the damaged area's sum insured, less 10 %.
    mu = Decimal(str(round(0.8 * area, 2))) / (Decimal(10_000) / 15)
    assert hail.amount == Money.parse("900").times(mu).times(Decimal("0.7")).times(
        Decimal("0.9")
    )
    inflated, m2 = results["AT-0001"]
    assert lights(inflated)["measured_damage"] == "red"
    assert f"imagery measures {m2.damaged_fraction:.0%}" in reason(
        inflated, "measured_damage"
    )
    with pytest.raises(InvalidInputError, match="checked on animal claims"):
        cl.add_evidence(inflated.id, [], actor="agent")


def test_a_pair_far_from_the_loss_pays_nothing_and_says_why(
    app: AppContext, shared_data: Path
) -> None:
    """The demo's defect: June and late September bracket a September hail, 85 days apart.

    The product's default terms (20 days each way) refuse to measure the loss on
    that pair: the claim goes amber, with no indemnity, and says which scene.
    """
    _, policy = crop_policy(app, ["AT-0488"])
    c = assessed_crop_claim(app, shared_data, policy)
    timing = next(x for x in c.checks if x.code == "scene_timing")
    assert (timing.light, timing.message) == ("amber", "scene_timing.before_too_early")
    assert (timing.params["before"], timing.params["days"]) == ("2021-06-17", 85)
    assert c.light == "amber" and c.amount.minor == 0
    assert [x.key for x in c.indemnity] == ["indemnity.scene_timing"]
    assert "85 days before the loss on 2021-09-10" in en(timing)


def test_plots_claiming_the_same_event_are_no_peers(
    app: AppContext, shared_data: Path, tmp_path: Path
) -> None:
    """A swath of hail hits several insured fields: those claiming it leave the baseline."""
    cl = app.claims
    _, policy = crop_policy(app, ["AT-0488", *PEERS])
    before, after = hail_pair(shared_data, tmp_path, ["AT-0488"])

    neighbour = crop_claim(app, policy, PEERS[0])
    cl.decide(neighbour.id, "reject", actor="adj", reason="not hit")
    crop_claim(app, policy, PEERS[1])  # still open: a claimant of the same hail
    record, _ = cl.assess_by_map(crop_claim(app, policy).id, before, after, actor="adj")
    baseline = next(ch for ch in record.checks if ch.code == "season_baseline")
    # eight peers insured; the open claimant is left out, the rejected one is not
    assert baseline.params["count"] == len(PEERS) - 1
