"""The dashboard as a viewer (reports only) reads it: empty states that say what to do, goal progress from the
worker's daily measurement, tasks due today, paused journeys with their reason; and no form to change anything."""

from __future__ import annotations

from datetime import timedelta

from tests.e2e.console_support import console_client, sign_in
from tests.integration.reports_support import WELCOME
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.goals import record_goal_values
from touchflow.services.journeys import publish_journey, set_journey_status
from touchflow.store.tables import tasks


def test_an_empty_workspace_says_what_to_do(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "viewer@example.cn", "viewer")
        page = client.get("/dashboard")
        assert page.status_code == 200
        for hint in ("本期还没有消息", "touchflow journey publish", "一切正常", "今天没有到期任务",
                     "由后台任务每日测量"):
            assert hint in page.text, hint
        assert "<form" in page.text and 'action="/contacts' not in page.text  # only the top bar's own forms
        assert '<form method="post" action="/preferences"' in page.text and "/status" not in page.text


def test_goals_tasks_and_a_paused_journey(app: Application, clock: VirtualClock) -> None:
    publish_journey(app.services, WELCOME, actor="test")
    set_journey_status(app.services, "welcome", "paused", actor="alert:open_rate", reason="打开率骤降，已自动暂停")
    record_goal_values(app.services, lambda ctx: {"intent_conversion": 0.2, "nps": 42.0})
    with app.engine.begin() as c:
        for n, hours in enumerate((3, 30)):  # due today (local), and tomorrow
            c.execute(tasks.insert().values(id=f"t{n}", idempotency_key=f"t{n}", contact_id=None, queue="sales",
                                            title=f"任务{n}", assignee=None, status="open", created_at=clock.now(),
                                            due_at=clock.now() + timedelta(hours=hours)))
    with console_client(app) as client:
        sign_in(client, app, clock, "viewer@example.cn", "viewer")
        page = client.get("/dashboard").text
        assert "测量日期：2026-03-02" in page and "80.0%" in page  # 0.2 of a 25% target
        assert "打开率骤降，已自动暂停" in page and "新用户欢迎流程" in page
        assert "任务0" in page and "任务1" not in page
