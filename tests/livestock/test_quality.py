"""The quality gate's reasons, and perceptual hashes that survive resizing and re-compression."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from livestock import check_quality, phash
from livestock.preprocess import load_image
from livestock.quality import hamming
from tests.livestock.conftest import encode


def test_sample_photos_pass_and_damaged_copies_fail_with_reasons(captures) -> None:
    photos = [load_image(c.path) for c in captures[::50]]
    assert all(check_quality(p).passed for p in photos)
    photo = photos[0]
    blurred = photo.filter(ImageFilter.GaussianBlur(5))
    assert check_quality(blurred).reasons == ("blurred",)
    dark = ImageEnhance.Brightness(photo).enhance(0.05)
    assert "too_dark" in check_quality(dark).reasons
    bright = Image.new("RGB", photo.size, (250, 250, 250))
    assert "too_bright" in check_quality(bright).reasons
    small = photo.resize((30, 40))
    assert "too_small" in check_quality(small).reasons
    report = check_quality(photo, face_similarity=0.1)
    assert report.reasons == ("not_a_face",)
    assert "does not look like a cow face" in report.describe()


def test_phash_survives_resizing_and_recompression(captures) -> None:
    photo = load_image(captures[10].path)
    copy = load_image(
        encode(photo.resize((photo.width * 2, photo.height * 2)), "JPEG", quality=40)
    )
    other = load_image(captures[400].path)
    stored = np.array([phash(photo), phash(other)], dtype=np.uint64)
    distances = hamming(phash(copy), stored)
    assert distances[0] <= 6
    assert distances[1] > 6


def test_phash_is_64_bits() -> None:
    img = Image.fromarray(
        np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    )
    assert 0 <= phash(img) < 2**64
