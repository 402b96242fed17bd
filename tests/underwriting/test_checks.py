"""Underwriting checks and the recommendation they add up to."""

from __future__ import annotations

from tests.words import en
from underwriting.checks import (
    check_animal,
    check_double_insurance,
    check_plot_area,
    recommend,
)


def test_an_inflated_declaration_and_an_overlap_are_flagged() -> None:
    inflated = check_plot_area("DK-17", "over_declared", 2.3, 2.0)
    assert inflated.light == "red"
    assert (
        en(inflated)
        == "plot DK-17: 2.3000 ha declared but 2.0000 ha measured (115.0% of it)"
    )
    overlap = check_double_insurance("DK-18", [("policy P-1 plot 7", 0.42, 0.31)])
    assert overlap.light == "red" and "policy P-1 plot 7 (0.42 ha, 31%)" in en(overlap)
    ok = check_plot_area("DK-19", "within_tolerance", 1.0, 1.0)
    result = recommend([inflated, overlap, ok])
    assert result.outcome == "decline"
    assert result.reasons == (inflated, overlap)


def test_recommendations_follow_the_light() -> None:
    green = check_plot_area("A", "within_tolerance", 1.0, 1.0)
    amber = check_plot_area("B", "no_declared_area", 0.0, 1.0)
    assert recommend([green]).outcome == "approve"
    assert recommend([green, amber]).outcome == "refer"
    assert check_plot_area("C", "under_declared", 0.8, 1.0).light == "amber"
    assert check_plot_area("D", "invalid", 0.0, 0.0).light == "red"
    assert check_double_insurance("E", []).light == "green"


def test_animals_already_insured_elsewhere() -> None:
    assert check_animal("998230000006455", "enrolled", None, None).light == "green"
    dup = check_animal("276098001234567", "duplicate", "998230000006455", "farm 12")
    assert dup.light == "red"
    assert (
        en(dup)
        == "animal 276098001234567 is already insured as 998230000006455 of farm 12"
    )
    assert (
        check_animal("276098001234568", "needs_review", "998230000006455", None).light
        == "amber"
    )
