"""Enrolment: animals into the face-ID registry, their later visits, and re-embedding.

An enrolment attempt is on record whatever its outcome (the underwriter sees a
duplicate's match when an application names that tag); an animal enrolled, a
visit added (``animal.session_added``) and a model upgrade's re-embedding
(``animal.reembedded``) each write their rows and their ledger event in one
transaction. Capture signatures are judged first (a red photo refuses the
upload) and the photo files are kept before any lock is taken.

One registry for every process: API workers and commands share the database,
each with its own face-ID index. A change to the registry (an enrolment, a
visit, a re-embedding) holds the named lock :data:`REGISTRY_LOCK` from before
its decision to its commit, and first brings the index up to date with what
other processes stored (:func:`caught_up`); a search (a claim's 1:N) catches
up first too. So one cow enrolled through two workers at once is one animal
and one duplicate, as through one. On SQLite every write transaction runs
alone already; on PostgreSQL the lock serialises the registry's changes,
embedding included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from claims import CaptureVerdict
from livestock import (
    AnimalRecord,
    EnrolResult,
    LivestockError,
    Match,
    Photo,
    Registry,
    Scheme,
    UnknownAnimalError,
)
from server.errors import InvalidInputError, NotFoundError
from server.i18n import render_message
from server.services.devices import DeviceService, SignedPhoto
from server.services.ledger import LedgerService
from server.services.photos import PhotoService
from server.services.underwriting import UnderwritingService
from server.services.work import reading
from server.storage.animal_store import SqlTemplateStore
from server.storage.locks import lock
from server.storage.photo_store import photo_rows
from server.storage.underwriting_store import PolicyStore

__all__ = ["REENROL", "REGISTRY_LOCK", "EnrolmentService", "ReembedReport", "caught_up"]


REENROL = "re-enrol it from new photos (agri livestock reembed --tag --photos --reason)"

REGISTRY_LOCK = "registry"
"""The named lock (``server.storage.locks``) every change to the registry holds."""


def caught_up(registry: Registry, conn: Connection | None = None) -> Registry:
    """``registry``, its index rebuilt first if another process changed the animals since.

    Read on ``conn`` when given: a change to the registry calls this in its
    transaction, after taking :data:`REGISTRY_LOCK`. A registry whose store is
    not the database's has nothing to catch up with.
    """
    store = registry.store
    if isinstance(store, SqlTemplateStore) and store.behind(conn):
        registry.rebuild_index()
    return registry


@dataclass(frozen=True)
class ReembedReport:
    """What :meth:`EnrolmentService.reembed_animals` did.

    Attributes:
        model: the face-ID model version the templates are now of.
        reembedded: the tags re-embedded from their kept photos.
        left: the tags left as they were, each with why (re-enrol it from new photos,
            or run again).
    """

    model: str
    reembedded: list[str]
    left: dict[str, str]


class EnrolmentService:
    """Enrol animals, add their later visits, re-embed them after a model upgrade."""

    def __init__(
        self,
        ledger: LedgerService,
        underwriting: UnderwritingService,
        registry: Callable[[], Registry],
        *,
        photos: PhotoService | None = None,
        devices: DeviceService | None = None,
    ) -> None:
        """Wire the service.

        Args:
            ledger: the ledger service (its engine is the database).
            underwriting: the farmers an animal is enrolled to.
            registry: returns the face-ID registry over :class:`SqlTemplateStore`
                (called on first use: loading the model takes a second).
            photos: where enrolment photos are kept; None keeps none.
            devices: the agents' devices, which judge capture signatures.
        """
        self.ledger = ledger
        self.uw = underwriting
        self.engine = ledger.store.engine
        self._registry = registry
        self.photos = photos
        self.devices = devices or DeviceService(ledger)
        self.store = PolicyStore()

    def enrol_animal(
        self,
        tag: str,
        photos: Sequence[Photo],
        *,
        farmer_id: str,
        scheme: Scheme = "iso11784",
        actor: str,
        signatures: Sequence[tuple[str | None, str | None]] | None = None,
        conn: Connection | None = None,
    ) -> EnrolResult:
        """Enrol an animal through the face-ID registry; every attempt is on record.

        An animal that matches one already enrolled (under any tag or farm) is
        not stored: the result is ``duplicate`` or ``needs_review`` with the
        match, and the attempt is recorded for the underwriter to see.

        Args:
            tag: the animal's ear tag.
            photos: its face photos.
            farmer_id: the farmer it belongs to.
            scheme: the tag's numbering scheme.
            actor: the logged-in agent (for the ledger and the signatures).
            signatures: per photo, in order, its capture signature (signed
                message, signature), or (None, None) when unsigned; None when
                no photo is signed. The verdicts are recorded with the attempt
                and in the ``animal.enrolled`` event.
            conn: a connection whose transaction to write in (idempotent requests).

        Raises:
            NotFoundError: unknown farmer.
            InvalidInputError: a photo's capture signature is red (the photo
                and the reason named; field ``meta``): nothing is stored.
            TagError, ImageError, RegistryError: from the registry (bad tag,
                unusable photo, tag already enrolled).
        """
        # An unknown farmer is refused before a file is kept (checked again below,
        # in the transaction that records the animal).
        self.uw.farmer(farmer_id, conn)
        # The files first (before any lock): linked below only if stored.
        verdicts, captures, registry, store, kept = self._animal_photos(
            photos, signatures, actor, conn
        )
        try:
            with self.ledger.transaction(conn) as conn, store.bound(conn):
                lock(conn, REGISTRY_LOCK)  # one decision at a time, in every process
                self.devices.confirm(conn, verdicts)  # no revocation since the verdicts
                self.uw.farmer(farmer_id, conn)
                caught_up(registry, conn)  # what other processes enrolled meanwhile
                result = registry.enrol(tag, photos, farm=farmer_id, scheme=scheme)
                match = result.match
                self.store.insert_enrolment(
                    conn,
                    tag=result.tag,
                    farmer_id=farmer_id,
                    status=result.status,
                    match=(match.tag, match.farm)
                    if match and result.status != "enrolled"
                    else None,
                    score=match.score if match else None,
                    detail={
                        "reused_photos": [r.photo for r in result.reused_photos],
                        "captures": captures,
                    },
                )
                if result.status == "enrolled":
                    if self.photos:
                        self.photos.link(conn, "animal", result.tag, kept)
                    self.ledger.record(
                        conn,
                        "animal.enrolled",
                        {"animal": result.tag, "farmer": farmer_id},
                        actor,
                        {
                            "scheme": scheme,
                            "photos": len(photos),
                            "captures": captures,
                        },
                    )
        except BaseException:
            registry.rebuild_index()  # the index may hold an animal that was rolled back
            raise
        return result

    def _capture_verdicts(
        self,
        photos: Sequence[Photo],
        signatures: Sequence[tuple[str | None, str | None]] | None,
        actor: str,
        conn: Connection | None,
    ) -> list[CaptureVerdict]:
        """Each photo's capture signature verdict; a red photo refuses them all.

        Raises:
            ValueError: ``signatures`` does not have one pair per photo.
            InvalidInputError: a photo's capture signature is red (the photo
                and the reason named; field ``meta``).
        """
        if signatures is not None and len(signatures) != len(photos):
            raise ValueError("signatures must name one (signed, signature) per photo")
        pairs = signatures or [(None, None)] * len(photos)
        signed = [
            SignedPhoto(p.data, s, sig)
            for p, (s, sig) in zip(photos, pairs, strict=True)
        ]
        if conn is not None:
            verdicts = self.devices.verdicts(conn, actor, signed)
        else:
            with reading(self.engine) as read:
                verdicts = self.devices.verdicts(read, actor, signed)
        for p, v in zip(photos, verdicts, strict=True):
            if v.light == "red":
                raise InvalidInputError(
                    f"{p.name}: the capture signature is refused: "
                    + render_message(v.message, v.params, "en"),
                    field="meta",
                )
        return verdicts

    def _require_enrolled(self, tag: str, conn: Connection | None) -> None:
        """Refuse a tag nothing is enrolled under, read on ``conn`` when given.

        Called before the photos' files are kept: a request naming no animal
        leaves nothing behind, not even a photo file.

        Raises:
            NotFoundError: nothing is enrolled under ``tag`` (field ``tag``).
        """
        store = SqlTemplateStore(self.engine)  # no face-ID model needed to look
        if conn is None:
            found = store.get(tag)
        else:
            with store.bound(conn):
                found = store.get(tag)
        if found is None:
            raise NotFoundError(f"no animal is enrolled under tag {tag}", field="tag")

    def _registry_and_store(self) -> tuple[Registry, SqlTemplateStore]:
        """The face-ID registry and its store of templates in the database."""
        registry = self._registry()
        store = registry.store
        if not isinstance(store, SqlTemplateStore):  # pragma: no cover - wiring error
            raise TypeError("the registry must store templates in the database")
        return registry, store

    def _animal_photos(
        self,
        photos: Sequence[Photo],
        signatures: Sequence[tuple[str | None, str | None]] | None,
        actor: str,
        conn: Connection | None,
    ) -> tuple[list[Any], list[dict[str, Any]], Registry, SqlTemplateStore, list[Any]]:
        """Judge the photos' capture signatures and keep their files, before any lock.

        Returns the verdicts, their JSON for the ledger, the registry, its store
        and the kept files (to link once the animal's record is written).
        """
        verdicts = self._capture_verdicts(photos, signatures, actor, conn)
        captures = [
            {"photo": p.name, **v.to_json()}
            for p, v in zip(photos, verdicts, strict=True)
        ]
        registry, store = self._registry_and_store()
        kept = (
            self.photos.keep(
                [
                    (p.name, p.data, v.attested.captured_at if v.attested else None)
                    for p, v in zip(photos, verdicts, strict=True)
                ]
            )
            if self.photos
            else []
        )
        return verdicts, captures, registry, store, kept

    def add_animal_session(
        self,
        tag: str,
        photos: Sequence[Photo],
        *,
        actor: str,
        signatures: Sequence[tuple[str | None, str | None]] | None = None,
        conn: Connection | None = None,
    ) -> tuple[AnimalRecord, Match]:
        """Grow an enrolled animal's gallery by a later capture session (an inspection).

        The photos must verify as the animal (``match`` by the thresholds of a
        session, or of a photo for one photo) and be new (no near-copy of a
        stored photo); their fused template joins the animal's gallery, their
        files are kept with the animal, and ``animal.session_added`` goes on the
        ledger in the same transaction, with each photo's capture signature
        verdict (``captures``), as enrolment records them.

        Args:
            tag: the enrolled animal's ear tag.
            photos: the session's face photos.
            actor: the logged-in agent (for the ledger and the signatures).
            signatures: per photo, in order, its capture signature (signed
                message, signature), or (None, None) when unsigned; None when
                no photo is signed.
            conn: a connection whose transaction to write in (idempotent requests).

        Raises:
            NotFoundError: nothing is enrolled under ``tag``.
            InvalidInputError: a photo's capture signature is red (the photo
                and the reason named; field ``meta``): nothing is stored.
            ImageError: a photo is unreadable or fails the quality gate.
            RegistryError: the photos do not match the animal, or reuse a stored photo.
        """
        self._require_enrolled(tag, conn)  # before any photo file is kept
        verdicts, captures, registry, store, kept = self._animal_photos(
            photos, signatures, actor, conn
        )
        try:
            with self.ledger.transaction(conn) as conn, store.bound(conn):
                lock(conn, REGISTRY_LOCK, f"animal:{tag}")
                self.devices.confirm(conn, verdicts)  # no revocation since the verdicts
                caught_up(registry, conn)
                try:
                    record, match = registry.add_session(tag, photos)
                except UnknownAnimalError as exc:
                    raise NotFoundError(str(exc)) from exc
                if self.photos:
                    self.photos.link(conn, "animal", tag, kept)
                self.ledger.record(
                    conn,
                    "animal.session_added",
                    {"animal": tag},
                    actor,
                    {
                        "photos": len(photos),
                        "score": round(match.score, 4),
                        "basis": match.basis,
                        "sessions": len(record.sessions) + 1,
                        "captures": captures,
                    },
                )
        except BaseException:
            registry.rebuild_index()  # the index may hold a session that was rolled back
            raise
        return record, match

    def reembed_animals(
        self, *, actor: str, log: Callable[[str], None] = lambda _: None
    ) -> ReembedReport:
        """Recompute, with the running face-ID model, the templates made by another model.

        Templates of two face-ID models are not comparable, so after a model
        upgrade every animal enrolled with the old one is re-embedded from its
        kept photos: the photos linked in one step (the enrolment, then each
        verified session) form one session again, in the order they were kept.
        The photos are embedded outside any transaction; each animal is then
        rewritten in its own transaction, under its lock and only if it is
        still of the old model, with an ``animal.reembedded`` ledger event.
        An animal whose kept photos do not rebuild its gallery (none kept,
        fewer sessions or photos than it has, a file missing or unreadable)
        is left as it is and listed.
        """
        registry, store = self._registry_and_store()
        registry.rebuild_index()
        done: list[str] = []
        left: dict[str, str] = {}
        stale = list(registry.stale)
        try:
            for n, tag in enumerate(stale, 1):
                why = self._reembed_one(registry, store, tag, actor)
                if why is None:
                    done.append(tag)
                else:
                    left[tag] = why
                log(f"{n}/{len(stale)} {tag}: {why or 're-embedded'}")
        finally:
            registry.rebuild_index()
        return ReembedReport(registry.model, done, left)

    def reenrol_animal(
        self,
        tag: str,
        photos: Sequence[Photo],
        *,
        actor: str,
        reason: str,
    ) -> AnimalRecord:
        """New templates from new photos for an animal that re-embedding had to leave.

        Its old templates are of another model and its kept photos cannot
        rebuild them, so the new photos cannot be checked against the animal:
        the actor vouches for them (``reason``, on the ledger). They are
        checked as an enrolment's are (quality, no copy of another animal's
        photo, no match with another animal), kept and linked to the animal,
        and ``animal.reembedded`` (``source: new photos``) goes on the ledger
        in the same transaction.

        Raises:
            NotFoundError: nothing is enrolled under ``tag``.
            InvalidInputError: no reason given.
            ImageError: a photo is unreadable or fails the quality gate.
            RegistryError: already of this model; the photos match or copy
                another animal's.
        """
        if not reason.strip():
            raise InvalidInputError(
                "say why these photos are this animal", field="reason"
            )
        _, _, registry, store, kept = self._animal_photos(photos, None, actor, None)
        try:
            with self.ledger.transaction() as conn, store.bound(conn):
                lock(conn, REGISTRY_LOCK, f"animal:{tag}")
                caught_up(registry, conn)
                old = store.get(tag)
                try:
                    record = registry.reenrol(tag, photos)
                except UnknownAnimalError as exc:
                    raise NotFoundError(str(exc)) from exc
                if self.photos:
                    self.photos.link(conn, "animal", tag, kept)
                self.ledger.record(
                    conn,
                    "animal.reembedded",
                    {"animal": tag},
                    actor,
                    {
                        "model": registry.model,
                        "previous_model": old.model if old else "",
                        "source": "new photos",
                        "reason": reason.strip(),
                        "sessions": 1,
                        "photos": len(photos),
                    },
                )
        finally:
            registry.rebuild_index()
        return record

    def _reembed_one(
        self,
        registry: Registry,
        store: SqlTemplateStore,
        tag: str,
        actor: str,
    ) -> str | None:
        """Re-embed one animal; None when done, else why it was left as it is."""
        old = store.get(tag)
        if old is None or old.model == registry.model:
            return "no longer enrolled or already re-embedded"
        with reading(self.engine) as conn:
            rows = photo_rows(conn, "animal", tag)
        if not rows or self.photos is None:
            return f"no kept photos: {REENROL}"
        sessions: list[list[Photo]] = []
        last = None
        for row in rows:
            if row.created_at != last:
                sessions.append([])
                last = row.created_at
            path = self.photos.files.path(row.sha256, row.media_type)
            if not path.is_file():
                return f"kept photo {row.name} ({row.sha256[:12]}) is missing"
            sessions[-1].append(Photo(row.name, path))
        if len(sessions) != 1 + len(old.sessions) or len(sessions[0]) != old.photos:
            return (
                f"the kept photos form {len(sessions)} sessions "
                f"({len(sessions[0])} enrolment photos), the animal has "
                f"{1 + len(old.sessions)} ({old.photos}): {REENROL}"
            )
        try:
            templates = registry.templates(sessions)
        except LivestockError as exc:
            return str(exc)
        with self.ledger.transaction() as conn, store.bound(conn):
            lock(conn, REGISTRY_LOCK, f"animal:{tag}")
            now = store.get(tag)
            if (
                now is None
                or now.model != old.model
                or len(now.sessions) != len(old.sessions)
            ):
                return "changed while its photos were embedded: run again"
            registry.replace_templates(tag, templates)
            self.ledger.record(
                conn,
                "animal.reembedded",
                {"animal": tag},
                actor,
                {
                    "model": registry.model,
                    "previous_model": old.model,
                    "sessions": len(sessions),
                    "photos": len(rows),
                },
            )
        return None
