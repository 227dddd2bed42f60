"""Live numbers on a published journey's canvas in Chromium: badges on the nodes and counts on the edges, equal to
the API's; the contacts waiting at a node listed by name and masked address, paused and removed by a strategy
designer (audit rows name the person); axe-core finds no serious violation."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import axe_violations, builder_canvas, needs_chromium, screenshot
from tests.e2e.journey_support import seed_live
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.journey_live import live_numbers
from touchflow.services.metrics import local_today


@needs_chromium
def test_live_badges_and_acting_on_who_waits(app: Application, clock: VirtualClock) -> None:
    seed_live(app, clock)
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    end = local_today(app.services)
    expected = live_numbers(app.services, "rule_a_whitepaper", start=end - timedelta(days=29), end=end)
    with builder_canvas(app, clock, "zhao@example.cn", "rule_a_whitepaper", wait_for="wait_engagement") as canvas:
        page = canvas.page
        assert page.locator("#tf-live-h").inner_text() == "实时数据"
        page.locator("[data-live-go]").click()
        entered = page.locator('[data-node-id="send_digest"] [data-live-count="entered"]')
        entered.wait_for()
        assert entered.inner_text() == f"进入 {expected.nodes['send_digest']['entered']}" == "进入 5"
        sent = page.locator('[data-node-id="send_digest"] [data-live-message="sent"]').inner_text()
        assert sent == "已发送 5"
        waiting = page.locator('[data-node-id="wait_engagement"] [data-live-count="waiting"]').inner_text()
        assert waiting == "等待中 2"
        assert page.locator("#tf-live-from").input_value() == (end - timedelta(days=29)).isoformat()
        expect(page.locator(".react-flow__edge-text", has_text="on_timeout · 3")).to_have_count(1)
        page.locator('[data-node-id="wait_engagement"]').click()
        rows = page.locator('[data-waiting="wait_engagement"] [data-waiting-contact]')
        rows.first.wait_for()
        assert rows.count() == 2
        text = page.locator('[data-waiting="wait_engagement"]').inner_text()
        assert "客户e · e***@live.test" in text and "e@live.test" not in text.replace("e***@live.test", "")
        assert axe_violations(page) == []
        screenshot(page, "08-流程画布-实时数据.png")
        row = rows.filter(has_text="e***@live.test")
        page.locator("#tf-live-reason").fill("客户来电要求暂缓")
        row.locator('[data-run-action="pause"]').click()
        row.locator('[data-run-status="paused"]').wait_for()
        row.locator('[data-run-action="remove"]').click()
        page.locator('[data-waiting="wait_engagement"] h4', has_text="(1)").wait_for()
        assert rows.count() == 1
        page.locator('[data-node-id="wait_engagement"] [data-live-count="waiting"]', has_text="等待中 1").wait_for()
    with app.services.reader() as uow:
        audit = [(r.actor, r.action, r.details.get("reason")) for r in uow.audit.rows_after(0, 1000)
                 if r.action.startswith("run.")]
    assert [b for _, b, _ in audit] == ["run.pause", "run.remove"], audit
    assert all(who.startswith("user:") and "(赵主管)" in who for who, _, _ in audit)  # the signed-in person
    assert audit[0][2] == "客户来电要求暂缓"
