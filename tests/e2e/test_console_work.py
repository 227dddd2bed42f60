"""Tasks and journeys in the console: an agent works their queue (SLA countdown, complete with an outcome,
audited as them; another's task stays out of reach); a strategist pauses and resumes a journey (J9)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.e2e.console_support import console_client, csrf_of, sign_in
from tests.integration.reports_support import WELCOME
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import audit_log, journeys, tasks, users


def _task(app: Application, task_id: str, assignee: str | None, due_in: timedelta, clock: VirtualClock) -> None:
    with app.engine.begin() as c:
        c.execute(tasks.insert().values(id=task_id, idempotency_key=task_id, contact_id=None, queue="sales",
                                        title=f"回电 {task_id}", assignee=assignee, status="open",
                                        created_at=clock.now(), due_at=clock.now() + due_in))


def test_an_agent_completes_a_task_with_an_outcome(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "agent@example.cn", "agent", name="小陈")
        empty = client.get("/tasks")
        assert empty.status_code == 200 and "没有待处理任务" in empty.text
        with app.engine.connect() as c:
            agent_id = c.execute(select(users.c.id).where(users.c.email == "agent@example.cn")).scalar_one()
        _task(app, "t-mine", agent_id, timedelta(minutes=90), clock)
        _task(app, "t-late", agent_id, timedelta(minutes=-30), clock)
        _task(app, "t-other", "someone-else", timedelta(hours=1), clock)
        page = client.get("/tasks")
        assert "剩余 90 分钟" in page.text and "已逾期 30 分钟" in page.text and "t-other" not in page.text
        assert "跟进及时率" not in page.text  # an agent does not read reports
        csrf = csrf_of(page.text)
        bad = client.post("/tasks/t-mine/done", data={"csrf_token": csrf, "outcome": "maybe"})
        assert bad.status_code == 422 and "outcome" in bad.text
        assert client.post("/tasks/t-other/done", data={"csrf_token": csrf, "outcome": "reached"}).status_code == 404
        done = client.post("/tasks/t-mine/done", data={"csrf_token": csrf, "outcome": "reached", "note": "约了周三"})
        assert done.status_code == 303 and "任务已完成" in client.get("/tasks?done=1").text
    with app.engine.connect() as c:
        status = {r.id: r.status for r in c.execute(select(tasks.c.id, tasks.c.status))}
        row = c.execute(select(audit_log).where(audit_log.c.subject == "t-mine")).one()
    assert status == {"t-mine": "done", "t-late": "open", "t-other": "open"}
    assert row.action == "task.complete" and row.actor.startswith(f"user:{agent_id}")
    assert row.details["note"] == "[reached] 约了周三"


def test_a_viewer_reads_journeys_but_not_tasks_and_a_strategist_pauses_a_journey(app: Application,
                                                                                  clock: VirtualClock) -> None:
    publish_journey(app.services, WELCOME, actor="test")
    with console_client(app) as client:
        sign_in(client, app, clock, "viewer@example.cn", "viewer")
        assert client.get("/tasks").status_code == 403
        read_only = client.get("/journeys")  # a viewer reads journeys (journeys.read) but changes nothing
        assert read_only.status_code == 200 and "新用户欢迎流程" in read_only.text
        assert "/journeys/welcome/status" not in read_only.text and "/journeys/welcome/archive" not in read_only.text
        assert client.post("/journeys/welcome/status", data={"csrf_token": csrf_of(read_only.text),
                                                              "action": "pause"}).status_code == 403
        client.cookies.clear()
        sign_in(client, app, clock, "zhao@example.cn", "strategist", name="赵主管")
        page = client.get("/journeys")
        assert page.status_code == 200 and "新用户欢迎流程" in page.text and "运行中" in page.text
        csrf = csrf_of(page.text)
        paused = client.post("/journeys/welcome/status", data={"csrf_token": csrf, "action": "pause",
                                                               "reason": "文案待改"})
        assert paused.status_code == 303
        after = client.get("/journeys").text
        assert "已暂停" in after and "文案待改" in after and "恢复" in after
        assert client.post("/journeys/nope/status", data={"csrf_token": csrf, "action": "pause"}).status_code == 422
        assert client.post("/journeys/welcome/status", data={"csrf_token": csrf, "action": "x"}).status_code == 422
        resumed = client.post("/journeys/welcome/status", data={"csrf_token": csrf, "action": "resume"})
        assert resumed.status_code == 303 and "运行中" in client.get("/journeys").text
    with app.engine.connect() as c:
        assert c.execute(select(journeys.c.status)).scalar_one() == "active"
        actions = [r.action for r in c.execute(select(audit_log.c.action).where(audit_log.c.subject == "welcome"))]
    assert "journey.pause" in actions and "journey.resume" in actions


def test_journeys_and_tasks_say_what_to_do_when_empty(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "admin@example.cn", "admin")
        assert "touchflow journey publish" in client.get("/journeys").text
        tasks_page = client.get("/tasks")
        assert "没有待处理任务" in tasks_page.text and "近 30 天没有任务" in tasks_page.text
