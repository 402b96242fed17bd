"""The admin page in a real browser: users listed and added, products listed."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import login, wait_idle


def _add_user(page: Any, username: str, password: str, role: str, farmer: str) -> None:
    form = page.locator("form[aria-labelledby=add-user-h]")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(password)
    form.get_by_label("Role").select_option(role)
    form.get_by_label("Farmer id").fill(farmer)
    form.get_by_role("button", name="Add user").click()
    wait_idle(page)


def test_the_admin_adds_a_farmer_who_then_logs_in(
    page_as: Any, new_page: Any, screenshot: Any
) -> None:
    page = page_as("admin")
    users = page.locator("table", has=page.locator("caption", has_text="Users"))
    assert "zhang.min" in users.inner_text()
    products = page.locator("table", has=page.locator("caption", has_text="Products"))
    assert "COW-2025" in products.inner_text()
    assert "WHEAT-2025" in products.inner_text()
    screenshot(page, "admin")

    _add_user(page, "hofer.anna", "a long enough password", "farmer", "F-0003")
    assert "User hofer.anna added." in page.locator("main").inner_text()
    assert "hofer.anna" in users.inner_text()

    farmer = new_page()
    login(farmer, "hofer.anna", "a long enough password")
    farmer.wait_for_url("**/#/farmer")
    wait_idle(farmer)
    assert "Farmer F-0003" in farmer.locator("main").inner_text()
    assert farmer.locator("li[data-policy]").count() == 1


def test_a_refused_user_names_the_problem(page_as: Any) -> None:
    page = page_as("admin")
    _add_user(page, "short.pw", "too short", "adjuster", "")
    # the browser's own check (minlength) stops it first; without it the API names the field
    assert page.locator(
        "form[aria-labelledby=add-user-h] input[name=password]"
    ).evaluate("el => el.validity.tooShort || !el.checkValidity()")
    page.locator("input[name=password]").evaluate(
        "el => el.removeAttribute('minlength')"
    )
    page.get_by_role("button", name="Add user").click()
    wait_idle(page)
    error = page.locator("form[aria-labelledby=add-user-h] [role=alert]")
    assert "password" in error.inner_text()
    _add_user(page, "admin", "a long enough password", "admin", "")
    assert "username 'admin' is taken" in error.inner_text()
    assert page.locator("form[aria-labelledby=add-user-h] [role=alert]").count() == 1
