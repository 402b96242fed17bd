"""Which checks a claim gets, and what it must state: the rules without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from claims import (
    Check,
    ClaimedArea,
    ClaimInputError,
    ClaimRules,
    EarlierClaim,
    IdentityEvidence,
    Indemnity,
    Limit,
    LimitError,
    Line,
    PhotoFacts,
    animal_intake_checks,
    check_claimed_area,
    check_within_limits,
    claimed_m2,
    evidence_checks,
    limit_indemnity,
    plot_intake_checks,
    validate_crop_claim,
    validate_livestock_claim,
)
from underwriting import CropCalendar, CropProduct, LivestockProduct, Money

ZONE = ZoneInfo("Asia/Shanghai")
PERIOD = (date(2025, 4, 1), date(2026, 3, 31))
RULES = ClaimRules()
COW = LivestockProduct(
    code="COW",
    sum_insured_per_head=Money.parse("8000.00"),
    premium_rate=Decimal("0.05"),
    deductible=Money.zero(),
    waiting_days=7,
)
WHEAT = CropProduct(
    code="WHEAT",
    sum_insured_per_unit=Money.parse("900.00"),
    unit="mu",
    premium_rate=Decimal("0.06"),
    growth_stage_caps={"heading": Decimal("0.8")},
)


def _lights(checks: list) -> dict[str, str]:
    return {c.code: c.light for c in checks}


def _animal(
    event: date, reported: datetime, *, insured: tuple[str, ...] = ("T1",), earlier=()
) -> dict[str, str]:
    return _lights(
        animal_intake_checks(
            RULES,
            zone=ZONE,
            event=event,
            reported=reported,
            period=PERIOD,
            waiting_days=COW.waiting_days,
            tag="T1",
            insured=insured,
            earlier=list(earlier),
        )
    )


@pytest.mark.parametrize(
    ("event", "reported", "insured", "earlier", "expected"),
    [
        # A loss reported the next day, past the waiting period: all green but the
        # photos, which have not come yet.
        (
            date(2025, 5, 10),
            datetime(2025, 5, 11, 2, tzinfo=UTC),
            ("T1",),
            (),
            {
                "notice": "green",
                "cover": "green",
                "covered": "green",
                "duplicate_claim": "green",
                "evidence": "amber",
            },
        ),
        # One day into the policy: within the 7-day waiting period.
        (
            date(2025, 4, 2),
            datetime(2025, 4, 3, tzinfo=UTC),
            ("T1",),
            (),
            {"waiting_period": "red"},
        ),
        # Reported 20 days late (limit 14): amber, not red.
        (
            date(2025, 5, 10),
            datetime(2025, 5, 30, 12, tzinfo=UTC),
            ("T1",),
            (),
            {"notice": "amber"},
        ),
        # An animal the policy does not insure.
        (
            date(2025, 5, 10),
            datetime(2025, 5, 11, tzinfo=UTC),
            ("T2",),
            (),
            {"covered": "red"},
        ),
        # An animal dies once: any earlier claim of it is a duplicate, whatever its day.
        (
            date(2025, 9, 1),
            datetime(2025, 9, 2, tzinfo=UTC),
            ("T1",),
            (EarlierClaim("C-1", "rejected", date(2025, 5, 10)),),
            {"duplicate_claim": "red"},
        ),
        # After the policy ended.
        (
            date(2026, 4, 2),
            datetime(2026, 4, 2, 8, tzinfo=UTC),
            ("T1",),
            (),
            {"cover": "red"},
        ),
    ],
)
def test_an_animal_claim_gets_its_intake_checks(
    event: date,
    reported: datetime,
    insured: tuple[str, ...],
    earlier: tuple[EarlierClaim, ...],
    expected: dict[str, str],
) -> None:
    got = _animal(event, reported, insured=insured, earlier=earlier)
    assert expected.items() <= got.items(), got
    assert set(got) <= {
        "notice",
        "cover",
        "waiting_period",
        "covered",
        "duplicate_claim",
        "evidence",
    }


def _plot_checks(**given: Any) -> list[Check]:
    """Intake checks of a claim on Field 1 (20,000 m2), lost 2025-07-10; ``given`` overrides."""
    event = given.pop("event", date(2025, 7, 10))
    args: dict[str, Any] = {
        "zone": ZONE,
        "event": event,
        "reported": datetime.combine(
            event + timedelta(days=2), datetime.min.time(), UTC
        ),
        "period": PERIOD,
        "plot_id": "Field 1",
        "insured": ["Field 1"],
        "earlier": [],
        "claimed_m2": 1_000.0,
        "plot_area_m2": 20_000.0,
    }
    return plot_intake_checks(RULES, **(args | given))


@pytest.mark.parametrize(
    ("earlier_day", "fraction", "duplicate", "area"),
    [
        (None, 0.5, "green", "green"),
        (date(2025, 6, 20), 0.5, "red", "green"),  # 20 days apart: the same event
        (date(2025, 8, 10), 0.5, "green", "green"),  # 31 days apart: another event
        (None, 1.0, "green", "green"),  # the whole plot
    ],
)
def test_a_crop_claim_is_one_event_per_window_and_within_its_plot(
    earlier_day: date | None, fraction: float, duplicate: str, area: str
) -> None:
    earlier = [EarlierClaim("C-9", "paid", earlier_day)] if earlier_day else []
    checks = _plot_checks(
        insured=["Field 1", "Field 1 North"],
        earlier=earlier,
        claimed_m2=fraction * 20_000.0,
    )
    got = _lights(checks)
    assert got["duplicate_claim"] == duplicate and got["claimed_area"] == area
    # Crops have no waiting period; the damage waits for imagery.
    assert got["cover"] == "green" and got["measured_damage"] == "amber"
    covered = next(c for c in checks if c.code == "covered")
    assert (covered.subject, covered.light) == ("Field 1", "green")


def _evidence(
    identity: IdentityEvidence,
    site: tuple[float, float] | None = (40.0, 111.0),
    photos: tuple[PhotoFacts, ...] = (
        PhotoFacts("a.jpg", datetime(2025, 5, 11, 3, tzinfo=UTC), (40.001, 111.0)),
    ),
) -> dict[str, str]:
    return _lights(
        evidence_checks(
            RULES,
            identity=identity,
            photos=photos,
            site=site,
            loss_day=date(2025, 5, 10),
            zone=ZONE,
        )
    )


@pytest.mark.parametrize(
    ("identity", "light"),
    [
        (IdentityEvidence("T1", 0.9, None, (0.5, 0.8)), "green"),
        (IdentityEvidence("T1", 0.6, None, (0.5, 0.8)), "amber"),
        (IdentityEvidence("T1", 0.3, None, (0.5, 0.8)), "red"),
        # Another farmer's animal scores above the claimed one: red (fraud).
        (IdentityEvidence("T1", 0.85, ("T7", 0.9, True), (0.5, 0.8)), "red"),
        # The claimed animal has no templates: red.
        (IdentityEvidence("T1", None, None, (0.5, 0.8)), "red"),
    ],
)
def test_the_photos_must_be_the_claimed_animal(
    identity: IdentityEvidence, light: str
) -> None:
    assert _evidence(identity)["identity"] == light


def test_photos_far_from_the_farm_or_before_the_loss_and_a_farm_without_a_position() -> (
    None
):
    ok = IdentityEvidence("T1", 0.9, None, (0.5, 0.8))
    assert _evidence(ok) == {
        "identity": "green",
        "photo_location": "green",
        "capture_time": "green",
    }
    far = PhotoFacts("far.jpg", datetime(2025, 5, 11, tzinfo=UTC), (41.0, 111.0))
    early = PhotoFacts("early.jpg", datetime(2025, 5, 9, 10, tzinfo=UTC), None)
    got = _evidence(ok, photos=(far, early))
    assert got["photo_location"] == "red" and got["capture_time"] == "red"
    assert _evidence(ok, site=None)["photo_location"] == "amber"


@pytest.mark.parametrize(
    ("product", "value", "field"),
    [
        (WHEAT, Money.parse("100.00"), "subject_kind"),
        (COW, None, "market_value"),
        (COW, Money(-1, "CNY"), "market_value"),
    ],
)
def test_a_livestock_claim_must_state_its_value(
    product: CropProduct | LivestockProduct, value: Money | None, field: str
) -> None:
    with pytest.raises(ClaimInputError) as err:
        validate_livestock_claim(product, value)
    assert err.value.field == field
    validate_livestock_claim(COW, Money(0, "CNY"))  # a value of nothing is a value


@pytest.mark.parametrize(
    ("product", "fraction", "degree", "stage", "field"),
    [
        (COW, 0.5, Decimal(1), None, "subject_kind"),
        (WHEAT, None, Decimal(1), None, "claimed_fraction"),
        (WHEAT, 0.0, Decimal(1), None, "claimed_fraction"),
        (WHEAT, 1.01, Decimal(1), None, "claimed_fraction"),
        (WHEAT, 0.5, Decimal(0), None, "loss_degree"),
        (WHEAT, 0.5, Decimal("1.1"), None, "loss_degree"),
        (WHEAT, 0.5, Decimal(1), "tillering", "growth_stage"),
        (WHEAT, 0.5, Decimal("0.4"), "heading", None),
        (WHEAT, 1.0, Decimal(1), None, None),
    ],
)
def test_a_crop_claim_must_state_the_share_degree_and_stage(
    product: CropProduct | LivestockProduct,
    fraction: float | None,
    degree: Decimal,
    stage: str | None,
    field: str | None,
) -> None:
    if field is None:
        validate_crop_claim(product, fraction, degree, stage)
        return
    with pytest.raises(ClaimInputError) as err:
        validate_crop_claim(product, fraction, degree, stage)
    assert err.value.field == field


WINTER_WHEAT = CropCalendar.parse(
    {
        "sowing": "10-01",
        "heading": "05-10",
        "harvest_start": "07-01",
        "harvest_end": "07-31",
    }
)


@pytest.mark.parametrize(
    ("area", "light", "message"),
    [
        # 30 mu = 2 ha: the whole plot
        (ClaimedArea(Decimal(30), "mu"), "green", "claimed_area.within"),
        (ClaimedArea(Decimal("1.5"), "ha"), "green", "claimed_area.within"),
        # 45 mu = 3 ha on a 2 ha plot: more than was insured
        (ClaimedArea(Decimal(45), "mu"), "red", "claimed_area.above"),
        (ClaimedArea(Decimal("2.1"), "ha"), "red", "claimed_area.above"),
    ],
)
def test_a_claimed_area_in_mu_or_ha_can_pass_the_insured_one(
    area: ClaimedArea, light: str, message: str
) -> None:
    validate_crop_claim(WHEAT, None, Decimal(1), None, area)
    checks = _plot_checks(claimed_m2=claimed_m2(None, area, 20_000.0))
    check = next(c for c in checks if c.code == "claimed_area")
    assert (check.light, check.message) == (light, message)


@pytest.mark.parametrize(
    ("fraction", "area", "field"),
    [
        (0.5, ClaimedArea(Decimal(3), "mu"), "claimed_area"),  # both
        (None, ClaimedArea(Decimal(3), "acre"), "claimed_unit"),
        (None, ClaimedArea(Decimal(0), "mu"), "claimed_area"),
        (None, ClaimedArea(Decimal("NaN"), "ha"), "claimed_area"),
        (None, None, "claimed_fraction"),  # neither
    ],
)
def test_a_claimed_area_is_one_positive_figure_in_mu_or_ha(
    fraction: float | None, area: ClaimedArea | None, field: str
) -> None:
    with pytest.raises(ClaimInputError) as err:
        validate_crop_claim(WHEAT, fraction, Decimal(1), None, area)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("measured_m2", "light"),
    [(15_000.0, "green"), (9_000.0, "amber"), (None, "green")],
)
def test_a_claimed_area_above_the_damage_measured_is_looked_at(
    measured_m2: float | None, light: str
) -> None:
    check = check_claimed_area(12_000.0, 20_000.0, measured_m2)
    assert check.light == light
    if light == "amber":
        assert check.message == "claimed_area.above_measured"
        assert check.params["measured_ha"] == 0.9


@pytest.mark.parametrize(
    ("event", "light", "stage"),
    [
        (date(2020, 11, 15), "green", "vegetative"),
        (date(2021, 5, 9), "green", "vegetative"),
        (date(2021, 5, 10), "green", "heading"),
        (date(2021, 6, 30), "green", "heading"),
        (date(2021, 7, 1), "green", "maturity"),
        (date(2021, 7, 31), "green", "maturity"),
        # the crop is gone: the wheat of 2021 was cut in July
        (date(2021, 8, 1), "red", "after_harvest"),
        (date(2021, 9, 10), "red", "after_harvest"),
        # sown again: the next season's crop, which this policy does not insure
        (date(2021, 10, 1), "red", "after_harvest"),
    ],
)
def test_the_crop_calendar_says_the_stage_and_ends_cover_at_harvest(
    event: date, light: str, stage: str
) -> None:
    checks = _plot_checks(
        event=event,
        period=(date(2020, 10, 1), date(2021, 12, 31)),
        calendar=WINTER_WHEAT,
    )
    check = next(c for c in checks if c.code == "crop_season")
    assert (check.light, check.params["stage"]) == (light, stage)
    if light == "red":
        assert check.params["sowing"] == "2020-10-01"
        assert check.params["harvest_end"] == "2021-07-31"


def test_a_loss_before_the_insured_crop_is_sown_is_not_covered() -> None:
    maize = CropCalendar.parse(
        {
            "sowing": "04-20",
            "heading": "07-15",
            "harvest_start": "09-15",
            "harvest_end": "10-31",
        }
    )
    checks = _plot_checks(
        event=date(2021, 3, 15),
        period=(date(2021, 3, 1), date(2021, 11, 30)),
        calendar=maize,
    )
    check = next(c for c in checks if c.code == "crop_season")
    assert (check.light, check.message) == ("red", "crop_season.before_sowing")
    assert check.params["sowing"] == "2021-04-20"


def test_rules_refuse_nonsense_at_start() -> None:
    for bad in (
        {"farm_timezone": "Asia/Atlantis"},
        {"notice_days": -1},
        {"max_photo_km": 0},
        {"four_eyes_above_minor": -5},
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - the message names the setting
            ClaimRules(**bad)  # type: ignore[arg-type]
    assert ClaimRules(farm_timezones={"Tyrol": "Europe/Vienna"}).zone("Tyrol").key == (
        "Europe/Vienna"
    )


# --- the sums insured that indemnities never pass ------------------------------------


def _m(amount: str) -> Money:
    return Money.parse(amount)


COW_7400 = Indemnity(
    _m("7400"),
    (
        Line("indemnity.basis", "7600.00"),
        Line("indemnity.deductible", "200.00"),
        Line("indemnity.amount", "7400.00"),
    ),
)


@pytest.mark.parametrize(
    ("limits", "amount", "added"),
    [
        # Nothing paid before and room enough: the indemnity as it was.
        ([("policy", "8000", "0")], "7400.00", []),
        ([("plot", "9000", "0"), ("policy", "20000", "0")], "7400.00", []),
        # Paid before, room enough: the breakdown says so, the amount stays.
        (
            [("policy", "20000", "7400")],
            "7400.00",
            [("paid_before", "7400.00", "policy"), ("left", "12600.00", "policy")],
        ),
        # A later claim is reduced by what was already paid.
        (
            [("policy", "8000", "7400")],
            "600.00",
            [("paid_before", "7400.00", "policy"), ("left", "600.00", "policy")],
        ),
        # The tighter of a plot and a policy decides; each says what it left.
        (
            [("plot", "9000", "5000"), ("policy", "16000", "10000")],
            "4000.00",
            [
                ("paid_before", "5000.00", "plot"),
                ("left", "4000.00", "plot"),
                ("paid_before", "10000.00", "policy"),
                ("left", "6000.00", "policy"),
            ],
        ),
        (
            [("plot", "9000", "0"), ("policy", "16000", "13000")],
            "3000.00",
            [("paid_before", "13000.00", "policy"), ("left", "3000.00", "policy")],
        ),
        # Paid up (or past it, written before limits): nothing, never negative.
        (
            [("policy", "8000", "8000")],
            "0.00",
            [("paid_before", "8000.00", "policy"), ("left", "0.00", "policy")],
        ),
        (
            [("policy", "8000", "9000")],
            "0.00",
            [("paid_before", "9000.00", "policy"), ("left", "0.00", "policy")],
        ),
        # A sum insured below the indemnity cuts it though nothing was paid.
        (
            [("policy", "5000", "0")],
            "5000.00",
            [("paid_before", "0.00", "policy"), ("left", "5000.00", "policy")],
        ),
    ],
)
def test_a_later_indemnity_is_reduced_by_what_was_paid_and_says_so(
    limits: list[tuple[str, str, str]],
    amount: str,
    added: list[tuple[str, str, str]],
) -> None:
    got = limit_indemnity(
        COW_7400, [Limit(scope, _m(s), _m(paid)) for scope, s, paid in limits]
    )
    assert str(got.amount) == amount
    if not added:
        assert got == COW_7400
        return
    assert got.lines == (
        *COW_7400.lines[:2],
        *(Line(f"indemnity.{k}", v, {"scope": sc}) for k, v, sc in added),
        Line("indemnity.amount", amount),
    )


@pytest.mark.parametrize(
    ("amount", "limits", "refused"),
    [
        ("7400", [("policy", "8000", "0")], None),
        ("600", [("policy", "8000", "7400")], None),  # exactly what is left
        ("601", [("policy", "8000", "7400")], "policy"),
        ("7400", [("policy", "8000", "7400")], "policy"),
        ("0", [("policy", "8000", "9000")], None),  # nothing to pay passes nothing
        ("4000", [("plot", "9000", "5000"), ("policy", "16000", "0")], None),
        ("4001", [("plot", "9000", "5000"), ("policy", "16000", "0")], "plot"),
        ("3001", [("plot", "9000", "0"), ("policy", "16000", "13000")], "policy"),
    ],
)
def test_a_payment_that_would_pass_a_sum_insured_is_refused(
    amount: str, limits: list[tuple[str, str, str]], refused: str | None
) -> None:
    given = [Limit(scope, _m(s), _m(paid)) for scope, s, paid in limits]
    if refused is None:
        check_within_limits(_m(amount), given)
        return
    with pytest.raises(LimitError, match=f"the {refused}'s sum insured") as err:
        check_within_limits(_m(amount), given)
    assert err.value.scope == refused
    assert "nothing more is paid" in str(err.value)


def test_limits_refuse_another_currency() -> None:
    with pytest.raises(ValueError, match="cannot combine"):
        limit_indemnity(COW_7400, [Limit("policy", Money(100, "EUR"), Money(0, "EUR"))])
