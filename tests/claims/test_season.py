"""Rule tables: the scenes that bracket a loss, the baseline that decides, a loss beyond it."""

from __future__ import annotations

import math
from datetime import date

import pytest

from claims.season import (
    Baseline,
    SceneOption,
    SeasonRules,
    check_season_baseline,
    choose_pair,
    history_baseline,
    loss_beyond,
    peer_baseline,
    same_weeks,
)

D = date.fromisoformat
SCENES = [
    SceneOption("s-05-20", D("2021-05-20")),
    SceneOption("s-06-01", D("2021-06-01")),
    SceneOption("s-06-08-cloudy", D("2021-06-08"), clear=0.3),
    SceneOption("s-06-10", D("2021-06-10")),
    SceneOption("s-06-15", D("2021-06-15"), clear=0.95),
    SceneOption("s-07-01", D("2021-07-01")),
]


@pytest.mark.parametrize(
    ("event", "before", "after"),
    [
        # the latest clear scene before, the earliest clear one after
        ("2021-06-05", "s-06-01", "s-06-10"),
        # a cloudy scene is passed over for the next clear one
        ("2021-06-07", "s-06-01", "s-06-10"),
        ("2021-06-09", "s-06-01", "s-06-10"),
        # a scene of the event's day is passed over while another qualifies
        ("2021-06-10", "s-06-01", "s-06-15"),
        # nothing after the event: no after-scene
        ("2021-07-05", "s-07-01", None),
        # nothing before it: no before-scene
        ("2021-05-01", None, "s-05-20"),
    ],
)
def test_the_pair_closest_to_the_event_is_chosen(
    event: str, before: str | None, after: str | None
) -> None:
    b, a = choose_pair(D(event), SCENES)
    assert (b.name if b else None, a.name if a else None) == (before, after)


def test_a_scene_of_the_event_day_is_the_after_scene_when_nothing_later_is_clear() -> (
    None
):
    b, a = choose_pair(D("2021-07-01"), SCENES)
    assert b is not None and a is not None
    assert (b.name, a.name) == ("s-06-15", "s-07-01")


def test_a_scene_of_the_event_day_is_taken_only_where_nothing_else_qualifies() -> None:
    # nothing earlier: the day's scene is the before-scene (scene_timing then says amber)
    b, a = choose_pair(D("2021-05-20"), SCENES)
    assert b is not None and a is not None
    assert (b.name, a.name) == ("s-05-20", "s-06-01")
    # two of that day: by name, whatever the catalogue's order
    twins = [SceneOption("z", D("2021-07-01")), SceneOption("a", D("2021-07-01"))]
    _, after = choose_pair(D("2021-07-01"), [SceneOption("x", D("2021-06-01")), *twins])
    assert after is not None and after.name == "a"


def test_the_clear_share_needed_is_a_rule() -> None:
    b, _ = choose_pair(D("2021-06-09"), SCENES, min_clear=0.25)
    assert b is not None and b.name == "s-06-08-cloudy"


@pytest.mark.parametrize(
    ("changes", "expected", "count"),
    [
        ([-0.5, -0.45, -0.55, -0.48, -0.52], -0.5, 5),
        # a peer with a loss of its own moves the median little
        ([-0.5, -0.45, -0.55, -0.48, -0.52, -0.95], -0.51, 6),
        # peers not measured (NaN) are left out
        ([-0.5, -0.45, math.nan, -0.55, -0.48, -0.52], -0.5, 5),
    ],
)
def test_peers_give_the_median_change(
    changes: list[float], expected: float, count: int
) -> None:
    b = peer_baseline(changes)
    assert b is not None
    assert (b.kind, round(b.expected_change, 2), b.count) == ("peers", expected, count)


def test_too_few_peers_give_no_baseline() -> None:
    assert peer_baseline([-0.5, -0.4, -0.45, math.nan, math.nan]) is None
    assert peer_baseline([-0.5, -0.4, -0.45], SeasonRules(min_peers=3)) is not None


def test_peers_that_all_changed_alike_keep_a_floor_of_spread() -> None:
    b = peer_baseline([0.0] * 8)
    assert b is not None and b.spread == SeasonRules().min_spread


def test_history_gives_the_change_of_the_same_weeks_in_earlier_seasons() -> None:
    b = history_baseline(0.8, [0.8, 0.7, math.nan], [0.3, 0.3, 0.2])
    assert b is not None
    assert (b.kind, round(b.expected_change, 2), b.count) == ("history", -0.45, 2)
    assert history_baseline(0.8, [0.8, math.nan], [0.3, 0.2]) is None
    assert history_baseline(math.nan, [0.8, 0.7], [0.3, 0.3]) is None


HARVEST = Baseline("peers", -0.5, 0.05, 12)
GROWING = Baseline("peers", 0.05, 0.03, 12)


@pytest.mark.parametrize(
    ("measured", "baseline", "is_loss", "beyond"),
    [
        # a harvest its peers share is the season
        (-0.55, HARVEST, False, 0.05),
        # a harvest deeper than the peers' by far is a loss
        (-0.75, HARVEST, True, 0.25),
        # a plot that kept growing as its peers did: no loss
        (0.04, GROWING, False, 0.01),
        # a drop while the peers grow: a loss
        (-0.2, GROWING, True, 0.25),
        # far beyond the spread, yet too small to pay on
        (-0.03, Baseline("peers", 0.05, 0.01, 12), False, 0.08),
        # better than the peers: nothing beyond
        (-0.3, HARVEST, False, 0.0),
    ],
)
def test_a_loss_is_the_change_beyond_the_baseline(
    measured: float, baseline: Baseline, is_loss: bool, beyond: float
) -> None:
    loss = loss_beyond(measured, baseline)
    assert loss.is_loss is is_loss
    assert round(loss.beyond, 3) == beyond


@pytest.mark.parametrize(
    ("expected", "threshold"),
    [
        (0.0, 0.3),  # peers unchanged: the plain 0.3 drop
        (-0.5, 0.8),  # after a harvest the peers share: 0.3 beyond their drop
        (0.2, 0.1),  # peers grew: a pixel 0.1 down is 0.3 below them
        (0.4, 0.05),  # never below 0.05: noise
        (-1.9, 2.0),  # never above an NDVI drop of 2
    ],
)
def test_a_pixel_is_damaged_from_the_seasons_drop_plus_the_rules_threshold(
    expected: float, threshold: float
) -> None:
    loss = loss_beyond(0.0, Baseline("peers", expected, 0.05, 12))
    assert loss.damage_threshold == pytest.approx(threshold)


def test_an_unmeasured_change_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        loss_beyond(math.nan, HARVEST)


def test_the_check_says_which_baseline_decided_and_by_how_much() -> None:
    check = check_season_baseline(loss_beyond(-0.75, HARVEST))
    assert (check.code, check.light, check.message) == (
        "season_baseline",
        "green",
        "season_baseline.loss",
    )
    assert check.params == {
        "baseline": "peers",
        "count": 12,
        "measured": -0.75,
        "expected": -0.5,
        "beyond": 0.25,
        "z": -5.0,
    }
    seasonal = check_season_baseline(loss_beyond(-0.52, HARVEST))
    assert (seasonal.light, seasonal.message) == ("green", "season_baseline.seasonal")


def test_without_a_baseline_the_map_cannot_tell_and_asks_for_a_survey() -> None:
    check = check_season_baseline(None)
    assert (check.light, check.message) == ("amber", "season_baseline.none")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_peers": 2},
        {"min_seasons": 0},
        {"min_spread": 0.0},
        {"z_loss": math.nan},
        {"min_loss": -0.1},
    ],
)
def test_rules_out_of_range_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        SeasonRules(**kwargs)  # type: ignore[arg-type]


SERIES = [
    (D("2015-08-30"), 0.68, 1.0),
    (D("2015-09-09"), 0.69, 1.0),
    (D("2016-08-24"), 0.67, 0.5),  # half cloud: not clear
    (D("2016-09-13"), 0.67, 1.0),
    (D("2017-08-29"), 0.67, 1.0),
]


def test_same_weeks_of_earlier_seasons_take_the_nearest_clear_date() -> None:
    before, after = same_weeks(SERIES, D("2017-08-29"), D("2017-09-08"))
    # 2016 first: its before-date is cloudy, so that season has no pair; then 2015
    assert math.isnan(before[0]) and math.isnan(after[0])
    assert (before[1], after[1]) == (0.68, 0.69)


def test_one_image_is_never_both_dates_of_an_earlier_season() -> None:
    """Both anniversaries nearest to 2015-08-30: a season with no change at all, refused."""
    before, after = same_weeks(SERIES, D("2017-08-24"), D("2017-08-29"))
    assert math.isnan(before[-1]) and math.isnan(after[-1])


def test_same_weeks_beyond_the_tolerance_are_missing() -> None:
    _, after = same_weeks(SERIES, D("2017-08-29"), D("2017-09-08"), tolerance_days=3)
    assert math.isnan(after[0]) and after[1] == 0.69
    assert same_weeks([], D("2017-08-29"), D("2017-09-08")) == ([], [])
