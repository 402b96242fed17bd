"""A gallery that grows: later verified sessions of an enrolled animal, over HTTP."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from livestock.data import Capture, scan_folder
from server.context import AppContext
from tests.server.test_api_flows import events, login, setup_records


def files(caps: list[Capture]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (c.path.name, c.path.read_bytes(), "image/jpeg")) for c in caps]


def one_clip(shared_data: Path, animal: str) -> list[Capture]:
    """The photos of the animal's longest dated clip (one camera session)."""
    caps = [c for c in scan_folder(shared_data / "cattle_faces") if c.animal == animal]
    clips: dict[str, list[Capture]] = {}
    for c in caps:
        if c.day is not None:
            clips.setdefault(c.session, []).append(c)
    return max(clips.values(), key=len)


def test_a_later_session_joins_the_gallery_once_it_verifies(
    client: TestClient, app: AppContext, shared_data: Path
) -> None:
    setup_records(client)
    agent = login(client, "field_agent")
    clip = one_clip(shared_data, "998230000007303")
    assert len(clip) >= 4
    enrol, later = clip[0::2], clip[1::2]
    r = client.post(
        "/api/v1/animals",
        data={"tag": "998230000007303", "farmer_id": "F-1"},
        files=files(enrol),
        headers=agent,
    )
    assert r.status_code == 201, r.text
    key = {"Idempotency-Key": "inspection-1"}
    r = client.post(
        "/api/v1/animals/998230000007303/sessions",
        files=files(later),
        headers=agent | key,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["sessions"] == 2
    assert body["match"]["decision"] == "match"
    assert body["match"]["basis"] == ("session" if len(later) > 1 else "photo")
    # a retry with the same key answers the same and adds nothing
    again = client.post(
        "/api/v1/animals/998230000007303/sessions",
        files=files(later),
        headers=agent | key,
    )
    assert again.status_code == 201 and again.json() == body
    assert events(app, "animal.session_added") == 1
    record = app.registry().store.get("998230000007303")
    assert record is not None and len(record.sessions) == 1
    assert record.gallery.shape == (2, 128)
    # the session's photos now count as stored photos: a second copy is refused
    r = client.post(
        "/api/v1/animals/998230000007303/sessions",
        files=files(later),
        headers=agent,
    )
    assert r.status_code == 422 and "near-copies" in r.json()["detail"]
    assert events(app, "animal.session_added") == 1


def test_another_animals_photos_are_refused_and_nothing_is_stored(
    client: TestClient, app: AppContext, shared_data: Path
) -> None:
    setup_records(client)
    agent = login(client, "field_agent")
    mine = one_clip(shared_data, "998230000007303")
    other = one_clip(shared_data, "998240000050807")
    r = client.post(
        "/api/v1/animals",
        data={"tag": "998230000007303", "farmer_id": "F-1"},
        files=files(mine[:3]),
        headers=agent,
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/animals/998230000007303/sessions",
        files=files(other[:4]),
        headers=agent,
    )
    assert r.status_code == 422, r.text
    assert (
        "do not match the animal enrolled under 998230000007303" in r.json()["detail"]
    )
    assert events(app, "animal.session_added") == 0
    record = app.registry().store.get("998230000007303")
    assert record is not None and record.sessions == ()


def test_unknown_animals_and_other_roles_are_refused(
    client: TestClient, shared_data: Path
) -> None:
    setup_records(client)
    clip = one_clip(shared_data, "998230000007303")
    r = client.post(
        "/api/v1/animals/998230000009999/sessions",
        files=files(clip[:2]),
        headers=login(client, "field_agent"),
    )
    assert r.status_code == 404, r.text
    r = client.post(
        "/api/v1/animals/998230000007303/sessions",
        files=files(clip[:2]),
        headers=login(client, "farmer"),
    )
    assert r.status_code == 403
