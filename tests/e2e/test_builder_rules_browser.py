"""The journey's goal and journey-wide exit rules edited in the builder's side panel in Chromium with the same row
builder as a branch's cases (the segment page's condition language): the goal gets property filters, an exit
rule is built from two rows joined by any, a named rule is removed; the saved text parses to exactly that and
the journey still passes the one validator. axe-core finds no serious violation."""

from __future__ import annotations

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import axe_violations, builder_canvas, needs_chromium
from tests.e2e.test_builder_browser import RULE_A, _announced, _wait_yaml
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.journeys.document import format_text
from touchflow.domain.journeys.parse import parse_journey
from touchflow.domain.safe_yaml import load_yaml
from touchflow.services.journey_drafts import read_draft, save_draft


@needs_chromium
def test_goal_and_exit_rules_with_the_condition_builder(app: Application, clock: VirtualClock) -> None:
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    save_draft(app.services, "rule_a_whitepaper", RULE_A, if_match=None, actor="test")
    with builder_canvas(app, clock, "zhao@example.cn", "rule_a_whitepaper", wait_for="send_digest") as canvas:
        page = canvas.page
        rules = page.locator("[data-rules-panel]")
        assert rules.locator("h3").inner_text() == "目标与退出规则"
        # the goal: the conversion event with property filters (a list: any of the values)
        assert page.locator("#tf-goal-event").input_value() == "order_paid"
        page.locator("#tf-goal-0-name").fill("plan")
        page.locator("#tf-goal-0-value").fill("pro，enterprise")
        page.locator("[data-goal-add-row]").click()
        page.locator("#tf-goal-1-name").fill("amount")
        page.locator("#tf-goal-1-value").fill("100")
        page.locator("[data-goal-apply]").click()
        _announced(page, "goal")
        _wait_yaml(page, "enterprise")
        # a new exit rule: a tag, or no visit within 60 days (any of these)
        page.locator("#tf-exit-join").select_option("any")
        page.locator("#tf-exit-0-kind").select_option("tag")
        page.locator("#tf-exit-0-field").fill("do_not_contact")
        page.locator("[data-exit-builder] [data-cond-add]").click()
        page.locator("#tf-exit-1-kind").select_option("no")
        page.locator("#tf-exit-1-field").fill("page_view")
        page.locator("#tf-exit-1-within").fill("60d")
        page.get_by_role("button", name="添加此退出规则").click()
        _announced(page, "exit_when.2")
        page.locator('[data-exit-rule="2"]').wait_for()
        # a named rule out, and back in through its button
        page.get_by_role("button", name="删除 complained").click()
        page.locator('[data-exit-named="complained"]').wait_for()
        assert page.locator("[data-exit-rule]").count() == 2
        assert axe_violations(page) == []
        page.locator("[data-save]").click()
        _announced(page, "草稿已保存")
    saved = read_draft(app.services, "rule_a_whitepaper").text
    assert format_text(saved) == saved
    data = load_yaml(saved)
    assert data["goal"] == {"event": "order_paid", "properties": {"plan": ["pro", "enterprise"], "amount": 100}}
    assert data["exit_when"] == ["unsubscribed", {"any": [{"tag": "do_not_contact"},
                                                          {"no": "page_view", "within": "60d"}]}]
    journey = parse_journey(data)
    assert journey.exit_events == ("unsubscribe",) and journey.exit_when is not None
    assert [(f.prop, f.op, f.value) for f in journey.goal.properties] == [  # type: ignore[union-attr]
        ("plan", "in", ("pro", "enterprise")), ("amount", "eq", 100)]
