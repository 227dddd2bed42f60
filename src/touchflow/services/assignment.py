"""Sales hand-off assignment (J11) and the follow-up timeliness report (A6).

``assign_tasks`` runs inside the transaction that writes new tasks (the journey engine's batch flush and
a complaint's freeze), so a task is stored with its person and the round-robin cursor moves in the same
commit: a rolled-back batch gives its turns back, and concurrent workers share one rotation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.conditions.predicates import ContactFacts
from touchflow.domain.messaging.followup import TimelinessLine
from touchflow.domain.outbox import TaskRecord
from touchflow.domain.scoring.assignment import (
    AssignmentPolicy,
    RoundRobinRule,
    decide,
    policy_event_types,
    policy_from_document,
    policy_to_document,
    round_robin_turns,
)
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext, save_setting

__all__ = [
    "ASSIGNMENT_KEY",
    "AssignmentView",
    "assign_tasks",
    "assignment_policy",
    "current_assignment",
    "set_assignment_policy",
    "timeliness_report",
]

ASSIGNMENT_KEY = "assignment"  # workspace setting, like the guardrail policy


@dataclass(frozen=True)
class AssignmentView:
    policy: AssignmentPolicy
    cursors: dict[str, int]  # round-robin turns taken so far, by rotation name


def assignment_policy(uow: UnitOfWork) -> AssignmentPolicy:
    stored = uow.guards.setting(ASSIGNMENT_KEY)
    return AssignmentPolicy() if stored is None else policy_from_document(stored)


def assign_tasks(uow: UnitOfWork, tasks: Sequence[TaskRecord], now: datetime) -> list[TaskRecord]:
    """The tasks with a person set on those that had none, by the workspace's rules (first match wins).
    Tasks no rule matches stay unassigned (the queue's on-duty person hears of them)."""
    open_ = [t for t in tasks if t.assignee is None and t.contact_id is not None]
    if not open_:
        return list(tasks)
    policy = assignment_policy(uow)
    open_ = [t for t in open_ if t.queue in policy.queues]
    if not open_ or not policy.rules:
        return list(tasks)
    facts = uow.journeys.load_facts({t.contact_id for t in open_ if t.contact_id is not None},
                                    policy_event_types(policy), None)
    chosen: dict[str, str] = {}
    rotations: dict[str, list[str]] = defaultdict(list)  # rotation name → task ids, in order
    rules: dict[str, RoundRobinRule] = {}
    for task in open_:
        contact = task.contact_id or ""  # never empty here: contact-less tasks were left out above
        decision = decide(policy, task.queue, facts.get(contact) or ContactFacts(contact), now)
        if isinstance(decision, RoundRobinRule):
            rotations[decision.name].append(task.id)
            rules[decision.name] = decision
        elif decision is not None:
            chosen[task.id] = decision
    for name in sorted(rotations):  # a fixed order of cursor rows: two workers cannot lock them crosswise
        ids = rotations[name]
        start = uow.assignment.advance(name, len(ids), now)
        chosen.update(zip(ids, round_robin_turns(rules[name], start, len(ids)), strict=True))
    return [replace(t, assignee=chosen[t.id]) if t.id in chosen else t for t in tasks]


def current_assignment(ctx: ServiceContext) -> AssignmentView:
    with ctx.reader() as uow:
        return AssignmentView(assignment_policy(uow), uow.assignment.cursors())


def set_assignment_policy(ctx: ServiceContext, document: Mapping[str, Any], *, actor: str) -> AssignmentPolicy:
    """Replace the rules (validated first; errors name the element); audited."""
    policy = policy_from_document(document)
    save_setting(ctx, ASSIGNMENT_KEY, policy_to_document(policy), actor=actor, action="assignment.set")
    return policy


def timeliness_report(ctx: ServiceContext, days: int = 30) -> list[TimelinessLine]:
    """Share of tasks handled within their SLA per person and per team, counting open tasks past their
    deadline as late; lead response time (created → done) p50/p90. Tasks created in the last ``days``."""
    if days < 1:
        raise ValueError("days: at least 1")
    now = ctx.clock.now()
    with ctx.reader() as uow:
        return uow.assignment.timeliness(now - timedelta(days=days), now)
