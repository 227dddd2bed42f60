"""The lifecycle page and a suggested merge in Chromium, each done by the role that does it (a strategist): read
stage counts (the Vega-Lite chart drawn), the scoring model and a persona's journey map; open a duplicate
suggestion, compare side by side and confirm the merge. axe-core reports no serious or critical finding on any
page visited; no request leaves the server."""

from __future__ import annotations

from tests.e2e.console_browser_support import axe_violations, needs_chromium, screenshot
from tests.e2e.console_measure_browser import console_browser, new_page, sign_in_page
from tests.e2e.test_console_lifecycle import _duplicates, _persona
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.contacts import find_contact_id
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.lifecycle_pass import refresh_all
from touchflow.services.personas import save_persona


@needs_chromium
def test_read_the_lifecycle_page(app: Application, clock: VirtualClock, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        return  # the page is checked on both databases over HTTP (test_console_lifecycle)
    upsert_contacts(app.services, "crm", [RawItem({"email": f"m{i}@x.cn", "industry": "制造业"}) for i in range(3)])
    refresh_all(app.services)
    save_persona(app.services, _persona(), actor="test")
    with console_browser(app) as (url, browser, problems):
        page = new_page(browser, url, problems)
        sign_in_page(page, url, app, clock, "li.na@example.cn", "strategist", "李娜")
        problems.clear()
        page.get_by_role("link", name="生命周期与评分").click()
        page.wait_for_selector("[data-vega-spec=spec-stages] svg, [data-vega-spec=spec-stages] canvas")
        assert "各阶段联系人数" in page.inner_text("main") and "评分模型" in page.inner_text("main")
        page.get_by_text("制造业决策人").click()  # open the persona's journey map
        assert page.get_by_text("注册试用").is_visible()
        assert axe_violations(page) == []
        screenshot(page, "lifecycle.png")
    assert problems == [], problems


@needs_chromium
def test_confirm_a_suggested_merge(app: Application, clock: VirtualClock, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        return
    _duplicates(app)
    with console_browser(app) as (url, browser, problems):
        page = new_page(browser, url, problems)
        sign_in_page(page, url, app, clock, "li.na@example.cn", "strategist", "李娜")
        problems.clear()
        page.goto(f"{url}/contacts")
        page.get_by_role("link", name="疑似重复联系人").click()
        assert axe_violations(page) == []
        screenshot(page, "duplicates.png")
        page.get_by_role("link", name="对比").first.click()
        assert page.locator("section.col-md-6").count() == 2
        assert axe_violations(page) == []
        page.get_by_label("为什么是同一人？（记入审计日志）").fill("电话核实为同一人")
        screenshot(page, "merge-compare.png")
        page.get_by_role("button", name="确认合并").click()
        assert "已合并" in page.locator("[role=status]").inner_text()
        assert page.get_by_role("button", name="撤销合并").is_visible()
        assert axe_violations(page) == []
    assert find_contact_id(app.services, "phone:13500001234") == find_contact_id(app.services, "email:w1@x.cn")
    assert problems == [], problems
