"""A loss measured against the season: scene choice, baselines, the loss beyond them.

Between two satellite scenes most fields change: crops grow, ripen and are cut.
A drop in NDVI is a loss only where it goes beyond what the season explains.
This module holds the pure rules that tell the two apart:

* :func:`choose_pair`: from the scenes that cover a plot, the before-scene and
  the after-scene that bracket the loss most closely.
* :func:`peer_baseline`: the change the same crop shows elsewhere in the same
  pair (other plots of the product, register parcels of the crop): robust
  statistics (median, scaled MAD), never fewer than ``min_peers``.
* :func:`same_weeks`: from a plot's NDVI series, its values on the pair's
  dates in each earlier season (what :func:`history_baseline` takes).
* :func:`history_baseline`: the plot's own NDVI on the same weeks of earlier
  seasons (an NDVI stack), as the change expected from the before-date.
* :func:`loss_beyond`: the plot's change set against a baseline: the part of
  its drop the season does not explain, and how unusual it is (robust z).
* :func:`check_crop_season`: the crop's calendar on the event's day: its
  growth stage, or not covered after the harvest.
* :func:`check_season_baseline`: the check an adjuster reads: which baseline
  decided, the measured change, the expected change and the loss beyond it;
  amber "no baseline" when none could be formed.

Every change is NDVI after minus NDVI before (negative: a drop), in NDVI units.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from underwriting.calendar import CropCalendar
from underwriting.checks import Check, Param

__all__ = [
    "MAD_TO_SD",
    "MIN_PIXEL_DROP",
    "Baseline",
    "LossBeyond",
    "SceneOption",
    "SeasonRules",
    "check_crop_season",
    "check_season_baseline",
    "choose_pair",
    "history_baseline",
    "loss_beyond",
    "peer_baseline",
    "same_weeks",
]

MAD_TO_SD = 1.4826
"""Scales a median absolute deviation to a normal standard deviation."""

MIN_PIXEL_DROP = 0.05
"""The least NDVI drop that counts a pixel as damaged, whatever the season did (noise)."""

BaselineKind = Literal["peers", "history"]


@dataclass(frozen=True)
class SeasonRules:
    """How a loss is told from the season (insurer-wide; defaults measured on real pixels).

    Attributes:
        min_peers: the fewest peers (plots of the same crop in the same pair)
            a peer baseline needs.
        min_seasons: the fewest earlier seasons a history baseline needs.
        min_spread: floor of a baseline's spread, in NDVI units: peers that
            all changed alike must not make a tiny difference look unusual.
        z_loss: a plot's change this many spreads below the baseline's is a
            loss beyond the season.
        min_loss: and it must be at least this far below, in NDVI units.
        pixel_threshold: the NDVI drop, beyond the baseline's, that marks a
            pixel as damaged.
    """

    min_peers: int = 5
    min_seasons: int = 2
    min_spread: float = 0.03
    z_loss: float = 3.0
    min_loss: float = 0.1
    pixel_threshold: float = 0.3

    def __post_init__(self) -> None:
        if self.min_peers < 3 or self.min_seasons < 1:
            raise ValueError("min_peers must be >= 3 and min_seasons >= 1")
        for name in ("min_spread", "z_loss", "min_loss", "pixel_threshold"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0")


@dataclass(frozen=True)
class SceneOption:
    """A scene that covers the plot.

    Attributes:
        name: the catalogue's name.
        taken: acquisition date.
        clear: share of the plot clear of cloud in it (0-1), None when unknown.
    """

    name: str
    taken: date
    clear: float | None = None


def choose_pair(
    event: date, scenes: Sequence[SceneOption], *, min_clear: float = 0.8
) -> tuple[SceneOption | None, SceneOption | None]:
    """The latest clear scene on or before ``event`` and the earliest clear one after it.

    A scene taken on the event's day is taken only where nothing else
    qualifies on its side (it may show the field before or after the loss:
    ``scene_timing`` then goes amber): as the before-scene when nothing
    earlier is clear, as the after-scene when nothing later is. A scene whose
    clear share is unknown counts as clear (the assessment measures it). Either
    side is None when no scene qualifies; whether the pair is close enough to
    the event is :func:`claims.check_scene_timing`'s to say.

    >>> s = [SceneOption("a", date(2021, 6, 1)), SceneOption("b", date(2021, 6, 9)),
    ...      SceneOption("c", date(2021, 6, 20), clear=0.2), SceneOption("d", date(2021, 6, 25))]
    >>> [x.name if x else None for x in choose_pair(date(2021, 6, 10), s)]
    ['b', 'd']
    """
    clear = [s for s in scenes if s.clear is None or s.clear >= min_clear]
    before = [s for s in clear if s.taken < event]
    after = [s for s in clear if s.taken > event]
    same_day = [s for s in clear if s.taken == event]
    chosen_before = max(before, key=lambda s: (s.taken, s.name), default=None)
    chosen_after = min(after, key=lambda s: (s.taken, s.name), default=None)
    same_day.sort(key=lambda s: s.name)
    if chosen_before is None and same_day and chosen_after is not None:
        chosen_before = same_day[0]
    elif chosen_after is None and same_day:
        chosen_after = same_day[0]
    return chosen_before, chosen_after


@dataclass(frozen=True)
class Baseline:
    """The NDVI change a plot would show without a loss.

    Attributes:
        kind: ``peers`` (same crop, same pair) or ``history`` (earlier seasons).
        expected_change: NDVI after minus before, in NDVI units.
        spread: robust standard deviation of that change (scaled MAD, floored).
        count: how many peers or seasons it rests on.
    """

    kind: BaselineKind
    expected_change: float
    spread: float
    count: int


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _robust(values: list[float], floor: float) -> tuple[float, float]:
    centre = statistics.median(values)
    mad = statistics.median(abs(v - centre) for v in values)
    return centre, max(MAD_TO_SD * mad, floor)


def peer_baseline(
    changes: Sequence[float], rules: SeasonRules | None = None
) -> Baseline | None:
    """The median change of the plot's peers, or None with fewer than ``min_peers``.

    ``changes``: each peer's NDVI change over the same pair (NaN: not
    measured, left out). The plot itself must not be among them. A few peers
    with a loss of their own move the median little: that is why it is the
    median and the MAD, not the mean and the standard deviation.

    >>> b = peer_baseline([-0.50, -0.45, -0.55, -0.48, -0.52])
    >>> (b.kind, round(b.expected_change, 2), b.count)
    ('peers', -0.5, 5)
    >>> peer_baseline([-0.5, -0.4]) is None
    True
    """
    rules = rules or SeasonRules()
    values = _finite(changes)
    if len(values) < rules.min_peers:
        return None
    centre, spread = _robust(values, rules.min_spread)
    return Baseline("peers", centre, spread, len(values))


def history_baseline(
    ndvi_before: float,
    earlier_before: Sequence[float],
    earlier_after: Sequence[float],
    rules: SeasonRules | None = None,
) -> Baseline | None:
    """The change earlier seasons show between the same weeks, or None with too few.

    ``earlier_before[i]`` and ``earlier_after[i]`` are the plot's NDVI on the
    before- and after-weeks of earlier season ``i`` (NaN where cloudy: that
    season is left out). ``ndvi_before`` is this season's before-value; it is
    not used for the expected change (a season's change, not its level, is
    what carries over) but a plot with no finite before-value has no baseline.

    >>> b = history_baseline(0.8, [0.8, 0.75, 0.82], [0.3, 0.3, 0.35])
    >>> (b.kind, round(b.expected_change, 2), b.count)
    ('history', -0.47, 3)
    """
    rules = rules or SeasonRules()
    if not math.isfinite(ndvi_before):
        return None
    pairs = [
        a - b
        for b, a in zip(earlier_before, earlier_after, strict=True)
        if math.isfinite(b) and math.isfinite(a)
    ]
    if len(pairs) < rules.min_seasons:
        return None
    centre, spread = _robust(pairs, rules.min_spread)
    return Baseline("history", centre, spread, len(pairs))


def _shift_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def same_weeks(
    points: Sequence[tuple[date, float, float]],
    before: date,
    after: date,
    *,
    tolerance_days: int = 8,
    min_clear: float = 0.8,
) -> tuple[list[float], list[float]]:
    """A plot's NDVI on the pair's dates in each earlier season of its series.

    ``points`` are ``(date, mean NDVI, clear fraction)`` of the plot (an
    NDVI stack's series). For each year back that the series reaches, the
    clear value nearest each date's anniversary, within ``tolerance_days``;
    the two must be different images, the before-one earlier (one image
    on both sides would show no change at all, whatever the season did).
    NaN on both sides of a season without such a pair. Returns the
    before-values and the after-values, one per earlier season, in step
    (most recent season first).

    >>> pts = [(date(2016, 6, 1), 0.8, 1.0), (date(2016, 6, 12), 0.4, 1.0),
    ...        (date(2017, 6, 2), 0.7, 0.3)]
    >>> same_weeks(pts, date(2017, 6, 1), date(2017, 6, 11))
    ([0.8], [0.4])
    """
    clear = sorted((d, v) for d, v, c in points if math.isfinite(v) and c >= min_clear)
    if not clear:
        return [], []
    oldest = clear[0][0]
    earlier_before: list[float] = []
    earlier_after: list[float] = []

    def nearest(
        anchor: date, after_day: date | None = None
    ) -> tuple[date, float] | None:
        near = [
            (abs((d - anchor).days), d, v)
            for d, v in clear
            if abs((d - anchor).days) <= tolerance_days
            and (after_day is None or d > after_day)
        ]
        if not near:
            return None
        _, d, v = min(near)
        return d, v

    years = 1
    while _shift_years(after, years) >= oldest - timedelta(days=tolerance_days):
        b = nearest(_shift_years(before, years))
        a = nearest(_shift_years(after, years), after_day=b[0]) if b else None
        if b is None or a is None:
            earlier_before.append(math.nan)
            earlier_after.append(math.nan)
        else:
            earlier_before.append(b[1])
            earlier_after.append(a[1])
        years += 1
    return earlier_before, earlier_after


@dataclass(frozen=True)
class LossBeyond:
    """A plot's change set against its baseline.

    Attributes:
        measured_change: the plot's NDVI change (after minus before).
        baseline: what it is set against.
        beyond: how far the change falls below the expected one, in NDVI
            units (0 when it does not fall below).
        z: (measured - expected) / spread: negative below the baseline.
        damage_threshold: the NDVI drop from which a pixel counts as damaged:
            the drop the season explains (``-expected_change``; negative
            where the season made the crop grow) plus the rules'
            ``pixel_threshold``, at least ``MIN_PIXEL_DROP``.
        is_loss: the change is beyond the season (z and ``beyond`` both past
            the rules' limits).
    """

    measured_change: float
    baseline: Baseline
    beyond: float
    z: float
    damage_threshold: float
    is_loss: bool


def loss_beyond(
    measured_change: float, baseline: Baseline, rules: SeasonRules | None = None
) -> LossBeyond:
    """The part of ``measured_change`` the baseline does not explain.

    Raises:
        ValueError: ``measured_change`` is not finite.

    >>> peers = peer_baseline([-0.50, -0.45, -0.55, -0.48, -0.52])
    >>> harvest = loss_beyond(-0.52, peers)
    >>> (round(harvest.beyond, 2), harvest.is_loss)
    (0.02, False)
    >>> hail = loss_beyond(-0.10, peer_baseline([0.05, 0.02, 0.0, 0.04, 0.03]))
    >>> (round(hail.beyond, 2), hail.is_loss)
    (0.13, True)
    """
    rules = rules or SeasonRules()
    if not math.isfinite(measured_change):
        raise ValueError("the plot's measured change must be finite")
    delta = measured_change - baseline.expected_change
    z = delta / baseline.spread
    beyond = max(0.0, -delta)
    return LossBeyond(
        measured_change=measured_change,
        baseline=baseline,
        beyond=beyond,
        z=z,
        damage_threshold=min(
            2.0,
            max(MIN_PIXEL_DROP, rules.pixel_threshold - baseline.expected_change),
        ),
        is_loss=z <= -rules.z_loss and beyond >= rules.min_loss,
    )


def _round(value: float) -> float:
    """NDVI to 0.01, as a reader sees it (no "-0.00": a negative zero is zero)."""
    return round(value, 2) + 0.0


def check_season_baseline(loss: LossBeyond | None) -> Check:
    """Whether the map can tell this plot's loss from the season, and what it shows.

    Amber ``season_baseline.none`` without a baseline (too few peers of the
    crop in the pair and no earlier seasons: the map cannot tell a loss from
    the season; field survey). Green otherwise: ``season_baseline.loss``
    when the change goes beyond the season, ``season_baseline.seasonal``
    when it is what the baseline shows (the measured damage, counted beyond
    the baseline, then says whether the claim is supported). Params:
    ``baseline`` (peers / history), ``count``, ``measured``, ``expected``,
    ``beyond`` (NDVI units, 2 decimals), ``z`` (2 decimals).
    """
    if loss is None:
        return Check("season_baseline", "amber", "season_baseline.none")
    params: dict[str, Param] = {
        "baseline": loss.baseline.kind,
        "count": loss.baseline.count,
        "measured": _round(loss.measured_change),
        "expected": _round(loss.baseline.expected_change),
        "beyond": _round(loss.beyond),
        "z": round(loss.z, 2),
    }
    message = "season_baseline.loss" if loss.is_loss else "season_baseline.seasonal"
    return Check("season_baseline", "green", message, params)


def check_crop_season(
    event: date, calendar: CropCalendar, period: tuple[date, date] | None = None
) -> Check:
    """The insured crop stood in the field on the event's day, by its calendar.

    The insured crop is the season the policy's ``period`` covers
    (:meth:`~underwriting.calendar.CropCalendar.insured_season`; without a
    period, the season of the latest sowing). Red ``crop_season.after_harvest``
    when the event falls after its harvest window (the crop was gone), red
    ``crop_season.before_sowing`` before its sowing; nothing was covered.
    Green ``crop_season.stage`` otherwise, with the stage its indemnity cap
    follows. Params: ``event``, ``stage``; for red also ``sowing`` and
    ``harvest_end`` (ISO dates).

    >>> from underwriting.calendar import CropCalendar
    >>> wheat = CropCalendar.parse({"sowing": "10-01", "heading": "05-10",
    ...                             "harvest_start": "07-01", "harvest_end": "07-31"})
    >>> check_crop_season(date(2021, 9, 10), wheat).message
    'crop_season.after_harvest'
    >>> # a policy of the 2021 harvest: October's sowing is the next crop's
    >>> check_crop_season(date(2021, 10, 5), wheat, (date(2021, 4, 1), date(2021, 10, 31))).message
    'crop_season.after_harvest'
    """
    season = (
        calendar.insured_season(period[0])
        if period is not None
        else calendar.season(event)
    )
    stage = season.stage(event)
    params: dict[str, Param] = {"event": event.isoformat(), "stage": stage}
    if stage in ("after_harvest", "before_sowing"):
        return Check(
            "crop_season",
            "red",
            f"crop_season.{stage}",
            params
            | {
                "sowing": season.sowing.isoformat(),
                "harvest_end": season.harvest_end.isoformat(),
            },
        )
    return Check("crop_season", "green", "crop_season.stage", params)
