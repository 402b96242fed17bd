"""agri plots check, agri damage assess, agri damage series on the real files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

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


def run(*args: str):
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
