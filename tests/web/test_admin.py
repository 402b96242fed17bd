"""The admin page in a real browser: users listed, added, disabled and enabled, re-roled and
given a new password (each confirmed in a dialog, refusals shown in it); products listed.

The tests share the demo's database with the other browser tests: they change only users
they add, and leave the demo's users as they found them.
"""

from __future__ import annotations

from typing import Any

from tests.web.conftest import PHONE, SCREENSHOTS, login, wait_idle


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


def unexpected(errors: list[str]) -> list[str]:
    """Console errors other than the browser's note of a refusal the test asked for (4xx)."""
    note = "Failed to load resource: the server responded with a status of 4"
    return [e for e in errors if not e.startswith(note)]


def _row(page: Any, username: str) -> Any:
    """The user's row of the users table (found by its group of actions)."""
    actions = page.get_by_role("group", name=f"Actions for {username}", exact=True)
    return page.locator("tbody tr", has=actions)


def _open(page: Any, username: str, action: str) -> Any:
    """Click ``action`` in the user's row; the dialog it opens."""
    _row(page, username).get_by_role("button", name=action).click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    return dialog


def _confirm(page: Any, dialog: Any, button: str) -> None:
    dialog.get_by_role("button", name=button).click()
    wait_idle(page)


def _try_login(page: Any, username: str, password: str) -> str:
    """Submit the login form; the refusal it shows."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.locator("form.login button[type=submit]").click()
    refusal = page.locator("form.login [role=alert]")
    refusal.wait_for(state="visible")
    return str(refusal.inner_text())


def _status(page: Any, token: str) -> int:
    """The answer to GET /api/v1/me with ``token``."""
    return int(
        page.evaluate(
            "async (token) => (await fetch('/api/v1/me',"
            " {headers: {Authorization: `Bearer ${token}`}})).status",
            token,
        )
    )


def _shoot(page: Any, name: str) -> None:
    """The page with its dialog open (the language buttons are behind it): one screenshot."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled")


def test_the_admin_disables_a_user_whose_login_then_fails_and_enables_them_again(
    page_as: Any, new_page: Any, screenshot: Any
) -> None:
    page = page_as("admin")
    _add_user(page, "chen.jie", "a long enough password", "field_agent", "")
    agent = new_page()
    login(agent, "chen.jie", "a long enough password")
    token = agent.evaluate("() => sessionStorage.getItem('agri.token')")
    assert _status(agent, token) == 200

    # Cancel changes nothing.
    dialog = _open(page, "chen.jie", "Disable")
    assert "every session of theirs ends at once" in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    assert page.get_by_role("dialog").count() == 0
    assert "Active" in _row(page, "chen.jie").inner_text()

    dialog = _open(page, "chen.jie", "Disable")
    assert "Disable chen.jie?" in dialog.inner_text()
    _confirm(page, dialog, "Disable")
    assert page.get_by_role("dialog").count() == 0
    assert "User chen.jie disabled." in page.locator("main").inner_text()
    row = _row(page, "chen.jie")
    assert "Disabled" in row.inner_text()
    assert row.get_by_role("button", name="Enable").count() == 1
    assert _status(agent, token) == 401  # the session ended at once
    screenshot(page, "admin-users")

    refused = new_page()
    assert "this account is disabled" in _try_login(
        refused, "chen.jie", "a long enough password"
    )
    assert "wrong username or password" in _try_login(
        refused, "chen.jie", "not the password"
    )

    _confirm(page, _open(page, "chen.jie", "Enable"), "Enable")
    assert "User chen.jie enabled." in page.locator("main").inner_text()
    assert "Active" in _row(page, "chen.jie").inner_text()
    again = new_page()
    login(again, "chen.jie", "a long enough password")
    assert again.evaluate(
        "() => JSON.parse(sessionStorage.getItem('agri.user')).role"
    ) == ("field_agent")
    assert _status(agent, token) == 401  # an ended session stays ended
    assert unexpected(page.errors) == [], page.errors


def test_the_admin_changes_a_role_and_resets_a_password(
    page_as: Any, new_page: Any
) -> None:
    page = page_as("admin")
    _add_user(page, "sun.li", "a long enough password", "adjuster", "")

    # A farmer without a farmer id: the API's refusal is shown in the dialog, at the field.
    dialog = _open(page, "sun.li", "Change role")
    dialog.get_by_label("Role").select_option("farmer")
    _confirm(page, dialog, "Change role")
    alert = dialog.get_by_role("alert")
    assert "farmer id" in alert.inner_text() and "(farmer_id)" in alert.inner_text()
    farmer_id = dialog.get_by_label("Farmer id")
    assert farmer_id.evaluate("el => el === document.activeElement")
    farmer_id.fill("F-0003")
    _confirm(page, dialog, "Change role")
    assert page.get_by_role("dialog").count() == 0
    assert "sun.li is now: farmer." in page.locator("main").inner_text()
    assert "F-0003" in _row(page, "sun.li").inner_text()

    # A new password: the two entries must agree; then the old one fails, the new one works.
    dialog = _open(page, "sun.li", "Reset password")
    assert "Every session of sun.li ends" in dialog.inner_text()
    dialog.get_by_label("New password", exact=True).fill("another long password")
    dialog.get_by_label("Repeat the new password").fill("another long passwort")
    _confirm(page, dialog, "Reset password")
    assert "The two passwords differ." in dialog.get_by_role("alert").inner_text()
    dialog.get_by_label("Repeat the new password").fill("another long password")
    _confirm(page, dialog, "Reset password")
    assert "The password of sun.li was reset." in page.locator("main").inner_text()
    old = new_page()
    assert "wrong username or password" in _try_login(
        old, "sun.li", "a long enough password"
    )
    farmer = new_page()
    login(farmer, "sun.li", "another long password")
    farmer.wait_for_url("**/#/farmer")
    wait_idle(farmer)
    assert "Farmer F-0003" in farmer.locator("main").inner_text()
    assert unexpected(page.errors) == [], page.errors


def test_the_last_admin_is_kept_and_the_dialogs_speak_chinese(
    page_as: Any, axe: Any
) -> None:
    page = page_as("admin", viewport=PHONE)
    dialog = _open(page, "admin", "Disable")
    _confirm(page, dialog, "Disable")
    assert "admin is the last active admin" in dialog.get_by_role("alert").inner_text()
    _shoot(page, "admin-dialog-en-360")
    dialog.get_by_role("button", name="Cancel").click()
    assert "Active" in _row(page, "admin").inner_text()

    zh = page_as("admin", lang="zh")
    actions = zh.get_by_role("group", name="admin 的操作", exact=True)
    row = zh.locator("tbody tr", has=actions)
    assert "正常" in row.inner_text()
    row.get_by_role("button", name="重置密码").click()
    dialog = zh.get_by_role("dialog")
    assert "重置 admin 的密码" in dialog.inner_text()
    assert "admin 的所有会话将失效" in dialog.inner_text()
    _shoot(zh, "admin-dialog-zh-1280")
    assert axe(zh) == []  # with the dialog open
    dialog.get_by_role("button", name="取消").click()
    assert zh.get_by_role("dialog").count() == 0
    assert unexpected(page.errors) == [] and zh.errors == [], page.errors + zh.errors
