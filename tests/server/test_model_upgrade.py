"""A face-ID model upgrade: templates of the old model are never compared with the new one's.

Each animal's templates name the model that made them. After an upgrade the
registry compares none of the old ones, refuses enrolments until they are
re-embedded (a duplicate could hide among them), and ``reembed_animals``
recomputes them from the kept photos, one session per step they were kept in.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update

from livestock import Photo, StaleTemplatesError
from server.context import AppContext
from server.http.app import create_app
from server.services.auth import ROLES, UserStore
from server.storage.migrate import upgrade
from server.storage.schema import animals, make_engine
from tests.server.test_animal_sessions import files, one_clip
from tests.server.test_api_flows import PASSWORD, events, login, setup_records

TAG = "998230000007303"
OTHER = "998230000006455"


@pytest.fixture
def client(app: AppContext) -> Iterator[TestClient]:
    store = UserStore(app.engine)
    for role in ROLES:
        store.create(role, PASSWORD, role, "F-1" if role == "farmer" else None)
    with TestClient(create_app(app), raise_server_exceptions=False) as c:
        yield c


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
    # the animal was enrolled by an older model
    with app.engine.begin() as conn:
        conn.execute(update(animals).values(model="cowface-v0+000000000000"))
    registry.rebuild_index()
    assert registry.stale == [TAG] and len(registry) == 0
    clip = one_clip(shared_data, TAG)
    with pytest.raises(StaleTemplatesError, match=f"templates of {TAG} come from"):
        registry.verify(TAG, [Photo(c.path.name, c.path) for c in clip[:2]])
    # enrolling another animal is refused: the old templates cannot be searched
    agent = login(client, "field_agent")
    other = one_clip(shared_data, OTHER)
    r = client.post(
        "/api/v1/animals",
        data={"tag": OTHER, "farmer_id": "F-1"},
        files=files(other),
        headers=agent,
    )
    assert r.status_code == 422, r.text
    assert "re-embed" in r.text and "Traceback" not in r.text
    # nor does the phone get templates it cannot compare
    r = client.get("/api/v1/agent/gallery", headers=agent)
    assert r.status_code == 422 and "re-embedded" in r.text

    report = app.underwriting.reembed_animals(actor="admin")
    assert (report.reembedded, report.without_photos) == ([TAG], [])
    assert report.model == registry.model and registry.stale == []
    after = registry.store.get(TAG)
    assert after is not None and after.model == registry.model
    # the same photos, grouped as they were kept: the same two templates again
    assert after.gallery.shape == before.gallery.shape == (2, 128)
    assert np.allclose(after.gallery, before.gallery, atol=1e-5)
    assert after.photo_hashes == before.photo_hashes
    assert events(app, "animal.reembedded") == 1
    # and enrolment works again
    r = client.post(
        "/api/v1/animals",
        data={"tag": OTHER, "farmer_id": "F-1"},
        files=files(other),
        headers=agent,
    )
    assert r.status_code == 201, r.text
    assert client.get("/api/v1/agent/gallery", headers=agent).status_code == 200


def test_an_animal_without_kept_photos_is_listed_and_left_alone(
    client: TestClient, app: AppContext, shared_data: Path
) -> None:
    enrol_with_a_session(client, shared_data)
    with app.engine.begin() as conn:
        conn.execute(update(animals).values(model=""))
        conn.execute(text("DELETE FROM photos"))
    report = app.underwriting.reembed_animals(actor="admin")
    assert (report.reembedded, report.without_photos) == ([], [TAG])
    assert app.registry().stale == [TAG]
    assert events(app, "animal.reembedded") == 0


def test_animals_enrolled_before_the_upgrade_are_marked_as_cowface_v1(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0013")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO animals (tag, scheme, farm, template, photos, photo_hashes,"
                    " enrolled_at) VALUES (:tag, 'iso11784', 'F-1', :t, 3, '[]', :now)"
                ),
                {"tag": TAG, "t": b"\0" * 512, "now": datetime.now(UTC)},
            )
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT model FROM animals")).scalar_one() == (
                "cowface-v1+342bb30e2a1e"
            )
    finally:
        engine.dispose()
