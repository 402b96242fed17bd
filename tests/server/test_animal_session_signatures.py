"""Capture signatures of a later session (POST /animals/{tag}/sessions), as at enrolment.

The session's photos may carry the app's signed messages in ``meta``: a red
photo refuses the session (422 naming the photo, nothing stored), and each
photo's verdict goes into the ``animal.session_added`` ledger event.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from livestock.data import Capture
from server.context import AppContext
from tests.claims.capture_phone import Phone
from tests.server.test_animal_sessions import files, one_clip
from tests.server.test_api_flows import login, setup_records

TAG = "998230000007303"  # a clip whose halves verify as one animal
SESSIONS = f"/api/v1/animals/{TAG}/sessions"


def _session_events(app: AppContext) -> list[dict[str, Any]]:
    docs = [json.loads(e.data) for e in app.ledger.store.iter_entries()]
    return [d for d in docs if d["type"] == "animal.session_added"]


def _meta(phone: Phone, caps: list[Capture], **fields: Any) -> str:
    entries = []
    for c in caps:
        signed, signature = phone.capture("field_agent", c.path.read_bytes(), **fields)
        entries.append({"name": c.path.name, "signed": signed, "signature": signature})
    return json.dumps(entries)


def _enrolled(client: TestClient, clip: list[Capture]) -> dict[str, str]:
    setup_records(client)
    agent = login(client, "field_agent")
    r = client.post(
        "/api/v1/animals",
        data={"tag": TAG, "farmer_id": "F-1"},
        files=files(clip[0::2]),
        headers=agent,
    )
    assert r.status_code == 201, r.text
    return agent


def _phone(client: TestClient, agent: dict[str, str]) -> Phone:
    phone = Phone()
    r = client.post(
        "/api/v1/devices",
        json={"public_key": phone.jwk(), "label": "phone"},
        headers=agent,
    )
    assert r.status_code == 201, r.text
    phone.device_id = r.json()["device_id"]
    return phone


def test_a_signed_session_records_its_verdicts(
    client: TestClient, app: AppContext, shared_data: Path
) -> None:
    clip = one_clip(shared_data, TAG)
    agent = _enrolled(client, clip)
    phone = _phone(client, agent)
    later = clip[1::2]
    r = client.post(
        SESSIONS,
        files=files(later),
        data={"meta": _meta(phone, later)},
        headers=agent,
    )
    assert r.status_code == 201, r.text
    (event,) = _session_events(app)
    assert [
        (c["photo"], c["light"], c["device"]) for c in event["payload"]["captures"]
    ] == [(c.path.name, "green", phone.device_id) for c in later]


def test_a_session_with_a_red_photo_is_refused_and_nothing_is_stored(
    client: TestClient, app: AppContext, shared_data: Path
) -> None:
    clip = one_clip(shared_data, TAG)
    agent = _enrolled(client, clip)
    phone = _phone(client, agent)
    later = clip[1::2]
    entries = json.loads(_meta(phone, later))
    # The second photo's message signs other bytes than those sent.
    signed, signature = phone.capture(
        "field_agent", later[1].path.read_bytes() + b"edited"
    )
    entries[1] |= {"signed": signed, "signature": signature}
    r = client.post(
        SESSIONS,
        files=files(later),
        data={"meta": json.dumps(entries)},
        headers=agent,
    )
    assert (r.status_code, r.json()["field"]) == (422, "meta"), r.text
    assert r.json()["detail"] == (
        f"{later[1].path.name}: the capture signature is refused: the photo bytes "
        "differ from the signed hash"
    )
    assert _session_events(app) == []
    record = app.registry().store.get(TAG)
    assert record is not None and record.sessions == ()
    # A revoked device's signatures too; unsigned, the same photos are accepted (amber).
    client.post(f"/api/v1/devices/{phone.device_id}/revoke", headers=agent)
    r = client.post(
        SESSIONS,
        files=files(later),
        data={"meta": _meta(phone, later)},
        headers=agent,
    )
    assert r.status_code == 422 and "was revoked on" in r.json()["detail"]
    r = client.post(SESSIONS, files=files(later), headers=agent)
    assert r.status_code == 201, r.text
    (event,) = _session_events(app)
    assert {c["light"] for c in event["payload"]["captures"]} == {"amber"}
    capture = event["payload"]["captures"][0]
    assert (capture["message"], capture["params"]) == (
        "capture.unsigned_has_device",
        {"agent": "field_agent"},
    )
