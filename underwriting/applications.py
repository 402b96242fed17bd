"""The rules of an application: its period, its plots and animals, and the decision on it.

Pure functions over plain values that the server gathers: the problems remote
sensing found in each plot's geometry, the overlaps it measured, the
enrolment of each animal, and the policies in force that already insure a
plot or an animal. Each ``check_*`` returns the :class:`~underwriting.checks.Check`
lines the underwriter sees; each ``validate_*`` / ``verify_*`` raises an
:class:`~underwriting.errors.UnderwritingError` when the rule refuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

from underwriting.checks import (
    Check,
    Light,
    check_animal,
    check_double_insurance,
    check_plot_area,
)
from underwriting.errors import (
    ApplicationError,
    DecisionConflictError,
    DoubleInsuranceError,
)

__all__ = [
    "DECIDABLE",
    "GEOMETRY_LIGHTS",
    "MAX_PERIOD_DAYS",
    "ApplicationStatus",
    "Decision",
    "GeometryProblem",
    "InsuredAnimal",
    "InsuredOverlap",
    "OverlapRules",
    "PresentedAnimal",
    "SurveyedPlot",
    "check_animal_double_insurance",
    "check_enrolled_animal",
    "check_plot_double_insurance",
    "check_plot_geometry",
    "check_plot_overlaps",
    "check_whole_herd",
    "concerns_plot",
    "crop_application_checks",
    "decide",
    "insured_twice",
    "livestock_application_checks",
    "periods_overlap",
    "validate_period",
    "verify_no_double_insurance",
]

Decision = Literal["approve", "refer", "decline"]
ApplicationStatus = Literal["submitted", "referred", "approved", "declined"]

DECIDABLE: tuple[ApplicationStatus, ...] = ("submitted", "referred")
"""Statuses an underwriter may still decide (a referral can be decided later)."""

MAX_PERIOD_DAYS = 731
"""The longest policy period: two years, one of them a leap year."""

GEOMETRY_LIGHTS: dict[str, Light] = {"error": "red", "warning": "amber"}
"""Light of a plot-geometry problem by its severity; ``info`` (fixed by itself) shows none."""

_STATUS_OF: dict[str, ApplicationStatus] = {
    "approve": "approved",
    "refer": "referred",
    "decline": "declined",
}
_M2_PER_HA = 10_000.0


class GeometryProblem(Protocol):
    """What the rules read of a plot's geometry problem (``remote_sensing.Problem`` fits)."""

    @property
    def code(self) -> str:
        """A stable code (``self_intersecting``): the reason's message key."""

    @property
    def severity(self) -> str:
        """``error``, ``warning`` or ``info``."""

    @property
    def message(self) -> str:
        """What is wrong, for a person."""


@dataclass(frozen=True, slots=True)
class InsuredOverlap:
    """A plot of the application over a plot of a policy in force.

    Attributes:
        plot_id: the application's plot (the id in the farmer's file).
        other_plot: the insured plot's id.
        policy_id: the policy that insures ``other_plot``.
        farmer_id: that policy's farmer.
        area_m2: the overlap, in square metres (geodesic).
        share: the overlap as a share of ``plot_id``'s area (0-1).
    """

    plot_id: str
    other_plot: str
    policy_id: str
    farmer_id: str
    area_m2: float
    share: float


@dataclass(frozen=True, slots=True)
class InsuredAnimal:
    """An animal of the application that a policy in force insures already.

    Attributes:
        tag: the animal's ear tag.
        policy_id: the policy that insures it.
        end_date: the last day that policy is in force.
    """

    tag: str
    policy_id: str
    end_date: date


def validate_period(start: date, end: date, *, max_days: int = MAX_PERIOD_DAYS) -> None:
    """A policy period ends after it starts and lasts at most ``max_days`` days.

    Args:
        start: the first day of cover.
        end: the last day of cover.
        max_days: the longest period allowed, in days (default two years).

    Raises:
        ApplicationError: ``end`` is not after ``start``, or the period is longer
            than ``max_days`` (field ``end_date`` in both cases).
    """
    if end <= start:
        raise ApplicationError(
            f"end_date must be after start_date ({end} is not after {start})",
            field="end_date",
        )
    if (end - start).days > max_days:
        raise ApplicationError(
            f"a policy period is at most two years ({max_days} days), "
            f"not {(end - start).days}",
            field="end_date",
        )


def periods_overlap(start: date, end: date, other_start: date, other_end: date) -> bool:
    """Whether two periods share a day (both ends inclusive): "in force in the period"."""
    return other_start <= end and other_end >= start


def check_plot_geometry(
    plot_id: str, problems: Iterable[GeometryProblem]
) -> list[Check]:
    """One check per problem of a plot's geometry: an error is red, a warning amber.

    Problems of severity ``info`` (repaired by themselves, e.g. ring
    orientation) give no check.
    """
    return [
        Check(
            "plot_geometry",
            GEOMETRY_LIGHTS[p.severity],
            f"plot_geometry.{p.code}",
            {"problem": p.code, "detail": p.message},
            plot_id,
        )
        for p in problems
        if p.severity in GEOMETRY_LIGHTS
    ]


def check_plot_overlaps(
    plot_id: str, overlaps: Iterable[tuple[str, float]]
) -> list[Check]:
    """Amber for each other plot of the same application that this plot overlaps.

    Args:
        plot_id: the plot.
        overlaps: (other plot of the application, overlap in ha) each. Each pair
            is reported once, by the plot whose id sorts first.
    """
    return [
        Check(
            "plot_overlap",
            "amber",
            "plot_overlap",
            {"other": other, "ha": area_ha},
            plot_id,
        )
        for other, area_ha in overlaps
        if plot_id < other
    ]


def concerns_plot(check: Check, plot_id: str) -> bool:
    """Whether ``check`` is about plot ``plot_id``: its subject, or the other plot of an overlap.

    Plot ids are whatever the farmer's file says, so this compares ids, never
    words: the checks of ``Field 1`` are not those of ``Field 1 North``. A check
    stored before checks were data has only its English words: it is matched
    by them, as it was then.
    """
    if check.message == "text":  # stored before checks were data: only its words
        words = str(check.params.get("text") or "")
        return words.startswith(
            (f"plot {plot_id}:", f"plot {plot_id} ", f"plots {plot_id} and ")
        ) or (
            words.startswith("plots ")
            and f" and {plot_id} of this application" in words
        )
    return check.subject == plot_id or (
        check.code == "plot_overlap" and check.params.get("other") == plot_id
    )


def _label(o: InsuredOverlap) -> str:
    return f"{o.other_plot} of policy {o.policy_id[:8]} ({o.farmer_id})"


def insured_twice(
    overlap: InsuredOverlap, *, min_overlap_m2: float, min_share: float = 0.5
) -> bool:
    """True when an overlap with an insured plot is double insurance.

    It is when it covers more than ``min_overlap_m2`` square metres, or at least
    ``min_share`` (0-1) of the plot: a small plot lying mostly inside an insured
    one is insured twice even when the overlap is under the area floor. Smaller
    overlaps are a shared boundary or digitising noise.
    """
    return overlap.area_m2 > min_overlap_m2 or overlap.share >= min_share


def check_plot_double_insurance(
    plot_id: str,
    overlaps: Iterable[InsuredOverlap],
    *,
    min_overlap_m2: float,
    min_share: float = 0.5,
) -> Check:
    """Red if the plot overlaps a plot of a policy in force (:func:`insured_twice`).

    Overlaps of other plots of the application are ignored.
    """
    found = [
        o
        for o in overlaps
        if o.plot_id == plot_id
        and insured_twice(o, min_overlap_m2=min_overlap_m2, min_share=min_share)
    ]
    if not found:
        return check_double_insurance(plot_id, [])
    return Check(
        "double_insurance",
        "red",
        "double_insurance.plot",
        {"count": len(found)},
        plot_id,
        tuple(
            Check(
                "double_insurance",
                "red",
                "double_insurance.insured_plot",
                {
                    "policy": o.policy_id[:8],
                    "farmer": o.farmer_id,
                    "ha": o.area_m2 / _M2_PER_HA,
                    "share": o.share,
                },
                o.other_plot,
            )
            for o in found
        ),
    )


def check_enrolled_animal(
    tag: str,
    farmer_id: str,
    *,
    status: str,
    match_tag: str | None,
    match_farm: str | None,
    enrolled_farm: str | None,
) -> Check:
    """An animal's latest enrolment, and that it is enrolled to the applying farmer.

    Args:
        tag: the animal's ear tag.
        farmer_id: the farmer who applies.
        status: the latest enrolment attempt's outcome (``enrolled``,
            ``duplicate`` or ``needs_review``).
        match_tag: the enrolled animal it matched (duplicate or review).
        match_farm: that animal's farm.
        enrolled_farm: the farm the animal is enrolled to, None if not stored.

    Returns:
        Red if enrolled to another farm; else the enrolment's own check
        (green enrolled, red duplicate, amber for review).
    """
    if (
        status == "enrolled"
        and enrolled_farm is not None
        and enrolled_farm != farmer_id
    ):
        return Check("animal", "red", "animal.other_farm", {"farm": enrolled_farm}, tag)
    return check_animal(tag, status, match_tag, match_farm)


def check_animal_double_insurance(
    tag: str, held: Iterable[InsuredAnimal]
) -> Check | None:
    """Red if a policy in force in the period insures the animal already, else no check."""
    mine = [h for h in held if h.tag == tag]
    if not mine:
        return None
    return Check(
        "double_insurance",
        "red",
        "double_insurance.animal",
        {"policies": ", ".join(h.policy_id[:8] for h in mine)},
        tag,
        tuple(
            Check(
                "double_insurance",
                "red",
                "double_insurance.policy",
                {"until": h.end_date.isoformat()},
                h.policy_id[:8],
            )
            for h in mine
        ),
    )


def check_whole_herd(herd: Iterable[str], applied: Iterable[str]) -> Check:
    """The whole-herd rule: amber naming every enrolled animal left out, else green.

    Args:
        herd: the tags of every animal enrolled to the farmer.
        applied: the tags in the application.
    """
    left_out = sorted(set(herd) - set(applied))
    if left_out:
        return Check(
            "whole_herd",
            "amber",
            "whole_herd.left_out",
            {"tags": ", ".join(left_out), "count": len(left_out)},
        )
    return Check("whole_herd", "green", "whole_herd.complete")


@dataclass(frozen=True)
class OverlapRules:
    """When an overlap with an insured plot is double insurance (the insurer's settings).

    Attributes:
        min_overlap_m2: overlaps above this many square metres are.
        min_share: so is any overlap covering this share (0-1) of the plot,
            however small (a small plot inside an insured one).
    """

    min_overlap_m2: float = 100.0
    min_share: float = 0.5

    def __post_init__(self) -> None:
        """Refuse a negative area or a share outside (0, 1].

        Raises:
            ValueError: the values are out of range.
        """
        if self.min_overlap_m2 < 0 or not 0 < self.min_share <= 1:
            raise ValueError("min_overlap_m2 must be >= 0 and min_share in (0, 1]")


@dataclass(frozen=True)
class SurveyedPlot:
    """What the rules read of one plot of a crop application, as remote sensing surveyed it.

    Attributes:
        plot_id: its id in the farmer's file.
        problems: its geometry's problems.
        usable: whether its geometry can be measured and insured.
        verdict: declared vs measured area (``within_tolerance``,
            ``over_declared``, ``under_declared``, ``no_declared_area``, ...).
        declared_ha: the declared area, in hectares (NaN when none).
        measured_ha: the geodesic area, in hectares.
        overlaps: (other plot of the application, overlap in ha) each.
    """

    plot_id: str
    problems: Sequence[GeometryProblem]
    usable: bool
    verdict: str
    declared_ha: float
    measured_ha: float
    overlaps: Sequence[tuple[str, float]] = ()


def crop_application_checks(
    plots: Sequence[SurveyedPlot],
    insured: Sequence[InsuredOverlap],
    rules: OverlapRules,
) -> list[Check]:
    """The checks of a crop application, plot by plot.

    Each plot's geometry problems; for a usable plot, its declared against
    its measured area, double insurance with plots of policies in force
    (``insured``, by :func:`insured_twice` under ``rules``) and overlaps
    with the application's other plots (reported once per pair).
    """
    checks: list[Check] = []
    for p in plots:
        checks += check_plot_geometry(p.plot_id, p.problems)
        if not p.usable:
            continue
        checks.append(
            check_plot_area(p.plot_id, p.verdict, p.declared_ha, p.measured_ha)
        )
        checks.append(
            check_plot_double_insurance(
                p.plot_id,
                insured,
                min_overlap_m2=rules.min_overlap_m2,
                min_share=rules.min_share,
            )
        )
        checks += check_plot_overlaps(p.plot_id, p.overlaps)
    return checks


@dataclass(frozen=True)
class PresentedAnimal:
    """What the rules read of one animal of a livestock application.

    Attributes:
        tag: its ear tag.
        status: its latest enrolment attempt (``enrolled``, ``duplicate``,
            ``needs_review``).
        match_tag: the enrolled animal that attempt matched, if any.
        match_farm: that animal's farm.
        enrolled_farm: the farm it is enrolled to, None if not stored.
    """

    tag: str
    status: str
    match_tag: str | None = None
    match_farm: str | None = None
    enrolled_farm: str | None = None


def livestock_application_checks(
    farmer_id: str,
    animals: Sequence[PresentedAnimal],
    insured: Sequence[InsuredAnimal],
    herd: Sequence[str] | None,
) -> list[Check]:
    """The checks of a livestock application, animal by animal, and the whole herd.

    Each animal's enrolment (and that it is the applying farmer's), a red
    check for each one a policy in force insures (``insured``), and, when
    ``herd`` is given (a whole-herd product: every animal enrolled to the
    farmer), the whole-herd rule.
    """
    checks: list[Check] = []
    for a in animals:
        checks.append(
            check_enrolled_animal(
                a.tag,
                farmer_id,
                status=a.status,
                match_tag=a.match_tag,
                match_farm=a.match_farm,
                enrolled_farm=a.enrolled_farm,
            )
        )
        held = check_animal_double_insurance(a.tag, insured)
        if held is not None:
            checks.append(held)
    if herd is not None:
        checks.append(check_whole_herd(herd, [a.tag for a in animals]))
    return checks


def decide(
    decision: str, *, status: str, recommendation: str, reason: str | None
) -> ApplicationStatus:
    """The status a decision moves an application to, if the rules allow it.

    A decline or a referral needs a reason; so does an approval against the
    checks' recommendation. Only a submitted or referred application can be
    decided. A reason of blanks is no reason.

    Args:
        decision: ``approve``, ``refer`` or ``decline``.
        status: the application's current status.
        recommendation: what its checks recommend (``approve``, ``refer``, ``decline``).
        reason: the underwriter's reason, if given.

    Returns:
        ``approved``, ``referred`` or ``declined``.

    Raises:
        ApplicationError: an unknown decision (field ``decision``) or a missing
            reason (field ``reason``).
        DecisionConflictError: the application was already approved or declined.
    """
    to_status = _STATUS_OF.get(decision)
    if to_status is None:
        raise ApplicationError(
            f"decision must be approve, refer or decline, not {decision!r}",
            field="decision",
        )
    if status not in DECIDABLE:
        raise DecisionConflictError(
            f"the application is already {status}", status=status
        )
    given = bool(reason and reason.strip())
    if decision != "approve" and not given:
        raise ApplicationError(f"to {decision}, give a reason", field="reason")
    if decision == "approve" and recommendation != "approve" and not given:
        raise ApplicationError(
            f"the checks recommend {recommendation}: give a reason to approve",
            field="reason",
        )
    return to_status


def verify_no_double_insurance(
    overlaps: Sequence[InsuredOverlap],
    animals: Sequence[InsuredAnimal],
    *,
    min_overlap_m2: float,
    min_share: float = 0.5,
) -> None:
    """Refuse to issue a policy over a plot or an animal a policy in force insures.

    Run at approval, over what is in force at that moment (other policies
    issued since the application was submitted included).

    Args:
        overlaps: the application's plots over plots of policies in force.
        animals: the application's animals insured by policies in force.
        min_overlap_m2: overlaps of this many square metres or less are allowed,
            unless they cover ``min_share`` of the plot (:func:`insured_twice`).
        min_share: the share of a plot (0-1) whose overlap is always refused.

    Raises:
        DoubleInsuranceError: naming the first plot (field ``plots``) or else the
            first animal (field ``animals``), its policy, and every other conflict.
    """
    clash = [
        o
        for o in overlaps
        if insured_twice(o, min_overlap_m2=min_overlap_m2, min_share=min_share)
    ]
    if clash:
        first = clash[0]
        detail = "; ".join(
            f"plot {o.plot_id} overlaps {_label(o)} by {o.area_m2 / _M2_PER_HA:.2f} ha "
            f"({o.share:.0%})"
            for o in clash
        )
        raise DoubleInsuranceError(
            f"double insurance: {detail}",
            field="plots",
            subject=first.plot_id,
            policy_id=first.policy_id,
        )
    if animals:
        first_animal = animals[0]
        detail = "; ".join(
            f"animal {a.tag} is insured by policy {a.policy_id[:8]} until {a.end_date}"
            for a in animals
        )
        raise DoubleInsuranceError(
            f"double insurance: {detail}",
            field="animals",
            subject=first_animal.tag,
            policy_id=first_animal.policy_id,
        )
