"""The dry run's reacting contact, the copied consent and segments, each branch case met or not, the impact preview
before publishing and the scenario's counts on edges — on the canvas in Chromium, with axe-core; nothing written
(row counts of every table)."""

from __future__ import annotations

import re

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import axe_violations, live_chromium, needs_chromium, screenshot
from tests.e2e.journey_support import RULE_A, SCENARIO, V2, VIP, download, row_counts, run_engine, save_templates
from tests.e2e.test_console_browser_work import _sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.journey_drafts import read_draft, save_draft
from touchflow.services.journeys import publish_journey
from touchflow.services.segments import add_members, create_segment


def _world(app: Application) -> None:
    save_templates(app, ("webinar_sms", "sms"))
    upsert_contacts(app.services, "crm", [RawItem({"email": "li@example.cn", "name": "李雷", "wecom": "wm-li",
                                                   "phone": "+8613900000001", "lifecycle_stage": "prospect",
                                                   "consent.sms": "denied"})])
    create_segment(app.services, {"key": "vip", "name": "VIP", "kind": "static"}, actor="test")
    add_members(app.services, "vip", ["email:li@example.cn"], actor="test")
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    save_draft(app.services, "rule_a_whitepaper", RULE_A, if_match=None, actor="test")
    save_draft(app.services, "vip_webinar", VIP, if_match=None, actor="test")


@needs_chromium
def test_the_dry_run_contact_reacts_and_branches_show_what_they_read(app: Application, clock: VirtualClock) -> None:
    _world(app)
    with live_chromium(app) as (url, chromium):
        page = chromium.new_page(viewport={"width": 1400, "height": 1100}, locale="zh-CN")
        _sign_in(page, url, "zhao@example.cn", clock)
        before = row_counts(app)  # signed in (a session, an audit row); from here on nothing is written
        page.goto(f"{url}/journeys/rule_a_whitepaper/builder")
        page.locator('[data-node-id="wait_engagement"]').wait_for()
        assert page.locator("[data-reactions] legend").inner_text() == "联系人的行为"
        page.locator("#tf-dry-contact").fill("email:li@example.cn")
        page.locator("#tf-react-node").select_option("send_digest")
        page.locator("#tf-react-does").select_option("open")
        page.locator("#tf-react-at").fill("5h")
        page.locator("[data-reaction-add]").click()
        assert "send_digest" in page.locator('[data-reaction="send_digest"]').inner_text()
        page.locator("[data-dry-run-go]").click()
        wait = page.locator('[data-node-id="wait_engagement"] [data-outcome]')
        wait.wait_for(timeout=60_000)
        assert wait.inner_text() == "on_event @ +5h"  # the open walked the other edge
        assert page.locator('[data-node-id="engaged"] [data-outcome]').count() == 1
        assert page.locator('[data-node-id="wecom_followup"] [data-outcome]').count() == 0
        assert page.locator('[data-copied="consent"]').inner_text() == "sms: 拒绝"
        assert page.locator('[data-copied="segments"]').inner_text() == "vip"
        page.locator('[data-node-id="send_digest"]').click()
        assert page.locator("[data-dry-detail] [data-preview-text]").inner_text().startswith("李雷，白皮书。")
        assert axe_violations(page) == []

        page.goto(f"{url}/journeys/vip_webinar/builder")
        page.locator('[data-node-id="pick"]').wait_for()
        page.locator("#tf-dry-contact").fill("email:li@example.cn")
        page.locator("#tf-react-node").select_option("wait_join")
        page.locator("#tf-react-does").select_option("event")
        page.locator("#tf-react-event").fill("webinar_joined")
        page.locator("#tf-react-at").fill("1d")
        page.locator("[data-reaction-add]").click()
        page.locator("[data-dry-run-go]").click()
        page.locator('[data-node-id="joined"] [data-outcome]').wait_for(timeout=60_000)
        page.locator('[data-node-id="pick"]').click()
        met = page.locator('[data-dry-cases] [data-case="0"]')
        assert met.get_attribute("data-met") == "true" and "满足" in met.inner_text() and "vip" in met.inner_text()
        page.locator('[data-node-id="invite"]').click()
        assert "skipped · consent" in page.locator("[data-dry-detail]").inner_text()  # the SMS consent withdrawn
        assert axe_violations(page) == []
        screenshot(page, "16-流程画布-试运行反应.png")
    assert row_counts(app) == before


@needs_chromium
def test_impact_preview_and_scenario_counts_on_edges(app: Application, clock: VirtualClock) -> None:
    _world(app)
    publish_journey(app.services, RULE_A, actor="test")
    download(app, clock, ["a@impact.test", "b@impact.test"])
    run_engine(app)
    save_draft(app.services, "rule_a_whitepaper", V2, if_match=read_draft(app.services, "rule_a_whitepaper").token,
               actor="test")
    with live_chromium(app) as (url, chromium):
        page = chromium.new_page(viewport={"width": 1400, "height": 1100}, locale="zh-CN")
        _sign_in(page, url, "zhao@example.cn", clock)
        before = row_counts(app)  # signed in (a session, an audit row); from here on nothing is written
        page.goto(f"{url}/journeys/rule_a_whitepaper/builder")
        page.locator('[data-node-id="wait_engagement"]').wait_for()
        assert page.locator("#tf-impact-h").inner_text() == "发布影响"
        page.locator("[data-impact-go]").click()
        row = page.locator('[data-impact-node="1:wait_engagement"]')
        row.wait_for()
        assert row.get_attribute("data-in-draft") == "changed"
        assert "留在原版本： 2" in row.inner_text() and "on_timeout → wecom_followup" in row.inner_text()
        assert row.locator("[data-not-heard]").count() == 0  # each run hears its own version's events
        summary = page.locator("[data-impact-summary]").inner_text()
        assert summary.startswith("2 位联系人在流程中") and "移动： 0" in summary
        assert "cs_task" in page.locator("[data-impact-diff]").inner_text()
        assert axe_violations(page) == []
        screenshot(page, "17-流程画布-发布影响.png")

        page.locator("#tf-scenario").fill(SCENARIO)
        page.locator("[data-scenario-go]").click()
        page.locator('[data-node-id="send_digest"] [data-outcome]').wait_for(timeout=120_000)
        labels = [str(x) for x in page.locator(".react-flow__edge-text").all_text_contents()]
        counts = {m.group(1): int(m.group(2)) for text in labels if (m := re.fullmatch(r"(\w+) · (\d+)", text))}
        assert "next · 106" in labels and counts["on_event"] > 0 and counts["on_timeout"] > 0, labels
        badge = page.locator('[data-node-id="wait_engagement"] [data-outcome]').inner_text()  # the node's own counts
        assert f"on_event {counts['on_event']}" in badge and f"on_timeout {counts['on_timeout']}" in badge, badge
        assert axe_violations(page) == []
    assert row_counts(app) == before
