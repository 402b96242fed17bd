"""The adjuster assesses a crop claim on catalogue scenes, by name or by the rules' pick.

Real imagery: the Austrian Sentinel-2 pair (June / September) registered as the
demo's two scenes, and hail planted on AT-0488's real pixels
(:func:`~tests.server.pages_records.hail_pair`) registered as a pair 3 and 7
days from the loss, beside eight insured peers whose NDVI does not change. Two
more scenes are there to be refused: one without a NIR band, one that does
not reach the plot. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import rasterio
import shapely
from fastapi.testclient import TestClient
from rasterio.windows import Window

from ledger.adapters.memory import InMemoryAnchor
from remote_sensing import SceneCatalogue, read_plots
from server.chain import ChainContext
from server.cli.imagery import register_demo_scenes
from server.config import Settings
from server.context import AppContext, build_context
from tests.server.pages_records import (
    AUSTRIA_FIELDS,
    AUSTRIA_SCENE,
    HAIL_EVENT,
    PEERS,
    crop_policy,
    hail_pair,
)
from tests.server.test_api_flows import login

PLOT = "AT-0488"
JUNE, SEPTEMBER = "austria-2021-06-17", "austria-2021-09-25"
HAIL_BEFORE, HAIL_AFTER = "hail-2021-06-17", "hail-2021-06-27"
NO_NIR = "rgb-2021-06-24"  # true colour only: no NDVI
CORNER = "corner-2021-06-22"  # a corner of the tile, away from the plot


@pytest.fixture(scope="module")
def imagery(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalogue: the demo's pair, the hail pair, and two scenes to refuse."""
    folder = tmp_path_factory.mktemp("imagery")
    sources = tmp_path_factory.mktemp("sources")
    register_demo_scenes(folder, shared_data / AUSTRIA_SCENE)
    catalogue = SceneCatalogue(folder)
    before, _ = hail_pair(shared_data, sources, [PLOT])
    rgb = {"red": 1, "green": 2, "blue": 3}
    for name, day, bands in (
        (HAIL_BEFORE, date(2021, 6, 17), rgb | {"nir": 4}),
        (HAIL_AFTER, date(2021, 6, 27), {"red": 5, "green": 6, "blue": 7, "nir": 8}),
        (NO_NIR, date(2021, 6, 24), rgb),
    ):
        catalogue.register(before.path, name, day, bands, scale=0.0001)
    corner = sources / "corner.tif"
    with rasterio.open(shared_data / AUSTRIA_SCENE) as src:
        window = Window(0, 0, 64, 64)
        profile = src.profile | {
            "width": 64,
            "height": 64,
            "transform": src.window_transform(window),
        }
        with rasterio.open(corner, "w", **profile) as dst:
            dst.write(src.read(window=window))
    fields = read_plots(AUSTRIA_FIELDS, id_column="plot_id")
    scene = catalogue.register(
        corner, CORNER, date(2021, 6, 22), rgb | {"nir": 4}, scale=0.0001
    )
    plot = fields.geometry[fields.ids.index(PLOT)]
    assert not shapely.box(*scene.bounds).contains(plot), "the corner holds the plot"
    return folder


@pytest.fixture
def app(
    make_settings: Callable[..., Settings],
    anchor: InMemoryAnchor,
    imagery: Path,
) -> Iterator[AppContext]:
    """The app of conftest, its imagery catalogue the one above."""
    ctx = build_context(
        make_settings(imagery_dir=imagery),
        chain=ChainContext(anchor, ephemeral=False, contract="mem"),
    )
    yield ctx
    ctx.close()


def assessed_events(app: AppContext) -> list[dict[str, Any]]:
    """The payloads of the ledger's ``claim.assessed`` events, oldest first."""
    events = (json.loads(e.data) for e in app.ledger.store.iter_entries())
    return [e["payload"] for e in events if e["type"] == "claim.assessed"]


def file_claim(
    client: TestClient, policy: str, event: date = HAIL_EVENT, plot: str = PLOT
) -> dict[str, Any]:
    r = client.post(
        "/api/v1/claims",
        headers=login(client, "field_agent"),
        json={
            "policy_id": policy,
            "farmer_id": "F-5",
            "subject_kind": "plot",
            "subject_id": plot,
            "event_date": event.isoformat(),
            "claimed_fraction": 0.8,
            "growth_stage": "heading",
        },
    )
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


@pytest.fixture
def policy(app: AppContext) -> str:
    """Wheat on AT-0488 and its eight peers (the product's default scene terms)."""
    _, policy_id = crop_policy(app, [PLOT, *PEERS])
    return policy_id


def lights(doc: dict[str, Any]) -> dict[str, str]:
    return {c["code"]: c["light"] for c in doc["checks"]}


def test_the_scenes_of_a_claim_and_the_rules_pick(
    client: TestClient, policy: str
) -> None:
    claim = file_claim(client, policy)
    r = client.get(
        f"/api/v1/claims/{claim['id']}/scenes", headers=login(client, "adjuster")
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["event_date"] == "2021-06-20"
    assert (doc["before"], doc["after"]) == (HAIL_BEFORE, HAIL_AFTER)
    # By date; only scenes with red and NIR that hold the whole plot.
    assert doc["scenes"] == [
        {"name": JUNE, "date": "2021-06-17", "days_from_event": -3, "side": "before"},
        {
            "name": HAIL_BEFORE,
            "date": "2021-06-17",
            "days_from_event": -3,
            "side": "before",
        },
        {
            "name": HAIL_AFTER,
            "date": "2021-06-27",
            "days_from_event": 7,
            "side": "after",
        },
        {
            "name": SEPTEMBER,
            "date": "2021-09-25",
            "days_from_event": 97,
            "side": "after",
        },
    ]
    # The loss on a scene's day: that scene is "same_day".
    same = file_claim(client, policy, event=date(2021, 6, 27))
    doc = client.get(
        f"/api/v1/claims/{same['id']}/scenes", headers=login(client, "adjuster")
    ).json()
    sides = {s["name"]: (s["days_from_event"], s["side"]) for s in doc["scenes"]}
    assert sides[HAIL_AFTER] == (0, "same_day")
    assert (doc["before"], doc["after"]) == (HAIL_BEFORE, SEPTEMBER)
    # Adjusters only; an unknown claim is a 404.
    for role in ("field_agent", "farmer", "underwriter"):
        r = client.get(
            f"/api/v1/claims/{claim['id']}/scenes", headers=login(client, role)
        )
        assert r.status_code == 403, (role, r.text)
    r = client.get("/api/v1/claims/nope/scenes", headers=login(client, "adjuster"))
    assert r.status_code == 404


def test_assessed_on_the_rules_pick_the_hail_is_paid(
    client: TestClient, app: AppContext, policy: str
) -> None:
    claim = file_claim(client, policy)
    adjuster = login(client, "adjuster")
    key = {"Idempotency-Key": "assess-hail-1"}
    r = client.post(
        f"/api/v1/claims/{claim['id']}/assessment",
        json={},
        headers=adjuster | key | {"Accept-Language": "zh-CN"},
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (
        lights(doc).items()
        >= {
            "measured_damage": "green",
            "scene_timing": "green",
            "season_baseline": "green",
        }.items()
    )
    assert float(doc["amount"]) > 0 and doc["indemnity"]
    timing = next(c for c in doc["checks"] if c["code"] == "scene_timing")
    assert timing["reason"] == "2021-06-17 与 2021-06-27 的影像涵盖 2021-06-20 的损失"
    (event,) = assessed_events(app)
    assert (event["before"], event["after"]) == (HAIL_BEFORE, HAIL_AFTER)
    # A retry with the same key answers the same, writing nothing more.
    again = client.post(
        f"/api/v1/claims/{claim['id']}/assessment",
        json={},
        headers=adjuster | key | {"Accept-Language": "zh-CN"},
    )
    assert (again.status_code, again.json()) == (200, doc)
    assert len(assessed_events(app)) == 1
    # No body at all is the rules' pick too; the map shows the scenes assessed.
    r = client.post(f"/api/v1/claims/{claim['id']}/assessment", headers=adjuster)
    assert r.status_code == 200 and r.json()["amount"] == doc["amount"], r.text
    damage = client.get(
        f"/api/v1/claims/{claim['id']}/damage.geojson", headers=adjuster
    ).json()
    assert damage["assessed"] and damage["features"]
    assert (damage["before"]["scene"], damage["after"]["scene"]) == (
        HAIL_BEFORE,
        HAIL_AFTER,
    )
    # The drop counted as damage (the peers' drop, none here, plus 0.3): the map's
    # damage layer draws at it.
    assert damage["threshold"] == 0.3


def test_assessed_on_named_scenes_june_and_september_pays_nothing(
    client: TestClient, app: AppContext, policy: str
) -> None:
    claim = file_claim(client, policy)
    r = client.post(
        f"/api/v1/claims/{claim['id']}/assessment",
        json={"before": JUNE, "after": SEPTEMBER},
        headers=login(client, "adjuster"),
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    timing = next(c for c in doc["checks"] if c["code"] == "scene_timing")
    assert timing["light"] == "amber" and "97 days after" in timing["reason"]
    assert doc["light"] == "amber" and doc["amount"] == "0.00"
    (event,) = assessed_events(app)
    assert (event["before"], event["after"]) == (JUNE, SEPTEMBER)
    # One side named, the other the rules' pick.
    r = client.post(
        f"/api/v1/claims/{claim['id']}/assessment",
        json={"before": JUNE, "after": None},
        headers=login(client, "adjuster"),
    )
    assert r.status_code == 200, r.text
    assert assessed_events(app)[-1]["after"] == HAIL_AFTER


def test_refused_assessments_write_nothing(
    client: TestClient, app: AppContext, policy: str
) -> None:
    claim = file_claim(client, policy)
    path = f"/api/v1/claims/{claim['id']}/assessment"
    adjuster = login(client, "adjuster")
    refusals: list[tuple[dict[str, Any], int, str, str]] = [
        # Not scene names: never a path, never a 500.
        ({"before": "../agri.db"}, 422, "before", "not a scene name"),
        ({"after": "/etc/passwd"}, 422, "after", "not a scene name"),
        ({"before": "austria.tif"}, 422, "before", "not a scene name"),
        ({"before": ""}, 422, "before", "not a scene name"),
        ({"before": "x" * 101}, 422, "before", "not a scene name"),
        ({"before": 17}, 422, "before", "string"),
        # The old body (file names, band maps, scale) is refused, not ignored.
        ({"before_bands": "red=1,nir=4"}, 422, "before_bands", "Extra inputs"),
        # Scenes the catalogue does not hold, or cannot measure the plot on.
        ({"before": "austria-2021-06-16"}, 404, "before", "austria-2021-06-16"),
        ({"after": NO_NIR}, 422, "after", f"scene {NO_NIR} has no nir band"),
        (
            {"before": CORNER},
            422,
            "before",
            f"scene {CORNER} does not cover plot {PLOT}",
        ),
    ]
    for body, code, field, words in refusals:
        r = client.post(path, json=body, headers=adjuster)
        assert (r.status_code, r.json().get("field")) == (code, field), (body, r.text)
        assert words in r.json()["detail"], (body, r.text)
        assert "/etc/passwd" not in r.text and "agri.db" not in r.text
    # No scene before a loss on 2021-06-10 covers the plot.
    early = file_claim(client, policy, event=date(2021, 6, 10))
    options = client.get(
        f"/api/v1/claims/{early['id']}/scenes", headers=adjuster
    ).json()
    assert (options["before"], options["after"]) == (None, JUNE)
    r = client.post(
        f"/api/v1/claims/{early['id']}/assessment", json={}, headers=adjuster
    )
    assert (r.status_code, r.json()["field"]) == (422, "before"), r.text
    assert "no registered scene before the loss" in r.json()["detail"]
    # Nothing written: the claims are as filed, the ledger holds no assessment.
    for filed in (claim, early):
        now = client.get(f"/api/v1/claims/{filed['id']}", headers=adjuster).json()
        assert (now["checks"], now["amount"], now["light"]) == (
            filed["checks"],
            filed["amount"],
            filed["light"],
        )
    assert assessed_events(app) == []
    # Other claims: unknown (404), not a crop claim is beyond this test's records.
    r = client.post("/api/v1/claims/nope/assessment", json={}, headers=adjuster)
    assert r.status_code == 404


def test_a_decided_claim_is_not_assessed_again(
    client: TestClient, app: AppContext, policy: str
) -> None:
    claim = file_claim(client, policy)
    adjuster = login(client, "adjuster")
    r = client.post(
        f"/api/v1/claims/{claim['id']}/decision",
        json={"decision": "reject", "reason": "hail net over the field"},
        headers=adjuster,
    )
    assert r.status_code == 200, r.text
    decided = r.json()
    r = client.post(
        f"/api/v1/claims/{claim['id']}/assessment",
        json={"before": HAIL_BEFORE, "after": HAIL_AFTER},
        headers=adjuster,
    )
    assert r.status_code == 409, r.text
    assert "can no longer be assessed" in r.json()["detail"]
    now = client.get(f"/api/v1/claims/{claim['id']}", headers=adjuster).json()
    assert (now["status"], now["checks"], now["amount"]) == (
        "rejected",
        decided["checks"],
        decided["amount"],
    )
    assert assessed_events(app) == []


def test_a_claim_states_its_event_and_the_event_lists_it(
    client: TestClient, app: AppContext, policy: str
) -> None:
    """``event_id`` at filing: kept, shown, and what ``agri claims assess-event`` reads."""
    agent = login(client, "field_agent")
    body = {
        "policy_id": policy,
        "farmer_id": "F-5",
        "subject_kind": "plot",
        "subject_id": PLOT,
        "event_date": HAIL_EVENT.isoformat(),
        "claimed_fraction": 0.8,
        "growth_stage": "heading",
    }
    r = client.post("/api/v1/claims", headers=agent, json=body | {"event_id": "a b"})
    assert (r.status_code, r.json()["field"]) == (422, "event_id")
    r = client.post(
        "/api/v1/claims", headers=agent, json=body | {"event_id": "hail-2021-06-25"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["event_id"] == "hail-2021-06-25"
    shown = client.get(f"/api/v1/claims/{r.json()['id']}", headers=agent).json()
    assert shown["event_id"] == "hail-2021-06-25"
    listed = app.claims.event_claims("hail-2021-06-25")
    assert [c.id for c in listed] == [r.json()["id"]]
