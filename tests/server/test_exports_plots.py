"""Insured plots as fiboa GeoParquet and GeoJSON, checked by the standards' own tools, offline.

Two farmers' wheat policies on real Austrian fields. The GeoParquet file is
validated by ``fiboa validate`` (fiboa-cli 0.21, fiboa 0.3.0 on Vecorel 0.1.0)
in a process that cannot open a socket, its schemas mapped to the copies in
``export_schemas/`` (``-s URL,FILE``; the GeoParquet metadata schema, which the
tool fetches by itself, put in its file cache), and by geoparquet-validator
(GeoParquet 1.1, core and bbox covering). Then every row is read back and
compared with the records: ids, measured area, the geodesic perimeter
(measured again here with pyproj), the sum insured per plot, the period.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import geoparquet_validator
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely
from pyproj import Geod

from server.context import AppContext
from server.errors import InvalidInputError, NotFoundError
from server.services.exports import (
    COLLECTION_ID,
    FIBOA_SCHEMA,
    VECOREL_SCHEMA,
    ExportService,
)
from server.services.work import reading
from server.storage.plots_store import PlotStore
from tests.server.pages_records import WHEAT, crop_policy

SCHEMAS = Path(__file__).parent / "export_schemas"
GEOPARQUET_SCHEMA = "https://geoparquet.org/releases/v1.1.0/schema.json"

# ``fiboa validate`` as its console script runs it, in a process without a
# network: any socket connection fails, and the GeoParquet metadata schema
# (fetched by vecorel-cli itself, no -s mapping) is put in its file cache.
FIBOA_OFFLINE = """
import json, socket, sys
def refuse(*args, **kwargs):
    raise OSError("no network in the export tests")
socket.socket.connect = refuse
socket.create_connection = refuse
from vecorel_cli.vecorel import util
util.file_cache[{url!r}] = json.load(open({schema!r}))
sys.argv = ["fiboa", *json.loads(sys.argv[1])]
import fiboa_cli.cli.setup
"""


def fiboa_validate(path: Path, *, schemas: dict[str, Path] | None = None) -> str:
    """``fiboa validate PATH -n -1`` offline: its output; fails the test if it failed."""
    mapped = schemas or {
        FIBOA_SCHEMA: SCHEMAS / "fiboa-0.3.0.schema.yaml",
        VECOREL_SCHEMA: SCHEMAS / "vecorel-0.1.0.schema.yaml",
    }
    args = ["validate", str(path), "-n", "-1"]
    for url, local in mapped.items():
        args += ["-s", f"{url},{local}"]
    code = FIBOA_OFFLINE.format(
        url=GEOPARQUET_SCHEMA, schema=str(SCHEMAS / "geoparquet-1.1.0.schema.json")
    )
    run = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"


@pytest.fixture
def insured(app: AppContext) -> dict[str, str]:
    """Two wheat policies: F-5's on two fields (April-October), F-6's on one (from May)."""
    _, mine = crop_policy(app, ["AT-0488", "AT-0002"], farmer="F-5")
    _, theirs = crop_policy(app, ["AT-0003"], farmer="F-6", start=date(2021, 5, 1))
    return {"F-5": mine, "F-6": theirs}


def _service(app: AppContext) -> ExportService:
    return ExportService(app.engine, app.settings.resolved_imagery_dir())


def test_fiboa_geoparquet_validates_offline_and_holds_the_records(
    app: AppContext, insured: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "plots.parquet"
    with out.open("wb") as f:
        assert _service(app).write_plots(f, "fiboa") == 3
    report = fiboa_validate(out)
    assert "exit 0" in report and "VALID" in report and "INVALID" not in report, report
    # The schemas came from the files named, not from the web.
    assert "Redirecting" in report and "can't be loaded" not in report, report
    # Every column has a schema (fiboa's, Vecorel's or the insurance fields').
    assert "No schema defined" not in report, report
    gpq = geoparquet_validator.check(str(out))
    assert geoparquet_validator.conformant(gpq, "core"), gpq
    assert geoparquet_validator.conformant(gpq, "covering"), gpq

    table = pq.read_table(out)
    meta = table.schema.metadata
    geo = json.loads(meta[b"geo"])
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    assert geo["columns"]["geometry"]["geometry_types"] in (
        ["Polygon"],
        ["MultiPolygon"],
        ["MultiPolygon", "Polygon"],
    )
    collection = json.loads(meta[b"collection"])
    assert collection["schemas"] == {COLLECTION_ID: [VECOREL_SCHEMA, FIBOA_SCHEMA]}
    rows = table.to_pylist()
    geod = Geod(ellps="WGS84")
    with reading(app.engine) as conn:
        stored = {
            (p.policy_id, p.plot_ref): p
            for policy in insured.values()
            for p in PlotStore().of_policy(conn, policy)
        }
        surveyed = {
            p.policy_id: p.surveyed_at
            for p in PlotStore().insured_for_export(
                conn, day=None, product_code=None, farmer_id=None, limit=10
            )[0]
        }
    assert [
        (r["insurance:policy_id"], r["insurance:plot_ref"]) for r in rows
    ] == sorted(stored)
    for row in rows:
        plot = stored[(row["insurance:policy_id"], row["insurance:plot_ref"])]
        geom = shapely.from_wkb(row["geometry"])
        assert row["id"] == f"{plot.policy_id}/{plot.plot_ref}"
        assert row["collection"] == COLLECTION_ID
        assert shapely.equals_exact(geom, shapely.from_wkb(plot.geometry), 1e-12) or (
            shapely.equals(geom, shapely.from_wkb(plot.geometry))
        )
        assert row["metrics:area"] == pytest.approx(plot.area_m2, rel=1e-6)
        area, perimeter = geod.geometry_area_perimeter(geom)
        assert abs(area) == pytest.approx(plot.area_m2, rel=1e-6)
        assert row["metrics:perimeter"] == pytest.approx(perimeter, rel=1e-6)
        assert area > 0, "exterior rings counter-clockwise (positive area)"
        box = row["bbox"]
        assert (box["xmin"], box["ymin"], box["xmax"], box["ymax"]) == pytest.approx(
            geom.bounds
        )
        assert row["insurance:farmer_id"] == plot.farmer_id
        assert row["insurance:product"] == "WHEAT"
        assert row["insurance:declared_area"] == pytest.approx(plot.declared_m2)
        # Wheat insures 900.00 per mu (666.67 m2) of measured area.
        insured_minor = WHEAT.sum_insured(Decimal(str(round(plot.area_m2, 2)))).minor
        assert row["insurance:sum_insured_minor"] == insured_minor
        assert insured_minor == round(
            Decimal(str(round(plot.area_m2, 2))) * 15 / 10_000 * 90_000
        )
        assert row["insurance:currency"] == "CNY"
        assert row["insurance:end_date"] == date(2021, 10, 31)
        start = date(2021, 5, 1) if plot.farmer_id == "F-6" else date(2021, 4, 1)
        assert row["insurance:start_date"] == start
        assert row["category"] == ["administrative"]
        when = surveyed[plot.policy_id]  # kept to the millisecond, in UTC
        assert row["determination:datetime"] == when.replace(
            microsecond=when.microsecond // 1000 * 1000
        )
        assert row["determination:datetime"].tzinfo is not None


def test_fiboa_validate_refuses_a_file_that_breaks_the_schema(
    app: AppContext, insured: dict[str, str], tmp_path: Path
) -> None:
    """The validation can fail: a custom schema the file breaks is reported, offline."""
    out = tmp_path / "plots.parquet"
    with out.open("wb") as f:
        _service(app).write_plots(f, "fiboa")
    table = pq.read_table(out)
    meta = dict(table.schema.metadata)
    collection = json.loads(meta[b"collection"])
    # A sum insured of at most 1 minor unit: every plot breaks it.
    props = collection["schemas:custom"]["properties"]
    props["insurance:sum_insured_minor"]["maximum"] = 1
    meta[b"collection"] = json.dumps(collection).encode()
    broken = tmp_path / "broken.parquet"
    pq.write_table(table.replace_schema_metadata(meta), broken)
    report = fiboa_validate(broken)
    assert "INVALID" in report and "insurance:sum_insured_minor" in report, report


def test_geojson_holds_the_same_features(
    app: AppContext, insured: dict[str, str], tmp_path: Path
) -> None:
    service = _service(app)
    out = tmp_path / "plots.geojson"
    with out.open("wb") as f:
        assert service.write_plots(f, "geojson") == 3
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    features = service.plot_features()
    assert [f["id"] for f in doc["features"]] == [f.id for f in features]
    for feature, want in zip(doc["features"], features, strict=True):
        props = feature["properties"]
        assert props["insurance:policy_id"] == want.policy_id
        assert props["insurance:sum_insured_minor"] == want.sum_insured.minor
        assert props["metrics:area"] == pytest.approx(want.area_m2)
        assert props["insurance:start_date"] == want.start_date.isoformat()
        assert datetime.fromisoformat(props["determination:datetime"]) == (
            want.surveyed_at.astimezone(UTC)
        )
        geom = shapely.geometry.shape(feature["geometry"])
        assert shapely.equals(geom, want.geometry)
        # RFC 7946: exterior rings counter-clockwise.
        for part in getattr(geom, "geoms", [geom]):
            assert part.exterior.is_ccw
    # GDAL reads it as GeoJSON, every property a column.
    info = pyogrio.read_info(out)
    assert info["features"] == 3
    assert "insurance:sum_insured_minor" in list(info["fields"])


def test_filters_and_the_bound(app: AppContext, insured: dict[str, str]) -> None:
    service = _service(app)
    # In force on 2021-04-15: F-6's policy starts in May.
    april = service.plot_features(on=date(2021, 4, 15))
    assert {f.farmer_id for f in april} == {"F-5"} and len(april) == 2
    assert len(service.plot_features(on=date(2021, 11, 1))) == 0
    assert [f.plot_ref for f in service.plot_features(farmer_id="F-6")] == ["AT-0003"]
    assert len(service.plot_features(product="WHEAT")) == 3
    with pytest.raises(NotFoundError) as unknown:
        service.plot_features(product="RICE")
    assert unknown.value.field == "product"
    with pytest.raises(NotFoundError) as nobody:
        service.plot_features(farmer_id="F-404")
    assert nobody.value.field == "farmer_id"
    with pytest.raises(InvalidInputError, match=r"3 insured plots match.*at most 2"):
        service.plot_features(max_rows=2)
