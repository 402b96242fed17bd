"""The enrolment registry: one identity per animal, 1:N identification, 1:1 verification.

Storage is a port (:class:`TemplateStore`); :class:`InMemoryTemplateStore`
serves tests and tools, and ``server/`` persists templates in the database and
rebuilds the search index at start. Every call checks all photos before it
changes anything: a bad photo or a duplicate animal stores nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from livestock.errors import RegistryError, UnknownAnimalError
from livestock.faceid import FaceID, Photo, PhotoAnalysis
from livestock.index import BruteForceIndex, IvfIndex, make_index
from livestock.quality import hamming
from livestock.tags import Scheme, Tag, parse_tag

__all__ = [
    "AnimalRecord",
    "Decision",
    "EnrolResult",
    "Examination",
    "InMemoryTemplateStore",
    "Match",
    "Registry",
    "ReusedPhoto",
    "TemplateStore",
]

Decision = Literal["match", "needs_review", "no_match"]


@dataclass(frozen=True)
class AnimalRecord:
    """An enrolled animal: its tag, where it is insured, its template and photo hashes."""

    tag: Tag
    farm: str
    policy: str | None
    template: npt.NDArray[np.float32]
    photos: int
    photo_hashes: tuple[int, ...] = ()


class TemplateStore(Protocol):
    """Where enrolled animals are kept."""

    def add(self, record: AnimalRecord) -> None:
        """Store a new animal (its tag is not yet stored)."""

    def get(self, tag: str) -> AnimalRecord | None:
        """The animal enrolled under ``tag``, if any."""

    def all(self) -> Sequence[AnimalRecord]:
        """Every enrolled animal."""


@dataclass
class InMemoryTemplateStore:
    """A :class:`TemplateStore` in a dict."""

    records: dict[str, AnimalRecord] = field(default_factory=dict)

    def add(self, record: AnimalRecord) -> None:
        """Store a new animal."""
        self.records[record.tag.value] = record

    def get(self, tag: str) -> AnimalRecord | None:
        """The animal enrolled under ``tag``."""
        return self.records.get(tag)

    def all(self) -> Sequence[AnimalRecord]:
        """Every enrolled animal, in enrolment order."""
        return list(self.records.values())


@dataclass(frozen=True)
class Match:
    """A scored candidate: the enrolled tag, its farm, cosine score and decision."""

    tag: str
    farm: str
    score: float
    decision: Decision


@dataclass(frozen=True)
class ReusedPhoto:
    """A submitted photo that is a near-copy of a stored one."""

    photo: str
    tag: str
    distance: int


@dataclass(frozen=True)
class Examination:
    """Claim photos against the registry: 1:1 to the claimed tag, 1:N to everyone.

    Attributes:
        claimed: the score against the claimed tag (``None`` if it is not enrolled).
        candidates: the best-matching enrolled animals, best first.
        reused: photos that are near-copies of enrolment photos.
        analyses: each photo's quality, embedding and perceptual hash.
    """

    claimed: Match | None
    candidates: tuple[Match, ...]
    reused: tuple[ReusedPhoto, ...]
    analyses: tuple[PhotoAnalysis, ...]


@dataclass(frozen=True)
class EnrolResult:
    """What enrolment did: ``enrolled``, or ``duplicate``/``needs_review`` with the match."""

    status: Literal["enrolled", "duplicate", "needs_review"]
    tag: str
    match: Match | None
    reused_photos: tuple[ReusedPhoto, ...] = ()


class Registry:
    """Enrol, identify and verify animals against one gallery of templates.

    Decisions use two calibrated thresholds from the weights manifest:
    ``match`` at or above ``match_threshold`` (FAR 0.1 % on held-out animals),
    ``needs_review`` from ``review_threshold`` (FAR 1 %), else ``no_match``.
    """

    def __init__(
        self,
        faceid: FaceID,
        store: TemplateStore | None = None,
        *,
        review_threshold: float | None = None,
        match_threshold: float | None = None,
        max_hash_distance: int = 6,
    ) -> None:
        self.faceid = faceid
        self.store: TemplateStore = (
            store if store is not None else InMemoryTemplateStore()
        )
        self.review_threshold = (
            review_threshold
            if review_threshold is not None
            else faceid.manifest.threshold
        )
        self.match_threshold = (
            match_threshold
            if match_threshold is not None
            else faceid.manifest.match_threshold
        )
        if self.match_threshold < self.review_threshold:
            raise RegistryError(
                "the match threshold must not be below the review threshold"
            )
        self.max_hash_distance = max_hash_distance
        # Guards the index, the hash table and the store's duplicate decision:
        # requests may enrol and search from several threads at once. Photos
        # are analysed (the slow part) outside it.
        self._lock = threading.RLock()
        self._records: list[AnimalRecord] = []
        self._index: BruteForceIndex | IvfIndex | None = None
        self._hashes = np.empty(0, dtype=np.uint64)
        self._hash_owner: list[str] = []
        self.rebuild_index()

    # --- index ------------------------------------------------------------------------

    def rebuild_index(self) -> None:
        """Rebuild the search index and photo-hash table from the store."""
        with self._lock:
            self._rebuild()

    def _rebuild(self) -> None:
        self._records = list(self.store.all())
        vectors = (
            np.stack([r.template for r in self._records])
            if self._records
            else np.empty((0, self.faceid.manifest.embedding_dim), np.float32)
        )
        self._index = make_index(vectors) if len(vectors) else None
        hashes = [(h, r.tag.value) for r in self._records for h in r.photo_hashes]
        self._hashes = np.array([h for h, _ in hashes], dtype=np.uint64)
        self._hash_owner = [t for _, t in hashes]

    def _index_record(self, record: AnimalRecord) -> None:
        """Add one newly stored animal to the index and hash table (no rebuild)."""
        self._records.append(record)
        if self._index is None:
            self._index = make_index(record.template[None, :])
        else:
            self._index.add(record.template[None, :])
        self._hashes = np.concatenate(
            [self._hashes, np.array(record.photo_hashes, dtype=np.uint64)]
        )
        self._hash_owner += [record.tag.value] * len(record.photo_hashes)

    def __len__(self) -> int:
        return len(self._records)

    def _decide(self, score: float) -> Decision:
        if score >= self.match_threshold:
            return "match"
        if score >= self.review_threshold:
            return "needs_review"
        return "no_match"

    def _search(self, query: npt.NDArray[np.float32], k: int) -> list[Match]:
        with self._lock:
            if self._index is None:
                return []
            found = self._index.search(query[None, :], k)
            records = self._records
        return [
            Match(
                records[int(i)].tag.value,
                records[int(i)].farm,
                float(s),
                self._decide(float(s)),
            )
            for i, s in zip(found.ids[0], found.scores[0], strict=True)
            if i >= 0
        ]

    # --- operations ---------------------------------------------------------------------

    def _analyse(self, photos: Sequence[Photo]) -> list[PhotoAnalysis]:
        if not photos:
            raise RegistryError("at least one photo is needed")
        analyses = self.faceid.analyse(photos)
        FaceID.require_quality(analyses)
        return analyses

    def find_reused(self, analyses: Sequence[PhotoAnalysis]) -> list[ReusedPhoto]:
        """Photos that are near-copies (pHash) of any photo already stored."""
        out: list[ReusedPhoto] = []
        with self._lock:
            hashes, owners = self._hashes, self._hash_owner
        if len(hashes) == 0:
            return out
        for a in analyses:
            distances = hamming(a.phash, hashes)
            best = int(np.argmin(distances))
            if distances[best] <= self.max_hash_distance:
                out.append(ReusedPhoto(a.name, owners[best], int(distances[best])))
        return out

    def enrol(
        self,
        tag: str,
        photos: Sequence[Photo],
        *,
        farm: str,
        policy: str | None = None,
        scheme: Scheme = "iso11784",
        allow_review: bool = False,
    ) -> EnrolResult:
        """Enrol an animal from several photos, unless it is already enrolled.

        Returns ``duplicate`` (nothing stored) when the animal matches an
        enrolled one under any tag, farm or policy; ``needs_review`` (nothing
        stored) in the review band unless ``allow_review``.

        Raises:
            TagError: the tag is malformed.
            ImageError: a photo is unreadable or fails the quality gate.
            RegistryError: the tag is already enrolled, or no photos.
        """
        parsed = parse_tag(tag, scheme)
        if self.store.get(parsed.value) is not None:
            raise RegistryError(f"tag {parsed.value} is already enrolled")
        analyses = self._analyse(photos)
        template = FaceID.fuse(np.stack([a.embedding for a in analyses]))
        with self._lock:  # decide and store as one step: no two identities at once
            return self._enrol(parsed, analyses, template, farm, policy, allow_review)

    def _enrol(
        self,
        parsed: Tag,
        analyses: Sequence[PhotoAnalysis],
        template: npt.NDArray[np.float32],
        farm: str,
        policy: str | None,
        allow_review: bool,
    ) -> EnrolResult:
        if self.store.get(parsed.value) is not None:
            raise RegistryError(f"tag {parsed.value} is already enrolled")
        reused = tuple(self.find_reused(analyses))
        candidates = self._search(template, 1)
        best = candidates[0] if candidates else None
        if best is not None and best.decision == "match":
            return EnrolResult("duplicate", parsed.value, best, reused)
        if best is not None and best.decision == "needs_review" and not allow_review:
            return EnrolResult("needs_review", parsed.value, best, reused)
        if reused:
            return EnrolResult("duplicate", parsed.value, best, reused)
        record = AnimalRecord(
            parsed,
            farm,
            policy,
            template,
            len(analyses),
            tuple(a.phash for a in analyses),
        )
        self.store.add(record)
        self._index_record(record)
        return EnrolResult("enrolled", parsed.value, best, ())

    def identify(self, photos: Sequence[Photo], k: int = 5) -> list[Match]:
        """The ``k`` enrolled animals most like the photos (fused), best first."""
        analyses = self._analyse(photos)
        return self._search(FaceID.fuse(np.stack([a.embedding for a in analyses])), k)

    def examine(self, tag: str, photos: Sequence[Photo], k: int = 3) -> Examination:
        """Verify, identify and look for reused photos in one pass over the photos.

        Raises:
            ImageError: a photo is unreadable or fails the quality gate.
            RegistryError: no photos.
        """
        analyses = self._analyse(photos)
        query = FaceID.fuse(np.stack([a.embedding for a in analyses]))
        record = self.store.get(tag)
        claimed = None
        if record is not None:
            score = float(query @ record.template)
            claimed = Match(record.tag.value, record.farm, score, self._decide(score))
        return Examination(
            claimed,
            tuple(self._search(query, k)),
            tuple(self.find_reused(analyses)),
            tuple(analyses),
        )

    def verify(self, tag: str, photos: Sequence[Photo]) -> Match:
        """Score the photos against the animal enrolled under ``tag`` (1:1).

        Raises:
            UnknownAnimalError: nothing is enrolled under ``tag``.
        """
        record = self.store.get(tag)
        if record is None:
            raise UnknownAnimalError(f"no animal is enrolled under tag {tag}")
        analyses = self._analyse(photos)
        query = FaceID.fuse(np.stack([a.embedding for a in analyses]))
        score = float(query @ record.template)
        return Match(record.tag.value, record.farm, score, self._decide(score))
