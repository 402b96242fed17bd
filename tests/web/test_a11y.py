"""Accessibility of the shell, the farmer's and the admin's pages: axe-core and the keyboard.

axe-core (npm, served at /vendor/axe-core/) runs in the page at both widths and in
both languages; no serious or critical violation is allowed.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import DESKTOP, PHONE, USERS, set_lang, wait_idle


def _check(page: Any, axe: Any, where: str) -> None:
    for lang in ("en", "zh"):
        set_lang(page, lang)
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            found = axe(page)
            assert found == [], f"{where} ({lang}, {size['width']} px): {found}"


def test_the_login_page_has_no_serious_violations(new_page: Any, axe: Any) -> None:
    page = new_page()
    wait_idle(page)
    _check(page, axe, "login")


@pytest.mark.parametrize("role", ["farmer", "admin"])
def test_the_pages_have_no_serious_violations(
    page_as: Any, axe: Any, role: str
) -> None:
    page = page_as(role)
    _check(page, axe, role)


def test_the_farmer_page_after_a_verification_has_no_serious_violations(
    page_as: Any, axe: Any
) -> None:
    page = page_as("farmer", viewport=PHONE)
    page.locator("li[data-status=paid] button").click()
    page.wait_for_selector("li[data-status=paid] .verdict[data-valid=true]")
    assert axe(page) == []


def test_login_and_language_by_keyboard_alone(new_page: Any) -> None:
    page = new_page()
    wait_idle(page)
    active = "() => document.activeElement"
    assert page.evaluate(f"{active}.name") == "username"  # the form has the focus
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(f"{active}.dataset.lang") == "zh"
    outline = page.evaluate(f"() => getComputedStyle(({active})()).outlineStyle")
    assert outline != "none"  # focus is visible
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    wait_idle(page)
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(f"{active}.id") == "skip-link"
    assert page.locator("#skip-link").is_visible()
    page.get_by_label("用户名").focus()
    page.keyboard.type(USERS["farmer"])
    page.keyboard.press("Tab")
    page.keyboard.type("demo-password-2025")
    page.keyboard.press("Enter")
    page.wait_for_url("**/#/farmer")
    wait_idle(page)
    assert page.locator("h1").inner_text() == "我的保险"
    button = page.locator("li[data-status=paid] button")
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("li[data-status=paid] .verdict[data-valid=true]")
    assert "有效" in page.locator("li[data-status=paid] .verdict").inner_text()
