"""The journey's versions on the console's server-rendered page in Chromium: who published each version, when (in the
reader's zone, labelled with it), what it changed against the one before; a strategy designer restores one as the
draft (audited, If-Match on the draft the page showed: a draft saved meanwhile is not overwritten); a viewer sees
no restore. axe-core finds no serious violation."""

from __future__ import annotations

from datetime import timedelta

from tests.e2e.console_browser_support import browser, needs_chromium
from tests.e2e.test_builder_browser import RULE_A
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.content import save_template
from touchflow.services.journey_drafts import read_draft, save_draft
from touchflow.services.journeys import publish_journey

V2 = RULE_A.replace("    timeout: 3d\n", "    timeout: 2d\n").replace(
    "  done:\n    kind: exit\n", "  done:\n    kind: exit\n  spare:\n    kind: exit\n")


@needs_chromium
def test_versions_listed_and_restored_on_the_journey_page(app: Application, clock: VirtualClock) -> None:
    for name, channel in (("whitepaper_digest", "email"), ("whitepaper_followup_cs", "wecom")):
        save_template(app.services, name, channel, "白皮书精选", "{{ contact.name }}，白皮书。", "text", by="editor")
    publish_journey(app.services, RULE_A, actor="user:u1 (钱发布)")
    clock.advance(timedelta(days=1))
    assert "spare:" in V2
    publish_journey(app.services, V2, actor="user:u2 (赵主管)")
    with browser(app, clock) as session:
        viewer = session.page_as("sun@example.cn", "viewer", "孙查看")
        viewer.goto(f"{session.base}/journeys/rule_a_whitepaper/versions")
        assert viewer.locator("tr[data-version]").count() == 2
        assert viewer.get_by_role("button", name="恢复为草稿").count() == 0
        page = session.page_as("zhao@example.cn", "strategist", "赵主管")
        page.goto(f"{session.base}/journeys")
        page.locator('[data-journey="rule_a_whitepaper"] a', has_text="版本").click()
        rows = page.locator("tr[data-version]")
        assert rows.count() == 2
        newest = page.locator('tr[data-version="2"]')
        assert "线上" in newest.inner_text() and "赵主管" in newest.inner_text()
        assert "(Asia/Shanghai)" in newest.locator("[data-published-at]").inner_text()
        changes = newest.locator("[data-changes]").inner_text()
        assert "新增节点： spare" in changes and "wait_engagement (timeout)" in changes
        assert page.locator('tr[data-version="1"] [data-changes]').inner_text() == "首个版本"
        session.check(page)
        # a draft saved after this page was drawn: restoring is refused (409) instead of overwriting it
        draft = read_draft(app.services, "rule_a_whitepaper")
        save_draft(app.services, "rule_a_whitepaper", V2 + "# an edit in the builder\n", if_match=draft.token,
                   actor="test")
        page.get_by_role("button", name="将版本 1 恢复为草稿").click()
        page.locator("[role=alert]").wait_for()
        assert "# an edit in the builder" in read_draft(app.services, "rule_a_whitepaper").text
        assert [p for p in session.problems if "409" in p] == session.problems != []  # the page's own status
        session.problems.clear()
        page.get_by_role("button", name="将版本 1 恢复为草稿").click()  # the page drawn again has the new token
        page.locator("[data-restored='1']").wait_for()
        assert "版本 1 已成为草稿" in page.locator("[data-restored]").inner_text()
        session.check(page)
    assert read_draft(app.services, "rule_a_whitepaper").text == RULE_A
    with app.services.reader() as uow:
        audit = [(r.actor, r.action, r.details.get("version")) for r in uow.audit.rows_after(0, 1000)
                 if r.action == "journey.restore"]
    assert len(audit) == 1 and audit[0][2] == 1 and "(赵主管)" in audit[0][0]
