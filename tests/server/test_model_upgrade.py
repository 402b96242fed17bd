"""A face-ID model upgrade: templates of the old model are never compared with the new one's.

Each animal's templates name the model that made them. After an upgrade the
registry compares none of the old ones, refuses enrolments until they are
re-embedded (a duplicate could hide among them), and ``reembed_animals``
recomputes them from the kept photos, one session per step they were kept in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from livestock import Photo, RegistryError, StaleTemplatesError
from server.cli.main import cli
from server.context import AppContext, build_context
from server.errors import InvalidInputError
from server.storage.schema import animals
from tests.server.test_animal_sessions import files, one_clip
from tests.server.test_api_flows import events, login, setup_records

TAG = "998230000007303"
OTHER = "998230000006455"
OLD_MODEL = "cowface-v0+000000000000"


def mark_as_older_model(app: AppContext, *tags: str) -> None:
    """As if the animals (default: all) had been enrolled by another model: label and templates."""
    with app.engine.begin() as conn:
        query = select(animals.c.tag, animals.c.sessions)
        if tags:
            query = query.where(animals.c.tag.in_(tags))
        for row in conn.execute(query).all():
            conn.execute(
                update(animals)
                .where(animals.c.tag == row.tag)
                .values(
                    model=OLD_MODEL,
                    template=np.full(128, 0.5, "<f4").tobytes(),
                    sessions=np.full(len(row.sessions) // 4, 0.5, "<f4").tobytes(),
                )
            )


@contextmanager
def other_process(app: AppContext) -> Iterator[AppContext]:
    """A second wiring of the same database and photo folder (as the CLI would build)."""
    ctx = build_context(app.settings, chain=False)
    try:
        yield ctx
    finally:
        ctx.close()


def post_enrolment(client: TestClient, shared_data: Path, tag: str) -> Any:
    """A field agent enrols ``tag`` over HTTP with the photos of its longest clip."""
    return client.post(
        "/api/v1/animals",
        data={"tag": tag, "farmer_id": "F-1"},
        files=files(one_clip(shared_data, tag)),
        headers=login(client, "field_agent"),
    )


def clip_photos(shared_data: Path, tag: str) -> list[Photo]:
    """The photos of the animal's longest clip, as the registry takes them."""
    return [Photo(c.path.name, c.path) for c in one_clip(shared_data, tag)]


def enrol_with_a_session(client: TestClient, shared_data: Path) -> None:
    setup_records(client)
    agent = login(client, "field_agent")
    clip = one_clip(shared_data, TAG)
    r = client.post(
        "/api/v1/animals",
        data={"tag": TAG, "farmer_id": "F-1"},
        files=files(clip[0::2]),
        headers=agent,
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/v1/animals/{TAG}/sessions", files=files(clip[1::2]), headers=agent
    )
    assert r.status_code == 201, r.text


def test_templates_of_another_model_are_not_compared_until_reembedded(
    client: TestClient, app: AppContext, shared_data: Path
) -> None:
    enrol_with_a_session(client, shared_data)
    registry = app.registry()
    before = registry.store.get(TAG)
    assert before is not None and before.model == registry.model
    # the animal was enrolled by an older model (whose templates differ)
    mark_as_older_model(app)
    registry.rebuild_index()
    assert registry.stale == [TAG] and len(registry) == 0
    with pytest.raises(StaleTemplatesError, match=f"templates of {TAG} come from"):
        registry.verify(TAG, clip_photos(shared_data, TAG)[:2])
    # enrolling another animal is refused: the old templates cannot be searched
    r = post_enrolment(client, shared_data, OTHER)
    assert r.status_code == 422, r.text
    assert "re-embed" in r.text and "Traceback" not in r.text
    # nor does the phone get templates it cannot compare
    agent = login(client, "field_agent")
    r = client.get("/api/v1/agent/gallery", headers=agent)
    assert r.status_code == 422 and "re-embed them" in r.text

    # another process (the CLI) re-embeds them; the API's registry notices
    with other_process(app) as cli:
        report = cli.enrolment.reembed_animals(actor="admin")
    assert (report.reembedded, report.left) == ([TAG], {})
    assert report.model == registry.model
    after = registry.store.get(TAG)
    assert after is not None and after.model == registry.model
    # the same photos, grouped as they were kept: the same two templates again
    assert after.gallery.shape == before.gallery.shape == (2, 128)
    assert np.allclose(after.gallery, before.gallery, atol=1e-5)
    assert after.photo_hashes == before.photo_hashes
    assert events(app, "animal.reembedded") == 1
    # and enrolment works again
    r = post_enrolment(client, shared_data, OTHER)
    assert r.status_code == 201, r.text
    assert client.get("/api/v1/agent/gallery", headers=agent).status_code == 200


def test_an_animal_without_kept_photos_is_listed_and_left_alone(
    client: TestClient, app: AppContext, shared_data: Path
) -> None:
    enrol_with_a_session(client, shared_data)
    with app.engine.begin() as conn:
        conn.execute(update(animals).values(model=""))
        conn.execute(text("DELETE FROM photos"))
    report = app.enrolment.reembed_animals(actor="admin")
    assert report.reembedded == [] and "no kept photos" in report.left[TAG]
    assert app.registry().stale == [TAG]
    assert events(app, "animal.reembedded") == 0
    # an underwriter vouches for new photos of it: checked as an enrolment's are
    new = clip_photos(shared_data, TAG)
    with pytest.raises(InvalidInputError, match="say why"):
        app.enrolment.reenrol_animal(TAG, new, actor="zhang.min", reason=" ")
    record = app.enrolment.reenrol_animal(
        TAG, new, actor="zhang.min", reason="inspected on the farm, tag read"
    )
    assert record.model == app.registry().model and record.sessions == ()
    assert app.registry().stale == [] and events(app, "animal.reembedded") == 1
    with pytest.raises(RegistryError, match="already of face-ID model"):
        app.enrolment.reenrol_animal(TAG, new, actor="zhang.min", reason="again")


def test_new_photos_of_another_animal_cannot_re_enrol_a_left_one(
    client: TestClient, app: AppContext, shared_data: Path
) -> None:
    enrol_with_a_session(client, shared_data)
    r = post_enrolment(client, shared_data, OTHER)
    assert r.status_code == 201, r.text
    mark_as_older_model(app, TAG)
    app.registry().rebuild_index()
    # OTHER's photos, later frames of its clip, sent as if they were TAG's
    other = clip_photos(shared_data, OTHER)
    with pytest.raises(RegistryError, match=f"match {OTHER}|near-copies"):
        app.enrolment.reenrol_animal(TAG, other, actor="zhang.min", reason="trust me")
    record = app.registry().store.get(TAG)
    assert record is not None and record.model == OLD_MODEL
    assert events(app, "animal.reembedded") == 0


def test_kept_photos_that_no_longer_rebuild_the_gallery_are_left_alone(
    client: TestClient, app: AppContext, shared_data: Path
) -> None:
    """The later session's photos are gone: its template cannot be recomputed."""
    enrol_with_a_session(client, shared_data)
    mark_as_older_model(app)
    with app.engine.begin() as conn:
        last = conn.execute(text("SELECT max(created_at) FROM photos")).scalar_one()
        conn.execute(text("DELETE FROM photos WHERE created_at = :t"), {"t": last})
    report = app.enrolment.reembed_animals(actor="admin")
    assert report.reembedded == []
    assert (
        "form 1 sessions" in report.left[TAG]
        and "re-enrol it from new photos" in report.left[TAG]
    )
    record = app.registry().store.get(TAG)
    assert record is not None and record.model == OLD_MODEL


def test_a_claim_waits_for_the_reembedding_too(
    client: TestClient, app: AppContext, shared_data: Path
) -> None:
    """Identity is 1:N: with an animal left out, a look-alike of another farm could hide."""
    enrol_with_a_session(client, shared_data)
    r = post_enrolment(client, shared_data, OTHER)
    assert r.status_code == 201, r.text
    mark_as_older_model(app, OTHER)
    registry = app.registry()
    registry.rebuild_index()  # as a process started on the new model builds it
    two = clip_photos(shared_data, TAG)[:2]
    with pytest.raises(
        StaleTemplatesError, match="search among them would be incomplete"
    ):
        registry.examine(TAG, two)
    # 1:1 verification of an animal of this model still works
    assert registry.verify(TAG, two).tag == TAG


def test_the_command_exits_1_on_animals_left_and_re_enrols_one_from_new_photos(
    client: TestClient,
    app: AppContext,
    shared_data: Path,
    db_url: str,
    tmp_path: Path,
    key_file: Path,
) -> None:
    enrol_with_a_session(client, shared_data)
    mark_as_older_model(app)
    with app.engine.begin() as conn:
        conn.execute(text("DELETE FROM photos"))
    env = {
        "AGRI_DATABASE_URL": db_url,
        "AGRI_DATA_DIR": str(tmp_path / "var"),
        "AGRI_LEDGER_KEY_FILE": str(key_file),
        "AGRI_ANCHOR_ENABLED": "false",
    }
    r = CliRunner().invoke(cli, ["livestock", "reembed"], env=env, obj={})
    assert r.exit_code == 1, r.output
    assert "no kept photos" in json.loads(r.stdout)["left"][TAG]
    folder = tmp_path / "new-photos"
    folder.mkdir()
    for c in one_clip(shared_data, TAG):
        (folder / c.path.name).write_bytes(c.path.read_bytes())
    args = ["livestock", "reembed", "--tag", TAG, "--photos", str(folder)]
    r = CliRunner().invoke(cli, args, env=env, obj={})
    assert r.exit_code == 1 and "say why" in r.output  # a reason is required
    r = CliRunner().invoke(
        cli, [*args, "--reason", "seen on the farm"], env=env, obj={}
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["reenrolled"] == TAG
    r = CliRunner().invoke(cli, ["livestock", "reembed"], env=env, obj={})
    assert r.exit_code == 0 and json.loads(r.stdout)["left"] == {}
