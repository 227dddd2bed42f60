"""The send node's side panel in Chromium: the template picker lists the channel's templates with their review
status and previews the chosen one; the fallback chain is edited as an ordered list; undo takes an edit back."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import axe_violations, live_chromium, needs_chromium
from tests.e2e.test_console_browser_work import _sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.content import save_template
from touchflow.services.journey_drafts import save_draft

RULE_A = (Path(__file__).parents[2] / "examples" / "journeys" / "rule_a_whitepaper.yaml").read_text(encoding="utf-8")


@needs_chromium
def test_template_picker_and_fallback_chain(app: Application, clock: VirtualClock) -> None:
    save_template(app.services, "whitepaper_digest", "email", "白皮书精选", "{{ contact.name }}，这是白皮书精选。",
                  "text", by="editor")
    save_template(app.services, "spring_promo", "email", "春季促销", "全场最低价，限时抢购！", "text", by="editor")
    save_template(app.services, "whitepaper_followup_cs", "wecom", "跟进", "您好", "text", by="editor")
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    save_draft(app.services, "rule_a_whitepaper", RULE_A, if_match=None, actor="test")
    with live_chromium(app) as (url, browser):
        page = browser.new_page(viewport={"width": 1400, "height": 1200}, locale="zh-CN")
        _sign_in(page, url, "zhao@example.cn", clock)
        page.goto(f"{url}/journeys/rule_a_whitepaper/builder")
        page.locator('[data-node-id="send_digest"]').click()
        panel = page.locator("[data-send-panel]")
        panel.wait_for()
        assert page.locator("#tf-send-channel").input_value() == "email"
        # the channel's templates are fetched after the panel opens (slow under load): wait for them, then read
        page.locator("#tf-send-template option", has_text="spring_promo · v1 · ").wait_for(state="attached")
        page.locator("#tf-send-template option", has_text="whitepaper_digest · v1 · ").wait_for(state="attached")
        options = page.locator("#tf-send-template option").all_inner_texts()
        assert any(o.startswith("whitepaper_digest · v1 · ") for o in options)
        assert any(o.startswith("spring_promo · v1 · ") for o in options)
        assert not any(o.startswith("whitepaper_followup_cs") for o in options)  # a WeCom template
        preview = page.locator("[data-template-preview]")
        preview.wait_for()
        assert "白皮书精选" in preview.inner_text() and "合规审核" in preview.inner_text()
        page.locator("#tf-send-template").select_option("spring_promo")
        page.locator("[data-yaml]", has_text="template: spring_promo").wait_for(state="attached")
        page.locator("[data-template-preview]", has_text="春季促销").wait_for()
        status = page.locator("[data-template-status]").get_attribute("data-template-status")
        assert status in ("pending_review", "draft", "approved", "rejected")
        assert page.locator("[data-fallback] li").all_inner_texts()[0].startswith("sms")
        page.locator("#tf-send-fallback").select_option("wecom")
        page.locator("[data-fallback-add]").click()
        page.locator("[data-yaml]", has_text="fallback: [sms, wecom]").wait_for(state="attached")
        page.get_by_role("button", name="上移: wecom").click()
        page.locator("[data-yaml]", has_text="fallback: [wecom, sms]").wait_for(state="attached")
        assert axe_violations(page) == []
        page.get_by_role("button", name="撤销").click()
        page.locator("[data-yaml]", has_text="fallback: [sms, wecom]").wait_for(state="attached")


@needs_chromium
def test_timing_fields_of_waits(app: Application, clock: VirtualClock) -> None:
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    text = RULE_A.replace("  wecom_followup:\n", "  pause_till_morning:\n    kind: wait\n    duration: 1d12h\n"
                          "    next: wecom_followup\n  wecom_followup:\n", 1)
    save_draft(app.services, "rule_a_whitepaper", text, if_match=None, actor="test")
    with live_chromium(app) as (url, browser):
        page = browser.new_page(viewport={"width": 1400, "height": 1200}, locale="zh-CN")
        _sign_in(page, url, "zhao@example.cn", clock)
        page.goto(f"{url}/journeys/rule_a_whitepaper/builder")
        page.locator('[data-node-id="wait_engagement"]').click()
        assert page.locator("#tf-time-timeout-amount").input_value() == "3"
        assert page.locator("#tf-time-timeout-unit").input_value() == "d"
        page.locator("#tf-time-timeout-unit").select_option("h")
        page.locator("[data-yaml]", has_text="timeout: 3h").wait_for(state="attached")
        page.locator("#tf-time-timeout-amount").fill("36")
        page.locator("#tf-time-timeout-unit").focus()  # leaving the amount applies it
        page.locator("[data-yaml]", has_text="timeout: 36h").wait_for(state="attached")

        page.locator("#tf-search").fill("pause_till")  # the minimap may cover it: find it by keyboard
        page.locator("#tf-search").press("Enter")
        page.locator("#tf-time-until").wait_for()
        assert "1d12h" in page.locator("[data-time-panel]").inner_text()  # not simple: kept as written
        assert "Asia/Shanghai" in page.locator("[data-zone-note]").inner_text()
        page.locator("#tf-time-until").fill("09:30")
        page.locator('[data-weekday="0"]').focus()
        page.locator("[data-yaml]", has_text="until: 09:30").wait_for(state="attached")
        page.locator('[data-weekday="0"]').click()  # applied when the server answers
        page.locator("[data-yaml]", has_text="weekdays: [0]").wait_for(state="attached")
        page.locator('[data-weekday="4"]').click()
        page.locator("[data-yaml]", has_text="weekdays: [0, 4]").wait_for(state="attached")
        assert axe_violations(page) == []
        page.get_by_role("button", name="撤销").click()
        page.locator("[data-yaml]", has_text="weekdays: [0]\n").wait_for(state="attached")


@needs_chromium
def test_branch_condition_builder(app: Application, clock: VirtualClock) -> None:
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    text = ("key: vip_branch\ntrigger: {event: signup}\nnodes:\n  which:\n    kind: branch\n    cases:\n"
            "      - if: {tag: vip}\n        next: done\n    else: done\n  done:\n    kind: exit\n")
    save_draft(app.services, "vip_branch", text, if_match=None, actor="test")
    with live_chromium(app) as (url, browser):
        page = browser.new_page(viewport={"width": 1400, "height": 1400}, locale="zh-CN")
        _sign_in(page, url, "zhao@example.cn", clock)
        page.goto(f"{url}/journeys/vip_branch/builder")
        page.locator('[data-node-id="which"]').wait_for()  # drawn: the search finds it now
        page.locator("#tf-search").fill("which")
        page.locator("#tf-search").press("Enter")
        panel = page.locator("[data-condition-panel]")
        panel.wait_for()
        assert '{"tag":"vip"}' in panel.inner_text()
        page.locator("#tf-cond-0-join").select_option("any")
        page.locator("#tf-cond-0-0-kind").select_option("attr")
        assert "属性" in page.locator("#tf-cond-0-0-kind option").all_inner_texts()[0]  # the segment page's words
        page.locator("#tf-cond-0-0-field").fill("city")
        page.locator("#tf-cond-0-0-value").fill("上海")
        page.locator("[data-condition-panel] [data-cond-add]").click()
        page.locator("#tf-cond-0-1-kind").select_option("event")
        page.locator("#tf-cond-0-1-field").fill("order_paid")
        page.locator("#tf-cond-0-1-within").fill("30d")
        page.locator("[data-condition-panel] [data-cond-apply]").click()
        page.locator("[data-yaml]", has_text="order_paid").wait_for(state="attached")
        saved = page.locator("[data-yaml]").text_content() or ""
        assert "attr: city" in saved and "eq: 上海" in saved and "within: 30d" in saved and "any:" in saved
        assert page.locator('[data-node-id="which"].tf-has-error').count() == 0  # the validator agrees
        assert axe_violations(page) == []
        page.locator("[data-case-add]").click()
        page.locator("[data-yaml]", has_text="always: true").wait_for(state="attached")
