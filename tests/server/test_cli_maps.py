"""agri plots check, agri damage assess, agri damage series on the real files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from server.cli.main import cli
from tests.remote_sensing.conftest import AUSTRIA, REGISTERS

FIELDS = (
    Path(__file__).resolve().parent.parent
    / "remote_sensing"
    / "data"
    / "austria_fields.gpkg"
)


def run(*args: object) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args], obj={})


@pytest.mark.parametrize("register", sorted(REGISTERS))
def test_plots_check_json_on_each_register(shared_data: Path, register: str) -> None:
    path, column = REGISTERS[register]
    args = ["plots", "check", shared_data / path, "--json"]
    if column:
        args += ["--declared-column", column]
    r = run(*args)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    row = doc["plots"][0]
    assert set(row) >= {
        "plot_id",
        "area_ha",
        "area_mu",
        "declared_ha",
        "ratio",
        "verdict",
        "problems",
        "overlaps",
    }
    summary = doc["summary"]
    assert summary["plots"] == len(doc["plots"])
    if column:
        assert summary["within_share"] >= 0.95
    assert summary["note"]


def test_plots_check_table_and_summary(shared_data: Path) -> None:
    path, column = REGISTERS["at"]
    r = run(
        "plots",
        "check",
        shared_data / path,
        "--declared-column",
        column,
        "--tolerance",
        "0.01%",
    )
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split()[:6] == [
        "plot_id",
        "area_ha",
        "area_mu",
        "declared_ha",
        "ratio",
        "verdict",
    ]
    assert "100 of 100 within tolerance" in r.stdout
    assert "Declared areas are planar areas in EPSG:31287" in r.stdout


def test_plots_check_finds_overlaps_and_inflated_areas(tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"id": "A", "declared": 2.0},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [13.0, 48.0],
                            [13.002, 48.0],
                            [13.002, 48.001],
                            [13.0, 48.001],
                            [13.0, 48.0],
                        ]
                    ],
                },
            },
            {
                "type": "Feature",
                "properties": {"id": "B", "declared": 1.0},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [13.001, 48.0],
                            [13.003, 48.0],
                            [13.003, 48.001],
                            [13.001, 48.001],
                            [13.001, 48.0],
                        ]
                    ],
                },
            },
        ],
    }
    path = tmp_path / "portfolio.geojson"
    path.write_text(json.dumps(doc))
    r = run("plots", "check", path, "--declared-column", "declared", "--json")
    assert r.exit_code == 0, r.output
    rows = {row["plot_id"]: row for row in json.loads(r.stdout)["plots"]}
    assert rows["A"]["verdict"] == "over_declared"  # 2 ha declared, ~1.49 ha measured
    assert rows["A"]["overlaps"][0]["plot_id"] == "B"
    assert rows["A"]["overlaps"][0]["share_of_this"] == pytest.approx(0.5, abs=1e-3)


def test_plots_check_bad_input_is_a_usage_error(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.shp", b"\x00" * (20 << 20))
    r = run("plots", "check", bomb)
    assert r.exit_code == 2
    assert "zip bomb" in r.output
    assert "Traceback" not in r.output
    r = run("plots", "check", FIELDS, "--tolerance", "lots")
    assert r.exit_code == 2
    assert "'iacs'" in r.output


def test_damage_assess_writes_the_feature_collection(
    shared_data: Path, tmp_path: Path
) -> None:
    scene = shared_data / AUSTRIA
    out, polygons = tmp_path / "out.geojson", tmp_path / "damage.geojson"
    r = run(
        "damage",
        "assess",
        "--plots",
        FIELDS,
        "--before",
        scene,
        "--after",
        scene,
        "--before-bands",
        "red=1,nir=4",
        "--after-bands",
        "red=5,nir=8",
        "--scale",
        "0.0001",
        "--threshold",
        "0.3",
        "--out",
        out,
        "--polygons-out",
        polygons,
        "--progress",
    )
    assert r.exit_code == 0, r.output
    assert "assessed 498" in r.stdout
    assert "assessing plots: 100 %" in r.stderr
    doc = json.loads(out.read_text())
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == 498
    props = doc["features"][0]["properties"]
    assert set(props) >= {
        "plot_id",
        "area_ha",
        "clear_fraction",
        "ndvi_before",
        "ndvi_after",
        "damaged_fraction",
        "damaged_area_ha",
        "status",
    }
    assert json.loads(polygons.read_text())["features"]


def test_damage_assess_bad_band_is_a_usage_error(shared_data: Path) -> None:
    scene = shared_data / AUSTRIA
    r = run(
        "damage",
        "assess",
        "--plots",
        FIELDS,
        "--before",
        scene,
        "--after",
        scene,
        "--after-bands",
        "red=5,nir=12",
    )
    assert r.exit_code == 2
    assert "nir is band 12, but the raster has 8 bands" in r.output
    r = run(
        "damage",
        "assess",
        "--plots",
        FIELDS,
        "--before",
        scene,
        "--after",
        scene,
        "--before-bands",
        "red=1",
    )
    assert r.exit_code == 2
    assert "lacks nir" in r.output


def test_damage_series_on_slovenia(shared_data: Path) -> None:
    d = shared_data / "sentinel2" / "slovenia"
    r = run(
        "damage",
        "series",
        "--plots",
        d / "landuse_parcels_RABA.gpkg",
        "--ndvi",
        d / "ndvi_timeseries_2015-2017.tif",
        "--clouds",
        d / "cloudmask_timeseries_2015-2017.tif",
        "--dates",
        d / "timestamps.json",
        "--loss-date",
        "2017-07-15",
        "--json",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert len(doc) == 88
    assert {c["verdict"] for c in doc} <= {
        "unusual_drop",
        "normal_for_season",
        "no_drop",
        "insufficient_data",
    }
    assert doc[0]["earlier"][0]["year"] == 2015


def _tiny_plot_file(tmp_path: Path, width: float = 2.0, height: float = 2.3) -> Path:
    """One WIDTH x HEIGHT m plot in UTM 33N (inside the pixel of ``_one_pixel_tif``).

    Written as RFC 7946 GeoJSON; 2 m x 2.3 m by default (about 4.6 m2).
    """
    import numpy as np
    import shapely
    from pyproj import Transformer

    utm = shapely.box(500_003.0, 4_999_996.0 - height, 500_003.0 + width, 4_999_996.0)
    to_wgs = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    wgs = shapely.transform(
        utm, lambda xy: np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1]))
    )
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"id": "tiny"},
                "geometry": shapely.geometry.mapping(shapely.orient_polygons(wgs)),
            }
        ],
    }
    path = tmp_path / "tiny.geojson"
    path.write_text(json.dumps(doc))
    return path


def test_plots_check_json_keeps_centimetres(tmp_path: Path) -> None:
    """Regression: --json printed area_ha to 4 decimals, so 4.6 m2 read 5 m2."""
    path = _tiny_plot_file(tmp_path)
    r = run("plots", "check", path, "--min-area-m2", "0", "--json")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)["plots"]
    assert 4.59 <= row["area_m2"] <= 4.62
    assert row["area_m2"] == round(row["area_m2"], 2)
    assert row["area_ha"] == pytest.approx(row["area_m2"] / 10_000, abs=1e-6)
    assert row["area_ha"] != round(row["area_ha"], 4)


def _one_pixel_tif(path: Path, red: float, nir: float) -> Path:
    """A 10 m pixel at (500000, 5000000) in UTM 33N with bands red and nir."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=1,
        height=1,
        count=2,
        dtype="float32",
        crs="EPSG:32633",
        transform=from_origin(500_000.0, 5_000_000.0, 10.0, 10.0),
    ) as ds:
        ds.write(np.array([[[red]], [[nir]]], np.float32))
    return path


def test_damage_assess_outputs_keep_centimetres(tmp_path: Path) -> None:
    """--json, --out and --polygons-out give m2 to 0.01 and ha to 1e-6.

    The plot is 3 m x 3.63 m (about 10.9 m2, above the 10 m2 minimum of a plot
    that can be assessed); the old output read 0.0011 ha, i.e. 11 m2.
    """
    plots_file = _tiny_plot_file(tmp_path, 3.0, 3.63)
    before = _one_pixel_tif(tmp_path / "before.tif", red=0.05, nir=0.5)
    after = _one_pixel_tif(tmp_path / "after.tif", red=0.3, nir=0.3)
    out, polygons = tmp_path / "out.geojson", tmp_path / "damage.geojson"
    r = run(
        "damage",
        "assess",
        "--plots",
        plots_file,
        "--before",
        before,
        "--after",
        after,
        "--before-bands",
        "red=1,nir=2",
        "--min-clear",
        "0.5",
        "--out",
        out,
        "--polygons-out",
        polygons,
        "--json",
    )
    assert r.exit_code == 0, r.output
    (printed,) = json.loads(r.stdout)
    (feature,) = json.loads(out.read_text())["features"]
    for props in (printed, feature["properties"]):
        assert props["status"] == "assessed", props
        assert 10.88 <= props["area_m2"] <= 10.91
        assert props["area_ha"] == pytest.approx(props["area_m2"] / 10_000, abs=1e-6)
        assert props["area_ha"] != round(props["area_ha"], 4)
        assert 10.8 <= props["damaged_area_m2"] <= 10.91
    (damaged,) = json.loads(polygons.read_text())["features"]
    assert 10.8 <= damaged["properties"]["damaged_area_m2"] <= 10.91
    assert damaged["properties"]["damaged_area_ha"] != round(
        damaged["properties"]["damaged_area_ha"], 4
    )
