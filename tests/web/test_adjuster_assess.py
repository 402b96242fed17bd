"""The adjuster assesses a crop claim from its page, on catalogue scenes, in a real browser.

One server on its own small database: wheat insured on two Austrian fields hit
by hail (planted on their real Sentinel-2 pixels, :func:`hail_pair`) beside
eight unchanged peers, a hail claim on each, and the catalogue holding the
hail pair (3 and 7 days from the loss) and the demo's June / September pair.
The page offers the scenes on each side of the loss with their dates and
distance to it, the rules' pick pre-selected; Assess posts it and the claim
shows the result at once (checks with their reasons, indemnity, damage,
NDVI). In English at desktop width, in Chinese at phone width, where a scene
the catalogue lacks is refused in Chinese beside its select.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from remote_sensing import SceneCatalogue
from server.cli.demo import PASSWORD
from server.cli.imagery import register_demo_scenes
from server.config import Settings
from server.context import build_context
from server.services.auth import UserStore
from tests.server.pages_records import (
    AUSTRIA_SCENE,
    HAIL_EVENT,
    PEERS,
    crop_policy,
    hail_pair,
)
from tests.web.conftest import DESKTOP, PHONE, login, serve, wait_idle
from tests.web.test_underwriter import unexpected

HIT = ["AT-0488", "AT-0001"]  # one claim each: English, Chinese
HAIL_BEFORE, HAIL_AFTER = "hail-2021-06-17", "hail-2021-06-27"
ADJUSTER = "wang.fang"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Iterator[tuple[str, dict[str, str]]]:
    """(the app's URL, plot -> its filed hail claim's id)."""
    data = tmp_path_factory.mktemp("assess-app")
    imagery = data / "imagery"
    settings = Settings(
        data_dir=data, database_url=None, anchor_enabled=False, imagery_dir=imagery
    )
    ctx = build_context(settings, chain=False)
    try:
        UserStore(ctx.engine).create(ADJUSTER, PASSWORD, "adjuster", None)
        register_demo_scenes(imagery, shared_data / AUSTRIA_SCENE)
        before, _ = hail_pair(shared_data, tmp_path_factory.mktemp("hail"), HIT)
        catalogue = SceneCatalogue(imagery)
        for name, day, bands in (
            (HAIL_BEFORE, date(2021, 6, 17), {"red": 1, "green": 2, "blue": 3}),
            (HAIL_AFTER, date(2021, 6, 27), {"red": 5, "green": 6, "blue": 7}),
        ):
            nir = {"nir": bands["red"] + 3}
            catalogue.register(before.path, name, day, bands | nir, scale=0.0001)
        _, policy = crop_policy(ctx, [*HIT, *PEERS])
        claims = {
            plot: ctx.claims.file(
                policy_id=policy,
                farmer_id="F-5",
                subject_kind="plot",
                subject_id=plot,
                event_date=HAIL_EVENT,
                reported_at=datetime(2021, 6, 21, 9, tzinfo=UTC),
                claimed_fraction=0.8,
                growth_stage="heading",
                actor="li.wei",
            ).id
            for plot in HIT
        }
    finally:
        ctx.close()
    with serve(data, imagery) as url:
        yield url, claims


@pytest.fixture
def open_claim(
    browser: Any, site: tuple[str, dict[str, str]]
) -> Iterator[Callable[..., Any]]:
    """``open_claim(plot, viewport, lang)``: the adjuster's page of that plot's claim."""
    url, claims = site
    contexts: list[Any] = []

    def open_page(plot: str, viewport: dict[str, int], lang: str) -> Any:
        context = browser.new_context(viewport=viewport, base_url=url, locale="en-GB")
        context.add_init_script(f"localStorage.setItem('agri.lang', '{lang}');")
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: page.errors.append(msg.text) if msg.type == "error" else None,
        )
        page.goto("/")
        login(page, ADJUSTER)
        page.goto(f"/#/adjuster/claim/{claims[plot]}")
        wait_idle(page)
        return page

    yield open_page
    for context in contexts:
        context.close()


def assess_and_wait(page: Any, button: str) -> None:
    """Press the form's button; wait for the claim to be drawn again, assessed."""
    page.locator("form.assess").get_by_role("button", name=button).click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('ul.checks code')]"
        ".some(c => c.textContent === 'season_baseline')",
        timeout=60_000,
    )
    wait_idle(page, 30_000)


def checks_of(page: Any) -> dict[str, str]:
    """code -> the check's whole line (light, name, reason) as shown."""
    items = page.locator("ul.checks li")
    return {
        items.nth(i).locator("code").inner_text(): items.nth(i).inner_text()
        for i in range(items.count())
    }


def test_assess_in_english_on_the_rules_pick(
    open_claim: Any, axe: Any, screenshot: Any
) -> None:
    page = open_claim("AT-0488", DESKTOP, "en")
    form = page.locator("form.assess")
    before = form.get_by_label("Scene before the loss")
    after = form.get_by_label("Scene after the loss")
    # The rules' pick is pre-selected; each scene shows its date and distance to the loss.
    assert (before.input_value(), after.input_value()) == (HAIL_BEFORE, HAIL_AFTER)
    assert before.locator("option").all_inner_texts() == [
        "2021-06-17 · 3 days before · austria-2021-06-17",
        "2021-06-17 · 3 days before · hail-2021-06-17 · the rules\u2019 pick",
    ]
    assert after.locator("option").all_inner_texts() == [
        "2021-06-27 · 7 days after · the rules\u2019 pick",
        "2021-09-25 · 97 days after",
    ]
    assert "not been assessed" in page.locator("main").inner_text()
    assert axe(page) == []

    assess_and_wait(page, "Assess")
    toast = page.locator(".toast-ok")
    assert toast.inner_text().startswith("Assessed: the light is Green, the indemnity")
    toast.get_by_role("button").click()  # the screenshots show the page, not the toast
    checks = checks_of(page)
    assert "Green" in checks["measured_damage"], checks
    assert (
        "Green" in checks["scene_timing"]
        and "bracket the loss" in (checks["scene_timing"])
    )
    assert "Green" in checks["season_baseline"], checks
    summary = page.locator("dl.summary").inner_text()
    amount = re.search(r"Indemnity\s+(\S+)", summary)
    assert amount and amount.group(1) not in ("CN¥0.00", "¥0.00"), summary
    indemnity = page.locator("section[aria-labelledby=indemnity-title] tbody tr")
    assert indemnity.count() > 1
    imagery = page.locator("section[aria-labelledby=imagery-title]").inner_text()
    assert "damaged areas from the assessment" in imagery
    assert f"Before: {HAIL_BEFORE}" in imagery and f"After: {HAIL_AFTER}" in imagery
    series = page.locator("section[aria-labelledby=series-title]")
    assert series.locator("canvas").count() == 1
    # The claim stays open: it may be assessed again, then decided.
    assert page.locator("form.assess").count() == 1
    assert page.locator("#decision-title").count() == 1
    assert axe(page) == []
    screenshot(page, "adjuster-assess-result")
    assert page.errors == [], page.errors


def test_assess_in_chinese_on_a_phone_refused_scene_then_the_pick(
    open_claim: Any, screenshot: Any
) -> None:
    page = open_claim("AT-0001", PHONE, "zh")
    form = page.locator("form.assess")
    before = form.get_by_label("灾前影像")
    after = form.get_by_label("灾后影像")
    assert (before.input_value(), after.input_value()) == (HAIL_BEFORE, HAIL_AFTER)
    assert after.locator("option").all_inner_texts() == [
        "2021-06-27 · 灾后 7 天 · 规则推荐",
        "2021-09-25 · 灾后 97 天",
    ]
    assert "2021-06-17 · 灾前 3 天" in before.locator("option").first.inner_text()
    screenshot(page, "adjuster-assess-form")

    # A scene the catalogue lacks (gone since the page was drawn): refused in Chinese.
    before.evaluate(
        "s => { s.append(new Option('2021-06-16', 'austria-2021-06-16'));"
        " s.value = 'austria-2021-06-16'; }"
    )
    form.get_by_role("button", name="定损").click()
    refusal = form.locator("[data-error-for=before]")
    refusal.filter(has_text="影像目录中没有").wait_for()
    assert refusal.inner_text() == "影像目录中没有所选的灾前影像 austria-2021-06-16。"
    assert before.get_attribute("aria-invalid") == "true"

    before.select_option(HAIL_BEFORE)
    assess_and_wait(page, "定损")
    checks = checks_of(page)
    assert "绿灯" in checks["scene_timing"], checks
    assert (
        "2021-06-17 与 2021-06-27 的影像涵盖 2021-06-20 的损失"
        in (checks["scene_timing"])
    )
    assert "绿灯" in checks["season_baseline"] and "绿灯" in checks["measured_damage"]
    assert page.locator("section[aria-labelledby=indemnity-title] tbody tr").count() > 1
    assert "遥感定损得出" in page.locator("main").inner_text()
    assert unexpected(page.errors) == [], page.errors
