"""Public notices (公示) in a real browser, on the demo's data.

An adjuster publishes the claims notice of a village where a claim was just
approved, reads it (names masked, each claim's payment check: not before the
objection period ends), records an objection for a villager (a missing name
said beside its field), dismisses it with a reason, prints it (the print view:
the notice alone) and downloads its PDF. The PDF's QR code, decoded, opens the
notice's public page without a login, which verifies the receipt in the browser
in Chinese and English, and says so when the receipt was altered on the way. An
underwriter reads the underwriting notices. axe on each page; screenshots at
desktop and phone width in both languages (``var/screenshots/``).
"""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from claims import mask_name
from tests.web.conftest import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    USERS,
    set_lang,
    wait_idle,
)
from tests.web.test_underwriter import api_call, unexpected


def _approved_claim(page: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new claim on an animal that has none, approved today; and its farmer."""
    policies = api_call(page, "GET", "/api/v1/policies?limit=200", USERS["adjuster"])
    claims = api_call(page, "GET", "/api/v1/claims?limit=200", USERS["adjuster"])
    claimed = {c["subject_id"] for c in claims["items"]}
    policy, tag = next(
        (p, a) for p in policies["items"] for a in p["animals"] if a not in claimed
    )
    claim = api_call(
        page,
        "POST",
        "/api/v1/claims",
        USERS["field_agent"],
        body={
            "policy_id": policy["id"],
            "farmer_id": policy["farmer_id"],
            "subject_kind": "animal",
            "subject_id": tag,
            "event_date": (
                date.fromisoformat(policy["start_date"]) + timedelta(days=40)
            ).isoformat(),
            "market_value": "7600.00",
        },
    )
    approved = api_call(
        page,
        "POST",
        f"/api/v1/claims/{claim['id']}/decision",
        USERS["adjuster"],
        body={"decision": "approve", "reason": "the vet's certificate confirms it"},
    )
    assert approved["status"] == "approved", approved
    farmers = api_call(page, "GET", "/api/v1/farmers?limit=200", USERS["adjuster"])
    farmer = next(f for f in farmers["items"] if f["id"] == policy["farmer_id"])
    return approved, farmer


def _qr_url(pdf: bytes) -> str:
    """The URL the PDF's QR code holds (its first page rendered, the code decoded)."""
    import pypdfium2 as pdfium  # type: ignore[import-untyped]
    import zxingcpp

    doc = pdfium.PdfDocument(pdf)
    try:
        image = doc[0].render(scale=3).to_pil().convert("RGB")
    finally:
        doc.close()
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, found
    return str(found[0].text)


def _print_views(page: Any, name: str) -> list[Path]:
    """The page as printed (CSS @media print), in both languages."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    written = []
    for lang in ("zh", "en"):
        set_lang(page, lang)
        page.emulate_media(media="print")
        try:
            assert not page.locator("form").first.is_visible()
            assert not page.locator(".topbar").is_visible()
            assert page.locator("table.notice-rows").is_visible()
            assert page.locator(".print-only").is_visible()
            path = SCREENSHOTS / f"{name}-{lang}-print.png"
            page.screenshot(path=str(path), full_page=True, animations="disabled")
            written.append(path)
        finally:
            page.emulate_media(media="screen")
    return written


def test_an_adjuster_publishes_a_claims_notice_takes_an_objection_and_prints_it(
    page_as: Any, new_page: Any, axe: Any, screenshot: Any
) -> None:
    page = page_as("adjuster")
    claim, farmer = _approved_claim(page)
    page.get_by_role("link", name="Public notices").click()
    page.wait_for_url("**/#/adjuster/notices")
    wait_idle(page)
    assert axe(page) == []

    # Publish the claims notice of the claim's village: three days of objections.
    form = page.locator("form.publish")
    form.get_by_label("Village / township").select_option(farmer["region"])
    form.get_by_label("Objection period (days)").fill("3")
    form.get_by_role("button", name="Publish the notice").click()
    page.wait_for_url("**/#/adjuster/notices/ntc_*")
    wait_idle(page)
    notice_id = page.url.rsplit("/", 1)[1]
    assert page.locator("h1").inner_text() == "Public notice of the claim list"
    rows = page.locator("table.notice-rows")
    text = rows.inner_text()
    assert mask_name(farmer["name"]) in text
    assert farmer["name"] not in text and farmer["id"] not in text
    assert claim["id"] not in text and claim["subject_id"] not in text
    mine = rows.locator("tbody tr").filter(has_text=claim["id"][:8])
    assert mine.count() == 1
    assert "objections are taken until" in mine.inner_text()  # not paid yet
    row = mine.locator("td").first.inner_text().strip()

    # An objection for a villager: the name is required, said beside its field.
    record = page.locator("form.record-objection")
    record.get_by_label("Row").select_option(row)
    record.get_by_label("What is wrong").fill("这头牛上周还在吃草")
    record.get_by_role("button", name="Record the objection").click()
    record.locator("[data-error-for=on_behalf_of]").filter(
        has_text="on behalf"
    ).wait_for()
    record.get_by_label("Name of the person objecting").fill("张大爷")
    record.get_by_role("button", name="Record the objection").click()
    opened = page.locator("li.objection[data-status=open]")
    opened.wait_for()
    wait_idle(page)
    assert "张大爷" in opened.inner_text() and "Open" in opened.inner_text()
    assert axe(page) == []
    screenshot(page, "notices-claims-objection")

    # Dismissed, with a reason (none: said beside the reason).
    resolve = opened.locator("form.decision")
    resolve.get_by_label("Dismissed").check()
    resolve.get_by_role("button", name="Record the outcome").click()
    resolve.locator("[data-error-for=reason]").filter(has_text="reason").wait_for()
    resolve.get_by_label("Reason").fill("the vet's certificate and the carcass photos")
    resolve.get_by_role("button", name="Record the outcome").click()
    done = page.locator("li.objection[data-status=dismissed]")
    done.wait_for()
    wait_idle(page)
    assert "Dismissed by wang.fang: the vet's certificate" in done.inner_text()
    objection = api_call(page, "GET", f"/api/v1/notices/{notice_id}", USERS["adjuster"])
    assert [o["status"] for o in objection["objections"]] == ["dismissed"]
    assert axe(page) == []
    screenshot(page, "notices-claims")
    _print_views(page, "notices-claims")

    # The PDF in the page's language; its QR code opens the public page.
    set_lang(page, "zh")
    with page.expect_download() as downloading:
        page.get_by_role("button", name="下载 PDF").click()
    download = downloading.value
    assert download.suggested_filename == f"{notice_id}-zh.pdf"
    pdf = Path(download.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    url = _qr_url(pdf)
    assert url.endswith(f"/notices/{notice_id}")
    wait_idle(page)
    assert unexpected(page.errors) == [], page.errors

    # Anyone, no login: the receipt verified in the browser, the rows as posted.
    public = new_page(viewport=PHONE, lang="zh")
    public.goto(url)
    wait_idle(public)
    verdict = public.locator(".verdict")
    assert verdict.get_attribute("data-valid") == "true", verdict.inner_text()
    assert "已核验" in verdict.inner_text()
    assert public.locator("h1").inner_text() == "理赔公示"
    shown = public.locator("table.notice-rows").inner_text()
    assert mask_name(farmer["name"]) in shown and farmer["name"] not in shown
    assert public.locator("table.notice-rows tbody tr").count() == len(
        objection["items"]
    )
    set_lang(public, "en")
    assert "Verified: this is the notice as posted" in verdict.inner_text()
    assert axe(public) == []
    screenshot(public, "notice-public")
    public.set_viewport_size(DESKTOP)
    assert public.errors == [], public.errors

    # A receipt altered on its way (another region named) does not verify.
    forged = new_page(lang="en")

    def alter(route: Any) -> None:
        receipt = route.fetch().json()
        event = json.loads(base64.b64decode(receipt["entry"]))
        event["payload"]["region"] = "somewhere else"
        receipt["entry"] = base64.b64encode(json.dumps(event).encode()).decode()
        route.fulfill(json=receipt)

    forged.route("**/api/v1/ledger/notices/*/receipt", alter)
    forged.goto(url)
    wait_idle(forged)
    verdict = forged.locator(".verdict")
    assert verdict.get_attribute("data-valid") == "false"
    assert "Not valid" in verdict.inner_text()
    assert "entry was changed" in verdict.inner_text()
    assert forged.locator("table.notice-rows").count() == 0  # nothing shown as posted


def test_an_underwriter_reads_the_underwriting_notices(
    page_as: Any, axe: Any, screenshot: Any
) -> None:
    page = page_as("underwriter")
    page.get_by_role("link", name="Public notices").click()
    page.wait_for_url("**/#/underwriter/notices")
    wait_idle(page)
    publish = page.locator("form.publish")
    assert publish.get_by_label("Kind").inner_text().strip() == (
        "Public notice of the underwriting list"
    )
    rows = page.locator(".paged table tbody tr a")
    rows.first.wait_for()  # the list is fetched after the form is drawn
    assert rows.count() >= 1
    assert axe(page) == []
    screenshot(page, "notices-list")
    page.locator(".paged table tbody a").filter(
        has_text="Public notice of the underwriting list"
    ).first.click()
    page.wait_for_url("**/#/underwriter/notices/ntc_*")
    wait_idle(page)
    assert page.locator("h1").inner_text() == "Public notice of the underwriting list"
    heads = page.locator("table.notice-rows thead th").all_inner_texts()
    assert "Paid by the farmer" in heads and "Payment" not in heads
    assert page.locator("table.notice-rows tbody tr").count() >= 1
    assert axe(page) == []
    screenshot(page, "notices-underwriting")
    assert unexpected(page.errors) == [], page.errors
