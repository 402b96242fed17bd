"""Underwriting checks on an application, and the recommendation they add up to.

Pure functions over the measurements the server gathers through its ports:
the plot check of remote sensing (verdict, ratio, overlaps with plots of
policies in force) and the livestock registry (enrolment status, matches).
Each check has a code, a light, a subject and a reason as a message key with
its values (:class:`Check`); the underwriter sees them all, in words of the
reader's language rendered at the edge.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Check",
    "Light",
    "Param",
    "Recommendation",
    "check_animal",
    "check_double_insurance",
    "check_plot_area",
    "recommend",
    "traffic_light",
]

Light = Literal["green", "amber", "red"]

Param = str | int | float | None
"""A value a reason names: an id, a count, a measure in the unit the key says, an ISO date."""


@dataclass(frozen=True)
class Check:
    """One check's outcome, as data: what was checked, its light, what it concerns and why.

    Attributes:
        code: the check, stable (``notice``, ``plot_area``, ...): a later
            check of the same code replaces an earlier one.
        light: ``green`` passed, ``amber`` needs a person's look, ``red`` is
            a reason to refuse or to suspect fraud.
        message: the key of the reason in the message catalogues
            (``notice.late``); words are rendered at the edge, in the
            reader's language.
        params: the values the reason names (language-free: ids, counts,
            measures in the unit the key's name or docs say, ISO dates).
        subject: the id of the plot, animal or photo the check concerns, or
            None when it concerns the whole claim or application.
        details: the checks a summary stands for (one per photo, each with
            its photo as subject), rendered after the summary's reason.
    """

    code: str
    light: Light
    message: str
    params: Mapping[str, Param] = field(default_factory=dict)
    subject: str | None = None
    details: tuple[Check, ...] = ()

    def __post_init__(self) -> None:
        """Keep a measure that is not a finite number (no clear pixel) as None.

        Params are stored, sent as JSON and put on the ledger, none of which
        holds NaN or infinity.
        """
        if any(
            isinstance(v, float) and not math.isfinite(v) for v in self.params.values()
        ):
            object.__setattr__(
                self,
                "params",
                {
                    k: None if isinstance(v, float) and not math.isfinite(v) else v
                    for k, v in self.params.items()
                },
            )

    def to_json(self) -> dict[str, Any]:
        """The stored form (JSON-ready; what :meth:`from_json` reads back)."""
        doc: dict[str, Any] = {
            "code": self.code,
            "light": self.light,
            "message": self.message,
            "params": dict(self.params),
            "subject": self.subject,
        }
        if self.details:
            doc["details"] = [d.to_json() for d in self.details]
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Check:
        """A check from its stored form.

        Records written before checks were data hold ``{code, light, reason}``:
        they come back as the message ``text`` with the reason as it was
        written (in English).
        """
        if "message" not in doc:
            return cls(doc["code"], doc["light"], "text", {"text": doc.get("reason")})
        return cls(
            doc["code"],
            doc["light"],
            doc["message"],
            dict(doc.get("params") or {}),
            doc.get("subject"),
            tuple(cls.from_json(d) for d in doc.get("details") or ()),
        )


def traffic_light(checks: Iterable[Check]) -> Light:
    """Red if any check is red, else amber if any is amber, else green."""
    lights = {c.light for c in checks}
    if "red" in lights:
        return "red"
    return "amber" if "amber" in lights else "green"


def check_plot_area(
    plot_id: str, verdict: str, declared_ha: float, measured_ha: float
) -> Check:
    """A plot's declared area against its geodesic area (remote sensing's verdict).

    Params: ``declared_ha`` and ``measured_ha`` (hectares), and for an
    over-declared plot ``ratio`` (declared / measured, 1.0 = equal).
    """
    areas: dict[str, Param] = {"declared_ha": declared_ha, "measured_ha": measured_ha}
    if verdict == "within_tolerance":
        return Check("plot_area", "green", "plot_area.within", areas, plot_id)
    if verdict == "over_declared":
        return Check(
            "plot_area",
            "red",
            "plot_area.over",
            {**areas, "ratio": declared_ha / measured_ha},
            plot_id,
        )
    if verdict == "under_declared":
        return Check("plot_area", "amber", "plot_area.under", areas, plot_id)
    if verdict == "no_declared_area":
        return Check("plot_area", "amber", "plot_area.undeclared", {}, plot_id)
    return Check("plot_area", "red", "plot_area.invalid", {}, plot_id)


def check_double_insurance(
    plot_id: str, overlaps: Sequence[tuple[str, float, float]]
) -> Check:
    """Overlaps with insured plots: (other plot, overlap ha, share of this plot) each.

    A red check has one detail per overlap (subject: the other plot; params
    ``ha`` and ``share``, 0-1).
    """
    if not overlaps:
        return Check(
            "double_insurance", "green", "double_insurance.plot_none", {}, plot_id
        )
    return Check(
        "double_insurance",
        "red",
        "double_insurance.plot",
        {"count": len(overlaps)},
        plot_id,
        tuple(
            Check(
                "double_insurance",
                "red",
                "double_insurance.overlap",
                {"ha": ha, "share": share},
                other,
            )
            for other, ha, share in overlaps
        ),
    )


def check_animal(
    tag: str, status: str, match_tag: str | None, match_farm: str | None
) -> Check:
    """The animal's enrolment: new, a duplicate of an enrolled animal, or for review.

    Params: ``match`` (the enrolled animal's tag) and ``farm`` (its farmer, or None).
    """
    if status == "enrolled":
        return Check("animal", "green", "animal.enrolled", {}, tag)
    match: dict[str, Param] = {"match": match_tag, "farm": match_farm}
    suffix = "" if match_farm else "_here"
    if status == "duplicate":
        return Check("animal", "red", "animal.duplicate" + suffix, match, tag)
    return Check("animal", "amber", "animal.review" + suffix, match, tag)


@dataclass(frozen=True)
class Recommendation:
    """What the checks recommend to the underwriter, with every check that is not green."""

    outcome: Literal["approve", "refer", "decline"]
    light: Light
    reasons: tuple[Check, ...]


def recommend(checks: Sequence[Check]) -> Recommendation:
    """Green: approve; amber: refer to a person; red: decline, with the reasons."""
    light = traffic_light(checks)
    outcome: Literal["approve", "refer", "decline"] = {
        "green": "approve",
        "amber": "refer",
        "red": "decline",
    }[light]  # type: ignore[assignment]
    return Recommendation(
        outcome, light, tuple(c for c in checks if c.light != "green")
    )
