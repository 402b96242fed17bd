"""Planted losses on real Sentinel-2 pixels: the season rules against the raw NDVI drop.

Usage: .venv/bin/python scripts/planted_loss.py [--seeds 0 1 2] [--json] [--data DIR]
(DIR: the shared sample data, default ``AGRI_SHARED_DATA`` or ../shared/data beside the
repository). Prints the figures table of both datasets (progress on stderr).

Slovenia (``sentinel2/slovenia``, 2015-2017, 68 dates, 88 RABA land-use parcels): a trial
is a pair of consecutive clear dates 5-20 days apart, both in April-October (a date is
clear when at least half the parcels on the patch are; a parcel-date when its clear
fraction is >= 0.8, as :func:`remote_sensing.ndvi_series` reports it). Each trial plants
a loss on 2-6 random parcels clear on both dates: the parcel's NDVI on the after-date is
scaled by a factor drawn in [0.4, 0.7] (hail, flood). Planting on the parcel's mean NDVI
is exact: the coverage-weighted mean is linear, so scaling every clear pixel scales the
mean by the same factor. Each parcel clear on both dates is then judged:

* the season rule (:mod:`claims.season`): the peer baseline when ``peer_baseline`` gives
  one (peers: the other parcels of the same land-use class in the pair, planted ones
  included: an insurer does not know which are hit; the 4 parcels with no class have
  none), else the history baseline (the parcel's change between the same weeks of
  earlier seasons: each date matched by day of year to the parcel's nearest clear date
  within 8 days), else no baseline (not flagged, counted apart); flagged when
  ``loss_beyond(...).is_loss``; default :class:`claims.season.SeasonRules`;
* the raw drop rule: flagged when NDVI before - after >= 0.3;
* for reference, the issue's plain robust z of each drop against its class's drops
  (re-implemented: see :func:`plain_z`), and the season rule's figures on the parcels
  where it formed a baseline.

Austria (``sentinel2/austria_T33UUP_2021-06-17_2021-09-25.tif``, 17 June and 25 September
2021, the 498 fields of tests/remote_sensing/data/austria_fields.gpkg, no crop codes):
the after-image's NIR is scaled by a factor in [0.5, 0.7] inside random fields (a
modified copy of the GeoTIFF; NDVI is not linear in NIR, so the pixels are planted, not
the means), and :func:`remote_sensing.assess_damage` measures every field. Only the raw
drop can be scored: with no crop codes there are no peers, with one pair no earlier
season, and the pair is 100 days apart: the rules answer amber (field survey).

Intervals: Wilson 95 % on the pooled counts (parcels are not independent: the same
unplanted parcels recur in every seed's trial of a date pair), and a 95 % percentile
bootstrap that resamples date pairs (each with all its seeds' trials).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyogrio
import rasterio
from rasterio import features

from claims import check_scene_timing
from claims.season import (
    MAD_TO_SD,
    SeasonRules,
    history_baseline,
    loss_beyond,
    peer_baseline,
    same_weeks,
)
from remote_sensing import (
    ImageSpec,
    assess_damage,
    ndvi_series,
    read_dates,
    read_plots,
)

REPO = Path(__file__).resolve().parent.parent
SLOVENIA = Path("sentinel2") / "slovenia"
AUSTRIA = Path("sentinel2") / "austria_T33UUP_2021-06-17_2021-09-25.tif"
AUSTRIA_FIELDS = REPO / "tests" / "remote_sensing" / "data" / "austria_fields.gpkg"
AUSTRIA_BEFORE = {"red": 1, "nir": 4}
AUSTRIA_AFTER = {"red": 5, "nir": 8}
AUSTRIA_DATES = (date(2021, 6, 17), date(2021, 9, 25))
CLASS_COLUMN = "LULC_NAME"

MIN_CLEAR = 0.8  # a parcel-date is clear when this share of the parcel is
SCENE_CLEAR = 0.5  # a date is clear when this share of the patch's parcels is
MONTHS = range(4, 11)  # April-October
GAP_DAYS = (5, 20)
HISTORY_DAYS = 8
PLANTED = (2, 6)  # parcels hit per Slovenian trial (inclusive)
FACTOR = (0.4, 0.7)  # NDVI after x factor
NIR_FACTOR = (0.5, 0.7)  # Austrian NIR after x factor
AUSTRIA_PLANTED = 25  # fields hit per Austrian seed
RAW_DROP = 0.3
SCENE_DAYS = 20  # the product's max_before_days / max_after_days for the Austrian pair

Array = npt.NDArray[np.float64]


def default_data() -> Path:
    """``AGRI_SHARED_DATA`` or ``../shared/data`` beside the repository."""
    return Path(os.environ.get("AGRI_SHARED_DATA", REPO.parent / "shared" / "data"))


def progress(message: str) -> None:
    """A line of progress on stderr."""
    print(message, file=sys.stderr, flush=True)  # noqa: T201 - progress on stderr


# --- Slovenia ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    """The Slovenian parcels' NDVI per date (NaN where not clear) and land-use class."""

    dates: list[date]
    ndvi: Array  # parcels x dates
    classes: list[str]

    @property
    def on_patch(self) -> npt.NDArray[np.bool_]:
        """Parcels clear on at least one date (the rest lie off the 1 km patch)."""
        return np.asarray(np.isfinite(self.ndvi).any(axis=1), dtype=bool)


def load_slovenia(data: Path) -> Stack:
    """Every parcel's series from the NDVI stack and its cloud mask."""
    folder = data / SLOVENIA
    parcels = folder / "landuse_parcels_RABA.gpkg"
    stack = folder / "ndvi_timeseries_2015-2017.tif"
    plots = read_plots(parcels)
    dates = read_dates(stack, folder / "timestamps.json")
    series = ndvi_series(
        plots,
        stack,
        dates=dates,
        cloud_stack=folder / "cloudmask_timeseries_2015-2017.tif",
        min_clear_fraction=MIN_CLEAR,
    )
    ndvi = np.full((len(series), len(dates)), np.nan)
    for i, s in enumerate(series):
        if s.points:
            ndvi[i] = [p.ndvi for p in s.points]
    frame = pyogrio.read_dataframe(parcels, columns=[CLASS_COLUMN], read_geometry=False)
    classes = [str(c or "") for c in frame[CLASS_COLUMN]]
    if len(classes) != len(series):
        raise ValueError("the parcels' classes and series do not line up")
    return Stack(dates, ndvi, classes)


def trial_pairs(stack: Stack) -> list[tuple[int, int]]:
    """Consecutive clear dates of the growing season, 5-20 days apart (band indices)."""
    on = int(stack.on_patch.sum())
    clear = [
        k
        for k, day in enumerate(stack.dates)
        if day.month in MONTHS
        and np.isfinite(stack.ndvi[:, k]).sum() >= SCENE_CLEAR * on
    ]
    return [
        (a, b)
        for a, b in itertools.pairwise(clear)
        if GAP_DAYS[0] <= (stack.dates[b] - stack.dates[a]).days <= GAP_DAYS[1]
        and stack.dates[a].year == stack.dates[b].year
    ]


def earlier_seasons(
    stack: Stack, parcel: int, before: int, after: int
) -> tuple[list[float], list[float]]:
    """The parcel's NDVI on the before- and after-weeks of each earlier season.

    The production rule, :func:`claims.same_weeks`: each date matched to the
    parcel's nearest clear date within ``HISTORY_DAYS`` of its anniversary,
    two different images in order (NaN for a season without them).
    """
    values = stack.ndvi[parcel]
    points = [
        (d, float(values[k]), 1.0 if math.isfinite(values[k]) else 0.0)
        for k, d in enumerate(stack.dates)
    ]
    return same_weeks(
        points, stack.dates[before], stack.dates[after], tolerance_days=HISTORY_DAYS
    )


def plain_z(
    change: Array, clear: npt.NDArray[np.int64], classes: Sequence[str]
) -> npt.NDArray[np.bool_]:
    """The issue's reference rule, re-implemented: robust z of each drop in its class.

    z = (drop - median of the class's drops) / (1.4826 MAD), the parcel's own drop
    among them, no floor on the spread; flagged at z >= 3, in classes of 3 or more
    parcels clear in the pair.
    """
    flagged = np.zeros(len(change), dtype=bool)
    for name in {classes[i] for i in clear.tolist()}:
        members = np.array([i for i in clear.tolist() if classes[i] == name])
        if not name or len(members) < 3:
            continue
        drops = -change[members]
        centre = float(np.median(drops))
        spread = MAD_TO_SD * float(np.median(np.abs(drops - centre)))
        if spread > 0:
            flagged[members] = (drops - centre) / spread >= 3.0
    return flagged


@dataclass(frozen=True)
class Judged:
    """One parcel in one trial."""

    trial: int
    pair: int  # index of the date pair (the bootstrap's cluster)
    parcel: int
    planted: bool
    drop: float  # NDVI before - after, after planting
    raw: bool  # drop >= RAW_DROP
    rule: bool  # loss beyond the season
    baseline: str  # peers, history, none
    plain_z: bool  # the plain robust z of the drop against its class's drops >= 3


def slovenia_trials(
    stack: Stack,
    seeds: Sequence[int],
    rules: SeasonRules | None = None,
) -> tuple[list[Judged], list[tuple[int, int]]]:
    """One trial per date pair and seed; every parcel clear on both dates is judged."""
    rules = rules or SeasonRules()
    pairs = trial_pairs(stack)
    judged: list[Judged] = []
    trial = 0
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for p, (b, a) in enumerate(pairs):
            clear = np.flatnonzero(
                np.isfinite(stack.ndvi[:, b]) & np.isfinite(stack.ndvi[:, a])
            )
            count = min(int(rng.integers(PLANTED[0], PLANTED[1] + 1)), len(clear))
            hit = set(rng.choice(clear, size=count, replace=False).tolist())
            before = stack.ndvi[:, b]
            after = stack.ndvi[:, a].copy()
            for i in sorted(hit):
                after[i] *= rng.uniform(*FACTOR)
            change = after - before
            plain = plain_z(change, clear, stack.classes)
            for i in clear.tolist():
                peers = [
                    float(change[j])
                    for j in clear.tolist()
                    if j != i
                    and stack.classes[i]
                    and stack.classes[j] == stack.classes[i]
                ]
                baseline = peer_baseline(peers, rules)
                if baseline is None:
                    eb, ea = earlier_seasons(stack, i, b, a)
                    baseline = history_baseline(float(before[i]), eb, ea, rules)
                flagged = (
                    baseline is not None
                    and loss_beyond(float(change[i]), baseline, rules).is_loss
                )
                judged.append(
                    Judged(
                        trial=trial,
                        pair=p,
                        parcel=i,
                        planted=i in hit,
                        drop=float(-change[i]),
                        raw=float(-change[i]) >= RAW_DROP,
                        rule=flagged,
                        baseline=baseline.kind if baseline else "none",
                        plain_z=bool(plain[i]),
                    )
                )
            trial += 1
    return judged, pairs


# --- figures ----------------------------------------------------------------------------


def wilson(hits: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of hits / n (``(nan, nan)`` when n is 0)."""
    if n == 0:
        return math.nan, math.nan
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap(
    clusters: npt.NDArray[np.int64],
    numerator: npt.NDArray[np.bool_],
    denominator: npt.NDArray[np.bool_],
    rounds: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """95 % percentile interval of sum(numerator) / sum(denominator), clusters resampled."""
    names, inverse = np.unique(clusters, return_inverse=True)
    num = np.bincount(inverse, weights=numerator.astype(np.float64))
    den = np.bincount(inverse, weights=denominator.astype(np.float64))
    pick = np.random.default_rng(seed).integers(0, len(names), (rounds, len(names)))
    top, bottom = num[pick].sum(axis=1), den[pick].sum(axis=1)
    ratios = top[bottom > 0] / bottom[bottom > 0]
    if not len(ratios):
        return math.nan, math.nan
    low, high = np.quantile(ratios, [0.025, 0.975])
    return float(low), float(high)


@dataclass(frozen=True)
class Score:
    """Precision and recall of one rule, with counts and intervals."""

    true_positives: int
    flagged: int
    planted: int
    precision: float
    recall: float
    precision_wilson: tuple[float, float]
    recall_wilson: tuple[float, float]
    precision_bootstrap: tuple[float, float] = (math.nan, math.nan)
    recall_bootstrap: tuple[float, float] = (math.nan, math.nan)

    def to_json(self) -> dict[str, Any]:
        """Rates to 3 decimals; an interval's NaN bound as null."""

        def r(pair: tuple[float, float]) -> list[float | None]:
            return [None if math.isnan(v) else round(v, 3) for v in pair]

        return {
            "precision": _r3(self.precision),
            "recall": _r3(self.recall),
            "true_positives": self.true_positives,
            "flagged": self.flagged,
            "planted": self.planted,
            "precision_wilson95": r(self.precision_wilson),
            "recall_wilson95": r(self.recall_wilson),
            "precision_bootstrap95": r(self.precision_bootstrap),
            "recall_bootstrap95": r(self.recall_bootstrap),
        }


def _r3(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


def score(
    planted: npt.NDArray[np.bool_],
    flagged: npt.NDArray[np.bool_],
    clusters: npt.NDArray[np.int64] | None = None,
) -> Score:
    """A rule's precision (planted among flagged) and recall (flagged among planted)."""
    tp = int((planted & flagged).sum())
    n_flagged, n_planted = int(flagged.sum()), int(planted.sum())
    extra: dict[str, tuple[float, float]] = {}
    if clusters is not None:
        extra["precision_bootstrap"] = bootstrap(clusters, planted & flagged, flagged)
        extra["recall_bootstrap"] = bootstrap(clusters, planted & flagged, planted)
    return Score(
        true_positives=tp,
        flagged=n_flagged,
        planted=n_planted,
        precision=tp / n_flagged if n_flagged else math.nan,
        recall=tp / n_planted if n_planted else math.nan,
        precision_wilson=wilson(tp, n_flagged),
        recall_wilson=wilson(tp, n_planted),
        **extra,
    )


@dataclass(frozen=True)
class SloveniaFigures:
    """The Slovenian trials' figures: both rules, the plain z, the baselines used."""

    seeds: list[int]
    pairs: list[tuple[date, date]]
    trials: int
    judged: int
    planted: int
    rule: Score
    raw: Score
    plain_z: Score  # the reference rule, re-implemented
    rule_with_baseline: Score  # the season rule where it formed a baseline
    baselines: dict[str, int]  # every judged parcel: which baseline decided
    planted_baselines: dict[str, int]  # the planted ones
    unjudged_by_class: dict[str, int]  # planted parcels without a baseline, by class

    def to_json(self) -> dict[str, Any]:
        """The figures as JSON."""
        return {
            "seeds": self.seeds,
            "date_pairs": [[b.isoformat(), a.isoformat()] for b, a in self.pairs],
            "trials": self.trials,
            "parcel_judgements": self.judged,
            "planted": self.planted,
            "season_rule": self.rule.to_json(),
            "raw_drop": self.raw.to_json(),
            "plain_class_z": self.plain_z.to_json(),
            "season_rule_where_a_baseline_formed": self.rule_with_baseline.to_json(),
            "baseline_decided": self.baselines,
            "baseline_decided_planted": self.planted_baselines,
            "planted_without_baseline_by_class": self.unjudged_by_class,
        }


def slovenia_figures(
    data: Path, seeds: Sequence[int], rules: SeasonRules | None = None
) -> SloveniaFigures:
    """Load the Slovenian stack, run one trial per date pair and seed, score the rules."""
    stack = load_slovenia(data)
    judged, pairs = slovenia_trials(stack, seeds, rules)
    planted = np.array([j.planted for j in judged])
    clusters = np.array([j.pair for j in judged], dtype=np.int64)
    rule = np.array([j.rule for j in judged])
    raw = np.array([j.raw for j in judged])
    plain = np.array([j.plain_z for j in judged])
    formed = np.array([j.baseline != "none" for j in judged])
    kinds = Counter(j.baseline for j in judged)
    planted_kinds = Counter(j.baseline for j in judged if j.planted)
    return SloveniaFigures(
        seeds=list(seeds),
        pairs=[(stack.dates[b], stack.dates[a]) for b, a in pairs],
        trials=len({j.trial for j in judged}),
        judged=len(judged),
        planted=int(planted.sum()),
        rule=score(planted, rule, clusters),
        raw=score(planted, raw, clusters),
        plain_z=score(planted, plain, clusters),
        rule_with_baseline=score(planted[formed], rule[formed], clusters[formed]),
        baselines={k: kinds[k] for k in ("peers", "history", "none")},
        planted_baselines={k: planted_kinds[k] for k in ("peers", "history", "none")},
        unjudged_by_class=dict(
            Counter(
                stack.classes[j.parcel] or "(no class)"
                for j in judged
                if j.planted and j.baseline == "none"
            ).most_common()
        ),
    )


# --- Austria ----------------------------------------------------------------------------


def plant_nir(
    source: Path,
    target: Path,
    geometries: Sequence[Any],
    factors: Sequence[float],
) -> None:
    """A copy of ``source`` with the after-image's NIR scaled inside each geometry."""
    with rasterio.open(source) as ds:
        profile = ds.profile
        bands = ds.read()
        transform = ds.transform
    nir = AUSTRIA_AFTER["nir"] - 1
    scaled = bands[nir].astype(np.float64)
    for geom, factor in zip(geometries, factors, strict=True):
        inside = features.geometry_mask(
            [geom], out_shape=scaled.shape, transform=transform, invert=True
        )
        scaled[inside] *= factor
    bands[nir] = np.round(scaled).astype(bands.dtype)
    with rasterio.open(target, "w", **profile) as out:
        out.write(bands)


@dataclass(frozen=True)
class AustriaFigures:
    """The Austrian pair's figures: the raw drop's score and what the rules answer."""

    seeds: list[int]
    fields: int
    planted: int
    raw: Score
    natural_raw: int  # fields whose unplanted drop is already >= RAW_DROP
    scene_timing: dict[str, int]  # colour -> events (every day between the scenes)

    def to_json(self) -> dict[str, Any]:
        """The figures as JSON."""
        return {
            "seeds": self.seeds,
            "fields": self.fields,
            "planted": self.planted,
            "raw_drop": self.raw.to_json(),
            "fields_dropping_0.3_unplanted": self.natural_raw,
            "scene_timing_events": self.scene_timing,
        }


def austria_rules_answer() -> dict[str, int]:
    """What the rules say of the Austrian pair for every event date between its scenes."""
    before, after = AUSTRIA_DATES
    colours: Counter[str] = Counter()
    day = before + timedelta(days=1)
    while day < after:
        check = check_scene_timing(
            day,
            before,
            after,
            max_before_days=SCENE_DAYS,
            max_after_days=SCENE_DAYS,
        )
        colours[check.light] += 1
        day += timedelta(days=1)
    return dict(colours)


def austria_figures(
    data: Path,
    seeds: Sequence[int],
    workdir: Path,
    fields_path: Path = AUSTRIA_FIELDS,
) -> AustriaFigures:
    """Plant NIR losses on random fields (one GeoTIFF copy per seed in ``workdir``), score."""
    import geopandas as gpd

    source = data / AUSTRIA
    frame = gpd.read_file(fields_path)
    with rasterio.open(source) as ds:
        frame = frame.to_crs(ds.crs)
    plots = read_plots(fields_path)
    if list(frame["plot_id"]) != plots.ids:
        raise ValueError("the fields' ids and plots do not line up")
    planted_all: list[npt.NDArray[np.bool_]] = []
    flagged_all: list[npt.NDArray[np.bool_]] = []
    clusters: list[npt.NDArray[np.int64]] = []
    natural = 0
    for n, seed in enumerate(seeds):
        progress(f"austria: seed {seed}")
        rng = np.random.default_rng(seed)
        hit = rng.choice(len(frame), size=AUSTRIA_PLANTED, replace=False)
        factors = rng.uniform(*NIR_FACTOR, size=len(hit))
        copy = workdir / f"austria_planted_{seed}.tif"
        plant_nir(source, copy, list(frame.geometry.iloc[hit]), factors.tolist())
        rows = assess_damage(
            plots,
            ImageSpec(copy, AUSTRIA_BEFORE, scale=1e-4),
            ImageSpec(copy, AUSTRIA_AFTER, scale=1e-4),
        )
        copy.unlink()
        drop = np.array([r.ndvi_before - r.ndvi_after for r in rows])
        ok = np.isfinite(drop)
        planted = np.zeros(len(rows), dtype=bool)
        planted[hit] = True
        planted_all.append(planted[ok])
        flagged_all.append(drop[ok] >= RAW_DROP)
        clusters.append(np.full(int(ok.sum()), n, dtype=np.int64))
        if n == 0:
            clean = assess_damage(
                plots,
                ImageSpec(source, AUSTRIA_BEFORE, scale=1e-4),
                ImageSpec(source, AUSTRIA_AFTER, scale=1e-4),
            )
            natural = sum(r.ndvi_before - r.ndvi_after >= RAW_DROP for r in clean)
    timing = austria_rules_answer()
    planted_cat = np.concatenate(planted_all)
    return AustriaFigures(
        seeds=list(seeds),
        fields=len(plots),
        planted=int(planted_cat.sum()),
        raw=score(planted_cat, np.concatenate(flagged_all)),
        natural_raw=natural,
        scene_timing=timing,
    )


# --- the table --------------------------------------------------------------------------


def _line(name: str, s: Score) -> str:
    def ci(pair: tuple[float, float]) -> str:
        return f"[{pair[0]:.2f}, {pair[1]:.2f}]"

    boot = (
        f"  boot P {ci(s.precision_bootstrap)} R {ci(s.recall_bootstrap)}"
        if not math.isnan(s.precision_bootstrap[0])
        else ""
    )
    return (
        f"  {name:22} precision {s.precision:.2f} ({s.true_positives}/{s.flagged}) "
        f"{ci(s.precision_wilson)}  recall {s.recall:.2f} "
        f"({s.true_positives}/{s.planted}) {ci(s.recall_wilson)}{boot}"
    )


def table(slo: SloveniaFigures, aut: AustriaFigures, seconds: float) -> str:
    """The figures as a plain-text table."""
    out = [
        f"Slovenia: {slo.trials} trials ({len(slo.pairs)} date pairs x seeds "
        f"{slo.seeds}), {slo.planted} planted parcels, {slo.judged} parcel judgements",
        _line("season rule", slo.rule),
        _line(f"raw drop >= {RAW_DROP}", slo.raw),
        _line("plain class z >= 3", slo.plain_z),
        _line("season rule, baseline", slo.rule_with_baseline),
        f"  baseline decided (all judgements): {slo.baselines}; "
        f"planted: {slo.planted_baselines}",
        f"  planted without a baseline, by class: {slo.unjudged_by_class}",
        f"Austria: {aut.fields} fields, {aut.planted} planted (seeds {aut.seeds}), "
        f"{aut.natural_raw} fields drop >= {RAW_DROP} unplanted",
        _line(f"raw drop >= {RAW_DROP}", aut.raw),
        f"  scene timing, every event between {AUSTRIA_DATES[0]} and "
        f"{AUSTRIA_DATES[1]} (max {SCENE_DAYS} days): {aut.scene_timing}",
        f"({seconds:.1f} s)",
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run both datasets, print the table or JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args(argv)
    data = args.data or default_data()
    started = time.perf_counter()
    progress("slovenia: series and trials")
    slo = slovenia_figures(data, args.seeds)
    with tempfile.TemporaryDirectory() as tmp:
        aut = austria_figures(data, args.seeds, Path(tmp))
    seconds = time.perf_counter() - started
    if args.json:
        print(  # noqa: T201 - the report on stdout
            json.dumps(
                {
                    "slovenia": slo.to_json(),
                    "austria": aut.to_json(),
                    "seconds": round(seconds, 1),
                },
                indent=2,
            )
        )
    else:
        print(table(slo, aut, seconds))  # noqa: T201 - the report on stdout
    return 0


if __name__ == "__main__":
    sys.exit(main())
