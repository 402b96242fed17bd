"""The rules of an application, as tables: period, plots, animals, double insurance, decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from tests.words import en
from underwriting import (
    ApplicationError,
    Check,
    DecisionConflictError,
    DoubleInsuranceError,
    InsuredAnimal,
    InsuredOverlap,
    OverlapRules,
    PresentedAnimal,
    SurveyedPlot,
    check_animal_double_insurance,
    check_enrolled_animal,
    check_plot_double_insurance,
    check_plot_geometry,
    check_plot_overlaps,
    check_whole_herd,
    concerns_plot,
    crop_application_checks,
    decide,
    insured_twice,
    livestock_application_checks,
    periods_overlap,
    validate_period,
    verify_no_double_insurance,
)

D = date.fromisoformat


@dataclass(frozen=True)
class Problem:
    severity: str
    message: str
    code: str = "empty"


# --- the policy period -------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "refusal"),
    [
        ("2025-03-01", "2025-10-31", None),  # a season
        ("2025-03-01", "2025-03-02", None),  # one day is a period
        ("2024-01-01", "2025-12-31", None),  # two years (a leap year in them: 730 days)
        ("2025-01-01", "2027-01-02", None),  # 731 days: the longest allowed
        ("2025-01-01", "2027-01-03", "at most two years"),  # 732 days
        ("2025-03-01", "2025-03-01", "end_date must be after start_date"),
        ("2025-10-31", "2025-03-01", "end_date must be after start_date"),
    ],
)
def test_a_policy_period_ends_after_it_starts_and_lasts_at_most_two_years(
    start: str, end: str, refusal: str | None
) -> None:
    if refusal is None:
        validate_period(D(start), D(end))
        return
    with pytest.raises(ApplicationError, match=refusal) as caught:
        validate_period(D(start), D(end))
    assert caught.value.field == "end_date"


@pytest.mark.parametrize(
    ("period", "other", "in_force"),
    [
        (("2025-03-01", "2025-10-31"), ("2025-01-01", "2025-12-31"), True),  # inside
        (("2025-03-01", "2025-10-31"), ("2025-10-31", "2026-10-31"), True),  # last day
        (("2025-03-01", "2025-10-31"), ("2024-03-01", "2025-03-01"), True),  # first day
        (("2025-03-01", "2025-10-31"), ("2025-11-01", "2026-10-31"), False),  # after
        (("2025-03-01", "2025-10-31"), ("2024-03-01", "2025-02-28"), False),  # before
    ],
)
def test_a_policy_is_in_force_in_a_period_when_they_share_a_day(
    period: tuple[str, str], other: tuple[str, str], in_force: bool
) -> None:
    start, end = map(D, period)
    other_start, other_end = map(D, other)
    assert periods_overlap(start, end, other_start, other_end) is in_force


# --- plots ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "light"),
    [
        ("error", "red"),  # cannot be measured or insured as is (empty, invalid)
        ("warning", "amber"),  # measured, but someone should look (repaired bow-tie)
        ("info", None),  # fixed by itself (ring orientation): no check
    ],
)
def test_a_geometry_problem_is_red_for_an_error_and_amber_for_a_warning(
    severity: str, light: str | None
) -> None:
    checks = check_plot_geometry("B", [Problem(severity, "the geometry is empty")])
    assert [c.light for c in checks] == ([light] if light else [])
    for c in checks:
        assert (c.code, en(c)) == ("plot_geometry", "plot B: the geometry is empty")


@pytest.mark.parametrize(
    ("plot_id", "other", "reported"),
    [
        ("A", "B", True),  # each pair once, by the plot whose id sorts first
        ("B", "A", False),
    ],
)
def test_plots_of_one_application_that_overlap_are_amber_once_per_pair(
    plot_id: str, other: str, reported: bool
) -> None:
    checks = check_plot_overlaps(plot_id, [(other, 0.25)])
    if not reported:
        assert checks == []
        return
    (c,) = checks
    assert (c.code, c.light) == ("plot_overlap", "amber")
    assert en(c) == "plots A and B of this application overlap by 0.25 ha"


def overlap(plot: str, area_m2: float, policy: str = "P-0000001") -> InsuredOverlap:
    return InsuredOverlap(plot, "A", policy, "F-1", area_m2, area_m2 / 40_000)


@pytest.mark.parametrize(
    ("overlaps", "light", "reason"),
    [
        ([], "green", "plot X: no overlap with insured plots"),
        ([overlap("X", 100.0)], "green", "plot X: no overlap with insured plots"),
        (
            [overlap("X", 26_800.0)],
            "red",
            "plot X overlaps insured plots: A of policy P-000000 (F-1) (2.68 ha, 67%)",
        ),
        ([overlap("Y", 26_800.0)], "green", "plot X: no overlap with insured plots"),
    ],
    ids=["none", "at-the-threshold", "over-an-insured-plot", "another-plot's"],
)
def test_a_plot_over_a_plot_of_a_policy_in_force_is_red(
    overlaps: list[InsuredOverlap], light: str, reason: str
) -> None:
    c = check_plot_double_insurance("X", overlaps, min_overlap_m2=100.0)
    assert (c.code, c.light, en(c)) == ("double_insurance", light, reason)


@pytest.mark.parametrize(
    ("area_m2", "share", "twice"),
    [
        (100.0, 0.01, False),  # at the area floor, a sliver of a big plot
        (100.5, 0.01, True),  # over the floor
        (90.0, 0.9, True),  # a small plot lying inside an insured one
        (20.0, 0.49, False),  # under the floor and under half the plot
        (20.0, 0.5, True),  # half the plot
    ],
    ids=["floor", "over-floor", "small-plot-inside", "edge-noise", "half"],
)
def test_double_insurance_is_a_large_overlap_or_most_of_the_plot(
    area_m2: float, share: float, twice: bool
) -> None:
    o = InsuredOverlap("X", "A", "P-1", "F-1", area_m2, share)
    assert insured_twice(o, min_overlap_m2=100.0, min_share=0.5) is twice


# --- animals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "match", "enrolled_farm", "light", "reason"),
    [
        ("enrolled", None, "F-1", "green", "enrolled, no match with insured animals"),
        ("enrolled", None, "F-2", "red", "is enrolled to F-2"),
        ("duplicate", ("T2", "F-2"), None, "red", "is already insured as T2 of F-2"),
        ("needs_review", ("T2", None), None, "amber", "may be T2: review"),
    ],
)
def test_an_animal_is_green_only_when_enrolled_to_the_applying_farmer(
    status: str,
    match: tuple[str, str | None] | None,
    enrolled_farm: str | None,
    light: str,
    reason: str,
) -> None:
    c = check_enrolled_animal(
        "T1",
        "F-1",
        status=status,
        match_tag=match[0] if match else None,
        match_farm=match[1] if match else None,
        enrolled_farm=enrolled_farm,
    )
    assert (c.code, c.light) == ("animal", light)
    assert reason in en(c)


@pytest.mark.parametrize(
    ("held", "reason"),
    [
        ([], None),
        ([InsuredAnimal("T2", "P-0000001", D("2025-12-31"))], None),  # another animal
        (
            [InsuredAnimal("T1", "P-0000001abc", D("2025-12-31"))],
            "animal T1 is insured by policy P-000000 until 2025-12-31",
        ),
    ],
)
def test_an_animal_insured_by_a_policy_in_force_is_red(
    held: list[InsuredAnimal], reason: str | None
) -> None:
    c = check_animal_double_insurance("T1", held)
    if reason is None:
        assert c is None
    else:
        assert c is not None
        assert (c.code, c.light, en(c)) == ("double_insurance", "red", reason)


@pytest.mark.parametrize(
    ("herd", "applied", "light", "reason"),
    [
        (
            ["T1", "T2"],
            ["T1", "T2"],
            "green",
            "the whole enrolled herd is in the application",
        ),
        (
            ["T1"],
            ["T1", "T9"],
            "green",
            "the whole enrolled herd is in the application",
        ),
        (
            ["T3", "T1", "T2"],
            ["T1"],
            "amber",
            "the whole-herd rule: enrolled animals not in the application: T2, T3",
        ),
    ],
)
def test_the_whole_herd_rule_names_every_animal_left_out(
    herd: list[str], applied: list[str], light: str, reason: str
) -> None:
    c = check_whole_herd(herd, applied)
    assert (c.code, c.light, en(c)) == ("whole_herd", light, reason)


# --- the decision ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "status", "recommendation", "reason", "outcome"),
    [
        ("approve", "submitted", "approve", None, "approved"),
        ("approve", "submitted", "refer", None, "reason: the checks recommend refer"),
        (
            "approve",
            "submitted",
            "decline",
            "  ",
            "reason: the checks recommend decline",
        ),
        ("approve", "referred", "decline", "seen on site", "approved"),
        ("refer", "submitted", "approve", None, "reason: to refer, give a reason"),
        ("refer", "submitted", "refer", "ask for the deed", "referred"),
        ("refer", "referred", "refer", "still waiting", "referred"),
        ("decline", "submitted", "approve", None, "reason: to decline, give a reason"),
        ("decline", "submitted", "decline", "over-declared", "declined"),
        ("approve", "approved", "approve", None, "conflict: already approved"),
        ("decline", "declined", "decline", "again", "conflict: already declined"),
        (
            "accept",
            "submitted",
            "approve",
            None,
            "decision: must be approve, refer or decline",
        ),
    ],
)
def test_a_decision_moves_the_application_if_its_reasons_are_given(
    decision: str, status: str, recommendation: str, reason: str | None, outcome: str
) -> None:
    if ":" not in outcome:
        assert (
            decide(
                decision, status=status, recommendation=recommendation, reason=reason
            )
            == outcome
        )
        return
    kind, message = outcome.split(": ", 1)
    if kind == "conflict":
        with pytest.raises(DecisionConflictError, match=message):
            decide(
                decision, status=status, recommendation=recommendation, reason=reason
            )
        return
    with pytest.raises(ApplicationError, match=message) as caught:
        decide(decision, status=status, recommendation=recommendation, reason=reason)
    assert caught.value.field == kind


@pytest.mark.parametrize(
    ("overlaps", "animals", "field", "message"),
    [
        ([], [], None, None),
        ([overlap("X", 100.0)], [], None, None),  # at the threshold: a shared boundary
        (
            [overlap("X", 26_800.0, "P-1234567890")],
            [],
            "plots",
            "plot X overlaps A of policy P-123456 (F-1) by 2.68 ha (67%)",
        ),
        (
            [],
            [InsuredAnimal("T1", "P-1234567890", D("2025-12-31"))],
            "animals",
            "animal T1 is insured by policy P-123456 until 2025-12-31",
        ),
    ],
)
def test_a_policy_is_not_issued_over_what_a_policy_in_force_insures(
    overlaps: list[InsuredOverlap],
    animals: list[InsuredAnimal],
    field: str | None,
    message: str | None,
) -> None:
    if field is None:
        verify_no_double_insurance(overlaps, animals, min_overlap_m2=100.0)
        return
    with pytest.raises(DoubleInsuranceError) as caught:
        verify_no_double_insurance(overlaps, animals, min_overlap_m2=100.0)
    assert caught.value.field == field
    assert message is not None and message in str(caught.value)
    assert caught.value.policy_id == "P-1234567890"


# --- the checklists of an application -------------------------------------------------


def _plot(plot_id: str, **kw: object) -> SurveyedPlot:
    fields: dict[str, object] = {
        "problems": (),
        "usable": True,
        "verdict": "within_tolerance",
        "declared_ha": 2.0,
        "measured_ha": 2.0,
        "overlaps": (),
    }
    fields.update(kw)
    return SurveyedPlot(plot_id, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("plots", "insured", "expected"),
    [
        # Two clean plots: area and double insurance, green, each about its own plot.
        (
            [_plot("Field 1"), _plot("Field 1 North")],
            [],
            [
                ("plot_area", "green", "Field 1"),
                ("double_insurance", "green", "Field 1"),
                ("plot_area", "green", "Field 1 North"),
                ("double_insurance", "green", "Field 1 North"),
            ],
        ),
        # An unusable plot gets its geometry's checks only.
        (
            [_plot("B", usable=False, problems=[Problem("error", "empty")])],
            [],
            [("plot_geometry", "red", "B")],
        ),
        # Over-declared, and lying on an insured plot by 2 ha (red twice).
        (
            [_plot("A", verdict="over_declared", declared_ha=3.0)],
            [InsuredOverlap("A", "X-1", "P-000000", "F-9", 20_000.0, 1.0)],
            [("plot_area", "red", "A"), ("double_insurance", "red", "A")],
        ),
        # A sliver of overlap (50 m2, 1 %) is a shared boundary: green.
        (
            [_plot("A")],
            [InsuredOverlap("A", "X-1", "P-000000", "F-9", 50.0, 0.01)],
            [("plot_area", "green", "A"), ("double_insurance", "green", "A")],
        ),
        # Two plots of the application overlapping: amber once, by the first id.
        (
            [_plot("A", overlaps=[("B", 0.3)]), _plot("B", overlaps=[("A", 0.3)])],
            [],
            [
                ("plot_area", "green", "A"),
                ("double_insurance", "green", "A"),
                ("plot_overlap", "amber", "A"),
                ("plot_area", "green", "B"),
                ("double_insurance", "green", "B"),
            ],
        ),
    ],
)
def test_a_crop_application_gets_its_checks_plot_by_plot(
    plots: list[SurveyedPlot],
    insured: list[InsuredOverlap],
    expected: list[tuple[str, str, str]],
) -> None:
    checks = crop_application_checks(plots, insured, OverlapRules())
    assert [(c.code, c.light, c.subject) for c in checks] == expected


@pytest.mark.parametrize(
    ("animals", "insured", "herd", "expected"),
    [
        ([PresentedAnimal("T1", "enrolled", enrolled_farm="F-1")], [], None, ["green"]),
        # Enrolled to another farm: red.
        ([PresentedAnimal("T1", "enrolled", enrolled_farm="F-2")], [], None, ["red"]),
        # A possible duplicate of an animal enrolled elsewhere: amber.
        ([PresentedAnimal("T1", "needs_review", "T9", "F-3")], [], None, ["amber"]),
        # Insured already by a policy in force: a second, red check.
        (
            [PresentedAnimal("T1", "enrolled", enrolled_farm="F-1")],
            [InsuredAnimal("T1", "P-1", D("2025-12-31"))],
            None,
            ["green", "red"],
        ),
        # A whole-herd product and an animal of the herd left out: amber.
        (
            [PresentedAnimal("T1", "enrolled", enrolled_farm="F-1")],
            [],
            ["T1", "T2"],
            ["green", "amber"],
        ),
        (
            [PresentedAnimal("T1", "enrolled", enrolled_farm="F-1")],
            [],
            ["T1"],
            ["green", "green"],
        ),
    ],
)
def test_a_livestock_application_gets_its_checks_animal_by_animal(
    animals: list[PresentedAnimal],
    insured: list[InsuredAnimal],
    herd: list[str] | None,
    expected: list[str],
) -> None:
    checks = livestock_application_checks("F-1", animals, insured, herd)
    assert [c.light for c in checks] == expected


def test_overlap_rules_refuse_nonsense() -> None:
    for bad in ({"min_overlap_m2": -1.0}, {"min_share": 0.0}, {"min_share": 1.5}):
        with pytest.raises(ValueError, match="min_overlap_m2"):
            OverlapRules(**bad)  # type: ignore[arg-type]


def test_a_check_concerns_its_subject_and_an_old_one_its_words() -> None:
    north = Check("plot_area", "red", "plot_area.over", {"ratio": 1.5}, "Field 1 North")
    assert concerns_plot(north, "Field 1 North") and not concerns_plot(north, "Field 1")
    pair = Check(
        "plot_overlap", "amber", "plot_overlap", {"other": "B", "ha": 0.3}, "A"
    )
    assert concerns_plot(pair, "A") and concerns_plot(pair, "B")
    # Stored before checks were data: matched by its words, as it was then.
    old = Check.from_json(
        {"code": "plot_area", "light": "red", "reason": "plot A: 3 ha declared"}
    )
    assert concerns_plot(old, "A") and not concerns_plot(old, "B")
