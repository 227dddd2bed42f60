"""The send node's template picker renders the chosen template for a real contact in Chromium, through the content
preview service: the contact's own name in subject and text, the variables they lack listed; an unknown contact
is named in an alert; nothing is sent or tracked. axe-core finds no serious violation."""

from __future__ import annotations

import sqlalchemy as sa

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import axe_violations, builder_canvas, needs_chromium
from tests.e2e.test_builder_browser import RULE_A
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.content import save_template
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.journey_drafts import save_draft


def _sent(app: Application) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT COUNT(*) FROM outbox")).scalar_one())


@needs_chromium
def test_the_template_rendered_for_a_chosen_contact(app: Application, clock: VirtualClock) -> None:
    save_template(app.services, "whitepaper_digest", "email", "{{ contact.name }}，白皮书精选",
                  "{{ contact.name }}，这是白皮书精选。{{ contact.custom.nickname }}", "text", by="editor")
    upsert_contacts(app.services, "crm", [RawItem({"email": "li@example.cn", "name": "李雷"})])
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    save_draft(app.services, "rule_a_whitepaper", RULE_A, if_match=None, actor="test")
    with builder_canvas(app, clock, "zhao@example.cn", "rule_a_whitepaper", wait_for="send_digest") as canvas:
        page = canvas.page
        page.locator('[data-node-id="send_digest"]').click()
        page.locator("[data-template-preview]").wait_for()
        page.locator("#tf-tpl-contact").fill("email:nobody@example.cn")
        page.locator("[data-tpl-render]").click()
        page.locator("[data-tpl-problem]").wait_for()
        assert "nobody@example.cn" in page.locator("[data-tpl-problem]").inner_text()
        page.locator("#tf-tpl-contact").fill("email:li@example.cn")
        page.locator("[data-tpl-render]").click()
        page.locator("[data-tpl-rendered]").wait_for()
        assert page.locator("[data-tpl-subject]").inner_text() == "李雷，白皮书精选"
        assert page.locator("[data-tpl-text]").inner_text().startswith("李雷，这是白皮书精选。")
        assert "contact.custom.nickname" in page.locator("[data-tpl-undefined]").inner_text()
        assert "未发送" in page.locator("[data-tpl-rendered]").inner_text()
        assert axe_violations(page) == []
    assert _sent(app) == 0
