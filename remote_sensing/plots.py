"""Plots: read from GeoJSON, GeoPackage, zipped Shapefile or KML, validate, measure.

A :class:`PlotSet` holds every plot of a file in WGS84 (RFC 7946 lon/lat) with
its id, its declared area when the file has one, its planar area in the file's
own projected CRS (registers often declare that), and the problems found. One
bad plot never sinks a file: its problems are listed and the others go on.
"""

from __future__ import annotations

import math
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyogrio
import pyogrio.raw
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from remote_sensing.errors import ParameterError, PlotFileError, UnsafeArchiveError
from remote_sensing.geodesy import geodesic_area_perimeter

__all__ = [
    "AREA_UNITS",
    "MAX_PLOT_ID",
    "PlotSet",
    "Problem",
    "ValidationRules",
    "check_zip_archive",
    "plots_from_geometries",
    "read_plots",
]

Severity = Literal["error", "warning", "info"]
AREA_UNITS = {"m2": 1.0, "ha": 10_000.0, "mu": 10_000.0 / 15.0}
"""Square metres per unit of a declared-area column."""

MAX_PLOT_ID = 128
"""The longest plot id a file may give, in characters (a claim names its plot in 128)."""

_ID_CANDIDATES = ("plot_id", "id", "ID", "Id", "fid", "FID", "name", "Name")
_WGS84 = CRS.from_epsg(4326)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one plot.

    Attributes:
        code: a stable machine-readable code, e.g. ``self_intersecting``.
        message: what is wrong, for a person.
        severity: ``error`` (the plot cannot be measured or insured as is),
            ``warning`` (measured, but someone should look) or ``info`` (fixed
            automatically, e.g. ring orientation).
    """

    code: str
    message: str
    severity: Severity = "error"


@dataclass(frozen=True)
class ValidationRules:
    """Bounds for plot validation; every field is configurable.

    Attributes:
        min_area_m2: smaller plots are absurd (default 10 m2).
        max_area_ha: larger plots are absurd (default 10,000 ha).
        max_vertices: more vertices than this is refused before any work.
        sliver_width_m: a plot whose mean width (2 x area / perimeter) is below
            this is a sliver (default 2 m).
    """

    min_area_m2: float = 10.0
    max_area_ha: float = 10_000.0
    max_vertices: int = 100_000
    sliver_width_m: float = 2.0

    def __post_init__(self) -> None:
        if not (
            0 <= self.min_area_m2 < self.max_area_ha * 10_000
            and self.max_vertices >= 4
            and self.sliver_width_m >= 0
        ):
            raise ParameterError(f"inconsistent validation bounds: {self}")


@dataclass
class PlotSet:
    """Plots of one file, in WGS84, with their measurements and problems.

    Attributes:
        ids: one string id per plot (the id column, else the 1-based row number).
        geometry: shapely geometries in WGS84 lon/lat; a repaired geometry where
            the original was invalid; ``None`` where nothing usable remains.
        declared_m2: declared area per plot in m2 (NaN where none).
        area_m2: geodesic area on the WGS84 ellipsoid (NaN where unmeasurable).
        perimeter_m: geodesic perimeter, holes included.
        planar_m2: area in the source CRS when it is projected, else NaN.
        problems: the problems of each plot, in order found.
        source_crs: the CRS the file declared.
        source: where the plots came from (a path or a label).
    """

    ids: list[str]
    geometry: npt.NDArray[np.object_]
    declared_m2: npt.NDArray[np.float64]
    area_m2: npt.NDArray[np.float64]
    perimeter_m: npt.NDArray[np.float64]
    planar_m2: npt.NDArray[np.float64]
    problems: list[list[Problem]]
    source_crs: CRS
    source: str = ""
    declared_column: str | None = None
    rules: ValidationRules = field(default_factory=ValidationRules)

    def __len__(self) -> int:
        return len(self.ids)

    def has_error(self, i: int) -> bool:
        """Whether plot ``i`` has an error-severity problem."""
        return any(p.severity == "error" for p in self.problems[i])

    @property
    def usable(self) -> npt.NDArray[np.bool_]:
        """Plots that have a geometry and no error (safe to measure imagery on)."""
        return np.array(
            [
                g is not None and not self.has_error(i)
                for i, g in enumerate(self.geometry)
            ],
            dtype=bool,
        )


def check_zip_archive(
    path: Path, *, max_bytes: int = 1 << 30, max_ratio: float = 200.0
) -> None:
    """Refuse a zip that would expand past ``max_bytes`` or by more than ``max_ratio``.

    Raises:
        UnsafeArchiveError: not a zip, corrupt, too large once expanded, or a
            member compressed more than ``max_ratio`` times (a zip bomb).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsafeArchiveError(
            f"{path.name}: not a readable zip archive ({exc})"
        ) from exc
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        raise UnsafeArchiveError(
            f"{path.name}: expands to {total:,} bytes, over the limit of {max_bytes:,}"
        )
    for m in members:
        if m.file_size > 1 << 20 and m.file_size > max_ratio * max(m.compress_size, 1):
            raise UnsafeArchiveError(
                f"{path.name}: member {m.filename!r} expands {m.file_size:,} bytes from "
                f"{m.compress_size:,} (ratio over {max_ratio:g}): refused as a zip bomb"
            )


def read_plots(
    path: str | Path,
    *,
    layer: str | None = None,
    id_column: str | None = None,
    declared_column: str | None = None,
    declared_unit: str = "ha",
    rules: ValidationRules | None = None,
    max_archive_bytes: int = 1 << 30,
) -> PlotSet:
    """Read and validate every plot of a GeoJSON, GeoPackage, zipped Shapefile or KML.

    Args:
        path: the file. A ``.zip`` is checked for zip bombs, then read through GDAL.
        layer: the layer to read (default: the first).
        id_column: column holding plot ids (default: a column named like ``id``,
            else the 1-based row number).
        declared_column: column holding the declared area, if any.
        declared_unit: unit of ``declared_column``: ``ha``, ``m2`` or ``mu``.
        rules: validation bounds.
        max_archive_bytes: refuse archives that expand past this.

    Raises:
        PlotFileError: the file as a whole cannot be read (missing, corrupt,
            unknown format, no CRS, unknown column). Problems of single plots are
            reported in the result instead.
    """
    path = Path(path)
    if not path.is_file():
        raise PlotFileError(f"{path}: no such file")
    if declared_unit not in AREA_UNITS:
        raise ParameterError(f"declared unit must be one of {sorted(AREA_UNITS)}")
    if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
        check_zip_archive(path, max_bytes=max_archive_bytes)
    try:
        layers = pyogrio.list_layers(path)
        if len(layers) == 0:
            raise PlotFileError(f"{path.name}: the file holds no layer")
        name = layer if layer is not None else str(layers[0][0])
        meta = pyogrio.read_info(path, layer=name)
        columns = [str(c) for c in meta["fields"]]
        for option, wanted in (
            ("id_column", id_column),
            ("declared_column", declared_column),
        ):
            if wanted is not None and wanted not in columns:
                raise PlotFileError(
                    f"{path.name}: no column {wanted!r}; columns are "
                    f"{', '.join(columns)}",
                    field=option,
                )
        if id_column is None:
            id_column = next((c for c in _ID_CANDIDATES if c in columns), None)
        wanted_cols = [c for c in (id_column, declared_column) if c is not None]
        # Raw WKB, decoded below plot by plot: one unreadable geometry (a ring
        # of two points, say) must not sink the whole file.
        read_meta, _, wkb, field_data = pyogrio.raw.read(
            path, layer=name, columns=wanted_cols
        )
    except PlotFileError:
        raise
    except Exception as exc:  # GDAL reports corrupt and unknown files many ways
        # GDAL's words, without the server's folder and at most 300 characters.
        words = str(exc).replace(str(path), path.name)
        words = words if len(words) <= 300 else words[:300] + "..."
        raise PlotFileError(f"{path.name}: cannot read plots ({words})") from exc
    if read_meta.get("crs") is None:
        raise PlotFileError(
            f"{path.name}: the file declares no coordinate reference system"
        )
    crs = CRS.from_user_input(read_meta["crs"])
    n = len(wkb)
    fields = dict(zip([str(f) for f in read_meta["fields"]], field_data, strict=True))
    ids = (
        [_id_text(v) for v in fields[id_column].tolist()]
        if id_column is not None
        else [str(i + 1) for i in range(n)]
    )
    _check_ids(path.name, ids)
    declared = np.full(n, np.nan)
    if declared_column is not None:
        declared = (
            np.array(
                [_as_float(v) for v in fields[declared_column].tolist()], dtype=float
            )
            * AREA_UNITS[declared_unit]
        )
    geometries = np.empty(n, dtype=object)
    # A NaN coordinate makes GEOS's reader warn (numpy's "invalid value"); the
    # plot's problem is reported below instead. np.errstate is per thread.
    with np.errstate(invalid="ignore"):
        for i, raw in enumerate(wkb):
            if raw is not None:
                geometries[i] = shapely.from_wkb(raw, on_invalid="ignore")
    return plots_from_geometries(
        geometries,
        crs,
        ids=ids,
        declared_m2=declared,
        rules=rules,
        source=str(path),
        declared_column=declared_column,
    )


def _check_ids(name: str, ids: Sequence[str]) -> None:
    """Refuse a file whose plot ids cannot name a plot (the whole file: ids are its keys).

    An id is at most :data:`MAX_PLOT_ID` characters and holds no control
    character (Unicode ``Cc``, bidirectional overrides): it is shown on maps and
    pages, written to the ledger, and a claim names its plot by it.

    Raises:
        PlotFileError: naming the row (1-based) and the problem.
    """
    for row, plot_id in enumerate(ids, start=1):
        if len(plot_id) > MAX_PLOT_ID:
            raise PlotFileError(
                f"{name}: the id of plot {row} is {len(plot_id):,} characters long; "
                f"at most {MAX_PLOT_ID}"
            )
        for at, c in enumerate(plot_id):
            if unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS:
                raise PlotFileError(
                    f"{name}: the id of plot {row} holds a control character "
                    f"(U+{ord(c):04X}) at position {at}"
                )


_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    "\u2028\u2029"
)


def _id_text(value: object) -> str:
    """A plot id as text; whole numbers stored as reals lose their ``.0``.

    >>> _id_text(106806035.0), _id_text("AT-1"), _id_text(7)
    ('106806035', 'AT-1', '7')
    """
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_float(value: object) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) and out >= 0 else math.nan


def plots_from_geometries(
    geometries: Sequence[shapely.Geometry | None] | npt.NDArray[np.object_],
    crs: CRS | str | int = 4326,
    *,
    ids: Sequence[str] | None = None,
    declared_m2: npt.ArrayLike | None = None,
    rules: ValidationRules | None = None,
    source: str = "",
    declared_column: str | None = None,
) -> PlotSet:
    """Validate geometries in ``crs``, move them to WGS84 and measure them.

    Args:
        geometries: shapely geometries (``None`` allowed) in ``crs``.
        crs: their coordinate reference system (anything pyproj accepts).
        ids: plot ids (default: 1-based row numbers).
        declared_m2: declared areas in m2 (NaN where none).
        rules: validation bounds.
        source: a label for reports.
        declared_column: the column declared areas came from, for reports.
    """
    rules = rules or ValidationRules()
    try:
        crs = CRS.from_user_input(crs)
    except CRSError as exc:
        raise PlotFileError(
            f"{source or 'plots'}: unknown CRS {crs!r} ({exc})"
        ) from exc
    geoms = np.empty(len(geometries), dtype=object)
    geoms[:] = list(geometries)
    n = len(geoms)
    ids = [str(i + 1) for i in range(n)] if ids is None else [str(i) for i in ids]
    if len(ids) != n:
        raise ParameterError(f"{n} geometries but {len(ids)} ids")
    declared = (
        np.full(n, np.nan)
        if declared_m2 is None
        else np.asarray(declared_m2, dtype=float).reshape(n)
    )
    problems: list[list[Problem]] = [[] for _ in range(n)]

    _check_shapes(geoms, problems, rules)
    planar = np.full(n, np.nan)
    if crs.is_projected:
        ok = np.array([g is not None for g in geoms], dtype=bool)
        planar[ok] = shapely.area(geoms[ok].astype(object))
    wgs = _to_wgs84(geoms, crs, problems)
    _check_swapped(wgs, problems)
    _repair(wgs, problems)
    area, perimeter = geodesic_area_perimeter(wgs)
    _check_sizes(area, perimeter, problems, rules)
    return PlotSet(
        ids=ids,
        geometry=wgs,
        declared_m2=declared,
        area_m2=area,
        perimeter_m=perimeter,
        planar_m2=planar,
        problems=problems,
        source_crs=crs,
        source=source,
        declared_column=declared_column,
        rules=rules,
    )


def _check_shapes(
    geoms: npt.NDArray[np.object_],
    problems: list[list[Problem]],
    rules: ValidationRules,
) -> None:
    """Empty, non-polygonal, too many vertices, non-finite: set the geometry to None."""
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            problems[i].append(Problem("empty", "the plot has no geometry"))
        elif g.geom_type == "GeometryCollection":
            polys = [p for p in shapely.get_parts(g) if p.geom_type.endswith("Polygon")]
            if not polys:
                problems[i].append(
                    Problem("not_polygon", "a GeometryCollection without polygons")
                )
            else:
                geoms[i] = shapely.union_all(polys)
                problems[i].append(
                    Problem(
                        "collection",
                        "a GeometryCollection: only its polygons are kept",
                        "warning",
                    )
                )
                continue
        elif g.geom_type not in ("Polygon", "MultiPolygon"):
            problems[i].append(
                Problem(
                    "not_polygon", f"a {g.geom_type}, not a Polygon or MultiPolygon"
                )
            )
        else:
            count = shapely.get_num_coordinates(g)
            if count > rules.max_vertices:
                problems[i].append(
                    Problem(
                        "too_many_vertices",
                        f"{count:,} vertices, over the limit of {rules.max_vertices:,}",
                    )
                )
            elif not np.isfinite(shapely.get_coordinates(g)).all():
                problems[i].append(
                    Problem("non_finite_coordinates", "a coordinate is NaN or infinite")
                )
            else:
                continue
        geoms[i] = None


def _to_wgs84(
    geoms: npt.NDArray[np.object_], crs: CRS, problems: list[list[Problem]]
) -> npt.NDArray[np.object_]:
    out = np.empty(len(geoms), dtype=object)
    ok = np.array([g is not None for g in geoms], dtype=bool)
    if crs.equals(_WGS84, ignore_axis_order=True):
        out[ok] = geoms[ok]
    else:
        transformer = Transformer.from_crs(crs, _WGS84, always_xy=True)
        moved = shapely.transform(
            geoms[ok],
            lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])),
        )
        out[ok] = moved
    for i in np.flatnonzero(ok):
        xy = shapely.get_coordinates(out[i])
        if not np.isfinite(xy).all():
            problems[i].append(
                Problem(
                    "out_of_range",
                    f"coordinates cannot be placed on Earth from {crs.name}",
                )
            )
            out[i] = None
            continue
        lon_bad = (np.abs(xy[:, 0]) > 180).any()
        lat_bad = (np.abs(xy[:, 1]) > 90).any()
        if lat_bad or lon_bad:
            swapped_ok = (np.abs(xy[:, 1]) <= 180).all() and (
                np.abs(xy[:, 0]) <= 90
            ).all()
            if swapped_ok:
                problems[i].append(
                    Problem(
                        "lat_lon_swapped",
                        "latitude is out of range but the swapped coordinates are valid: "
                        "latitude and longitude look swapped",
                    )
                )
            else:
                problems[i].append(
                    Problem(
                        "out_of_range",
                        "coordinates outside longitude ±180 / latitude ±90",
                    )
                )
            out[i] = None
    return out


def _check_swapped(
    geoms: npt.NDArray[np.object_], problems: list[list[Problem]]
) -> None:
    """Flag plots that sit far from the others while their swapped twin sits among them."""
    ok = np.array([g is not None for g in geoms], dtype=bool)
    if ok.sum() < 3:
        return
    centres = shapely.get_coordinates(shapely.centroid(geoms[ok].astype(object)))
    median = np.median(centres, axis=0)
    spread = np.median(np.abs(centres - median), axis=0).max() + 0.05
    for j, i in enumerate(np.flatnonzero(ok)):
        x, y = centres[j]
        far = max(abs(x - median[0]), abs(y - median[1])) > 20 * spread + 1.0
        near_if_swapped = max(abs(y - median[0]), abs(x - median[1])) < 5 * spread
        if far and near_if_swapped:
            problems[i].append(
                Problem(
                    "lat_lon_swapped",
                    f"at lon {x:.4f}, lat {y:.4f}, far from the other plots; with latitude "
                    "and longitude swapped it lies among them",
                )
            )
            geoms[i] = None


def _repair(geoms: npt.NDArray[np.object_], problems: list[list[Problem]]) -> None:
    for i, g in enumerate(geoms):
        if g is None:
            continue
        repaired_here = False
        if not g.is_valid:
            repaired_here = True
            reason = shapely.is_valid_reason(g)
            repaired = _polygonal(shapely.make_valid(g, method="structure"))
            before = abs(geodesic_area_perimeter([shapely.orient_polygons(g)])[0][0])
            after = (
                geodesic_area_perimeter([repaired])[0][0]
                if repaired is not None
                else 0.0
            )
            change = (after - before) / before * 100 if before > 0 else math.inf
            code = (
                "self_intersecting"
                if "Self-intersection" in reason
                else "invalid_geometry"
            )
            problems[i].append(
                Problem(
                    code,
                    f"invalid geometry ({reason}); the repaired geometry changes the area "
                    f"by {change:+.2f} % ({before:.0f} -> {after:.0f} m2)",
                )
            )
            if repaired is None:
                geoms[i] = None
                continue
            g = repaired
        oriented = shapely.orient_polygons(g, exterior_cw=False)
        if not repaired_here and not oriented.equals_exact(g, tolerance=0.0):
            problems[i].append(
                Problem(
                    "ring_orientation",
                    "rings not oriented as RFC 7946 requires (exterior counter-clockwise, "
                    "holes clockwise): reoriented",
                    "info",
                )
            )
        geoms[i] = oriented


def _polygonal(g: shapely.Geometry) -> shapely.Geometry | None:
    parts = [
        p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")
    ]
    if not parts:
        return None
    return shapely.union_all(parts)


def _check_sizes(
    area: npt.NDArray[np.float64],
    perimeter: npt.NDArray[np.float64],
    problems: list[list[Problem]],
    rules: ValidationRules,
) -> None:
    for i in np.flatnonzero(np.isfinite(area)):
        a, p = float(area[i]), float(perimeter[i])
        if a < rules.min_area_m2:
            problems[i].append(
                Problem(
                    "too_small",
                    f"{a:.1f} m2, below the minimum of {rules.min_area_m2:g} m2",
                )
            )
        elif a > rules.max_area_ha * 10_000:
            problems[i].append(
                Problem(
                    "too_large",
                    f"{a / 10_000:,.1f} ha, above the maximum of {rules.max_area_ha:,g} ha",
                )
            )
        elif p > 0 and 2 * a / p < rules.sliver_width_m:
            problems[i].append(
                Problem(
                    "sliver",
                    f"a sliver: mean width {2 * a / p:.2f} m (area {a:.0f} m2, perimeter "
                    f"{p:.0f} m)",
                    "warning",
                )
            )
