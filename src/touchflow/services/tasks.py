"""Hand-offs to people: list, complete, and report SLA breaches as events (J11, G3).

A breach is reported once per task, as a ``task_sla_breached`` event of its contact, so a journey
can escalate (e.g. WeCom the team lead) and the follow-up timeliness metric can count it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from touchflow.domain.actors import Actor
from touchflow.domain.events import EventInput
from touchflow.domain.ids import IdFactory
from touchflow.domain.outbox import OutboxMessage, TaskRecord
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext, emit_events

__all__ = ["HANDOFF_KEY", "TaskNotFound", "TimelinessRow", "complete_task", "follow_up_timeliness",
           "handoff_notices", "list_tasks", "report_sla_breaches", "set_handoff"]

HANDOFF_KEY = "handoff"  # workspace setting: {"channel": "wecom_staff", "recipients": {"sales": "zhangsan"}}


class TaskNotFound(LookupError):
    pass


@dataclass(frozen=True)
class TimelinessRow:
    queue: str
    assignee: str | None
    done: int
    within_sla: int

    @property
    def share(self) -> float | None:
        return None if self.done == 0 else self.within_sla / self.done


def handoff_notices(uow: UnitOfWork, tasks: Sequence[TaskRecord], ids: IdFactory,
                    now: datetime) -> list[OutboxMessage]:
    """A message to the person (or the queue's on-duty person) for each new task, on the staff channel
    (WeCom by default). It is about the contact but not to them: the dispatcher applies no contact
    guardrail to it (``audience: staff``), so a complaint freeze does not silence its own hand-off."""
    if not tasks:
        return []
    setting = uow.guards.setting(HANDOFF_KEY) or {}
    channel = str(setting.get("channel") or "wecom_staff")
    recipients = setting.get("recipients") or {}
    notices: list[OutboxMessage] = []
    for task in tasks:
        to = task.assignee or (recipients.get(task.queue) if isinstance(recipients, dict) else None)
        if not to or task.contact_id is None:  # a journey's task (an alert's) is announced by the alert itself
            continue
        kind = "销售线索" if task.queue == "sales" else "客服工单"
        text = f"【{kind}】{task.title}（截止 {task.due_at:%m-%d %H:%M} UTC）"
        notices.append(OutboxMessage(ids.new(now), f"task:{task.id}:notice"[:120], task.run_id, task.contact_id,
                                     task.journey_id, task.node_id, channel, None,
                                     {"audience": "staff", "to": str(to), "text": text, "task_id": task.id,
                                      "purpose": "transactional", "retry": {"attempts": 5, "backoff_s": 60}},
                                     "queued", 0, now, now))
    return notices


def set_handoff(ctx: ServiceContext, recipients: dict[str, str], *, channel: str = "wecom_staff",
                actor: str) -> None:
    """Who hears about new tasks without an assignee, per queue (a WeCom user id), and on which channel."""
    unknown = sorted(set(recipients) - {"sales", "service"})
    if unknown:
        raise ValueError(f"recipients: unknown queue(s) {', '.join(unknown)} (sales, service)")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.guards.set_setting(HANDOFF_KEY, {"channel": channel, "recipients": dict(recipients)}, actor, now)
        uow.audit.record(actor, "handoff.set", HANDOFF_KEY, {"channel": channel, "recipients": dict(recipients)}, now)
        uow.commit()


def list_tasks(ctx: ServiceContext, queue: str | None = None, status: str | None = "open",
               limit: int = 100, *, assignee: str | None = None) -> list[TaskRecord]:
    """Tasks, soonest deadline first; ``assignee`` (an agent's scope, ``domain.governance.scope``) keeps only
    theirs (``""``: none)."""
    if assignee is not None and not assignee:
        return []
    with ctx.reader() as uow:
        return uow.tasks.find(queue, status, limit, assignee)


def complete_task(ctx: ServiceContext, task_id: str, *, by: Actor | str, note: str = "",
                  assignee: str | None = None) -> TaskRecord:
    """Mark a task handled by ``by`` (who is authenticated). With ``assignee`` set another person's task is
    reported as not found: an agent does not learn that it exists."""
    by = Actor.of(by).label if isinstance(by, Actor) else by
    if not by.strip():
        raise ValueError("by: name the person who handled the task")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        task = uow.tasks.get(task_id)
        if task is None or (assignee is not None and (not assignee or task.assignee != assignee)):
            raise TaskNotFound(f"no task {task_id!r}")
        if not uow.tasks.complete(task_id, now):
            raise ValueError(f"task {task_id} is already {task.status}")
        event = EventInput(f"task_{task_id}_done", "task_completed", (), now, "touchflow",
                           {"task_id": task_id, "queue": task.queue, "by": by.strip(),
                            "within_sla": now <= task.due_at})
        if task.contact_id is not None:  # a journey-level task (an alert's) has no contact to tell
            emit_events(uow, [(event, task.contact_id)], now)
        uow.audit.record(by.strip(), "task.complete", task_id, {"note": note, "within_sla": now <= task.due_at}, now)
        uow.commit()
        done = uow.tasks.get(task_id)
    assert done is not None
    return done


def report_sla_breaches(ctx: ServiceContext, limit: int = 1000) -> int:
    """Emit one ``task_sla_breached`` event for each open contact task past its deadline (a journey-level task
    is only marked breached); returns how many tasks breached."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        overdue = uow.tasks.overdue(now, limit)
        if not overdue:
            return 0
        events = [(EventInput(f"task_{t.id}_breached", "task_sla_breached", (), now, "touchflow",
                              {"task_id": t.id, "queue": t.queue, "assignee": t.assignee,
                               "due_at": t.due_at.isoformat()}), t.contact_id)
                  for t in overdue if t.contact_id is not None]  # a journey's task: marked, no contact event
        emit_events(uow, events, now)
        uow.tasks.mark_breached([t.id for t in overdue], now)
        uow.commit()
    return len(overdue)


def follow_up_timeliness(ctx: ServiceContext, days: int = 30) -> list[TimelinessRow]:
    """Share of tasks handled within their SLA, per queue and person (target ≥ 90%, A6)."""
    since = ctx.clock.now() - timedelta(days=days)
    with ctx.reader() as uow:
        return [TimelinessRow(*row) for row in uow.tasks.stats(since)]


