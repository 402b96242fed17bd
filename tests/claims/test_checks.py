"""Claim checks and the traffic light: each flag fires for its reason."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from claims.checks import (
    Check,
    check_capture_time,
    check_claimed_area,
    check_cover,
    check_covered,
    check_earlier_claims,
    check_identity,
    check_measured_damage,
    check_notice,
    check_photo_location,
    check_photo_reuse,
    check_scene_timing,
    is_same_event,
    traffic_light,
    worst,
)
from tests.words import en

REVIEW, MATCH = 0.77, 0.81
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_traffic_light() -> None:
    g, a, r = (Check("x", light, "") for light in ("green", "amber", "red"))
    assert traffic_light([g, g]) == "green"
    assert traffic_light([g, a]) == "amber"
    assert traffic_light([a, r, g]) == "red"
    assert traffic_light([]) == "green"


def test_notice_and_cover() -> None:
    event = date(2026, 5, 10)
    assert (
        check_notice(event, datetime(2026, 5, 12, tzinfo=UTC), 3, UTC).light == "green"
    )
    late = check_notice(event, datetime(2026, 5, 20, tzinfo=UTC), 3, UTC)
    assert (late.light, en(late)) == (
        "amber",
        "reported 10 days after the event; the limit is 3",
    )
    assert check_notice(event, datetime(2026, 5, 1, tzinfo=UTC), 3, UTC).light == "red"
    start, end = date(2026, 5, 1), date(2027, 4, 30)
    assert check_cover(event, start, end, waiting_days=5).light == "green"
    waiting = check_cover(event, start, end, waiting_days=20)
    assert (waiting.code, waiting.light) == ("waiting_period", "red")
    assert "2026-05-21" in en(waiting)
    assert check_cover(date(2027, 6, 1), start, end, 0).light == "red"


def test_duplicates_and_reused_photos() -> None:
    assert check_earlier_claims([]).light == "green"
    dup = check_earlier_claims([("C-7", "paid", date(2025, 4, 13))])
    assert (dup.light, en(dup)) == (
        "red",
        "already claimed in claim C-7 (paid, event 2025-04-13)",
    )
    assert [(d.subject, d.params["status"]) for d in dup.details] == [("C-7", "paid")]
    reuse = check_photo_reuse([("carcass.jpg", "claim", "C-7")])
    assert reuse.light == "red" and "carcass.jpg (as in claim C-7)" in en(reuse)
    assert [d.subject for d in reuse.details] == ["carcass.jpg"]


def test_identity_match_mismatch_and_fraud() -> None:
    tag, other = "998230000006455", "998230000006712"
    assert check_identity(tag, 0.9, tag, 0.9, False, REVIEW, MATCH).light == "green"
    assert check_identity(tag, 0.79, tag, 0.79, False, REVIEW, MATCH).light == "amber"
    assert check_identity(tag, 0.5, tag, 0.5, False, REVIEW, MATCH).light == "red"
    fraud = check_identity(tag, 0.6, other, 0.88, True, REVIEW, MATCH)
    assert fraud.light == "red"
    assert "another farmer's animal" in en(fraud) and "suspected fraud" in en(fraud)
    # Neither animal is a plausible match, but the claimed one is not either: red.
    weak = check_identity(tag, 0.5, other, 0.6, False, REVIEW, MATCH)
    assert weak.light == "red" and other in en(weak)
    assert "fraud" not in en(weak)
    # Both in the review band, the other one higher: the claimed tag is not the best.
    close = check_identity(
        tag, REVIEW + 0.01, other, REVIEW + 0.02, False, REVIEW, MATCH
    )
    assert close.light == "red"


def test_photo_place_and_time() -> None:
    farm = (48.30, 13.10)
    assert check_photo_location((48.301, 13.101), farm, 2).light == "green"
    far = check_photo_location((48.40, 13.10), farm, 2)
    assert far.light == "red" and "11.1 km" in en(far)
    assert check_photo_location(None, farm, 2).light == "amber"
    loss = date(2026, 5, 10)
    assert (
        check_capture_time(datetime(2026, 5, 10, 9, 0, tzinfo=UTC), loss, UTC).light
        == "green"
    )
    assert (
        check_capture_time(datetime(2026, 5, 9, 9, 0, tzinfo=UTC), loss, UTC).light
        == "red"
    )
    assert check_capture_time(None, loss, UTC).light == "amber"


def test_crop_damage_against_imagery() -> None:
    assert check_measured_damage("assessed", 0.55, 0.97, 0.6).light == "green"
    inflated = check_measured_damage("assessed", 0.2, 0.97, 0.8)
    assert (
        inflated.light == "red"
        and "claimed 80% damaged, imagery measures 20%" in en(inflated)
    )
    cloudy = check_measured_damage("insufficient_clear_imagery", float("nan"), 0.4, 0.5)
    assert cloudy.light == "amber" and "field survey" in en(cloudy)
    assert check_claimed_area(12_000, 10_000).light == "red"
    assert check_claimed_area(10_000, 10_000).light == "green"


# Every date rule counts the farm's days: 2026-05-09 23:30 UTC is 07:30 on the
# 10th in Shanghai (regression: UTC dates made a same-day report "before the event").
@pytest.mark.parametrize(
    ("reported", "zone", "light", "says"),
    [
        (datetime(2026, 5, 9, 23, 30, tzinfo=UTC), SHANGHAI, "green", "on the day"),
        (datetime(2026, 5, 9, 23, 30, tzinfo=UTC), UTC, "red", "1 days before"),
        (datetime(2026, 5, 10, 15, 59, tzinfo=UTC), SHANGHAI, "green", "on the day"),
        (datetime(2026, 5, 10, 16, 0, tzinfo=UTC), SHANGHAI, "green", "1 day after"),
        (datetime(2026, 5, 24, 15, 59, tzinfo=UTC), SHANGHAI, "green", "14 days"),
        (datetime(2026, 5, 24, 16, 0, tzinfo=UTC), SHANGHAI, "amber", "15 days"),
    ],
)
def test_notice_counts_the_farms_days(
    reported: datetime, zone: ZoneInfo, light: str, says: str
) -> None:
    got = check_notice(date(2026, 5, 10), reported, 14, zone)
    assert (got.light, says in en(got)) == (light, True), en(got)


@pytest.mark.parametrize(
    ("captured", "zone", "light"),
    [
        # 07:00 on the loss day in Shanghai is 23:00 UTC the day before.
        (datetime(2026, 5, 9, 23, 0, tzinfo=UTC), SHANGHAI, "green"),
        (datetime(2026, 5, 9, 23, 0, tzinfo=UTC), UTC, "red"),
        (datetime(2026, 5, 9, 15, 59, tzinfo=UTC), SHANGHAI, "red"),
        # naive is the farm's wall clock: 16:00 on the 9th is the day before
        (datetime(2026, 5, 9, 16, 0), SHANGHAI, "red"),
        (datetime(2026, 5, 10, 0, 5), SHANGHAI, "green"),
        (None, SHANGHAI, "amber"),
    ],
)
def test_capture_time_against_the_farms_loss_day(
    captured: datetime | None, zone: ZoneInfo, light: str
) -> None:
    assert check_capture_time(captured, date(2026, 5, 10), zone).light == light


@pytest.mark.parametrize(
    ("kind", "subject", "insured", "light"),
    [
        ("animal", "998230000006455", ("998230000006455", "x"), "green"),
        ("animal", "998230000006455", ("998230000006712",), "red"),
        ("animal", "998230000006455", (), "red"),
        ("plot", "P1", ("P1", "P2"), "green"),
        ("plot", "P3", ("P1", "P2"), "red"),
    ],
)
def test_covered_means_the_policy_lists_the_subject(
    kind: str, subject: str, insured: tuple[str, ...], light: str
) -> None:
    got = check_covered(kind, subject, insured)
    assert (got.code, got.light) == ("covered", light)
    assert f"{kind} {subject}" in en(got)


@pytest.mark.parametrize(
    ("earlier", "event", "window", "same"),
    [
        (date(2025, 9, 10), date(2025, 9, 10), 30, True),
        (date(2025, 9, 10), date(2025, 10, 10), 30, True),
        (date(2025, 9, 10), date(2025, 10, 11), 30, False),
        (date(2025, 10, 11), date(2025, 9, 10), 30, False),
        (date(2025, 9, 12), date(2025, 9, 10), 0, False),
    ],
)
def test_same_event_window(earlier: date, event: date, window: int, same: bool) -> None:
    assert is_same_event(earlier, event, window) is same


@pytest.mark.parametrize(
    ("lights", "light", "named"),
    [
        (("green", "green"), "green", ["a.jpg", "b.jpg"]),
        (("green", "amber"), "amber", ["b.jpg"]),
        (("red", "amber"), "red", ["a.jpg"]),
        (("red", "red"), "red", ["a.jpg", "b.jpg"]),
    ],
)
def test_worst_of_the_photos_names_the_worst(
    lights: tuple[str, str], light: str, named: list[str]
) -> None:
    per_photo = [
        (name, Check("x", lt, f"why {name}"))  # type: ignore[arg-type]
        for name, lt in zip(("a.jpg", "b.jpg"), lights, strict=True)
    ]
    got = worst("capture_time", per_photo)
    assert (got.code, got.light) == ("capture_time", light)
    assert en(got) == "; ".join(f"{n}: why {n}" for n in named)
    with pytest.raises(ValueError, match="at least one"):
        worst("capture_time", [])


def test_identity_says_which_thresholds_judged_it() -> None:
    tag = "998230000006455"
    one = check_identity(tag, 0.9, tag, 0.9, False, REVIEW, MATCH)
    assert en(one) == f"the photos match {tag} (0.900, photo thresholds)"
    # A session of several photos is judged by the session thresholds it was given.
    session = check_identity(tag, 0.6, tag, 0.6, False, 0.55, 0.58, basis="session")
    assert session.light == "green" and "session thresholds" in en(session)


@pytest.mark.parametrize(
    ("before", "after", "light", "message"),
    [
        ("2021-09-01", "2021-09-20", "green", "scene_timing.brackets"),
        ("2021-09-10", "2021-09-10", "red", "scene_timing.reversed"),  # one day
        ("2021-08-21", "2021-09-30", "green", "scene_timing.brackets"),  # 20 and 20
        ("2021-08-20", "2021-09-20", "amber", "scene_timing.before_too_early"),
        ("2021-09-01", "2021-10-01", "amber", "scene_timing.after_too_late"),
        # The demo's pair: June and late September bracket a September hail, but
        # 85 days of a season lie between: a harvest would pass for the loss.
        ("2021-06-17", "2021-09-25", "amber", "scene_timing.before_too_early"),
        # A pair that cannot show the loss at all.
        ("2021-09-12", "2021-09-20", "red", "scene_timing.before_after_event"),
        ("2021-08-20", "2021-09-05", "red", "scene_timing.after_before_event"),
        ("2021-09-20", "2021-09-01", "red", "scene_timing.reversed"),
        (None, "2021-09-20", "amber", "scene_timing.undated"),
        # A scene of the loss's day may be from before or after it.
        ("2021-09-10", "2021-09-20", "amber", "scene_timing.same_day"),
        ("2021-09-01", "2021-09-10", "amber", "scene_timing.same_day"),
    ],
)
def test_the_scenes_must_bracket_the_loss_closely(
    before: str | None, after: str | None, light: str, message: str
) -> None:
    check = check_scene_timing(
        date(2021, 9, 10),
        date.fromisoformat(before) if before else None,
        date.fromisoformat(after) if after else None,
        max_before_days=20,
        max_after_days=20,
    )
    assert (check.code, check.light, check.message) == ("scene_timing", light, message)
    assert check.params["event"] == "2021-09-10"
    if light == "amber" and "too" in message:
        assert check.params["max_days"] == 20 and check.params["days"] > 20
