"""The enrolment registry: one identity per animal, 1:N identification, 1:1 verification.

Each animal's gallery is a list of session templates: the enrolment's, then
one per verified later capture session added with :meth:`Registry.add_session`
(cross-day matching is what a single enrolment day lacks). An animal scores
by its best session template.

Decisions use the thresholds that fit what was given: a single photo is
judged with the photo thresholds, several photos of one session (fused) with
the session thresholds; both were calibrated on animals the model never saw.

Storage is a port (:class:`TemplateStore`); :class:`InMemoryTemplateStore`
serves tests and tools, and ``server/`` persists templates in the database and
rebuilds the search index at start. Every call checks all photos before it
changes anything: a bad photo or a duplicate animal stores nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from livestock.errors import RegistryError, StaleTemplatesError, UnknownAnimalError
from livestock.faceid import FaceID, Photo, PhotoAnalysis
from livestock.index import BruteForceIndex, IvfIndex, make_index
from livestock.quality import hamming
from livestock.tags import Scheme, Tag, parse_tag

__all__ = [
    "AnimalRecord",
    "Basis",
    "Decision",
    "EnrolResult",
    "Examination",
    "GrowingTemplateStore",
    "InMemoryTemplateStore",
    "Match",
    "Registry",
    "ReusedPhoto",
    "TemplateStore",
]

Decision = Literal["match", "needs_review", "no_match"]
Basis = Literal["photo", "session"]
"""Which thresholds judged a score: one photo's, or a fused session's."""


@dataclass(frozen=True)
class AnimalRecord:
    """An enrolled animal: its tag, where it is insured, its gallery and photo hashes.

    Attributes:
        template: the enrolment session's template (unit vector).
        photos: how many photos enrolled it.
        photo_hashes: perceptual hashes of every stored photo.
        sessions: templates of verified later sessions, oldest first.
        model: the face-ID model version (:attr:`FaceID.version`) whose
            embeddings the templates are; "" when unknown. Templates of two
            versions are not comparable.
    """

    tag: Tag
    farm: str
    policy: str | None
    template: npt.NDArray[np.float32]
    photos: int
    photo_hashes: tuple[int, ...] = ()
    sessions: tuple[npt.NDArray[np.float32], ...] = ()
    model: str = ""

    @property
    def gallery(self) -> npt.NDArray[np.float32]:
        """Every session template, enrolment first: (sessions, dim)."""
        return np.stack([self.template, *self.sessions])

    def score(self, query: npt.NDArray[np.float32]) -> float:
        """Cosine score of a unit ``query``: its best session template."""
        return float(np.max(self.gallery @ query))


class TemplateStore(Protocol):
    """Where enrolled animals are kept."""

    def add(self, record: AnimalRecord) -> None:
        """Store a new animal (its tag is not yet stored)."""

    def get(self, tag: str) -> AnimalRecord | None:
        """The animal enrolled under ``tag``, if any."""

    def all(self) -> Sequence[AnimalRecord]:
        """Every enrolled animal."""


@runtime_checkable
class GrowingTemplateStore(TemplateStore, Protocol):
    """A store whose animals' galleries can grow by verified later sessions."""

    def add_session(
        self, tag: str, template: npt.NDArray[np.float32], photo_hashes: Sequence[int]
    ) -> AnimalRecord:
        """Append a session template (and its photos' hashes) to an enrolled animal."""

    def replace_gallery(
        self,
        tag: str,
        template: npt.NDArray[np.float32],
        sessions: Sequence[npt.NDArray[np.float32]],
        model: str,
        photo_hashes: Sequence[int] = (),
    ) -> AnimalRecord:
        """Replace an animal's templates by ones of model ``model``; add ``photo_hashes``."""


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

    def add_session(
        self, tag: str, template: npt.NDArray[np.float32], photo_hashes: Sequence[int]
    ) -> AnimalRecord:
        """Append a session template to the animal enrolled under ``tag``."""
        old = self.records[tag]
        new = replace(
            old,
            sessions=(*old.sessions, template),
            photo_hashes=(*old.photo_hashes, *photo_hashes),
        )
        self.records[tag] = new
        return new

    def replace_gallery(
        self,
        tag: str,
        template: npt.NDArray[np.float32],
        sessions: Sequence[npt.NDArray[np.float32]],
        model: str,
        photo_hashes: Sequence[int] = (),
    ) -> AnimalRecord:
        """Replace the templates of the animal enrolled under ``tag``; add ``photo_hashes``."""
        old = self.records[tag]
        new = replace(
            old,
            template=template,
            sessions=tuple(sessions),
            model=model,
            photo_hashes=(*old.photo_hashes, *photo_hashes),
        )
        self.records[tag] = new
        return new


@dataclass(frozen=True)
class Match:
    """A scored candidate.

    Attributes:
        tag, farm: the enrolled animal.
        score: cosine score against its best session template.
        decision: by the thresholds of ``basis``.
        basis: ``photo`` (one photo) or ``session`` (several photos, fused).
        probability: the calibrated chance that it is the same animal (equal
            priors), or ``None`` when the model ships no calibration.
    """

    tag: str
    farm: str
    score: float
    decision: Decision
    basis: Basis = "photo"
    probability: float | None = None


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


def _template(analyses: Sequence[PhotoAnalysis]) -> npt.NDArray[np.float32]:
    """The fused template of analysed photos (one session)."""
    return FaceID.fuse(np.stack([a.embedding for a in analyses]))


def _named(reused: Sequence[ReusedPhoto]) -> str:
    """``photo (of tag), ...`` for an error message."""
    return ", ".join(f"{r.photo} (of {r.tag})" for r in reused)


class Registry:
    """Enrol, identify and verify animals against one gallery of session templates.

    Decisions use calibrated thresholds from the weights manifest, one pair
    per basis: ``match`` at or above the match threshold, ``needs_review``
    from the review threshold, else ``no_match``. Photos: match at FAR 0.1 %,
    review at FAR 1 %; sessions: match at FAR 1 %, review at FAR 5 % (all on
    animals the model never trained on). ``review_threshold`` and
    ``match_threshold`` override both bases (tests and tools).
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
        self.model = faceid.version
        self.store: TemplateStore = (
            store if store is not None else InMemoryTemplateStore()
        )
        m = faceid.manifest
        self.thresholds: dict[Basis, tuple[float, float]] = {
            "photo": (
                review_threshold if review_threshold is not None else m.threshold,
                match_threshold if match_threshold is not None else m.match_threshold,
            ),
            "session": (
                review_threshold
                if review_threshold is not None
                else m.session_threshold,
                match_threshold
                if match_threshold is not None
                else m.session_match_threshold,
            ),
        }
        for basis, (review, match) in self.thresholds.items():
            if match < review:
                raise RegistryError(
                    f"{basis}: the match threshold must not be below the review threshold"
                )
        self.max_hash_distance = max_hash_distance
        # Guards the index, the hash table and the store's duplicate decision:
        # requests may enrol and search from several threads at once. Photos
        # are analysed (the slow part) outside it.
        self._lock = threading.RLock()
        self._records: list[AnimalRecord] = []
        self._owner: list[int] = []  # index row -> position in _records
        self._index: BruteForceIndex | IvfIndex | None = None
        self._hashes = np.empty(0, dtype=np.uint64)
        self._hash_owner: list[str] = []
        self.stale: list[str] = []  # tags whose templates are of another model
        self.rebuild_index()

    # --- index ------------------------------------------------------------------------

    def rebuild_index(self) -> None:
        """Rebuild the search index and photo-hash table from the store."""
        with self._lock:
            self._rebuild()

    def _rebuild(self) -> None:
        stored = list(self.store.all())
        # Photo hashes do not depend on the model: every animal's count for reuse.
        hashes = [(h, r.tag.value) for r in stored for h in r.photo_hashes]
        self._hashes = np.array([h for h, _ in hashes], dtype=np.uint64)
        self._hash_owner = [t for _, t in hashes]
        self.stale = [r.tag.value for r in stored if r.model != self.model]
        self._records = [r for r in stored if r.model == self.model]
        self._owner = [i for i, r in enumerate(self._records) for _ in r.gallery]
        vectors = (
            np.concatenate([r.gallery for r in self._records])
            if self._records
            else np.empty((0, self.faceid.manifest.embedding_dim), np.float32)
        )
        self._index = make_index(vectors) if len(vectors) else None

    def _growing_store(self, what: str) -> GrowingTemplateStore:
        if not isinstance(self.store, GrowingTemplateStore):
            raise RegistryError(f"this registry's store cannot {what}")
        return self.store

    def _require_current(self, record: AnimalRecord) -> None:
        """Raise unless ``record``'s templates are of this registry's model.

        Another process (``agri livestock reembed``) may have re-embedded it
        since the index was built: then the index is rebuilt.
        """
        if record.model == self.model:
            if record.tag.value in self.stale:
                self.rebuild_index()
            return
        raise StaleTemplatesError(
            f"the templates of {record.tag.value} come from face-ID model "
            f"{record.model or '(unknown)'}, not {self.model}: re-embed them from "
            "the kept photos (agri livestock reembed) before comparing"
        )

    def require_no_stale(self) -> None:
        """Raise unless every animal's templates are of this registry's model.

        A search among the animals is complete only then. Another process may
        have re-embedded them since the index was built: the index is rebuilt
        once before refusing.

        Raises:
            StaleTemplatesError: some animals' templates are of another model.
        """
        if self.stale:
            self.rebuild_index()
        if self.stale:
            raise StaleTemplatesError(
                f"{len(self.stale)} enrolled animals (first {self.stale[0]}) have "
                f"templates of another face-ID model than {self.model}, so a search "
                "among them would be incomplete: re-embed them (agri livestock "
                "reembed) first"
            )

    def _index_record(self, record: AnimalRecord) -> None:
        """Add one newly stored animal to the index and hash table (no rebuild)."""
        self._records.append(record)
        self._owner += [len(self._records) - 1] * len(record.gallery)
        if self._index is None:
            self._index = make_index(record.gallery)
        else:
            self._index.add(record.gallery)
        self._hashes = np.concatenate(
            [self._hashes, np.array(record.photo_hashes, dtype=np.uint64)]
        )
        self._hash_owner += [record.tag.value] * len(record.photo_hashes)

    def __len__(self) -> int:
        return len(self._records)

    def _decide(self, score: float, basis: Basis) -> Decision:
        review, match = self.thresholds[basis]
        if score >= match:
            return "match"
        if score >= review:
            return "needs_review"
        return "no_match"

    def _match(self, record: AnimalRecord, score: float, basis: Basis) -> Match:
        return Match(
            record.tag.value,
            record.farm,
            score,
            self._decide(score, basis),
            basis,
            self.faceid.manifest.probability(score, basis),
        )

    def _search(
        self, query: npt.NDArray[np.float32], k: int, basis: Basis
    ) -> list[Match]:
        with self._lock:
            if self._index is None:
                return []
            # Several templates per animal: ask for more rows, keep each animal's best.
            rows = min(len(self._owner), k * 4 + 8)
            found = self._index.search(query[None, :], rows)
            records, owner = self._records, self._owner
        best: dict[int, float] = {}
        for i, s in zip(found.ids[0], found.scores[0], strict=True):
            if i >= 0:
                animal = owner[int(i)]
                best[animal] = max(best.get(animal, -2.0), float(s))
        ranked = sorted(best.items(), key=lambda item: -item[1])[:k]
        return [self._match(records[a], s, basis) for a, s in ranked]

    @staticmethod
    def basis_of(photos: int) -> Basis:
        """``session`` for two or more photos fused, ``photo`` for one."""
        return "session" if photos >= 2 else "photo"

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
            StaleTemplatesError: animals enrolled with another face-ID model
                are not re-embedded yet (no duplicate search is complete).
        """
        parsed = parse_tag(tag, scheme)
        if self.store.get(parsed.value) is not None:
            raise RegistryError(f"tag {parsed.value} is already enrolled")
        self.require_no_stale()
        analyses = self._analyse(photos)
        template = _template(analyses)
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
        candidates = self._search(template, 1, self.basis_of(len(analyses)))
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
            model=self.model,
        )
        self.store.add(record)
        self._index_record(record)
        return EnrolResult("enrolled", parsed.value, best, ())

    def identify(self, photos: Sequence[Photo], k: int = 5) -> list[Match]:
        """The ``k`` enrolled animals most like the photos (fused), best first."""
        analyses = self._analyse(photos)
        query = _template(analyses)
        return self._search(query, k, self.basis_of(len(analyses)))

    def examine(self, tag: str, photos: Sequence[Photo], k: int = 3) -> Examination:
        """Verify, identify and look for reused photos in one pass over the photos.

        Raises:
            ImageError: a photo is unreadable or fails the quality gate.
            RegistryError: no photos.
            StaleTemplatesError: some animal's templates are of another model
                (the search among the animals would be incomplete).
        """
        self.require_no_stale()
        record = self.store.get(tag)
        if record is not None:
            self._require_current(record)
        analyses = self._analyse(photos)
        query = _template(analyses)
        basis = self.basis_of(len(analyses))
        claimed = None
        if record is not None:
            claimed = self._match(record, record.score(query), basis)
        return Examination(
            claimed,
            tuple(self._search(query, k, basis)),
            tuple(self.find_reused(analyses)),
            tuple(analyses),
        )

    def verify(self, tag: str, photos: Sequence[Photo]) -> Match:
        """Score the photos against the animal enrolled under ``tag`` (1:1).

        Raises:
            UnknownAnimalError: nothing is enrolled under ``tag``.
            StaleTemplatesError: the animal's templates are of another model.
        """
        record = self.store.get(tag)
        if record is None:
            raise UnknownAnimalError(f"no animal is enrolled under tag {tag}")
        self._require_current(record)
        analyses = self._analyse(photos)
        query = _template(analyses)
        return self._match(record, record.score(query), self.basis_of(len(analyses)))

    def add_session(
        self, tag: str, photos: Sequence[Photo]
    ) -> tuple[AnimalRecord, Match]:
        """Add a later capture session of an enrolled animal to its gallery.

        The session must verify as the animal (a ``match`` by the session
        thresholds, or the photo thresholds for one photo) and hold no near-copy
        of a stored photo: later-day photos are what cross-day matching lacks,
        and a copy adds nothing. Its fused template joins the animal's gallery
        and its photos' hashes the reuse table.

        Returns:
            The animal's record with the new session, and the verification.

        Raises:
            UnknownAnimalError: nothing is enrolled under ``tag``.
            ImageError: a photo is unreadable or fails the quality gate.
            RegistryError: the photos do not match the animal, a photo is a
                near-copy of a stored one, no photos, or a store that cannot
                add sessions.
            StaleTemplatesError: the animal's templates are of another model.
        """
        store = self._growing_store("add sessions")
        first = store.get(tag)
        if first is None:
            raise UnknownAnimalError(f"no animal is enrolled under tag {tag}")
        self._require_current(first)
        analyses = self._analyse(photos)
        template = _template(analyses)
        hashes = [a.phash for a in analyses]
        with self._lock:
            record = self.store.get(tag)
            if record is None:
                raise UnknownAnimalError(f"no animal is enrolled under tag {tag}")
            match = self._match(
                record, record.score(template), self.basis_of(len(analyses))
            )
            if match.decision != "match":
                raise RegistryError(
                    f"the photos do not match the animal enrolled under {tag} "
                    f"(score {match.score:.3f}, {match.decision} by the "
                    f"{match.basis} thresholds): not added"
                )
            reused = self.find_reused(analyses)
            if reused:
                raise RegistryError(f"near-copies of stored photos: {_named(reused)}")
            grown = store.add_session(tag, template, hashes)
            self._index_session(grown, template, hashes)
        return grown, match

    def templates(
        self, sessions: Sequence[Sequence[Photo]]
    ) -> list[npt.NDArray[np.float32]]:
        """One fused template per session of photos, by this registry's model.

        For re-embedding kept photos: they are not gated on quality again
        (they passed when they were first taken).

        Raises:
            RegistryError: a session has no photos.
            ImageError: a photo cannot be read.
        """
        if not sessions or any(not photos for photos in sessions):
            raise RegistryError("every session needs at least one photo")
        return [_template(self.faceid.analyse(photos)) for photos in sessions]

    def replace_templates(
        self, tag: str, templates: Sequence[npt.NDArray[np.float32]]
    ) -> AnimalRecord:
        """Store ``templates`` (enrolment first) as the animal's, of this registry's model.

        The index is not updated: call :meth:`rebuild_index` once the store's
        transaction has committed.

        Raises:
            UnknownAnimalError: nothing is enrolled under ``tag``.
            RegistryError: a store that cannot replace templates, or no templates.
        """
        store = self._growing_store("replace templates")
        if not templates:
            raise RegistryError(f"{tag}: no templates")
        try:
            return store.replace_gallery(tag, templates[0], templates[1:], self.model)
        except KeyError:
            raise UnknownAnimalError(f"no animal is enrolled under tag {tag}") from None

    def reenrol(self, tag: str, photos: Sequence[Photo]) -> AnimalRecord:
        """Give an animal whose templates are of another model new ones from new photos.

        For an animal whose kept photos cannot rebuild its gallery: its old
        templates cannot be compared with anything, so the new photos cannot
        be checked against them (a person must vouch for them). They are
        checked as an enrolment's are: the quality gate, no near-copy of
        another animal's stored photo, and no ``match`` with another animal.
        The gallery becomes the one session of these photos. The index is not
        updated: call :meth:`rebuild_index` once the transaction has committed.

        Raises:
            UnknownAnimalError: nothing is enrolled under ``tag``.
            RegistryError: its templates are already of this model, the photos
                match another animal or copy another animal's photo, no photos.
            ImageError: a photo is unreadable or fails the quality gate.
        """
        store = self._growing_store("replace templates")
        record = store.get(tag)
        if record is None:
            raise UnknownAnimalError(f"no animal is enrolled under tag {tag}")
        if record.model == self.model:
            raise RegistryError(f"{tag} is already of face-ID model {self.model}")
        analyses = self._analyse(photos)
        template = _template(analyses)
        with self._lock:
            copies = [r for r in self.find_reused(analyses) if r.tag != tag]
            if copies:
                raise RegistryError(
                    f"near-copies of other animals' photos: {_named(copies)}"
                )
            found = self._search(template, 1, self.basis_of(len(analyses)))
            if found and found[0].decision == "match":
                raise RegistryError(
                    f"the photos match {found[0].tag} of {found[0].farm} "
                    f"(score {found[0].score:.3f}): not re-enrolled"
                )
            return store.replace_gallery(
                tag, template, (), self.model, [a.phash for a in analyses]
            )

    def _index_session(
        self,
        record: AnimalRecord,
        template: npt.NDArray[np.float32],
        photo_hashes: Sequence[int],
    ) -> None:
        """Add one animal's new session to the index and hash table (no store read).

        The store may write in a transaction that other connections do not see
        yet; a caller whose transaction rolls back calls :meth:`rebuild_index`.
        """
        pos = next(
            (i for i, r in enumerate(self._records) if r.tag.value == record.tag.value),
            None,
        )
        if pos is None:  # re-embedded by another process since the index was built
            self._rebuild()
            return
        self._records[pos] = record
        self._owner.append(pos)
        if self._index is None:
            self._index = make_index(template[None, :])
        else:
            self._index.add(template[None, :])
        self._hashes = np.concatenate(
            [self._hashes, np.array(photo_hashes, dtype=np.uint64)]
        )
        self._hash_owner += [record.tag.value] * len(photo_hashes)
