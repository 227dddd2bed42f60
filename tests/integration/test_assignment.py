"""Sales hand-off assignment on a real database: rules applied to tasks a journey creates, one round-robin
rotation shared by concurrent writers, and timeliness that counts open late tasks (J11, A6)."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

import pytest

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.outbox import TaskRecord
from touchflow.domain.scoring.assignment import AssignmentError
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.assignment import assign_tasks, current_assignment, set_assignment_policy, timeliness_report
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import publish_journey
from touchflow.services.tasks import complete_task, list_tasks

HOT_LEAD = """
key: hot_lead_handoff
name: 高意向线索转销售
trigger:
  event: demo_requested
nodes:
  to_sales:
    kind: task
    queue: sales
    title: 预约演示，请2小时内联系
    sla: 2h
    next: done
  done:
    kind: exit
"""

TEAM = ["小王", "小李", "小张"]


def contacts(app: Application, rows: list[dict[str, Any]]) -> list[str]:
    report = upsert_contacts(app.services, "crm", [RawItem(r) for r in rows])
    assert not report.rejected, report.rejected
    ids = [cid for cid in report.contact_ids if cid]
    _EMAILS.update(zip(ids, (str(r["email"]) for r in rows), strict=True))
    return ids


_EMAILS: dict[str, str] = {}  # contact id → email, for readable assertions


def request_demo(app: Application, emails: list[str]) -> None:
    record_events(app.services, "website", [RawItem({"type": "demo_requested", "email": e}) for e in emails])
    JourneyRuntime(app.services).tick()


def assignees(app: Application) -> dict[str, str | None]:
    """Sales task assignee by the contact's email."""
    return {_EMAILS[t.contact_id]: t.assignee for t in list_tasks(app.services, "sales", None, 1000)}


def test_tasks_from_a_journey_task_node_get_a_person_by_the_rules(app: Application) -> None:
    publish_journey(app.services, HOT_LEAD, actor="test")
    set_assignment_policy(app.services, {"rules": [
        {"owner": True},
        {"territory": {"上海": "张三", "江苏": "李四"}},
        {"industry": {"制造业": "王五"}},
        {"round_robin": TEAM, "name": "inside_sales"},
    ]}, actor="admin")
    contacts(app, [
        {"email": "owned@x.cn", "city": "上海", "custom.owner": "老客户经理"},
        {"email": "sh@x.cn", "city": "上海"},
        {"email": "js@x.cn", "city": "苏州", "province": "江苏"},
        {"email": "mfg@x.cn", "city": "成都", "industry": "制造业"},
        {"email": "rr1@x.cn"}, {"email": "rr2@x.cn"}, {"email": "rr3@x.cn"}, {"email": "rr4@x.cn"},
    ])
    request_demo(app, ["owned@x.cn", "sh@x.cn", "js@x.cn", "mfg@x.cn", "rr1@x.cn", "rr2@x.cn", "rr3@x.cn",
                       "rr4@x.cn"])
    got = assignees(app)
    assert {k: got[k] for k in ("owned@x.cn", "sh@x.cn", "js@x.cn", "mfg@x.cn")} == {
        "owned@x.cn": "老客户经理", "sh@x.cn": "张三", "js@x.cn": "李四", "mfg@x.cn": "王五"}
    assert Counter(got[f"rr{i}@x.cn"] for i in range(1, 5)) == Counter({"小王": 2, "小李": 1, "小张": 1})
    assert current_assignment(app.services).cursors == {"inside_sales": 4}


def test_without_rules_tasks_stay_unassigned_and_complaints_follow_the_service_rule(app: Application) -> None:
    publish_journey(app.services, HOT_LEAD, actor="test")
    contacts(app, [{"email": "a@x.cn", "city": "上海"}])
    request_demo(app, ["a@x.cn"])
    assert assignees(app) == {"a@x.cn": None}
    set_assignment_policy(app.services, {"queues": ["service"], "rules": [{"territory": {"上海": "客服小李"}}]},
                          actor="admin")
    record_events(app.services, "service", [RawItem({"type": "complaint", "email": "a@x.cn"})])
    (service_task,) = list_tasks(app.services, "service")
    assert service_task.assignee == "客服小李"
    with pytest.raises(AssignmentError, match=r"rules\[0\]"):
        set_assignment_policy(app.services, {"rules": [{"round_robin": []}]}, actor="admin")


def test_round_robin_is_even_and_stable_under_two_concurrent_writers(app: Application) -> None:
    set_assignment_policy(app.services, {"rules": [{"round_robin": TEAM}]}, actor="admin")
    (contact_id,) = contacts(app, [{"email": "busy@x.cn"}])
    rounds, per_txn = 15, 2  # each writer: 15 transactions of 2 tasks → 60 tasks in all
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    now = app.services.clock.now()

    def writer(name: str) -> None:
        try:
            for r in range(rounds):
                barrier.wait(timeout=30)  # both transactions start together, to collide on the cursor
                with app.services.uow() as uow:
                    fresh = [TaskRecord(f"{name}-{r}-{i}", f"{name}-{r}-{i}", contact_id, None, None, None, "sales",
                                        "lead", None, "open", now, now + timedelta(hours=2)) for i in range(per_txn)]
                    uow.journeys.add_tasks(assign_tasks(uow, fresh, now))
                    uow.commit()
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    found = list_tasks(app.services, "sales", None, 1000)
    assert len(found) == 60
    assert Counter(t.assignee for t in found) == {"小王": 20, "小李": 20, "小张": 20}
    assert current_assignment(app.services).cursors == {"default": 60}  # no turn taken twice or lost
    for pair in ({t.id: t.assignee for t in found if t.id.startswith(f"{w}-{r}-")}
                 for w in ("w1", "w2") for r in range(rounds)):
        assert len(set(pair.values())) == 2  # two consecutive turns in one transaction: two people
    with app.services.uow() as uow:  # stable: a task that has a person keeps them
        assert assign_tasks(uow, found[:3], now) == found[:3]


def test_timeliness_counts_open_tasks_past_their_deadline_as_late(app: Application, clock: VirtualClock) -> None:
    publish_journey(app.services, HOT_LEAD, actor="test")
    set_assignment_policy(app.services, {"rules": [{"round_robin": ["甲", "乙"]}]}, actor="admin")
    contacts(app, [{"email": f"l{i}@x.cn"} for i in range(4)])
    request_demo(app, [f"l{i}@x.cn" for i in range(4)])  # 甲: l0, l2; 乙: l1, l3
    assert assignees(app) == {"l0@x.cn": "甲", "l1@x.cn": "乙", "l2@x.cn": "甲", "l3@x.cn": "乙"}
    tasks: dict[str | None, list[TaskRecord]] = defaultdict(list)
    for t in list_tasks(app.services, "sales"):
        tasks[t.assignee].append(t)
    clock.advance(timedelta(minutes=30))
    complete_task(app.services, tasks["甲"][0].id, by="甲")
    complete_task(app.services, tasks["乙"][0].id, by="乙")
    clock.advance(timedelta(hours=1))
    complete_task(app.services, tasks["甲"][1].id, by="甲")
    pending = {(r.scope, r.assignee): r for r in timeliness_report(app.services)}
    assert pending[("person", "乙")].pending == 1 and pending[("person", "乙")].share == 1.0
    clock.advance(timedelta(hours=1))  # 乙's second task is now past its deadline and still open
    rows = {(r.scope, r.assignee): r for r in timeliness_report(app.services)}
    jia, yi, team = rows[("person", "甲")], rows[("person", "乙")], rows[("team", None)]
    assert (jia.within_sla, jia.open_late, jia.share) == (2, 0, 1.0)
    assert (yi.within_sla, yi.open_late, yi.share) == (1, 1, 0.5) and not yi.meets_target
    assert (team.within_sla, team.counted, team.share) == (3, 4, 0.75)
    assert jia.p50_response == timedelta(minutes=30) and jia.p90_response == timedelta(minutes=90)
