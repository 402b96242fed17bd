"""Evidence and enrolment photos: kept when received, shown to the roles that may see them.

Writes: :meth:`PhotoService.keep` writes each photo's file and thumbnail
(content-addressed, atomic) BEFORE the transaction that records them, and
:meth:`PhotoService.link` records, in that transaction, that they belong to
a claim (evidence) or an animal (enrolment). A request's photos are kept all
or none: when one cannot be written (the disk full), the files already
written for the request are removed and :class:`PhotoStorageError` names the
photo; the caller's transaction then records nothing. Reads ask the access policy
(:mod:`server.services.access`):

* a claim's evidence is for the roles of ``photos.evidence`` (underwriter,
  adjuster, admin, farmer): field agents see enrolment photos (of animals) only;
* a farmer sees the photos of his own claims and animals; staff see every one.

A photo the caller may not see answers like one that does not exist (404),
so a hash never tells whether someone else's photo is kept.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import Connection, Engine

from livestock import read_metadata
from server.errors import ForbiddenError, NotFoundError, ServiceError
from server.services.access import Caller, Viewer, may_do, may_see, own_farmer
from server.services.work import reading
from server.storage.owner_store import OwnerStore
from server.storage.photo_store import (
    THUMB_MEDIA_TYPE,
    PhotoFileError,
    PhotoFiles,
    PhotoRow,
    StagedPhoto,
    StoredFile,
    is_sha256,
    link_photos,
    photo_rows,
    photos_by_sha,
)

__all__ = [
    "KeptPhoto",
    "OwnerKind",
    "PhotoFile",
    "PhotoService",
    "PhotoStorageError",
    "Viewer",
]

OwnerKind = Literal["claim", "animal"]

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class PhotoStorageError(ServiceError):
    """A photo could not be written to the photo folder; nothing of the request is kept.

    The API answers 507 when the folder is out of space (``no_space``: no
    space left, a quota or a file-size limit reached), 503 for other write
    failures (a read-only or unreachable folder). Field ``files``.

    Args:
        name: the photo's file name as sent.
        cause: the file system's error.
    """

    def __init__(self, name: str, cause: OSError) -> None:
        self.no_space = cause.errno in _NO_SPACE
        reason = os.strerror(cause.errno) if cause.errno else str(cause)
        code = errno.errorcode.get(cause.errno or 0, "")
        then = (
            "once space is freed in the photo folder"
            if self.no_space
            else "once the photo folder can be written"
        )
        super().__init__(
            f"{name}: the photo could not be stored ({reason}"
            f"{', ' + code if code else ''}): nothing was recorded; send it "
            f"again {then}",
            field="files",
        )
        self.name = name


@dataclass(frozen=True)
class KeptPhoto:
    """A photo written to the folder, waiting to be linked to its owner."""

    name: str
    file: StoredFile
    captured_at: datetime | None = None


@dataclass(frozen=True)
class PhotoFile:
    """A file to send: where it lies, its media type, and its entity tag."""

    path: Path
    media_type: str
    etag: str


class PhotoService:
    """Keep photos and show them by role.

    Args:
        engine: the database.
        files: the photo folder.
    """

    def __init__(self, engine: Engine, files: PhotoFiles) -> None:
        self.engine = engine
        self.files = files
        self._owners = OwnerStore()

    # --- writes -----------------------------------------------------------------------

    def keep(
        self,
        photos: Sequence[tuple[str, bytes | Path, datetime | None]],
    ) -> list[KeptPhoto]:
        """Write each photo ``(name, bytes or path, captured_at)`` and its thumbnail.

        Call before the transaction that links them (a file without a row is
        harmless; a row without a file is not). Without ``captured_at`` the
        photo's EXIF capture time is used, where it has one. Files of images that cannot
        be kept (not a readable JPEG/PNG/WebP...) are skipped: the face-ID
        quality gate has already refused unreadable photos.

        All or none: every photo is staged (written to a temporary file)
        before any is put under its name, and a failure removes what this call
        staged, so a full disk leaves no file of the request behind.

        Raises:
            PhotoStorageError: a photo cannot be written (named, with the cause).
        """
        staged: list[tuple[str, bytes | Path, StagedPhoto, datetime | None]] = []
        current = ""
        try:
            for name, data, captured_at in photos:
                current = name
                try:
                    one = self.files.stage(data)
                except PhotoFileError:
                    continue
                staged.append((name, data, one, captured_at))
            for name, _, one, _ in staged:
                current = name
                self.files.publish(one)
        except OSError as exc:
            raise PhotoStorageError(current, exc) from exc
        finally:
            for _, _, one, _ in staged:
                self.files.discard(one)
        kept = []
        for name, data, one, captured_at in staged:
            if captured_at is None:  # what the phone recorded, where it did
                captured_at = read_metadata(data).captured_at
            kept.append(KeptPhoto(name, one.file, captured_at))
        return kept

    def link(
        self,
        conn: Connection,
        owner_kind: OwnerKind,
        owner_id: str,
        kept: Sequence[KeptPhoto],
    ) -> int:
        """Record in ``conn``'s transaction that ``kept`` belong to the owner; rows added."""
        return link_photos(
            conn,
            [
                PhotoRow(
                    owner_kind,
                    owner_id,
                    k.file.sha256,
                    k.name,
                    k.file.media_type,
                    k.file.size_bytes,
                    k.file.width,
                    k.file.height,
                    k.captured_at,
                )
                for k in kept
            ],
        )

    # --- reads ------------------------------------------------------------------------

    def _owner_farmer(self, conn: Connection, kind: str, owner_id: str) -> str | None:
        """The farmer a claim or an animal belongs to; None if there is no such record."""
        return self._owners.farmer_of(
            conn, "claim" if kind == "claim" else "animal", owner_id
        )

    @staticmethod
    def _may_see_kind(viewer: Caller, kind: str) -> bool:
        """Whether the viewer's role sees photos of a claim (evidence) or an animal."""
        return may_do(viewer, "photos.evidence" if kind == "claim" else "read")

    def photos_of(
        self, viewer: Caller, owner_kind: OwnerKind, owner_id: str
    ) -> list[PhotoRow]:
        """The photos of a claim or an animal, in the order they were kept.

        Raises:
            NotFoundError: no such claim or animal.
            ForbiddenError: the viewer may not see this record's photos.
        """
        with reading(self.engine) as conn:
            farmer = self._owner_farmer(conn, owner_kind, owner_id)
            if farmer is None:
                field = "claim_id" if owner_kind == "claim" else "tag"
                raise NotFoundError(f"no {owner_kind} {owner_id}", field=field)
            if not self._may_see_kind(viewer, owner_kind):
                raise ForbiddenError(
                    f"role {viewer.role} may not see the photos of this {owner_kind}"
                )
            if not may_see(viewer, farmer):
                raise ForbiddenError(
                    f"role {viewer.role} may not see the photos of this {owner_kind}"
                    " (not yours)"
                )
            return photo_rows(conn, owner_kind, owner_id)

    def photo_file(self, viewer: Caller, sha256: str, *, thumb: bool) -> PhotoFile:
        """The file of a kept photo (or its thumbnail) the viewer may see.

        Args:
            viewer: who asks.
            sha256: the photo's SHA-256, 64 hex digits (nothing else reaches the disk).
            thumb: the thumbnail (JPEG) instead of the photo.

        Raises:
            NotFoundError: not a digest, not kept, not visible to the viewer, or
                its file is missing (the same answer for each).
        """
        digest = sha256.lower()
        missing = NotFoundError(f"no photo {sha256[:64]}", field="sha256")
        if not is_sha256(digest):
            raise missing
        sees_all = own_farmer(viewer) is None  # staff: no owner looked up
        with reading(self.engine) as conn:
            rows = photos_by_sha(conn, digest)
            visible = [
                r
                for r in rows
                if self._may_see_kind(viewer, r.owner_kind)
                and (
                    sees_all
                    or may_see(
                        viewer, self._owner_farmer(conn, r.owner_kind, r.owner_id)
                    )
                )
            ]
        if not visible:
            raise missing
        media = THUMB_MEDIA_TYPE if thumb else visible[0].media_type
        path = (
            self.files.thumb_path(digest)
            if thumb
            else self.files.path(digest, visible[0].media_type)
        )
        if not path.is_file():
            raise missing
        return PhotoFile(path, media, f'"{digest}{"-thumb" if thumb else ""}"')
