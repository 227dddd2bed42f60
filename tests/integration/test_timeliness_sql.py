"""The timeliness report computed by the database (issue 15) equals the domain's ``followup.timeliness`` over
every task's timings: counts per person and per team, open tasks past their deadline, p50/p90 to the
microsecond, ties, unassigned tasks, done tasks without a ``done_at``, and tasks older than the window."""

from __future__ import annotations

import random
from datetime import timedelta

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.messaging.followup import timeliness
from touchflow.services.assignment import timeliness_report
from touchflow.store.tables import tasks


def _seed(app: Application, clock: VirtualClock, n: int) -> None:
    rnd = random.Random(15)
    now = clock.now()
    rows = []
    for i in range(n):
        created = now - timedelta(days=rnd.uniform(0, 40), microseconds=rnd.randrange(10**6))
        due = created + timedelta(hours=rnd.choice((2, 4, 24)))
        status = rnd.choice(("open", "done", "done", "done", "cancelled"))
        took = timedelta(minutes=rnd.choice((30, 30, 90)), microseconds=rnd.choice((0, 0, rnd.randrange(10**6))))
        done = created + took * rnd.choice((1, 2, 5)) if status == "done" and i % 17 else None
        rows.append({"id": f"t{i:05d}", "idempotency_key": f"k{i}", "queue": rnd.choice(("sales", "service")),
                     "title": "回访", "assignee": rnd.choice(("甲", "乙", "丙", None)), "status": status,
                     "created_at": created, "due_at": due, "done_at": done})
    with app.engine.begin() as c:
        c.execute(tasks.insert(), rows)


def test_sql_timeliness_equals_the_domain_report(app: Application, clock: VirtualClock) -> None:
    _seed(app, clock, 700)
    now = clock.now()
    for days in (1, 7, 30):
        with app.services.reader() as uow:
            expected = timeliness(uow.assignment.tasks_since(now - timedelta(days=days)), now)
        got = timeliness_report(app.services, days)
        assert got == expected, days
        assert any(line.p90_response for line in got) and any(line.open_late for line in got)
    assert {line.assignee for line in got if line.scope == "person"} == {"甲", "乙", "丙", None}


def test_sql_timeliness_of_a_quiet_month_is_empty(app: Application) -> None:
    assert timeliness_report(app.services) == []
