"""Signed captures over HTTP on real cows: enrolment and claim evidence, verdicts, retries.

The phone is :class:`tests.claims.capture_phone.Phone`: a P-256 key that signs
exactly as WebCrypto does (P1363 ``r||s``), registered as a device of the
agent who logs in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from livestock.data import scan_folder, split_enrol_query
from server.context import AppContext
from server.http.app import create_app
from server.i18n import render_message
from server.services.auth import ROLES, UserStore
from server.storage.schema import (
    animals,
    enrolments,
    evidence,
    photos,
    policy_animals,
)
from tests import aio
from tests.cattle import sample_animals
from tests.claims.capture_phone import Phone
from underwriting import LivestockProduct, Money

PASSWORD = "correct horse battery"
FARM = (40.842, 111.749)
EVENT = date(2025, 4, 20)
SIGNED_AT = "2025-04-21T08:15:30.250Z"


@dataclass(frozen=True)
class Cow:
    tag: str
    enrol: list[Path]
    later: list[Path]


@pytest.fixture(scope="module")
def cows(shared_data: Path) -> list[Cow]:
    """Two cows of the tests' fixed sample (every 4th tag), their photos."""
    found = scan_folder(shared_data / "cattle_faces")
    held = sample_animals(shared_data)[:2]
    split = split_enrol_query([c for c in found if c.animal in held])
    return [
        Cow(
            tag,
            [c.path for c in split.enrol[tag]],
            [c.path for c in split.query[tag]],
        )
        for tag in held
    ]


@pytest.fixture
def client(app: AppContext) -> Iterator[TestClient]:
    store = UserStore(app.engine)
    for role in ROLES:
        store.create(role, PASSWORD, role, "F-1" if role == "farmer" else None)
    store.create("field_agent_2", PASSWORD, "field_agent", None)
    uw = app.underwriting
    uw.register_farmer("F-1", "Liu", "Hohhot", lat=FARM[0], lon=FARM[1], actor="admin")
    uw.add_product(
        LivestockProduct(
            "COW", Money.parse("8000"), Decimal("0.06"), Money.parse("200"), 7
        ),
        actor="admin",
    )
    with TestClient(create_app(app), raise_server_exceptions=False) as c:
        yield c


def login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def registered(client: TestClient, who: dict[str, str]) -> Phone:
    """A phone registered as a device of the logged-in agent."""
    phone = Phone()
    r = client.post(
        "/api/v1/devices",
        json={"public_key": phone.jwk(), "label": "phone"},
        headers=who,
    )
    assert r.status_code == 201, r.text
    phone.device_id = r.json()["device_id"]
    return phone


def events(app: AppContext, kind: str) -> list[dict[str, Any]]:
    docs = [json.loads(e.data) for e in app.ledger.store.iter_entries()]
    return [d for d in docs if d["type"] == kind]


def count(app: AppContext, table: Any) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def files(paths: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


def signed_meta(
    phone: Phone, paths: list[Path], agent: str = "field_agent", **fields: Any
) -> str:
    entries = []
    for p in paths:
        signed, signature = phone.capture(
            agent, p.read_bytes(), captured_at=SIGNED_AT, **fields
        )
        entries.append({"name": p.name, "signed": signed, "signature": signature})
    return json.dumps(entries)


def enrol(
    client: TestClient,
    who: dict[str, str],
    cow: Cow,
    meta: str | None = None,
    key: str | None = None,
) -> httpx.Response:
    data = {"tag": cow.tag, "farmer_id": "F-1"} | ({"meta": meta} if meta else {})
    headers = who | ({"Idempotency-Key": key} if key else {})
    return client.post(
        "/api/v1/animals", data=data, files=files(cow.enrol), headers=headers
    )


def claim_on(app: AppContext, cow: Cow) -> str:
    """A filed claim on ``cow`` (enrolled unsigned and insured if need be)."""
    uw = app.underwriting
    from livestock import Photo

    with app.engine.connect() as conn:
        enrolled = conn.execute(
            select(animals.c.tag).where(animals.c.tag == cow.tag)
        ).first()
    if enrolled is None:
        photos_ = [Photo(p.name, p) for p in cow.enrol]
        assert app.enrolment.enrol_animal(
            cow.tag, photos_, farmer_id="F-1", actor="a"
        ).status == ("enrolled")
    with app.engine.connect() as conn:
        policy = conn.execute(
            select(policy_animals.c.policy_id).where(policy_animals.c.tag == cow.tag)
        ).scalar()
    if policy is None:
        a = uw.apply_livestock(
            "F-1",
            "COW",
            [cow.tag],
            start=date(2025, 4, 1),
            end=date(2026, 3, 31),
            actor="a",
        )
        policy = uw.decide(a.id, "approve", actor="uw", reason="test").policy_id
    assert policy is not None
    claim = app.claims.file(
        policy_id=policy,
        farmer_id="F-1",
        subject_kind="animal",
        subject_id=cow.tag,
        event_date=EVENT,
        reported_at=datetime(2025, 4, 21, 12, tzinfo=UTC),
        market_value=Money.parse("7600"),
        actor="field_agent",
    )
    return claim.id


def send_evidence(
    client: TestClient,
    who: dict[str, str],
    claim: str,
    paths: list[Path],
    meta: str | None,
    key: str | None = None,
) -> httpx.Response:
    headers = who | ({"Idempotency-Key": key} if key else {})
    return client.post(
        f"/api/v1/claims/{claim}/evidence",
        files=files(paths),
        data={"meta": meta} if meta else {},
        headers=headers,
    )


def checks(r: httpx.Response) -> dict[str, tuple[str, str]]:
    return {c["code"]: (c["light"], c["reason"]) for c in r.json()["checks"]}


# --- enrolment --------------------------------------------------------------------


def test_a_signed_enrolment_records_its_verdicts_and_feeds_the_gallery(
    client: TestClient, app: AppContext, cows: list[Cow]
) -> None:
    agent = login(client, "field_agent")
    phone = registered(client, agent)
    first, second = cows
    r = enrol(client, agent, first, signed_meta(phone, first.enrol))
    assert (r.status_code, r.json()["status"]) == (201, "enrolled"), r.text
    (event,) = events(app, "animal.enrolled")
    captures = event["payload"]["captures"]
    assert [c["photo"] for c in captures] == [p.name for p in first.enrol]
    assert {c["light"] for c in captures} == {"green"}
    assert {c["device"] for c in captures} == {phone.device_id}
    assert all(len(c["signature"]) == 86 for c in captures)
    with app.engine.connect() as conn:
        detail = json.loads(conn.execute(select(enrolments.c.detail)).scalar_one())
        kept = conn.execute(select(photos.c.captured_at)).scalars().all()
    assert detail["captures"] == captures
    # The kept photos carry the signed capture time.
    assert set(kept) == {datetime(2025, 4, 21, 8, 15, 30, 250000, UTC)}

    # Unsigned photos still enrol (amber), as from the staff pages.
    r = enrol(client, agent, second)
    assert (r.status_code, r.json()["status"]) == (201, "enrolled"), r.text
    unsigned = events(app, "animal.enrolled")[1]["payload"]["captures"]
    assert {(c["light"], c["device"], c["signature"]) for c in unsigned} == {
        ("amber", None, None)
    }

    gallery = client.get("/api/v1/agent/gallery", headers=agent)
    assert gallery.status_code == 200, gallery.text
    doc = gallery.json()
    manifest = app.registry().faceid.manifest
    assert doc["model"] == {"name": manifest.name, "sha256": manifest.sha256}
    assert [a["tag"] for a in doc["animals"]] == sorted(c.tag for c in cows)
    assert doc["next"] is None
    for animal in doc["animals"]:
        assert animal["farmer_id"] == "F-1"
        (template,) = animal["templates"]
        stored = app.registry().store.get(animal["tag"])
        assert stored is not None
        assert np.array_equal(np.asarray(template, dtype=np.float32), stored.template)
        assert len(template) == 128
        assert abs(float(np.linalg.norm(template)) - 1) < 1e-4
    page = client.get(
        "/api/v1/agent/gallery", params={"limit": 1}, headers=agent
    ).json()
    assert len(page["animals"]) == 1 and page["next"] == page["animals"][0]["tag"]
    rest = client.get(
        "/api/v1/agent/gallery",
        params={"limit": 1, "cursor": page["next"]},
        headers=agent,
    ).json()
    assert [a["tag"] for a in page["animals"] + rest["animals"]] == [
        a["tag"] for a in doc["animals"]
    ]
    assert rest["next"] is None
    for role in ("admin", "farmer", "adjuster"):
        assert (
            client.get("/api/v1/agent/gallery", headers=login(client, role)).status_code
            == 403
        )


def test_an_enrolment_with_a_red_photo_is_refused_and_nothing_is_stored(
    client: TestClient, app: AppContext, cows: list[Cow]
) -> None:
    agent = login(client, "field_agent")
    phone = registered(client, agent)
    cow = cows[0]
    entries = json.loads(signed_meta(phone, cow.enrol))
    bad = cow.enrol[1].name
    # The second photo's message signs other bytes than those sent.
    signed, signature = phone.capture(
        "field_agent", cow.enrol[1].read_bytes() + b"edited", captured_at=SIGNED_AT
    )
    entries[1] |= {"signed": signed, "signature": signature}
    before = app.ledger.store.size()
    r = enrol(client, agent, cow, json.dumps(entries))
    assert (r.status_code, r.json()["field"]) == (422, "meta"), r.text
    assert bad in r.json()["detail"]
    assert "the photo bytes differ from the signed hash" in r.json()["detail"]
    assert [count(app, t) for t in (animals, enrolments, photos)] == [0, 0, 0]
    assert app.ledger.store.size() == before
    # A revoked device's signatures are refused too; then the photos unsigned enrol.
    client.post(f"/api/v1/devices/{phone.device_id}/revoke", headers=agent)
    r = enrol(client, agent, cow, signed_meta(phone, cow.enrol))
    assert r.status_code == 422 and "was revoked on" in r.json()["detail"]
    assert count(app, animals) == 0
    assert enrol(client, agent, cow).status_code == 201


# --- claim evidence -------------------------------------------------------------------


def test_signed_evidence_is_green_and_its_time_and_place_win(
    client: TestClient, app: AppContext, cows: list[Cow]
) -> None:
    agent = login(client, "field_agent")
    phone = registered(client, agent)
    claim = claim_on(app, cows[0])
    paths = cows[0].later[:2]
    r = send_evidence(client, agent, claim, paths, signed_meta(phone, paths))
    assert r.status_code == 200, r.text
    got = checks(r)
    assert got["capture_signature"][0] == "green", got
    assert "all 2 photos signed" in got["capture_signature"][1]
    assert got["capture_time"][0] == "green" and got["photo_location"][0] == "green"
    shown = client.get(f"/api/v1/claims/{claim}", headers=login(client, "adjuster"))
    assert checks(shown)["capture_signature"] == got["capture_signature"]
    with app.engine.connect() as conn:
        rows = conn.execute(select(evidence).order_by(evidence.c.id)).all()
    assert [r_.name for r_ in rows] == [p.name for p in paths]
    for row, entry in zip(rows, json.loads(signed_meta(phone, paths)), strict=True):
        assert (row.capture_light, row.device_id) == ("green", phone.device_id)
        assert row.signed.startswith('{"accuracy_m":"12","agent":"field_agent"')
        assert len(row.signature) == 86
        assert row.captured_at == datetime(2025, 4, 21, 8, 15, 30, 250000, UTC)
        assert (row.lat, row.lon) == (40.843, 111.749)
        del entry
    (event,) = events(app, "claim.evidence_checked")
    assert event["payload"]["checks"]["capture_signature"] == "green"
    assert [
        (c["photo"], c["light"], c["device"]) for c in event["payload"]["captures"]
    ] == [(p.name, "green", phone.device_id) for p in paths]


def test_each_tampering_makes_the_photo_and_the_claim_red(
    client: TestClient, app: AppContext, cows: list[Cow]
) -> None:
    agent = login(client, "field_agent")
    phone = registered(client, agent)
    other_agents = registered(client, login(client, "field_agent_2"))
    unknown = Phone("dev_0123456789abcdef0123456789abcdef")
    revoked = registered(client, agent)
    client.post(f"/api/v1/devices/{revoked.device_id}/revoke", headers=agent)
    cow = cows[0]
    photo = cow.later[0]
    data = photo.read_bytes()

    def entry(signed: str, signature: str, **more: Any) -> str:
        return json.dumps(
            [{"name": photo.name, "signed": signed, "signature": signature, **more}]
        )

    good, good_sig = phone.capture("field_agent", data, captured_at=SIGNED_AT)
    cases = {
        "altered bytes": (
            entry(*phone.capture("field_agent", data[:-1], captured_at=SIGNED_AT)),
            "the photo bytes differ from the signed hash",
        ),
        "altered time": (
            entry(good.replace("08:15:30.250Z", "07:15:30.250Z"), good_sig),
            "the signature does not verify",
        ),
        "altered place": (
            entry(good.replace('"lon":"111.749000"', '"lon":"111.799000"'), good_sig),
            "the signature does not verify",
        ),
        "time sent beside differs": (
            entry(good, good_sig, captured_at="2025-04-21T09:00:00Z"),
            "differs from the time sent",
        ),
        "place sent beside differs": (
            entry(good, good_sig, lat=40.9, lon=111.749),
            "differs from the place sent",
        ),
        "unknown device": (
            entry(*unknown.capture("field_agent", data, captured_at=SIGNED_AT)),
            "is not registered",
        ),
        "revoked device": (
            entry(*revoked.capture("field_agent", data, captured_at=SIGNED_AT)),
            "was revoked on",
        ),
        "another agent's device": (
            entry(*other_agents.capture("field_agent", data, captured_at=SIGNED_AT)),
            "belongs to another agent",
        ),
        "another agent's message": (
            entry(*phone.capture("field_agent_2", data, captured_at=SIGNED_AT)),
            "signed by agent field_agent_2, sent by field_agent",
        ),
    }
    for case, (meta, reason) in cases.items():
        claim = claim_on(app, cow)
        r = send_evidence(client, agent, claim, [photo], meta)
        assert r.status_code == 200, (case, r.text)
        light, why = checks(r)["capture_signature"]
        assert light == "red" and r.json()["light"] == "red", case
        assert why.startswith(f"{photo.name}: ") and reason in why, (case, why)
        last = events(app, "claim.evidence_checked")[-1]
        (capture,) = last["payload"]["captures"]
        words = render_message(capture["message"], capture["params"], "en")
        assert capture["light"] == "red" and reason in words, case
    # The signed message as the phone made it is green.
    r = send_evidence(client, agent, claim_on(app, cow), [photo], entry(good, good_sig))
    assert checks(r)["capture_signature"][0] == "green"


def test_unsigned_evidence_keeps_the_claim_as_before_unless_the_agent_has_a_phone(
    client: TestClient, app: AppContext, cows: list[Cow]
) -> None:
    cow = cows[0]
    unsigned_meta = json.dumps(
        [
            {"name": p.name, "captured_at": SIGNED_AT, "lat": 40.843, "lon": 111.749}
            for p in cow.later[:2]
        ]
    )
    # Unsigned, from an agent without a device (as the staff pages and the
    # API without the app): no new check, as before devices existed.
    other = login(client, "field_agent_2")
    claim = claim_on(app, cow)
    r = send_evidence(client, other, claim, cow.later[:2], unsigned_meta)
    assert r.status_code == 200, r.text
    assert "capture_signature" not in checks(r)
    with app.engine.connect() as conn:
        lights = conn.execute(select(evidence.c.capture_light)).scalars().all()
    assert lights == [None, None]
    (event,) = events(app, "claim.evidence_checked")
    assert {c["light"] for c in event["payload"]["captures"]} == {"amber"}
    # Unsigned, from an agent who has a registered phone: leaving the photos
    # unsigned does not avoid the check; they are amber, and say why.
    agent = login(client, "field_agent")
    phone = registered(client, agent)
    r = send_evidence(client, agent, claim_on(app, cow), cow.later[:2], unsigned_meta)
    light, why = checks(r)["capture_signature"]
    assert light == "amber", why
    assert why == (
        f"2 of 2 photos not attested: {cow.later[0].name}, {cow.later[1].name}: "
        "not signed, though agent field_agent has a registered phone"
    )
    # ... and still once that phone is revoked (resending unsigned changes nothing).
    client.post(f"/api/v1/devices/{phone.device_id}/revoke", headers=agent)
    r = send_evidence(client, agent, claim_on(app, cow), cow.later[:1], None)
    assert checks(r)["capture_signature"][0] == "amber"
    # An agent without a device adding unsigned photos to that claim: the
    # check stays (the claim's photos all count once one does).
    phone = registered(client, agent)
    signed, unsigned = cow.later[2], cow.later[3]
    meta = [*json.loads(signed_meta(phone, [signed])), {"name": unsigned.name}]
    r = send_evidence(
        client, agent, claim_on(app, cow), [signed, unsigned], json.dumps(meta)
    )
    light, why = checks(r)["capture_signature"]
    assert light == "amber" and f"not attested: {unsigned.name}: " in why, why
    claim = claim_on(app, cow)
    send_evidence(client, agent, claim, [signed], signed_meta(phone, [signed]))
    r = send_evidence(client, other, claim, [unsigned], None)
    light, why = checks(r)["capture_signature"]
    assert light == "amber" and why.endswith(
        f"{unsigned.name}: not signed by a registered device"
    ), why


def test_odd_device_and_agent_values_are_a_red_photo_never_a_server_error(
    client: TestClient, app: AppContext, cows: list[Cow]
) -> None:
    agent = login(client, "field_agent")
    phone = registered(client, agent)
    cow = cows[0]
    photo = cow.later[0]
    data = photo.read_bytes()
    cases = {
        "NUL in device": (
            phone.capture(
                "field_agent",
                data,
                captured_at=SIGNED_AT,
                device=phone.device_id[:-1] + "\x00",
            ),
            "is not a device id",
        ),
        "device longer than the column": (
            phone.capture(
                "field_agent",
                data,
                captured_at=SIGNED_AT,
                device=phone.device_id + "0" * 8,
            ),
            "is not a device id",
        ),
        "agent longer than a username": (
            phone.capture("a" * 65, data, captured_at=SIGNED_AT),
            "agent must be 1 to 64 characters, not 65",
        ),
        "control character in agent": (
            phone.capture("field_agent\x00", data, captured_at=SIGNED_AT),
            "agent holds a control character",
        ),
    }
    for case, ((signed, signature), reason) in cases.items():
        meta = json.dumps(
            [{"name": photo.name, "signed": signed, "signature": signature}]
        )
        r = send_evidence(client, agent, claim_on(app, cow), [photo], meta)
        assert r.status_code == 200, (case, r.text)
        light, why = checks(r)["capture_signature"]
        assert light == "red" and reason in why, (case, why)
        with app.engine.connect() as conn:
            row = conn.execute(
                select(evidence.c.device_id, evidence.c.capture_light)
                .order_by(evidence.c.id.desc())
                .limit(1)
            ).one()
        assert tuple(row) == (None, "red"), case
        # Enrolment refuses them by name (nothing stored).
        entries = [
            {"name": p.name, "signed": signed, "signature": signature}
            if p == cow.enrol[0]
            else json.loads(signed_meta(phone, [p]))[0]
            for p in cow.enrol
        ]
        other = Cow(cows[1].tag, cow.enrol, [])
        r = enrol(client, agent, other, json.dumps(entries))
        assert (r.status_code, r.json()["field"]) == (422, "meta"), (case, r.text)
        assert r.json()["detail"].startswith(f"{cow.enrol[0].name}: "), r.text
    # A raw NUL (not JSON's escape of one) in what is kept is refused before any work.
    signed, signature = phone.capture("field_agent", data, captured_at=SIGNED_AT)
    for entry in (
        {"signed": signed + "\x00"},
        {"signed": signed, "signature": signature[:-1] + "\x00"},
    ):
        meta = json.dumps([{"name": photo.name, "signature": signature} | entry])
        before = count(app, evidence)
        r = send_evidence(client, agent, claim_on(app, cow), [photo], meta)
        assert (r.status_code, r.json()["field"]) == (422, "meta"), r.text
        assert count(app, evidence) == before


def test_a_photo_picked_from_the_phones_files_is_amber_and_its_exif_counts(
    client: TestClient, app: AppContext, cows: list[Cow]
) -> None:
    agent = login(client, "field_agent")
    phone = registered(client, agent)
    cow = cows[0]
    picked, taken = cow.later[0], cow.later[1]
    # Signed "now, here" when picked: the signed time and place are the
    # farm's on the day after the loss, which would be green for a camera photo.
    meta = [
        *json.loads(signed_meta(phone, [picked], source="file")),
        *json.loads(signed_meta(phone, [taken])),
    ]
    r = send_evidence(
        client, agent, claim_on(app, cow), [picked, taken], json.dumps(meta)
    )
    assert r.status_code == 200, r.text
    light, why = checks(r)["capture_signature"]
    assert light == "amber", why
    assert why == (
        f"1 of 2 photos not attested: {picked.name}: signed on a registered device, "
        "but picked from the phone's files: time and place not attested"
    )
    with app.engine.connect() as conn:
        rows = conn.execute(select(evidence).order_by(evidence.c.id)).all()
    # The picked photo has no EXIF time or place: it has none, not the signed ones.
    assert [(x.name, x.capture_light, x.device_id) for x in rows] == [
        (picked.name, "amber", phone.device_id),
        (taken.name, "green", phone.device_id),
    ]
    assert (rows[0].captured_at, rows[0].lat, rows[0].lon) == (None, None, None)
    assert rows[1].captured_at == datetime(2025, 4, 21, 8, 15, 30, 250000, UTC)
    assert checks(r)["capture_time"][0] != "green"
    assert checks(r)["photo_location"][0] != "green"
    # What the app states beside a picked photo (its EXIF, read on the phone)
    # is what counts, as for an unsigned photo: here a year before the loss.
    entry = json.loads(signed_meta(phone, [picked], source="file"))[0]
    entry |= {"captured_at": "2024-04-01T09:00:00Z", "lat": 40.843, "lon": 111.749}
    r = send_evidence(client, agent, claim_on(app, cow), [picked], json.dumps([entry]))
    got = checks(r)
    assert got["capture_signature"][0] == "amber"
    assert got["capture_time"][0] == "red", got["capture_time"]
    assert got["photo_location"][0] == "green"


def test_a_red_photos_signed_time_and_place_are_not_used(
    client: TestClient, app: AppContext, cows: list[Cow]
) -> None:
    agent = login(client, "field_agent")
    phone = registered(client, agent)
    cow = cows[0]
    photo = cow.later[0]
    # Signed by another phone than the one registered: red. Its signed time and
    # place (the farm, the day after the loss) are not the photo's.
    stranger = Phone(phone.device_id)
    meta = signed_meta(stranger, [photo])
    r = send_evidence(client, agent, claim_on(app, cow), [photo], meta)
    got = checks(r)
    assert got["capture_signature"][0] == "red"
    assert got["capture_time"][0] != "green" and got["photo_location"][0] != "green"
    with app.engine.connect() as conn:
        row = conn.execute(
            select(evidence).order_by(evidence.c.id.desc()).limit(1)
        ).one()
    assert (row.captured_at, row.lat, row.lon) == (None, None, None)
    # A time sent beside a signed message must carry its offset.
    entry = json.loads(signed_meta(phone, [photo]))[0]
    entry |= {"captured_at": "2025-04-21T08:15:30.250"}
    r = send_evidence(client, agent, claim_on(app, cow), [photo], json.dumps([entry]))
    light, why = checks(r)["capture_signature"]
    assert light == "red" and "has no offset (Z for UTC)" in why, why


def test_a_device_awaiting_approval_signs_amber_until_an_admin_approves_it(
    client: TestClient, app: AppContext, cows: list[Cow]
) -> None:
    agent, admin = login(client, "field_agent"), login(client, "admin")
    seized = registered(client, agent)
    client.post(f"/api/v1/devices/{seized.device_id}/revoke", headers=admin)
    phone = Phone()
    r = client.post(
        "/api/v1/devices",
        json={"public_key": phone.jwk(), "label": "new"},
        headers=agent,
    )
    assert (r.status_code, r.json()["status"]) == (201, "pending")
    phone.device_id = r.json()["device_id"]
    cow = cows[0]
    photo = cow.later[0]
    r = send_evidence(
        client, agent, claim_on(app, cow), [photo], signed_meta(phone, [photo])
    )
    got = checks(r)
    assert got["capture_signature"] == (
        "amber",
        f"1 of 1 photo not attested: {photo.name}: device awaiting approval",
    )
    assert got["capture_time"][0] != "green"  # the signed time is not vouched for
    # An enrolment with its photos is accepted (amber is not red).
    r = enrol(client, agent, cows[1], signed_meta(phone, cows[1].enrol))
    assert r.status_code == 201, r.text
    client.post(f"/api/v1/devices/{phone.device_id}/approve", headers=admin)
    r = send_evidence(
        client, agent, claim_on(app, cow), [photo], signed_meta(phone, [photo])
    )
    assert checks(r)["capture_signature"][0] == "green"
    assert checks(r)["capture_time"][0] == "green"


# --- retries (Idempotency-Key) ----------------------------------------------------------


def _raw(
    client: TestClient,
    request: httpx.Request,
    *,
    cut_at: int | None = None,
    drop_response: bool = False,
) -> list[dict[str, Any]]:
    """Send ``request`` to the app as a phone on a bad network would.

    ``cut_at``: the connection drops after that many bytes of the body.
    ``drop_response``: the whole request arrives, but the connection drops
    before the response reaches the phone.
    """
    body = request.read()
    part = body if cut_at is None else body[:cut_at]
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {
                "type": "http.request",
                "body": part,
                "more_body": cut_at is not None,
            }
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if drop_response and message["type"] == "http.response.start":
            raise ConnectionResetError("the phone lost the connection")
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": request.url.path,
        "raw_path": request.url.raw_path,
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in request.headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def run() -> None:
        try:
            await client.app(scope, receive, send)  # type: ignore[arg-type]
        except ConnectionResetError:
            pass

    aio.run(run())
    return sent


def _request(
    path: str, who: dict[str, str], key: str, data: dict[str, str], paths: list[Path]
) -> httpx.Request:
    return httpx.Request(
        "POST",
        f"http://testserver{path}",
        data=data,
        files=files(paths),
        headers=who | {"Idempotency-Key": key},
    )


def test_a_retried_enrolment_creates_one_animal(
    client: TestClient, app: AppContext, cows: list[Cow]
) -> None:
    agent = login(client, "field_agent")
    phone = registered(client, agent)
    first, second = cows
    # 1. The server committed, the answer never reached the phone: the retry
    # gets the stored answer.
    meta = signed_meta(phone, first.enrol)
    data = {"tag": first.tag, "farmer_id": "F-1", "meta": meta}
    lost = _raw(
        client,
        _request("/api/v1/animals", agent, "capture-1", data, first.enrol),
        drop_response=True,
    )
    assert lost == []
    assert count(app, animals) == 1
    retry = enrol(client, agent, first, meta, key="capture-1")
    assert (retry.status_code, retry.json()["status"]) == (201, "enrolled")
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(events(app, "animal.enrolled")) == 1 and count(app, enrolments) == 1
    # 2. The connection dropped mid-body: nothing was done; the retry does it once.
    data = {"tag": second.tag, "farmer_id": "F-1"}
    request = _request("/api/v1/animals", agent, "capture-2", data, second.enrol)
    cut = _raw(client, request, cut_at=len(request.read()) // 2)
    assert not cut or cut[0]["status"] >= 400
    assert count(app, animals) == 1 and count(app, enrolments) == 1
    retry = enrol(client, agent, second, key="capture-2")
    assert (retry.status_code, retry.json()["status"]) == (201, "enrolled")
    assert "Idempotent-Replayed" not in retry.headers
    again = enrol(client, agent, second, key="capture-2")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(app, animals) == 2 and len(events(app, "animal.enrolled")) == 2
    # The key names one request: other photos under it are refused.
    other = enrol(client, agent, first, key="capture-2")
    assert (other.status_code, other.json()["field"]) == (422, "Idempotency-Key")


def test_a_retried_evidence_upload_stores_one_evidence_set(
    client: TestClient, app: AppContext, cows: list[Cow]
) -> None:
    agent = login(client, "field_agent")
    phone = registered(client, agent)
    cow = cows[0]
    claim = claim_on(app, cow)
    paths = cow.later[:2]
    meta = signed_meta(phone, paths)
    path = f"/api/v1/claims/{claim}/evidence"
    lost = _raw(
        client,
        _request(path, agent, "ev-1", {"meta": meta}, paths),
        drop_response=True,
    )
    assert lost == [] and count(app, evidence) == 2
    retry = send_evidence(client, agent, claim, paths, meta, key="ev-1")
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert checks(retry)["capture_signature"][0] == "green"
    assert count(app, evidence) == 2 and len(events(app, "claim.evidence_checked")) == 1
    # Cut mid-body: nothing stored; the retry stores the photos once.
    later = cow.later[2:4]
    meta = signed_meta(phone, later)
    request = _request(path, agent, "ev-2", {"meta": meta}, later)
    _raw(client, request, cut_at=len(request.read()) - 100)
    assert count(app, evidence) == 2
    retry = send_evidence(client, agent, claim, later, meta, key="ev-2")
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry.headers
    replay = send_evidence(client, agent, claim, later, meta, key="ev-2")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == retry.json()
    assert count(app, evidence) == 4 and len(events(app, "claim.evidence_checked")) == 2
    hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in [*paths, *later]}
    with app.engine.connect() as conn:
        signed = conn.execute(select(evidence.c.signed)).scalars().all()
    assert {json.loads(s)["photo_sha256"] for s in signed} == hashes
