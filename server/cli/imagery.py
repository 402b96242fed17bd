"""``agri imagery``: the scene catalogue the map tiles and the damage assessment read.

``register`` converts a raster's named bands to a Cloud-Optimised GeoTIFF in
``AGRI_IMAGERY_DIR`` and records the scene; ``list`` prints the scenes.
Exit codes: 0 success, 2 usage or input error (the option at fault named).
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from remote_sensing import Scene
    from server.config import Settings
    from server.services.imagery import ImageryService

__all__ = ["DEMO_SCENES", "imagery", "register_demo_scenes"]

# The demo's Sentinel-2 pair: one file, the two dates' bands side by side.
DEMO_SCENES = (
    (
        "austria-2021-06-17",
        date(2021, 6, 17),
        {"red": 1, "green": 2, "blue": 3, "nir": 4},
    ),
    (
        "austria-2021-09-25",
        date(2021, 9, 25),
        {"red": 5, "green": 6, "blue": 7, "nir": 8},
    ),
)
_OPTION = {"name": "--name", "bands": "--bands", "scale": "--scale", "file": "FILE"}


def _service(settings: Settings) -> ImageryService:
    from server.services.imagery import MIB, ImageryService

    return ImageryService(
        settings.resolved_imagery_dir(), cache_bytes=settings.tile_cache_mb * MIB
    )


def register_demo_scenes(folder: Path, source: Path) -> list[Scene]:
    """Register the demo's two scenes of ``source`` in ``folder`` (again: no change).

    Raises:
        server.errors.ServiceError: the file is not the demo's pair.
    """
    from server.services.imagery import ImageryService

    service = ImageryService(folder, cache_bytes=0)
    return [
        service.register(source, name, day, bands, scale=0.0001)
        for name, day, bands in DEMO_SCENES
    ]


def _bands(ctx: click.Context, param: click.Parameter, value: str) -> dict[str, int]:
    bands: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        m = re.fullmatch(r"([A-Za-z]+)\s*=\s*(\d+)", part)
        if not m:
            raise click.BadParameter(
                f"{part!r}: use ROLE=BAND, e.g. red=1,green=2,blue=3,nir=4"
            )
        role = m.group(1).lower()
        if role in bands:
            raise click.BadParameter(f"{role} is named twice")
        bands[role] = int(m.group(2))
    if not bands:
        raise click.BadParameter("name at least one band, e.g. red=1,nir=4")
    return bands


@click.group()
def imagery() -> None:
    """The imagery catalogue (AGRI_IMAGERY_DIR): scenes as Cloud-Optimised GeoTIFFs."""


@imagery.command("register")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Scene name: letters, digits, '-', '_'.")
@click.option(
    "--date",
    "day",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Acquisition date, YYYY-MM-DD.",
)
@click.option(
    "--bands",
    required=True,
    callback=_bands,
    help="Role of each band kept: red=1,green=2,blue=3,nir=4 (roles: red, green, "
    "blue, nir).",
)
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Reflectance = DN x scale (0.0001 for Sentinel-2 L2A).",
)
@click.option(
    "--ignore-descriptions",
    is_flag=True,
    help="Take the band numbers as given even where FILE's band descriptions "
    "(B01..B12, B8A; red, nir) say otherwise.",
)
@click.pass_context
def register(
    ctx: click.Context,
    file: Path,
    name: str,
    day: Any,
    bands: dict[str, int],
    scale: float,
    ignore_descriptions: bool,
) -> None:
    """Convert FILE's named bands to a COG in the catalogue and record the scene.

    Where FILE describes its bands (Sentinel-2: B01..B12, B8A), each role must be
    its band: red B04, green B03, blue B02, nir B08 or B8A (or a band described
    as the role itself); a mismatch is refused, naming it, unless
    --ignore-descriptions.
    """
    from server.errors import ConflictError, ServiceError

    settings: Settings = ctx.obj["settings"]
    service = _service(settings)
    try:
        scene = service.register(
            file,
            name,
            day.date(),
            bands,
            scale=scale,
            check_descriptions=not ignore_descriptions,
        )
    except ConflictError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from exc
    except ServiceError as exc:
        hint = _OPTION.get(exc.field or "", None)
        message = str(exc)
        if " is described " in message:
            message += " (or --ignore-descriptions, if the descriptions are wrong)"
        raise click.BadParameter(message, param_hint=hint) from exc
    doc = scene.to_json() | {"path": str(service.catalogue.path(scene))}
    click.echo(json.dumps(doc, indent=2))


@imagery.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_scenes(ctx: click.Context, as_json: bool) -> None:
    """The scenes of the catalogue, by date then name."""
    from server.errors import ServiceError

    settings: Settings = ctx.obj["settings"]
    service = _service(settings)
    try:
        scenes = service.scenes(0, 1_000_000).items
    except ServiceError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps([s.to_json() for s in scenes], indent=2))
        return
    if not scenes:
        click.echo(f"no scenes in {service.catalogue.folder}")
        return
    click.echo(f"{'name':<24} {'date':<10}  {'bands':<28} {'crs':<11} zoom")
    for s in scenes:
        bands = ",".join(f"{k}={v}" for k, v in s.bands.items())
        click.echo(
            f"{s.name:<24} {s.date.isoformat():<10}  {bands:<28} {s.crs:<11} "
            f"{s.minzoom}-{s.maxzoom}"
        )
