"""Settings in Chromium, each task done by the role that does it: a strategist asks for a segment export, a second
person (an administrator) approves it and the strategist downloads the file; an administrator sets a role to
administrator and sees the approval request it became; the audit search finds both. axe-core reports no serious
or critical finding on any page visited; no request leaves the server."""

from __future__ import annotations

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import axe_violations, needs_chromium, screenshot
from tests.e2e.console_measure_browser import console_browser, new_page, sign_in_page
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.segments import add_members, create_segment


def _segment(app: Application) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "a@example.com", "name": "张伟"}),
                                          RawItem({"email": "b@example.com", "name": "刘洋"})])
    create_segment(app.services, {"key": "vip", "name": "高价值客户", "kind": "static"}, actor="test")
    add_members(app.services, "vip", ["email:a@example.com", "email:b@example.com"], actor="test")


@needs_chromium
def test_export_a_segment_through_an_approval(app: Application, clock: VirtualClock, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        return  # the flow is checked on both databases over HTTP (test_console_settings)
    _segment(app)
    with console_browser(app) as (url, browser, problems):
        strategist = new_page(browser, url, problems)
        sign_in_page(strategist, url, app, clock, "li.na@example.cn", "strategist", "李娜")
        problems.clear()  # the landing page (the dashboard) belongs to another area's branch
        strategist.goto(f"{url}/preferences")
        strategist.get_by_role("link", name="数据导出").click()
        strategist.get_by_label("分群").select_option("vip")
        strategist.get_by_label("为什么需要导出？").fill("季度高价值客户回访")
        strategist.get_by_role("button", name="提交审批").click()
        assert "正在等待第二人审批" in strategist.locator("[role=status]").inner_text()
        assert strategist.locator("[data-state=pending]").count() == 1
        assert axe_violations(strategist) == []
        screenshot(strategist, "export-request.png")

        admin = new_page(browser, url, problems)
        sign_in_page(admin, url, app, clock, "admin@example.cn", "admin", "王管理")
        problems.clear()
        admin.goto(f"{url}/settings/approvals")
        item = admin.locator("[data-request]").first
        assert "季度高价值客户回访" in item.inner_text() and "segment:vip" in item.inner_text()
        assert axe_violations(admin) == []
        screenshot(admin, "approvals-waiting.png")
        item.get_by_label("备注（可选）").fill("同意，仅限本季度")
        item.get_by_role("button", name="批准").click()
        assert "已批准" in admin.locator("[role=status]").inner_text()

        strategist.reload()
        assert strategist.locator("[data-state=executed]").count() == 1
        with strategist.expect_download() as download:
            strategist.get_by_role("link", name="下载文件").click()
        assert download.value.suggested_filename.endswith(".csv")
    assert problems == [], problems


@needs_chromium
def test_set_a_role_see_the_request_and_find_it_in_the_audit_log(app: Application, clock: VirtualClock,
                                                                   database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        return
    make_user(app, "zhao.lei@example.cn", "strategist", "赵磊")
    with console_browser(app) as (url, browser, problems):
        admin = new_page(browser, url, problems)
        sign_in_page(admin, url, app, clock, "admin@example.cn", "admin", "王管理")
        problems.clear()
        admin.goto(f"{url}/settings/users")
        row = admin.locator("tr", has_text="赵磊")
        assert "z***@example.cn" in row.inner_text()
        row.get_by_label("赵磊 的角色").select_option("admin")
        row.get_by_label("原因（设为管理员时必填）").fill("接手渠道配置")
        row.get_by_role("button", name="设置角色").click()
        assert "须经第二人批准" in admin.locator("[role=status]").inner_text()
        assert axe_violations(admin) == []
        screenshot(admin, "users-role-request.png")
        admin.get_by_role("link", name="打开审批页").click()
        request = admin.locator("[data-request]").first
        assert "设为管理员" in request.inner_text() and "z***@example.cn" in request.inner_text()
        assert "须由另一人审批" in request.inner_text()  # one's own request: no buttons
        assert request.get_by_role("button", name="批准").count() == 0

        admin.get_by_role("link", name="审计日志").click()
        admin.get_by_label("操作", exact=True).fill("approval.request")
        admin.get_by_role("button", name="搜索").click()
        found = admin.locator('tr[data-action="approval.request"]')
        assert found.count() == 1 and "z***@example.cn" in found.inner_text()
        assert axe_violations(admin) == []
        screenshot(admin, "audit-search.png")
        admin.set_viewport_size({"width": 820, "height": 1100})
        assert axe_violations(admin) == []
        for path in ("/settings/keys", "/settings/incidents", "/settings/channels", "/settings/guardrails",
                     "/settings/users"):
            admin.goto(url + path)
            assert axe_violations(admin) == [], path
    assert problems == [], problems
