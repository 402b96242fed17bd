"""Crop damage per plot: exact coverage weighting, clouds, statuses, bad rasters."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio import features
from rasterio.warp import calculate_default_transform, reproject

from remote_sensing import (
    BandError,
    CloudMask,
    DamageOptions,
    ImageSpec,
    RasterError,
    assess_damage,
    damage_polygons,
    geodesic_area,
    plots_from_geometries,
    read_plots,
    reusing_datasets,
)
from remote_sensing.imagery import OpenImage

BEFORE = {"red": 1, "nir": 4, "blue": 3}
AFTER = {"red": 5, "nir": 8, "blue": 7}
X0, Y0 = 500_000.0, 5_000_000.0  # origin of the synthetic rasters (EPSG:32633)


def austria_specs(path: Path) -> tuple[ImageSpec, ImageSpec]:
    return ImageSpec(path, BEFORE, scale=1e-4), ImageSpec(path, AFTER, scale=1e-4)


def direct_ndvi(path: Path) -> tuple[np.ndarray, np.ndarray, rasterio.Affine]:
    with rasterio.open(path) as ds:
        b = ds.read().astype(np.float64) * 1e-4
        transform = ds.transform
    ndvi_b = (b[3] - b[0]) / (b[3] + b[0])
    ndvi_a = (b[7] - b[4]) / (b[7] + b[4])
    return ndvi_b, ndvi_a, transform


def test_pixel_aligned_fields_equal_a_direct_pixel_count(
    austria: Path, austria_fields: Path
) -> None:
    """Fields along pixel edges: coverage-weighted figures equal plain pixel arithmetic."""
    frame = gpd.read_file(austria_fields)
    plots = read_plots(austria_fields)
    rows = assess_damage(plots, *austria_specs(austria))
    assert Counter(r.status for r in rows) == {"assessed": len(frame)}
    ndvi_b, ndvi_a, transform = direct_ndvi(austria)
    damaged = (ndvi_b - ndvi_a) >= 0.3
    for row, geom in zip(rows, frame.geometry, strict=True):
        inside = (
            features.rasterize([geom], out_shape=ndvi_b.shape, transform=transform) == 1
        )
        assert row.damaged_fraction == pytest.approx(damaged[inside].mean(), abs=1e-6)
        assert row.ndvi_before == pytest.approx(ndvi_b[inside].mean(), abs=1e-6)
        assert row.ndvi_after == pytest.approx(ndvi_a[inside].mean(), abs=1e-6)
        assert row.clear_fraction == pytest.approx(1.0, abs=1e-6)
        assert row.damaged_area_m2 == pytest.approx(row.damaged_fraction * row.area_m2)
    # About 11 % of the scene's pixels lose more than 0.3 NDVI (harvest); the fields agree.
    total = sum(r.damaged_area_m2 for r in rows) / sum(r.area_m2 for r in rows)
    assert 0.05 < total < 0.2


def test_unaligned_plots_match_a_supersampled_reference(
    austria: Path, austria_fields: Path
) -> None:
    """Plots shifted off the grid: exact coverage agrees with a 1 m supersampled count."""
    frame = gpd.read_file(austria_fields).iloc[::10]
    shifted = [shapely.affinity.translate(g, 3.3, -4.7) for g in frame.geometry]
    plots = plots_from_geometries(shifted, "EPSG:32633")
    rows = assess_damage(plots, *austria_specs(austria))
    ndvi_b, ndvi_a, transform = direct_ndvi(austria)
    damaged = ((ndvi_b - ndvi_a) >= 0.3).astype(np.float64)
    fine = np.kron(damaged, np.ones((10, 10)))
    fine_transform = transform @ transform.scale(0.1, 0.1)
    assert sum(r.status == "assessed" for r in rows) >= 0.9 * len(rows)
    for row, geom in zip(rows, shifted, strict=True):
        if row.status != "assessed":  # shifted over the scene's edge
            assert row.status == "not_covered"
            continue
        inside = (
            features.rasterize([geom], out_shape=fine.shape, transform=fine_transform)
            == 1
        )
        assert row.damaged_fraction == pytest.approx(fine[inside].mean(), abs=0.01)


def synthetic_pair(write_raster, n: int = 20) -> Path:
    """Before: NDVI 0.818 everywhere. After: left half 0.2 (damaged), right half unchanged."""
    data = np.zeros((8, n, n), dtype=np.uint16)
    data[0], data[1], data[2], data[3] = 500, 800, 300, 5000  # red, green, blue, nir
    data[4:8] = data[0:4]
    data[4, :, : n // 2] = 1000
    data[7, :, : n // 2] = 1500
    return write_raster("pair.tif", data)


def utm_plot(x0: float, y0: float, x1: float, y1: float):
    """A rectangle in metres from the synthetic rasters' top-left corner (y down)."""
    return shapely.box(X0 + x0, Y0 - y1, X0 + x1, Y0 - y0)


def test_damaged_fraction_is_weighted_by_exact_coverage(write_raster) -> None:
    path = synthetic_pair(write_raster)
    # The damaged half is x < 100 m. This plot spans x 62.5..162.5 m: 37.5 % damaged.
    plot = utm_plot(62.5, 13.3, 162.5, 87.1)
    plots = plots_from_geometries([plot], "EPSG:32633")
    (row,) = assess_damage(
        plots, ImageSpec(path, BEFORE, scale=1e-4), ImageSpec(path, AFTER, scale=1e-4)
    )
    assert row.status == "assessed"
    assert row.damaged_fraction == pytest.approx(0.375, abs=1e-9)
    ndvi_after = 0.375 * (1500 - 1000) / 2500 + 0.625 * (5000 - 500) / 5500
    assert row.ndvi_after == pytest.approx(ndvi_after, abs=1e-6)
    assert np.isfinite(row.evi_before) and np.isfinite(row.evi_after)
    no_blue = assess_damage(
        plots,
        ImageSpec(path, {"red": 1, "nir": 4}, scale=1e-4),
        ImageSpec(path, {"red": 5, "nir": 8}, scale=1e-4),
    )[0]
    assert (
        np.isnan(no_blue.evi_before)
        and no_blue.damaged_fraction == row.damaged_fraction
    )


def test_clouds_lower_the_clear_fraction_and_block_figures(write_raster) -> None:
    path = synthetic_pair(write_raster)
    cloud = np.zeros((20, 20), dtype=np.uint8)
    cloud[:, 15:] = 1  # x >= 150 m cloudy in the after image
    mask = write_raster("clouds.tif", cloud)
    plot = utm_plot(50, 0, 200, 100)  # 1/3 under cloud
    plots = plots_from_geometries([plot], "EPSG:32633")
    before = ImageSpec(path, BEFORE, scale=1e-4)
    after = ImageSpec(path, AFTER, scale=1e-4, cloud_mask=CloudMask(mask))
    (row,) = assess_damage(plots, before, after)
    assert row.status == "insufficient_clear_imagery"
    assert row.clear_fraction == pytest.approx(2 / 3, abs=1e-9)
    assert np.isnan(row.damaged_fraction) and np.isnan(row.ndvi_after)
    assert "66.7 % of the plot is clear" in row.reason
    (row,) = assess_damage(plots, before, after, DamageOptions(min_clear_fraction=0.5))
    assert row.status == "assessed"
    assert row.damaged_fraction == pytest.approx(
        0.5, abs=1e-9
    )  # of the clear 50..150 m


def test_scene_classification_band_and_nodata(write_raster) -> None:
    data = np.zeros((3, 10, 10), dtype=np.uint16)
    data[0], data[1] = 500, 5000
    data[2] = 4  # SCL vegetation
    data[2, :, :2] = 9  # cloud high probability
    data[0, 0, :] = 0  # nodata row
    data[1, 0, :] = 0
    path = write_raster("scene.tif", data, nodata=0)
    spec = ImageSpec(
        path,
        {"red": 1, "nir": 2},
        scale=1e-4,
        cloud_mask=CloudMask(None, band=3, classes=frozenset({3, 8, 9, 10})),
    )
    plots = plots_from_geometries([utm_plot(0, 0, 100, 100)], "EPSG:32633")
    (row,) = assess_damage(plots, spec, spec, DamageOptions(min_clear_fraction=0.5))
    assert row.clear_fraction == pytest.approx(0.8 * 0.9, abs=1e-9)
    assert row.damaged_fraction == 0.0


def test_plots_outside_or_partly_outside_the_imagery(write_raster) -> None:
    path = synthetic_pair(write_raster)
    inside = utm_plot(10, 10, 90, 90)
    partly = utm_plot(150, 50, 260, 150)  # raster ends at 200 m
    outside = utm_plot(1_000, 1_000, 1_100, 1_100)
    broken = shapely.Point(X0, Y0)
    plots = plots_from_geometries([inside, partly, outside, broken], "EPSG:32633")
    rows = assess_damage(
        plots, ImageSpec(path, BEFORE, scale=1e-4), ImageSpec(path, AFTER, scale=1e-4)
    )
    assert [r.status for r in rows] == [
        "assessed",
        "not_covered",
        "not_covered",
        "invalid_plot",
    ]
    assert rows[1].coverage == pytest.approx(0.5 * 0.5 / (1.1 * 1.0) * 2, abs=1e-6)
    assert "covers 45.5 %" in rows[1].reason
    assert rows[2].coverage == 0.0
    for r in rows[1:]:
        assert np.isnan(r.damaged_fraction) and np.isnan(r.ndvi_before)


def test_plots_in_another_crs_than_the_raster(
    austria: Path, austria_fields: Path
) -> None:
    utm = read_plots(austria_fields)
    frame = gpd.read_file(austria_fields).iloc[:20].to_crs("EPSG:3857")
    mercator = plots_from_geometries(frame.geometry.array, "EPSG:3857")
    a = assess_damage(mercator, *austria_specs(austria))
    b = assess_damage(utm, *austria_specs(austria))[:20]
    np.testing.assert_allclose(
        [r.damaged_fraction for r in a], [r.damaged_fraction for r in b], atol=1e-6
    )


def test_after_image_on_another_grid_is_warped(
    austria: Path, austria_fields: Path, tmp_path: Path
) -> None:
    """An after image in Web Mercator is read on the before image's grid."""
    with rasterio.open(austria) as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:3857", src.width, src.height, *src.bounds
        )
        profile = src.profile | {
            "crs": "EPSG:3857",
            "transform": transform,
            "width": width,
            "height": height,
            "count": 4,
        }
        out = tmp_path / "after_3857.tif"
        with rasterio.open(out, "w", **profile) as dst:
            for k in range(4):
                reproject(rasterio.band(src, 5 + k), rasterio.band(dst, 1 + k))
    plots = read_plots(austria_fields)
    warped = assess_damage(
        plots,
        ImageSpec(austria, BEFORE, scale=1e-4),
        ImageSpec(out, {"red": 1, "nir": 4, "blue": 3}, scale=1e-4),
    )
    direct = assess_damage(plots, *austria_specs(austria))
    diffs = [
        abs(w.damaged_fraction - d.damaged_fraction)
        for w, d in zip(warped, direct, strict=True)
        if w.status == d.status == "assessed"
    ]
    assert len(diffs) > 0.9 * len(direct)
    assert np.median(diffs) < 0.02


def test_reads_only_the_windows_plots_need(write_raster, monkeypatch) -> None:
    big = np.full((8, 400, 400), 1000, dtype=np.uint16)
    path = write_raster("big.tif", big)
    windows = []
    original = OpenImage.read_raw

    def spy(self, window, indexes):
        windows.append((window.width, window.height))
        return original(self, window, indexes)

    monkeypatch.setattr(OpenImage, "read_raw", spy)
    plots = plots_from_geometries(
        [utm_plot(100 * i, 100 * i, 100 * i + 95, 100 * i + 95) for i in range(30)],
        "EPSG:32633",
    )
    assess_damage(plots, ImageSpec(path, BEFORE), ImageSpec(path, AFTER))
    assert (
        windows and max(w * h for w, h in windows) <= 11 * 11
    )  # never the 400 x 400 scene


def test_damage_polygons_cover_the_damaged_area(
    austria: Path, austria_fields: Path
) -> None:
    plots = read_plots(austria_fields)
    specs = austria_specs(austria)
    rows = assess_damage(plots, *specs)
    found = {
        f["properties"]["plot_id"]: f for f in damage_polygons(plots, rows, *specs)
    }
    damaged = [r for r in rows if r.damaged_area_m2 > 1]
    assert set(found) >= {r.plot_id for r in damaged}
    for r in damaged:
        feature = found[r.plot_id]
        assert feature["properties"]["damaged_area_ha"] == pytest.approx(
            r.damaged_area_ha, rel=1e-3, abs=1e-4
        )
        geom = shapely.geometry.shape(feature["geometry"])
        outside = geom.difference(plots.geometry[plots.ids.index(r.plot_id)])
        # Clipped to the plot (edges reprojected from UTM may stray by millimetres).
        assert np.nan_to_num(geodesic_area(outside)) < 1.0  # lines or slivers at most


def test_slovenia_cloudy_date_gives_no_numbers(slovenia: Path) -> None:
    """2015-07-31 is cloudy: plots under the cloud get a status, never a figure."""
    plots = read_plots(slovenia / "landuse_parcels_RABA.gpkg")
    bands = {"red": 4, "nir": 8, "blue": 2}
    clouds = slovenia / "cloudmask_timeseries_2015-2017.tif"
    before = ImageSpec(
        slovenia / "S2_L1C_2015-07-11.tif", bands, cloud_mask=CloudMask(clouds, band=1)
    )
    after = ImageSpec(
        slovenia / "S2_L1C_2015-07-31.tif", bands, cloud_mask=CloudMask(clouds, band=2)
    )
    rows = assess_damage(plots, before, after)
    statuses = Counter(r.status for r in rows)
    assert statuses["insufficient_clear_imagery"] >= 10
    for r in rows:
        if r.status != "assessed":
            assert np.isnan(r.damaged_fraction)
        else:
            assert r.clear_fraction >= 0.8
    clear_after = ImageSpec(
        slovenia / "S2_L1C_2015-08-30.tif", bands, cloud_mask=CloudMask(clouds, band=4)
    )
    rows = assess_damage(plots, before, clear_after)
    assert Counter(r.status for r in rows)["assessed"] >= 50


def test_band_out_of_range_names_the_band(austria: Path) -> None:
    plots = plots_from_geometries([utm_plot(0, 0, 10, 10)], "EPSG:32633")
    with pytest.raises(BandError, match="nir is band 9, but the raster has 8 bands"):
        assess_damage(
            plots, ImageSpec(austria, {"red": 1, "nir": 9}), ImageSpec(austria, AFTER)
        )
    with pytest.raises(BandError, match="cloud mask is band 12"):
        assess_damage(
            plots,
            ImageSpec(austria, BEFORE, cloud_mask=CloudMask(None, band=12)),
            ImageSpec(austria, AFTER),
        )


def test_unreadable_rasters_are_named(tmp_path: Path, write_raster) -> None:
    plots = plots_from_geometries([utm_plot(0, 0, 50, 50)], "EPSG:32633")
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"II*\x00" + b"\x17" * 5000)
    with pytest.raises(RasterError, match=r"junk\.tif: not a readable raster"):
        assess_damage(plots, ImageSpec(junk, BEFORE), ImageSpec(junk, AFTER))
    with pytest.raises(RasterError, match=r"missing\.tif: no such file"):
        assess_damage(
            plots, ImageSpec(tmp_path / "missing.tif", BEFORE), ImageSpec(junk, AFTER)
        )
    nocrs = write_raster("nocrs.tif", np.ones((8, 5, 5), dtype=np.uint16), crs=None)
    with pytest.raises(RasterError, match="no coordinate reference system"):
        assess_damage(plots, ImageSpec(nocrs, BEFORE), ImageSpec(nocrs, AFTER))


def test_truncated_raster_gives_a_per_plot_status(write_raster) -> None:
    data = np.full((8, 200, 200), 1000, dtype=np.uint16)
    data[3] = data[7] = 5000
    path = write_raster("full.tif", data)
    raw = path.read_bytes()
    truncated = path.with_name("truncated.tif")
    truncated.write_bytes(raw[: len(raw) // 2])
    top = utm_plot(100, 100, 300, 300)  # first rows: present
    bottom = utm_plot(100, 1_700, 300, 1_900)  # last rows: cut off
    plots = plots_from_geometries([top, bottom], "EPSG:32633")
    rows = assess_damage(
        plots, ImageSpec(truncated, BEFORE), ImageSpec(truncated, AFTER)
    )
    assert [r.status for r in rows] == ["assessed", "raster_read_error"]
    assert "truncated.tif" in rows[1].reason


def test_masked_and_nan_pixels_are_not_clear(write_raster) -> None:
    data = np.zeros((2, 10, 10), dtype=np.float32)
    data[0], data[1] = 0.05, 0.5
    data[:, 0, :] = np.nan  # one row of NaN
    path = write_raster("float.tif", data)
    with rasterio.open(path, "r+") as ds:  # and an internal mask hiding two columns
        mask = np.full((10, 10), 255, dtype=np.uint8)
        mask[:, :2] = 0
        ds.write_mask(mask)
    spec = ImageSpec(path, {"red": 1, "nir": 2})
    plots = plots_from_geometries([utm_plot(0, 0, 100, 100)], "EPSG:32633")
    (row,) = assess_damage(plots, spec, spec, DamageOptions(min_clear_fraction=0.5))
    assert row.clear_fraction == pytest.approx(0.9 * 0.8, abs=1e-9)
    assert row.ndvi_before == pytest.approx(0.45 / 0.55, abs=1e-6)


def test_rotated_rasters_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "rotated.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=5,
        height=5,
        count=8,
        dtype="uint16",
        crs="EPSG:32633",
        transform=rasterio.Affine(10, 2, X0, 2, -10, Y0),
    ) as ds:
        ds.write(np.ones((8, 5, 5), dtype=np.uint16))
    plots = plots_from_geometries([utm_plot(0, 0, 10, 10)], "EPSG:32633")
    with pytest.raises(RasterError, match="rotated rasters are not supported"):
        assess_damage(plots, ImageSpec(path, BEFORE), ImageSpec(path, AFTER))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("red=1", "lacks nir"),
        ("red=1,nir=0", "start at 1"),
        ("red=1,nir=x", "NAME=NUMBER"),
        ("swir=3,red=1,nir=2", "NAME=NUMBER"),
    ],
)
def test_band_maps_are_validated(text: str, message: str) -> None:
    from remote_sensing import ParameterError, parse_band_map

    with pytest.raises(ParameterError, match=message):
        parse_band_map(text)


def test_image_and_option_values_are_validated(austria: Path) -> None:
    from remote_sensing import ParameterError

    with pytest.raises(ParameterError, match="scale"):
        ImageSpec(austria, BEFORE, scale=0)
    with pytest.raises(ParameterError, match="needs red and nir"):
        ImageSpec(austria, {"red": 1})
    with pytest.raises(ParameterError, match="threshold"):
        DamageOptions(threshold=0)
    with pytest.raises(ParameterError, match="min_clear_fraction"):
        DamageOptions(min_clear_fraction=1.5)


def test_reusing_datasets_opens_each_file_once_and_gives_the_same_figures(
    write_raster, monkeypatch
) -> None:
    """Inside ``reusing_datasets`` a scene pair read for many plots is opened once
    (one file for both images), closed on leaving; the figures are those of
    separate opens."""
    import remote_sensing.imagery as imagery

    path = synthetic_pair(write_raster)
    before, after = ImageSpec(path, BEFORE), ImageSpec(path, AFTER)
    plots = plots_from_geometries(
        [utm_plot(0, 0, 100, 100), utm_plot(100, 0, 200, 200)], 32633
    )
    separate = [assess_damage(plots, before, after) for _ in range(3)]
    opened: list[object] = []
    real_open = imagery._open

    def counting(p: Path, what: str):  # type: ignore[no-untyped-def]
        ds = real_open(p, what)
        opened.append(ds)
        return ds

    monkeypatch.setattr(imagery, "_open", counting)
    with reusing_datasets():
        with reusing_datasets():  # nested: the outer block keeps the files
            shared = [assess_damage(plots, before, after) for _ in range(3)]
            polygons = list(damage_polygons(plots, shared[0], before, after))
        assert len(opened) == 1 and not opened[0].closed  # type: ignore[attr-defined]
    assert opened[0].closed  # type: ignore[attr-defined]
    assert shared == separate
    assert polygons == list(damage_polygons(plots, separate[0], before, after))
    so_far = len(opened)
    assess_damage(plots, before, after)  # outside: each image opened anew, and closed
    assert len(opened) == so_far + 2
    assert all(ds.closed for ds in opened)  # type: ignore[attr-defined]
