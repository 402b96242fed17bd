"""The API end to end, as phones and staff use it: uploads, retries, and refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path

import shapely
from fastapi.testclient import TestClient

from livestock.data import scan_folder, split_enrol_query
from server.context import AppContext
from tests.cattle import sample_animals

PASSWORD = "correct horse battery"
REPO = Path(__file__).resolve().parents[2]


def login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def events(app: AppContext, kind: str) -> int:
    return sum(
        json.loads(e.data)["type"] == kind for e in app.ledger.store.iter_entries()
    )


def setup_records(client: TestClient) -> None:
    admin = login(client, "admin")
    for fid, lat, lon in (("F-1", 40.842, 111.749), ("F-2", 48.29, 13.14)):
        r = client.post(
            "/api/v1/farmers",
            json={"id": fid, "name": fid, "region": "r", "lat": lat, "lon": lon},
            headers=admin,
        )
        assert r.status_code == 201, r.text
    products = [
        {
            "kind": "livestock",
            "code": "COW",
            "sum_insured_per_head": "8000",
            "premium_rate": "0.06",
            "deductible": "200",
            "waiting_days": 7,
        },
        {
            "kind": "crop",
            "code": "WHEAT",
            "sum_insured_per_unit": "900",
            "unit": "mu",
            "premium_rate": "0.06",
            "deductible_rate": "0.1",
            # The tests' Sentinel-2 pair lies 85 days before a September loss.
            "scene_before_days": 100,
        },
    ]
    for p in products:
        r = client.post("/api/v1/products", json=p, headers=admin)
        assert r.status_code == 201, r.text
    bad = client.post(
        "/api/v1/products",
        json=products[0] | {"code": "X", "premium_rate": "2"},
        headers=admin,
    )
    assert bad.status_code == 422 and "premium_rate" in bad.json()["detail"]
    assert bad.json()["field"] == "terms"


def test_livestock_over_http_enrol_apply_claim_with_retries(
    client: TestClient, app: AppContext, shared_data: Path
) -> None:
    setup_records(client)
    held = sample_animals(shared_data)[:2]
    split = split_enrol_query(
        [c for c in scan_folder(shared_data / "cattle_faces") if c.animal in held]
    )
    agent = login(client, "field_agent")
    for tag in held:
        files = [
            ("files", (c.path.name, c.path.read_bytes(), "image/jpeg"))
            for c in split.enrol[tag]
        ]
        key = {"Idempotency-Key": f"enrol-{tag}"}
        r = client.post(
            "/api/v1/animals",
            data={"tag": tag, "farmer_id": "F-1"},
            files=files,
            headers=agent | key,
        )
        assert (r.status_code, r.json()["status"]) == (201, "enrolled"), r.text
        retry = client.post(
            "/api/v1/animals",
            data={"tag": tag, "farmer_id": "F-1"},
            files=files,
            headers=agent | key,
        )
        assert retry.headers["Idempotent-Replayed"] == "true"
    assert events(app, "animal.enrolled") == 2
    bad_tag = client.post(
        "/api/v1/animals",
        data={"tag": "12345", "farmer_id": "F-1"},
        files=files,
        headers=agent,
    )
    assert (bad_tag.status_code, bad_tag.json()["field"]) == (422, "tag")
    app_r = client.post(
        "/api/v1/applications/livestock",
        headers=agent,
        json={
            "farmer_id": "F-1",
            "product_code": "COW",
            "start_date": "2025-04-01",
            "end_date": "2026-03-31",
            "animals": held,
        },
    )
    assert app_r.status_code == 201 and app_r.json()["light"] == "green", app_r.text
    decided = client.post(
        f"/api/v1/applications/{app_r.json()['id']}/decision",
        json={"decision": "approve"},
        headers=login(client, "underwriter"),
    )
    policy = decided.json()["policy_id"]
    assert (
        client.get(
            f"/api/v1/policies/{policy}", headers=login(client, "farmer")
        ).json()["animals"]
        == held
    )
    later = [c for c in split.query[held[0]] if c.day is not None][:3]
    day = later[0].day
    assert day is not None
    claim = client.post(
        "/api/v1/claims",
        headers=agent,
        json={
            "policy_id": policy,
            "farmer_id": "F-1",
            "subject_kind": "animal",
            "subject_id": held[0],
            "event_date": day.isoformat(),
            "market_value": "9000",
        },
    ).json()
    assert claim["amount"] == "7800.00"  # min(8000, 9000) - 200
    meta = [
        {
            "name": c.path.name,
            "captured_at": f"{day}T23:00:00Z",
            "lat": 40.843,
            "lon": 111.749,
        }
        for c in later
    ]
    files = [("files", (c.path.name, c.path.read_bytes(), "image/jpeg")) for c in later]
    key = {"Idempotency-Key": "evidence-1"}
    r = client.post(
        f"/api/v1/claims/{claim['id']}/evidence",
        files=files,
        data={"meta": json.dumps(meta)},
        headers=agent | key,
    )
    assert r.status_code == 200, r.text
    checks = {c["code"]: c["light"] for c in r.json()["checks"]}
    assert checks["photo_location"] == "green" and checks["capture_time"] == "green"
    assert checks["photo_reuse"] == "green" and checks["identity"] != "red"
    retry = client.post(
        f"/api/v1/claims/{claim['id']}/evidence",
        files=files,
        data={"meta": json.dumps(meta)},
        headers=agent | key,
    )
    assert retry.json() == r.json() and events(app, "claim.evidence_checked") == 1
    broken = client.post(
        f"/api/v1/claims/{claim['id']}/evidence",
        files=[("files", ("x.jpg", b"\xff\xd8broken", "image/jpeg"))],
        headers=agent,
    )
    assert broken.status_code == 422 and "x.jpg" in broken.json()["detail"]
    # A photo sent without meta: capture time and GPS come from its EXIF.
    from PIL import Image

    img = Image.open(later[0].path)
    exif = Image.Exif()
    exif.get_ifd(0x8825).update(
        {1: "N", 2: (41.0, 0.0, 0.0), 3: "E", 4: (111.0, 0.0, 0.0)}
    )
    exif.get_ifd(0x8769).update({0x9003: f"{day:%Y:%m:%d} 23:30:00"})
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=95)
    second = client.post(
        "/api/v1/claims",
        headers=agent,
        json={
            "policy_id": policy,
            "farmer_id": "F-1",
            "subject_kind": "animal",
            "subject_id": held[1],
            "event_date": day.isoformat(),
            "market_value": "9000",
        },
    ).json()
    r = client.post(
        f"/api/v1/claims/{second['id']}/evidence",
        files=[("files", ("exif.jpg", buf.getvalue(), "image/jpeg"))],
        headers=agent,
    )
    found = {c["code"]: c for c in r.json()["checks"]}
    assert found["capture_time"]["light"] == "green"
    assert found["photo_location"]["light"] == "red"  # 41N 111E is 20 km from the farm
    assert "km from the site" in found["photo_location"]["reason"]
    bad_meta = client.post(
        f"/api/v1/claims/{claim['id']}/evidence",
        files=files,
        data={"meta": '[{"name": 1, "lat": 300}]'},
        headers=agent,
    )
    assert (bad_meta.status_code, bad_meta.json()["field"]) == (422, "meta")
    assert (
        events(app, "claim.evidence_checked") == 2
    )  # the claim above and the EXIF one


def test_crop_application_upload_keeps_good_plots_and_names_the_bad_one(
    client: TestClient, app: AppContext, tmp_path: Path
) -> None:
    setup_records(client)
    agent = login(client, "field_agent")
    good = shapely.box(13.10, 48.28, 13.103, 48.283)
    features = [
        {
            "type": "Feature",
            "properties": {"plot_id": "A", "declared_ha": 5.0},
            "geometry": json.loads(shapely.to_geojson(good)),
        },
        {
            "type": "Feature",
            "properties": {"plot_id": "B", "declared_ha": 1.0},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[13.1, 48.2], [13.1, 48.2]]],
            },
        },
    ]
    doc = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    form = {
        "farmer_id": "F-2",
        "product_code": "WHEAT",
        "start_date": "2025-03-01",
        "end_date": "2025-10-31",
        "id_column": "plot_id",
        "declared_column": "declared_ha",
    }
    r = client.post(
        "/api/v1/applications/crop",
        data=form,
        files={"file": ("plots.geojson", doc, "application/geo+json")},
        headers=agent,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["plots"] == ["A"]
    reasons = " | ".join(c["reason"] for c in body["checks"])
    assert "plot B" in reasons and "plot A: 5.0000 ha declared" in reasons
    assert body["recommendation"] == "decline"
    wrong = client.post(
        "/api/v1/applications/crop",
        data=form,
        files={"file": ("plots.csv", b"a,b", "text/csv")},
        headers=agent,
    )
    assert (wrong.status_code, wrong.json()["field"]) == (422, "file")
    garbage = client.post(
        "/api/v1/applications/crop",
        data=form,
        files={"file": ("plots.geojson", b"{nope", "application/json")},
        headers=agent,
    )
    assert garbage.status_code == 422 and "plots.geojson" in garbage.json()["detail"]
    # The client's file name is never a path: a 300-character name is no 500.
    long_name = client.post(
        "/api/v1/applications/crop",
        data=form,
        files={"file": ("a" * 300 + ".geojson", b"{nope", "application/json")},
        headers=agent,
    )
    assert (long_name.status_code, long_name.json()["field"]) == (422, "file")
    app.settings.max_upload_mb = 1
    big = client.post(
        "/api/v1/applications/crop",
        data=form,
        files={"file": ("big.geojson", b" " * (2 << 20), "application/json")},
        headers=agent,
    )
    assert big.status_code == 413
    unknown = client.post(
        "/api/v1/applications/crop",
        data=form | {"farmer_id": "F-9"},
        files={"file": ("plots.geojson", doc, "application/json")},
        headers=agent,
    )
    assert (unknown.status_code, unknown.json()["field"]) == (404, "farmer_id")
    assert events(app, "application.submitted") == 1


def test_adjuster_assesses_a_crop_claim_on_a_catalogue_scene(
    client: TestClient, app: AppContext, shared_data: Path
) -> None:
    from datetime import date

    from remote_sensing import read_plots
    from server.cli.imagery import register_demo_scenes

    setup_records(client)
    # The demo's two scenes (June and September) registered from the one file.
    register_demo_scenes(
        app.settings.resolved_imagery_dir(),
        shared_data / "sentinel2" / "austria_T33UUP_2021-06-17_2021-09-25.tif",
    )
    fields = read_plots(
        REPO / "tests/remote_sensing/data/austria_fields.gpkg", id_column="plot_id"
    )
    i = fields.ids.index("AT-0488")
    uw = app.underwriting
    from remote_sensing import plots_from_geometries

    mine = plots_from_geometries(
        fields.geometry[[i]], 4326, ids=["AT-0488"], declared_m2=fields.area_m2[[i]]
    )
    a = uw.apply_crop(
        "F-2",
        "WHEAT",
        mine,
        start=date(2021, 4, 1),
        end=date(2021, 10, 31),
        actor="agent",
    )
    policy = uw.decide(a.id, "approve", actor="uw").policy_id
    claim = client.post(
        "/api/v1/claims",
        headers=login(client, "field_agent"),
        json={
            "policy_id": policy,
            "farmer_id": "F-2",
            "subject_kind": "plot",
            "subject_id": "AT-0488",
            "event_date": "2021-09-10",
            "claimed_fraction": 0.8,
        },
    ).json()
    adjuster = login(client, "adjuster")
    path = f"/api/v1/claims/{claim['id']}/assessment"
    # The rules pick the pair around the loss; the adjuster assesses on it.
    options = client.get(f"/api/v1/claims/{claim['id']}/scenes", headers=adjuster)
    assert options.status_code == 200, options.text
    pick = {k: options.json()[k] for k in ("before", "after")}
    assert pick == {"before": "austria-2021-06-17", "after": "austria-2021-09-25"}
    r = client.post(path, json=pick, headers=adjuster)
    assert r.status_code == 200, r.text
    doc = r.json()
    lights = {c["code"]: c["light"] for c in doc["checks"]}
    # The product's only insured plot has no peers to tell its loss from the
    # season: measured, but nothing is paid until surveyed.
    assert lights["scene_timing"] == "green"
    assert lights["season_baseline"] == "amber" and doc["amount"] == "0.00"
    for bad in (
        {"before": "../agri.db"},
        {"after": "/etc/passwd"},
        {"before": "austria_T33UUP_2021-06-17_2021-09-25.tif"},
    ):
        r = client.post(path, json=pick | bad, headers=adjuster)
        assert r.status_code == 422 and r.json()["field"] in ("before", "after"), r.text
    r = client.post(
        path, json=pick | {"before": "austria-2021-06-16"}, headers=adjuster
    )
    assert (r.status_code, r.json()["field"]) == (404, "before")
    r = client.post(path, json=pick | {"before_bands": "red=1"}, headers=adjuster)
    assert (r.status_code, r.json()["field"]) == (422, "before_bands")
    assert events(app, "claim.assessed") == 1


def test_a_crop_claim_states_its_area_in_mu_or_ha_and_its_check_can_fail(
    client: TestClient, app: AppContext
) -> None:
    from datetime import date

    from remote_sensing import plots_from_geometries, read_plots

    setup_records(client)
    fields = read_plots(
        REPO / "tests/remote_sensing/data/austria_fields.gpkg", id_column="plot_id"
    )
    i = fields.ids.index("AT-0488")
    mine = plots_from_geometries(
        fields.geometry[[i]], 4326, ids=["AT-0488"], declared_m2=fields.area_m2[[i]]
    )
    uw = app.underwriting
    a = uw.apply_crop(
        "F-2", "WHEAT", mine, start=date(2021, 4, 1), end=date(2021, 10, 31), actor="a"
    )
    policy = uw.decide(a.id, "approve", actor="uw").policy_id
    agent = login(client, "field_agent")
    area_ha = float(fields.area_m2[i]) / 10_000
    base = {
        "policy_id": policy,
        "farmer_id": "F-2",
        "subject_kind": "plot",
        "subject_id": "AT-0488",
        "event_date": "2021-06-20",
    }

    def claimed(area: str, unit: str) -> dict[str, str]:
        r = client.post(
            "/api/v1/claims",
            headers=agent,
            json=base | {"claimed_area": area, "claimed_unit": unit},
        )
        assert r.status_code == 201, r.text
        check = next(c for c in r.json()["checks"] if c["code"] == "claimed_area")
        return {"light": check["light"], "reason": check["reason"]}

    # Half the field in ha, then the whole field and half again in mu (1 ha = 15 mu).
    assert claimed(f"{area_ha / 2:.4f}", "ha")["light"] == "green"
    above = claimed(f"{area_ha * 15 * 1.5:.4f}", "mu")
    assert above["light"] == "red" and "above the insured" in above["reason"]
    for bad, field in (
        ({"claimed_area": "0", "claimed_unit": "mu"}, "claimed_area"),
        ({"claimed_area": "3", "claimed_unit": "acre"}, "claimed_unit"),
        (
            {"claimed_area": "3", "claimed_unit": "mu", "claimed_fraction": 0.5},
            "claimed_area",
        ),
        # no unit: 12.5 of what? (ha taken for mu would be 15 times smaller)
        ({"claimed_area": "12.5"}, "claimed_unit"),
    ):
        r = client.post("/api/v1/claims", headers=agent, json=base | bad)
        assert r.status_code == 422 and r.json()["field"] == field, (bad, r.text)
