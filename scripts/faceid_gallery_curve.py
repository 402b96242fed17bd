"""The gallery-size curve: identification, TAR and FAR at a fixed threshold as the gallery grows.

Usage: .venv/bin/python scripts/faceid_gallery_curve.py [OUT_DIR] [--outside DIR ...] [--png PATH]
(OUT_DIR: where `agri livestock train` left the fold models and oof.npz, default
var/weights). Each fold's herd cows are enrolled and queried as in the out-of-fold protocol,
with every other animal added to the gallery as a distractor (those the fold's model never saw
first, by its manifest's `trained_on`), at 15, 30, 60, 100, 200 and 300 animals (cut to the
animals there are); the threshold stays fixed per fold (FAR 1 % on the other folds' impostors
at 15 animals). `--outside DIR` adds another farm's folder-per-animal cows (split into the folds
by animal) when the models did not train on them: distractors the models never saw, and outside
impostors for the threshold. Prints JSON and draws the PNG (default
docs/faceid-gallery-size.png). Every photo is embedded once by each fold model (cached in
OUT_DIR/cross.npz).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from livestock.data import scan_extra
from livestock.evaluate import GalleryPoint, gallery_size_curve
from livestock.train import OutOfFold, embed_by_every_fold, fold_of

SIZES = (15, 30, 60, 100, 200, 300)


def draw(curves: dict[str, list[GalleryPoint]], path: Path, model: str) -> None:
    """Two panels (photo, session): top-1, TAR and FAR against the gallery size, with intervals."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, (unit, points) in zip(axes, curves.items(), strict=True):
        sizes = [p.size for p in points]
        for key, label, style in (
            ("top1", "top-1 identification", "o-"),
            ("tar", "TAR at the fixed threshold", "s-"),
            ("far", "FAR at the fixed threshold (herd cows left out)", "^--"),
        ):
            rates = [getattr(p, key)["rate"] for p in points]
            low = [getattr(p, key)["ci95"][0] for p in points]
            high = [getattr(p, key)["ci95"][1] for p in points]
            ax.plot(sizes, rates, style, label=label)
            ax.fill_between(sizes, low, high, alpha=0.15)
        seen = [p.distractors_trained_on for p in points]
        first_seen = next((s for s, n in zip(sizes, seen, strict=True) if n), None)
        if first_seen is not None:
            ax.axvline(first_seen, color="grey", lw=0.8, ls=":")
            ax.text(
                first_seen,
                0.3,
                " from here on, some distractors\n are cows the model trained on",
                fontsize=8,
                color="grey",
            )
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.set_xlabel("animals in the gallery")
        ax.set_title(f"{unit} queries ({points[0].tar['n']})")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("rate (95 % interval by animal)")
    axes[0].legend(fontsize=8, loc="center left")
    folds = len(next(iter(curves.values()))[0].thresholds)
    fig.suptitle(
        f"{model}: out-of-fold, {folds} folds; each fold's threshold fixed at FAR 1 % on the "
        "other folds' herd and outside impostors (15-animal galleries)",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str]) -> int:
    """Embed, compute both curves, print them as JSON and draw the PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=Path("var/weights"))
    parser.add_argument(
        "--png", type=Path, default=Path("docs/faceid-gallery-size.png")
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--outside", type=Path, action="append", default=[])
    args = parser.parse_args(argv)
    oof = OutOfFold.load(args.out_dir / "oof.npz")
    folds = int(oof.folds.max()) + 1
    seen = [
        set(
            json.loads((args.out_dir / f"fold{k}.json").read_text())["recipe"][
                "trained_on"
            ]
        )
        for k in range(folds)
    ]
    have = {c.animal for c in oof.captures}
    outside = [
        c
        for d in args.outside
        for c in scan_extra(d)
        if c.animal not in have  # trained on: already in the out-of-fold set
    ]
    captures = [*oof.captures, *outside]
    fold = fold_of([c.animal for c in outside], folds)
    fold_arr = np.concatenate(
        [oof.folds, np.array([fold[c.animal] for c in outside], dtype=np.int64)]
    )
    cross = embed_by_every_fold(
        captures,
        args.out_dir,
        folds,
        threads=args.threads,
        log=lambda m: print(m, file=sys.stderr),  # noqa: T201 - progress
    )
    curves = {
        unit: gallery_size_curve(
            captures, list(cross), fold_arr, SIZES, unit, seen_by_fold=seen
        )
        for unit in ("photo", "session")
    }
    print(  # noqa: T201 - a report on stdout
        json.dumps({u: [asdict(p) for p in c] for u, c in curves.items()}, indent=1)
    )
    draw(curves, args.png, args.out_dir.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
