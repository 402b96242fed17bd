"""``agri livestock``: train the face-ID model and evaluate it the way an insurer works."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

__all__ = ["livestock"]

DEFAULT_DATA = (
    Path(os.environ.get("AGRI_SHARED_DATA", "../shared/data")) / "cattle_faces"
)


@click.group()
def livestock() -> None:
    """Livestock face ID: train, evaluate."""


@livestock.command("train")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="Folder per animal (folder name = tag).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/weights"),
    show_default=True,
    help="Where NAME.pt and NAME.json are written.",
)
@click.option("--name", default="cowface-v1", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=24, show_default=True)
@click.option("--seed", type=int, default=20251128, show_default=True)
def livestock_train(
    data_dir: Path, out_dir: Path, name: str, epochs: int, seed: int
) -> None:
    """Reproduce the shipped weights: train, then calibrate thresholds on held-out animals."""
    # The training script is a tool module, not part of the package's public names
    # (``livestock.train`` would clash with a ``train`` function exported there).
    from livestock.train import Recipe, calibrate, train

    start = time.monotonic()

    def log(message: str) -> None:
        click.echo(message, err=True)

    weights = train(
        data_dir, out_dir, name=name, recipe=Recipe(seed=seed, epochs=epochs), log=log
    )
    metrics = calibrate(data_dir, out_dir, name=name, log=log)
    click.echo(
        json.dumps(
            {
                "weights": str(weights),
                "seconds": round(time.monotonic() - start),
                **metrics,
            },
            indent=2,
        )
    )


@livestock.command("evaluate")
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--impostors",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Animals that are never enrolled (default: leave one animal out).",
)
@click.option(
    "--held-out",
    is_flag=True,
    help="Only the animals the shipped model never trained on (listed in its manifest).",
)
@click.option(
    "--fuse", is_flag=True, help="Also report one fused query per capture session."
)
@click.option(
    "--reference/--no-reference",
    default=True,
    show_default=True,
    help="Also evaluate the untrained ImageNet backbone.",
)
@click.option("--weights", "weights_name", default="cowface-v1", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def livestock_evaluate(
    directory: Path,
    impostors: Path | None,
    held_out: bool,
    fuse: bool,
    reference: bool,
    weights_name: str,
    as_json: bool,
) -> None:
    """Enrol every animal of DIRECTORY on its first day; identify it on the others.

    Reports top-1/top-5 identification, mAP, and open-set TAR at FAR 1 % and
    0.1 % for the shipped model (and the ImageNet backbone for reference).
    """
    from livestock import FaceID, ImageNetBackbone, LivestockError, evaluate_folder

    try:
        faceid = FaceID.load(weights_name)
        if held_out:
            directory = _held_out_view(
                directory, faceid.manifest.recipe["validation_animals"]
            )
        report: dict[str, Any] = evaluate_folder(
            directory, faceid.embed, impostors
        ).to_json()
        report["model"] = weights_name
        report["decision_threshold"] = faceid.manifest.threshold
        report["decision_threshold_far"] = faceid.manifest.threshold_far
        if fuse:
            fused = evaluate_folder(
                directory, faceid.embed, impostors, fuse_sessions=True
            )
            report["fused_sessions"] = fused.to_json()
        if reference:
            backbone = ImageNetBackbone()
            report["imagenet_backbone"] = evaluate_folder(
                directory, backbone.embed, impostors
            ).to_json()
    except LivestockError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    rows = [("shipped model", report)]
    if "fused_sessions" in report:
        rows.append(("shipped model, fused sessions", report["fused_sessions"]))
    if "imagenet_backbone" in report:
        rows.append(("ImageNet backbone (untrained)", report["imagenet_backbone"]))
    click.echo(
        f"{'':<32} {'top1':>6} {'top5':>6} {'mAP':>6} {'TAR@1%':>7} {'TAR@0.1%':>9} "
        f"{'queries':>8} {'impostors':>9}"
    )
    for label, m in rows:
        click.echo(
            f"{label:<32} {m['top1']:>6.3f} {m['top5']:>6.3f} {m['map']:>6.3f} "
            f"{m['tar_at_far_1e-2']:>7.3f} {m['tar_at_far_1e-3']:>9.3f} "
            f"{m['genuine_queries']:>8} {m['impostor_queries']:>9}"
        )
    click.echo(
        f"decision threshold {report['decision_threshold']} (calibrated for FAR "
        f"{report['decision_threshold_far']:.0%} on held-out animals)"
    )


def _held_out_view(directory: Path, animals: list[str]) -> Path:
    """A temporary folder linking only ``animals`` of ``directory``."""
    import atexit
    import shutil
    import tempfile

    view = Path(tempfile.mkdtemp(prefix="agri-held-out-"))
    atexit.register(shutil.rmtree, view, ignore_errors=True)
    found = 0
    for animal in animals:
        if (directory / animal).is_dir():
            (view / animal).symlink_to((directory / animal).resolve())
            found += 1
    if not found:
        raise click.UsageError(f"{directory}: none of the held-out animals is there")
    return view
