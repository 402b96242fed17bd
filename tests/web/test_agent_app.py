"""The field agent's app (/agent/) in a real browser: offline capture, signed photos, sync.

The demo's field agent logs in; the phone registers its own ECDSA P-256 key; real cow
photos go through the file input while the browser is offline; the on-device model
checks each photo and the capture waits, signed, in the IndexedDB queue; a reload
offline is served by the service worker; back online the queue is sent with one
Idempotency-Key per capture. An upload cut off midway (after the server committed,
or before it heard anything) is retried and still makes exactly one animal. A capture
altered after signing, or signed by a revoked device, is refused.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from livestock.data import EnrolSplit, scan_folder, split_enrol_query
from tests.web.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PASSWORD,
    PHONE,
    REPO,
    USERS,
    login,
    set_lang,
    take_screenshots,
    wait_idle,
)

EDGE = REPO / "edge"
FARM = {"latitude": 47.1234, "longitude": 13.5678, "accuracy": 12}
PHOTOS = 3  # photos per capture: enough for a session template, quick to embed
ISOLATED = {
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
}


# --- helpers ---------------------------------------------------------------------------


@pytest.fixture
def agent_page(browser: Any, server_url: str) -> Iterator[Callable[..., Any]]:
    """``agent_page(viewport=PHONE, lang="en")``: a fresh phone (own storage) at /agent/.

    Each page is its own browser context, so its own IndexedDB: its own device key.
    Geolocation is granted and set to a farm's position.
    """
    if not (EDGE / "node_modules" / "onnxruntime-web" / "dist").is_dir():
        pytest.fail(
            "the npm package onnxruntime-web is missing: run `make setup` "
            "(npm ci --prefix edge)"
        )
    contexts: list[Any] = []

    def open_page(viewport: dict[str, int] | None = None, lang: str = "en") -> Any:
        context = browser.new_context(
            viewport=viewport or PHONE,
            base_url=server_url,
            locale="en-GB",
            geolocation=FARM,
            permissions=["geolocation"],
            service_workers="allow",
        )
        context.add_init_script(
            f"try {{ if (!localStorage.getItem('agri.lang')) "
            f"localStorage.setItem('agri.lang', '{lang}'); }} catch (e) {{}}"
        )
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto("/agent/")
        wait_idle(page)
        return page

    yield open_page
    for context in contexts:
        context.close()


def _agent(page: Any) -> None:
    """Log in as the demo's field agent; wait for the device, the caches and the worker."""
    login(page, USERS["field_agent"])
    page.wait_for_function("() => document.documentElement.dataset.cachedAt")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    wait_idle(page)


def _api(page: Any, method: str, path: str, data: Any = None) -> Any:
    """Call the API with the page's own login (bearer token); the parsed JSON."""
    token = page.evaluate("() => sessionStorage.getItem('agri.token')")
    headers = {"Authorization": f"Bearer {token}"}
    fetch = page.request.get if method == "GET" else page.request.post
    kwargs: dict[str, Any] = {"headers": headers}
    if data is not None:
        kwargs["data"] = data
    response = fetch(f"/api/v1{path}", **kwargs)
    assert response.ok, f"{method} {path}: {response.status} {response.text()}"
    return response.json()


def _gallery_tags(page: Any) -> list[str]:
    """Every enrolled animal's tag, as the server's gallery lists them (one per animal)."""
    tags: list[str] = []
    cursor = ""
    while True:
        doc = _api(page, "GET", f"/agent/gallery?limit=1000&cursor={cursor}")
        tags += [a["tag"] for a in doc["animals"]]
        if not doc["next"]:
            return tags
        cursor = doc["next"]


@functools.cache
def _split(folder: Path) -> EnrolSplit:
    return split_enrol_query(scan_folder(folder))


def _cow_photos(shared_data: Path, tag: str, later: bool = False) -> list[Path]:
    """Photos of one cow: of its first capture day, or (later) of the day after those."""
    split = _split(shared_data / "cattle_faces")
    if not later:
        return [c.path for c in split.enrol[tag][:PHOTOS]]
    day = split.query[tag][0].day
    return [c.path for c in split.query[tag] if c.day == day][:PHOTOS]


_HANDED_OUT: set[str] = set()


def _new_cows(shared_data: Path, page: Any, count: int) -> list[str]:
    """Cows of the photo set not enrolled yet and not used by another test (folder = tag)."""
    enrolled = set(_gallery_tags(page)) | _HANDED_OUT
    folders = sorted(p.name for p in (shared_data / "cattle_faces").iterdir())
    cows = [f for f in folders if f not in enrolled][-count:]
    assert len(cows) == count, "the photo set has too few cows left"
    _HANDED_OUT.update(cows)
    return cows


def _capture(page: Any, photos: list[Path]) -> None:
    """Give the photos to the file input; wait for the on-device checks and the verdict."""
    page.set_input_files("#capture-files", [str(p) for p in photos])
    page.wait_for_function(
        "n => document.querySelectorAll('.frame').length === n && "
        "![...document.querySelectorAll('.frame')].some(f => f.dataset.state === 'checking')"
        " && document.querySelector('.verdict')?.dataset.settled === 'true'",
        arg=len(photos),
        timeout=60_000,
    )


def _enrol(page: Any, tag: str, farmer: str, photos: list[Path]) -> dict[str, Any]:
    """Fill the enrolment form, capture, save to the queue; the stored capture."""
    page.goto("/agent/#/enrol")
    wait_idle(page)
    page.get_by_label("Ear tag").fill(tag)
    page.get_by_label("Farmer").fill(farmer)
    _capture(page, photos)
    before = {c["id"] for c in _queue(page)}
    page.get_by_role("button", name="Save to the queue").click()
    page.wait_for_function(
        "() => document.querySelector('.frames').children.length === 0"
    )
    added = [c for c in _queue(page) if c["id"] not in before]
    assert len(added) == 1
    return added[0]


def _queue(page: Any) -> list[dict[str, Any]]:
    """The captures in the page's IndexedDB queue (photos as their count and metas)."""
    rows: list[dict[str, Any]] = page.evaluate(
        """() => new Promise((resolve, reject) => {
          const req = indexedDB.open('agri-agent');
          req.onerror = () => reject(req.error);
          req.onsuccess = () => {
            const tx = req.result.transaction('captures');
            const all = tx.objectStore('captures').getAll();
            all.onsuccess = () => resolve(all.result.map(c => ({
              ...c, photos: c.photos.map(p => ({name: p.name, signed: p.signed,
                signature: p.signature, size: p.blob.size}))})));
          };
        })"""
    )
    return rows


def _edit_capture(page: Any, capture_id: str, js_patch: str) -> None:
    """Change a stored capture in IndexedDB: js_patch is a function body on ``c``."""
    page.evaluate(
        """([id, body]) => new Promise((resolve, reject) => {
          const patch = new Function('c', body);
          const req = indexedDB.open('agri-agent');
          req.onsuccess = () => {
            const tx = req.result.transaction('captures', 'readwrite');
            const store = tx.objectStore('captures');
            store.get(id).onsuccess = async (ev) => {
              const c = ev.target.result;
              await null;
              patch(c);
              const tx2 = req.result.transaction('captures', 'readwrite');
              tx2.objectStore('captures').put(c);
              tx2.oncomplete = () => resolve(true);
              tx2.onerror = () => reject(tx2.error);
            };
          };
        })""",
        [capture_id, js_patch],
    )


def _sync(page: Any) -> None:
    """Press Sync now on the queue and wait for the run to end."""
    page.goto("/agent/#/queue")
    wait_idle(page)
    runs = page.evaluate("() => Number(document.documentElement.dataset.syncs || 0)")
    page.locator("#sync").click()
    page.wait_for_function(
        "n => Number(document.documentElement.dataset.syncs || 0) > n", arg=runs
    )
    wait_idle(page)


def _item(page: Any, capture_id: str) -> Any:
    return page.locator(f"li.capture-item[data-id='{capture_id}']")


def _status(page: Any, capture_id: str) -> str:
    statuses = {c["id"]: c["status"] for c in _queue(page)}
    return str(statuses[capture_id])


# --- serving -------------------------------------------------------------------------------


def test_the_app_is_served_cross_origin_isolated(agent_page: Any) -> None:
    page = agent_page(viewport=DESKTOP)
    for path in (
        "/agent/",
        "/agent/sw.js",
        "/agent/manifest.webmanifest",
        "/agent/src/app.js",
        "/agent/src/faceid.js",
        "/agent/model/cowface.json",
        "/agent/vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm",
    ):
        response = page.request.get(path)
        assert response.status == 200, path
        headers = response.headers
        for name, value in ISOLATED.items():
            assert headers.get(name) == value, (path, name)
        assert "cache-control" in headers, path
    assert page.request.get("/agent").url.endswith("/agent/")
    worker = page.request.get("/agent/sw.js").headers
    assert worker["service-worker-allowed"] == "/agent/"
    assert "javascript" in worker["content-type"]
    manifest = page.request.get("/agent/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    assert manifest.json()["scope"] == "/agent/"
    for path in (
        "/agent/package.json",
        "/agent/package-lock.json",
        "/agent/node_modules/onnxruntime-web/package.json",
        "/agent/vendor/onnxruntime-common/package.json",
    ):
        assert page.request.get(path).status == 404, path
    assert page.evaluate("() => crossOriginIsolated") is True
    assert (
        page.request.get("/api/v1/agent/gallery").status == 401
    )  # the API needs a login


# --- the whole offline round -------------------------------------------------------------


def test_offline_capture_then_sync_makes_one_animal_even_when_cut_off(
    agent_page: Any, shared_data: Path
) -> None:
    page = agent_page()
    _agent(page)
    page.goto("/agent/#/settings")
    wait_idle(page)
    device_id = page.locator("#device-id").inner_text()
    assert device_id.startswith("dev_")
    mine = _api(page, "GET", "/devices")["items"]
    assert [(d["device_id"], d["status"]) for d in mine] == [(device_id, "active")]
    cow_a, cow_b = _new_cows(shared_data, page, 2)

    page.context.set_offline(True)
    a = _enrol(page, cow_a, "F-0003", _cow_photos(shared_data, cow_a))
    # what the phone found, before any network: usable photos, embeddings, a verdict
    assert a["status"] == "pending"
    assert a["local"]["code"] == "new", a["local"]
    assert len(a["photos"]) >= 2
    signed = json.loads(a["photos"][0]["signed"])  # time and place, as signed
    assert (signed["lat"], signed["lon"], signed["accuracy_m"]) == (
        "47.123400",
        "13.567800",
        "12",
    )
    assert (signed["agent"], signed["v"]) == (USERS["field_agent"], "1")
    assert signed["source"] == "file"  # picked with the file input, signed when picked
    assert signed["device"] == device_id
    assert len(a["photos"][0]["signature"]) == 86  # 64 bytes r||s, base64url
    assert len(a["id"]) == 36  # crypto.randomUUID(): the Idempotency-Key
    b = _enrol(page, cow_b, "F-0003", _cow_photos(shared_data, cow_b))

    # offline reload: the service worker serves the app, the queue is still there
    probe = "() => fetch('/agent/src/not-kept.js').then(r => r.status, e => 'failed')"
    assert page.evaluate(probe) == "failed"  # the worker cannot reach the server either
    response = page.reload()
    assert response is not None and response.from_service_worker
    wait_idle(page)
    page.goto("/agent/#/queue")
    wait_idle(page)
    assert _item(page, a["id"]).get_attribute("data-status") == "pending"
    assert _item(page, b["id"]).get_attribute("data-status") == "pending"
    assert "Offline" in page.locator("#netbar").inner_text()

    # back online: the first upload of A reaches the server, its answer is lost;
    # the first upload of B never reaches it
    cut: dict[str, int] = {cow_a: 0, cow_b: 0}
    replayed: list[str] = []

    def cut_off(route: Any) -> None:
        body = route.request.post_data_buffer or b""
        tag = cow_a if cow_a.encode() in body else cow_b
        cut[tag] += 1
        if cut[tag] > 1:
            route.continue_()
        elif tag == cow_a:
            route.fetch()  # the server commits the enrolment...
            route.abort("connectionreset")  # ...and the phone never hears of it
        else:
            route.abort("internetdisconnected")

    page.route("**/api/v1/animals", cut_off)
    page.on(
        "response",
        lambda r: (
            replayed.append(r.headers.get("idempotent-replayed", ""))
            if r.url.endswith("/api/v1/animals")
            else None
        ),
    )
    runs = page.evaluate("() => Number(document.documentElement.dataset.syncs || 0)")
    page.context.set_offline(False)  # the 'online' event syncs by itself
    page.wait_for_function(
        "n => Number(document.documentElement.dataset.syncs || 0) > n", arg=runs
    )
    assert _status(page, a["id"]) == "pending"  # not answered: kept for a retry
    assert cut[cow_a] == 1
    _sync(page)
    if _status(page, b["id"]) == "pending":  # the first run stopped at A's failure
        _sync(page)
    for capture in (a, b):
        assert _status(page, capture["id"]) == "done"
        assert _item(page, capture["id"]).get_attribute("data-status") == "done"
    assert cut == {cow_a: 2, cow_b: 2}
    assert "true" in replayed  # A's retry got the first answer back
    tags = _gallery_tags(page)
    assert tags.count(cow_a) == 1 and tags.count(cow_b) == 1
    assert "Enrolled" in _item(page, a["id"]).inner_text()
    assert page.errors == [], page.errors


def test_a_capture_altered_after_signing_is_refused(
    agent_page: Any, shared_data: Path
) -> None:
    page = agent_page()
    _agent(page)
    cow_c, cow_d = _new_cows(shared_data, page, 2)
    page.context.set_offline(True)
    moved = _enrol(page, cow_c, "F-0003", _cow_photos(shared_data, cow_c))
    swapped = _enrol(page, cow_d, "F-0003", _cow_photos(shared_data, cow_d))
    # the time and place of one photo changed; the bytes of another photo replaced
    _edit_capture(
        page,
        moved["id"],
        "const m = JSON.parse(c.photos[0].signed);"
        " m.captured_at = '2025-04-01T08:00:00.000Z'; m.lat = '30.500000';"
        " c.photos[0].signed = JSON.stringify(m);",
    )
    _edit_capture(
        page,
        swapped["id"],
        "c.photos[0].blob = new Blob([c.photos[0].blob.slice(0, 1000),"
        " new Uint8Array(8), c.photos[0].blob.slice(1008)], {type: 'image/jpeg'});",
    )
    page.context.set_offline(False)
    _sync(page)
    for capture, tag in ((moved, cow_c), (swapped, cow_d)):
        assert _status(page, capture["id"]) == "refused"
        item = _item(page, capture["id"])
        assert item.get_attribute("data-status") == "refused"
        assert "refused" in item.inner_text().lower()
        assert tag not in _gallery_tags(page)
    reasons = {c["id"]: c["error"] for c in _queue(page)}
    # the server says why, naming the photo
    assert "1.jpg: " in reasons[moved["id"]], reasons
    assert "signature does not verify" in reasons[moved["id"]], reasons
    assert "photo bytes differ from the signed hash" in reasons[swapped["id"]], reasons
    assert page.errors == [], page.errors


def test_a_revoked_device_is_refused_and_a_new_key_can_be_registered(
    agent_page: Any, shared_data: Path
) -> None:
    page = agent_page()
    _agent(page)
    (cow,) = _new_cows(shared_data, page, 1)
    page.context.set_offline(True)
    capture = _enrol(page, cow, "F-0003", _cow_photos(shared_data, cow))
    page.route("**/api/v1/animals", lambda route: route.abort())  # hold the queue
    page.context.set_offline(False)
    page.goto("/agent/#/settings")
    wait_idle(page)
    old = page.locator("#device-id").inner_text()
    page.once("dialog", lambda d: d.accept())
    page.locator("#revoke").click()
    page.wait_for_selector("text=Register a new key")
    assert _api(page, "GET", "/devices")["items"][0]["status"] == "revoked"
    page.unroute("**/api/v1/animals")
    _sync(page)
    assert _status(page, capture["id"]) == "refused"
    assert cow not in _gallery_tags(page)
    page.goto("/agent/#/settings")
    wait_idle(page)
    page.get_by_role("button", name="Register a new key").click()
    page.wait_for_function(
        "old => (document.getElementById('device-id')?.textContent || old) !== old",
        arg=old,
    )
    statuses = {
        d["device_id"]: d["status"] for d in _api(page, "GET", "/devices")["items"]
    }
    assert statuses[old] == "revoked"
    assert statuses[page.locator("#device-id").inner_text()] == "active"


def test_claim_evidence_picked_from_files_matches_and_is_signed_but_not_attested(
    agent_page: Any, shared_data: Path, axe: Any
) -> None:
    """Photos picked from the phone's files: their time and place are not the app's to vouch for."""
    page = agent_page()
    _agent(page)
    policy = next(
        p
        for p in _api(page, "GET", "/policies?limit=200")["items"]
        if p["farmer_id"] == "F-0001" and p["kind"] == "livestock"
    )
    claimed = {c["subject_id"] for c in _api(page, "GET", "/claims?limit=200")["items"]}
    tag = next(t for t in policy["animals"] if t not in claimed)
    other = next(t for t in policy["animals"] if t != tag)
    claim = _api(
        page,
        "POST",
        "/claims",
        {
            "policy_id": policy["id"],
            "farmer_id": "F-0001",
            "subject_kind": "animal",
            "subject_id": tag,
            "event_date": "2025-05-20",
            "market_value": "7600.00",
        },
    )
    _agent_refresh(page)
    page.context.set_offline(True)
    page.goto("/agent/#/evidence")
    wait_idle(page)
    page.get_by_label("Claim").fill(claim["id"])
    page.get_by_label("Claim").dispatch_event("change")
    page.wait_for_selector(f".claimed[data-tag='{tag}']")
    # another enrolled cow's photos: the phone names the better match at once
    _capture(page, _cow_photos(shared_data, other, later=True))
    assert page.locator(".verdict").get_attribute("data-code") == "better_match"
    assert page.locator(".verdict").get_attribute("data-light") == "red"
    assert f"Matches {other} better than the claimed {tag}" in (
        page.locator(".verdict").inner_text()
    )
    page.get_by_role("button", name="Start again").click()
    _capture(page, _cow_photos(shared_data, tag, later=True))
    assert page.locator(".verdict").get_attribute("data-code") == "matches"
    page.get_by_role("button", name="Save to the queue").click()
    page.wait_for_function(
        "() => document.querySelector('.frames').children.length === 0"
    )
    (capture,) = [c for c in _queue(page) if c["kind"] == "evidence"]
    page.context.set_offline(False)
    _sync(page)
    assert _status(page, capture["id"]) == "done"
    signature = _item(page, capture["id"]).locator(".signature")
    assert signature.get_attribute("data-light") == "amber"
    assert "picked from the phone's files" in signature.inner_text()
    checks = {
        c["code"]: c["light"]
        for c in _api(page, "GET", f"/claims/{claim['id']}")["checks"]
    }
    assert checks["capture_signature"] == "amber"
    assert axe(page) == []
    take_screenshots(page, "agent-queue-evidence")
    page.goto("/agent/#/evidence")
    wait_idle(page)
    set_lang(page, "en")


def _agent_refresh(page: Any) -> None:
    """Reload online so the app caches the newest claims and gallery."""
    page.evaluate("() => { delete document.documentElement.dataset.cachedAt; }")
    page.reload()
    page.wait_for_function("() => document.documentElement.dataset.cachedAt")
    wait_idle(page)


# --- languages, widths, accessibility --------------------------------------------------------


def test_every_view_in_both_languages_at_both_widths(
    agent_page: Any, shared_data: Path, axe: Any
) -> None:
    page = agent_page(viewport=DESKTOP)
    for lang in ("en", "zh"):
        set_lang(page, lang)
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            assert axe(page) == [], f"login ({lang}, {size['width']} px)"
    take_screenshots(page, "agent-login")
    set_lang(page, "en")
    _agent(page)
    (cow,) = _new_cows(shared_data, page, 1)
    page.goto("/agent/#/enrol")
    wait_idle(page)
    page.get_by_label("Ear tag").fill(cow)
    page.get_by_label("Farmer").fill("F-0003")
    page.context.set_offline(True)
    _capture(page, _cow_photos(shared_data, cow))
    for name in ("enrol", "evidence", "queue", "settings"):
        if name == "evidence":  # the enrolment goes into the queue (never sent)
            set_lang(page, "en")
            page.goto("/agent/#/enrol")
            wait_idle(page)
            assert page.locator(".frame").count() == PHOTOS  # kept across languages
            page.get_by_role("button", name="Save to the queue").click()
            page.wait_for_function(
                "() => document.querySelector('.frames').children.length === 0"
            )
            # the same cow again under another tag: the queued enrolment is known
            page.get_by_label("Ear tag").fill("156010000000042")
            _capture(page, _cow_photos(shared_data, cow))
            verdict = page.locator(".verdict")
            assert verdict.get_attribute("data-code") == "already_enrolled"
            assert f"Already enrolled as {cow}" in verdict.inner_text()
            # the tag typed after the photos: the verdict follows it
            page.get_by_label("Ear tag").fill(cow)
            page.wait_for_function(
                "() => document.querySelector('.verdict').dataset.code === 'tag_enrolled'"
            )
            assert f"Tag {cow} is already enrolled" in verdict.inner_text()
            page.get_by_role("button", name="Start again").click()
        page.goto(f"/agent/#/{name}")
        wait_idle(page)
        small = page.evaluate(
            "() => [...document.querySelectorAll('button, a.tab, label.button, summary')]"
            ".filter(e => e.offsetParent !== null)"
            ".filter(e => { const r = e.getBoundingClientRect();"
            " return r.height < 44 || r.width < 44; })"
            ".map(e => e.outerHTML.slice(0, 80))"
        )
        assert small == [], f"touch targets under 44 px on {name}: {small}"
        for lang in ("en", "zh"):
            set_lang(page, lang)
            for size in (DESKTOP, PHONE):
                page.set_viewport_size(size)
                assert axe(page) == [], f"{name} ({lang}, {size['width']} px)"
        take_screenshots(page, f"agent-{name}")
    set_lang(page, "zh")
    page.goto("/agent/#/enrol")
    wait_idle(page)
    assert page.locator("h1").inner_text() == "登记牲畜"
    page.reload()
    wait_idle(page)
    assert page.evaluate("() => localStorage.getItem('agri.lang')") == "zh"
    assert page.locator("h1").inner_text() == "登记牲畜"


# --- the camera ---------------------------------------------------------------------------------


def _y4m(photo: Path, out: Path, frames: int = 30) -> Path:
    """A short Y4M video of one photo: what Chromium's fake camera will show."""
    from PIL import Image

    image = Image.open(photo).convert("RGB")
    w, h = image.width // 2 * 2, image.height // 2 * 2
    y, cb, cr = image.crop((0, 0, w, h)).convert("YCbCr").split()
    half = (w // 2, h // 2)
    frame = (
        b"FRAME\n" + y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    )
    header = f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode()
    out.write_bytes(header + frame * frames)
    return out


def _burst(page: Any) -> None:
    """Take a burst with the camera; wait for its 5 frames and the verdict."""
    page.get_by_role("button", name="Take a burst (5 photos)").click()
    page.wait_for_function(
        "() => document.querySelectorAll('.frame').length === 5 && "
        "document.querySelector('.verdict')?.dataset.settled === 'true'",
        timeout=60_000,
    )


def test_a_camera_burst_of_an_enrolled_cow_is_a_conflict_and_attested_evidence(
    browser: Any, server_url: str, shared_data: Path, tmp_path: Path
) -> None:
    """getUserMedia (Chromium's fake camera showing a cow) gives 5 frames, each checked.

    Camera photos are signed with source "camera": as claim evidence their
    capture signature is green (the time and place are the app's own).
    """
    split = _split(shared_data / "cattle_faces")
    video = tmp_path / "cow.y4m"
    chromium = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    try:
        context = chromium.new_context(
            viewport=PHONE,
            base_url=server_url,
            geolocation=FARM,
            permissions=["geolocation", "camera"],
        )
        page = context.new_page()
        page.goto("/agent/")
        wait_idle(page)
        _agent(page)
        enrolled = sorted(set(_gallery_tags(page)) & set(split.query))
        probe = enrolled[0]
        _y4m(_cow_photos(shared_data, probe, later=True)[0], video)
        page.goto("/agent/#/enrol")
        wait_idle(page)
        page.get_by_label("Ear tag").fill("156010000000099")
        page.get_by_label("Farmer").fill("F-0006")
        _burst(page)
        states = page.eval_on_selector_all(
            ".frame", "els => els.map(e => e.dataset.state)"
        )
        assert states == ["ok"] * 5
        verdict = page.locator(".verdict")
        assert verdict.get_attribute("data-code") == "already_enrolled"
        assert f"Already enrolled as {probe}" in verdict.inner_text()
        assert page.locator("video.preview").is_visible()  # the camera's preview
        # saved anyway: online, it is sent at once; the server's duplicate is a conflict
        page.get_by_role("button", name="Save to the queue").click()
        page.goto("/agent/#/queue")
        page.wait_for_selector("li.capture-item[data-status=conflict]", timeout=60_000)
        item = page.locator("li.capture-item[data-status=conflict]").inner_text()
        assert f"already enrolled as {probe}" in item, item
        assert "156010000000099" not in _gallery_tags(page)
        (enrolment,) = [c for c in _queue(page) if c["kind"] == "enrol"]
        assert json.loads(enrolment["photos"][0]["signed"])["source"] == "camera"
        # As claim evidence, a camera burst is attested by the server (green
        # capture signature), whatever the identity check makes of the cow.
        # Any insured animal not yet claimed (other tests of this demo file claims too).
        claimed = {
            c["subject_id"] for c in _api(page, "GET", "/claims?limit=200")["items"]
        }
        policy, tag = next(
            (p, t)
            for p in _api(page, "GET", "/policies?limit=200")["items"]
            if p["kind"] == "livestock"
            for t in p["animals"]
            if t not in claimed
        )
        claim = _api(
            page,
            "POST",
            "/claims",
            {
                "policy_id": policy["id"],
                "farmer_id": policy["farmer_id"],
                "subject_kind": "animal",
                "subject_id": tag,
                "event_date": "2025-05-20",
                "market_value": "7600.00",
            },
        )
        page.goto("/agent/#/evidence")
        wait_idle(page)
        page.get_by_label("Claim").fill(claim["id"])
        page.get_by_label("Claim").dispatch_event("change")
        page.wait_for_selector(f".claimed[data-tag='{tag}']")
        _burst(page)
        page.get_by_role("button", name="Save to the queue").click()
        page.goto("/agent/#/queue")
        page.wait_for_selector(
            "li.capture-item[data-status=done] .signature", timeout=60_000
        )
        signature = page.locator("li.capture-item[data-status=done] .signature")
        assert signature.get_attribute("data-light") == "green", signature.inner_text()
        checks = {
            c["code"]: c["light"]
            for c in _api(page, "GET", f"/claims/{claim['id']}")["checks"]
        }
        assert checks["capture_signature"] == "green"
        context.close()
    finally:
        chromium.close()


def test_an_insecure_address_is_told_to_use_https(
    browser: Any, server_url: str
) -> None:
    """Over plain http on a LAN name the browser gives no keys, worker or camera: say so."""
    port = server_url.rsplit(":", 1)[1]
    chromium = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP farm-office.test 127.0.0.1"],
    )
    try:
        page = chromium.new_page(locale="en-GB")
        page.goto(f"http://farm-office.test:{port}/agent/")
        wait_idle(page)
        assert page.evaluate("() => isSecureContext") is False
        alert = page.get_by_role("alert").inner_text()
        assert "needs a secure address" in alert and "HTTPS" in alert
        assert page.locator("form.login").count() == 0
    finally:
        chromium.close()


# Last in this file: after it, the demo's field agent needs an admin for a new device.
def test_after_an_admin_revokes_the_phone_a_new_key_awaits_approval(
    agent_page: Any, server_url: str
) -> None:
    page = agent_page()
    _agent(page)
    page.goto("/agent/#/settings")
    wait_idle(page)
    old = page.locator("#device-id").inner_text()
    token = page.request.post(
        "/api/v1/auth/token", data={"username": USERS["admin"], "password": PASSWORD}
    ).json()["access_token"]
    admin = {"Authorization": f"Bearer {token}"}
    assert page.request.post(f"/api/v1/devices/{old}/revoke", headers=admin).ok
    _agent_refresh(page)  # online: the app asks for its device's status, then syncs
    page.wait_for_function(
        "() => Number(document.documentElement.dataset.syncs || 0) > 0"
    )
    page.goto("/agent/#/queue")  # drawn again below, with the status now known
    page.goto("/agent/#/settings")
    wait_idle(page)
    page.get_by_role("button", name="Register a new key").click()
    page.wait_for_selector("#device-pending")
    new = page.locator("#device-id").inner_text()
    assert new != old
    assert (
        "awaits an administrator's approval"
        in page.locator("#device-pending").inner_text()
    )
    set_lang(page, "zh")
    assert "等待管理员批准" in page.locator("#device-pending").inner_text()
    set_lang(page, "en")
    page.goto("/agent/#/enrol")
    wait_idle(page)
    assert (
        page.get_by_role("status").filter(has_text="awaits an administrator").count()
        == 1
    )
    approved = page.request.post(f"/api/v1/devices/{new}/approve", headers=admin)
    assert approved.ok and approved.json()["status"] == "active"
    _agent_refresh(page)
    page.wait_for_function(
        "() => Number(document.documentElement.dataset.syncs || 0) > 0"
    )
    page.goto("/agent/#/queue")  # drawn again below, with the status now known
    page.goto("/agent/#/settings")
    wait_idle(page)
    assert page.locator("#device-pending").count() == 0
    assert page.errors == [], page.errors
