"""The console's task queues (J11): open tasks with the time left to their SLA deadline, the contact each is
about (masked), and — for readers of reports — timeliness per person and team (``assignment.timeliness_report``).

Completing a task is ``tasks.complete_task``; the outcome a person picks is kept in front of their note
(``[outcome] note``) so the audit row and the ``task_completed`` event carry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from touchflow.domain.actors import Actor
from touchflow.domain.messaging.followup import TimelinessLine
from touchflow.domain.outbox import TaskRecord
from touchflow.services.assignment import timeliness_report
from touchflow.services.contacts import ContactLabel, contact_labels
from touchflow.services.context import ServiceContext
from touchflow.services.tasks import complete_task, list_tasks

__all__ = ["OUTCOMES", "TaskBoard", "TaskLine", "finish_task", "task_board"]

OUTCOMES = ("reached", "no_answer", "not_interested", "converted", "other")


@dataclass(frozen=True)
class TaskLine:
    task: TaskRecord
    left: timedelta  # to the deadline; negative once overdue
    contact: ContactLabel | None

    @property
    def overdue(self) -> bool:
        return self.left < timedelta(0)


@dataclass(frozen=True)
class TaskBoard:
    queue: str | None
    lines: list[TaskLine]
    timeliness: list[TimelinessLine] | None  # None: the reader may not read reports


def task_board(ctx: ServiceContext, queue: str | None = None, *, assignee: str | None = None,
               with_timeliness: bool = False, limit: int = 200) -> TaskBoard:
    now = ctx.clock.now()
    found = list_tasks(ctx, queue, "open", limit, assignee=assignee)
    labels = contact_labels(ctx, [t.contact_id for t in found if t.contact_id])
    lines = [TaskLine(t, t.due_at - now, labels.get(t.contact_id) if t.contact_id else None) for t in found]
    return TaskBoard(queue, lines, timeliness_report(ctx, 30) if with_timeliness else None)


def finish_task(ctx: ServiceContext, task_id: str, outcome: str, note: str, *, by: Actor,
                assignee: str | None = None) -> TaskRecord:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome: one of {', '.join(OUTCOMES)}")
    return complete_task(ctx, task_id, by=by, note=f"[{outcome}] {note.strip()}"[:2000], assignee=assignee)
