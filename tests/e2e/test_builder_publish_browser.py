"""Publishing from the canvas in Chromium: the publish button first draws the semantic diff on the canvas
(added nodes green, changed amber, removed nodes and edges as red ghosts) beside the YAML diff; publishing
is confirmed there and makes v2, an immutable version with its audit row."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import axe_violations, live_chromium, needs_chromium, screenshot
from tests.e2e.test_builder_browser import PAGE, RULE_A, _announced
from tests.e2e.test_console_browser_work import _sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.content import save_template
from touchflow.services.journey_drafts import read_draft, save_draft
from touchflow.services.journeys import publish_journey

LAYOUT_V1 = """layout:
  send_digest: {x: 0, y: 0}
  wait_engagement: {x: 0, y: 170}
  engaged: {x: -260, y: 340}
  wecom_followup: {x: 260, y: 340}
  cs_task: {x: 260, y: 510}
  done: {x: 0, y: 680}
"""
V1 = RULE_A + LAYOUT_V1
# v2: a shorter wait (changed), the task dropped (removed), a tag after the WeCom message (added)
V2 = (RULE_A.replace("timeout: 3d", "timeout: 2d").replace("    next: cs_task\n", "    next: tag_followed\n")
      .replace("""  cs_task:
    kind: task
    queue: service
    title: 白皮书下载未打开邮件，企微跟进
    sla: 2h
    next: done
""", """  tag_followed:
    kind: update_contact
    add_tags: [wecom_followed]
    next: done
""") + LAYOUT_V1.replace("  cs_task: {x: 260, y: 510}\n", "  tag_followed: {x: 520, y: 510}\n"))


def seed(app: Application) -> None:
    for name, channel in (("whitepaper_digest", "email"), ("whitepaper_followup_cs", "wecom")):
        save_template(app.services, name, channel, "白皮书精选", "{{ contact.name }}，白皮书。", "text", by="editor")
    publish_journey(app.services, V1, actor="test", templates_required=True)


@needs_chromium
def test_publish_v2_from_the_canvas_after_seeing_the_diff_drawn(app: Application, clock: VirtualClock) -> None:
    seed(app)
    draft = read_draft(app.services, "rule_a_whitepaper")
    save_draft(app.services, "rule_a_whitepaper", V2, if_match=draft.token, actor="test")
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    with live_chromium(app) as (url, browser):
        page = browser.new_page(viewport={"width": 1600, "height": 1100}, locale="zh-CN")
        _sign_in(page, url, "zhao@example.cn", clock)
        page.goto(f"{url}{PAGE}")
        page.locator('[data-node-id="tag_followed"]').wait_for()
        page.locator('[data-errors="0"]').wait_for()
        page.locator("[data-publish]").click()
        _announced(page, "改动已标注在画布上")
        assert page.locator('.react-flow__node.tf-diff-added[data-id="tag_followed"]').count() == 1
        assert page.locator('.react-flow__node.tf-diff-changed[data-id="wait_engagement"]').count() == 1
        ghost = page.locator('.react-flow__node.tf-diff-removed[data-id="ghost:cs_task"]')
        assert ghost.count() == 1 and "cs_task" in str(ghost.text_content())
        assert page.locator(".react-flow__node.tf-diff-added, .react-flow__node.tf-diff-changed").count() == 2
        # edges are drawn a frame after the ghost node they end at is measured: wait for them, not just the nodes
        expect(page.locator(".react-flow__edge.tf-diff-removed")).to_have_count(2)  # wecom → cs_task → done
        expect(page.locator(".react-flow__edge.tf-diff-added")).to_have_count(2)  # wecom → tag → done
        assert page.locator("[data-diff-changed=wait_engagement]").text_content() == "~ wait_engagement: timeout"
        assert "-    timeout: 3d" in str(page.locator("[data-yaml-diff]").text_content())
        assert axe_violations(page) == []
        screenshot(page, "08-发布前差异.png")
        page.locator("[data-publish-confirm]").click()
        _announced(page, "已发布 v2")
        assert page.locator("[data-diff]").count() == 0
    with app.services.reader() as uow:
        record = uow.journeys.get("rule_a_whitepaper")
        assert record is not None and record.current_version == 2
        assert "tag_followed" in (uow.journeys.version(record.id, 2) or {})["nodes"]
        assert "cs_task" in (uow.journeys.version(record.id, 1) or {})["nodes"]  # v1 untouched
        publishes = [(a.actor, a.details) for a in uow.audit.rows_after(0, 500) if a.action == "journey.publish"]
    assert publishes[0][1] == {"version": 1} and publishes[1][1] == {"version": 2} and len(publishes) == 2
    assert publishes[1][0] != "test"  # the signed-in person, not the seed


@needs_chromium
def test_publish_is_off_while_an_error_is_open(app: Application, clock: VirtualClock) -> None:
    seed(app)
    draft = read_draft(app.services, "rule_a_whitepaper")
    save_draft(app.services, "rule_a_whitepaper", V2.replace("channel: wecom", "channel: webhook"),
               if_match=draft.token, actor="test")
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    with live_chromium(app) as (url, browser):
        page = browser.new_page(viewport={"width": 1600, "height": 1100}, locale="zh-CN")
        _sign_in(page, url, "zhao@example.cn", clock)
        page.goto(f"{url}{PAGE}")
        page.locator('[data-node-id="wecom_followup"] [data-code="send-via-webhook"]').wait_for()
        assert page.locator("[data-publish]").is_disabled()
        page.locator("button", has_text="与线上版本的差异").click()
        page.locator("[data-diff]").wait_for()
        assert page.locator("[data-publish-confirm]").is_disabled()
        assert "所有错误修正后才能发布" in str(page.locator("[data-diff]").text_content())


@needs_chromium
def test_restore_v1_from_the_versions_list_and_publish_it_as_v3(app: Application, clock: VirtualClock) -> None:
    seed(app)
    publish_journey(app.services, V2, actor="test", templates_required=True)
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    with live_chromium(app) as (url, browser):
        page = browser.new_page(viewport={"width": 1600, "height": 1100}, locale="zh-CN")
        _sign_in(page, url, "zhao@example.cn", clock)
        page.goto(f"{url}{PAGE}")
        page.locator('[data-node-id="tag_followed"]').wait_for()
        versions = page.locator("[data-versions] li")
        versions.first.wait_for()
        assert [v.get_attribute("data-version") for v in versions.all()] == ["2", "1"]
        assert "线上" in str(versions.first.text_content()) and "线上" not in str(versions.nth(1).text_content())
        page.locator('[data-restore="1"]').click()
        _announced(page, "已恢复 v1")
        page.locator('[data-node-id="cs_task"]').wait_for()
        assert page.locator('[data-node-id="tag_followed"]').count() == 0
        assert axe_violations(page) == []
        page.locator("[data-publish]").click()
        page.locator('.react-flow__node.tf-diff-added[data-id="cs_task"]').wait_for()
        assert page.locator('.react-flow__node.tf-diff-removed[data-id="ghost:tag_followed"]').count() == 1
        screenshot(page, "08-版本恢复.png")
        page.locator("[data-publish-confirm]").click()
        _announced(page, "已发布 v3")
        page.locator('[data-versions] li[data-version="3"]').wait_for()
    with app.services.reader() as uow:
        record = uow.journeys.get("rule_a_whitepaper")
        assert record is not None and record.current_version == 3
        assert uow.journeys.version(record.id, 3) == uow.journeys.version(record.id, 1)
        assert "tag_followed" in (uow.journeys.version(record.id, 2) or {})["nodes"]
        restores = [a.details for a in uow.audit.rows_after(0, 500) if a.action == "journey.restore"]
    assert [r["version"] for r in restores] == [1]
