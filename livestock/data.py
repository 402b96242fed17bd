"""Folder-per-animal photo sets, capture sessions, and the insurer's enrol/query split.

A dataset directory holds one folder per animal, named by its tag. A file name
that starts with a capture time ``YYYYMMDDhhmmss`` is dated by it; other names
(a second series without timestamps) form one undated session per animal.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

__all__ = [
    "Capture",
    "EnrolSplit",
    "capture_day",
    "capture_session",
    "capture_time",
    "is_extra",
    "scan_extra",
    "scan_folder",
    "split_enrol_query",
    "validation_animals",
]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
_STAMP = re.compile(r"^(\d{14})")


@dataclass(frozen=True)
class Capture:
    """One photo of one animal.

    Attributes:
        path: the image file.
        animal: the animal's folder name (its tag).
        day: the capture day, or ``None`` for undated names.
    """

    path: Path
    animal: str
    day: date | None

    @property
    def session(self) -> str:
        """The capture session (one camera clip or one series) this photo belongs to."""
        return capture_session(self.path.name)


def capture_time(name: str) -> datetime | None:
    """The time a file name's leading ``YYYYMMDDhhmmss`` stamp gives (taken as UTC), else None.

    >>> capture_time("20250401093214_20250401093754_0018_cls0.jpg")
    datetime.datetime(2025, 4, 1, 9, 32, 14, tzinfo=datetime.timezone.utc)
    """
    m = _STAMP.match(name)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def capture_day(name: str) -> date | None:
    """The day a file name's leading ``YYYYMMDDhhmmss`` stamp gives, else None.

    >>> capture_day("20250401093214_20250401093754_0018_cls0.jpg")
    datetime.date(2025, 4, 1)
    >>> capture_day("331-2-5-3(1).jpg") is None
    True
    """
    when = capture_time(name)
    return when.date() if when is not None else None


_SERIES = re.compile(r"^(.*?)\s*\(\d+\)$")


def capture_session(name: str) -> str:
    """The capture session a file name belongs to: the frames of one clip share it.

    A stamped name's session is its start and end stamps (the clip); an
    undated name ``SERIES(k).jpg`` belongs to ``SERIES``; any other name is a
    session of its own.

    >>> capture_session("20250401093214_20250401093754_0018_cls0.jpg")
    '20250401093214_20250401093754'
    >>> capture_session("331-2-5-3(4).jpg")
    '331-2-5-3'
    """
    stem = Path(name).stem
    parts = stem.split("_")
    if len(parts) >= 2 and _STAMP.match(parts[0]) and _STAMP.match(parts[1]):
        return f"{parts[0][:14]}_{parts[1][:14]}"
    series = _SERIES.match(stem)
    return series.group(1) if series else stem


def scan_folder(root: Path) -> list[Capture]:
    """Every image under ``root/<animal>/``, sorted by animal then file name."""
    captures = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                captures.append(Capture(path, folder.name, capture_day(path.name)))
    return captures


def scan_extra(root: Path) -> list[Capture]:
    """Every image of another farm's folder-per-animal set, each animal named ``SOURCE/ID``.

    ``SOURCE`` is the folder's own name (``cattle_faces_ssfr``), so those
    animals never collide with the herd's tags and :func:`is_extra` tells
    them apart. Their photos are undated (one video or one photo each).
    """
    return [Capture(c.path, f"{root.name}/{c.animal}", None) for c in scan_folder(root)]


def is_extra(animal: str) -> bool:
    """Whether ``animal`` came from :func:`scan_extra` (another farm's animal)."""
    return "/" in animal


@dataclass(frozen=True)
class EnrolSplit:
    """Enrolment images and query images per animal."""

    enrol: dict[str, list[Capture]]
    query: dict[str, list[Capture]]


def split_enrol_query(captures: list[Capture], min_enrol: int = 3) -> EnrolSplit:
    """Enrol with the earliest capture day; query with every other day.

    Sessions are ordered by day, the undated session last. The first day's
    images enrol the animal; while fewer than ``min_enrol``, the next session
    is added. Every image of the remaining sessions is a query.
    """
    by_animal: dict[str, dict[date | None, list[Capture]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for c in captures:
        by_animal[c.animal][c.day].append(c)
    enrol: dict[str, list[Capture]] = {}
    query: dict[str, list[Capture]] = {}
    for animal, sessions in sorted(by_animal.items()):
        order = sorted(sessions, key=lambda d: (d is None, d or date.min))
        chosen: list[Capture] = []
        rest: list[Capture] = []
        for day in order:
            if len(chosen) < min_enrol:
                chosen += sessions[day]
            else:
                rest += sessions[day]
        enrol[animal] = chosen
        query[animal] = rest
    return EnrolSplit(enrol, query)


def validation_animals(animals: list[str], every: int = 4) -> list[str]:
    """The held-out animals: every ``every``-th in sorted order (a fixed, documented choice)."""
    return sorted(animals)[every - 1 :: every]
