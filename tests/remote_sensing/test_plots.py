"""Reading plot files and validating each plot: one bad plot never sinks a file."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from remote_sensing import (
    PlotFileError,
    UnsafeArchiveError,
    ValidationRules,
    plots_from_geometries,
    read_plots,
)
from tests.remote_sensing.conftest import REGISTERS

FIELD = shapely.box(13.10, 48.30, 13.102, 48.3015)  # 2.47 ha in Upper Austria


def codes(plots, i: int) -> list[str]:
    return [p.code for p in plots.problems[i]]


def sample_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"plot_id": ["A", "B"], "declared": [2.5, 1.0]},
        geometry=[FIELD, shapely.box(13.11, 48.30, 13.111, 48.301)],
        crs="EPSG:4326",
    )


@pytest.mark.parametrize(
    ("suffix", "driver"),
    [
        (".geojson", "GeoJSON"),
        (".gpkg", "GPKG"),
        (".kml", "LIBKML"),
        (".shp", "ESRI Shapefile"),
    ],
)
def test_formats_read_the_same_plots(tmp_path: Path, suffix: str, driver: str) -> None:
    frame = sample_frame()
    if driver == "LIBKML":  # KML keeps a placemark's id in its <name>
        frame = frame.rename(columns={"plot_id": "Name"})
    path = tmp_path / f"plots{suffix}"
    frame.to_file(path, driver=driver)
    if suffix == ".shp":
        zipped = tmp_path / "plots.zip"
        with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
            for part in tmp_path.glob("plots.*"):
                if part.suffix != ".zip":
                    z.write(part, part.name)
        path = zipped
    id_col = "Name" if driver == "LIBKML" else "plot_id"
    plots = read_plots(
        path,
        id_column=id_col,
        declared_column=None if driver == "LIBKML" else "declared",
    )
    assert plots.ids == ["A", "B"]
    reference = plots_from_geometries(frame.geometry.array, 4326)
    np.testing.assert_allclose(plots.area_m2, reference.area_m2, rtol=1e-9)
    if driver != "LIBKML":
        np.testing.assert_allclose(plots.declared_m2, [25_000, 10_000])


def test_projected_file_is_stored_in_wgs84_with_planar_area(tmp_path: Path) -> None:
    frame = sample_frame().to_crs("EPSG:31287")  # Austria Lambert
    path = tmp_path / "at.gpkg"
    frame.to_file(path)
    plots = read_plots(path, declared_column="declared")
    wgs = plots_from_geometries(sample_frame().geometry.array, 4326)
    np.testing.assert_allclose(plots.area_m2, wgs.area_m2, rtol=1e-7)
    assert shapely.get_coordinates(plots.geometry[0])[:, 0].max() == pytest.approx(
        13.102
    )
    np.testing.assert_allclose(plots.planar_m2, frame.area.to_numpy())
    assert np.isnan(wgs.planar_m2).all()


def test_declared_units(tmp_path: Path) -> None:
    path = tmp_path / "p.geojson"
    sample_frame().to_file(path)
    mu = read_plots(path, declared_column="declared", declared_unit="mu")
    np.testing.assert_allclose(mu.declared_m2, [2.5 * 10_000 / 15, 10_000 / 15])


def test_file_level_errors_name_the_file_and_problem(tmp_path: Path) -> None:
    with pytest.raises(PlotFileError, match="no such file"):
        read_plots(tmp_path / "missing.geojson")
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"\x00not a geopackage" * 100)
    with pytest.raises(PlotFileError, match=r"junk\.gpkg: cannot read plots"):
        read_plots(junk)
    good = tmp_path / "p.geojson"
    sample_frame().to_file(good)
    with pytest.raises(
        PlotFileError, match="no column 'area'; columns are plot_id, declared"
    ):
        read_plots(good, declared_column="area")
    nocrs = tmp_path / "nocrs.gpkg"
    with pytest.warns(UserWarning, match="crs"):
        sample_frame().set_crs(None, allow_override=True).to_file(nocrs)
    with pytest.raises(PlotFileError, match="declares no coordinate reference system"):
        read_plots(nocrs)


def test_zip_bomb_is_refused_before_reading(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("plots.shp", b"\x00" * (50 << 20))  # 50 MiB of zeros -> ~50 kB
    with pytest.raises(UnsafeArchiveError, match="zip bomb"):
        read_plots(bomb)
    with pytest.raises(UnsafeArchiveError, match="over the limit"):
        read_plots(bomb, max_archive_bytes=1 << 20)
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(UnsafeArchiveError, match="not a readable zip"):
        read_plots(fake)


def test_each_problem_is_named_and_the_good_plots_survive() -> None:
    bowtie = shapely.Polygon(
        [(13.0, 48.0), (13.001, 48.001), (13.001, 48.0), (13.0, 48.001)]
    )
    clockwise = shapely.orient_polygons(FIELD, exterior_cw=True)
    with np.errstate(invalid="ignore"):
        nan_poly = shapely.Polygon([(13.0, 48.0), (np.nan, 48.0), (13.0, 48.001)])
    out_of_range = shapely.box(200.0, 95.0, 200.001, 95.001)
    swapped_invalid = shapely.box(
        48.0, 100.0, 48.001, 100.001
    )  # lat > 90, swap is valid
    tiny = shapely.box(13.0, 48.0, 13.00001, 48.00001)  # ~0.8 m2
    huge = shapely.box(10.0, 45.0, 12.0, 47.0)
    sliver = shapely.box(13.0, 48.0, 13.01, 48.000009)  # ~1 m wide, 740 m long
    geoms = [
        FIELD,
        None,
        shapely.Point(13, 48),
        bowtie,
        clockwise,
        nan_poly,
        out_of_range,
        swapped_invalid,
        tiny,
        huge,
        sliver,
        shapely.LineString([(0, 0), (1, 1)]),
    ]
    plots = plots_from_geometries(geoms, 4326)
    assert codes(plots, 0) == []
    assert codes(plots, 1) == ["empty"]
    assert codes(plots, 2) == ["not_polygon"]
    assert codes(plots, 3) == ["self_intersecting"]
    message = plots.problems[3][0].message
    assert "Self-intersection" in message and "changes the area by" in message
    assert (
        plots.geometry[3] is not None and plots.geometry[3].is_valid
    )  # repaired offered
    assert plots.has_error(3)
    assert codes(plots, 4) == ["ring_orientation"] and not plots.has_error(4)
    assert shapely.is_ccw(plots.geometry[4].exterior)
    assert codes(plots, 5) == ["non_finite_coordinates"]
    assert codes(plots, 6) == ["out_of_range"]
    assert codes(plots, 7) == ["lat_lon_swapped"]
    assert codes(plots, 8) == ["too_small"]
    assert codes(plots, 9) == ["too_large"]
    assert codes(plots, 10) == ["sliver"] and not plots.has_error(10)
    assert codes(plots, 11) == ["not_polygon"]
    assert plots.usable.tolist() == [True] + [False] * 3 + [True] + [False] * 5 + [
        True,
        False,
    ]
    assert plots.area_m2[0] == pytest.approx(24_749.1, abs=0.1)


def test_plot_far_away_whose_swap_lies_among_the_others_is_flagged() -> None:
    near = [
        shapely.box(13.1 + 0.01 * i, 48.3, 13.105 + 0.01 * i, 48.305) for i in range(5)
    ]
    swapped = shapely.box(48.3, 13.12, 48.305, 13.125)  # valid coordinates, in Africa
    plots = plots_from_geometries([*near, swapped], 4326)
    assert codes(plots, 5) == ["lat_lon_swapped"]
    assert all(codes(plots, i) == [] for i in range(5))


def test_ten_million_vertices_are_refused_quickly() -> None:
    t = np.linspace(0, 2 * np.pi, 10_000_000, endpoint=False)
    ring = np.column_stack([13.1 + 0.01 * np.cos(t), 48.3 + 0.01 * np.sin(t)])
    monster = shapely.Polygon(ring)
    start = time.perf_counter()
    plots = plots_from_geometries([monster, FIELD], 4326)
    assert time.perf_counter() - start < 10
    assert codes(plots, 0) == ["too_many_vertices"]
    assert "10,000,001 vertices" in plots.problems[0][0].message
    assert codes(plots, 1) == []


def test_bounds_are_configurable() -> None:
    rules = ValidationRules(min_area_m2=30_000, max_area_ha=5)
    plots = plots_from_geometries(
        [FIELD, shapely.box(13.0, 48.0, 13.01, 48.01)], 4326, rules=rules
    )
    assert codes(plots, 0) == ["too_small"]
    assert codes(plots, 1) == ["too_large"]


def test_one_bad_feature_in_a_geojson_file(tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"id": "ok"},
                "geometry": shapely.geometry.mapping(FIELD),
            },
            {
                "type": "Feature",
                "properties": {"id": "bad"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [13.0, 48.0],
                            [13.001, 48.001],
                            [13.001, 48.0],
                            [13.0, 48.001],
                            [13.0, 48.0],
                        ]
                    ],
                },
            },
            {"type": "Feature", "properties": {"id": "none"}, "geometry": None},
            {
                "type": "Feature",
                "properties": {"id": "two_points"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[13.1, 48.2], [13.1, 48.2]]],
                },
            },
        ],
    }
    path = tmp_path / "mixed.geojson"
    path.write_text(json.dumps(doc))
    plots = read_plots(path)
    assert plots.ids == ["ok", "bad", "none", "two_points"]
    assert [codes(plots, i) for i in range(4)] == [
        [],
        ["self_intersecting"],
        ["empty"],
        ["empty"],
    ]


@pytest.mark.parametrize("register", sorted(REGISTERS))
def test_real_registers_read_and_measure(shared_data: Path, register: str) -> None:
    path, column = REGISTERS[register]
    plots = read_plots(shared_data / path, declared_column=column)
    assert len(plots) >= 100
    assert np.isfinite(plots.area_m2).all()
    assert sum(plots.has_error(i) for i in range(len(plots))) <= 1


def test_collections_keep_their_polygons() -> None:
    mixed = shapely.GeometryCollection(
        [FIELD, shapely.LineString([(13, 48), (13.1, 48.1)])]
    )
    lines = shapely.GeometryCollection([shapely.Point(13, 48)])
    plots = plots_from_geometries([mixed, lines], 4326)
    assert codes(plots, 0) == ["collection"]
    assert not plots.has_error(0)
    assert plots.geometry[0].geom_type == "Polygon"
    assert codes(plots, 1) == ["not_polygon"]


def test_projected_coordinates_off_the_earth_are_out_of_range() -> None:
    plots = plots_from_geometries(
        [shapely.box(1e12, 1e12, 1e12 + 100, 1e12 + 100)], "EPSG:32633"
    )
    assert codes(plots, 0) == ["out_of_range"]
