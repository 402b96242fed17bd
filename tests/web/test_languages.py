"""Words in the reader's language: no English sentence on Chinese pages, no Chinese on English.

What the server words (checks' reasons, indemnity lines, a decision's grounds)
comes in the page's language (the page sends it as ``Accept-Language``), and so
does what the page words itself (statuses, receipts). Checked on every claim of
the demo's season, on the farmer's page and on the adjuster's claim pages.
"""

from __future__ import annotations

import re
from typing import Any

from tests.web.conftest import PHONE, USERS, set_lang, wait_idle
from tests.web.test_underwriter import api_call, unexpected

# Four English words in a row is a sentence; ids, tags, units and names are not.
ENGLISH = re.compile(r"\b[A-Za-z]{2,}(?:[ ,'\u2019-]+[A-Za-z]{2,}){3,}\b")
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _english_sentences(text: str) -> list[str]:
    # The language switch names English in English, on purpose.
    return [m.group(0) for m in ENGLISH.finditer(text.replace("English", ""))]


def test_the_farmers_page_speaks_one_language(page_as: Any) -> None:
    page = page_as("farmer", viewport=PHONE, lang="zh")
    cards = page.locator("li[data-claim]")
    assert cards.count() >= 4
    main = page.locator("main").inner_text()
    assert _english_sentences(main) == [], main
    # The rejections say why, in Chinese: the grounds the adjuster decided on.
    rejected = page.locator("li[data-status=rejected]")
    assert rejected.count() >= 3
    for i in range(rejected.count()):
        text = rejected.nth(i).inner_text()
        assert "未获赔：" in text and "未说明理由" not in text, text

    set_lang(page, "en")
    for i in range(cards.count()):
        text = cards.nth(i).inner_text()
        assert not CJK.search(text), text
    assert "Not approved: this animal or field has been claimed for already" in (
        page.locator("main").inner_text()
    )
    assert unexpected(page.errors) == [], page.errors


def test_the_adjusters_claims_speak_one_language(page_as: Any) -> None:
    page = page_as("adjuster", lang="zh")
    claims = api_call(page, "GET", "/api/v1/claims?limit=200", USERS["adjuster"])
    demo = [c for c in claims["items"] if c["farmer_id"].startswith("F-")]
    assert {c["subject_kind"] for c in demo} == {"animal", "plot"}
    for claim in demo:
        page.goto(f"/#/adjuster/claim/{claim['id']}")
        wait_idle(page)
        checks = page.locator("ul.checks").first.inner_text()
        indemnity = page.locator(
            "section[aria-labelledby=indemnity-title]"
        ).inner_text()
        for part in (checks, indemnity):
            assert _english_sentences(part) == [], (claim["id"], part)
        assert CJK.search(checks), checks
    # The same claims in English carry no Chinese in what the server worded.
    set_lang(page, "en")
    for claim in demo:
        page.goto(f"/#/adjuster/claim/{claim['id']}")
        wait_idle(page)
        checks = page.locator("ul.checks").first.inner_text()
        indemnity = page.locator(
            "section[aria-labelledby=indemnity-title]"
        ).inner_text()
        assert not CJK.search(checks + indemnity), (claim["id"], checks, indemnity)
    assert unexpected(page.errors) == [], page.errors
