"""``agri edge``: the face-ID model for the field agent's phone (ONNX float32 and int8)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from server.cli.livestock import DEFAULT_DATA

__all__ = ["edge"]


@click.group()
def edge() -> None:
    """The on-device face-ID model: export and check."""


@edge.command("export")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for cowface.int8.onnx, cowface.float32.onnx and cowface.json (edge/model).",
)
@click.option(
    "--weights",
    "weights_name",
    default=None,
    help="Livestock weights to export (default: the shipped model).",
)
@click.option(
    "--weights-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Where NAME.pt/.json lie (default: the package's weights).",
)
@click.option(
    "--calibrate",
    "calibrate_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="Photos (a folder per animal) that calibrate the int8 ranges.",
)
@click.option(
    "--check",
    "check_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Photos (a folder per animal): compare int8 with float32 top-1 and "
    "float32 ONNX with PyTorch.",
)
def edge_export(
    out_dir: Path,
    weights_name: str | None,
    weights_dir: Path | None,
    calibrate_dir: Path,
    check_dir: Path | None,
) -> None:
    """Export the face-ID weights for the phone app, with the manifest it reads.

    Progress goes to stderr; the manifest's summary (and the check's figures)
    to stdout as JSON.
    """
    from livestock import WEIGHTS_DIR, LivestockError, check_export, export_onnx

    started = time.monotonic()

    def log(message: str) -> None:
        click.echo(f"[{time.monotonic() - started:6.1f} s] {message}", err=True)

    options: dict[str, Any] = {"weights": weights_name} if weights_name else {}
    try:
        manifest = export_onnx(
            out_dir,
            calibrate=calibrate_dir,
            weights_dir=weights_dir or WEIGHTS_DIR,
            log=log,
            **options,
        )
        report: dict[str, Any] = {
            "manifest": str(manifest.path),
            "version": manifest.version,
            "source_weights": manifest.source_weights,
            "source_sha256": manifest.source_sha256,
            "files": {
                k: {"path": str(out_dir / f.path), "bytes": f.bytes, "sha256": f.sha256}
                for k, f in manifest.files.items()
            },
        }
        if check_dir is not None:
            report["check"] = check_export(
                out_dir, check_dir, weights_dir=weights_dir or WEIGHTS_DIR, log=log
            ).to_json()
    except LivestockError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(json.dumps(report, indent=2))
    if check_dir is not None:
        c = report["check"]
        click.echo(
            f"top-1 on {c['genuine_queries']} queries of {c['animals']} animals "
            f"({c['held_out']}): float32 {c['top1_float32']:.4f} "
            f"({c['correct_float32']}), int8 {c['top1_int8']:.4f} ({c['correct_int8']}), "
            f"{c['top1_delta_points']:+.2f} points; float32 ONNX vs PyTorch cosine "
            f"min {c['parity_cosine_min']:.6f} over {c['parity_photos']} photos",
            err=True,
        )
