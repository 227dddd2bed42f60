"""Who may do what on the canvas, in Chromium: a viewer sees the journey drawn but no palette, save, publish
or restore, and the server refuses a save from that session anyway; a template waiting for compliance review
blocks publishing, and the finding on its node says which template waits for whom."""

from __future__ import annotations

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import axe_violations, live_chromium, needs_chromium
from tests.e2e.test_builder_browser import PAGE, RULE_A
from tests.e2e.test_console_browser_work import _sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.content import save_template
from touchflow.services.journey_drafts import read_draft, save_draft

SAVE_FROM_PAGE = """async (text) => {
  const config = JSON.parse(document.getElementById('journey-builder-config').textContent);
  const token = (await (await fetch('/v1/journeys/rule_a_whitepaper/definition')).json()).token;
  const put = await fetch('/v1/journeys/rule_a_whitepaper/definition', {method: 'PUT', body: text,
    headers: {'Content-Type': 'application/yaml', 'X-CSRF-Token': config.csrf, 'If-Match': `"${token}"`}});
  const pub = await fetch('/v1/journeys', {method: 'POST', body: text,
    headers: {'Content-Type': 'application/yaml', 'X-CSRF-Token': config.csrf}});
  return [put.status, pub.status, await pub.text()];
}"""


@needs_chromium
def test_a_reader_gets_a_read_only_canvas_and_the_server_refuses_a_save(app: Application,
                                                                        clock: VirtualClock) -> None:
    """The viewer role reads journeys but may not change them: the canvas is drawn read-only, and a save or
    publish sent from that session anyway is refused (403)."""
    save_draft(app.services, "rule_a_whitepaper", RULE_A, if_match=None, actor="test")
    make_user(app, "sun@example.cn", "viewer", "孙查看")
    with live_chromium(app) as (url, browser):
        page = browser.new_page(viewport={"width": 1600, "height": 1100}, locale="zh-CN")
        _sign_in(page, url, "sun@example.cn", clock)
        assert page.goto(f"{url}{PAGE}").status == 200
        page.locator('[data-node-id="wecom_followup"]').wait_for()
        assert page.locator("[data-read-only]").is_visible()
        assert page.locator(".tf-palette").count() == 0 and page.locator("[data-save]").count() == 0
        assert page.locator("[data-publish]").count() == 0 and page.locator("[data-restore]").count() == 0
        assert page.locator(".react-flow__node.draggable").count() == 0
        assert page.locator(".react-flow__handle.connectable").count() == 0
        assert axe_violations(page) == []
        put, publish, _ = page.evaluate(SAVE_FROM_PAGE, RULE_A.replace("sla: 2h", "sla: 1h"))
        assert (put, publish) == (403, 403)
    assert "sla: 2h" in read_draft(app.services, "rule_a_whitepaper").text


@needs_chromium
def test_a_template_in_review_blocks_publish_and_says_who_it_waits_for(app: Application,
                                                                       clock: VirtualClock) -> None:
    save_template(app.services, "whitepaper_digest", "email", "理财白皮书", "{{ contact.name }}，白皮书。", "text",
                  tags=["finance"], by="李编辑")
    save_template(app.services, "whitepaper_followup_cs", "wecom", "白皮书", "{{ contact.name }}，你好。", "text",
                  by="李编辑")
    save_draft(app.services, "rule_a_whitepaper", RULE_A, if_match=None, actor="test")
    make_user(app, "qian@example.cn", "reviewer", "钱审核")
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    with live_chromium(app) as (url, browser):
        page = browser.new_page(viewport={"width": 1600, "height": 1100}, locale="zh-CN")
        _sign_in(page, url, "zhao@example.cn", clock)
        page.goto(f"{url}{PAGE}")
        pinned = page.locator('[data-node-id="send_digest"] [data-code="template-pending-review"]')
        pinned.wait_for()
        message = str(pinned.text_content())
        assert "whitepaper_digest@1" in message and "合规审核员" in message and "钱审核" in message
        assert "李编辑" in message  # who asked
        assert page.locator("[data-publish]").is_disabled()
        _, publish, body = page.evaluate(SAVE_FROM_PAGE, RULE_A)
        assert publish in (409, 422) and "钱审核" in body  # the server says the same and refuses
