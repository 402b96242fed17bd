"""Underwriting checks on an application, and the recommendation they add up to.

Pure functions over the measurements the server gathers through its ports:
the plot check of remote sensing (verdict, ratio, overlaps with plots of
policies in force) and the livestock registry (enrolment status, matches).
Each check has a code, a light and a reason; the underwriter sees them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Check",
    "Light",
    "Recommendation",
    "check_animal",
    "check_double_insurance",
    "check_plot_area",
    "recommend",
    "traffic_light",
]

Light = Literal["green", "amber", "red"]


@dataclass(frozen=True)
class Check:
    """One check's outcome: a stable code, its light and the reason in words."""

    code: str
    light: Light
    reason: str


def traffic_light(checks: Iterable[Check]) -> Light:
    """Red if any check is red, else amber if any is amber, else green."""
    lights = {c.light for c in checks}
    if "red" in lights:
        return "red"
    return "amber" if "amber" in lights else "green"


def check_plot_area(
    plot_id: str, verdict: str, declared_ha: float, measured_ha: float
) -> Check:
    """A plot's declared area against its geodesic area (remote sensing's verdict)."""
    if verdict == "within_tolerance":
        return Check(
            "plot_area",
            "green",
            f"plot {plot_id}: {declared_ha:.4f} ha declared, "
            f"{measured_ha:.4f} ha measured: within tolerance",
        )
    if verdict == "over_declared":
        return Check(
            "plot_area",
            "red",
            f"plot {plot_id}: {declared_ha:.4f} ha declared but "
            f"{measured_ha:.4f} ha measured ({declared_ha / measured_ha:.1%} of it)",
        )
    if verdict == "under_declared":
        return Check(
            "plot_area",
            "amber",
            f"plot {plot_id}: {declared_ha:.4f} ha declared, "
            f"{measured_ha:.4f} ha measured: under-declared",
        )
    if verdict == "no_declared_area":
        return Check(
            "plot_area", "amber", f"plot {plot_id}: no declared area to compare"
        )
    return Check("plot_area", "red", f"plot {plot_id}: the geometry is invalid")


def check_double_insurance(
    plot_id: str, overlaps: Sequence[tuple[str, float, float]]
) -> Check:
    """Overlaps with insured plots: (other plot, overlap ha, share of this plot) each."""
    if not overlaps:
        return Check(
            "double_insurance",
            "green",
            f"plot {plot_id}: no overlap with insured plots",
        )
    detail = ", ".join(
        f"{other} ({ha:.2f} ha, {share:.0%})" for other, ha, share in overlaps
    )
    return Check(
        "double_insurance", "red", f"plot {plot_id} overlaps insured plots: {detail}"
    )


def check_animal(
    tag: str, status: str, match_tag: str | None, match_farm: str | None
) -> Check:
    """The animal's enrolment: new, a duplicate of an enrolled animal, or for review."""
    if status == "enrolled":
        return Check(
            "animal", "green", f"animal {tag}: enrolled, no match with insured animals"
        )
    where = f" of {match_farm}" if match_farm else ""
    if status == "duplicate":
        return Check(
            "animal", "red", f"animal {tag} is already insured as {match_tag}{where}"
        )
    return Check("animal", "amber", f"animal {tag} may be {match_tag}{where}: review")


@dataclass(frozen=True)
class Recommendation:
    """What the checks recommend to the underwriter, with every reason that is not green."""

    outcome: Literal["approve", "refer", "decline"]
    light: Light
    reasons: tuple[str, ...]


def recommend(checks: Sequence[Check]) -> Recommendation:
    """Green: approve; amber: refer to a person; red: decline, with the reasons."""
    light = traffic_light(checks)
    outcome: Literal["approve", "refer", "decline"] = {
        "green": "approve",
        "amber": "refer",
        "red": "decline",
    }[light]  # type: ignore[assignment]
    return Recommendation(
        outcome, light, tuple(c.reason for c in checks if c.light != "green")
    )
