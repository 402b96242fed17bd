"""Photo loading and preprocessing, defined once for training, the server and export.

Cow faces arrive as phone photos and barn-camera crops, by day in colour and by
night in infrared. Every image is decoded safely (size limits, EXIF
orientation, any mode to RGB), converted to grayscale (Holsteins are black and
white, and grayscale puts day and infrared night frames in one domain),
resized to a 224 x 112 portrait and scaled to [-1, 1] as EfficientNet-Lite
expects.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from livestock.errors import ImageError

__all__ = [
    "INPUT_HEIGHT",
    "INPUT_WIDTH",
    "MAX_PIXELS",
    "load_image",
    "to_array",
]

INPUT_HEIGHT = 224
"""Model input height in pixels."""
INPUT_WIDTH = 112
"""Model input width in pixels (faces are portrait crops)."""
MAX_PIXELS = 40_000_000
"""Larger images are refused before decoding (decompression bombs)."""
MAX_BYTES = 25 * 1024 * 1024
"""Larger files are refused before decoding."""


def load_image(source: str | Path | bytes, name: str | None = None) -> Image.Image:
    """Decode a photo into an upright 8-bit RGB image.

    Args:
        source: a path or the file's bytes.
        name: how to name the photo in errors (default: the path).

    Raises:
        ImageError: empty, too large, not an image, truncated or corrupt, or
            more pixels than :data:`MAX_PIXELS`; the message names the photo.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "upload")
    data = Path(source).read_bytes() if not isinstance(source, bytes) else source
    if not data:
        raise ImageError(label, "the file is empty", ("empty",))
    if len(data) > MAX_BYTES:
        raise ImageError(
            label, f"{len(data):,} bytes, over {MAX_BYTES:,}", ("too_large",)
        )
    try:
        # The pixel count is checked here, before decoding (no catch_warnings:
        # it swaps the process's warning filters and is not thread-safe; Pillow's
        # own bomb warning, above 89 M pixels, is only a warning before this).
        img = Image.open(io.BytesIO(data))
        width, height = img.size
        if width * height > MAX_PIXELS:
            raise ImageError(
                label,
                f"{width} x {height} pixels, over the limit of {MAX_PIXELS:,}",
                ("too_large",),
            )
        img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(
            label, f"refused as a decompression bomb ({exc})", ("too_large",)
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(label, "not an image file", ("not_an_image",)) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(
            label, f"corrupt or truncated image ({exc})", ("corrupt",)
        ) from exc
    upright: Image.Image = ImageOps.exif_transpose(img)
    return _to_rgb(upright)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any mode (CMYK, 16-bit, palette, alpha) to 8-bit RGB; alpha over black."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() or 1.0
        img = Image.fromarray((arr / top * 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64))
        top = arr.max() or 1.0
        img = Image.fromarray((arr / top * 255).clip(0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (
        img.mode == "P" and "transparency" in img.info
    ):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def to_array(img: Image.Image) -> npt.NDArray[np.float32]:
    """The model input for one image: float32 (3, 224, 112), grayscale, in [-1, 1]."""
    gray = img.convert("L").resize(
        (INPUT_WIDTH, INPUT_HEIGHT), Image.Resampling.BILINEAR
    )
    arr = np.asarray(gray, dtype=np.float32) / 127.5 - 1.0
    return np.repeat(arr[None], 3, axis=0)
