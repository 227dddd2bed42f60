"""Tasks and journeys in Chromium, each as the role that does it: an agent completes a task with an outcome; a
strategist pauses a journey. axe-core on each page; no request off the server, no CSP refusal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import (
    Watch,
    axe_violations,
    live_chromium,
    needs_chromium,
    screenshot,
    sign_in_page,
)
from tests.integration.reports_support import WELCOME
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import tasks, users


def _sign_in(page: Any, url: str, email: str, clock: VirtualClock) -> None:
    sign_in_page(page, url, email, clock)


@needs_chromium
def test_an_agent_works_a_task_and_a_strategist_pauses_a_journey(app: Application, clock: VirtualClock) -> None:
    publish_journey(app.services, WELCOME, actor="test")
    make_user(app, "chen@example.cn", "agent", "小陈")
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    with app.engine.begin() as c:
        agent = c.execute(select(users.c.id).where(users.c.email == "chen@example.cn")).scalar_one()
        for n, minutes in enumerate((45, -20)):
            c.execute(tasks.insert().values(id=f"t{n}", idempotency_key=f"t{n}", contact_id=None, queue="sales",
                                            title=["回电：咨询试用", "跟进：报价"][n], assignee=agent, status="open",
                                            created_at=clock.now(), due_at=clock.now() + timedelta(minutes=minutes)))
    with live_chromium(app) as (url, browser):
        watch = Watch(url)
        page = watch.open(browser, 1280, 900)
        _sign_in(page, url, "chen@example.cn", clock)
        assert page.url == f"{url}/contacts"  # an agent's first page (no reports.read: no dashboard)
        page.get_by_role("link", name="任务").click()
        assert "已逾期 20 分钟" in page.locator('[data-task="t1"]').inner_text()
        assert axe_violations(page) == []
        screenshot(page, "06-任务.png")
        row = page.locator('[data-task="t0"]')
        row.get_by_label("结果").select_option("reached")
        row.get_by_label("备注").fill("约了周三演示")
        row.get_by_role("button", name="完成").click()
        assert page.get_by_role("status").inner_text() == "任务已完成。"
        assert page.locator('[data-task="t0"]').count() == 0
        assert axe_violations(page) == []

        page.context.clear_cookies()
        clock.advance(timedelta(seconds=31))
        _sign_in(page, url, "zhao@example.cn", clock)
        page.get_by_role("link", name="旅程").click()
        row = page.locator('[data-journey="welcome"]')
        assert "运行中" in row.inner_text()
        assert axe_violations(page) == []
        row.get_by_label("原因", exact=True).fill("文案待改")
        row.get_by_role("button", name="暂停").click()
        assert "已暂停" in page.locator('[data-journey="welcome"]').inner_text()
        assert axe_violations(page) == []
        screenshot(page, "07-旅程.png")
    assert watch.outside == []
    assert watch.problems == [], watch.problems


@needs_chromium
def test_pages_fit_a_tablet_and_work_from_the_keyboard(app: Application, clock: VirtualClock) -> None:
    """At 820×1180 (a tablet, portrait) no page scrolls sideways; the menu opens from the keyboard; axe is clean."""

    publish_journey(app.services, WELCOME, actor="test")
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    with live_chromium(app) as (url, browser):
        watch = Watch(url)
        page = watch.open(browser, 820, 1180)
        _sign_in(page, url, "zhao@example.cn", clock)
        for path in ("/dashboard", "/contacts", "/tasks", "/journeys", "/preferences"):
            page.goto(f"{url}{path}")
            wide = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert wide <= 0, f"{path} scrolls sideways by {wide}px"
            assert axe_violations(page) == [], path
        page.goto(f"{url}/dashboard")
        page.keyboard.press("Tab")  # the first stop is the skip link
        assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"
        toggler = page.get_by_role("button", name="显示或隐藏菜单")
        toggler.focus()
        page.keyboard.press("Enter")
        page.get_by_role("link", name="联系人").wait_for(state="visible")
        page.get_by_role("link", name="联系人").focus()
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/contacts")
    assert watch.outside == []
    assert watch.problems == [], watch.problems
