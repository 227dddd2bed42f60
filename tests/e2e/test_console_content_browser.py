"""The content editor's main task in Debian's Chromium, as the roles that do it: an editor writes copy that trips
the Advertising-Law check, sees the word highlighted with the article it cites, fixes it and saves it for review;
a compliance reviewer (a second person) approves it. Only this server is reached, no script error or CSP refusal
happens, and axe-core (vendored) finds no serious or critical violation on any page visited."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.console_browser_support import browser, needs_chromium
from tests.e2e.test_console_content import PNG
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.content import get_template


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
