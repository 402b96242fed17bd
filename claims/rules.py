"""The insurer's claim rules: thresholds, what a claim must state, and which checks it gets.

Pure functions over plain values. The server reads the policy, the product,
the farm, the earlier claims and the evidence through its ports, and these
decide: whether the claim is well formed (:func:`validate_livestock_claim`,
:func:`validate_crop_claim`), which checks its intake gets and their lights
(:func:`animal_intake_checks`, :func:`plot_intake_checks`), and the checks of
its photo evidence (:func:`evidence_checks`), and the sums insured that a
claim's indemnity may not pass once earlier claims were paid
(:func:`limit_indemnity` at assessment, :func:`check_within_limits` at
payment). Every threshold is a field of :class:`ClaimRules` (the insurer's
settings); a product's terms (its waiting days, growth-stage caps) come with
the product.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from claims.checks import (
    check_capture_time,
    check_claimed_area,
    check_cover,
    check_covered,
    check_earlier_claims,
    check_identity,
    check_notice,
    check_photo_location,
    worst,
)
from claims.dates import DEFAULT_FARM_TIMEZONE, farm_zone
from claims.errors import ClaimInputError, LimitError
from claims.indemnity import Indemnity, Line
from claims.notices import check_objection_days
from claims.season import SeasonRules, check_crop_season
from underwriting.calendar import CropCalendar
from underwriting.checks import Check, Param
from underwriting.money import Money
from underwriting.products import M2_PER_UNIT, CropProduct, LivestockProduct

__all__ = [
    "ClaimRules",
    "ClaimedArea",
    "EarlierClaim",
    "IdentityEvidence",
    "Limit",
    "PhotoFacts",
    "animal_intake_checks",
    "check_within_limits",
    "claimed_m2",
    "evidence_checks",
    "limit_indemnity",
    "plot_intake_checks",
    "validate_crop_claim",
    "validate_livestock_claim",
]


@dataclass(frozen=True)
class ClaimRules:
    """The insurer's claim rules.

    Attributes:
        notice_days: a loss must be reported within this many days.
        max_photo_km: photos must be taken within this distance of the farm or plot.
        same_event_days: two claims on one plot within this many days are one event.
        hash_distance: pHash Hamming distance at or below which a photo is reused.
        farm_timezone: IANA zone of the farms' calendar (every date rule).
        farm_timezones: zones by farmer region, overriding ``farm_timezone``.
        four_eyes_above_minor: above this indemnity (minor units) the approver
            may not record the payment (0: every payment).
        season: how a crop loss is told from the season (claims by map).
        objection_days: a public notice's objection period unless the notice
            sets its own (days, within ``claims.notices``' bounds).
    """

    notice_days: int = 14
    max_photo_km: float = 5.0
    same_event_days: int = 30
    hash_distance: int = 6
    farm_timezone: str = DEFAULT_FARM_TIMEZONE
    farm_timezones: Mapping[str, str] = field(default_factory=dict)
    four_eyes_above_minor: int = 0
    season: SeasonRules = field(default_factory=SeasonRules)
    objection_days: int = 7

    def __post_init__(self) -> None:
        """Refuse unknown zones and negative thresholds at start, not at the first claim.

        Raises:
            ValueError: a zone is not an IANA time zone, or a negative threshold.
        """
        for name in (self.farm_timezone, *self.farm_timezones.values()):
            farm_zone(name)
        for name in ("notice_days", "same_event_days", "hash_distance"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if not self.max_photo_km > 0:
            raise ValueError("max_photo_km must be > 0")
        if self.four_eyes_above_minor < 0:
            raise ValueError("four_eyes_above_minor must be >= 0")
        check_objection_days(self.objection_days)

    def zone(self, region: str | None) -> ZoneInfo:
        """The time zone of a farm in ``region``."""
        return farm_zone(
            self.farm_timezone, region=region, by_region=self.farm_timezones
        )


@dataclass(frozen=True)
class EarlierClaim:
    """A claim filed before on the same subject: its id, status and day of loss."""

    id: str
    status: str
    event_date: date


# --- what a claim must state ---------------------------------------------------------


def validate_livestock_claim(
    product: CropProduct | LivestockProduct, market_value: Money | None
) -> None:
    """A livestock claim names an animal of a livestock policy and its market value (>= 0).

    Raises:
        ClaimInputError: the product insures crops, or the market value is
            missing or negative (``field`` names the input).
    """
    if not isinstance(product, LivestockProduct):
        raise ClaimInputError("the policy insures crops, not animals", "subject_kind")
    if market_value is None:
        raise ClaimInputError(
            "a livestock claim needs the animal's market value", "market_value"
        )
    if market_value.minor < 0:
        raise ClaimInputError("the market value must be >= 0", "market_value")


@dataclass(frozen=True)
class ClaimedArea:
    """An area a farmer says was lost, in the unit the farmer counts in.

    Attributes:
        value: how much, > 0.
        unit: ``mu`` (1/15 ha) or ``ha``.
    """

    value: Decimal
    unit: str

    @property
    def m2(self) -> float:
        """The area in square metres."""
        return float(self.value * M2_PER_UNIT[self.unit])


def claimed_m2(
    claimed_fraction: float | None, area: ClaimedArea | None, plot_area_m2: float
) -> float:
    """The area claimed, in m2: the area as given, else the share of the plot.

    Precondition: :func:`validate_crop_claim` accepted the claim (one of the two).
    """
    if area is not None:
        return area.m2
    return float(claimed_fraction or 0.0) * plot_area_m2


def validate_crop_claim(
    product: CropProduct | LivestockProduct,
    claimed_fraction: float | None,
    loss_degree: Decimal,
    growth_stage: str | None,
    area: ClaimedArea | None = None,
) -> None:
    """A crop claim names a plot of a crop policy, what was lost, the degree and the stage.

    What was lost is either ``claimed_fraction`` (the share of the plot
    damaged, in (0, 1]) or ``area`` (an area in mu or ha, > 0; an area above
    the plot's is not refused here: its check goes red, with the figures).
    ``loss_degree`` (the loss on the damaged area) is in (0, 1]; the growth
    stage, if given, is one whose cap the product defines.

    Raises:
        ClaimInputError: the product insures animals, or an input out of
            range (``field`` names it).
    """
    if not isinstance(product, CropProduct):
        raise ClaimInputError("the policy insures animals, not plots", "subject_kind")
    if area is not None:
        if claimed_fraction is not None:
            raise ClaimInputError(
                "give the claimed damaged fraction or the claimed area, not both",
                "claimed_area",
            )
        if area.unit not in M2_PER_UNIT:
            raise ClaimInputError(
                "a claimed area needs its unit, mu or ha"
                + (f", not {area.unit!r}" if area.unit else ""),
                "claimed_unit",
            )
        if not (area.value.is_finite() and area.value > 0):
            raise ClaimInputError("the claimed area must be > 0", "claimed_area")
    elif claimed_fraction is None or not 0 < claimed_fraction <= 1:
        raise ClaimInputError(
            "a crop claim needs the claimed damaged fraction, in (0, 1], or an area",
            "claimed_fraction",
        )
    if not Decimal(0) < loss_degree <= Decimal(1):
        raise ClaimInputError("loss_degree must be in (0, 1]", "loss_degree")
    if growth_stage is not None and growth_stage not in product.growth_stage_caps:
        raise ClaimInputError(
            f"growth stage {growth_stage!r} is not one of "
            f"{', '.join(sorted(product.growth_stage_caps)) or 'the product'}",
            "growth_stage",
        )


# --- which checks a claim gets --------------------------------------------------------


def _timely(
    rules: ClaimRules,
    zone: tzinfo,
    event: date,
    reported: datetime,
    period: tuple[date, date],
    waiting_days: int,
) -> list[Check]:
    return [
        check_notice(event, reported, rules.notice_days, zone),
        check_cover(event, *period, waiting_days),
    ]


def animal_intake_checks(
    rules: ClaimRules,
    *,
    zone: tzinfo,
    event: date,
    reported: datetime,
    period: tuple[date, date],
    waiting_days: int,
    tag: str,
    insured: Sequence[str],
    earlier: Sequence[EarlierClaim],
) -> list[Check]:
    """The checks an animal claim gets when filed.

    Notice and cover (with the product's waiting days), the animal insured
    by the policy, no earlier claim of the animal (any status: an animal
    dies once), and an amber ``evidence`` until photos of the animal come.

    Args:
        rules: the insurer's thresholds.
        zone: the farm's time zone (its calendar counts the days).
        event: the day of the loss.
        reported: when the loss was reported (an instant).
        period: the policy's first and last day.
        waiting_days: the product's waiting period.
        tag: the animal's ear tag.
        insured: the tags the policy insures.
        earlier: the claims filed before on this animal.
    """
    return [
        *_timely(rules, zone, event, reported, period, waiting_days),
        check_covered("animal", tag, insured),
        check_earlier_claims((e.id, e.status, e.event_date) for e in earlier),
        Check("evidence", "amber", "evidence.awaiting"),
    ]


def plot_intake_checks(
    rules: ClaimRules,
    *,
    zone: tzinfo,
    event: date,
    reported: datetime,
    period: tuple[date, date],
    plot_id: str,
    insured: Sequence[str],
    earlier: Sequence[EarlierClaim],
    claimed_m2: float,
    plot_area_m2: float,
    calendar: CropCalendar | None = None,
) -> list[Check]:
    """The checks a crop claim gets when filed.

    Notice and cover (crops have no waiting period), the crop in the field on
    the event's day by its calendar (none after the harvest; when the
    product has a calendar), the plot insured by the policy, no earlier
    claim of the same event on the plot (losses within
    ``rules.same_event_days`` of each other are one event), the claimed area
    (m2) within the insured area, and an amber ``measured_damage`` until the
    damage is measured on imagery.
    """
    same_event = [
        e for e in earlier if abs((e.event_date - event).days) <= rules.same_event_days
    ]
    return [
        *_timely(rules, zone, event, reported, period, 0),
        *([check_crop_season(event, calendar, period)] if calendar is not None else []),
        check_covered("plot", plot_id, insured),
        check_earlier_claims((e.id, e.status, e.event_date) for e in same_event),
        check_claimed_area(claimed_m2, plot_area_m2),
        Check("measured_damage", "amber", "measured_damage.awaiting"),
    ]


@dataclass(frozen=True)
class IdentityEvidence:
    """What face ID found for a claim's photos (None for ``claimed_score``: not enrolled).

    Attributes:
        tag: the claimed animal's tag.
        claimed_score: the photos' similarity to it (cosine), None when it
            has no templates.
        best_other: the best-scoring other animal (tag, score, whether it is
            another farmer's), or None.
        thresholds: (review, match) thresholds of the basis used.
        basis: ``photo`` or ``session`` (several photos fused).
    """

    tag: str
    claimed_score: float | None
    best_other: tuple[str, float, bool] | None
    thresholds: tuple[float, float]
    basis: str = "photo"


@dataclass(frozen=True)
class PhotoFacts:
    """One evidence photo: its name, capture time and GPS position, as vouched for.

    ``captured_at`` is an instant or the farm's wall-clock time; ``position``
    is (lat, lon) in degrees; either is None when the photo carries none.
    """

    name: str
    captured_at: datetime | None
    position: tuple[float, float] | None


def evidence_checks(
    rules: ClaimRules,
    *,
    identity: IdentityEvidence,
    photos: Sequence[PhotoFacts],
    site: tuple[float, float] | None,
    loss_day: date,
    zone: tzinfo,
) -> list[Check]:
    """The checks a claim's photo evidence gets (the photo-reuse and signature checks aside).

    The identity check (red when the animal is not enrolled), the worst
    photo's distance from the farm (amber when the farm has no position on
    record) and the worst photo's capture time against the day of the loss.
    Precondition: ``photos`` is not empty.
    """
    if identity.claimed_score is None:
        who = Check("identity", "red", "identity.not_enrolled", {}, identity.tag)
    else:
        best = identity.best_other
        who = check_identity(
            identity.tag,
            identity.claimed_score,
            best[0] if best else None,
            best[1] if best else -1.0,
            bool(best and best[2]),
            *identity.thresholds,
            basis=identity.basis,
        )
    if site is None:
        location = Check("photo_location", "amber", "photo_location.no_farm_position")
    else:
        location = worst(
            "photo_location",
            [
                (p.name, check_photo_location(p.position, site, rules.max_photo_km))
                for p in photos
            ],
        )
    timing = worst(
        "capture_time",
        [(p.name, check_capture_time(p.captured_at, loss_day, zone)) for p in photos],
    )
    return [who, location, timing]


# --- the sums insured that indemnities never pass ---------------------------------


@dataclass(frozen=True)
class Limit:
    """A sum insured that a subject's indemnities together never pass.

    Attributes:
        scope: what it insures: ``plot`` (the product's sum insured for the
            plot's area) or ``policy`` (the policy's sum insured).
        sum_insured: the most paid under it, all claims together.
        paid: what was already paid under it (other claims).
    """

    scope: str
    sum_insured: Money
    paid: Money

    @property
    def left(self) -> Money:
        """What may still be paid under it: the sum insured less what was paid, >= 0."""
        return (self.sum_insured - self.paid).max(Money.zero(self.sum_insured.currency))


def limit_indemnity(indemnity: Indemnity, limits: Sequence[Limit]) -> Indemnity:
    """The indemnity reduced to what is left under each limit, and the breakdown saying so.

    The amount is the least of the indemnity and each limit's remainder. For
    each limit under which something was paid before (or whose remainder
    cuts the amount), the breakdown gets what was paid before and what is
    left (``indemnity.paid_before``, ``indemnity.left``, params ``scope``),
    then the final ``indemnity.amount`` line. With nothing paid and nothing
    cut, the indemnity comes back as it was.
    """
    amount = indemnity.amount
    added: list[Line] = []
    for limit in limits:
        left = limit.left
        capped = amount.min(left)  # refuses another currency
        if limit.paid.minor <= 0 and capped == amount:
            continue
        scope: dict[str, Param] = {"scope": limit.scope}
        added += [
            Line("indemnity.paid_before", str(limit.paid), scope),
            Line("indemnity.left", str(left), scope),
        ]
        amount = capped
    if not added:
        return indemnity
    lines = [x for x in indemnity.lines if x.key != "indemnity.amount"]
    return replace(
        indemnity,
        amount=amount,
        lines=(*lines, *added, Line("indemnity.amount", str(amount))),
    )


def check_within_limits(amount: Money, limits: Sequence[Limit]) -> None:
    """Refuse a payment of ``amount`` that would pass any limit (what was paid plus it).

    Raises:
        LimitError: ``amount`` is above a limit's remainder (``scope`` names it).
    """
    for limit in limits:
        if amount.min(limit.left) != amount:  # above what is left
            raise LimitError(
                f"paying {amount} would pass the {limit.scope}'s sum insured "
                f"{limit.sum_insured}: {limit.paid} was paid before, "
                f"{limit.left} is left: nothing more is paid on it",
                limit.scope,
            )
