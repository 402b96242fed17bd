"""Claim checks: each gives a light and a reason as data; together they make a traffic light.

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
from dataclasses import replace
from datetime import date, datetime, timedelta, tzinfo

from claims.capture import CaptureVerdict
from claims.dates import local_date, on_farm_clock
from underwriting.checks import Check, Light, Param, traffic_light

__all__ = [
    "Check",
    "Light",
    "Param",
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
    "check_scene_timing",
    "is_same_event",
    "traffic_light",
    "worst",
]

_SEVERITY: dict[Light, int] = {"green": 0, "amber": 1, "red": 2}


def check_notice(event: date, reported: datetime, max_days: int, zone: tzinfo) -> Check:
    """The loss was reported within ``max_days`` of the event, and not before it.

    Days are the farm's: ``reported`` (an instant) is turned into its date in
    ``zone`` before counting. Params: ``days`` (after the event; before it
    for ``notice.early``), ``event`` (ISO date), ``max_days``.
    """
    days = (local_date(reported, zone) - event).days
    if days < 0:
        return Check(
            "notice", "red", "notice.early", {"days": -days, "event": event.isoformat()}
        )
    if days > max_days:
        return Check(
            "notice", "amber", "notice.late", {"days": days, "max_days": max_days}
        )
    if days == 0:
        return Check("notice", "green", "notice.same_day")
    return Check(
        "notice",
        "green",
        "notice.one_day" if days == 1 else "notice.in_time",
        {"days": days},
    )


def check_cover(event: date, start: date, end: date, waiting_days: int) -> Check:
    """The policy was in force on the event date and past its waiting period.

    Params: ISO dates ``event``, ``start``, ``end``, ``waiting_ends``.
    """
    if not start <= event <= end:
        return Check(
            "cover",
            "red",
            "cover.outside",
            {
                "event": event.isoformat(),
                "start": start.isoformat(),
                "end": end.isoformat(),
            },
        )
    waiting_ends = start + timedelta(days=waiting_days)
    if event < waiting_ends:
        return Check(
            "waiting_period",
            "red",
            "cover.waiting",
            {"event": event.isoformat(), "waiting_ends": waiting_ends.isoformat()},
        )
    return Check("cover", "green", "cover.in_force", {"event": event.isoformat()})


def check_covered(kind: str, subject_id: str, insured: Collection[str]) -> Check:
    """The subject (an animal's tag, a plot's id) is one the policy insures.

    ``kind`` is ``animal`` or ``plot``; ``insured`` is the policy's list of
    that kind (its animals or its plots).
    """
    if kind not in ("animal", "plot"):
        raise ValueError(f"kind must be 'animal' or 'plot', not {kind!r}")
    if subject_id in insured:
        return Check("covered", "green", f"covered.{kind}", {}, subject_id)
    return Check("covered", "red", f"covered.not_{kind}", {}, subject_id)


def is_same_event(earlier: date, event: date, window_days: int) -> bool:
    """Two losses on one plot within ``window_days`` of each other are one event."""
    return abs((earlier - event).days) <= window_days


def check_earlier_claims(earlier: Iterable[tuple[str, str, date | None]]) -> Check:
    """No earlier claim for the same animal, or the same plot and event.

    ``earlier`` lists each earlier claim's (id, status, event date). A red
    check has one detail per claim (subject: its id; params ``status`` and
    ``event``, an ISO date or None) and ``count``.
    """
    found = sorted(earlier, key=lambda e: e[0])
    if found:
        return Check(
            "duplicate_claim",
            "red",
            "duplicate_claim.found",
            {"count": len(found)},
            None,
            tuple(
                Check(
                    "duplicate_claim",
                    "red",
                    "duplicate_claim.earlier",
                    {"status": status, "event": day.isoformat() if day else None},
                    claim_id,
                )
                for claim_id, status, day in found
            ),
        )
    return Check("duplicate_claim", "green", "duplicate_claim.none")


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
    the reason says which. Subject: the claimed tag; params ``score``
    (cosine of the claimed animal), ``basis``, and for a better match
    ``best`` and ``best_score``.
    """
    if basis not in ("photo", "session"):
        raise ValueError(f"basis must be 'photo' or 'session', not {basis!r}")
    params: dict[str, Param] = {"score": claimed_score, "basis": basis}
    if best_tag is not None and best_tag != claimed_tag and best_score > claimed_score:
        # Another animal scoring above the claimed one is always red: either
        # it is a plausible match, or the claimed animal is not one either.
        return Check(
            "identity",
            "red",
            "identity.other_farm" if best_farm_is_other else "identity.other_animal",
            {**params, "best": best_tag, "best_score": best_score},
            claimed_tag,
        )
    if claimed_score >= match_threshold:
        return Check(
            "identity", "green", f"identity.match_{basis}", params, claimed_tag
        )
    if claimed_score >= review_threshold:
        return Check(
            "identity", "amber", f"identity.review_{basis}", params, claimed_tag
        )
    return Check("identity", "red", f"identity.no_match_{basis}", params, claimed_tag)


def check_photo_reuse(reused: Iterable[tuple[str, str, str]]) -> Check:
    """No photo is a near-copy of earlier evidence.

    ``reused`` lists (photo, ``enrolment`` or ``claim``, the enrolled
    animal's tag or the claim's id). A red check has one detail per reused
    photo (subject: the photo; param ``record``: the tag or claim id).
    """
    found = list(reused)
    if found:
        return Check(
            "photo_reuse",
            "red",
            "photo_reuse.found",
            {"count": len(found)},
            None,
            tuple(
                Check(
                    "photo_reuse",
                    "red",
                    f"photo_reuse.in_{kind}",
                    {"record": ref},
                    photo,
                )
                for photo, kind, ref in found
            ),
        )
    return Check("photo_reuse", "green", "photo_reuse.none")


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km on a 6371 km sphere (enough for a distance rule)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def check_photo_location(
    photo: tuple[float, float] | None, site: tuple[float, float], max_km: float
) -> Check:
    """The photo's GPS position (lat, lon) is within ``max_km`` of the farm or plot.

    Params: ``km`` (distance to the site) and ``max_km``.
    """
    if photo is None:
        return Check("photo_location", "amber", "photo_location.none")
    km = _km(*photo, *site)
    if km > max_km:
        return Check(
            "photo_location", "red", "photo_location.far", {"km": km, "max_km": max_km}
        )
    return Check("photo_location", "green", "photo_location.near", {"km": km})


def check_capture_time(
    captured: datetime | None, loss_day: date, zone: tzinfo
) -> Check:
    """The photo was not taken before the day of the loss, on the farm's calendar.

    ``captured`` is an instant, or a naive wall-clock time of the farm (a phone's
    EXIF without an offset); it is before the loss when its date in ``zone`` is
    before ``loss_day``. Params of a red check: ``taken`` (farm time,
    ``YYYY-MM-DD HH:MM``) and ``loss`` (ISO date).
    """
    if captured is None:
        return Check("capture_time", "amber", "capture_time.none")
    aware = on_farm_clock(captured, zone)
    if local_date(aware, zone) < loss_day:
        return Check(
            "capture_time",
            "red",
            "capture_time.before_loss",
            {
                "taken": f"{aware.astimezone(zone):%Y-%m-%d %H:%M}",
                "loss": loss_day.isoformat(),
            },
        )
    return Check("capture_time", "green", "capture_time.after_loss")


def check_capture_signature(photos: Sequence[tuple[str, CaptureVerdict]]) -> Check:
    """The photos were signed at capture by a registered device of the agent who sent them.

    ``photos`` lists each photo's (name, verdict) from
    :func:`claims.capture.capture_verdict`. Red when any photo is red (one
    detail per red photo), amber when any is amber (unsigned, picked from
    the phone's files, or signed on a device awaiting approval) and none red
    (one detail per reason, its subject the photos it concerns); green when
    every photo is green. Params: ``count`` (photos of the light) and
    ``total``. Precondition: ``photos`` is not empty.
    """
    if not photos:
        raise ValueError("check_capture_signature() needs at least one photo")
    total = len(photos)
    red = [
        Check("capture_signature", "red", v.message, v.params, name)
        for name, v in photos
        if v.light == "red"
    ]
    if red:
        return Check(
            "capture_signature",
            "red",
            "capture_signature.refused",
            {"count": len(red), "total": total},
            None,
            tuple(red),
        )
    ambers: dict[tuple[str, tuple[tuple[str, Param], ...]], list[str]] = {}
    for name, v in photos:
        if v.light == "amber":
            ambers.setdefault((v.message, tuple(sorted(v.params.items()))), []).append(
                name
            )
    if ambers:
        return Check(
            "capture_signature",
            "amber",
            "capture_signature.not_attested" + ("_one" if total == 1 else ""),
            {"count": sum(len(n) for n in ambers.values()), "total": total},
            None,
            tuple(
                Check(
                    "capture_signature",
                    "amber",
                    message,
                    dict(params),
                    ", ".join(names),
                )
                for (message, params), names in ambers.items()
            ),
        )
    return Check(
        "capture_signature",
        "green",
        "capture_signature.one" if total == 1 else "capture_signature.all",
        {"total": total},
    )


def check_measured_damage(
    status: str,
    measured_fraction: float,
    clear_fraction: float,
    claimed_fraction: float,
    tolerance: float = 0.1,
) -> Check:
    """The damage measured on imagery supports the damage claimed.

    Params (fractions 0-1): ``measured``, ``claimed``; when imagery could
    not measure the plot, ``status`` (the assessment's) and ``clear``.
    """
    if status != "assessed":
        if not math.isfinite(clear_fraction):  # nothing could be read over the plot
            return Check(
                "measured_damage", "amber", "measured_damage.unread", {"status": status}
            )
        return Check(
            "measured_damage",
            "amber",
            "measured_damage.unmeasured",
            {"status": status, "clear": clear_fraction},
        )
    shares: dict[str, Param] = {
        "measured": measured_fraction,
        "claimed": claimed_fraction,
    }
    if claimed_fraction > measured_fraction + tolerance:
        return Check("measured_damage", "red", "measured_damage.above", shares)
    return Check("measured_damage", "green", "measured_damage.supported", shares)


def check_scene_timing(
    event: date,
    before: date | None,
    after: date | None,
    *,
    max_before_days: int,
    max_after_days: int,
) -> Check:
    """The before/after scenes bracket the loss closely enough to show it.

    Red when the pair cannot show the loss at all: the before-scene taken
    after the event, the after-scene before it, or the two reversed. Amber
    (a field survey) when it brackets the event but one scene is further from
    it than the product allows (``max_before_days``, ``max_after_days``: a
    season's change, a harvest, would pass for the loss), or a scene's date is
    unknown, or a scene was taken on the loss's day (before or after the loss:
    the date cannot say). Green otherwise. Params: ISO dates ``event``, ``before``,
    ``after``; for amber ``days`` and ``max_days`` of the scene too far.
    """
    dates: dict[str, Param] = {
        "event": event.isoformat(),
        "before": before.isoformat() if before else None,
        "after": after.isoformat() if after else None,
    }
    if before is None or after is None:
        return Check("scene_timing", "amber", "scene_timing.undated", dates)
    if before >= after:
        return Check("scene_timing", "red", "scene_timing.reversed", dates)
    if before > event:
        return Check("scene_timing", "red", "scene_timing.before_after_event", dates)
    if after < event:
        return Check("scene_timing", "red", "scene_timing.after_before_event", dates)
    if before == event or after == event:
        # A scene of the loss's day may be from before or after it: hours decide.
        return Check("scene_timing", "amber", "scene_timing.same_day", dates)
    if (event - before).days > max_before_days:
        return Check(
            "scene_timing",
            "amber",
            "scene_timing.before_too_early",
            {**dates, "days": (event - before).days, "max_days": max_before_days},
        )
    if (after - event).days > max_after_days:
        return Check(
            "scene_timing",
            "amber",
            "scene_timing.after_too_late",
            {**dates, "days": (after - event).days, "max_days": max_after_days},
        )
    return Check("scene_timing", "green", "scene_timing.brackets", dates)


def check_claimed_area(
    claimed_m2: float, insured_m2: float, measured_m2: float | None = None
) -> Check:
    """The claimed area is not above the insured area, nor above the damage measured.

    Red above the insured area (a farmer cannot lose more than was insured);
    amber above the damaged area measured on imagery (``measured_m2``, when
    measured: a person looks). Params: ``claimed_ha``, ``insured_ha``, and
    ``measured_ha`` when measured (hectares).
    """
    params: dict[str, Param] = {
        "claimed_ha": claimed_m2 / 10_000,
        "insured_ha": insured_m2 / 10_000,
    }
    if claimed_m2 > insured_m2 * 1.0001:
        return Check("claimed_area", "red", "claimed_area.above", params)
    if measured_m2 is not None and math.isfinite(measured_m2):
        params["measured_ha"] = measured_m2 / 10_000
        if claimed_m2 > measured_m2 * 1.0001:
            return Check("claimed_area", "amber", "claimed_area.above_measured", params)
    return Check("claimed_area", "green", "claimed_area.within", params)


def worst(code: str, per_photo: Sequence[tuple[str, Check]]) -> Check:
    """One check from per-photo checks: the worst light, with the checks of that light.

    The result's message is ``photos``; its details are the worst photos'
    checks, each with its photo's name as subject. Precondition:
    ``per_photo`` is not empty.
    """
    if not per_photo:
        raise ValueError("worst() needs at least one photo's check")
    light = max((c.light for _, c in per_photo), key=lambda x: _SEVERITY[x])
    details = tuple(
        replace(c, subject=name) for name, c in per_photo if c.light == light
    )
    return Check(code, light, "photos", {"count": len(details)}, None, details)
