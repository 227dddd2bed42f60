"""The content editor's main task in Debian's Chromium, as the roles that do it: an editor writes copy that trips
the Advertising-Law check, sees the word highlighted with the article it cites, fixes it and saves it for review;
a compliance reviewer (a second person) approves it. Only this server is reached, no script error or CSP refusal
happens, and axe-core (vendored) finds no serious or critical violation on any page visited.

The helpers here are shared by the segment and import browser tests (``test_console_*_browser.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.console_support import console_client, sign_in
from tests.e2e.live_server import live_api
from tests.e2e.test_console_content import PNG
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.content import get_template

CHROMIUM = "/usr/bin/chromium"
MANUAL_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "manual" / "zh-CN" / "images"
AXE = "/static/vendor/axe-core/axe.min.js"

needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and os.environ.get("TOUCHFLOW_REQUIRE_BROWSER") != "1",
    reason=f"browser test skipped: no Chromium at {CHROMIUM} (apt-get install chromium)")


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

        def only_this_server(route: Any) -> None:
            if route.request.url.startswith(self.base) or route.request.url.startswith("about:"):
                route.continue_()
            else:
                self.outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_this_server)
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(str(e)))
        return page

    def check(self, page: Any, screenshot: str | None = None) -> None:
        """axe-core on the page as it is now (WCAG 2.1 A/AA): no serious or critical violation. The pointer leaves
        the page first and Bootstrap's colour transitions (0.15 s) end, so no control is measured mid-hover."""
        page.mouse.move(0, 0)
        page.wait_for_timeout(300)
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(url=AXE)
        found = page.evaluate("""async () => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa',
                                                                                     'wcag21a', 'wcag21aa']}});
            return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => v.id + ': ' + v.help + ' — ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
        }""")
        assert found == [], f"{page.url}: {found}"
        if screenshot and os.environ.get("TOUCHFLOW_WRITE_DOCS") == "1":
            MANUAL_IMAGES.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(MANUAL_IMAGES / screenshot), full_page=True)


@contextmanager
def browser(app: Application, clock: VirtualClock) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with live_api(app) as url, sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            session = Browser(app, clock, url, chromium)
            yield session
        finally:
            chromium.close()
    assert session.outside == []
    assert session.problems == [], session.problems


@needs_chromium
def test_write_trip_the_ad_law_check_fix_it_and_approve_as_a_second_person(app: Application, clock: VirtualClock,
                                                                           tmp_path: Path) -> None:
    with browser(app, clock) as b:
        editor = b.page_as("editor@example.cn", "editor", "王编辑")
        editor.goto(f"{b.base}/content")
        b.check(editor, "content-list-empty.png")
        editor.get_by_role("link", name="新建模板").first.click()
        editor.get_by_label("名称（旅程引用它）").fill("fund_launch")
        editor.get_by_label("主题（邮件；可用 Liquid）").fill("{{ contact.name }}，新品上市")
        body = editor.get_by_label("正文（Liquid；邮件可用 MJML 或 HTML）")
        body.click()
        editor.keyboard.type("<p>全网最佳的理财体验</p>")
        highlighted = editor.locator("#live-check mark.tf-finding")
        highlighted.first.wait_for()
        assert highlighted.first.inner_text().startswith("最佳")
        assert "第九条" in editor.locator("#finding-1").inner_text()
        b.check(editor, "content-editor-finding.png")
        body.fill("<p>稳健的理财体验</p>")
        editor.locator("#live-check [data-findings='0']").wait_for()
        assert editor.locator("#live-check mark.tf-finding").count() == 0
        editor.get_by_label("金融产品").check()
        editor.get_by_role("button", name="保存为新版本").click()
        editor.wait_for_url("**/content/templates/fund_launch?saved=1")
        assert "须经合规审核员批准" in editor.locator("main").inner_text()
        b.check(editor, "content-saved-pending.png")
        assert get_template(app.services, "fund_launch").status == "pending_review"
        banner = tmp_path / "banner.png"
        banner.write_bytes(PNG)
        editor.goto(f"{b.base}/content/assets")
        editor.get_by_label("文件", exact=True).set_input_files(str(banner))
        editor.get_by_role("button", name="上传").click()
        editor.wait_for_url("**/content/assets?saved=banner.png")
        assert editor.locator("tr[data-asset='banner.png']").count() == 1
        b.check(editor, "content-assets.png")

        reviewer = b.page_as("review@example.cn", "reviewer", "钱审核")
        reviewer.goto(f"{b.base}/content/reviews")
        card = reviewer.locator(".card", has_text="fund_launch").first
        assert "王编辑" in card.inner_text()
        b.check(reviewer, "content-review-queue.png")
        card.get_by_role("button", name="批准").click()
        reviewer.wait_for_url("**/content/reviews")
        assert "没有待审核的内容" in reviewer.locator("main").inner_text()
        b.check(reviewer)
    assert get_template(app.services, "fund_launch").status == "approved"
