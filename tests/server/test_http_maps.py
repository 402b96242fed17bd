"""GeoJSON for the maps (RFC 7946) and NDVI series, on the Austrian fields and real imagery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape

from remote_sensing import geodesic_area, plots_from_geometries, read_plots
from server.context import AppContext
from server.errors import InvalidInputError
from server.http.app import create_app
from server.services.maps import NO_SERIES, parse_bbox, scene_dates
from tests.server.conftest import SLOVENIA
from tests.server.pages_records import (
    add_users,
    assessed_crop_claim,
    crop_policy,
    login,
)

IDS = ["AT-0488", "AT-0001"]


@pytest.fixture
def client(app: AppContext) -> Iterator[TestClient]:
    add_users(app)
    with TestClient(create_app(app), raise_server_exceptions=False) as c:
        yield c


def decimals(x: float) -> int:
    text = repr(x)
    return len(text.split(".")[1]) if "." in text else 0


def assert_rfc7946(doc: dict[str, Any]) -> list[Any]:
    """Every feature's geometry valid, WGS84 lon/lat, right-hand rule; no ``crs``."""
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    geoms = []
    for f in doc["features"]:
        assert f["type"] == "Feature"
        g = shape(f["geometry"])
        assert g.is_valid and not g.is_empty
        x0, y0, x1, y1 = g.bounds
        assert -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90
        for poly in getattr(g, "geoms", [g]):
            assert poly.exterior.is_ccw  # exterior rings counter-clockwise
        geoms.append(g)
    return geoms


# --- pure rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("13.10,48.27,13.18,48.31", True),
        ("-180,-90,180,90", True),
        ("1,1,1,1", True),  # a point is a (degenerate) view
        ("1,2,3", False),
        ("1,2,3,4,5", False),
        ("a,b,c,d", False),
        ("", False),
        ("nan,0,1,1", False),
        ("inf,0,1,1", False),
        ("10,0,5,1", False),  # west > east
        ("0,5,1,1", False),  # south > north
        ("0,-91,1,1", False),
        ("-181,0,1,1", False),
    ],
)
def test_bbox_is_four_numbers_in_range(text: str, ok: bool) -> None:
    if ok:
        box = parse_bbox(text)
        assert [box.west, box.south, box.east, box.north] == [
            float(v) for v in text.split(",")
        ]
    else:
        with pytest.raises(InvalidInputError) as err:
            parse_bbox(text)
        assert err.value.field == "bbox"


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (
            "austria_T33UUP_2021-06-17_2021-09-25.tif",
            "austria_T33UUP_2021-06-17_2021-09-25.tif",
            (date(2021, 6, 17), date(2021, 9, 25)),
        ),
        (
            "S2_L1C_2015-07-11.tif",
            "S2_L1C_2015-08-30.tif",
            (date(2015, 7, 11), date(2015, 8, 30)),
        ),
        ("before.tif", "after_2021-09-25.tif", (None, date(2021, 9, 25))),
        ("x_2021-02-30.tif", "x_2021-02-30.tif", (None, None)),  # not a day
    ],
)
def test_scene_dates_come_from_the_file_names(
    before: str, after: str, expected: tuple[date | None, date | None]
) -> None:
    assert scene_dates(before, after) == expected


# --- plots of applications and policies ----------------------------------------------


def test_application_plots_carry_areas_checks_light_and_insured_overlaps(
    app: AppContext, client: TestClient
) -> None:
    first_app, policy = crop_policy(app, IDS)
    # Another farmer declares the first field again: double insurance.
    fields = read_plots(
        Path(__file__).resolve().parents[2]
        / "tests/remote_sensing/data/austria_fields.gpkg",
        id_column="plot_id",
    )
    i = fields.ids.index("AT-0488")
    again = plots_from_geometries(
        fields.geometry[[i]], 4326, ids=["MINE-1"], declared_m2=fields.area_m2[[i]]
    )
    app.underwriting.register_farmer("F-1", "Liu", "Upper Austria", actor="admin")
    second = app.underwriting.apply_crop(
        "F-1",
        "WHEAT",
        again,
        start=date(2021, 5, 1),
        end=date(2021, 10, 31),
        actor="agent",
    )
    underwriter = login(client, "underwriter")

    r = client.get(
        f"/api/v1/applications/{first_app}/plots.geojson", headers=underwriter
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    geoms = assert_rfc7946(doc)
    assert [f["properties"]["plot_id"] for f in doc["features"]] == sorted(IDS)
    for f, g in zip(doc["features"], geoms, strict=True):
        p = f["properties"]
        assert f["id"] == p["plot_id"] and p["policy_id"] == policy
        assert decimals(p["area_m2"]) <= 2 and decimals(p["area_ha"]) <= 6
        assert p["area_ha"] == pytest.approx(p["area_m2"] / 10_000, abs=1e-6)
        assert p["area_m2"] == pytest.approx(geodesic_area(g), abs=0.05)
        assert p["declared_m2"] == pytest.approx(1.5 * p["area_m2"], rel=1e-6)
        codes = {c["code"] for c in p["checks"]}
        assert {"plot_area", "double_insurance"} <= codes
        assert all(p["plot_id"] in c["reason"] for c in p["checks"])
        assert p["light"] in ("amber", "red")  # 50 % over-declared
        assert p["overlaps"] == []  # its own policy is not an overlap

    r = client.get(
        f"/api/v1/applications/{second.id}/plots.geojson", headers=underwriter
    )
    (feature,) = r.json()["features"]
    p = feature["properties"]
    assert p["light"] == "red"
    assert (
        next(c for c in p["checks"] if c["code"] == "double_insurance")["light"]
        == "red"
    )
    (overlap,) = p["overlaps"]
    assert overlap["plot_id"] == "AT-0488" and overlap["policy_id"] == policy
    assert overlap["farmer_id"] == "F-5" and overlap["share"] == pytest.approx(
        1, abs=1e-3
    )
    assert overlap["area_m2"] == pytest.approx(p["area_m2"], rel=1e-3)
    assert decimals(overlap["area_m2"]) <= 2 and decimals(overlap["area_ha"]) <= 6
    assert shape(overlap["geometry"]).is_valid

    # The applying farmer learns that his plot overlaps insured land and how much,
    # not whose it is nor its shape.
    mine = client.get(
        f"/api/v1/applications/{second.id}/plots.geojson",
        headers=login(client, "farmer"),
    )
    assert mine.status_code == 200, mine.text
    (seen,) = mine.json()["features"][0]["properties"]["overlaps"]
    assert seen == {
        "area_m2": overlap["area_m2"],
        "area_ha": overlap["area_ha"],
        **({"area_mu": overlap["area_mu"]} if "area_mu" in overlap else {}),
        "share": overlap["share"],
        "other_farmer": True,
    }

    r = client.get(f"/api/v1/policies/{policy}/plots.geojson", headers=underwriter)
    doc = r.json()
    assert_rfc7946(doc)
    assert [f["properties"]["plot_id"] for f in doc["features"]] == sorted(IDS)

    # A farmer: his own only.
    own = client.get(
        f"/api/v1/policies/{policy}/plots.geojson", headers=login(client, "farmer5")
    )
    assert own.status_code == 200
    other = client.get(
        f"/api/v1/policies/{policy}/plots.geojson", headers=login(client, "farmer")
    )
    assert other.status_code == 403
    assert (
        client.get(
            f"/api/v1/applications/{first_app}/plots.geojson",
            headers=login(client, "farmer"),
        ).status_code
        == 403
    )
    for url in (
        "/api/v1/applications/nope/plots.geojson",
        "/api/v1/policies/nope/plots.geojson",
    ):
        assert client.get(url, headers=underwriter).status_code == 404


def test_a_plot_is_shown_its_own_checks_not_those_of_a_plot_whose_name_it_begins(
    app: AppContext, client: TestClient
) -> None:
    # Regression: checks were matched to plots by the English reason, so "Field 1"
    # was shown the red check of "Field 1 North". Now a check names its subject.
    crop_policy(app, IDS)  # the product, and two fields insured already
    fields = read_plots(
        Path(__file__).resolve().parents[2]
        / "tests/remote_sensing/data/austria_fields.gpkg",
        id_column="plot_id",
    )
    free = [i for i, pid in enumerate(fields.ids) if pid not in IDS][:2]
    areas = fields.area_m2[free]
    plots = plots_from_geometries(
        fields.geometry[free],
        4326,
        ids=["Field 1", "Field 1 North"],
        declared_m2=[areas[0], 1.5 * areas[1]],  # the second is over-declared
    )
    app.underwriting.register_farmer("F-1", "Liu", "Upper Austria", actor="admin")
    application = app.underwriting.apply_crop(
        "F-1", "WHEAT", plots, start=date(2021, 5, 1), end=date(2021, 10, 31), actor="a"
    )
    underwriter = login(client, "underwriter")
    url = f"/api/v1/applications/{application.id}/plots.geojson"
    by_plot = {
        f["properties"]["plot_id"]: f["properties"]
        for f in client.get(url, headers=underwriter).json()["features"]
    }
    assert by_plot["Field 1"]["light"] == "green"
    assert by_plot["Field 1 North"]["light"] == "red"
    for plot_id, props in by_plot.items():
        assert props["checks"] and {c["subject"] for c in props["checks"]} == {plot_id}
    over = next(c for c in by_plot["Field 1 North"]["checks"] if c["light"] == "red")
    assert (over["code"], over["message"]) == ("plot_area", "plot_area.over")
    assert over["params"]["ratio"] == pytest.approx(1.5, rel=1e-6)
    assert over["reason"].startswith("plot Field 1 North: ")

    # The same check in the reader's language.
    zh = client.get(url, headers={**underwriter, "Accept-Language": "zh-CN,en;q=0.5"})
    north = next(
        f["properties"]
        for f in zh.json()["features"]
        if f["properties"]["plot_id"] == "Field 1 North"
    )
    reason = next(c["reason"] for c in north["checks"] if c["code"] == "plot_area")
    assert reason.startswith("地块 Field 1 North：") and "公顷" in reason


def test_insured_plots_in_view_are_filtered_by_bbox_and_day_and_paged(
    app: AppContext, client: TestClient
) -> None:
    _, policy = crop_policy(app, IDS)
    staff = login(client, "adjuster")
    url = "/api/v1/plots.geojson"
    everything = "13.0,48.0,13.5,48.5"

    def get(headers: dict[str, str] = staff, **params: Any) -> Any:
        return client.get(url, params=params, headers=headers)

    doc = get(bbox=everything, on="2021-06-01").json()
    assert_rfc7946(doc)
    assert doc["total"] == 2 and [
        f["properties"]["plot_id"] for f in doc["features"]
    ] == sorted(IDS)
    assert all(f["properties"]["policy_id"] == policy for f in doc["features"])
    bounds = {
        f["properties"]["plot_id"]: shape(f["geometry"]).bounds for f in doc["features"]
    }
    # A view around one plot only.
    x0, y0, x1, y1 = bounds["AT-0001"]
    one = get(bbox=f"{x0},{y0},{x1},{y1}", on="2021-06-01").json()
    assert [f["properties"]["plot_id"] for f in one["features"]] == ["AT-0001"]
    assert not shapely.intersects(
        shapely.box(x0, y0, x1, y1), shapely.box(*bounds["AT-0488"])
    )
    # Nothing far away, nothing out of force (default: today), pages in order.
    assert get(bbox="100,30,101,31", on="2021-06-01").json()["total"] == 0
    assert get(bbox=everything).json()["total"] == 0
    assert get(bbox=everything, on="2022-01-01").json()["features"] == []
    page = get(bbox=everything, on="2021-06-01", offset=1, limit=1).json()
    assert (page["total"], page["offset"], page["limit"]) == (2, 1, 1)
    assert [f["properties"]["plot_id"] for f in page["features"]] == [sorted(IDS)[1]]
    # A farmer sees only his own plots.
    assert (
        get(login(client, "farmer5"), bbox=everything, on="2021-06-01").json()["total"]
        == 2
    )
    assert (
        get(login(client, "farmer"), bbox=everything, on="2021-06-01").json()["total"]
        == 0
    )
    # A bad view is 422 naming bbox.
    for bad in ("1,2,3", "a,b,c,d", "10,0,5,1", "0,95,1,96"):
        r = get(bbox=bad)
        assert (r.status_code, r.json()["field"]) == (422, "bbox"), bad
    r = client.get(url, headers=staff)
    assert (r.status_code, r.json()["field"]) == (422, "bbox")
    r = get(bbox=everything, limit=0)
    assert (r.status_code, r.json()["field"]) == (422, "limit")


# --- claims: damage polygons and the NDVI series ---------------------------------------


def test_damage_polygons_are_stored_at_assessment_and_served(
    app: AppContext, client: TestClient, shared_data: Path
) -> None:
    _, policy = crop_policy(app, IDS)
    adjuster = login(client, "adjuster")
    before = app.claims.file(
        policy_id=policy,
        farmer_id="F-5",
        subject_kind="plot",
        subject_id="AT-0001",
        event_date=date(2021, 9, 10),
        reported_at=datetime(2021, 9, 12, tzinfo=UTC),
        claimed_fraction=0.5,
        actor="agent",
    )
    r = client.get(f"/api/v1/claims/{before.id}/damage.geojson", headers=adjuster)
    assert r.status_code == 200 and r.json()["features"] == []
    assert r.json()["assessed"] is False
    series = client.get(f"/api/v1/claims/{before.id}/series", headers=adjuster).json()
    assert series["points"] == [] and series["reason"] == NO_SERIES

    claim = assessed_crop_claim(app, shared_data, policy)
    r = client.get(f"/api/v1/claims/{claim.id}/damage.geojson", headers=adjuster)
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/geo+json"
    )
    doc = r.json()
    assert doc["assessed"] is True
    assert (
        doc["before"]["date"] == "2021-06-17" and doc["after"]["date"] == "2021-09-25"
    )
    (g,) = assert_rfc7946(doc)
    (feature,) = doc["features"]
    p = feature["properties"]
    assert p["plot_id"] == "AT-0488"
    assert decimals(p["damaged_area_m2"]) <= 2 and decimals(p["damaged_area_ha"]) <= 6
    assert p["damaged_area_m2"] == pytest.approx(geodesic_area(g), abs=0.05)
    plot = shape(
        client.get(f"/api/v1/policies/{policy}/plots.geojson", headers=adjuster).json()[
            "features"
        ][sorted(IDS).index("AT-0488")]["geometry"]
    )
    assert shapely.area(shapely.difference(g, plot.buffer(1e-7))) == pytest.approx(0)
    # Most of the field was lost (harvest between the dates): the damage covers most of it.
    assert shapely.area(g) > 0.8 * shapely.area(plot)

    # No NDVI stack configured: the series is the assessment's two dates.
    series = client.get(f"/api/v1/claims/{claim.id}/series", headers=adjuster).json()
    assert series["source"] == "assessment" and series["loss_date"] == "2021-09-10"
    assert [(x["role"], x["date"]) for x in series["points"]] == [
        ("before", "2021-06-17"),
        ("after", "2021-09-25"),
    ]
    nd = [x["ndvi"] for x in series["points"]]
    assert nd[0] > nd[1] + 0.3  # the drop the claim was paid for

    # Role rules: another farmer's claim is 403; unknown is 404.
    farmer = login(client, "farmer")
    for path in ("damage.geojson", "series"):
        assert (
            client.get(f"/api/v1/claims/{claim.id}/{path}", headers=farmer).status_code
            == 403
        )
        assert (
            client.get(
                f"/api/v1/claims/{claim.id}/{path}", headers=login(client, "farmer5")
            ).status_code
            == 200
        )
        assert (
            client.get(f"/api/v1/claims/nope/{path}", headers=adjuster).status_code
            == 404
        )


def test_series_from_a_configured_ndvi_stack_beside_earlier_seasons(
    stacked: AppContext, shared_data: Path
) -> None:
    app = stacked
    add_users(app)
    folder = shared_data / SLOVENIA
    parcels = read_plots(folder / "landuse_parcels_RABA.gpkg")
    idx = [parcels.ids.index("1"), parcels.ids.index("22")]
    mine = plots_from_geometries(parcels.geometry[idx], 4326, ids=["SI-1", "SI-22"])
    uw = app.underwriting
    uw.register_farmer("F-5", "Novak", "Slovenia", actor="admin")
    _, policy = crop_policy(app, IDS, start=date(2021, 4, 1))  # Austria: off the stack
    a = uw.apply_crop(
        "F-5",
        "WHEAT",
        mine,
        start=date(2017, 4, 1),
        end=date(2017, 10, 31),
        actor="agent",
    )
    si_policy = uw.decide(a.id, "approve", actor="uw", reason="checked").policy_id or ""
    claim = app.claims.file(
        policy_id=si_policy,
        farmer_id="F-5",
        subject_kind="plot",
        subject_id="SI-1",
        event_date=date(2017, 7, 15),
        reported_at=datetime(2017, 7, 16, tzinfo=UTC),
        claimed_fraction=0.5,
        actor="agent",
    )
    with TestClient(create_app(app), raise_server_exceptions=False) as client:
        adjuster = login(client, "adjuster")
        doc = client.get(f"/api/v1/claims/{claim.id}/series", headers=adjuster).json()
        assert doc["source"] == "stack" and doc["plot_id"] == "SI-1"
        assert len(doc["points"]) == 68
        assert doc["points"][0]["date"] == "2015-07-11"
        assert [p["date"] for p in doc["points"]] == sorted(
            p["date"] for p in doc["points"]
        )
        assert any(p["ndvi"] is None for p in doc["points"])  # cloudy dates: no number
        assert all(p["ndvi"] is None or -1 <= p["ndvi"] <= 1 for p in doc["points"])
        season = doc["season"]
        assert season["year"] == 2017
        assert all(-30 <= p["day"] <= 30 for p in season["points"])
        assert [w["year"] for w in doc["earlier"]] == [2015, 2016]
        for w in doc["earlier"]:
            assert all(-30 <= p["day"] <= 30 for p in w["points"])
        assert doc["verdict"] in (
            "unusual_drop",
            "normal_for_season",
            "no_drop",
            "insufficient_data",
        )
        assert doc["window_days"] == 30
        # An Austrian plot is off the stack: the assessment's dates, else a reason.
        at = assessed_crop_claim(app, shared_data, policy)
        off = client.get(f"/api/v1/claims/{at.id}/series", headers=adjuster).json()
        assert off["source"] == "assessment" and len(off["points"]) == 2
