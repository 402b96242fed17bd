"""Photo decoding: every bad file gets a clear error naming it; odd modes are normalised."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from livestock import ImageError
from livestock.preprocess import INPUT_HEIGHT, INPUT_WIDTH, load_image, to_array
from tests.livestock.conftest import encode


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares a size and holds almost nothing (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


def test_real_photo_becomes_a_grayscale_portrait_tensor(captures) -> None:
    img = load_image(captures[0].path)
    assert img.mode == "RGB"
    arr = to_array(img)
    assert arr.shape == (3, INPUT_HEIGHT, INPUT_WIDTH)
    assert arr.dtype == np.float32
    assert -1.0 <= arr.min() and arr.max() <= 1.0
    assert np.array_equal(arr[0], arr[1]) and np.array_equal(arr[1], arr[2])


def test_zero_byte_truncated_and_non_image_files(captures, tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"empty\.jpg: the file is empty"):
        load_image(b"", "empty.jpg")
    data = captures[0].path.read_bytes()
    with pytest.raises(
        ImageError, match=r"cut\.jpg: corrupt or truncated image"
    ) as info:
        load_image(data[: len(data) // 2], "cut.jpg")
    assert info.value.reasons == ("corrupt",)
    with pytest.raises(ImageError, match=r"notes\.txt: not an image file"):
        load_image(b"these are field notes, not a photo", "notes.txt")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(
        ImageError, match=r"bomb\.png: .*(decompression bomb|over the limit)"
    ) as info:
        load_image(png_header(30_000, 30_000), "bomb.png")
    assert info.value.reasons == ("too_large",)


def test_cmyk_sixteen_bit_and_alpha_images_are_normalised() -> None:
    cmyk = Image.new("CMYK", (80, 120), (0, 0, 0, 200))
    assert load_image(encode(cmyk, "JPEG"), "cmyk.jpg").mode == "RGB"
    deep = Image.fromarray((np.arange(80 * 120).reshape(120, 80) * 6).astype(np.uint16))
    rgb = load_image(encode(deep, "PNG"), "deep.png")
    assert rgb.mode == "RGB" and np.asarray(rgb).max() == 255
    rgba = Image.new("RGBA", (80, 120), (255, 255, 255, 0))
    flat = load_image(encode(rgba, "PNG"), "alpha.png")
    assert np.asarray(flat).max() == 0  # transparent pixels over black


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (120, 80), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    upright = load_image(encode(img, "JPEG", exif=exif), "rotated.jpg")
    assert upright.size == (80, 120)
