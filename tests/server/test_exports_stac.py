"""A crop assessment's imagery as STAC 1.1.0, validated by pystac against the JSON schemas, offline.

Real imagery: the Austrian Sentinel-2 pair registered as the demo's two
scenes; claims of one hail event on AT-0488 and AT-0002, one assessed on the
catalogue's scenes, one on the file itself (its scenes are not registered),
one not assessed. pystac validates the collection and every item against the
core schemas it ships and the EO extension 2.0.0 schema of
``export_schemas/``, with every socket refused. Also the HTTP routes (the
insurer's desks only, ZIP) and ``agri export stac``. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import socket
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pystac
import pytest
import shapely
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pystac.validation import JsonSchemaSTACValidator, set_validator

from ledger.adapters.memory import InMemoryAnchor
from remote_sensing import ImageSpec, SceneCatalogue
from server.chain import ChainContext
from server.cli.imagery import register_demo_scenes
from server.cli.main import cli
from server.config import Settings
from server.context import AppContext, build_context
from server.errors import ConflictError, NotFoundError
from server.http.app import create_app
from server.services.auth import ROLES, UserStore
from server.services.exports import EO_EXTENSION, ExportService, save_stac
from tests.server.pages_records import AUSTRIA_SCENE, PASSWORD, crop_policy

JUNE, SEPTEMBER = "austria-2021-06-17", "austria-2021-09-25"
EVENT = "HAIL-2021-09"
SCHEMAS = Path(__file__).parent / "export_schemas"


@pytest.fixture(scope="module")
def imagery(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("imagery")
    register_demo_scenes(folder, shared_data / AUSTRIA_SCENE)
    return folder


@pytest.fixture
def app(
    make_settings: Callable[..., Settings], anchor: InMemoryAnchor, imagery: Path
) -> Iterator[AppContext]:
    ctx = build_context(
        make_settings(imagery_dir=imagery),
        chain=ChainContext(anchor, ephemeral=False, contract="mem"),
    )
    yield ctx
    ctx.close()


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No socket may connect, and pystac validates with the schemas it ships plus EO 2.0.0."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("no network in the export tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    validator = JsonSchemaSTACValidator()
    validator.schema_cache[EO_EXTENSION] = json.loads(
        (SCHEMAS / "stac-eo-2.0.0.schema.json").read_text()
    )
    set_validator(validator)
    yield
    set_validator(JsonSchemaSTACValidator())


def _claim(app: AppContext, policy: str, plot: str) -> str:
    return app.claims.file(
        policy_id=policy,
        farmer_id="F-5",
        subject_kind="plot",
        subject_id=plot,
        event_date=date(2021, 9, 10),
        reported_at=datetime(2021, 9, 11, tzinfo=UTC),
        claimed_fraction=0.8,
        growth_stage="maturity",
        event_id=EVENT,
        actor="agent",
    ).id


@pytest.fixture
def event(app: AppContext, imagery: Path, shared_data: Path) -> dict[str, str]:
    """Three claims of one event: on catalogue scenes, on the file itself, not assessed."""
    _, policy = crop_policy(app, ["AT-0488", "AT-0002", "AT-0003"])
    scenes = _claim(app, policy, "AT-0488")
    app.claims.assess_by_scenes(
        scenes, SceneCatalogue(imagery), JUNE, SEPTEMBER, actor="adjuster"
    )
    on_file = _claim(app, policy, "AT-0002")
    source = shared_data / AUSTRIA_SCENE
    app.claims.assess_by_map(
        on_file,
        ImageSpec(source, {"red": 1, "nir": 4}, 0.0001),
        ImageSpec(source, {"red": 5, "nir": 8}, 0.0001),
        actor="adjuster",
    )
    waiting = _claim(app, policy, "AT-0003")
    return {"scenes": scenes, "on_file": on_file, "waiting": waiting, "policy": policy}


def _env(app: AppContext) -> dict[str, str]:
    """The environment that makes ``agri`` open this app's database and catalogue."""
    s = app.settings
    return {
        "AGRI_DATABASE_URL": s.database_url.get_secret_value(),
        "AGRI_DATA_DIR": str(s.data_dir),
        "AGRI_LEDGER_KEY_FILE": str(s.ledger_key_file),
        "AGRI_IMAGERY_DIR": str(s.resolved_imagery_dir()),
        "AGRI_ANCHOR_ENABLED": "false",
    }


def _service(app: AppContext) -> ExportService:
    return ExportService(app.engine, app.settings.resolved_imagery_dir())


def saved(collection: pystac.Collection, folder: Path) -> pystac.Collection:
    """``collection`` saved as the export saves it, and read back from its files."""
    files = save_stac(collection, folder)
    assert folder / "collection.json" in files
    return pystac.Collection.from_file(str(folder / "collection.json"))


def test_a_claims_imagery_is_valid_stac_that_can_be_rerun(
    app: AppContext, event: dict[str, str], imagery: Path, offline: None, tmp_path: Path
) -> None:
    claim = event["scenes"]
    collection = saved(_service(app).stac_for_claim(claim), tmp_path)
    collection.validate_all()  # the collection and its two items, offline
    items = {i.id: i for i in collection.get_items()}
    assert set(items) == {f"{claim}-before", f"{claim}-after"}
    catalogue = SceneCatalogue(imagery)
    assert app.claims.store.get(claim).status == "filed"  # exporting changes nothing
    for side, name in (("before", JUNE), ("after", SEPTEMBER)):
        item = items[f"{claim}-{side}"]
        item.validate()
        assert EO_EXTENSION in item.stac_extensions
        scene = catalogue.get(name)
        assert item.datetime == datetime.combine(scene.date, datetime.min.time(), UTC)
        assert item.bbox == pytest.approx(list(scene.bounds))
        assert shapely.geometry.shape(item.geometry).equals(shapely.box(*scene.bounds))
        asset = item.assets["data"]
        assert Path(asset.href) == catalogue.path(scene).resolve()
        assert Path(asset.href).is_file()
        bands = asset.extra_fields["bands"]
        assert [b["eo:common_name"] for b in bands] == sorted(
            scene.bands, key=lambda r: scene.bands[r]
        )
        props = item.properties
        assert props["agri:claim_id"] == claim and props["agri:scene"] == name
        assert props["agri:index"] == "ndvi" and props["agri:bands_used"] == [
            "red",
            "nir",
        ]
        assert props["agri:event_id"] == EVENT
        assert (
            props["agri:before_scene"] == JUNE
            and props["agri:after_scene"] == SEPTEMBER
        )
        assert isinstance(props["agri:damage_threshold"], float)
        assert props["agri:plot_ref"] == "AT-0488"
        assert shapely.geometry.shape(props["agri:plot_geometry"]).within(
            shapely.box(*scene.bounds)
        )
    before = items[f"{claim}-before"].properties["agri:ndvi_mean"]
    after = items[f"{claim}-after"].properties["agri:ndvi_mean"]
    assert 0 < after < before < 1  # a September field after harvest: lower NDVI


def test_a_broken_item_fails_the_validation(
    app: AppContext, event: dict[str, str], offline: None, tmp_path: Path
) -> None:
    collection = saved(_service(app).stac_for_claim(event["scenes"]), tmp_path)
    item = next(iter(collection.get_items()))
    item.assets["data"].extra_fields["bands"][0]["eo:common_name"] = "infrared"
    with pytest.raises(pystac.errors.STACValidationError, match="eo"):
        item.validate()


def test_an_events_collection_lists_what_it_left_out(
    app: AppContext, event: dict[str, str], offline: None, tmp_path: Path
) -> None:
    collection = saved(_service(app).stac_for_event(EVENT), tmp_path)
    collection.validate_all()
    assert collection.id == f"event-{EVENT}"
    assert collection.extra_fields["agri:claims"] == [event["scenes"]]
    skipped = {s["claim"]: s["reason"] for s in collection.extra_fields["agri:skipped"]}
    assert skipped == {
        event["on_file"]: "scene_not_registered",
        event["waiting"]: "not_assessed",
    }
    start, end = collection.extent.temporal.intervals[0]
    assert (start.date(), end.date()) == (date(2021, 6, 17), date(2021, 9, 25))
    with pytest.raises(NotFoundError):
        _service(app).stac_for_event("NO-SUCH-EVENT")
    with pytest.raises(ConflictError, match="not in the imagery catalogue"):
        _service(app).stac_for_claim(event["on_file"])
    with pytest.raises(ConflictError, match="no assessment by map"):
        _service(app).stac_for_claim(event["waiting"])


def test_stac_over_http_and_the_cli(
    app: AppContext, event: dict[str, str], offline: None, tmp_path: Path
) -> None:
    users = UserStore(app.engine)
    for role in ROLES:
        users.create(role, PASSWORD, role, "F-5" if role == "farmer" else None)
    claim = event["scenes"]
    url = f"/api/v1/exports/stac/claim.zip?claim_id={claim}"
    with TestClient(create_app(app), raise_server_exceptions=False) as client:
        tokens = {}
        for role in ROLES:
            r = client.post(
                "/api/v1/auth/token", json={"username": role, "password": PASSWORD}
            )
            tokens[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert client.get(url).status_code == 401
        for role in ("farmer", "field_agent"):
            assert client.get(url, headers=tokens[role]).status_code == 403, role
        r = client.get(url, headers=tokens["adjuster"])
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/zip"
        assert r.headers["content-disposition"] == (
            f'attachment; filename="claim-{claim}-stac.zip"'
        )
        archive = zipfile.ZipFile(io.BytesIO(r.content))
        collection = f"claim-{claim}/collection.json"
        assert sorted(archive.namelist()) == sorted(
            [
                f"claim-{claim}/{claim}-after/{claim}-after.json",
                f"claim-{claim}/{claim}-before/{claim}-before.json",
                collection,
            ]
        )
        archive.extractall(tmp_path / "zip")
        read = pystac.Collection.from_file(str(tmp_path / "zip" / collection))
        read.validate_all()
        assert len(list(read.get_items())) == 2
        missing = client.get(
            "/api/v1/exports/stac/claim.zip?claim_id=nope", headers=tokens["admin"]
        )
        assert (missing.status_code, missing.json()["field"]) == (404, "claim_id")
        waiting = client.get(
            f"/api/v1/exports/stac/claim.zip?claim_id={event['waiting']}",
            headers=tokens["underwriter"],
        )
        assert waiting.status_code == 409, waiting.text
        r = client.get(
            f"/api/v1/exports/stac/event.zip?event_id={EVENT}", headers=tokens["admin"]
        )
        assert r.status_code == 200, r.text
        assert len(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == 3
    # agri export stac writes the same collection into a folder.
    out = tmp_path / "stac"
    runner = CliRunner(env=_env(app))
    result = runner.invoke(
        cli,
        ["export", "stac", "--claim", claim, "--out", str(out)],
        obj={},
    )
    assert result.exit_code == 0, result.output
    written = pystac.Collection.from_file(str(out / "collection.json"))
    written.validate_all()
    assert {i.id for i in written.get_items()} == {f"{claim}-before", f"{claim}-after"}
    again = runner.invoke(
        cli,
        ["export", "stac", "--claim", claim, "--out", str(out)],
        obj={},
    )
    assert again.exit_code == 2 and "is not empty" in again.output
    both = runner.invoke(
        cli,
        ["export", "stac", "--out", str(tmp_path / "x")],
        obj={},
    )
    assert both.exit_code == 2 and "--claim or --event" in both.output
