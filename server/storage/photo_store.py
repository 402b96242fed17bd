"""Kept photos: content-addressed files on disk, and the rows that say what they belong to.

A photo's bytes are stored once, under its SHA-256: ``<root>/ab/cd/<sha256>.<ext>``
(``ab``, ``cd``: the first two pairs of hex digits), with a JPEG thumbnail
beside it (``<sha256>.thumb.jpg``, longest side :data:`THUMB_PX`). Files are
written atomically and always BEFORE the database transaction that names them
commits: a file without a row is harmless (nothing shows it), a row without a
file is not. The same bytes sent twice, for any record, are one file; each
record they belong to is one row of ``photos``.

Writing is in two steps, so that a request's photos are kept all or none:
:meth:`PhotoFiles.stage` writes a photo and its thumbnail to temporary files
(``<root>/.tmp-*``, flushed and synced), and :meth:`PhotoFiles.publish`
renames them to their names (and syncs the folder, so the names survive a
power loss). A write that fails (the disk full) leaves no file behind:
:meth:`PhotoFiles.discard` removes what was staged and not published.
Temporary files of a process killed while staging are removed when they are
an hour old (:data:`STALE_TEMP_S`).

Paths are built only from a validated lower-case hex digest (:func:`is_sha256`),
never from anything else a request carries.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import Connection, insert, select

from server.storage.schema import photos

__all__ = [
    "MEDIA_TYPES",
    "STALE_TEMP_S",
    "TEMP_PREFIX",
    "THUMB_MEDIA_TYPE",
    "THUMB_PX",
    "PhotoFileError",
    "PhotoFiles",
    "PhotoRow",
    "StagedPhoto",
    "StoredFile",
    "is_sha256",
    "link_photos",
    "photo_rows",
    "photos_by_sha",
]

THUMB_PX = 256
"""Longest side of a thumbnail, in pixels."""

THUMB_MEDIA_TYPE = "image/jpeg"

TEMP_PREFIX = ".tmp-"
"""Name prefix of the temporary files a photo is staged in (in the folder's root)."""

STALE_TEMP_S = 3600.0
"""Temporary files older than this (seconds) were left by a killed process: removed."""

MEDIA_TYPES: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
    "GIF": ("image/gif", "gif"),
    "BMP": ("image/bmp", "bmp"),
    "TIFF": ("image/tiff", "tif"),
}
"""Pillow format -> (media type, file extension) of the photos kept."""

_EXTENSIONS = dict(MEDIA_TYPES.values())
_SHA256 = re.compile(r"[0-9a-f]{64}")


class PhotoFileError(ValueError):
    """The bytes are not an image the store keeps (the message says why)."""


def is_sha256(text: str) -> bool:
    """True for exactly 64 lower-case hex digits (the only names used on disk)."""
    return _SHA256.fullmatch(text) is not None


@dataclass(frozen=True)
class StoredFile:
    """A photo's file on disk: its digest, media type, size in bytes and pixels."""

    sha256: str
    media_type: str
    size_bytes: int
    width: int
    height: int


@dataclass(frozen=True)
class PhotoRow:
    """A kept photo and what it belongs to (a row of ``photos``).

    Attributes:
        owner_kind: ``claim`` (evidence) or ``animal`` (enrolment).
        owner_id: the claim's id or the animal's tag.
        name: the file name it was sent under.
        captured_at: when the phone took it (UTC), if known.
        created_at: when it was kept (UTC); set on insert when None.
    """

    owner_kind: str
    owner_id: str
    sha256: str
    name: str
    media_type: str
    size_bytes: int
    width: int
    height: int
    captured_at: datetime | None = None
    created_at: datetime | None = None


@dataclass
class StagedPhoto:
    """A photo written to temporary files, not yet under its name.

    Attributes:
        file: what the photo is (digest, media type, size, pixels).
        pending: (temporary file, final name) pairs still to publish; empty
            when the photo and its thumbnail were already kept.
    """

    file: StoredFile
    pending: list[tuple[Path, Path]] = field(default_factory=list)


def _write_temp(folder: Path, data: bytes, suffix: str) -> Path:
    """Write ``data`` to a new temporary file in ``folder``, synced; its path.

    Raises:
        OSError: the folder cannot be written (the partial file is removed).
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _fsync_dir(folder: Path) -> None:
    """Sync a folder, so that the names just made in it survive a power loss."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _thumbnail(img: Image.Image, px: int) -> bytes:
    """A JPEG no larger than ``px`` on its longest side, upright per EXIF."""
    upright = ImageOps.exif_transpose(img)
    if upright.mode not in ("RGB", "L"):
        upright = upright.convert("RGB")
    upright.thumbnail((px, px), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    upright.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()


class PhotoFiles:
    """The photo folder: put bytes in, find a photo's or thumbnail's path by digest.

    Args:
        root: the folder (``AGRI_PHOTO_DIR``); created on first write.
        thumb_px: longest side of thumbnails, in pixels.
    """

    def __init__(self, root: Path, thumb_px: int = THUMB_PX) -> None:
        if thumb_px < 1:
            raise ValueError("thumb_px must be >= 1")
        self.root = root
        self.thumb_px = thumb_px
        self._swept = False

    def _folder(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise PhotoFileError(f"{sha256!r} is not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:4]

    def path(self, sha256: str, media_type: str) -> Path:
        """Where the photo with digest ``sha256`` lies.

        Raises:
            PhotoFileError: not a lower-case hex digest, or an unknown media type.
        """
        ext = _EXTENSIONS.get(media_type)
        if ext is None:
            raise PhotoFileError(f"media type {media_type!r} is not kept")
        return self._folder(sha256) / f"{sha256}.{ext}"

    def thumb_path(self, sha256: str) -> Path:
        """Where the thumbnail (JPEG) of the photo ``sha256`` lies.

        Raises:
            PhotoFileError: not a lower-case hex digest.
        """
        return self._folder(sha256) / f"{sha256}.thumb.jpg"

    def put(self, data: bytes | Path) -> StoredFile:
        """Keep a photo's bytes and its thumbnail; the same bytes are written once.

        :meth:`stage` then :meth:`publish`. Call it before the transaction that
        links the photo commits.

        Raises:
            PhotoFileError: the bytes are not an image of a kept format.
            OSError: the folder cannot be written (nothing is left behind).
        """
        staged = self.stage(data)
        try:
            self.publish(staged)
        finally:
            self.discard(staged)
        return staged.file

    def stage(self, data: bytes | Path) -> StagedPhoto:
        """Write the photo and its thumbnail to temporary files, unless already kept.

        Nothing is under its name yet: :meth:`publish` does that, and
        :meth:`discard` removes what is not published.

        Raises:
            PhotoFileError: the bytes are not an image of a kept format.
            OSError: the folder cannot be written (the disk full, read-only...);
                nothing is left behind.
        """
        raw = data.read_bytes() if isinstance(data, Path) else data
        sha = hashlib.sha256(raw).hexdigest()
        self._sweep_once()
        staged: StagedPhoto | None = None
        try:
            with Image.open(io.BytesIO(raw)) as img:
                kind = MEDIA_TYPES.get(img.format or "")
                if kind is None:
                    raise PhotoFileError(
                        f"{img.format or 'unknown'} images are not kept: "
                        "send JPEG, PNG or WebP"
                    )
                width, height = img.size
                staged = StagedPhoto(StoredFile(sha, kind[0], len(raw), width, height))
                path = self.path(sha, kind[0])
                thumb = self.thumb_path(sha)
                if not path.exists():
                    tmp = _write_temp(self.root, raw, path.suffix)
                    staged.pending.append((tmp, path))
                if not thumb.exists():
                    img.load()
                    tmp = _write_temp(
                        self.root, _thumbnail(img, self.thumb_px), thumb.suffix
                    )
                    staged.pending.append((tmp, thumb))
        except BaseException as exc:
            if staged is not None:
                self.discard(staged)
            if isinstance(exc, (UnidentifiedImageError, OSError, SyntaxError)):
                if isinstance(exc, OSError) and exc.errno is not None:
                    raise  # a file-system error, not a bad image
                raise PhotoFileError(f"not a readable image: {exc}") from exc
            raise
        return staged

    def publish(self, staged: StagedPhoto) -> None:
        """Rename the staged files to their names and sync their folders.

        The photo comes before its thumbnail. Each published file leaves
        ``staged.pending``; a failure leaves the rest there for :meth:`discard`.

        Raises:
            OSError: a folder cannot be made or written.
        """
        while staged.pending:
            tmp, final = staged.pending[0]
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            staged.pending.pop(0)
            _fsync_dir(final.parent)

    @staticmethod
    def discard(staged: StagedPhoto) -> None:
        """Remove the staged files not published (none left after :meth:`publish`)."""
        for tmp, _ in staged.pending:
            tmp.unlink(missing_ok=True)
        staged.pending.clear()

    def _sweep_once(self) -> None:
        """Once per instance: remove temporary files older than :data:`STALE_TEMP_S`.

        They were left by a process killed while staging; younger ones may be
        another process's, staging now.
        """
        if self._swept:
            return
        self._swept = True
        cutoff = time.time() - STALE_TEMP_S
        try:
            for tmp in self.root.glob(f"{TEMP_PREFIX}*"):
                try:
                    if tmp.stat().st_mtime < cutoff:
                        tmp.unlink(missing_ok=True)
                except OSError:
                    continue
        except OSError:
            return  # no folder yet, or unreadable: the write says so


def link_photos(conn: Connection, rows: Sequence[PhotoRow]) -> int:
    """Record that each photo belongs to its owner; return the rows added.

    A photo already linked to the same owner (sent twice) is not added
    again, nor is one repeated within ``rows``. Run it in the transaction
    that records the owner's change, after the files are written.
    """
    if not rows:
        return 0
    keys = {(r.owner_kind, r.owner_id) for r in rows}
    have: set[tuple[str, str, str]] = set()
    for kind, owner in keys:
        have |= {
            (kind, owner, sha)
            for sha in conn.execute(
                select(photos.c.sha256).where(
                    photos.c.owner_kind == kind, photos.c.owner_id == owner
                )
            ).scalars()
        }
    now = datetime.now(UTC)
    new = []
    for r in rows:
        key = (r.owner_kind, r.owner_id, r.sha256)
        if key in have:
            continue
        have.add(key)
        new.append(
            {
                "owner_kind": r.owner_kind,
                "owner_id": r.owner_id,
                "sha256": r.sha256,
                "name": r.name[:255],
                "media_type": r.media_type,
                "size_bytes": r.size_bytes,
                "width": r.width,
                "height": r.height,
                "captured_at": r.captured_at,
                "created_at": r.created_at or now,
            }
        )
    if new:
        conn.execute(insert(photos), new)
    return len(new)


def _row(r: Any) -> PhotoRow:
    return PhotoRow(
        r.owner_kind,
        r.owner_id,
        r.sha256,
        r.name,
        r.media_type,
        int(r.size_bytes),
        int(r.width),
        int(r.height),
        r.captured_at,
        r.created_at,
    )


def photo_rows(conn: Connection, owner_kind: str, owner_id: str) -> list[PhotoRow]:
    """The photos of one owner, in the order they were kept."""
    rows = conn.execute(
        select(photos)
        .where(photos.c.owner_kind == owner_kind, photos.c.owner_id == owner_id)
        .order_by(photos.c.id)
    )
    return [_row(r) for r in rows]


def photos_by_sha(conn: Connection, sha256: str) -> list[PhotoRow]:
    """Every owner's row of the photo ``sha256`` (empty when it is not kept)."""
    rows = conn.execute(
        select(photos).where(photos.c.sha256 == sha256).order_by(photos.c.id)
    )
    return [_row(r) for r in rows]
