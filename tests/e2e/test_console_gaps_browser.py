"""The console's last gaps in Debian's Chromium, each done by the role that does it: an administrator declares an
incident (a drill), follows it on its page — clocks and timeline —, marks a step done, lifts the kill switch and
closes it, then runs the monthly drill; a strategist finds an archived journey with who archived it, when and why,
restores it, and is told in Chinese that a segment key is taken; an editor uploads an asset over the limit and is
told in Chinese. Only this server is reached, no script error happens, and axe-core finds no serious or critical
violation on any page visited (screenshots for the manual with TOTP sign-in through the login pages)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.console_browser_support import browser, needs_chromium
from tests.e2e.test_console_journey_runs import seed as seed_journey
from tests.e2e.test_console_segments import seed as seed_contacts
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.content import MAX_ASSET_BYTES, list_assets
from touchflow.services.journeys import list_journeys, set_journey_status
from touchflow.services.segments import create_segment


@needs_chromium
def test_an_administrator_declares_follows_and_closes_an_incident(app: Application, clock: VirtualClock,
                                                                   database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        return  # the flow is checked on both databases over HTTP (test_console_incidents)
    with browser(app, clock) as b:
        admin = b.page_as("admin@example.cn", "admin", "王管理")
        admin.goto(f"{b.base}/settings/incidents")
        b.check(admin)
        admin.get_by_label("发生了什么（一句话）").fill("演练：客户名单导出外泄")
        admin.get_by_label("这是一次演练").check()
        admin.get_by_role("button", name="创建事件并停止发送").click()
        admin.wait_for_url("**/settings/incidents/*?done=opened")
        assert admin.locator("[data-kill-switch='on']").count() == 1
        assert admin.locator("tr[data-action='incident.open']").count() == 1
        isolate = admin.locator("[data-clock='isolate']")
        isolate.get_by_label("做了什么（可选）").fill("已停用泄露的 API 密钥")
        isolate.get_by_role("button", name="标记完成").click()
        admin.wait_for_url("**?done=step")
        assert "已停用泄露的 API 密钥" in admin.locator("[data-timeline]").inner_text()
        b.check(admin, "settings-incident.png")
        admin.get_by_role("button", name="恢复发送与导出").click()
        admin.wait_for_url("**?done=resumed")
        admin.get_by_role("button", name="关闭事件").click()
        admin.wait_for_url("**?done=closed")
        assert admin.locator("[data-status='closed'][data-incident]").count() == 1
        assert "事件已关闭" in admin.locator("[data-timeline]").inner_text()
        b.check(admin)
        admin.get_by_role("link", name="全部安全事件").click()
        admin.get_by_role("button", name="立即演练").click()
        admin.wait_for_url("**/settings/incidents?done=drilled")
        assert admin.locator("tr[data-drill='ok']").count() == 1
        b.check(admin, "settings-incidents-drill.png")


@needs_chromium
def test_a_strategist_restores_an_archived_journey_and_reads_errors_in_chinese(app: Application, clock: VirtualClock,
                                                                              database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        return
    seed_journey(app, clock)
    seed_contacts(app)
    create_segment(app.services, {"key": "shanghai", "name": "上海客户", "condition": {"attr": "city", "eq": "上海"}},
                   actor="test")
    set_journey_status(app.services, "nurture", "archived", actor="user:u9 (赵运营)", reason="双十一活动结束")
    with browser(app, clock) as b:
        page = b.page_as("li.na@example.cn", "strategist", "李娜")
        page.goto(f"{b.base}/journeys")
        page.get_by_role("link", name="已归档（1）").click()
        row = page.locator("tr[data-archived='nurture']")
        assert "双十一活动结束" in row.inner_text() and "赵运营" in row.inner_text()
        assert "(Asia/Shanghai)" in row.inner_text()
        b.check(page, "journeys-archived.png")
        row.get_by_label("为什么恢复 注册后培育").fill("活动延长一周")
        row.get_by_role("button", name="恢复 注册后培育").click()
        page.wait_for_url("**/journeys?done=restored")
        assert page.locator("tr[data-journey='nurture']").count() == 1
        b.check(page)
        page.goto(f"{b.base}/segments/new")
        page.get_by_label("分群名称").fill("上海客户")
        page.get_by_label("标识（旅程引用它）").fill("shanghai")
        page.get_by_label("字段（如 city、custom.会员等级）").fill("city")
        page.get_by_label("值").fill("上海")
        page.locator("#seg-count[data-count='3']").wait_for()
        page.get_by_role("button", name="保存分群").click()
        problem = page.locator("[data-problem][data-field='key']")
        problem.wait_for()
        assert "已存在：请换一个" in problem.inner_text()
        b.check(page)
        b.problems[:] = [p for p in b.problems if "409" not in p]  # the refused save itself, as Chromium logs it
    assert [j.status for j in list_journeys(app.services)] == ["paused"]


@needs_chromium
def test_an_editor_uploads_an_asset_over_the_limit(app: Application, clock: VirtualClock, database_url: str,
                                                   tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        return
    big = tmp_path / "海报.png"
    big.write_bytes(b"\x89PNG" + b"\x00" * (MAX_ASSET_BYTES + 1024))
    with browser(app, clock) as b:
        editor = b.page_as("editor@example.cn", "editor", "王编辑")
        editor.goto(f"{b.base}/content/assets")
        editor.get_by_label("文件", exact=True).set_input_files(str(big))
        editor.get_by_role("button", name="上传").click()
        refused = editor.locator("#asset-result [data-problem='too_large']")
        refused.wait_for()
        assert "文件超过 5 MB（单个素材的上限）" in refused.inner_text()
        b.check(editor, "content-assets-too-large.png")
        b.problems[:] = [p for p in b.problems if "413" not in p]  # the refusal itself, as htmx and Chromium log it
    assert list_assets(app.services) == []
