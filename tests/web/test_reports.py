"""The admin page's portfolio report in a real browser, on the demo's data.

The groups table, each currency's totals and the checks' figures say what the
API says; loss ratio by region (bars) and by month (a line) are drawn; another
grouping and period re-run it; a period that ends before it starts is refused
in words; axe finds nothing serious; screenshots at desktop and phone width in
both languages, and the section alone for the README (``var/screenshots/
report-section-{en,zh}.png``, copied to ``docs/report-{en,zh}.png``).
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode

from PIL import Image

from tests.web.conftest import SCREENSHOTS, USERS, set_lang, wait_idle
from tests.web.test_underwriter import api_call, unexpected

CHARTS_DRAWN = (
    "() => { const c = [...document.querySelectorAll('#report canvas')];"
    " return c.length === 2 && window.Chart && c.every(x => window.Chart.getChart(x)); }"
)


def _drawn(canvas: Any) -> None:
    """The canvas shows a chart: axes, words and bars or a line, not one colour."""
    img = Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, (
        f"a blank chart: {len(colours)} colours"
    )


def _report(page: Any, path: str, **params: str) -> Any:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return api_call(page, "GET", f"/api/v1/reports/{path}?{query}", USERS["admin"])


def _open(page: Any) -> Any:
    section = page.locator("#report")
    section.scroll_into_view_if_needed()
    wait_idle(page)
    page.wait_for_function(CHARTS_DRAWN, timeout=20_000)
    return section


def _table(section: Any, caption: str) -> Any:
    return section.locator(
        "table", has=section.page.locator("caption", has_text=caption)
    )


def test_the_report_shows_what_the_api_says_with_its_charts(
    page_as: Any, axe: Any, screenshot: Any
) -> None:
    page = page_as("admin")
    section = _open(page)
    api = _report(page, "portfolio", by="region,month", limit="20")
    groups = _table(section, "Portfolio by group")
    header = groups.locator("thead th").all_inner_texts()
    assert header[:3] == ["County / region", "Month", "Currency"]
    assert groups.locator("tbody tr").count() == len(api["items"]) > 0
    first = api["items"][0]
    cells = groups.locator("tbody tr").first.locator("td").all_inner_texts()
    assert cells[0] == first["region"] and cells[2] == first["currency"]
    assert f"of {api['total']}" in section.locator(".pager").first.inner_text()
    totals = _table(section, "Totals by currency")
    assert totals.locator("tbody tr").count() == len(api["totals"])
    premium = api["totals"][0]["premium_minor"]
    # fmtMoney shows cents where there are any
    shown = f"{premium / 100:,.2f}" if premium % 100 else f"{premium // 100:,}"
    assert f"{shown} {api['totals'][0]['currency']}" in totals.inner_text()
    checks = _report(page, "checks")
    each = _table(section, "Each check")
    assert each.locator("tbody tr").count() == len(checks["checks"]) > 0
    assert "Override rate" in each.inner_text()
    for canvas in section.locator("canvas").all():
        _drawn(canvas)
    by_region = _report(page, "portfolio", by="region", limit="1000")
    shown = page.evaluate(
        "() => { const c = document.querySelector('#report canvas');"
        " return window.Chart.getChart(c).data.labels; }"
    )
    assert shown == sorted({x["region"] for x in by_region["items"]})
    assert axe(page) == []
    screenshot(page, "admin-report")
    for lang in ("en", "zh"):
        set_lang(page, lang)
        section = _open(page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        section.screenshot(
            path=str(SCREENSHOTS / f"report-section-{lang}.png"), animations="disabled"
        )
        if lang == "zh":
            text = section.inner_text()
            assert "业务报表" in text and "赔付率" in text and "区县" in text
    assert unexpected(page.errors) == [], page.errors


def test_another_grouping_and_period_rerun_the_report(page_as: Any) -> None:
    page = page_as("admin")
    section = _open(page)
    form = section.locator("form")
    form.get_by_label("Month").uncheck()
    form.get_by_label("Product").check()
    form.get_by_label("Peril").check()
    form.get_by_label("From").fill("2015-01-01")
    form.get_by_label("To (inclusive)").fill("2030-12-31")
    form.get_by_role("button", name="Show report").click()
    wait_idle(page)
    page.wait_for_function(CHARTS_DRAWN)
    api = _report(
        page,
        "portfolio",
        by="region,product,peril",
        **{"from": "2015-01-01", "to": "2030-12-31", "limit": "20"},
    )
    groups = _table(section, "Portfolio by group")
    header = groups.locator("thead th").all_inner_texts()
    assert header[:4] == ["County / region", "Product", "Peril", "Currency"]
    rows = groups.locator("tbody tr")
    assert rows.count() == len(api["items"])
    perils = {"crop_loss": "Crop loss", "animal_death": "Livestock death"}
    assert [
        rows.nth(i).locator("td").nth(2).inner_text() for i in range(rows.count())
    ] == [perils[x["peril"]] for x in api["items"]]
    # A period that ends before it starts is refused in words, before any request.
    form.get_by_label("From").fill("2025-06-01")
    form.get_by_label("To (inclusive)").fill("2025-05-31")
    form.get_by_role("button", name="Show report").click()
    alert = form.locator("[role=alert]")
    assert "ends before it starts" in alert.inner_text()
    assert page.evaluate("() => document.activeElement.name") == "to"
    assert unexpected(page.errors) == [], page.errors
