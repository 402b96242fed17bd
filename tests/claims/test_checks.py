"""Claim checks and the traffic light: each flag fires for its reason."""

from __future__ import annotations

from datetime import UTC, date, datetime

from claims.checks import (
    Check,
    check_capture_time,
    check_claimed_area,
    check_cover,
    check_earlier_claims,
    check_identity,
    check_measured_damage,
    check_notice,
    check_photo_location,
    check_photo_reuse,
    traffic_light,
)

REVIEW, MATCH = 0.77, 0.81


def test_traffic_light() -> None:
    g, a, r = (Check("x", light, "") for light in ("green", "amber", "red"))
    assert traffic_light([g, g]) == "green"
    assert traffic_light([g, a]) == "amber"
    assert traffic_light([a, r, g]) == "red"
    assert traffic_light([]) == "green"


def test_notice_and_cover() -> None:
    event = date(2026, 5, 10)
    assert check_notice(event, datetime(2026, 5, 12, tzinfo=UTC), 3).light == "green"
    late = check_notice(event, datetime(2026, 5, 20, tzinfo=UTC), 3)
    assert (late.light, late.reason) == (
        "amber",
        "reported 10 days after the event; the limit is 3",
    )
    assert check_notice(event, datetime(2026, 5, 1, tzinfo=UTC), 3).light == "red"
    start, end = date(2026, 5, 1), date(2027, 4, 30)
    assert check_cover(event, start, end, waiting_days=5).light == "green"
    waiting = check_cover(event, start, end, waiting_days=20)
    assert (waiting.code, waiting.light) == ("waiting_period", "red")
    assert "2026-05-21" in waiting.reason
    assert check_cover(date(2027, 6, 1), start, end, 0).light == "red"


def test_duplicates_and_reused_photos() -> None:
    assert check_earlier_claims([]).light == "green"
    dup = check_earlier_claims(["C-7"])
    assert (dup.light, dup.reason) == ("red", "already claimed in C-7")
    reuse = check_photo_reuse([("carcass.jpg", "claim C-7")])
    assert reuse.light == "red" and "carcass.jpg (as in claim C-7)" in reuse.reason


def test_identity_match_mismatch_and_fraud() -> None:
    tag, other = "998230000006455", "998230000006712"
    assert check_identity(tag, 0.9, tag, 0.9, False, REVIEW, MATCH).light == "green"
    assert check_identity(tag, 0.79, tag, 0.79, False, REVIEW, MATCH).light == "amber"
    assert check_identity(tag, 0.5, tag, 0.5, False, REVIEW, MATCH).light == "red"
    fraud = check_identity(tag, 0.6, other, 0.88, True, REVIEW, MATCH)
    assert fraud.light == "red"
    assert (
        "another farmer's animal" in fraud.reason and "suspected fraud" in fraud.reason
    )
    # Neither animal is a plausible match, but the claimed one is not either: red.
    weak = check_identity(tag, 0.5, other, 0.6, False, REVIEW, MATCH)
    assert weak.light == "red" and other in weak.reason
    assert "fraud" not in weak.reason
    # Both in the review band, the other one higher: the claimed tag is not the best.
    close = check_identity(
        tag, REVIEW + 0.01, other, REVIEW + 0.02, False, REVIEW, MATCH
    )
    assert close.light == "red"


def test_photo_place_and_time() -> None:
    farm = (48.30, 13.10)
    assert check_photo_location((48.301, 13.101), farm, 2).light == "green"
    far = check_photo_location((48.40, 13.10), farm, 2)
    assert far.light == "red" and "11.1 km" in far.reason
    assert check_photo_location(None, farm, 2).light == "amber"
    loss = datetime(2026, 5, 10, 6, 0, tzinfo=UTC)
    assert (
        check_capture_time(datetime(2026, 5, 10, 9, 0, tzinfo=UTC), loss).light
        == "green"
    )
    assert (
        check_capture_time(datetime(2026, 5, 9, 9, 0, tzinfo=UTC), loss).light == "red"
    )
    assert check_capture_time(None, loss).light == "amber"


def test_crop_damage_against_imagery() -> None:
    assert check_measured_damage("assessed", 0.55, 0.97, 0.6).light == "green"
    inflated = check_measured_damage("assessed", 0.2, 0.97, 0.8)
    assert (
        inflated.light == "red"
        and "claimed 80% damaged, imagery measures 20%" in inflated.reason
    )
    cloudy = check_measured_damage("insufficient_clear_imagery", float("nan"), 0.4, 0.5)
    assert cloudy.light == "amber" and "field survey" in cloudy.reason
    assert check_claimed_area(12_000, 10_000).light == "red"
    assert check_claimed_area(10_000, 10_000).light == "green"
