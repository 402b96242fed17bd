"""Face-ID evaluation the way an insurer works: enrol on one day, identify on others.

Open-set figures: a query is accepted when its best-matching enrolled animal
is the right one and the score clears the threshold (TAR); an impostor (an
animal never enrolled) is falsely accepted when its best score clears it (FAR).
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from livestock.data import (
    Capture,
    capture_time,
    is_extra,
    scan_folder,
    split_enrol_query,
)
from livestock.errors import LivestockError
from livestock.preprocess import load_image, to_array

__all__ = [
    "BestTemplate",
    "GalleryPoint",
    "Metrics",
    "Scoring",
    "embed_captures",
    "evaluate_embeddings",
    "evaluate_folder",
    "threshold_at_far",
]

Embed = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]


@dataclass(frozen=True)
class Metrics:
    """Identification and open-set verification figures.

    Attributes:
        top1, top5: share of genuine queries whose animal ranks first / in the top 5.
        map: mean average precision of each query over every enrolment image.
        tar_at_far: {FAR: TAR} at the calibrated thresholds.
        thresholds: {FAR: score threshold} calibrated on the impostor scores.
        genuine_queries, impostor_queries: how many of each.
        animals: enrolled animals.
    """

    top1: float
    top5: float
    map: float
    tar_at_far: dict[float, float | None]
    thresholds: dict[float, float | None]
    genuine_queries: int
    impostor_queries: int
    animals: int
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The report's JSON keys; a FAR below 1 / impostor_queries is ``null`` (not measurable)."""

        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        out: dict[str, Any] = {
            "top1": round(self.top1, 4),
            "top5": round(self.top5, 4),
            "map": round(self.map, 4),
            "tar_at_far_1e-2": r(self.tar_at_far[1e-2]),
            "tar_at_far_1e-3": r(self.tar_at_far[1e-3]),
            "threshold_at_far_1e-2": r(self.thresholds[1e-2]),
            "threshold_at_far_1e-3": r(self.thresholds[1e-3]),
            "genuine_queries": self.genuine_queries,
            "impostor_queries": self.impostor_queries,
            "animals": self.animals,
        }
        for key, (low, high) in self.intervals.items():
            out[f"{key}_ci95"] = [round(low, 4), round(high, 4)]
        return out


def threshold_at_far(impostor_scores: npt.NDArray[np.float64], far: float) -> float:
    """The lowest score threshold whose false-accept rate is at most ``far``.

    A score is accepted when ``score >= threshold``.
    """
    scores = np.sort(np.asarray(impostor_scores, dtype=np.float64))[::-1]
    if len(scores) == 0:
        return math.nan
    allowed = math.floor(far * len(scores))  # impostors that may pass
    if allowed >= len(scores):
        return float(scores[-1])
    return float(np.nextafter(scores[allowed], np.inf))


def _normalise(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out: npt.NDArray[np.float32] = (x / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


def evaluate_embeddings(
    enrol: dict[str, npt.NDArray[np.float32]],
    query: dict[str, npt.NDArray[np.float32]],
    impostors: npt.NDArray[np.float32] | None = None,
    fars: Sequence[float] = (1e-2, 1e-3),
) -> Metrics:
    """Metrics from embeddings: ``enrol``/``query`` map animal -> (n, d) arrays.

    Without ``impostors``, every animal in turn is left out of the gallery
    and its queries serve as impostor queries (leave-one-animal-out).
    """
    animals = sorted(enrol)
    if not animals:
        raise LivestockError("nothing to evaluate: no animal was enrolled")
    templates = _normalise(
        np.stack([_normalise(enrol[a]).mean(axis=0) for a in animals])
    )
    q_list = [(animals.index(a), v) for a in animals for v in query.get(a, [])]
    if not q_list:
        raise LivestockError("nothing to evaluate: no query images on other days")
    labels = np.array([label for label, _ in q_list])
    q = _normalise(np.stack([v for _, v in q_list]))
    scores = q @ templates.T  # (queries, animals)
    order = np.argsort(-scores, axis=1)
    rank = np.argmax(order == labels[:, None], axis=1)
    top1 = float(np.mean(rank == 0))
    top5 = float(np.mean(rank < 5))
    # mAP over every enrolment image.
    gallery = _normalise(np.concatenate([enrol[a] for a in animals]))
    g_labels = np.concatenate([[i] * len(enrol[a]) for i, a in enumerate(animals)])
    g_scores = q @ gallery.T
    g_order = np.argsort(-g_scores, axis=1)
    relevant = g_labels[g_order] == labels[:, None]
    hits = np.cumsum(relevant, axis=1)
    positions = np.arange(1, relevant.shape[1] + 1)
    ap = (relevant * hits / positions).sum(axis=1) / np.maximum(relevant.sum(axis=1), 1)
    # Open set.
    best = scores.max(axis=1)
    correct = rank == 0
    if impostors is not None and len(impostors):
        impostor_scores = (_normalise(impostors) @ templates.T).max(axis=1)
    else:
        masked = scores.copy()
        masked[np.arange(len(labels)), labels] = -np.inf
        impostor_scores = masked.max(axis=1)
    thresholds: dict[float, float | None] = {
        far: threshold_at_far(impostor_scores, far)
        if measurable(far, len(impostor_scores))
        else None
        for far in fars
    }
    tar: dict[float, float | None] = {
        far: None if t is None else float(np.mean(correct & (best >= t)))
        for far, t in thresholds.items()
    }
    return Metrics(
        top1=top1,
        top5=top5,
        map=float(ap.mean()),
        tar_at_far=tar,
        thresholds=thresholds,
        genuine_queries=len(labels),
        impostor_queries=len(impostor_scores),
        animals=len(animals),
    )


def embed_captures(
    captures: list[Capture], embed: Embed, batch_size: int = 64
) -> npt.NDArray[np.float32]:
    """Embeddings of captures, in order (images that cannot be read raise ImageError)."""
    out = []
    for i in range(0, len(captures), batch_size):
        batch = np.stack(
            [to_array(load_image(c.path)) for c in captures[i : i + batch_size]]
        )
        out.append(embed(batch))
    return np.concatenate(out) if out else np.empty((0, 0), np.float32)


def metrics_from_trials(
    trials: Trials, fars: Sequence[float] = (1e-2, 1e-3)
) -> Metrics:
    """Figures of one protocol run, with 95 % intervals by animal.

    TAR at a FAR is read at the threshold that gives that FAR on these
    impostor trials (a point of the ROC curve); a FAR that allows no false
    accept among them is not measurable and reported as ``None``.
    """
    thresholds: dict[float, float | None] = {}
    tar: dict[float, float | None] = {}
    intervals = {
        "top1": bootstrap_by_animal(trials.animal, (trials.rank == 0).astype(float)),
        "top5": bootstrap_by_animal(trials.animal, (trials.rank < 5).astype(float)),
    }
    for far in fars:
        if not measurable(far, len(trials.impostor)):
            thresholds[far] = tar[far] = None
            continue
        t = threshold_at_far(trials.impostor, far)
        thresholds[far] = t
        hits = (trials.rank == 0) & (trials.genuine >= t)
        tar[far] = float(np.mean(hits))
        key = f"tar_at_far_{far:.0e}".replace("e-0", "e-")
        intervals[key] = bootstrap_by_animal(trials.animal, hits.astype(float))
    return Metrics(
        top1=float(np.mean(trials.rank == 0)),
        top5=float(np.mean(trials.rank < 5)),
        map=float(np.mean(trials.ap)),
        tar_at_far=tar,
        thresholds=thresholds,
        genuine_queries=len(trials),
        impostor_queries=len(trials.impostor),
        animals=trials.gallery,
        intervals=intervals,
    )


def evaluate_folder(
    root: Path,
    embed: Embed,
    impostors: Path | None = None,
    *,
    fuse_sessions: bool = False,
) -> Metrics:
    """Enrol each animal of ``root`` on its first day and query with its other visits.

    Args:
        root: one folder per animal (folder name = tag).
        embed: preprocessed batch -> embeddings.
        impostors: a folder of animals that are never enrolled (their every
            photo or session is an impostor query); default leave-one-animal-out.
        fuse_sessions: one query per capture session (a visit's photos, at most
            :data:`MAX_SESSION_FRAMES`, fused), as a claim sends them.
    """
    captures = scan_folder(root)
    vectors = embed_captures(captures, embed)
    outside = None
    if impostors is not None:
        imp_caps = scan_folder(impostors)
        outside = (imp_caps, embed_captures(imp_caps, embed))
    unit: Unit = "session" if fuse_sessions else "photo"
    return metrics_from_trials(
        protocol_trials(captures, vectors, unit, impostors=outside)
    )


# --- The k-fold protocol: trials, out-of-fold thresholds, intervals by animal -------------

Unit = Literal["photo", "session"]
MAX_SESSION_FRAMES = 10
"""A claim's capture session is scored on at most this many frames."""


def visit(capture: Capture) -> str:
    """The visit a photo was taken on: its capture day, or its series when undated.

    Another farm's animal (:func:`livestock.data.is_extra`: one video or one
    photo per animal) has one visit.
    """
    if is_extra(capture.animal):
        return "one visit"
    return capture.day.isoformat() if capture.day is not None else capture.session


def condition(capture: Capture) -> str:
    """``night`` (infrared: 19:00-06:00 by the file's stamp), ``day``, or ``unknown`` (no stamp)."""
    when = capture_time(capture.path.name)
    if when is None:
        return "unknown"
    return "night" if when.hour >= 19 or when.hour < 6 else "day"


def fuse_frames(embeddings: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A session's template from its frames' unit embeddings: their normalised mean."""
    mean = _normalise(np.asarray(embeddings, dtype=np.float32)).mean(axis=0)
    out: npt.NDArray[np.float32] = _normalise(mean[None])[0]
    return out


class Scoring(Protocol):
    """How query templates become per-animal scores, and how one decision score is read.

    The shipped rule is :class:`BestTemplate`; ablations pass others (query
    expansion, re-ranking, score normalisation) to the protocol, which calls
    them with the gallery as it stands for each trial (an impostor trial's
    gallery lacks the query's own animal).
    """

    def scores(
        self,
        queries: npt.NDArray[np.float32],
        templates: npt.NDArray[np.float32],
        owner: npt.NDArray[np.int64],
        animals: int,
    ) -> npt.NDArray[np.float64]:
        """(n, animals) scores of unit ``queries`` (n, d) against unit ``templates`` (m, d).

        ``owner[j]`` in ``[0, animals)`` is template ``j``'s animal; every
        animal owns at least one template.
        """
        ...

    def decide(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """(n,) decision score of each row's best animal (compared with a threshold)."""
        ...


@dataclass(frozen=True)
class BestTemplate:
    """An animal scores by the cosine of its best template; the decision is the best score."""

    def scores(
        self,
        queries: npt.NDArray[np.float32],
        templates: npt.NDArray[np.float32],
        owner: npt.NDArray[np.int64],
        animals: int,
    ) -> npt.NDArray[np.float64]:
        """Cosine of each query with each animal's best template."""
        return best_per_animal(queries @ templates.T, owner, animals)

    def decide(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The best animal's score."""
        out: npt.NDArray[np.float64] = scores.max(axis=1)
        return out


def best_per_animal(
    by_template: npt.NDArray[Any], owner: npt.NDArray[np.int64], animals: int
) -> npt.NDArray[np.float64]:
    """(n, animals) maximum of (n, m) template scores over each animal's templates."""
    out = np.full((by_template.shape[0], animals), -np.inf)
    np.maximum.at(out.T, owner, by_template.T.astype(np.float64))
    return out


@dataclass(frozen=True)
class Trials:
    """Each query of one protocol run, scored against the gallery of its animals.

    Every query is a genuine trial for its own animal and, with its own animal
    left out of the gallery, an impostor trial (its best score over the others).

    Attributes:
        animal: the query's animal.
        condition: ``day``, ``night`` or ``unknown`` (a session's first frame's).
        rank: the rank of its own animal (0 = first).
        genuine: its score against its own animal (the scoring's decision
            score when it ranks first; with :class:`BestTemplate`, a cosine).
        impostor: impostor trials' decision scores: each query against the
            other animals, or with outside impostors, each outside query
            against the whole gallery.
        impostor_animal: the animal of each impostor trial.
        ap: each query's average precision over every enrolment photo.
        gallery: animals in the gallery.
    """

    animal: npt.NDArray[np.str_]
    condition: npt.NDArray[np.str_]
    rank: npt.NDArray[np.int64]
    genuine: npt.NDArray[np.float64]
    impostor: npt.NDArray[np.float64]
    impostor_animal: npt.NDArray[np.str_]
    ap: npt.NDArray[np.float64]
    gallery: int

    def __len__(self) -> int:
        return len(self.animal)

    @staticmethod
    def concat(parts: Sequence[Trials]) -> Trials:
        """Trials of several runs (e.g. folds) side by side."""
        return Trials(
            np.concatenate([p.animal for p in parts]),
            np.concatenate([p.condition for p in parts]),
            np.concatenate([p.rank for p in parts]),
            np.concatenate([p.genuine for p in parts]),
            np.concatenate([p.impostor for p in parts]),
            np.concatenate([p.impostor_animal for p in parts]),
            np.concatenate([p.ap for p in parts]),
            min(p.gallery for p in parts),
        )

    def tar(self, threshold: float) -> float:
        """Share of queries identified as their own animal with a score >= ``threshold``."""
        return float(np.mean((self.rank == 0) & (self.genuine >= threshold)))

    def far(self, threshold: float) -> float:
        """Share of impostor trials whose best score is >= ``threshold``."""
        return float(np.mean(self.impostor >= threshold))


def _units(
    captures: Sequence[Capture], rows: Sequence[int], unit: Unit, max_frames: int
) -> list[list[int]]:
    """Query units of one animal's photos: single photos, or visits cut into sessions."""
    if unit == "photo":
        return [[r] for r in rows]
    by_visit: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        by_visit[visit(captures[r])].append(r)
    return [
        v[i : i + max_frames]
        for v in by_visit.values()
        for i in range(0, len(v), max_frames)
    ]


def protocol_trials(
    captures: Sequence[Capture],
    embeddings: npt.NDArray[np.float32],
    unit: Unit = "photo",
    max_frames: int = MAX_SESSION_FRAMES,
    impostors: tuple[Sequence[Capture], npt.NDArray[np.float32]] | None = None,
    template_of: Callable[[Capture], str] = visit,
    distractors: npt.NDArray[np.float32] | None = None,
    scoring: Scoring = BestTemplate(),
) -> Trials:
    """Enrol each animal on its first day, query with its other visits.

    The gallery keeps one template per enrolment visit (photos grouped by
    ``template_of``: their visit unless said) and scores an animal by its
    best template. A ``photo`` query is one photo; a ``session`` query is
    up to ``max_frames`` consecutive photos of one visit, fused
    (:func:`fuse_frames`). ``embeddings`` are unit rows in ``captures`` order,
    all from one model. Impostor trials: each query with its own animal left
    out of the gallery, or every photo / session of ``impostors`` (animals
    never enrolled, with their embeddings by the same model).
    ``distractors`` are unit templates of other enrolled animals (one row
    each) that have no queries: they grow the gallery, so they can outrank a
    query's own animal and raise every impostor's best score. ``scoring``
    turns template scores into animal scores and a decision score (the
    shipped :class:`BestTemplate` unless said); an impostor trial is scored
    against the gallery without the query's own animal.
    """
    index = {id(c): i for i, c in enumerate(captures)}
    split = split_enrol_query(list(captures))
    animals = sorted(a for a in split.enrol if split.enrol[a])
    if not animals:
        raise LivestockError("nothing to evaluate: no animal was enrolled")
    templates: list[npt.NDArray[np.float32]] = []
    owner: list[int] = []
    for k, a in enumerate(animals):
        by_visit: dict[str, list[int]] = defaultdict(list)
        for c in split.enrol[a]:
            by_visit[template_of(c)].append(index[id(c)])
        for rows in by_visit.values():
            templates.append(fuse_frames(embeddings[rows]))
            owner.append(k)
    n_distractors = 0 if distractors is None else len(distractors)
    if distractors is not None:
        templates += list(distractors)
        owner += range(len(animals), len(animals) + n_distractors)
    gallery = np.stack(templates)
    owner_arr = np.array(owner)
    queries: list[tuple[int, list[int]]] = []
    for k, a in enumerate(animals):
        rows = [index[id(c)] for c in split.query.get(a, [])]
        queries += [(k, u) for u in _units(captures, rows, unit, max_frames)]
    if not queries:
        raise LivestockError("nothing to evaluate: no query images on other days")
    q = np.stack([fuse_frames(embeddings[rows]) for _, rows in queries])
    total = len(animals) + n_distractors
    scores = scoring.scores(q, gallery, owner_arr, total)
    labels = np.array([k for k, _ in queries])
    genuine = scores[np.arange(len(labels)), labels]
    rank = (scores > genuine[:, None]).sum(axis=1)
    # A correctly ranked query is accepted on the decision score.
    genuine = np.where(rank == 0, scoring.decide(scores), genuine)
    if impostors is None:
        impostor = np.full(len(labels), -1.0)
        if total > 1:
            for k in np.unique(labels):
                rows_k = labels == k
                keep = owner_arr != k
                others = owner_arr[keep] - (owner_arr[keep] > k)
                impostor[rows_k] = scoring.decide(
                    scoring.scores(q[rows_k], gallery[keep], others, total - 1)
                )
        impostor_animal = np.array([animals[k] for k in labels])
    else:
        outside, vectors = impostors
        by_animal: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(outside):
            by_animal[c.animal].append(i)
        units = [
            (a, u)
            for a, rows in sorted(by_animal.items())
            for u in _units(outside, rows, unit, max_frames)
        ]
        if not units:
            raise LivestockError("the impostor folder holds no photos")
        iq = np.stack([fuse_frames(vectors[u]) for _, u in units])
        impostor = scoring.decide(scoring.scores(iq, gallery, owner_arr, total))
        impostor_animal = np.array([a for a, _ in units])
    # Average precision of each query over every enrolment photo.
    photo_rows = [index[id(c)] for a in animals for c in split.enrol[a]]
    photo_owner = np.array([k for k, a in enumerate(animals) for _ in split.enrol[a]])
    photo_scores = q @ _normalise(embeddings[photo_rows]).T
    relevant = photo_owner[np.argsort(-photo_scores, axis=1)] == labels[:, None]
    hits = np.cumsum(relevant, axis=1)
    positions = np.arange(1, relevant.shape[1] + 1)
    ap = (relevant * hits / positions).sum(axis=1) / np.maximum(relevant.sum(axis=1), 1)
    return Trials(
        np.array([animals[k] for k in labels]),
        np.array([condition(captures[rows[0]]) for _, rows in queries]),
        rank.astype(np.int64),
        genuine.astype(np.float64),
        impostor.astype(np.float64),
        impostor_animal,
        ap.astype(np.float64),
        len(animals) + n_distractors,
    )


def measurable(far: float, impostor_trials: int) -> bool:
    """A false-accept rate can be measured only when it allows at least one false accept."""
    return far * impostor_trials >= 1.0


def bootstrap_by_animal(
    animals: npt.NDArray[np.str_],
    values: npt.NDArray[np.float64],
    *,
    rounds: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """A percentile interval of the mean of per-query ``values``, resampling whole animals.

    Queries of one animal are correlated (same face, same barn); resampling
    animals with replacement gives an interval that reflects how the figure
    would move on other animals.
    """
    names, inverse = np.unique(animals, return_inverse=True)
    sums = np.bincount(inverse, weights=np.asarray(values, dtype=np.float64))
    counts = np.bincount(inverse).astype(np.float64)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(names), (rounds, len(names)))
    means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def _rate(animals: npt.NDArray[np.str_], hits: npt.NDArray[np.bool_]) -> dict[str, Any]:
    """A rate with its count and its 95 % interval by animal."""
    low, high = bootstrap_by_animal(animals, hits.astype(np.float64))
    return {
        "rate": round(float(np.mean(hits)), 4),
        "n": len(hits),
        "ci95": [round(low, 4), round(high, 4)],
    }


Impostors = Literal["herd", "outside"]


def has_outside(captures: Sequence[Capture], folds: npt.NDArray[np.int64]) -> bool:
    """Whether every fold holds at least one other farm's animal (outside impostors exist)."""
    ks = {int(f) for f in folds if f >= 0}
    with_outside = {int(folds[i]) for i, c in enumerate(captures) if is_extra(c.animal)}
    return bool(ks) and ks <= with_outside


def out_of_fold_trials(
    captures: Sequence[Capture],
    embeddings: npt.NDArray[np.float32],
    folds: npt.NDArray[np.int64],
    unit: Unit,
    template_of: Callable[[Capture], str] = visit,
    impostors: Impostors = "herd",
    scoring: Scoring = BestTemplate(),
) -> list[Trials]:
    """One run of the protocol per fold, on that fold's herd animals and its model's embeddings.

    Other farms' animals (``SOURCE/ID``, :func:`livestock.data.is_extra`)
    are never enrolled: with ``impostors="outside"`` those of the same fold
    (which its model never trained on) are the impostor queries; with
    ``"herd"`` each query with its own animal left out is.

    Raises:
        LivestockError: ``"outside"`` and a fold holds no other farm's animal.
    """
    out = []
    for k in sorted({int(f) for f in folds if f >= 0}):
        rows = np.flatnonzero(folds == k)
        herd = [int(i) for i in rows if not is_extra(captures[int(i)].animal)]
        outside = [int(i) for i in rows if is_extra(captures[int(i)].animal)]
        if impostors == "outside" and not outside:
            raise LivestockError(f"fold {k} holds no other farm's animal")
        out.append(
            protocol_trials(
                [captures[i] for i in herd],
                embeddings[herd],
                unit,
                template_of=template_of,
                impostors=(
                    ([captures[i] for i in outside], embeddings[outside])
                    if impostors == "outside"
                    else None
                ),
                scoring=scoring,
            )
        )
    return out


def _far_entry(
    per_fold: Sequence[Trials],
    far: float,
    outside: Sequence[Trials] | None = None,
) -> dict[str, Any]:
    """TAR at ``far``, each fold's threshold from the other folds' impostors; the realised FAR.

    With ``outside`` (the same folds' trials against other farms' cows), each
    threshold comes from the other folds' herd and outside impostors together
    (the shipped rule), and the FAR realised on the outside ones is reported
    apart (``far_realised_outside``).
    """
    pooled = Trials.concat(per_fold)
    accepted, false_accepts, outside_fa, thresholds = [], [], [], []
    for k, t in enumerate(per_fold):
        others = np.concatenate(
            [
                u.impostor
                for j in range(len(per_fold))
                if j != k
                for u in (per_fold[j], *([outside[j]] if outside else []))
            ]
        )
        if not measurable(far, len(others)):
            return {
                "measurable": False,
                "why": f"fewer than {1 / far:.0f} impostor trials to calibrate on",
            }
        thr = threshold_at_far(others, far)
        thresholds.append(round(thr, 4))
        accepted.append((t.rank == 0) & (t.genuine >= thr))
        false_accepts.append(t.impostor >= thr)
        if outside:
            outside_fa.append(outside[k].impostor >= thr)
    entry: dict[str, Any] = {
        "measurable": True,
        "thresholds": thresholds,
        "impostor_trials": len(pooled.impostor),
        "tar": _rate(pooled.animal, np.concatenate(accepted)),
        "far_realised": _rate(pooled.impostor_animal, np.concatenate(false_accepts)),
    }
    if outside:
        out = Trials.concat(outside)
        entry["impostor_trials"] += len(out.impostor)
        entry["far_realised_outside"] = _rate(
            out.impostor_animal, np.concatenate(outside_fa)
        )
    return entry


def cross_fold_report(
    captures: Sequence[Capture],
    embeddings: npt.NDArray[np.float32],
    folds: npt.NDArray[np.int64],
    fars: Sequence[float] = (1e-2, 1e-3),
    template_of: Callable[[Capture], str] = visit,
    scoring: Scoring = BestTemplate(),
) -> dict[str, Any]:
    """Out-of-fold figures for photos and sessions, with intervals by animal.

    Each fold's thresholds come from the impostor scores of the other folds
    (animals disjoint from the fold's), so no reported figure is fitted on the
    animals it is reported on. A FAR whose calibration set allows no false
    accept (fewer than 1/FAR impostor trials) is reported as not measurable.
    ``template_of`` groups each animal's enrolment photos into its gallery's
    templates (by visit unless said; an ablation may group by clip), and
    ``scoring`` scores them (:class:`BestTemplate` unless said).
    Other farms' animals among ``captures`` are never enrolled; when every
    fold holds some they add ``far_*_outside`` entries (TAR and FAR against
    cows of another farm, thresholds from the other folds' outside cows) and
    ``far_*_pooled`` (the shipped rule: thresholds from the other folds' herd
    and outside impostors together, FAR realised on each kind:
    ``far_realised`` on the herd's, ``far_realised_outside``).
    """
    report: dict[str, Any] = {}
    units: tuple[Unit, ...] = ("photo", "session")
    for unit in units:
        per_fold = out_of_fold_trials(
            captures, embeddings, folds, unit, template_of, scoring=scoring
        )
        pooled = Trials.concat(per_fold)
        entry: dict[str, Any] = {
            "folds": len(per_fold),
            "gallery_per_fold": [t.gallery for t in per_fold],
            "queries": len(pooled),
            "top1": _rate(pooled.animal, pooled.rank == 0),
            "top5": _rate(pooled.animal, pooled.rank < 5),
        }
        outside = (
            out_of_fold_trials(
                captures,
                embeddings,
                folds,
                unit,
                template_of,
                impostors="outside",
                scoring=scoring,
            )
            if has_outside(captures, folds)
            else None
        )
        for far in fars:
            key = f"{far:.0e}".replace("e-0", "e-")
            entry[f"far_{key}"] = _far_entry(per_fold, far)
            if outside is not None:
                entry[f"far_{key}_outside"] = _far_entry(outside, far)
                entry[f"far_{key}_pooled"] = _far_entry(per_fold, far, outside)
        for cond in ("day", "night", "unknown"):
            mask = pooled.condition == cond
            if mask.any():
                entry[f"top1_{cond}"] = _rate(
                    pooled.animal[mask], pooled.rank[mask] == 0
                )
        report[unit] = entry
    return report


def fit_calibration(trials: Trials) -> tuple[float, float]:
    """Logistic map score -> P(same animal), at equal priors: ``(slope, intercept)``.

    Positives are the genuine scores of correctly ranked queries, negatives the
    best impostor scores; classes are weighted equally, so the probability reads
    as the chance that the best match is the same animal when an enrolled and
    an unenrolled animal are equally likely to be photographed.
    """
    from sklearn.linear_model import LogisticRegression

    pos = trials.genuine[trials.rank == 0]
    neg = trials.impostor
    x = np.concatenate([pos, neg])[:, None]
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    model = LogisticRegression(class_weight="balanced", C=1e4).fit(x, y)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def calibrate_out_of_fold(
    oof: Any, distractors: Sequence[npt.NDArray[np.float32]] | None = None
) -> dict[str, Any]:
    """The manifest's decision thresholds and calibration maps from out-of-fold scores.

    ``oof`` is a :class:`livestock.train.OutOfFold`. Photos: review at FAR 1 %,
    match at FAR 0.1 %. Sessions (fewer trials): review at FAR 5 %, match at
    FAR 1 %. Every threshold is taken on the pooled impostor scores of all
    folds (each scored by a model that never saw the animal): the herd's
    (each query with its own animal left out) and, when ``oof`` holds other
    farms' animals, theirs against each fold's gallery (the largest impostor
    set there is).

    ``distractors[k]``, when given, are unit templates (one row per animal) of
    animals fold ``k``'s model never saw, embedded by that model
    (:func:`distractor_templates`): every herd trial is then run against its
    fold's gallery grown by them, so the thresholds hold for a registry of
    that many animals instead of the fold's 15 (a query's best impostor
    score rises with the gallery). The out-of-fold report stays the
    15-animal one.
    """
    out: dict[str, Any] = {}
    settings: dict[Unit, tuple[float, float]] = {
        "photo": (1e-2, 1e-3),
        "session": (5e-2, 1e-2),
    }
    counts = {}
    outside_too = has_outside(oof.captures, oof.folds)
    ks = sorted({int(f) for f in oof.folds if f >= 0})
    if distractors is not None:
        if len(distractors) != len(ks) or ks != list(range(len(ks))):
            raise LivestockError(
                f"{len(distractors)} distractor sets for folds {ks}: one per fold, "
                "folds numbered from 0"
            )
        if outside_too:
            raise LivestockError(
                "distractors calibrate a herd-only run: other farms' cows trained on "
                "would be scored against 15-animal galleries beside the grown ones"
            )
    for unit, (review_far, match_far) in settings.items():
        if distractors is None:
            per_fold = out_of_fold_trials(oof.captures, oof.embeddings, oof.folds, unit)
        else:
            per_fold = []
            for j, k in enumerate(ks):
                herd = [
                    i
                    for i in np.flatnonzero(oof.folds == k)
                    if not is_extra(oof.captures[i].animal)
                ]
                per_fold.append(
                    protocol_trials(
                        [oof.captures[i] for i in herd],
                        oof.embeddings[herd],
                        unit,
                        distractors=distractors[j],
                    )
                )
        pooled = Trials.concat(per_fold)
        impostor = pooled.impostor
        if outside_too:
            outside = Trials.concat(
                out_of_fold_trials(
                    oof.captures, oof.embeddings, oof.folds, unit, impostors="outside"
                )
            )
            impostor = np.concatenate([impostor, outside.impostor])
        n = len(impostor)
        for far in (review_far, match_far):
            if not measurable(far, n):
                raise LivestockError(
                    f"{unit}: {n} impostor trials cannot calibrate FAR {far:g}"
                )
        review = threshold_at_far(impostor, review_far)
        match = threshold_at_far(impostor, match_far)
        slope, intercept = fit_calibration(
            dataclasses.replace(pooled, impostor=impostor)
        )
        prefix = "" if unit == "photo" else "session_"
        out[f"{prefix}threshold"] = round(review, 4)
        out[f"{prefix}threshold_far"] = review_far
        out[f"{prefix}match_threshold"] = round(match, 4)
        out[f"{prefix}match_threshold_far"] = match_far
        out.setdefault("calibration", {})[unit] = {
            "slope": round(slope, 4),
            "intercept": round(intercept, 4),
        }
        counts[unit] = {
            "genuine": int(np.sum(pooled.rank == 0)),
            "impostor": n,
            "impostor_outside": n - len(pooled.impostor),
            "gallery_per_fold": [t.gallery for t in per_fold],
        }
    out["calibration_trials"] = counts
    out["out_of_fold"] = cross_fold_report(oof.captures, oof.embeddings, oof.folds)
    return out


def first_visit_rows(captures: Sequence[Capture]) -> dict[str, list[int]]:
    """Each animal's rows of its first enrolment visit, at most :data:`MAX_SESSION_FRAMES`.

    What an animal's one template is when it only grows a gallery (a
    distractor): its first visit's photos, fused.
    """
    by_animal: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(captures):
        by_animal[c.animal].append(i)
    out: dict[str, list[int]] = {}
    for a, rows in by_animal.items():
        enrol = split_enrol_query([captures[i] for i in rows]).enrol[a]
        index = {id(captures[i]): i for i in rows}
        enrol_rows = [index[id(c)] for c in enrol]
        v = visit(captures[enrol_rows[0]])
        out[a] = [i for i in enrol_rows if visit(captures[i]) == v][:MAX_SESSION_FRAMES]
    return out


def distractor_templates(
    captures: Sequence[Capture], embeddings: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """One unit template per animal of ``captures`` (its first visit fused), sorted by animal."""
    rows = first_visit_rows(captures)
    return np.stack([fuse_frames(embeddings[rows[a]]) for a in sorted(rows)])


@dataclass(frozen=True)
class GalleryPoint:
    """Out-of-fold figures with the gallery grown to ``size`` animals (pooled over folds).

    Attributes:
        size: animals in each fold's gallery (its herd animals plus distractors).
        unit: ``photo`` or ``session`` queries.
        distractors_trained_on: how many of a fold's distractors its model had
            trained on (the rest it never saw), the most over folds.
        top1, tar, far: rates with counts and 95 % intervals by animal; TAR
            and FAR at each fold's fixed threshold.
        thresholds: each fold's threshold, fitted on the other folds'
            impostors with the smallest gallery (the herd fold alone).
    """

    size: int
    unit: Unit
    distractors_trained_on: int
    top1: dict[str, Any]
    tar: dict[str, Any]
    far: dict[str, Any]
    thresholds: list[float]


def gallery_size_curve(
    captures: Sequence[Capture],
    embeddings_by_fold: Sequence[npt.NDArray[np.float32]],
    folds: npt.NDArray[np.int64],
    sizes: Sequence[int] = (15, 60, 100, 300),
    unit: Unit = "session",
    far: float = 1e-2,
    seed: int = 0,
    scoring: Scoring = BestTemplate(),
    seen_by_fold: Sequence[set[str]] | None = None,
) -> list[GalleryPoint]:
    """How identification, TAR and FAR at a fixed threshold move as the gallery grows.

    Fold ``k``'s herd animals are enrolled and queried as in
    :func:`protocol_trials`, with distractors added to the gallery: every
    other animal, one template each (its first visit's photos, at most
    :data:`MAX_SESSION_FRAMES`, fused), those fold ``k``'s model never saw
    first (other farms' animals of fold ``k``), then the ones it trained on,
    each group in a seeded random order. ``embeddings_by_fold[k]`` holds every
    capture's unit embedding by fold ``k``'s model. The threshold is fixed per
    fold at ``far`` on the other folds' impostors (the herd's left-out queries
    and other farms' animals) at the smallest gallery; impostor trials are the
    herd's queries with their own animal left out of the grown gallery. A
    size beyond the animals there are is cut to all of them. ``scoring``
    scores every trial, the threshold's included (:class:`BestTemplate`
    unless said). ``seen_by_fold[j]``, when given, names the animals the ``j``-th fold's
    model trained on (its manifest's ``trained_on``); without it, a
    model is taken to have trained on every animal of the other folds.
    """
    ks = sorted({int(f) for f in folds if f >= 0})
    rng = np.random.default_rng(seed)
    base_impostors = []
    outside_too = has_outside(captures, folds)
    for k in ks:
        # only fold k's own trials are out-of-fold under model k
        only_k = np.where(folds == k, folds, -1)
        herd = out_of_fold_trials(
            captures, embeddings_by_fold[k], only_k, unit, scoring=scoring
        )
        outside = (
            out_of_fold_trials(
                captures,
                embeddings_by_fold[k],
                only_k,
                unit,
                impostors="outside",
                scoring=scoring,
            )
            if outside_too
            else []
        )
        base_impostors.append(np.concatenate([t.impostor for t in (*herd, *outside)]))
    by_animal: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(captures):
        by_animal[c.animal].append(i)
    first_visit = first_visit_rows(captures)
    per_fold: dict[int, dict[str, Any]] = {}
    for j, k in enumerate(ks):
        herd_rows = [
            i
            for i, c in enumerate(captures)
            if folds[i] == k and not is_extra(c.animal)
        ]
        herd_animals = {captures[i].animal for i in herd_rows}
        others = sorted(set(by_animal) - herd_animals)
        if seen_by_fold is None:
            unseen = [a for a in others if folds[by_animal[a][0]] == k]
        else:
            unseen = [a for a in others if a not in seen_by_fold[j]]
        seen = [a for a in others if a not in set(unseen)]
        order: list[str] = [
            *(unseen[i] for i in rng.permutation(len(unseen))),
            *(seen[i] for i in rng.permutation(len(seen))),
        ]
        emb = embeddings_by_fold[k]
        templates = np.stack([fuse_frames(emb[first_visit[a]]) for a in order])
        calibration = np.concatenate(
            [b for i, b in enumerate(base_impostors) if i != j]
        )
        per_fold[k] = {
            "rows": herd_rows,
            "animals": len(herd_animals),
            "order": order,
            "unseen": len(unseen),
            "templates": templates,
            "threshold": threshold_at_far(calibration, far),
        }
    points = []
    for size in sizes:
        parts, accepted, false_accepts, trained_on = [], [], [], 0
        for k in ks:
            f = per_fold[k]
            n = max(0, min(size - f["animals"], len(f["order"])))
            rows = f["rows"]
            t = protocol_trials(
                [captures[i] for i in rows],
                embeddings_by_fold[k][rows],
                unit,
                distractors=f["templates"][:n],
                scoring=scoring,
            )
            parts.append(t)
            accepted.append((t.rank == 0) & (t.genuine >= f["threshold"]))
            false_accepts.append(t.impostor >= f["threshold"])
            trained_on = max(trained_on, n - min(n, f["unseen"]))
        pooled = Trials.concat(parts)
        points.append(
            GalleryPoint(
                size=max(t.gallery for t in parts),
                unit=unit,
                distractors_trained_on=trained_on,
                top1=_rate(pooled.animal, pooled.rank == 0),
                tar=_rate(pooled.animal, np.concatenate(accepted)),
                far=_rate(pooled.impostor_animal, np.concatenate(false_accepts)),
                thresholds=[round(per_fold[k]["threshold"], 4) for k in ks],
            )
        )
    return points
