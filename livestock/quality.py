"""The photo quality gate, with reasons, and perceptual hashes of photos.

Checked before a photo reaches the model: size, exposure, blur (variance of
the Laplacian at a fixed scale), and whether it looks like a cow face at all
(cosine similarity of the network's pooled features to the mean cow face).
A perceptual hash (DCT pHash, 64 bits) catches a photo reused from an earlier
enrolment or claim even after resizing or re-compression.
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = ["QualityReport", "QualityRules", "check_quality", "hamming", "phash"]


@dataclass(frozen=True)
class QualityRules:
    """Quality bounds (defaults set on the sample farm's day and night photos).

    Attributes:
        min_side_px: the shorter side must be at least this.
        min_brightness, max_brightness: mean luminance bounds (0-255).
        min_sharpness: variance of the Laplacian at 224 px height.
        min_face_similarity: cosine similarity to the mean cow face.
    """

    min_side_px: int = 48
    min_brightness: float = 10.0
    max_brightness: float = 235.0
    min_sharpness: float = 4.0
    min_face_similarity: float = 0.5


@dataclass(frozen=True)
class QualityReport:
    """Whether a photo passes, and why not."""

    passed: bool
    reasons: tuple[str, ...]
    brightness: float
    sharpness: float
    face_similarity: float | None

    def describe(self) -> str:
        """The reasons in words."""
        words = {
            "too_small": "too small",
            "too_dark": f"too dark (mean brightness {self.brightness:.0f})",
            "too_bright": f"too bright (mean brightness {self.brightness:.0f})",
            "blurred": f"blurred (sharpness {self.sharpness:.1f})",
            "not_a_face": "does not look like a cow face"
            + (
                f" (similarity {self.face_similarity:.2f})"
                if self.face_similarity is not None
                else ""
            ),
        }
        return "; ".join(words.get(r, r) for r in self.reasons) or "passes"


def sharpness(img: Image.Image) -> float:
    """Variance of the Laplacian of the grayscale image scaled to 224 px height."""
    gray = img.convert("L")
    width = max(3, round(gray.width * 224 / gray.height))
    a = np.asarray(
        gray.resize((width, 224), Image.Resampling.BILINEAR), dtype=np.float64
    )
    lap = a[1:-1, :-2] + a[1:-1, 2:] + a[:-2, 1:-1] + a[2:, 1:-1] - 4 * a[1:-1, 1:-1]
    return float(lap.var())


def check_quality(
    img: Image.Image,
    rules: QualityRules | None = None,
    face_similarity: float | None = None,
) -> QualityReport:
    """Check one decoded photo; ``face_similarity`` comes from the model when known."""
    rules = rules or QualityRules()
    reasons = []
    if min(img.size) < rules.min_side_px:
        reasons.append("too_small")
    brightness = float(np.asarray(img.convert("L"), dtype=np.float64).mean())
    if brightness < rules.min_brightness:
        reasons.append("too_dark")
    elif brightness > rules.max_brightness:
        reasons.append("too_bright")
    sharp = sharpness(img)
    if sharp < rules.min_sharpness:
        reasons.append("blurred")
    if face_similarity is not None and face_similarity < rules.min_face_similarity:
        reasons.append("not_a_face")
    return QualityReport(
        not reasons, tuple(reasons), brightness, sharp, face_similarity
    )


def phash(img: Image.Image) -> int:
    """64-bit DCT perceptual hash (imagehash.phash) as an unsigned integer."""
    bits = imagehash.phash(img.convert("L")).hash.flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """Bit differences between hash ``a`` and each of ``hashes``."""
    diff = np.bitwise_xor(hashes, np.uint64(a))
    out: npt.NDArray[np.int64] = np.bitwise_count(diff).astype(np.int64)
    return out
