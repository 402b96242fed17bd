"""``agri plots`` and ``agri damage``: underwriting and claims by map, on files.

Tables go to stdout (or JSON with ``--json``), progress and logs to stderr.
Exit codes: 0 success, 2 usage or input error (a file that cannot be read).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from remote_sensing import CloudMask, Tolerance

__all__ = ["damage", "plots"]


def _fmt(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


class _Parsed(click.ParamType):  # type: ignore[type-arg]
    """A parameter parsed by a remote_sensing function; its errors become usage errors.

    ``load`` returns the parse function and the type it gives; it runs on the first
    value, so that defining the option imports no remote_sensing module (fast --help).
    """

    def __init__(
        self, name: str, load: Callable[[], tuple[Callable[[str], Any], type]]
    ) -> None:
        self.name = name
        self._load = load

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Any:
        from remote_sensing import RemoteSensingError

        parse, parsed = self._load()
        if isinstance(value, parsed):
            return value
        try:
            return parse(str(value))
        except RemoteSensingError as exc:
            self.fail(str(exc), param, ctx)


def _tolerance() -> tuple[Callable[[str], Any], type]:
    from remote_sensing import Tolerance

    return Tolerance.parse, Tolerance


def _band_map() -> tuple[Callable[[str], Any], type]:
    from remote_sensing import parse_band_map

    return parse_band_map, dict


TOLERANCE = _Parsed("tolerance", _tolerance)
INPUT = click.Path(exists=True, dir_okay=False, path_type=Path)
PLOTS_OPTION = click.option(
    "--plots",
    "plots_file",
    required=True,
    type=INPUT,
    help="Plot file: GeoJSON, GeoPackage, zipped Shapefile or KML.",
)
BANDS = _Parsed("bands", _band_map)


@click.group()
def plots() -> None:
    """Plots by map: geodesic area, declared vs measured, overlaps."""


@plots.command("check")
@click.argument("file", type=INPUT)
@click.option("--layer", help="Layer to read (default: the first).")
@click.option(
    "--id-column", help="Column with plot ids (default: an 'id'-like column)."
)
@click.option("--declared-column", help="Column with the declared area.")
@click.option(
    "--declared-unit",
    type=click.Choice(["ha", "m2", "mu"]),
    default="ha",
    show_default=True,
    help="Unit of the declared-area column.",
)
@click.option(
    "--tolerance",
    type=TOLERANCE,
    default="iacs",
    show_default=True,
    help="'iacs' (1.25 m x perimeter, at most 1 ha), 'iacs:<metres>' or a percentage like '2%'.",
)
@click.option(
    "--min-overlap-m2",
    type=click.FloatRange(min=0),
    default=100.0,
    show_default=True,
    help="Overlaps of this many m2 or less are ignored.",
)
@click.option(
    "--min-area-m2", type=click.FloatRange(min=0), default=10.0, show_default=True
)
@click.option(
    "--max-area-ha", type=click.FloatRange(min=0), default=10_000.0, show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: rows and summary.")
def plots_check(
    file: Path,
    layer: str | None,
    id_column: str | None,
    declared_column: str | None,
    declared_unit: str,
    tolerance: Tolerance,
    min_overlap_m2: float,
    min_area_m2: float,
    max_area_ha: float,
    as_json: bool,
) -> None:
    """Measure every plot of FILE and check declared areas and overlaps.

    FILE is GeoJSON, GeoPackage, a zipped Shapefile or KML, in any declared CRS.
    """
    from remote_sensing import (
        RemoteSensingError,
        ValidationRules,
        check_plots,
        read_plots,
    )

    try:
        rules = ValidationRules(min_area_m2=min_area_m2, max_area_ha=max_area_ha)
        plot_set = read_plots(
            file,
            layer=layer,
            id_column=id_column,
            declared_column=declared_column,
            declared_unit=declared_unit,
            rules=rules,
        )
        report = check_plots(
            plot_set, tolerance=tolerance, min_overlap_m2=min_overlap_m2
        )
    except RemoteSensingError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        doc = {"plots": [r.to_json() for r in report.rows], "summary": report.summary()}
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    header = (
        f"{'plot_id':<20} {'area_ha':>10} {'area_mu':>10} {'declared_ha':>11} "
        f"{'ratio':>7} {'verdict':<17} {'problems':<28} overlaps"
    )
    click.echo(header)
    for r in report.rows:
        problems = ",".join(p.code for p in r.problems if p.severity != "info") or "-"
        overlaps = (
            ",".join(f"{o.other_id}({o.area_ha:.2f}ha)" for o in r.overlaps) or "-"
        )
        click.echo(
            f"{r.plot_id[:20]:<20} {_fmt(r.area_ha, 4):>10} {_fmt(r.area_mu, 2):>10} "
            f"{_fmt(r.declared_ha, 4):>11} {_fmt(r.ratio, 4):>7} {r.verdict:<17} "
            f"{problems[:28]:<28} {overlaps}"
        )
    s = report.summary()
    click.echo("")
    click.echo(
        f"{s['plots']} plots, {s['measured']} measured, {s['total_area_ha']:.4f} ha in all; "
        f"verdicts: {', '.join(f'{k} {v}' for k, v in s['verdicts'].items())}"
    )
    if s["compared"]:
        click.echo(
            f"declared vs measured: {s['within_tolerance']} of {s['compared']} within "
            f"tolerance ({s['within_share'] * 100:.1f} %); ratio median {s['median_ratio']}, "
            f"5-95 % {s['p05_ratio']} - {s['p95_ratio']}"
        )
    click.echo(s["note"])
    if s["problems"]:
        click.echo(
            "problems: " + ", ".join(f"{k} {v}" for k, v in s["problems"].items())
        )
    if s["fixed"]:
        click.echo("fixed: " + ", ".join(f"{k} {v}" for k, v in s["fixed"].items()))
    click.echo(f"overlapping pairs: {s['overlapping_pairs']}")
    for r in report.rows:
        details = [p for p in r.problems if p.severity != "info"]
        for p in details:
            click.echo(f"  {r.plot_id}: {p.severity}: {p.message}", file=sys.stderr)


@click.group()
def damage() -> None:
    """Crop damage by map: NDVI before and after, damaged fraction and area."""


def _cloud_mask(text: str | None) -> CloudMask | None:
    """``PATH[:BAND][=V1,V2]``, or ``band:N=V1,V2`` for a band of the image itself."""
    from remote_sensing import CloudMask

    if not text:
        return None
    values = frozenset({1})
    if "=" in text:
        text, classes = text.rsplit("=", 1)
        try:
            values = frozenset(int(v) for v in classes.split(",") if v.strip())
        except ValueError as exc:
            raise click.BadParameter(
                f"cloud classes {classes!r} must be integers"
            ) from exc
    band = 1
    head, _, tail = text.rpartition(":")
    if head and tail.isdigit():
        text, band = head, int(tail)
    if text == "band":
        return CloudMask(None, band, values)
    return CloudMask(Path(text), band, values)


@damage.command("assess")
@PLOTS_OPTION
@click.option(
    "--before",
    required=True,
    type=INPUT,
)
@click.option(
    "--after",
    required=True,
    type=INPUT,
)
@click.option(
    "--before-bands",
    type=BANDS,
    default="red=1,nir=4",
    show_default=True,
    help="Band map of the before image (red, nir, optional blue for EVI).",
)
@click.option(
    "--after-bands",
    type=BANDS,
    default=None,
    help="Band map of the after image (default: same as --before-bands).",
)
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Reflectance = DN x scale (0.0001 for Sentinel-2 L2A).",
)
@click.option(
    "--nodata",
    type=float,
    default=None,
    help="DN meaning no data (default: the file's).",
)
@click.option(
    "--before-clouds",
    help="Cloud mask of the before image: PATH[:BAND][=V1,V2] or band:N=V1,V2.",
)
@click.option("--after-clouds", help="Cloud mask of the after image, same form.")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 2, min_open=True),
    default=0.3,
    show_default=True,
    help="An NDVI drop of at least this is damage.",
)
@click.option(
    "--min-clear",
    type=click.FloatRange(0, 1),
    default=0.8,
    show_default=True,
    help="Minimum clear fraction for figures to be given.",
)
@click.option("--id-column", help="Column with plot ids.")
@click.option("--layer", help="Layer of the plot file.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a GeoJSON FeatureCollection of the plots with their figures.",
)
@click.option(
    "--polygons-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the damaged areas, clipped to each plot, as GeoJSON.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON rows instead of a table."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress on stderr (default: on a terminal).",
)
def damage_assess(
    plots_file: Path,
    before: Path,
    after: Path,
    before_bands: dict[str, int],
    after_bands: dict[str, int] | None,
    scale: float,
    nodata: float | None,
    before_clouds: str | None,
    after_clouds: str | None,
    threshold: float,
    min_clear: float,
    id_column: str | None,
    layer: str | None,
    out: Path | None,
    polygons_out: Path | None,
    as_json: bool,
    progress: bool | None,
) -> None:
    """Assess crop damage per plot from a BEFORE and an AFTER image."""
    import shapely

    from remote_sensing import (
        DamageOptions,
        ImageSpec,
        RemoteSensingError,
        assess_damage,
        damage_polygons,
        read_plots,
    )

    show_progress = sys.stderr.isatty() if progress is None else progress
    last = [-1]

    def report(frac: float, message: str) -> None:
        pct = int(frac * 100)
        if pct // 10 != last[0] // 10 or pct == 100:
            last[0] = pct
            click.echo(f"assessing plots: {pct} %", err=True)

    try:
        plot_set = read_plots(plots_file, layer=layer, id_column=id_column)
        options = DamageOptions(threshold=threshold, min_clear_fraction=min_clear)
        spec_b = ImageSpec(
            before,
            before_bands,
            scale=scale,
            nodata=nodata,
            cloud_mask=_cloud_mask(before_clouds),
        )
        spec_a = ImageSpec(
            after,
            after_bands or before_bands,
            scale=scale,
            nodata=nodata,
            cloud_mask=_cloud_mask(after_clouds),
        )
        rows = assess_damage(
            plot_set,
            spec_b,
            spec_a,
            options,
            progress=report if show_progress else None,
        )
        polygons = (
            list(damage_polygons(plot_set, rows, spec_b, spec_a, options))
            if polygons_out
            else []
        )
    except RemoteSensingError as exc:
        raise click.UsageError(str(exc)) from exc
    if out is not None:
        features = [
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(g) if g is not None else None,
                "properties": r.to_properties(),
            }
            for g, r in zip(plot_set.geometry, rows, strict=True)
        ]
        _write_json(out, {"type": "FeatureCollection", "features": features})
    if polygons_out is not None:
        _write_json(polygons_out, {"type": "FeatureCollection", "features": polygons})
    if as_json:
        click.echo(
            json.dumps([r.to_properties() for r in rows], indent=2, ensure_ascii=False)
        )
    else:
        click.echo(
            f"{'plot_id':<20} {'area_ha':>9} {'clear':>6} {'ndvi_bef':>8} {'ndvi_aft':>8} "
            f"{'damaged':>8} {'dmg_ha':>8} {'dmg_mu':>8}  status"
        )
        for r in rows:
            click.echo(
                f"{r.plot_id[:20]:<20} {_fmt(r.area_m2 / 10_000, 4):>9} "
                f"{_fmt(r.clear_fraction, 2):>6} {_fmt(r.ndvi_before, 3):>8} "
                f"{_fmt(r.ndvi_after, 3):>8} {_fmt(r.damaged_fraction, 3):>8} "
                f"{_fmt(r.damaged_area_ha, 4):>8} {_fmt(r.damaged_area_mu, 2):>8}  {r.status}"
            )
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    assessed = [r for r in rows if r.status == "assessed"]
    total = sum(r.damaged_area_m2 for r in assessed) / 10_000
    click.echo(
        f"{len(rows)} plots: "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        + f"; damaged area {total:.4f} ha over assessed plots",
        err=as_json,
    )
    for r in rows:
        if r.reason:
            click.echo(f"  {r.plot_id}: {r.status}: {r.reason}", err=True)


def _write_json(path: Path, doc: Any) -> None:
    """Write atomically: a temporary file renamed into place (never a partial file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False))
    tmp.replace(path)


@damage.command("series")
@PLOTS_OPTION
@click.option(
    "--ndvi",
    "ndvi_stack",
    required=True,
    type=INPUT,
    help="NDVI stack, one band per date.",
)
@click.option(
    "--clouds",
    "cloud_stack",
    type=INPUT,
    help="Cloud stack on the same grid, one band per date (1 = cloud).",
)
@click.option(
    "--dates",
    "dates_json",
    type=INPUT,
    help="JSON list of ISO dates, one per band (default: the band descriptions).",
)
@click.option("--loss-date", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option(
    "--window-days", type=click.IntRange(min=1), default=30, show_default=True
)
@click.option("--id-column", help="Column with plot ids.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON with every observation."
)
def damage_series(
    plots_file: Path,
    ndvi_stack: Path,
    cloud_stack: Path | None,
    dates_json: Path | None,
    loss_date: Any,
    window_days: int,
    id_column: str | None,
    as_json: bool,
) -> None:
    """NDVI around LOSS-DATE per plot, beside the same weeks of earlier seasons."""
    from remote_sensing import (
        RemoteSensingError,
        loss_context,
        ndvi_series,
        read_dates,
        read_plots,
    )

    day = loss_date.date()
    try:
        plot_set = read_plots(plots_file, id_column=id_column)
        dates = read_dates(ndvi_stack, dates_json)
        series = ndvi_series(plot_set, ndvi_stack, dates=dates, cloud_stack=cloud_stack)
    except RemoteSensingError as exc:
        raise click.UsageError(str(exc)) from exc
    contexts = [loss_context(s, day, window_days=window_days) for s in series]
    if as_json:
        click.echo(json.dumps([_context_json(c) for c in contexts], indent=2))
        return
    click.echo(
        f"{'plot_id':<20} {'before':>7} {'after':>7} {'drop':>7} {'typical':>8} "
        f"{'seasons':>7}  verdict"
    )
    for c in contexts:
        click.echo(
            f"{c.plot_id[:20]:<20} {_fmt(c.season.ndvi_before, 3):>7} "
            f"{_fmt(c.season.ndvi_after, 3):>7} {_fmt(c.season.drop, 3):>7} "
            f"{_fmt(c.typical_drop, 3):>8} {len(c.earlier):>7}  {c.verdict}"
        )


def _context_json(c: Any) -> dict[str, Any]:
    from remote_sensing import json_number

    def window(w: Any) -> dict[str, Any]:
        return {
            "year": w.year,
            "start": w.start.isoformat(),
            "end": w.end.isoformat(),
            "ndvi_before": json_number(w.ndvi_before),
            "ndvi_after": json_number(w.ndvi_after),
            "drop": json_number(w.drop),
            "points": [
                {
                    "date": p.date.isoformat(),
                    "ndvi": json_number(p.ndvi),
                    "clear_fraction": round(p.clear_fraction, 4),
                }
                for p in w.points
            ],
        }

    return {
        "plot_id": c.plot_id,
        "loss_date": c.loss_date.isoformat(),
        "window_days": c.window_days,
        "verdict": c.verdict,
        "typical_drop": json_number(c.typical_drop),
        "excess_drop": json_number(c.excess_drop),
        "season": window(c.season),
        "earlier": [window(w) for w in c.earlier],
    }
