"""Plots and imagery: geodesic area, declared vs measured, overlaps, NDVI and crop damage.

Measurements that underwriting and claims decide on, from plot files and
rasters. Geometry is stored in WGS84 (RFC 7946); areas are geodesic on the
WGS84 ellipsoid; zonal statistics use exactextract's exact partial-pixel
coverage; rasters are read window by window with rasterio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from remote_sensing.catalogue import (
        BAND_ROLES,
        Scene,
        SceneCatalogue,
        SceneExistsError,
        SceneNotFoundError,
        check_scene_name,
    )
    from remote_sensing.check import OverlapRef, PlotCheck, PlotCheckReport, check_plots
    from remote_sensing.damage import (
        DamageAssessment,
        DamageOptions,
        assess_damage,
        damage_polygons,
    )
    from remote_sensing.declared import DeclaredSummary, Tolerance, compare_declared
    from remote_sensing.errors import (
        BandError,
        GridMismatchError,
        ParameterError,
        PlotFileError,
        RasterError,
        RemoteSensingError,
        UnsafeArchiveError,
    )
    from remote_sensing.geodesy import geodesic_area, geodesic_area_perimeter
    from remote_sensing.imagery import (
        CloudMask,
        ImageSpec,
        parse_band_map,
        reusing_datasets,
    )
    from remote_sensing.overlaps import Overlaps, find_overlaps
    from remote_sensing.plots import (
        PlotSet,
        Problem,
        ValidationRules,
        plots_from_geometries,
        read_plots,
    )
    from remote_sensing.tiles import (
        DAMAGE_THRESHOLD,
        LAYERS,
        TILE_FORMATS,
        Layer,
        TileSource,
        layer_roles,
        render_tile,
        tile_ndvi,
        tile_read_pixels,
    )
    from remote_sensing.timeseries import (
        LossContext,
        PlotSeries,
        SeasonWindow,
        SeriesPoint,
        loss_context,
        ndvi_series,
        read_dates,
    )
    from remote_sensing.units import M2_PER_HA, M2_PER_MU, json_number

# Public name -> the submodule that defines it. Importing the package loads
# nothing else; a name's submodule (and its libraries) loads on first use (PEP 562).
_SUBMODULE = {
    "M2_PER_HA": "remote_sensing.units",
    "M2_PER_MU": "remote_sensing.units",
    "BandError": "remote_sensing.errors",
    "CloudMask": "remote_sensing.imagery",
    "DamageAssessment": "remote_sensing.damage",
    "DamageOptions": "remote_sensing.damage",
    "DeclaredSummary": "remote_sensing.declared",
    "GridMismatchError": "remote_sensing.errors",
    "ImageSpec": "remote_sensing.imagery",
    "LossContext": "remote_sensing.timeseries",
    "OverlapRef": "remote_sensing.check",
    "Overlaps": "remote_sensing.overlaps",
    "ParameterError": "remote_sensing.errors",
    "PlotCheck": "remote_sensing.check",
    "PlotCheckReport": "remote_sensing.check",
    "PlotFileError": "remote_sensing.errors",
    "PlotSeries": "remote_sensing.timeseries",
    "PlotSet": "remote_sensing.plots",
    "Problem": "remote_sensing.plots",
    "RasterError": "remote_sensing.errors",
    "RemoteSensingError": "remote_sensing.errors",
    "SeasonWindow": "remote_sensing.timeseries",
    "SeriesPoint": "remote_sensing.timeseries",
    "Tolerance": "remote_sensing.declared",
    "UnsafeArchiveError": "remote_sensing.errors",
    "ValidationRules": "remote_sensing.plots",
    "assess_damage": "remote_sensing.damage",
    "check_plots": "remote_sensing.check",
    "compare_declared": "remote_sensing.declared",
    "damage_polygons": "remote_sensing.damage",
    "find_overlaps": "remote_sensing.overlaps",
    "geodesic_area": "remote_sensing.geodesy",
    "geodesic_area_perimeter": "remote_sensing.geodesy",
    "json_number": "remote_sensing.units",
    "loss_context": "remote_sensing.timeseries",
    "ndvi_series": "remote_sensing.timeseries",
    "parse_band_map": "remote_sensing.imagery",
    "reusing_datasets": "remote_sensing.imagery",
    "plots_from_geometries": "remote_sensing.plots",
    "read_dates": "remote_sensing.timeseries",
    "read_plots": "remote_sensing.plots",
    "BAND_ROLES": "remote_sensing.catalogue",
    "Scene": "remote_sensing.catalogue",
    "SceneCatalogue": "remote_sensing.catalogue",
    "SceneExistsError": "remote_sensing.catalogue",
    "SceneNotFoundError": "remote_sensing.catalogue",
    "check_scene_name": "remote_sensing.catalogue",
    "DAMAGE_THRESHOLD": "remote_sensing.tiles",
    "LAYERS": "remote_sensing.tiles",
    "TILE_FORMATS": "remote_sensing.tiles",
    "Layer": "remote_sensing.tiles",
    "TileSource": "remote_sensing.tiles",
    "layer_roles": "remote_sensing.tiles",
    "render_tile": "remote_sensing.tiles",
    "tile_ndvi": "remote_sensing.tiles",
    "tile_read_pixels": "remote_sensing.tiles",
}

__all__ = [
    "BAND_ROLES",
    "DAMAGE_THRESHOLD",
    "LAYERS",
    "M2_PER_HA",
    "M2_PER_MU",
    "TILE_FORMATS",
    "BandError",
    "CloudMask",
    "DamageAssessment",
    "DamageOptions",
    "DeclaredSummary",
    "GridMismatchError",
    "ImageSpec",
    "Layer",
    "LossContext",
    "OverlapRef",
    "Overlaps",
    "ParameterError",
    "PlotCheck",
    "PlotCheckReport",
    "PlotFileError",
    "PlotSeries",
    "PlotSet",
    "Problem",
    "RasterError",
    "RemoteSensingError",
    "Scene",
    "SceneCatalogue",
    "SceneExistsError",
    "SceneNotFoundError",
    "SeasonWindow",
    "SeriesPoint",
    "TileSource",
    "Tolerance",
    "UnsafeArchiveError",
    "ValidationRules",
    "assess_damage",
    "check_plots",
    "check_scene_name",
    "compare_declared",
    "damage_polygons",
    "find_overlaps",
    "geodesic_area",
    "geodesic_area_perimeter",
    "json_number",
    "layer_roles",
    "loss_context",
    "ndvi_series",
    "parse_band_map",
    "plots_from_geometries",
    "read_dates",
    "read_plots",
    "render_tile",
    "reusing_datasets",
    "tile_ndvi",
    "tile_read_pixels",
]


if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any name

    def __getattr__(name: str) -> Any:
        """Import the submodule that defines ``name`` on first use, then keep it here."""
        try:
            module = _SUBMODULE[name]
        except KeyError:
            raise AttributeError(
                f"module {__name__!r} has no attribute {name!r}"
            ) from None
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        """The public names, loaded or not."""
        return sorted(set(globals()) | set(__all__))
