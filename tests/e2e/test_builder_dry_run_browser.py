"""The builder's dry run in Chromium: rule A's canvas, a real contact, outcome badges on the nodes it reached
(the email sent, the wait timed out after 3 virtual days), the node's detail in the side panel; nothing written."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import builder_canvas, needs_chromium
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.content import save_template
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.journey_drafts import save_draft

RULE_A = (Path(__file__).parents[2] / "examples" / "journeys" / "rule_a_whitepaper.yaml").read_text(encoding="utf-8")


def _rows(app: Application) -> dict[str, int]:
    with app.engine.connect() as conn:
        return {t: int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one())
                for t in ("events", "journey_runs", "run_steps", "outbox", "tasks")}


@needs_chromium
def test_dry_run_a_contact_on_the_canvas(app: Application, clock: VirtualClock) -> None:
    for name, channel in (("whitepaper_digest", "email"), ("whitepaper_followup_cs", "wecom")):
        save_template(app.services, name, channel, "白皮书精选", "{{ contact.name }}，白皮书。", "text", by="editor")
    upsert_contacts(app.services, "crm", [RawItem({"email": "li@example.cn", "name": "李雷", "wecom": "wm-li"})])
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    save_draft(app.services, "rule_a_whitepaper", RULE_A, if_match=None, actor="test")
    before = _rows(app)
    with builder_canvas(app, clock, "zhao@example.cn", "rule_a_whitepaper", wait_for="wait_engagement") as canvas:
        page = canvas.page
        assert page.locator("#tf-dry-h").inner_text() == "试运行"
        page.locator("#tf-dry-contact").fill("email:li@example.cn")
        page.locator("[data-dry-run-go]").click()
        email = page.locator('[data-node-id="send_digest"] [data-outcome]')
        email.wait_for(timeout=30_000)
        assert email.inner_text().startswith("email: sent")
        wait = page.locator('[data-node-id="wait_engagement"] [data-outcome]').inner_text()
        assert wait == "on_timeout @ +3d"
        assert page.locator('[data-node-id="engaged"] [data-outcome]').count() == 0  # the way not taken
        page.locator('[data-node-id="wait_engagement"]').click()
        assert "+3d" in page.locator("[data-dry-detail]").inner_text()
    assert _rows(app) == before


@needs_chromium
def test_run_the_examples_scenario_from_the_canvas(app: Application, clock: VirtualClock) -> None:
    scenario = (Path(__file__).parents[2] / "examples" / "journeys" / "rule_a_whitepaper.scenario.yaml").read_text(
        encoding="utf-8")
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    save_draft(app.services, "rule_a_whitepaper", RULE_A, if_match=None, actor="test")
    before = _rows(app)
    with builder_canvas(app, clock, "zhao@example.cn", "rule_a_whitepaper", wait_for="send_digest") as canvas:
        page = canvas.page
        page.locator("#tf-scenario").fill(scenario)
        page.locator("[data-scenario-go]").click()
        badge = page.locator('[data-node-id="send_digest"] [data-outcome]')
        badge.wait_for(timeout=60_000)
        assert badge.inner_text().startswith("进入 106")  # 3 readers + 3 ignorers + 100 typical
        assert page.locator('[data-checks] [data-passed="false"]').count() == 0
        assert page.locator('[data-checks] [data-passed="true"]').count() >= 5
    assert _rows(app) == before
