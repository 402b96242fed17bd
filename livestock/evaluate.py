"""Face-ID evaluation the way an insurer works: enrol on one day, identify on others.

Open-set figures: a query is accepted when its best-matching enrolled animal
is the right one and the score clears the threshold (TAR); an impostor (an
animal never enrolled) is falsely accepted when its best score clears it (FAR).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from livestock.data import Capture, scan_folder, split_enrol_query
from livestock.errors import LivestockError
from livestock.preprocess import load_image, to_array

__all__ = [
    "Metrics",
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
    tar_at_far: dict[float, float]
    thresholds: dict[float, float]
    genuine_queries: int
    impostor_queries: int
    animals: int

    def to_json(self) -> dict[str, Any]:
        """The report's JSON keys."""
        return {
            "top1": round(self.top1, 4),
            "top5": round(self.top5, 4),
            "map": round(self.map, 4),
            "tar_at_far_1e-2": round(self.tar_at_far[1e-2], 4),
            "tar_at_far_1e-3": round(self.tar_at_far[1e-3], 4),
            "threshold_at_far_1e-2": round(self.thresholds[1e-2], 4),
            "threshold_at_far_1e-3": round(self.thresholds[1e-3], 4),
            "genuine_queries": self.genuine_queries,
            "impostor_queries": self.impostor_queries,
            "animals": self.animals,
        }


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
    thresholds = {far: threshold_at_far(impostor_scores, far) for far in fars}
    tar = {far: float(np.mean(correct & (best >= t))) for far, t in thresholds.items()}
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


def _by_animal(
    captures: list[Capture], vectors: npt.NDArray[np.float32]
) -> dict[str, npt.NDArray[np.float32]]:
    groups: dict[str, list[npt.NDArray[np.float32]]] = defaultdict(list)
    for c, v in zip(captures, vectors, strict=True):
        groups[c.animal].append(v)
    return {a: np.stack(v) for a, v in groups.items()}


def _fused_by_session(
    captures: list[Capture], vectors: npt.NDArray[np.float32]
) -> dict[str, npt.NDArray[np.float32]]:
    """One query per (animal, capture day): the mean of that session's photos."""
    groups: dict[tuple[str, Any], list[npt.NDArray[np.float32]]] = defaultdict(list)
    for c, v in zip(captures, vectors, strict=True):
        groups[(c.animal, c.day)].append(v)
    per_animal: dict[str, list[npt.NDArray[np.float32]]] = defaultdict(list)
    for (animal, _), vs in groups.items():
        per_animal[animal].append(_normalise(np.stack(vs)).mean(axis=0))
    return {a: np.stack(v) for a, v in per_animal.items()}


def evaluate_folder(
    root: Path,
    embed: Embed,
    impostors: Path | None = None,
    *,
    fuse_sessions: bool = False,
) -> Metrics:
    """Enrol each animal of ``root`` on its first day and query with the other days.

    Args:
        root: one folder per animal (folder name = tag).
        embed: preprocessed batch -> embeddings.
        impostors: a folder of animals that are never enrolled (their every
            image is an impostor query); default leave-one-animal-out.
        fuse_sessions: one query per capture session, the mean of its photos
            (a claim carries several photos).
    """
    captures = scan_folder(root)
    split = split_enrol_query(captures)
    enrol_caps = [c for a in sorted(split.enrol) for c in split.enrol[a]]
    query_caps = [c for a in sorted(split.query) for c in split.query[a]]
    enrol = _by_animal(enrol_caps, embed_captures(enrol_caps, embed))
    q_vectors = embed_captures(query_caps, embed)
    query = (
        _fused_by_session(query_caps, q_vectors)
        if fuse_sessions
        else _by_animal(query_caps, q_vectors)
    )
    impostor_vectors = None
    if impostors is not None:
        imp_caps = scan_folder(impostors)
        vectors = embed_captures(imp_caps, embed)
        if fuse_sessions:
            impostor_vectors = np.concatenate(
                list(_fused_by_session(imp_caps, vectors).values())
            )
        else:
            impostor_vectors = vectors
    return evaluate_embeddings(enrol, query, impostor_vectors)
