"""The underwriter's pages in a real browser, on the demo's data.

The queue with its lights and status filter; one crop application with its plots
over the satellite tiles (tile responses are images, the map is not blank), the
declared and measured areas and the overlap with an insured plot; a decision
refused without a reason (the error beside the field) and then recorded; axe
and screenshots at desktop and phone width in both languages.

Helpers used by test_adjuster.py too: :class:`TileLog`, :func:`assert_not_blank`,
:func:`api_call`, :func:`save_timings`.
"""

from __future__ import annotations

import io
import json
import statistics
from pathlib import Path
from typing import Any

from PIL import Image

from tests.web.conftest import SCREENSHOTS, USERS, wait_idle

PNG = b"\x89PNG\r\n\x1a\n"


class TileLog:
    """Every tile response of a page: status, media type, first bytes, time taken (ms)."""

    def __init__(self, page: Any) -> None:
        self.tiles: list[dict[str, Any]] = []
        page.on("response", self._seen)

    def _seen(self, response: Any) -> None:
        if "/tiles/" not in response.url:
            return
        entry: dict[str, Any] = {
            "url": response.url.split("/api/v1/scenes/")[-1],
            "status": response.status,
            "type": response.headers.get("content-type", ""),
        }
        try:
            body = response.body() if response.status == 200 else b""
        except Exception:  # the page navigated away before the body was read
            body = b""
        entry["bytes"] = len(body)
        entry["image"] = body.startswith(PNG) or body[8:12] == b"WEBP"
        timing = response.request.timing
        entry["ms"] = (
            round(timing["responseEnd"], 1) if timing["responseEnd"] > 0 else None
        )
        self.tiles.append(entry)

    def images(self) -> list[dict[str, Any]]:
        """The tiles answered 200 with image bytes."""
        return [t for t in self.tiles if t["status"] == 200 and t["image"]]

    def summary(self) -> dict[str, Any]:
        """Count, and median / p95 / max of the time to the last byte (ms)."""
        ms = sorted(t["ms"] for t in self.images() if t["ms"] is not None)
        if not ms:
            return {"tiles": 0}
        return {
            "tiles": len(ms),
            "other_responses": len(self.tiles) - len(self.images()),
            "median_ms": round(statistics.median(ms), 1),
            "p95_ms": ms[min(len(ms) - 1, int(0.95 * len(ms)))],
            "max_ms": ms[-1],
        }


def save_timings(name: str, log: TileLog) -> dict[str, Any]:
    """Write the tile timings seen in the browser to var/screenshots/<name>-tiles.json."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    summary = log.summary()
    (SCREENSHOTS / f"{name}-tiles.json").write_text(
        json.dumps({"summary": summary, "tiles": log.tiles}, indent=1)
    )
    return summary


def assert_not_blank(locator: Any) -> None:
    """The element's pixels are not one colour: imagery and shapes were drawn."""
    img = Image.open(io.BytesIO(locator.screenshot())).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 16)
    distinct = len(colours) if colours is not None else 1 << 16
    assert distinct > 200, f"the map looks blank: {distinct} distinct colours"


def wait_tiles(page: Any, selector: str, timeout_ms: int = 20_000) -> None:
    """Wait until the map under ``selector`` shows at least one loaded tile image."""
    page.wait_for_function(
        "(sel) => [...document.querySelectorAll(sel + ' img.leaflet-tile-loaded')]"
        ".some(i => i.naturalWidth > 0)",
        arg=selector,
        timeout=timeout_ms,
    )


def api_call(
    page: Any, method: str, path: str, username: str, body: Any = None, form: Any = None
) -> Any:
    """Call the API as a demo user from the page's own request context (JSON back)."""
    from server.cli.demo import PASSWORD

    token = page.request.post(
        "/api/v1/auth/token", data={"username": username, "password": PASSWORD}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    if method == "GET":
        r = page.request.get(path, headers=headers)
    elif form is not None:
        r = page.request.post(path, headers=headers, multipart=form)
    else:
        r = page.request.post(path, headers=headers, data=body)
    assert r.ok, f"{method} {path}: {r.status} {r.text()}"
    return r.json()


def unexpected(errors: list[str]) -> list[str]:
    """Console errors other than the browser's note of a refusal the test asked for (4xx)."""
    return [
        e
        for e in errors
        if not e.startswith(
            "Failed to load resource: the server responded with a status of 4"
        )
    ]


def _application_of(page: Any, farmer: str) -> dict[str, Any]:
    apps = api_call(page, "GET", "/api/v1/applications?limit=200", USERS["underwriter"])
    return next(a for a in apps["items"] if a["farmer_id"] == farmer)


def test_the_queue_shows_lights_in_words_and_filters_by_status(
    page_as: Any, axe: Any, screenshot: Any
) -> None:
    page = page_as("underwriter")
    rows = page.locator("main table tbody tr")
    assert rows.count() >= 5
    text = page.locator("main table").inner_text()
    assert "Red" in text and "Green" in text  # the light as a word, not colour alone
    page.get_by_label("Status").select_option("declined")
    wait_idle(page)
    assert page.url.endswith("#/underwriter?status=declined")
    statuses = page.locator("main table tbody tr td:nth-child(8)").all_inner_texts()
    assert statuses and set(statuses) == {"Declined"}
    assert axe(page) == []
    screenshot(page, "underwriter-queue")
    assert page.errors == [], page.errors


def test_a_crop_application_on_the_imagery(
    page_as: Any, axe: Any, screenshot: Any
) -> None:
    page = page_as("underwriter")
    tiles = TileLog(page)
    app = _application_of(page, "F-0005")  # five fields on the Sentinel-2 scene
    page.goto(f"/#/underwriter/application/{app['id']}")
    wait_idle(page)
    wait_tiles(page, ".page-underwriter .map")
    wait_idle(page)
    assert tiles.images(), tiles.tiles
    assert all(t["type"].startswith("image/") for t in tiles.images())
    assert_not_blank(page.locator(".page-underwriter .map"))
    table = page.locator("table.data").inner_text()
    assert "AT-0488" in table
    assert "ha" in table and "mu" in table  # both units in tables
    # The NDVI layer of the same scene.
    page.get_by_label("NDVI").check()
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.leaflet-tile-loaded')]"
        ".some(i => i.src.includes('layer=ndvi'))"
    )
    wait_idle(page)
    assert axe(page) == []
    page.get_by_label("True colour").check()
    wait_idle(page)
    screenshot(page, "underwriter-application-imagery")
    summary = save_timings("underwriter", tiles)
    assert summary["tiles"] > 0
    assert page.errors == [], page.errors


def test_over_declared_and_overlapping_plots(
    page_as: Any, axe: Any, screenshot: Any
) -> None:
    page = page_as("underwriter")
    app = _application_of(
        page, "F-0004"
    )  # G-1 over-declared, G-2 over an insured parcel
    page.goto(f"/#/underwriter/application/{app['id']}")
    wait_idle(page)
    table = page.locator("table.data").inner_text()
    assert "G-1" in table and "G-2" in table
    assert "+39.9 %" in table  # G-1 declared 1.4 times its measured area
    overlap_row = page.locator("table.data tr.overlap")
    assert overlap_row.count() == 1
    assert "G-2" in overlap_row.inner_text()
    assert "of policy" in overlap_row.inner_text()
    checks = page.locator("ul.checks").inner_text()
    assert "plot_area" in checks and "double_insurance" in checks
    note = page.locator(".note", has_text="insured plots in view").inner_text()
    assert not note.startswith("0 "), note  # F-0003's insured parcels around G-2
    assert_not_blank(page.locator(".page-underwriter .map"))
    assert axe(page) == []
    screenshot(page, "underwriter-application-overlap")
    assert page.errors == [], page.errors


def test_a_decision_needs_its_reason_then_is_recorded(
    page_as: Any, demo_dir: Path
) -> None:
    page = page_as("underwriter")
    # A fresh application to decide: F-0004's plot file again (red: decline advised).
    upload = demo_dir / "application_F-0004.geojson"
    app = api_call(
        page,
        "POST",
        "/api/v1/applications/crop",
        USERS["field_agent"],
        form={
            "farmer_id": "F-0004",
            "product_code": "WHEAT-2025",
            "start_date": "2025-03-01",
            "end_date": "2025-10-31",
            "id_column": "plot_id",
            "declared_column": "declared_ha",
            "file": {
                "name": upload.name,
                "mimeType": "application/geo+json",
                "buffer": upload.read_bytes(),
            },
        },
    )
    assert app["status"] == "submitted" and app["recommendation"] == "decline"
    page.goto(f"/#/underwriter/application/{app['id']}")
    wait_idle(page)
    form = page.locator("form.decision")
    form.get_by_label("Decline").check()
    form.get_by_role("button", name="Record the decision").click()
    wait_idle(page)
    error = form.locator("[data-error-for=reason]")
    error.wait_for()
    assert "reason" in error.inner_text().lower()
    assert form.get_by_label("Reason").get_attribute("aria-invalid") == "true"
    form.get_by_label("Reason").fill(
        "G-1 is over-declared; G-2 is insured by another policy"
    )
    form.get_by_role("button", name="Record the decision").click()
    page.get_by_text("This application was decided: Declined.").wait_for()
    decided = api_call(
        page, "GET", f"/api/v1/applications/{app['id']}", USERS["underwriter"]
    )
    assert decided["status"] == "declined"
    assert decided["decided_by"] == USERS["underwriter"]
    assert unexpected(page.errors) == [], page.errors


def test_a_plot_id_from_a_farmers_file_is_shown_as_text_not_run(
    page_as: Any, tmp_path: Path
) -> None:
    """A plot id holding HTML shows as text in the map's tooltip; its script never runs."""
    page = page_as("underwriter")
    payload = '<img src=x onerror="window.__xss=1">'
    field = {
        "type": "Feature",
        "properties": {"plot_id": payload, "declared_ha": 1.0},
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [
                    [13.20, 48.30],
                    [13.2013, 48.30],
                    [13.2013, 48.3009],
                    [13.20, 48.3009],
                    [13.20, 48.30],
                ]
            ],
        },
    }
    doc = json.dumps({"type": "FeatureCollection", "features": [field]}).encode()
    app = api_call(
        page,
        "POST",
        "/api/v1/applications/crop",
        USERS["field_agent"],
        form={
            "farmer_id": "F-0004",
            "product_code": "WHEAT-2025",
            "start_date": "2027-03-01",
            "end_date": "2027-10-31",
            "id_column": "plot_id",
            "declared_column": "declared_ha",
            "file": {
                "name": "plots.geojson",
                "mimeType": "application/geo+json",
                "buffer": doc,
            },
        },
    )
    page.goto(f"/#/underwriter/application/{app['id']}")
    wait_idle(page)
    box = page.locator(".page-underwriter .map").first.bounding_box()
    assert box is not None
    # The map fits the one plot: its middle is under the map's centre.
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.first.wait_for(timeout=5_000)
    assert payload in tooltip.first.inner_text()
    assert page.evaluate("() => window.__xss") is None
