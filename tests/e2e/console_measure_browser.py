"""Driving the console in Debian's Chromium for the measurement and settings pages: sign in through the pages
(password, enrol, TOTP at the virtual clock's time), keep every request on this server, run the vendored axe-core,
and write screenshots for the user manual when ``TOUCHFLOW_WRITE_DOCS=1``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.e2e.accounts_support import PASSWORD, make_user
from tests.e2e.console_browser_support import axe_violations as support_axe_violations
from tests.e2e.live_server import live_api
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock

CHROMIUM = "/usr/bin/chromium"
MANUAL_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "manual" / "zh-CN" / "images"

needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and os.environ.get("TOUCHFLOW_REQUIRE_BROWSER") != "1",
    reason=f"browser test skipped: no Chromium at {CHROMIUM} (apt-get install chromium)")


@contextmanager
def console_browser(app: Application) -> Iterator[tuple[str, Any, list[str]]]:
    """(base URL, browser, problems): the live server and Chromium; requests off this server are refused and
    recorded as problems, as are console errors and page errors."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with live_api(app) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield url, browser, problems
        finally:
            browser.close()


def new_page(browser: Any, url: str, problems: list[str], width: int = 1280) -> Any:
    from playwright.sync_api import Route

    context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.set_default_timeout(15_000)

    def only_this_server(route: Route) -> None:
        if route.request.url.startswith(url):
            route.continue_()
        else:
            problems.append(f"outside request {route.request.url}")
            route.abort()

    page.route("**/*", only_this_server)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page


def sign_in_page(page: Any, url: str, app: Application, clock: VirtualClock, email: str, role: str,
                 name: str) -> None:
    """Create the account and sign in as a person would: password, enrol, the code from the app."""
    make_user(app, email, role, name)
    page.goto(f"{url}/login")
    page.get_by_label("邮箱").fill(email)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="继续").click()
    page.locator('form[action="/login/enrol"] button').click()
    secret = page.locator("#totp-secret").inner_text()
    page.locator("#code").fill(pyotp.TOTP(secret).at(int(clock.now().timestamp())))
    page.locator('form[action="/login/verify"] button').click()
    page.wait_for_load_state()
    assert "/login" not in page.url, page.url
    clock.advance(timedelta(seconds=1))


def axe_violations(page: Any, url: str) -> list[str]:
    """Serious and critical axe-core findings of the page as it is now (the console's one check)."""
    return support_axe_violations(page)


def manual_shot(page: Any, name: str) -> None:
    """A screenshot for docs/manual/zh-CN/images/ — only when asked (the manual never drifts from the product)."""
    if os.environ.get("TOUCHFLOW_WRITE_DOCS") == "1":
        MANUAL_IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(MANUAL_IMAGES / name), full_page=True)
