"""Driving the console in Debian's Chromium for the measurement and settings pages: sign in through the pages
(password, enrol, TOTP at the virtual clock's time). The server, request guard, axe check and screenshots are the
console's one harness (``console_browser_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pyotp

from tests.e2e.accounts_support import PASSWORD, make_user
from tests.e2e.console_browser_support import guard_page, live_chromium
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock


@contextmanager
def console_browser(app: Application) -> Iterator[tuple[str, Any, list[str]]]:
    """(base URL, browser, problems): the live server and Chromium; requests off this server are refused and
    recorded as problems, as are console errors and page errors."""
    problems: list[str] = []
    with live_chromium(app) as (url, browser):
        yield url, browser, problems


def new_page(browser: Any, url: str, problems: list[str], width: int = 1280) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.set_default_timeout(15_000)
    guard_page(page, url, problems, problems)
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
