"""Experiments in the console: the power calculator plans without creating anything, a viewer may plan but not
start, a strategist starts one and governance refusals name their rule, roll-out before 14 days is refused, stop
needs a reason."""

from __future__ import annotations

from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.experiments import list_experiments
from touchflow.services.journeys import publish_journey
from touchflow.services.segments import create_segment

JOURNEY = """
key: %s
name: 发送时间实验
trigger: {event: signup}
goal: {event: order_paid}
nodes:
  split: {kind: split, paths: [{percent: %d, next: morning}, {percent: %d, next: afternoon}]}
  morning: {kind: send, channel: email, template: nine, next: done}
  afternoon: {kind: send, channel: email, template: fifteen, next: done}
  done: {kind: exit}
"""
FORM = {"key": "send_time", "name": "发送时间", "journey": "send_time_test", "split": "split",
        "arms": "09:00, 15:00", "variable": "send_time", "primary": "conversion", "strata": "vip",
        "baseline": "0.1", "mde": "0.03", "alpha": "0.05", "power": "0.8"}


def _journeys(app: Application) -> None:
    publish_journey(app.services, JOURNEY % ("send_time_test", 50, 50), actor="t")
    publish_journey(app.services, JOURNEY % ("lopsided", 96, 4), actor="t")
    create_segment(app.services, {"key": "vip", "name": "VIP", "kind": "dynamic", "condition": {"tag": "vip"}},
                   actor="t")


def test_a_viewer_plans_but_cannot_start(app: Application, clock: VirtualClock) -> None:
    _journeys(app)
    with console_client(app) as client:
        sign_in(client, app, clock, "wang.fang@example.cn", "viewer", name="王芳")
        page = client.get("/measure/experiments")
        assert page.status_code == 200 and "还没有实验" in page.text
        assert 'formaction="/measure/experiments"' not in page.text  # no start button for a viewer
        token = csrf_of(page.text)
        plan = client.post("/measure/experiments/plan", data={"csrf_token": token, **FORM})
        assert plan.status_code == 200 and "data-plan" in plan.text and "每组所需人数" in plan.text
        assert list_experiments(app.services) == []
        bad = client.post("/measure/experiments/plan", data={"csrf_token": token, **FORM, "mde": "big"})
        assert bad.status_code == 422 and "mde" in bad.text
        assert client.post("/measure/experiments", data={"csrf_token": token, **FORM}).status_code == 403


def test_a_strategist_starts_stops_and_is_refused_by_governance(app: Application, clock: VirtualClock) -> None:
    _journeys(app)
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        token = csrf_of(client.get("/measure/experiments").text)
        small = client.post("/measure/experiments", data={"csrf_token": token, **FORM, "key": "small",
                                                          "journey": "lopsided"})
        assert small.status_code == 422 and "arm-share" in small.text
        started = client.post("/measure/experiments", data={"csrf_token": token, **FORM})
        assert started.status_code == 303
        assert started.headers["location"] == "/measure/experiments/send_time?done=started"
        page = client.get("/measure/experiments/send_time")
        assert page.status_code == 200 and "尚无联系人进入实验" in page.text and "运行中" in page.text
        early = client.post("/measure/experiments/send_time/rollout", data={"csrf_token": token})
        assert early.status_code == 422 and "min-duration" in early.text and "confidence" in early.text
        no_reason = client.post("/measure/experiments/send_time/stop", data={"csrf_token": token, "reason": " "})
        assert no_reason.status_code == 422 and "reason" in no_reason.text
        stopped = client.post("/measure/experiments/send_time/stop", data={"csrf_token": token, "reason": "节假日"})
        assert stopped.status_code == 303
        assert [e.state for e in list_experiments(app.services)] == ["stopped"]
        assert client.get("/measure/experiments/nope").status_code == 404
