"""The pages in a real browser: the demo's database, the real app, Debian's Chromium.

Session fixtures run ``agri demo`` once into a temporary data folder, serve the
real app on it with uvicorn (a background thread, a free loopback port) and
launch Chromium headless through Playwright. Tests get ``page_as(role)``, a page
logged in as the demo's user of that role; ``screenshot(page, name)`` writes the
page at desktop and phone width in both languages to ``var/screenshots/``
(git-ignored); ``axe(page)`` runs axe-core and returns the serious and critical
violations.

Needs Debian's Chromium (``apt-get install -y chromium``; Playwright's own browser
download cannot work here) and the npm packages (``npm ci --prefix web``); both
are installed by ``make setup`` where it can, and the tests fail naming the
command where they are missing.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from server.cli.demo import PASSWORD, run_demo

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
SCREENSHOTS = REPO / "var" / "screenshots"
CHROMIUM = os.environ.get("AGRI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
USERS = {  # the demo's user of each role (server/cli/demo.py)
    "admin": "admin",
    "underwriter": "zhang.min",
    "adjuster": "wang.fang",
    "adjuster2": "zhao.lei",
    "field_agent": "li.wei",
    "farmer": "f-0001",
    "farmer2": "f-0002",
}
HOME = {"admin": "admin", "underwriter": "underwriter", "adjuster": "adjuster"}
HOME |= {"adjuster2": "adjuster", "farmer": "farmer", "farmer2": "farmer"}


def _require_tools() -> None:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"the browser tests need Debian's Chromium at {CHROMIUM}: install it with "
            "`sudo apt-get install -y chromium` (or run `make setup` as root); "
            "Playwright's own browser download cannot work here. "
            "AGRI_CHROMIUM names another Chromium binary."
        )
    for pkg in ("leaflet", "chart.js", "axe-core"):
        if not (WEB / "node_modules" / pkg).is_dir():
            pytest.fail(
                f"the npm package {pkg} is missing: run `make setup` "
                "(npm ci --prefix web)"
            )


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A data folder holding the demo's database, ledger key and receipt (one run)."""
    _require_tools()
    folder = tmp_path_factory.mktemp("web-demo")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run_demo(folder, shared=shared_data)
    assert code == 0, out.getvalue()[-4000:]
    return folder


class _Server(threading.Thread):
    """uvicorn serving ``app`` on an already bound socket, in a daemon thread."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        super().__init__(daemon=True, name="web-tests-uvicorn")
        import uvicorn

        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.sock = sock

    def run(self) -> None:
        self.server.run(sockets=[self.sock])

    def stop(self) -> None:
        self.server.should_exit = True
        self.join(timeout=15)


@contextmanager
def serve(data_dir: Path, imagery_dir: Path) -> Iterator[str]:
    """The real app on ``data_dir``'s SQLite database, at ``http://127.0.0.1:<port>``."""
    from server.config import Settings
    from server.context import build_context
    from server.http.app import create_app

    settings = Settings(
        data_dir=data_dir,
        database_url=None,
        anchor_enabled=False,
        imagery_dir=imagery_dir,
    )
    ctx = build_context(settings, chain=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = _Server(create_app(ctx), sock)
    thread.start()
    deadline = time.monotonic() + 30
    while not thread.server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        thread.stop()
        sock.close()
        ctx.close()


@pytest.fixture(scope="session")
def server_url(demo_dir: Path) -> Iterator[str]:
    """The real app on the demo's database, at ``http://127.0.0.1:<port>``."""
    with serve(demo_dir, demo_dir / "imagery") as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright."""
    _require_tools()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def new_page(browser: Any, server_url: str) -> Iterator[Callable[..., Any]]:
    """Open a fresh page (own context: storage, cookies) at the app; closed after the test.

    ``new_page(viewport=PHONE, lang="en")`` opens it at the pages' root with the
    language preset; console errors are collected in ``page.errors``.
    """
    contexts: list[Any] = []

    def open_page(viewport: dict[str, int] | None = None, lang: str = "en") -> Any:
        context = browser.new_context(
            viewport=viewport or DESKTOP, base_url=server_url, locale="en-GB"
        )
        context.add_init_script(
            f"try {{ if (!localStorage.getItem('agri.lang')) "
            f"localStorage.setItem('agri.lang', '{lang}'); }} catch (e) {{}}"
        )
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: page.errors.append(msg.text) if msg.type == "error" else None,
        )
        page.goto("/")
        return page

    yield open_page
    for context in contexts:
        context.close()


def wait_idle(page: Any, timeout_ms: int = 15_000) -> None:
    """Wait until the page has rendered its route and no API request is pending.

    The shell notes the address it rendered (``data-route``): right after a click
    changes the hash, the previous route's ``ready`` does not count. The query
    part is left out: a page's filters rewrite it in place and reload their data
    (counted in ``__agriPending``)."""
    page.wait_for_function(
        "() => { const m = document.getElementById('main');"
        " const path = (h) => h.split('?')[0];"
        " return m?.dataset.ready === 'true'"
        " && (m.dataset.route === undefined"
        " || path(m.dataset.route) === path(location.hash))"
        " && (window.__agriPending || 0) === 0; }",
        timeout=timeout_ms,
    )


def login(page: Any, username: str, password: str = PASSWORD) -> None:
    """Log in through the form (the shell then routes to the role's page)."""
    page.get_by_label("Username").or_(page.get_by_label("用户名")).fill(username)
    page.get_by_label("Password").or_(page.get_by_label("密码")).fill(password)
    page.locator("form.login button[type=submit]").click()
    page.wait_for_function("() => sessionStorage.getItem('agri.user') !== null")
    wait_idle(page)


@pytest.fixture
def page_as(new_page: Callable[..., Any]) -> Callable[..., Any]:
    """``page_as(role, viewport=DESKTOP, lang="en")``: a page logged in as the demo's user."""

    def open_as(
        role: str, viewport: dict[str, int] | None = None, lang: str = "en"
    ) -> Any:
        page = new_page(viewport=viewport, lang=lang)
        login(page, USERS[role])
        if role in HOME:
            page.wait_for_url(f"**/#/{HOME[role]}")
            wait_idle(page)
        return page

    return open_as


def set_lang(page: Any, lang: str) -> None:
    """Switch the language with the shell's buttons and wait for the re-render."""
    label = {"zh": "中文", "en": "English"}[lang]
    page.locator(f"[data-lang={lang}]").click()
    page.wait_for_function(f"() => document.documentElement.lang.startsWith('{lang}')")
    assert page.locator(f"[data-lang={lang}]").inner_text() == label
    wait_idle(page)


def take_screenshots(page: Any, name: str) -> list[Path]:
    """Write ``var/screenshots/<name>-<lang>-<width>.png`` at 1280 and 360 px, zh and en.

    The page's language and viewport are restored afterwards.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    was_lang = page.evaluate("() => localStorage.getItem('agri.lang') || 'en'")
    was_size = page.viewport_size
    written = []
    for lang in ("zh", "en"):
        set_lang(page, lang)
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            wait_idle(page)
            path = SCREENSHOTS / f"{name}-{lang}-{size['width']}.png"
            page.screenshot(path=str(path), full_page=True, animations="disabled")
            written.append(path)
            if size == PHONE:  # readable at 360 px: nothing wider than the screen
                wide = page.evaluate(
                    "() => document.documentElement.scrollWidth > window.innerWidth"
                    " ? [...document.querySelectorAll('body *')]"
                    ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
                    ".slice(-3).map(e => e.tagName + '.' + e.className + ': '"
                    " + (e.textContent || '').slice(0, 60)) : []"
                )
                assert not wide, f"{name} ({lang}) is wider than 360 px: {wide}"
    set_lang(page, was_lang)
    page.set_viewport_size(was_size)
    return written


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core (served at /vendor/axe-core/) on the page: serious and critical violations.

    Returns:
        One dict per violation: ``id``, ``impact``, ``help`` and the CSS targets
        of its nodes (empty when there is none).
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(url="/vendor/axe-core/axe.min.js")
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


@pytest.fixture
def screenshot() -> Callable[[Any, str], list[Path]]:
    """``screenshot(page, name)``: the page at 1280 and 360 px, in zh and en."""
    return take_screenshots


@pytest.fixture
def axe() -> Callable[[Any], list[dict[str, Any]]]:
    """``axe(page)``: axe-core's serious and critical violations on the page."""
    return axe_violations
