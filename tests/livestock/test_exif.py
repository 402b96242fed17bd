"""Capture time and GPS from a photo's EXIF: read when present, None when not."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from livestock.exif import read_metadata


def photo(
    gps: dict | None = None, when: str | None = None, offset: str | None = None
) -> bytes:
    exif = Image.Exif()
    if gps:
        exif.get_ifd(0x8825).update(gps)
    if when:
        details = exif.get_ifd(0x8769)
        details[0x9003] = when
        if offset:
            details[0x9011] = offset
    buf = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def test_time_with_its_offset_and_position_in_degrees() -> None:
    data = photo(
        {1: "N", 2: (40.0, 50.0, 31.2), 3: "E", 4: (111.0, 44.0, 56.4)},
        "2025:04:14 17:14:54",
        "+08:00",
    )
    meta = read_metadata(data)
    assert meta.captured_at == datetime(2025, 4, 14, 9, 14, 54, tzinfo=UTC)
    assert meta.lat == pytest.approx(40.842, abs=1e-6)
    assert meta.lon == pytest.approx(111.749, abs=1e-6)


def test_south_west_and_no_offset_is_the_wall_clock() -> None:
    meta = read_metadata(
        photo(
            {1: "S", 2: (33.0, 30.0, 0.0), 3: "W", 4: (70.0, 15.0, 0.0)},
            "2025:01:02 03:04:05",
        )
    )
    assert (meta.lat, meta.lon) == (-33.5, -70.25)
    assert meta.captured_at == datetime(2025, 1, 2, 3, 4, 5)  # naive: no offset given


def test_missing_or_malformed_tags_give_none() -> None:
    assert read_metadata(photo()).captured_at is None
    assert read_metadata(photo(when="yesterday")).captured_at is None
    bad = read_metadata(
        photo({1: "N", 2: (400.0, 0.0, 0.0), 3: "E", 4: (1.0, 0.0, 0.0)})
    )
    assert (bad.lat, bad.lon) == (None, None)
    assert read_metadata(b"\xff\xd8 truncated") == read_metadata(b"")
