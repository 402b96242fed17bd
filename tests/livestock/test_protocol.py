"""The k-fold protocol by animal: sessions, out-of-fold thresholds, intervals, calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from livestock import LivestockError
from livestock.data import Capture, capture_day, capture_session
from livestock.evaluate import (
    MAX_SESSION_FRAMES,
    BestTemplate,
    bootstrap_by_animal,
    calibrate_out_of_fold,
    condition,
    cross_fold_report,
    distractor_templates,
    gallery_size_curve,
    measurable,
    metrics_from_trials,
    protocol_trials,
    visit,
)
from livestock.train import OutOfFold, fold_of


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def herd(
    animals: int,
    *,
    noise: float,
    rng: np.random.Generator,
    later_days: int = 2,
    frames: int = 4,
    dim: int = 32,
) -> tuple[list[Capture], np.ndarray]:
    """Synthetic captures: enrolment day 1 (3 frames), then ``later_days`` visits of ``frames``."""
    captures, vectors = [], []
    centres = unit(rng.standard_normal((animals, dim)))
    for a in range(animals):
        tag = f"9982300000{a:05d}"
        days = [(1, 3)] + [(d + 2, frames) for d in range(later_days)]
        for day, n in days:
            start = f"202504{day:02d}090000"
            for f in range(n):
                name = f"{start}_{start[:8]}091000_{f:04d}_cls0.jpg"
                captures.append(Capture(Path(tag) / name, tag, capture_day(name)))
                vectors.append(centres[a] + noise * rng.standard_normal(dim))
    return captures, unit(np.array(vectors))


def test_a_clip_is_a_session_and_a_day_is_a_visit() -> None:
    name = "20250401093214_20250401093754_0018_cls0.jpg"
    c = Capture(Path(name), "a", capture_day(name))
    assert capture_session(name) == "20250401093214_20250401093754"
    assert visit(c) == "2025-04-01"
    assert condition(c) == "day"
    night = Capture(Path("20250402223449_20250402223937_0010_cls0.jpg"), "a", None)
    assert condition(night) == "night"
    series = Capture(Path("331-2-5-3(4).jpg"), "a", None)
    assert visit(series) == "331-2-5-3" and condition(series) == "unknown"


def test_session_queries_hold_at_most_ten_frames_of_one_visit() -> None:
    rng = np.random.default_rng(0)
    caps, emb = herd(4, noise=0.1, rng=rng, later_days=1, frames=23)
    photos = protocol_trials(caps, emb, "photo")
    sessions = protocol_trials(caps, emb, "session")
    assert len(photos) == 4 * 23
    assert len(sessions) == 4 * 3  # 23 frames: 10 + 10 + 3
    assert MAX_SESSION_FRAMES == 10


def test_every_query_is_also_an_impostor_trial_with_its_animal_left_out() -> None:
    rng = np.random.default_rng(1)
    caps, emb = herd(6, noise=0.05, rng=rng)
    t = protocol_trials(caps, emb, "photo")
    assert len(t.impostor) == len(t)
    assert np.all(t.rank == 0) and np.all(t.genuine > t.impostor)


def test_the_shipped_scoring_is_each_animals_best_template_and_the_best_animal() -> (
    None
):
    q = unit(np.array([[1.0, 0.0], [0.0, 1.0]]))
    templates = unit(np.array([[1.0, 0.1], [1.0, 1.0], [0.1, 1.0]]))
    scores = BestTemplate().scores(q, templates, np.array([0, 1, 1]), 2)
    assert scores.shape == (2, 2)
    np.testing.assert_allclose(scores[0], [templates[0, 0], templates[1, 0]], rtol=1e-6)
    np.testing.assert_allclose(scores[1], [templates[0, 1], templates[2, 1]], rtol=1e-6)
    np.testing.assert_allclose(BestTemplate().decide(scores), scores.max(axis=1))


class _Recording(BestTemplate):
    """The shipped scoring, noting how many animals each call's gallery held."""

    def __init__(self) -> None:
        object.__setattr__(self, "galleries", [])

    def scores(
        self,
        queries: np.ndarray,
        templates: np.ndarray,
        owner: np.ndarray,
        animals: int,
    ) -> np.ndarray:
        self.galleries.append(animals)  # type: ignore[attr-defined]
        return super().scores(queries, templates, owner, animals)


def test_an_impostor_trial_is_scored_against_the_gallery_without_its_own_animal() -> (
    None
):
    # A re-ranking scoring reads the whole gallery, so the own animal must be
    # taken out before scoring, not masked after.
    rng = np.random.default_rng(3)
    caps, emb = herd(5, noise=0.3, rng=rng)
    recording = _Recording()
    t = protocol_trials(caps, emb, "photo", scoring=recording)
    assert (
        recording.galleries == [5] + [4] * 5
    )  # the genuine pass, one per left-out animal
    shipped = protocol_trials(caps, emb, "photo")
    np.testing.assert_array_equal(t.impostor, shipped.impostor)
    np.testing.assert_array_equal(t.genuine, shipped.genuine)
    # written out by hand: one template per cow (its 3 enrolment frames fused),
    # an impostor trial's score is the best cosine over the other cows' templates
    animals = sorted({c.animal for c in caps})
    rows = {a: [i for i, c in enumerate(caps) if c.animal == a] for a in animals}
    templates = unit(np.stack([emb[rows[a][:3]].mean(axis=0) for a in animals]))
    expected = [
        max(float(emb[i] @ templates[b]) for b in range(len(animals)) if b != k)
        for k, a in enumerate(animals)
        for i in rows[a][3:]
    ]
    np.testing.assert_allclose(np.sort(shipped.impostor), np.sort(expected), atol=1e-5)


def test_outside_impostors_replace_leave_one_out() -> None:
    rng = np.random.default_rng(2)
    caps, emb = herd(8, noise=0.05, rng=rng)
    inside = [c for c in caps if c.animal < "998230000000004"]
    outside = [c for c in caps if c.animal >= "998230000000004"]
    idx = {id(c): i for i, c in enumerate(caps)}
    t = protocol_trials(
        inside,
        emb[[idx[id(c)] for c in inside]],
        "session",
        impostors=(outside, emb[[idx[id(c)] for c in outside]]),
    )
    assert t.gallery == 4
    assert set(t.impostor_animal) == {c.animal for c in outside}
    # every visit of an outside animal, enrolment day too, is an impostor session
    assert len(t.impostor) == 4 * 3


def test_a_far_below_one_over_the_trials_is_not_measured() -> None:
    assert measurable(1e-2, 100) and not measurable(1e-3, 582)
    rng = np.random.default_rng(3)
    caps, emb = herd(10, noise=0.3, rng=rng)
    m = metrics_from_trials(protocol_trials(caps, emb, "photo"))
    assert m.impostor_queries == 80
    assert m.tar_at_far[1e-2] is None and m.tar_at_far[1e-3] is None
    assert m.to_json()["tar_at_far_1e-3"] is None


def test_intervals_resample_animals_and_contain_the_rate() -> None:
    animals = np.array(["a"] * 50 + ["b"] * 50 + ["c"] * 50)
    values = np.array([1.0] * 50 + [0.0] * 50 + [1.0] * 50)
    low, high = bootstrap_by_animal(animals, values)
    assert 0.0 <= low < 2 / 3 < high <= 1.0
    # 150 queries but 3 animals: far wider than a binomial interval over queries
    assert high - low > 0.5
    same = bootstrap_by_animal(animals, np.ones(150))
    assert same == (1.0, 1.0)


def oof_of(rng: np.random.Generator, animals: int = 40, folds: int = 4) -> OutOfFold:
    caps, emb = herd(animals, noise=0.35, rng=rng, later_days=3, frames=5)
    fold = fold_of([c.animal for c in caps], folds)
    return OutOfFold(caps, np.array([fold[c.animal] for c in caps]), emb)


def test_each_folds_threshold_comes_from_the_other_folds_only() -> None:
    rng = np.random.default_rng(4)
    oof = oof_of(rng)
    base = cross_fold_report(oof.captures, oof.embeddings, oof.folds)
    # Make fold 0's animals all look alike: its own impostor scores soar...
    emb = oof.embeddings.copy()
    rows = np.flatnonzero(oof.folds == 0)
    emb[rows] = unit(emb[rows] + 3.0 * unit(np.ones(emb.shape[1]))[None])
    moved = cross_fold_report(oof.captures, emb, oof.folds)
    # ... which moves the other folds' thresholds, never fold 0's own.
    t0, t1 = (
        base["photo"]["far_1e-2"]["thresholds"],
        moved["photo"]["far_1e-2"]["thresholds"],
    )
    assert t0[0] == t1[0]
    assert all(a != b for a, b in zip(t0[1:], t1[1:], strict=True))
    assert moved["photo"]["far_1e-2"]["far_realised"]["rate"] > 0.01


def test_the_report_gives_counts_and_intervals_and_refuses_unmeasurable_fars() -> None:
    rng = np.random.default_rng(5)
    oof = oof_of(rng)
    report = cross_fold_report(oof.captures, oof.embeddings, oof.folds)
    photo, session = report["photo"], report["session"]
    assert photo["queries"] == 40 * 15 and session["queries"] == 40 * 3
    assert photo["gallery_per_fold"] == [10, 10, 10, 10]
    top1 = photo["top1"]
    assert top1["n"] == 600 and top1["ci95"][0] <= top1["rate"] <= top1["ci95"][1]
    assert photo["far_1e-3"] == {
        "measurable": False,
        "why": "fewer than 1000 impostor trials to calibrate on",
    }
    assert session["far_1e-2"]["measurable"] is False  # 90 trials from the other folds


def test_calibration_is_monotone_and_thresholds_are_ordered() -> None:
    rng = np.random.default_rng(6)
    small = oof_of(rng, animals=60, folds=4)  # 900 photo trials: not enough for 0.1 %
    with pytest.raises(LivestockError, match="photo: 900 impostor trials cannot"):
        calibrate_out_of_fold(small)
    big = oof_of(np.random.default_rng(7), animals=240, folds=4)
    cal = calibrate_out_of_fold(big)
    assert cal["threshold"] <= cal["match_threshold"]
    assert cal["session_threshold"] <= cal["session_match_threshold"]
    slope = cal["calibration"]["photo"]["slope"]
    assert slope > 0
    assert cal["calibration_trials"]["photo"]["impostor"] == 240 * 15


def with_outside(
    oof: OutOfFold, rng: np.random.Generator, animals: int = 40, frames: int = 1
) -> OutOfFold:
    """``oof`` plus another farm's animals (``SOURCE/ID``, undated), split into folds too."""
    caps, vectors = list(oof.captures), [oof.embeddings]
    dim = oof.embeddings.shape[1]
    for a in range(animals):
        centre = rng.standard_normal(dim)
        for f in range(frames):
            caps.append(Capture(Path(f"IMG_{a}/{f}.jpg"), f"ssfr/IMG_{a:03d}", None))
            vectors.append(unit(centre + 0.35 * rng.standard_normal(dim))[None])
    fold = fold_of([c.animal for c in caps], 4)
    return OutOfFold(
        caps, np.array([fold[c.animal] for c in caps]), np.concatenate(vectors)
    )


def test_other_farms_cows_are_never_enrolled_only_tried_as_impostors() -> None:
    rng = np.random.default_rng(8)
    oof = oof_of(rng)
    mixed = with_outside(oof, rng, animals=120, frames=12)
    base = cross_fold_report(oof.captures, oof.embeddings, oof.folds)
    report = cross_fold_report(mixed.captures, mixed.embeddings, mixed.folds)
    for unit_ in ("photo", "session"):
        # the herd's figures of record do not move
        assert report[unit_]["top1"] == base[unit_]["top1"]
        assert report[unit_]["gallery_per_fold"] == [10, 10, 10, 10]
        assert "far_1e-2_outside" not in base[unit_]
    outside = report["photo"]["far_1e-2_outside"]
    assert outside["impostor_trials"] == 120 * 12
    # one video of an outside cow is one visit: sessions of at most ten frames
    assert report["session"]["far_1e-2_outside"]["impostor_trials"] == 120 * 2
    assert outside["far_realised"]["ci95"][0] <= outside["far_realised"]["rate"]
    # the shipped rule (thresholds on both kinds of impostor), each kind's FAR
    pooled = report["photo"]["far_1e-2_pooled"]
    assert pooled["impostor_trials"] == 600 + 120 * 12
    assert set(pooled) >= {"tar", "far_realised", "far_realised_outside"}
    # thresholds from more impostors than the herd's alone
    assert pooled["thresholds"] != report["photo"]["far_1e-2"]["thresholds"]


def test_a_source_too_small_to_fill_every_fold_adds_no_outside_figures() -> None:
    rng = np.random.default_rng(11)
    oof = oof_of(rng)
    few = with_outside(oof, rng, animals=3, frames=2)  # fold 3 gets none
    report = cross_fold_report(few.captures, few.embeddings, few.folds)
    assert "far_1e-2_outside" not in report["photo"]
    assert (
        report["photo"]["top1"]
        == cross_fold_report(oof.captures, oof.embeddings, oof.folds)["photo"]["top1"]
    )


def test_shipped_thresholds_are_fitted_on_the_herds_and_other_farms_impostors() -> None:
    rng = np.random.default_rng(9)
    big = oof_of(rng, animals=240, folds=4)
    cal = calibrate_out_of_fold(with_outside(big, rng, animals=200))
    trials = cal["calibration_trials"]["photo"]
    assert trials["impostor"] == 240 * 15 + 200
    assert trials["impostor_outside"] == 200


def test_thresholds_fitted_on_grown_galleries_are_stricter_and_say_their_size() -> None:
    rng = np.random.default_rng(12)
    big = oof_of(rng, animals=240, folds=4)
    # per fold, 30 cows no fold model saw: look-alikes of that fold's own cows
    distractors = []
    for k in range(4):
        rows = [i for i in range(len(big.captures)) if big.folds[i] == k]
        own = distractor_templates(
            [big.captures[i] for i in rows], big.embeddings[rows]
        )
        near = own[:30] + 0.15 * rng.standard_normal(own[:30].shape)
        distractors.append(unit(near))
    assert [len(d) for d in distractors] == [30] * 4
    plain = calibrate_out_of_fold(big)
    grown = calibrate_out_of_fold(big, distractors)
    assert plain["calibration_trials"]["photo"]["gallery_per_fold"] == [60] * 4
    assert grown["calibration_trials"]["photo"]["gallery_per_fold"] == [90] * 4
    for key in ("threshold", "match_threshold", "session_threshold"):
        assert grown[key] > plain[key]  # a bigger gallery, a higher best impostor score
    assert grown["out_of_fold"] == plain["out_of_fold"]  # the report stays per fold
    with pytest.raises(LivestockError, match="one per fold"):
        calibrate_out_of_fold(big, distractors[:3])


def test_grown_galleries_calibrate_a_herd_only_run_with_folds_from_zero() -> None:
    rng = np.random.default_rng(13)
    big = oof_of(rng, animals=240, folds=4)
    noise = [unit(rng.standard_normal((5, 32))) for _ in range(4)]
    with pytest.raises(LivestockError, match="herd-only"):
        calibrate_out_of_fold(with_outside(big, rng, animals=200), noise)
    shifted = OutOfFold(big.captures, big.folds + 1, big.embeddings)  # folds 1..4
    with pytest.raises(LivestockError, match="numbered from 0"):
        calibrate_out_of_fold(shifted, noise)


def test_a_growing_gallery_raises_the_false_accepts_at_a_fixed_threshold() -> None:
    rng = np.random.default_rng(10)
    mixed = with_outside(oof_of(rng), rng, animals=200, frames=1)
    # fold k's model embeds everyone; here every model sees the same vectors
    by_fold = [mixed.embeddings] * 4
    curve = gallery_size_curve(
        mixed.captures, by_fold, mixed.folds, sizes=(10, 60, 100, 1000)
    )
    assert [p.size for p in curve] == [10, 60, 100, 240]  # cut to every animal there is
    fars = [p.far["rate"] for p in curve]
    top1 = [p.top1["rate"] for p in curve]
    assert fars == sorted(fars) and fars[-1] > fars[0]
    assert top1 == sorted(top1, reverse=True)
    # fold k's model never saw fold k's 50 outside cows: they come first
    assert [p.distractors_trained_on for p in curve] == [0, 0, 40, 180]
    assert all(len(p.thresholds) == 4 for p in curve)
