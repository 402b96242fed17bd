"""Evidence and enrolment photos: kept once per content, served by role, with thumbnails."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from server.context import AppContext
from server.http.app import create_app
from server.storage.photo_store import PhotoFileError, PhotoFiles, is_sha256
from tests.server.pages_records import (
    Cows,
    add_users,
    animal_claim,
    insure_herd,
    login,
    pick_cows,
)


@pytest.fixture(scope="module")
def cows(shared_data: Path) -> Cows:
    return pick_cows(shared_data)


@pytest.fixture
def client(app: AppContext) -> Iterator[TestClient]:
    add_users(app)
    with TestClient(create_app(app), raise_server_exceptions=False) as c:
        yield c


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


# --- the folder ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("a" * 64, True),
        ("0123456789abcdef" * 4, True),
        ("A" * 64, False),  # upper case is not a file name the store writes
        ("a" * 63, False),
        ("a" * 65, False),
        ("../" + "a" * 61, False),
        ("g" * 64, False),
        ("", False),
    ],
)
def test_only_lower_case_sha256_hex_names_a_file(text: str, ok: bool) -> None:
    assert is_sha256(text) is ok


def test_a_photo_is_kept_once_with_a_thumbnail(tmp_path: Path, cows: Cows) -> None:
    files = PhotoFiles(tmp_path / "photos")
    real = cows.enrol[cows.tags[0]][0].path
    data = real.read_bytes()
    first = files.put(data)
    again = files.put(real)  # the same content, from its path
    assert first == again
    assert first.sha256 == hashlib.sha256(data).hexdigest()
    with Image.open(real) as img:
        assert (first.width, first.height) == img.size
    assert first.media_type == "image/jpeg" and first.size_bytes == len(data)
    path = files.path(first.sha256, first.media_type)
    rel = path.relative_to(tmp_path / "photos")
    assert rel.parts == (first.sha256[:2], first.sha256[2:4], f"{first.sha256}.jpg")
    assert path.read_bytes() == data
    assert len(files_under(tmp_path / "photos")) == 2  # the photo and its thumbnail
    assert not [p for p in files_under(tmp_path) if p.name.startswith(".tmp-")]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1200, 900), (256, 192)),  # landscape: the width becomes 256
        ((600, 1000), (154, 256)),  # portrait: the height becomes 256
        ((180, 120), (180, 120)),  # smaller than 256: never enlarged
    ],
)
def test_thumbnails_are_at_most_256_px_on_the_longest_side(
    tmp_path: Path, cows: Cows, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    with Image.open(cows.enrol[cows.tags[0]][0].path) as img:
        buf = io.BytesIO()
        img.convert("RGB").resize(size).save(buf, "PNG")
    files = PhotoFiles(tmp_path)
    kept = files.put(buf.getvalue())
    assert kept.media_type == "image/png" and (kept.width, kept.height) == size
    with Image.open(files.thumb_path(kept.sha256)) as thumb:
        assert thumb.format == "JPEG" and thumb.size == expected


def test_bytes_that_are_not_an_image_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PhotoFileError, match="not a readable image"):
        PhotoFiles(tmp_path).put(b"\xff\xd8 not really a jpeg")
    assert files_under(tmp_path) == []


# --- over HTTP, by role --------------------------------------------------------------


def test_claim_and_enrolment_photos_are_kept_and_shown_by_role(
    app: AppContext, client: TestClient, cows: Cows
) -> None:
    herd = insure_herd(app, cows)
    claim, caps = animal_claim(app, cows, herd, "F-1")
    other, _ = animal_claim(app, cows, herd, "F-2", n=1)
    adjuster = login(client, "adjuster")

    r = client.get(f"/api/v1/claims/{claim.id}/photos", headers=adjuster)
    assert r.status_code == 200, r.text
    listed = r.json()
    assert [p["name"] for p in listed] == [c.path.name for c in caps]
    for p, c in zip(listed, caps, strict=True):
        data = c.path.read_bytes()
        assert p["sha256"] == hashlib.sha256(data).hexdigest()
        assert p["url"] == f"/api/v1/photos/{p['sha256']}"
        assert p["thumb_url"] == f"/api/v1/photos/{p['sha256']}/thumb"
        assert p["captured_at"] is not None
        with Image.open(c.path) as img:
            assert (p["width"], p["height"]) == img.size
        got = client.get(p["url"], headers=adjuster)
        assert got.status_code == 200 and got.content == data
        assert got.headers["content-type"] == "image/jpeg"
        assert got.headers["etag"] == f'"{p["sha256"]}"'
        assert got.headers["cache-control"].startswith("private")
        thumb = client.get(p["thumb_url"], headers=adjuster)
        assert thumb.status_code == 200
        assert thumb.headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(thumb.content)) as t:
            assert max(t.size) <= 256
        again = client.get(
            p["url"], headers=adjuster | {"If-None-Match": got.headers["etag"]}
        )
        assert again.status_code == 304 and again.content == b""

    tag = cows.tags[0]
    enrolled = client.get(f"/api/v1/animals/{tag}/photos", headers=adjuster).json()
    assert [p["name"] for p in enrolled] == [c.path.name for c in cows.enrol[tag]]

    # Farmer F-1: his own claim and animal; not F-2's (403 listing, 404 bytes).
    farmer = login(client, "farmer")
    assert client.get(f"/api/v1/claims/{claim.id}/photos", headers=farmer).json()
    assert client.get(listed[0]["url"], headers=farmer).status_code == 200
    assert (
        client.get(f"/api/v1/animals/{tag}/photos", headers=farmer).status_code == 200
    )
    theirs = client.get(f"/api/v1/claims/{other.id}/photos", headers=adjuster).json()
    denied = client.get(f"/api/v1/claims/{other.id}/photos", headers=farmer)
    assert denied.status_code == 403 and "not yours" in denied.json()["detail"]
    for url in (theirs[0]["url"], theirs[0]["thumb_url"]):
        assert client.get(url, headers=farmer).status_code == 404
    assert (
        client.get(f"/api/v1/animals/{cows.tags[1]}/photos", headers=farmer).status_code
        == 403
    )
    # Farmer F-2 cannot fetch F-1's claim photo.
    farmer2 = login(client, "farmer2")
    assert client.get(listed[0]["url"], headers=farmer2).status_code == 404
    assert client.get(theirs[0]["url"], headers=farmer2).status_code == 200

    # Field agents: enrolment photos, not claim evidence.
    agent = login(client, "field_agent")
    assert client.get(f"/api/v1/animals/{tag}/photos", headers=agent).status_code == 200
    enrol_url = enrolled[0]["url"]
    assert client.get(enrol_url, headers=agent).status_code == 200
    assert (
        client.get(f"/api/v1/claims/{claim.id}/photos", headers=agent).status_code
        == 403
    )
    assert client.get(listed[0]["url"], headers=agent).status_code == 404

    # Unknown records and hashes; nothing from the path reaches the disk.
    assert client.get("/api/v1/claims/nope/photos", headers=adjuster).status_code == 404
    assert (
        client.get("/api/v1/animals/nope/photos", headers=adjuster).status_code == 404
    )
    for digest in ("f" * 64, "z" * 64, "A" * 64, "..."):
        r = client.get(f"/api/v1/photos/{digest}", headers=adjuster)
        assert r.status_code == 404, (digest, r.text)
        assert r.json()["field"] == "sha256"
    traversal = client.get("/api/v1/photos/..%2F..%2Fetc%2Fpasswd", headers=adjuster)
    assert traversal.status_code == 404
    too_long = client.get(f"/api/v1/photos/{'a' * 65}", headers=adjuster)
    assert too_long.status_code == 422 and too_long.json()["field"] == "sha256"
    assert client.get(listed[0]["url"]).status_code == 401

    # An animal claim has photos, not a map: no damage polygons, no NDVI series.
    damage = client.get(f"/api/v1/claims/{claim.id}/damage.geojson", headers=adjuster)
    assert (damage.json()["features"], damage.json()["assessed"]) == ([], False)
    series = client.get(f"/api/v1/claims/{claim.id}/series", headers=adjuster).json()
    assert series["points"] == [] and "only crop claims" in series["reason"]


def test_the_same_photo_is_one_file_however_often_it_is_sent(
    app: AppContext, cows: Cows
) -> None:
    herd = insure_herd(app, cows)
    folder = app.settings.resolved_photo_dir()
    tag = cows.tags[0]
    # Enrolment kept one file (and one thumbnail) per distinct photo.
    distinct = {
        hashlib.sha256(c.path.read_bytes()).hexdigest() for c in cows.enrol[tag]
    }
    distinct |= {
        hashlib.sha256(c.path.read_bytes()).hexdigest()
        for c in cows.enrol[cows.tags[1]]
    }
    assert len(files_under(folder)) == 2 * len(distinct)
    claim, caps = animal_claim(app, cows, herd, "F-1", n=2)
    before = files_under(folder)
    # The same two photos again, for a second claim: no new file, one more row each.
    second, _ = animal_claim(app, cows, herd, "F-1", n=2)
    assert files_under(folder) == before
    photos = app.photos
    from server.services.photos import Viewer

    staff = Viewer("adjuster")
    assert [p.sha256 for p in photos.photos_of(staff, "claim", claim.id)] == [
        p.sha256 for p in photos.photos_of(staff, "claim", second.id)
    ]
    # Sent twice to the same claim: kept once for it.
    assert photos.link is not None
    with app.engine.begin() as conn:
        kept = photos.keep([(c.path.name, c.path, None) for c in caps])
        assert photos.link(conn, "claim", claim.id, kept) == 0
    assert len(photos.photos_of(staff, "claim", claim.id)) == 2


def test_an_enrolment_for_an_unknown_farmer_keeps_no_file_and_no_row(
    app: AppContext, cows: Cows
) -> None:
    """The farmer is looked up before a file is kept; a rollback leaves no row behind."""
    from livestock import Photo
    from server.errors import NotFoundError
    from server.services.photos import Viewer

    tag = cows.tags[0]
    photos = [Photo(c.path.name, c.path) for c in cows.enrol[tag]]
    with pytest.raises(NotFoundError):  # no such farmer: refused before any file
        app.enrolment.enrol_animal(tag, photos, farmer_id="F-9", actor="agent")
    assert not files_under(app.settings.resolved_photo_dir())
    with pytest.raises(NotFoundError):
        app.photos.photos_of(Viewer("admin"), "animal", tag)
