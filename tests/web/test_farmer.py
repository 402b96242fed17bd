"""The farmer's page in a real browser: own records in plain words, receipts verified there.

The receipt check runs in Chromium's WebCrypto (SHA-256, Ed25519) against the key
the page shows; a receipt changed on its way (entry, proof, signature, size) is
reported invalid, naming the check that failed.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.web.conftest import PHONE, SCREENSHOTS, wait_idle


def _claims(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(
        "async () => (await (await fetch('/api/v1/claims?limit=200', {headers:"
        " {Authorization: 'Bearer ' + sessionStorage.getItem('agri.token')}})).json()).items"
    )


def _paid_card(page: Any) -> Any:
    """The demo's genuine claim, paid with BANK-2025-0001 (other tests may pay more)."""
    return page.locator("li[data-status=paid]", has_text="BANK-2025-0001")


def test_the_farmer_sees_own_policies_and_claims_in_plain_words(
    page_as: Any, screenshot: Any
) -> None:
    page = page_as("farmer", viewport=PHONE)
    claims = _claims(page)
    assert claims and {c["farmer_id"] for c in claims} == {"F-0001"}
    cards = page.locator("li[data-claim]")
    assert cards.count() == len(claims)
    assert {cards.nth(i).get_attribute("data-claim") for i in range(cards.count())} == {
        c["id"] for c in claims
    }
    paid = _paid_card(page).inner_text()
    assert "Approved, paid 7,400 CNY on" in paid
    assert "BANK-2025-0001" in paid
    rejected = page.locator("li[data-status=rejected]").first.inner_text()
    assert "Not approved:" in rejected
    assert page.locator("li[data-policy]").count() == 1
    assert "In force" in page.locator("li[data-policy]").inner_text() or "Ended" in (
        page.locator("li[data-policy]").inner_text()
    )
    key = page.locator("[data-key=verifier]").text_content() or ""
    assert key.startswith("agri-insurance.local/ledger+")
    assert "Receipts are checked in this browser against the ledger key" in (
        page.locator(".trust").inner_text()
    )
    screenshot(page, "farmer")
    page.locator(".langs [data-lang=zh]").click()
    wait_idle(page)
    assert "已核准" in _paid_card(page).inner_text()
    assert "赔付 7,400 元" in _paid_card(page).inner_text()
    assert page.errors == []


def test_another_farmer_sees_none_of_them(page_as: Any) -> None:
    page = page_as("farmer2", viewport=PHONE)
    ids = {
        page.locator("li[data-claim]").nth(i).get_attribute("data-claim")
        for i in range(page.locator("li[data-claim]").count())
    }
    assert all(c["farmer_id"] == "F-0002" for c in _claims(page))
    assert not ids & {"F-0001"}
    assert page.locator("li[data-policy]").count() == 1


def _verify(page: Any, label: str = "Verify receipt") -> Any:
    card = _paid_card(page)
    card.get_by_role("button", name=label).click()
    verdict = card.locator(".verdict")
    page.wait_for_function(
        "el => el.dataset.valid !== undefined", arg=verdict.element_handle()
    )
    return verdict


def test_the_receipt_of_a_payment_verifies_in_the_browser(page_as: Any) -> None:
    page = page_as("farmer", viewport=PHONE)
    verdict = _verify(page)
    assert verdict.get_attribute("data-valid") == "true"
    text = verdict.inner_text()
    assert "Valid: entry #" in text
    assert "agri-insurance.local/ledger" in text
    key_id = (page.locator("[data-key=verifier]").text_content() or "").split("+")[1]
    assert key_id in text
    _paid_card(page).scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "farmer-receipt-valid-en-360.png"))
    assert page.errors == []


def _b64_json(text: str) -> Any:
    return json.loads(base64.b64decode(text))


def _tamper_entry(r: dict[str, Any]) -> None:
    event = _b64_json(r["entry"])
    event["payload"] = {**event.get("payload", {}), "amount": "74000.00"}
    r["entry"] = base64.b64encode(json.dumps(event).encode()).decode()


def _tamper_entry_and_leaf(r: dict[str, Any]) -> None:
    import hashlib

    _tamper_entry(r)
    leaf = hashlib.sha256(b"\x00" + base64.b64decode(r["entry"])).digest()
    r["leaf_hash"] = base64.b64encode(leaf).decode()


def _tamper_proof(r: dict[str, Any]) -> None:
    first = bytearray(base64.b64decode(r["inclusion_proof"][0]))
    first[0] ^= 1
    r["inclusion_proof"][0] = base64.b64encode(bytes(first)).decode()


def _tamper_size(r: dict[str, Any]) -> None:
    r["tree_size"] += 1


def _tamper_signature(r: dict[str, Any]) -> None:
    text, sigs = r["checkpoint"].rsplit("\n\n", 1)
    lines = text.split("\n")
    root = bytearray(base64.b64decode(lines[2]))
    root[-1] ^= 1
    lines[2] = base64.b64encode(bytes(root)).decode()
    r["checkpoint"] = "\n".join(lines) + "\n\n" + sigs


def _tamper_key(r: dict[str, Any]) -> None:
    text, sig = r["checkpoint"].rsplit("\n\n", 1)
    name, blob = sig.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[0] ^= 1  # another key id: no signature by the trusted key remains
    r["checkpoint"] = (
        f"{text}\n\n\u2014 {name} {base64.b64encode(bytes(raw)).decode()}\n"
    )


@pytest.mark.parametrize(
    ("tamper", "reason", "chinese"),
    [
        (_tamper_entry, "the entry was changed", "条目已被改动"),
        (_tamper_entry_and_leaf, "does not lead to the signed root hash", "根哈希"),
        (_tamper_proof, "does not lead to the signed root hash", "根哈希"),
        (_tamper_size, "differs from the checkpoint's", "账本大小"),
        (_tamper_signature, "does not verify", "签名校验失败"),
        (_tamper_key, "not signed by the trusted key", "没有可信公钥"),
    ],
    ids=["entry", "entry-and-leaf", "proof", "tree-size", "signed-root", "key-id"],
)
def test_a_tampered_receipt_is_invalid_and_says_why_in_the_readers_language(
    page_as: Any, tamper: Callable[[dict[str, Any]], None], reason: str, chinese: str
) -> None:
    def altered(route: Any) -> None:
        response = route.fetch()
        doc = response.json()
        tamper(doc)
        route.fulfill(response=response, body=json.dumps(doc))

    for lang, words, why, button in (
        ("en", "Not valid", reason, "Verify receipt"),
        ("zh", "无效", chinese, "校验回执"),
    ):
        page = page_as("farmer", viewport=PHONE, lang=lang)
        page.route("**/api/v1/ledger/receipts/*", altered)
        verdict = _verify(page, button)
        assert verdict.get_attribute("data-valid") == "false"
        text = verdict.inner_text()
        assert words in text and why in text, text
        if lang == "zh":
            assert not re.search(r"[A-Za-z]{3,} [A-Za-z]{3,} [A-Za-z]{3,}", text), text


def test_a_genuine_receipt_of_another_entry_is_not_valid_for_this_record(
    page_as: Any,
) -> None:
    """A real receipt, signed and proved, but of entry 0: it proves nothing about this claim."""
    page = page_as("farmer", viewport=PHONE)

    def swapped(route: Any) -> None:
        url = re.sub(r"/receipts/\d+", "/receipts/0", route.request.url)
        response = route.fetch(url=url)
        route.fulfill(response=response)

    page.route("**/api/v1/ledger/receipts/*", swapped)
    verdict = _verify(page)
    assert verdict.get_attribute("data-valid") == "false"
    assert "for ledger entry #0, not #" in verdict.inner_text()
