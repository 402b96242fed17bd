"""What a phone wrote into a photo: capture time and GPS position (EXIF).

Claims check that a photo was taken after the loss and near the farm. The
capture app sends both with each photo; when it does not, the photo's own
EXIF tags are the fallback. Missing or malformed tags give ``None``, never
an error: a check then says the value is missing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

__all__ = ["PhotoMetadata", "read_metadata"]

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _OFFSET_ORIGINAL, _DATETIME = 0x9003, 0x9011, 0x0132


@dataclass(frozen=True)
class PhotoMetadata:
    """Capture time and position in degrees.

    ``captured_at`` is aware (UTC) when the photo names its offset, else the
    camera's naive wall-clock time.
    """

    captured_at: datetime | None = None
    lat: float | None = None
    lon: float | None = None


def _degrees(value: Any, ref: Any, negative: str) -> float | None:
    try:
        d, m, s = (float(x) for x in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    deg = d + m / 60 + s / 3600
    return -deg if str(ref).upper().startswith(negative) else deg


def _offset(text: Any) -> timezone | None:
    """The EXIF offset (``+08:00``) as a time zone, or None when absent or malformed."""
    try:
        sign = -1 if str(text)[0] == "-" else 1
        hours, minutes = str(text)[1:].split(":")
        return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
    except (ValueError, IndexError):
        return None


def read_metadata(source: bytes | Path) -> PhotoMetadata:
    """The capture time and GPS position recorded in a photo's EXIF, where present.

    >>> read_metadata(b"not an image")
    PhotoMetadata(captured_at=None, lat=None, lon=None)
    """
    try:
        with Image.open(
            io.BytesIO(source) if isinstance(source, bytes) else source
        ) as img:
            exif = img.getexif()
    except (OSError, UnidentifiedImageError, ValueError):
        return PhotoMetadata()
    details = exif.get_ifd(_EXIF_IFD)
    stamp = details.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    captured = None
    if isinstance(stamp, str):
        try:
            local = datetime.strptime(stamp.strip(), "%Y:%m:%d %H:%M:%S")
            offset = _offset(details.get(_OFFSET_ORIGINAL))
            # Without an offset the stamp is the camera's wall clock: left naive,
            # for the caller who knows where the photo was taken.
            captured = (
                local
                if offset is None
                else local.replace(tzinfo=offset).astimezone(UTC)
            )
        except ValueError:
            captured = None
    gps = exif.get_ifd(_GPS_IFD)
    lat = _degrees(gps.get(2), gps.get(1), "S") if gps else None
    lon = _degrees(gps.get(4), gps.get(3), "W") if gps else None
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    return PhotoMetadata(captured, lat, lon)
