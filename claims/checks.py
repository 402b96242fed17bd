"""Claim checks: each gives a reason and a severity; together they make a traffic light.

The checks are pure functions over plain values that the server gathers from
its ports (policies, earlier claims, the face-ID registry, photo hashes,
imagery). ``green`` passed; ``amber`` needs a person's look; ``red`` is a
reason to refuse or to suspect fraud.

Every date rule counts the farm's days (see :mod:`claims.dates`): a check
that compares an instant with a date takes the farm's time zone.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime, timedelta, tzinfo

from claims.dates import local_date, on_farm_clock
from underwriting.checks import Check, Light, traffic_light

__all__ = [
    "Check",
    "Light",
    "check_capture_signature",
    "check_capture_time",
    "check_claimed_area",
    "check_cover",
    "check_covered",
    "check_earlier_claims",
    "check_identity",
    "check_measured_damage",
    "check_notice",
    "check_photo_location",
    "check_photo_reuse",
    "is_same_event",
    "traffic_light",
    "worst",
]

_SEVERITY: dict[Light, int] = {"green": 0, "amber": 1, "red": 2}


def check_notice(event: date, reported: datetime, max_days: int, zone: tzinfo) -> Check:
    """The loss was reported within ``max_days`` of the event, and not before it.

    Days are the farm's: ``reported`` (an instant) is turned into its date in
    ``zone`` before counting.
    """
    days = (local_date(reported, zone) - event).days
    if days < 0:
        return Check(
            "notice", "red", f"reported {-days} days before the event date {event}"
        )
    if days > max_days:
        return Check(
            "notice",
            "amber",
            f"reported {days} days after the event; the limit is {max_days}",
        )
    if days == 0:
        return Check("notice", "green", "reported on the day of the event")
    return Check(
        "notice",
        "green",
        f"reported {days} day{'s' if days != 1 else ''} after the event",
    )


def check_cover(event: date, start: date, end: date, waiting_days: int) -> Check:
    """The policy was in force on the event date and past its waiting period."""
    if not start <= event <= end:
        return Check(
            "cover",
            "red",
            f"the event date {event} is outside the policy period {start} to {end}",
        )
    waiting_ends = start + timedelta(days=waiting_days)
    if event < waiting_ends:
        return Check(
            "waiting_period",
            "red",
            f"the event date {event} is within the waiting period ending {waiting_ends}",
        )
    return Check("cover", "green", f"in force on {event}, past the waiting period")


def check_covered(kind: str, subject_id: str, insured: Collection[str]) -> Check:
    """The subject (an animal's tag, a plot's id) is one the policy insures.

    ``insured`` is the policy's list of that kind (its animals or its plots).
    """
    if subject_id in insured:
        return Check(
            "covered", "green", f"{kind} {subject_id} is insured by this policy"
        )
    return Check("covered", "red", f"{kind} {subject_id} is not insured by this policy")


def is_same_event(earlier: date, event: date, window_days: int) -> bool:
    """Two losses on one plot within ``window_days`` of each other are one event."""
    return abs((earlier - event).days) <= window_days


def check_earlier_claims(earlier: Iterable[str]) -> Check:
    """No earlier claim for the same animal, or the same plot and event."""
    found = sorted(earlier)
    if found:
        return Check("duplicate_claim", "red", f"already claimed in {', '.join(found)}")
    return Check("duplicate_claim", "green", "no earlier claim for this subject")


def check_identity(
    claimed_tag: str,
    claimed_score: float,
    best_tag: str | None,
    best_score: float,
    best_farm_is_other: bool,
    review_threshold: float,
    match_threshold: float,
    basis: str = "photo",
) -> Check:
    """The photos match the claimed animal 1:1 and no other animal better 1:N.

    Another animal matching better is a mismatch (red), suspected fraud when
    that animal belongs to another farmer. ``basis`` names the thresholds
    given: those of one ``photo`` or of a ``session`` of several photos fused;
    the reason says which.
    """
    judged = f"{basis} thresholds"
    if best_tag is not None and best_tag != claimed_tag and best_score > claimed_score:
        who = "another farmer's animal" if best_farm_is_other else "another animal"
        # Another animal scoring above the claimed one is always red: either
        # it is a plausible match, or the claimed animal is not one either.
        return Check(
            "identity",
            "red",
            f"the photos match {who} ({best_tag}, {best_score:.3f}) better than the claimed "
            f"{claimed_tag} ({claimed_score:.3f})"
            + (": suspected fraud" if best_farm_is_other else ""),
        )
    if claimed_score >= match_threshold:
        return Check(
            "identity",
            "green",
            f"the photos match {claimed_tag} ({claimed_score:.3f}, {judged})",
        )
    if claimed_score >= review_threshold:
        return Check(
            "identity",
            "amber",
            f"the photos may be {claimed_tag} ({claimed_score:.3f}, {judged}): review",
        )
    return Check(
        "identity",
        "red",
        f"the photos do not match {claimed_tag} ({claimed_score:.3f}, {judged})",
    )


def check_photo_reuse(reused: Iterable[tuple[str, str]]) -> Check:
    """No photo is a near-copy of earlier evidence; ``reused`` lists (photo, earlier record)."""
    found = list(reused)
    if found:
        detail = ", ".join(f"{photo} (as in {where})" for photo, where in found)
        return Check("photo_reuse", "red", f"reused photos: {detail}")
    return Check("photo_reuse", "green", "no photo was seen before")


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km on a 6371 km sphere (enough for a distance rule)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def check_photo_location(
    photo: tuple[float, float] | None, site: tuple[float, float], max_km: float
) -> Check:
    """The photo's GPS position (lat, lon) is within ``max_km`` of the farm or plot."""
    if photo is None:
        return Check("photo_location", "amber", "the photo carries no GPS position")
    km = _km(*photo, *site)
    if km > max_km:
        return Check(
            "photo_location",
            "red",
            f"taken {km:.1f} km from the site; the limit is {max_km:g} km",
        )
    return Check("photo_location", "green", f"taken {km:.2f} km from the site")


def check_capture_time(
    captured: datetime | None, loss_day: date, zone: tzinfo
) -> Check:
    """The photo was not taken before the day of the loss, on the farm's calendar.

    ``captured`` is an instant, or a naive wall-clock time of the farm (a phone's
    EXIF without an offset); it is before the loss when its date in ``zone`` is
    before ``loss_day``.
    """
    if captured is None:
        return Check("capture_time", "amber", "the photo carries no capture time")
    aware = on_farm_clock(captured, zone)
    if local_date(aware, zone) < loss_day:
        return Check(
            "capture_time",
            "red",
            f"taken {aware.astimezone(zone):%Y-%m-%d %H:%M} farm time, "
            f"before the loss on {loss_day}",
        )
    return Check("capture_time", "green", "taken on or after the day of the loss")


def check_capture_signature(photos: Sequence[tuple[str, Light, str]]) -> Check:
    """The photos were signed at capture by a registered device of the agent who sent them.

    ``photos`` lists each photo's (name, light, reason) from
    :func:`claims.capture.capture_verdict`. Red when any photo is red (its
    reasons, prefixed with the photo's name), amber when any is amber
    (unsigned, picked from the phone's files, or signed on a device awaiting
    approval) and none red, each reason followed by the photos it concerns;
    green when every photo is green. Precondition: ``photos`` is not empty.
    """
    if not photos:
        raise ValueError("check_capture_signature() needs at least one photo")
    red = [f"{name}: {reason}" for name, light, reason in photos if light == "red"]
    if red:
        return Check("capture_signature", "red", "; ".join(red))
    ambers: dict[str, list[str]] = {}
    for name, light, reason in photos:
        if light == "amber":
            ambers.setdefault(reason, []).append(name)
    if ambers:
        count = sum(len(names) for names in ambers.values())
        return Check(
            "capture_signature",
            "amber",
            f"{count} of {len(photos)} photo{'s' if len(photos) != 1 else ''} "
            "not attested: "
            + "; ".join(f"{why}: {', '.join(names)}" for why, names in ambers.items()),
        )
    n = len(photos)
    return Check(
        "capture_signature",
        "green",
        f"{'all ' if n > 1 else ''}{n} photo{'s' if n != 1 else ''} signed at capture "
        "on a registered device of the agent",
    )


def check_measured_damage(
    status: str,
    measured_fraction: float,
    clear_fraction: float,
    claimed_fraction: float,
    tolerance: float = 0.1,
) -> Check:
    """The damage measured on imagery supports the damage claimed."""
    if status != "assessed":
        return Check(
            "measured_damage",
            "amber",
            f"imagery could not measure the plot ({status}, clear {clear_fraction:.0%}): "
            "field survey",
        )
    if claimed_fraction > measured_fraction + tolerance:
        return Check(
            "measured_damage",
            "red",
            f"claimed {claimed_fraction:.0%} damaged, imagery measures {measured_fraction:.0%}",
        )
    return Check(
        "measured_damage",
        "green",
        f"imagery measures {measured_fraction:.0%} damaged (claimed {claimed_fraction:.0%})",
    )


def check_claimed_area(claimed_m2: float, insured_m2: float) -> Check:
    """The claimed area is not above the insured area."""
    if claimed_m2 > insured_m2 * 1.0001:
        return Check(
            "claimed_area",
            "red",
            f"claimed {claimed_m2 / 10_000:.4f} ha, above the insured {insured_m2 / 10_000:.4f} ha",
        )
    return Check("claimed_area", "green", "claimed area within the insured area")


def worst(code: str, per_photo: Sequence[tuple[str, Check]]) -> Check:
    """One check from per-photo checks: the worst light, with the reasons of the worst.

    Each reason is prefixed with its photo's name. Precondition: ``per_photo``
    is not empty.
    """
    if not per_photo:
        raise ValueError("worst() needs at least one photo's check")
    light = max((c.light for _, c in per_photo), key=lambda x: _SEVERITY[x])
    reasons = [f"{name}: {c.reason}" for name, c in per_photo if c.light == light]
    return Check(code, light, "; ".join(reasons))
