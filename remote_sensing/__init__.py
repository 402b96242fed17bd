"""Plots and imagery: geodesic area, declared vs measured, overlaps, NDVI and crop damage.

Measurements that underwriting and claims decide on, from plot files and
rasters. Geometry is stored in WGS84 (RFC 7946); areas are geodesic on the
WGS84 ellipsoid; zonal statistics use exactextract's exact partial-pixel
coverage; rasters are read window by window with rasterio.
"""

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
from remote_sensing.imagery import CloudMask, ImageSpec, parse_band_map
from remote_sensing.overlaps import Overlaps, find_overlaps
from remote_sensing.plots import (
    PlotSet,
    Problem,
    ValidationRules,
    plots_from_geometries,
    read_plots,
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
from remote_sensing.units import M2_PER_HA, M2_PER_MU

__all__ = [
    "M2_PER_HA",
    "M2_PER_MU",
    "BandError",
    "CloudMask",
    "DamageAssessment",
    "DamageOptions",
    "DeclaredSummary",
    "GridMismatchError",
    "ImageSpec",
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
    "SeasonWindow",
    "SeriesPoint",
    "Tolerance",
    "UnsafeArchiveError",
    "ValidationRules",
    "assess_damage",
    "check_plots",
    "compare_declared",
    "damage_polygons",
    "find_overlaps",
    "geodesic_area",
    "geodesic_area_perimeter",
    "loss_context",
    "ndvi_series",
    "parse_band_map",
    "plots_from_geometries",
    "read_dates",
    "read_plots",
]
