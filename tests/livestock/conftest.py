"""Fixtures: the real cow photos (read from ../shared/data, never copied) and synthetic images."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from livestock.data import Capture, scan_folder


@pytest.fixture(scope="session")
def cattle(shared_data: Path) -> Path:
    return shared_data / "cattle_faces"


@pytest.fixture(scope="session")
def captures(cattle: Path) -> list[Capture]:
    return scan_folder(cattle)


def encode(img: Image.Image, fmt: str = "JPEG", **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()
