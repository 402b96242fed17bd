"""Fixtures for remote sensing: the real scenes and registers, and tiny synthetic rasters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

HERE = Path(__file__).resolve().parent
AUSTRIA = "sentinel2/austria_T33UUP_2021-06-17_2021-09-25.tif"

# Registers in ../shared/data/parcels: path, declared-area column (None: no declared area).
REGISTERS = {
    "at": (
        "parcels/at/inspire_schlaege_2025-1_polygon.gpkg.zip",
        "SL_FLAECHE_BRUTTO_HA",
    ),
    "dk": ("parcels/dk/Marker_2026.zip", "IMK_areal"),
    "be_vlg": (
        "parcels/be_vlg/Landbouwgebruikspercelen_2023_-_Definitief_(extractie_28-03-2024)_GPKG.zip",
        "GRAF_OPP",
    ),
    "nl": ("parcels/nl/brpgewaspercelen_definitief_2023.gpkg", None),
    "fr": ("parcels/fr_rpg_ain_193.gpkg", "surf_parc"),
}


@pytest.fixture(scope="session")
def austria(shared_data: Path) -> Path:
    """The real Sentinel-2 before/after pair (bands 1-4 June, 5-8 September)."""
    return shared_data / AUSTRIA


@pytest.fixture(scope="session")
def austria_fields() -> Path:
    """498 fields delineated from the Austria pair along pixel edges (EPSG:32633)."""
    return HERE / "data" / "austria_fields.gpkg"


@pytest.fixture(scope="session")
def slovenia(shared_data: Path) -> Path:
    return shared_data / "sentinel2" / "slovenia"


WriteRaster = Callable[..., Path]


@pytest.fixture
def write_raster(tmp_path: Path) -> WriteRaster:
    """Write a GeoTIFF from a (bands, rows, cols) array; 10 m pixels in EPSG:32633."""

    def write(
        name: str,
        data: np.ndarray[Any, Any],
        *,
        origin: tuple[float, float] = (500_000.0, 5_000_000.0),
        res: float = 10.0,
        crs: str | None = "EPSG:32633",
        nodata: float | None = None,
        **profile: Any,
    ) -> Path:
        path = tmp_path / name
        data = np.asarray(data)
        if data.ndim == 2:
            data = data[None]
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=data.shape[2],
            height=data.shape[1],
            count=data.shape[0],
            dtype=data.dtype,
            crs=crs,
            transform=from_origin(*origin, res, res),
            nodata=nodata,
            **profile,
        ) as ds:
            ds.write(data)
        return path

    return write
