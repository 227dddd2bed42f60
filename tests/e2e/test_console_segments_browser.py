"""Building a segment in Chromium, as a strategy designer: the live count follows each condition as it is typed,
the sample is masked, the saved segment shows its members, and an export of it waits for approval; axe-clean."""

from __future__ import annotations

from tests.e2e.console_browser_support import browser, needs_chromium
from tests.e2e.test_console_segments import seed
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.approvals import list_requests


@needs_chromium
def test_build_a_segment_and_see_the_count_change(app: Application, clock: VirtualClock) -> None:
    seed(app)
    with browser(app, clock) as b:
        page = b.page_as("li.na@example.cn", "strategist", "李娜")
        page.goto(f"{b.base}/segments")
        b.check(page, "segments-empty.png")
        page.get_by_role("link", name="新建分群").first.click()
        page.get_by_label("分群名称").fill("上海客户")
        page.get_by_label("标识（旅程引用它）").fill("shanghai_buyers")
        page.get_by_label("字段（如 city、custom.会员等级）").fill("city")
        page.get_by_label("值").fill("上海")
        page.locator("#seg-count[data-count='3']").wait_for()
        assert "b***@shop.cn" in page.locator("#seg-preview").inner_text()
        assert "buyer0@" not in page.locator("#seg-preview").inner_text()
        page.get_by_role("button", name="添加条件").click()
        page.locator("#r1_field").wait_for()
        page.locator("#r1_field").fill("age")
        page.locator("#r1_op").select_option("gte")
        page.locator("#r1_value").fill("25")
        page.locator("#seg-count[data-count='2']").wait_for()
        b.check(page, "segments-builder.png")
        page.get_by_role("button", name="保存分群").click()
        page.wait_for_url("**/segments/shanghai_buyers?saved=1")
        assert page.locator("[data-members='2']").count() >= 1
        page.get_by_label("导出用途（审批人会阅读）").fill("线下活动邀请")
        page.get_by_role("button", name="申请导出").click()
        page.wait_for_url("**/segments/shanghai_buyers?note=export")
        page.locator("[data-export-state='pending']").wait_for()
        b.check(page, "segments-detail.png")
        tablet = b.page_as("wang.fang@example.cn", "strategist", "王芳", width=820)
        tablet.goto(f"{b.base}/segments")
        assert tablet.locator("a", has_text="上海客户").is_visible()
        b.check(tablet)
    assert [r.subject for r in list_requests(app.services, state="pending")] == ["segment:shanghai_buyers"]
