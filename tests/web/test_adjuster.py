"""The adjuster's pages in a real browser, on the demo's data.

The queue with its lights and filters; a crop claim with the field before and
after the loss on two maps kept in step (tile responses are images, both maps
drawn), the damage layer and the ledger history; an animal claim's photos beside
the enrolment photos; a new claim approved (a reason required for its light),
its payment refused to the approver in words (four-eyes), and the farmer's page
then showing it approved; a second adjuster refused its payment too until its
public notice has run, and paying a claim approved and posted days ago; axe and
screenshots in both languages at two widths.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.server.notices import approved_and_cleared
from tests.web.conftest import USERS, login, wait_idle
from tests.web.test_underwriter import (
    TileLog,
    api_call,
    assert_not_blank,
    save_timings,
    unexpected,
    wait_tiles,
)


def _claims(page: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api_call(
        page, "GET", "/api/v1/claims?limit=200", USERS["adjuster"]
    )["items"]
    return items


def test_the_queue_filters_by_light_region_and_peril(
    page_as: Any, axe: Any, screenshot: Any
) -> None:
    page = page_as("adjuster")
    rows = page.locator("main table tbody tr")
    assert rows.count() >= 7
    page.get_by_label("Light").select_option("red")
    lights = page.locator("main table tbody tr td:nth-child(6)").all_inner_texts()
    assert lights and all("Red" in x for x in lights)
    page.get_by_label("Light").select_option("")
    page.get_by_label("Peril").select_option("plot")
    subjects = page.locator("main table tbody tr td:nth-child(4)").all_inner_texts()
    assert subjects and all(x.startswith("Crop loss") for x in subjects)
    page.get_by_label("Peril").select_option("")
    region = page.get_by_label("County / region")
    options = region.locator("option").all_inner_texts()
    assert len(options) > 2
    region.select_option(options[1])
    assert "match" in page.get_by_role("status").first.inner_text()
    region.select_option("")
    assert axe(page) == []
    screenshot(page, "adjuster-queue")
    assert page.errors == [], page.errors


def test_a_crop_claim_before_and_after(page_as: Any, axe: Any, screenshot: Any) -> None:
    page = page_as("adjuster")
    tiles = TileLog(page)
    claim = next(c for c in _claims(page) if c["subject_id"] == "AT-0488")
    page.goto(f"/#/adjuster/claim/{claim['id']}")
    wait_idle(page)
    maps = page.locator(".maps .map")
    assert maps.count() == 2
    for i in range(2):
        wait_tiles(page, f".maps figure:nth-child({i + 1}) .map")
    wait_idle(page)
    assert tiles.images(), tiles.tiles
    for i in range(2):
        assert_not_blank(maps.nth(i))
    assert (
        "damaged areas"
        in page.locator("section[aria-labelledby=imagery-title]").inner_text()
    )
    # The damage mask (NDVI drop from the before scene) on the after map.
    page.get_by_label("Damage (NDVI drop above the threshold)").check()
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.leaflet-tile-loaded')]"
        ".some(i => i.src.includes('layer=damage'))"
    )
    wait_idle(page)
    # The maps move together.
    before = page.evaluate(
        "() => [...document.querySelectorAll('.maps .leaflet-map-pane')]"
        ".map(p => p.style.transform)"
    )
    maps.nth(0).focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(300)
    after = page.evaluate(
        "() => [...document.querySelectorAll('.maps .leaflet-map-pane')]"
        ".map(p => p.style.transform)"
    )
    assert after[0] != before[0] and after[0] == after[1]
    series = page.locator("section[aria-labelledby=series-title]")
    assert (
        series.locator("canvas").count() == 1 or "No NDVI series" in series.inner_text()
    )
    history = page.locator("section[aria-labelledby=history-title] tbody tr")
    assert history.count() >= 2  # filed, assessed, decided...
    assert page.locator("section[aria-labelledby=indemnity-title] tbody tr").count() > 0
    wait_idle(page)
    assert axe(page) == []
    screenshot(page, "adjuster-claim-crop")
    summary = save_timings("adjuster", tiles)
    assert summary["tiles"] > 0
    assert page.errors == [], page.errors


def test_an_animal_claim_photos_beside_enrolment(
    page_as: Any, axe: Any, screenshot: Any
) -> None:
    page = page_as("adjuster")
    claim = next(
        c
        for c in _claims(page)
        if c["subject_kind"] == "animal" and c["status"] == "paid"
    )
    page.goto(f"/#/adjuster/claim/{claim['id']}")
    wait_idle(page)
    page.wait_for_function(
        "() => { const i = [...document.querySelectorAll('.evidence img')];"
        " return i.length >= 2 && i.every(x => x.complete && x.naturalWidth > 0); }"
    )
    columns = page.locator(".evidence > div")
    assert columns.nth(0).locator("img").count() >= 1  # the claim's photos
    assert columns.nth(1).locator("img").count() >= 1  # the enrolment photos
    identity = page.locator("section[aria-labelledby=photos-title]").inner_text()
    assert "Identity check" in identity and "match" in identity
    assert "This claim is Paid" in page.locator("main").inner_text()
    assert axe(page) == []
    screenshot(page, "adjuster-claim-animal")
    assert page.errors == [], page.errors


def _claim_cleared_days_ago(demo_dir: Path, page: Any) -> str:
    """A new claim on an animal of the demo's that has none, approved by wang.fang and
    posted on its village's claims notice days ago: its objection period is over.

    Written through the services on the demo's database (the server's clock is the
    real one: a notice published through it today would run for days yet).
    """
    from server.config import Settings
    from server.context import build_context
    from underwriting import Money

    policies = api_call(page, "GET", "/api/v1/policies?limit=200", USERS["adjuster"])
    claimed = {c["subject_id"] for c in _claims(page)}
    policy, tag = next(
        (p, a) for p in policies["items"] for a in p["animals"] if a not in claimed
    )
    ctx = build_context(
        Settings(
            data_dir=demo_dir,
            database_url=None,
            anchor_enabled=False,
            imagery_dir=demo_dir / "imagery",
        ),
        chain=False,
    )
    try:
        start = datetime.fromisoformat(policy["start_date"]).date()
        claim = ctx.claims.file(
            policy_id=policy["id"],
            farmer_id=policy["farmer_id"],
            subject_kind="animal",
            subject_id=tag,
            event_date=start + timedelta(days=40),
            reported_at=datetime.now(UTC),
            market_value=Money.parse("7600"),
            actor=USERS["field_agent"],
        )
        approved_and_cleared(ctx, claim.id, actor=USERS["adjuster"])
    finally:
        ctx.close()
    return claim.id


def test_approve_then_the_farmer_sees_it_and_the_approver_may_not_pay(
    page_as: Any, new_page: Any, demo_dir: Path
) -> None:
    page = page_as("adjuster")
    policies = api_call(page, "GET", "/api/v1/policies?limit=200", USERS["adjuster"])
    policy = next(
        p for p in policies["items"] if p["farmer_id"] == "F-0001" and p["animals"]
    )
    claimed = {c["subject_id"] for c in _claims(page)}
    tag = next(a for a in policy["animals"] if a not in claimed)
    claim = api_call(
        page,
        "POST",
        "/api/v1/claims",
        USERS["field_agent"],
        body={
            "policy_id": policy["id"],
            "farmer_id": "F-0001",
            "subject_kind": "animal",
            "subject_id": tag,
            "event_date": "2025-05-10",
            "market_value": "7600.00",
        },
    )
    assert claim["status"] == "filed"
    page.goto(f"/#/adjuster/claim/{claim['id']}")
    wait_idle(page)
    form = page.locator("form.decision")
    form.get_by_label("Approve").check()
    if claim["light"] != "green":
        # An amber or red claim is approved only with a reason: the error sits by the field.
        form.get_by_role("button", name="Record the decision").click()
        form.locator("[data-error-for=reason]").filter(has_text="reason").wait_for()
        assert form.get_by_label("Note").get_attribute("aria-invalid") == "true"
        form.get_by_label("Note").fill("the vet's report confirms the death")
    form.get_by_role("button", name="Record the decision").click()
    page.locator("#payment-title").wait_for()
    wait_idle(page)
    assert "Approved" in page.locator("dl.summary").inner_text()
    # Four-eyes: the adjuster who approved may not record the payment (403, in words).
    pay = page.locator("form.decision")
    pay.get_by_label("Payment reference").fill("BANK-2025-0100")
    pay.get_by_role("button", name="Record the payment").click()
    refusal = pay.locator("[data-error-for=_form]").filter(has_text="Not allowed")
    refusal.wait_for()
    assert (
        api_call(page, "GET", f"/api/v1/claims/{claim['id']}", USERS["adjuster"])[
            "status"
        ]
        == "approved"
    )
    assert unexpected(page.errors) == [], page.errors

    # The farmer's page shows the claim approved.
    farmer = new_page()
    login(farmer, USERS["farmer"])
    farmer.wait_for_url("**/#/farmer")
    wait_idle(farmer)
    card = farmer.locator(f"[data-claim='{claim['id']}']")
    assert card.get_attribute("data-status") == "approved"
    assert "Approved" in card.inner_text()

    # A second adjuster may not pay it either until it has been on its village's
    # claims notice for the objection period (approved today: on none yet).
    second = new_page()
    login(second, USERS["adjuster2"])
    second.goto(f"/#/adjuster/claim/{claim['id']}")
    wait_idle(second)
    second.get_by_label("Payment reference").fill("BANK-2025-0100")
    second.get_by_role("button", name="Record the payment").click()
    form = second.locator("form.decision")
    form.locator("[data-error-for=_form]").filter(
        has_text="not on a public claims notice"
    ).wait_for()
    assert (
        api_call(page, "GET", f"/api/v1/claims/{claim['id']}", USERS["adjuster"])[
            "status"
        ]
        == "approved"
    )
    # A claim approved and posted on its village's notice days ago: paid.
    cleared = _claim_cleared_days_ago(demo_dir, page)
    second.goto(f"/#/adjuster/claim/{cleared}")
    wait_idle(second)
    second.get_by_label("Payment reference").fill("BANK-2025-0101")
    second.get_by_role("button", name="Record the payment").click()
    second.get_by_text("This claim is Paid").wait_for()
    assert unexpected(second.errors) == [], second.errors


def test_the_demo_crop_claims_say_what_the_map_can_and_cannot_tell(
    page_as: Any, screenshot: Any
) -> None:
    """A pair too far from the loss goes to a survey; a meadow is decided against its peers."""
    page = page_as("adjuster")
    claims = _claims(page)
    june = next(c for c in claims if c["subject_id"] == "AT-0001")
    meadow = next(c for c in claims if c["subject_id"].startswith("RABA-"))
    page.goto(f"/#/adjuster/claim/{june['id']}")
    wait_idle(page)
    text = page.locator("main").inner_text()
    assert "92 days after the loss on 2021-06-25" in text
    assert "the map cannot tell a loss from the season" in text
    assert "Survey" in text or "survey" in text
    screenshot(page, "adjuster-claim-crop-survey")
    page.goto(f"/#/adjuster/claim/{meadow['id']}")
    wait_idle(page)
    text = page.locator("main").inner_text()
    assert "bracket the loss on 2015-09-03" in text
    assert "the plot as a whole shows no loss beyond the season" in text
    assert "plots of the same crop (16)" in text
    assert "Rejected" in text or "rejected" in text
    screenshot(page, "adjuster-claim-crop-meadow")
    assert page.errors == [], page.errors
