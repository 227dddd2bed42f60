"""Browser tests of the console in Debian's Chromium: only this server may be reached, CSP violations and
script errors fail the test, axe-core (vendored, loaded from the console's own /static) checks each page, and
with TOUCHFLOW_WRITE_DOCS=1 screenshots go into the Chinese manual (docs/manual/zh-CN/images/).

The one harness for every console browser test: one request guard, one axe check, one screenshot writer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.e2e.accounts_support import PASSWORD
from tests.e2e.console_support import console_client, sign_in
from tests.e2e.live_server import live_api
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock

CHROMIUM = "/usr/bin/chromium"
MANUAL_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "manual" / "zh-CN" / "images"
AXE = "/static/vendor/axe-core/axe.min.js"

needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and os.environ.get("TOUCHFLOW_REQUIRE_BROWSER") != "1",
    reason=f"browser test skipped: no Chromium at {CHROMIUM} (apt-get install chromium)")


def guard_page(page: Any, base: str, outside: list[str], problems: list[str]) -> None:
    """Only this server: any other request is refused and recorded in ``outside``; console errors (a CSP refusal
    logs one) and page errors go into ``problems``."""
    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(base) or route.request.url.startswith("about:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))


@dataclass
class Watch:
    """What the page did that it must not: reach another host, log an error (a CSP refusal logs one)."""

    base: str
    outside: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        guard_page(page, self.base, self.outside, self.problems)

    def open(self, browser: Any, width: int = 1280, height: int = 900) -> Any:
        """A new zh-CN page of ``browser`` at width x height, watched."""
        page = browser.new_page(viewport={"width": width, "height": height}, locale="zh-CN")
        self.attach(page)
        return page


@contextmanager
def live_chromium(app: Application) -> Iterator[tuple[str, Any]]:
    """(base URL, browser): the live server and Chromium, closed on the way out."""
    from playwright.sync_api import sync_playwright

    with live_api(app) as url, sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield url, chromium
        finally:
            chromium.close()


def axe_violations(page: Any) -> list[str]:
    """Serious and critical axe-core violations of the page as it is now (WCAG 2.1 A and AA rules)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE)  # from this server: the page's CSP allows 'self' scripts only
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a',
                                                                                 'wcag21aa']}});
        return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ': ' + v.help + ' — ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
    }""")
    return list(found)


def screenshot(page: Any, name: str) -> None:
    """Into the manual, only when asked (a normal run leaves the tree clean)."""
    if os.environ.get("TOUCHFLOW_WRITE_DOCS") == "1":
        MANUAL_IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(MANUAL_IMAGES / name), full_page=True)


@dataclass
class Browser:
    """One live server and Chromium; ``page_as`` opens a page signed in as a new person of ``role``."""

    app: Application
    clock: VirtualClock
    base: str
    chromium: Any
    outside: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def page_as(self, email: str, role: str, name: str, width: int = 1280) -> Any:
        with console_client(self.app) as client:  # the login pages, then the session cookie moves to the browser
            sign_in(client, self.app, self.clock, email, role, name)
            token = client.cookies.get("touchflow_session")
        context = self.chromium.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
        context.add_cookies([{"name": "touchflow_session", "value": token, "url": self.base, "httpOnly": True}])
        page = context.new_page()
        guard_page(page, self.base, self.outside, self.problems)
        return page

    def check(self, page: Any, shot: str | None = None) -> None:
        """axe-core on the page as it is now: no serious or critical violation. The pointer leaves the page first
        and Bootstrap's colour transitions (0.15 s) end, so no control is measured mid-hover."""
        page.mouse.move(0, 0)
        page.wait_for_timeout(300)
        found = axe_violations(page)
        assert found == [], f"{page.url}: {found}"
        if shot:
            screenshot(page, shot)


@contextmanager
def browser(app: Application, clock: VirtualClock) -> Iterator[Browser]:
    """A ``Browser`` whose pages must reach nothing but this server and log no error."""
    with live_chromium(app) as (url, chromium):
        session = Browser(app, clock, url, chromium)
        yield session
    assert session.outside == []
    assert session.problems == [], session.problems


def sign_in_page(page: Any, base: str, email: str, clock: VirtualClock) -> None:
    """The console's sign-in in ``page`` as a person of the test (password, then a TOTP enrolment)."""
    page.goto(f"{base}/")
    page.get_by_label("邮箱").fill(email)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="继续").click()
    page.get_by_role("button", name="显示我的密钥").click()
    secret = page.locator("#totp-secret").inner_text().strip()
    page.get_by_label("应用中的验证码").fill(pyotp.TOTP(secret).at(int(clock.now().timestamp())))
    page.get_by_role("button", name="确认并登录").click()
    page.wait_for_load_state()


@dataclass
class Canvas:
    """A signed-in page on a journey's builder canvas: ``base`` URL, ``browser`` (for a second page), ``page``
    and its ``watch`` (requests off the server are refused there; tests may assert on it)."""

    base: str
    browser: Any
    page: Any
    watch: Watch


@contextmanager
def builder_canvas(app: Application, clock: VirtualClock, email: str, key: str, *, wait_for: str | None = None,
                   width: int = 1400, height: int = 1000) -> Iterator[Canvas]:
    """The live server and Chromium, a zh-CN page signed in as ``email`` (a user of the test) and opened on
    ``/journeys/{key}/builder``; ``wait_for`` is a node id to wait for (the canvas has drawn the journey)."""
    with live_chromium(app) as (url, chromium):
        watch = Watch(url)
        page = watch.open(chromium, width, height)
        sign_in_page(page, url, email, clock)
        page.goto(f"{url}/journeys/{key}/builder")
        if wait_for:
            page.locator(f'[data-node-id="{wait_for}"]').wait_for()
        else:
            page.locator("[data-yaml]").wait_for(state="attached")
        yield Canvas(url, chromium, page, watch)
