"""Hand-off tasks: a complaint's service task breaches its 2 h SLA once; follow-up timeliness per person."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.tasks import complete_task, follow_up_timeliness, list_tasks, report_sla_breaches
from touchflow.store.tables import events


def complain(app: Application, n: int) -> None:
    record_events(app.services, "service", [RawItem({"id": f"c{n}", "type": "complaint", "email": f"t{n}@task.test",
                                                     "properties": {"reason": "骚扰 harassment"}})])


def breach_events(app: Application) -> list[str]:
    with app.engine.connect() as c:
        return list(c.execute(select(events.c.id).where(events.c.type == "task_sla_breached")).scalars())


def test_a_complaint_task_breaches_once_after_two_hours(app: Application, clock: VirtualClock) -> None:
    complain(app, 1)
    (task,) = list_tasks(app.services, "service")
    assert task.due_at == clock.now() + timedelta(hours=2)
    clock.advance(timedelta(hours=1, minutes=59))
    assert report_sla_breaches(app.services) == 0
    clock.advance(timedelta(minutes=2))
    JourneyRuntime(app.services).tick()  # the worker's tick reports breaches
    JourneyRuntime(app.services).tick()
    assert breach_events(app) == [f"task_{task.id}_breached"]
    with pytest.raises(ValueError, match="by"):
        complete_task(app.services, task.id, by=" ")
    done = complete_task(app.services, task.id, by="客服小王")
    assert done.status == "done" and done.breached_at is not None
    with pytest.raises(ValueError, match="already done"):
        complete_task(app.services, task.id, by="客服小王")


def test_follow_up_timeliness_counts_tasks_done_within_the_sla(app: Application, clock: VirtualClock) -> None:
    for n in range(4):
        complain(app, n)
    tasks = list_tasks(app.services, "service")
    clock.advance(timedelta(hours=1))
    for task in tasks[:3]:
        complete_task(app.services, task.id, by="lead")
    clock.advance(timedelta(hours=2))
    complete_task(app.services, tasks[3].id, by="lead")
    (row,) = follow_up_timeliness(app.services)
    assert (row.queue, row.done, row.within_sla, row.share) == ("service", 4, 3, 0.75)


def test_the_service_desk_hears_of_a_complaint_on_wecom_even_though_the_contact_is_frozen(app: Application) -> None:
    from touchflow.engine.channel_registry import ChannelRegistry
    from touchflow.engine.dispatcher import Dispatcher
    from touchflow.services.tasks import set_handoff

    with pytest.raises(ValueError, match="unknown queue"):
        set_handoff(app.services, {"marketing": "x"}, actor="admin")
    set_handoff(app.services, {"service": "lisi"}, actor="admin")
    complain(app, 9)
    channels = ChannelRegistry.capture_all()
    dispatcher = Dispatcher(app.services, channels=channels)
    dispatcher.dispatch_all()
    dispatcher.close()
    (notice,) = channels.channels["wecom_staff"].channel.sent  # type: ignore[attr-defined]
    assert notice.to == "lisi" and "客服工单" in notice.text and "harassment" in notice.text
