"""Scoring ablations on out-of-fold embeddings (no training): gallery and fusion variants.

Usage: .venv/bin/python scripts/faceid_ablations.py [OOF.npz]
(OOF.npz: written by `agri livestock train`, default var/weights/oof.npz). Prints the out-of-fold
figures of each variant beside the shipped scoring; nothing is fitted, so the figures stay
out-of-fold. The quality measures are cached beside OOF.npz.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

import livestock.evaluate as ev
from livestock import Capture, FaceID, Photo
from livestock.train import OutOfFold


def line(
    name: str,
    oof: OutOfFold,
    embeddings: npt.NDArray[np.float32],
    template_of: Callable[[Capture], str] = ev.visit,
) -> None:
    """One variant's pooled out-of-fold figures (each fold's threshold from the others)."""
    report = ev.cross_fold_report(
        oof.captures, embeddings, oof.folds, template_of=template_of
    )
    for unit in ("photo", "session"):
        e, t = report[unit], report[unit]["far_1e-2"]
        print(  # noqa: T201 - a report on stdout
            f"{name:34} {unit:7} top-1 {e['top1']['rate']:.3f} {e['top1']['ci95']} "
            f"TAR@FAR1% {t['tar']['rate']:.3f} {t['tar']['ci95']} "
            f"realised FAR {t['far_realised']['rate']:.3f} ({e['queries']} queries)"
        )


def quality(oof: OutOfFold, path: Path) -> tuple[npt.NDArray[np.float64], ...]:
    """Sharpness and face-likeness of every photo (computed once, then read)."""
    if path.is_file():
        saved = np.load(path)
        return saved["sharp"], saved["face"]
    faceid = FaceID.load()
    sharp: list[float] = []
    face: list[float] = []
    for i in range(0, len(oof.captures), 64):
        batch = [Photo(c.path.name, c.path) for c in oof.captures[i : i + 64]]
        for a in faceid.analyse(batch):
            sharp.append(a.quality.sharpness)
            face.append(a.quality.face_similarity or 0.0)
    np.savez(path, sharp=np.array(sharp), face=np.array(face))
    return np.array(sharp), np.array(face)


def main() -> None:
    """Run every variant."""
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "var/weights/oof.npz")
    oof = OutOfFold.load(path)
    line("shipped (template per visit, mean)", oof, oof.embeddings)
    line("template per enrolment clip", oof, oof.embeddings, lambda c: c.session)

    # Quality-weighted fusion (enrolment and queries): weights fixed a priori.
    def weighted(embeddings: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        mean = np.asarray(embeddings, np.float32).mean(axis=0)
        out: npt.NDArray[np.float32] = mean / np.linalg.norm(mean)
        return out

    sharp, face = quality(oof, path.with_name("quality.npz"))
    shipped_fuse = ev.fuse_frames
    ev.fuse_frames = weighted  # the protocol fuses through this module name
    for name, w in (
        ("fusion weighted by sqrt(sharpness)", np.sqrt(sharp)),
        ("fusion weighted by face-likeness", np.clip(face, 0.01, None)),
        ("fusion weighted by face-likeness^4", np.clip(face, 0.01, None) ** 4),
    ):
        line(name, oof, (oof.embeddings * w[:, None]).astype(np.float32))
    ev.fuse_frames = shipped_fuse


if __name__ == "__main__":
    main()
