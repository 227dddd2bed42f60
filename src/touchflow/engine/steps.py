"""Collecting what a batch of advances produced, and writing it in bulk inside the batch's transaction.

The pure ``advance`` returns runs, trace records and effects; ``StepBatch`` turns them into rows:
run inserts and updates, trace, outbox messages (sends and webhooks, keyed for idempotency),
tasks, contact updates and enrolments into other journeys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from touchflow.domain.conditions.predicates import ContactFacts, EvalContext, evaluate
from touchflow.domain.contacts import Stamp
from touchflow.domain.events import EventInput
from touchflow.domain.governance.privacy import targeting
from touchflow.domain.ids import IdFactory
from touchflow.domain.journeys.model import JourneyDefinition, Send
from touchflow.domain.journeys.ports import JourneyRecord
from touchflow.domain.journeys.transitions import (
    Advance,
    CallWebhook,
    CreateTask,
    EnrolContact,
    Entered,
    Run,
    RunStatus,
    SendMessage,
    StepRecord,
    UpdateContactEffect,
    advance,
    contact_field,
    may_enter,
)
from touchflow.domain.measurement.attribution_ports import HoldoutAssignment
from touchflow.domain.measurement.holdouts import held_out
from touchflow.domain.measurement.workspace_holdout import WorkspaceGroup, workspace_held_out
from touchflow.domain.outbox import OutboxMessage, TaskRecord
from touchflow.domain.tagging import apply_tag_rules
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.engine.arms import StratifiedArms
from touchflow.engine.catalog import JourneyCatalog
from touchflow.services.assignment import assign_tasks
from touchflow.services.tasks import handoff_notices

__all__ = ["JOURNEY_PRIORITY", "StepBatch"]

JOURNEY_PRIORITY = 500  # a journey's update outranks imported data, not a person's edit
_MAX_ENROL_DEPTH = 5
_UNREAD: Any = object()


def _service_only(definition: JourneyDefinition) -> bool:
    """A journey whose every message is transactional (order confirmations, receipts): the workspace control
    group does not apply, a held-out contact still gets the service they asked for (ADR 0029)."""
    sends = [n for n in definition.nodes.values() if isinstance(n, Send)]
    return bool(sends) and all(n.purpose == "transactional" for n in sends)


class StepBatch:
    def __init__(self, uow: UnitOfWork, catalog: JourneyCatalog, ids: IdFactory, now: datetime) -> None:
        self.uow = uow
        self.catalog = catalog
        self.ids = ids
        self.now = now
        self.new_runs: dict[str, Run] = {}
        self.changed_runs: dict[str, Run] = {}
        self.steps: list[tuple[Run, StepRecord]] = []
        self.outbox: list[OutboxMessage] = []
        self.tasks: list[TaskRecord] = []
        self.updates: list[UpdateContactEffect] = []
        self.enrolments: list[EnrolContact] = []
        self.assignments: list[HoldoutAssignment] = []
        self.entered = 0
        self.advanced = 0
        self._workspace_group: WorkspaceGroup | None = _UNREAD  # read once per batch, on the first entry
        self.arms = StratifiedArms(uow)  # splits under a running experiment: stratified blocks (ADR 0031)

    # --- collecting ------------------------------------------------------------------------------

    def record(self, result: Advance, before: Run | None = None) -> Run:
        run = result.run
        if run.id in self.new_runs:
            self.new_runs[run.id] = run
        elif result.changed or (before is not None and run != before):
            self.changed_runs[run.id] = run
        if result.changed:
            self.advanced += 1
        self.steps.extend((run, step) for step in result.steps)
        for effect in result.effects:
            if isinstance(effect, SendMessage):
                self.outbox.append(OutboxMessage(
                    self.ids.new(self.now), effect.idempotency_key, effect.run_id, effect.contact_id,
                    effect.journey_id, effect.node_id, effect.channel, effect.template,
                    {"fallback": list(effect.fallback), "purpose": effect.purpose,
                     "fallback_window_s": effect.fallback_window.total_seconds(),
                     "retry": {"attempts": effect.retry.attempts, "backoff_s": effect.retry.backoff.total_seconds()}},
                    "queued", 0, self.now, self.now))
            elif isinstance(effect, CallWebhook):
                self.outbox.append(OutboxMessage(
                    self.ids.new(self.now), effect.idempotency_key, effect.run_id, effect.contact_id,
                    effect.journey_id, effect.node_id, "webhook", None,
                    {"url": effect.url, "body": dict(effect.payload),
                     "retry": {"attempts": effect.retry.attempts, "backoff_s": effect.retry.backoff.total_seconds()}},
                    "queued", 0, self.now, self.now))
            elif isinstance(effect, CreateTask):
                self.tasks.append(TaskRecord(self.ids.new(self.now), effect.idempotency_key, effect.contact_id,
                                             effect.run_id, effect.journey_id, effect.node_id, effect.queue,
                                             effect.title, effect.assignee, "open", self.now, effect.due_at))
            elif isinstance(effect, UpdateContactEffect):
                self.updates.append(effect)
            elif isinstance(effect, EnrolContact):
                self.enrolments.append(effect)
        return run

    def enter(self, record: JourneyRecord, definition: JourneyDefinition, facts: ContactFacts,
              previous: list[tuple[datetime, RunStatus]], start_at: datetime | None = None, *,
              entry_key: str | None = None, entry_data: Mapping[str, Any] | None = None) -> Run | None:
        """Apply entry rules and the audience; create the run and take its first steps (or schedule them).

        ``previous``: this contact's runs of the journey (for ``entry_key``: of that key)."""
        if not may_enter(definition, previous, self.now):
            return None
        if not evaluate(targeting(definition.trigger.audience), facts, EvalContext(now=self.now)):
            return None
        assert record.current_version is not None
        run = Run(self.ids.new(self.now), record.id, record.current_version, facts.contact_id, definition.start,
                  "active", self.now, entry_key=entry_key, entry_data=dict(entry_data) if entry_data else None)
        self.entered += 1
        group = self._current_workspace_group()
        if group is not None and not _service_only(definition) and workspace_held_out(group.share, group.key,
                                                                                       facts.contact_id):
            run = replace(run, status="held_out")  # the workspace group first: no journey treats this contact
            self.new_runs[run.id] = run
            self.steps.append((run, StepRecord(definition.start, "entry", self.now, "held_out",
                                               {"holdout": group.key, "workspace_holdout": group.id})))
            return run
        if definition.holdout is not None:  # a control group: the arm is recorded for every entrant (ADR 0029)
            control = held_out(definition.holdout, facts.contact_id, record.key)
            self.assignments.append(HoldoutAssignment(run.id, record.id, run.version, run.contact_id, control,
                                                      self.now))
            if control:
                run = replace(run, status="held_out")
                self.new_runs[run.id] = run
                self.steps.append((run, StepRecord(definition.start, "entry", self.now, "held_out",
                                                   {"holdout": definition.holdout.key})))
                return run
        detail: dict[str, Any] = {}
        arm = self.arms.version_arm(record.id, facts.contact_id)
        if arm is not None and arm[0].version is not None:  # a version experiment: the entrant runs its arm's version
            definition = self.catalog.definition(self.uow, record.id, arm[0].version)
            run = replace(run, version=arm[0].version, node_id=definition.start)
            detail = arm[1]
        if start_at is not None and start_at > self.now:  # "30 days after order_paid": start later
            run = replace(run, wake_at=start_at)
            self.new_runs[run.id] = run
            self.steps.append((run, StepRecord(definition.start, "entry", self.now, "scheduled",
                                               {"starts_at": start_at.isoformat(), **detail})))
            return run
        self.new_runs[run.id] = run
        self.steps.append((run, StepRecord(definition.start, "entry", self.now, "entered", detail)))
        return self.record(advance(definition, run, facts, Entered(), self.now, self.arms))

    def _current_workspace_group(self) -> WorkspaceGroup | None:
        if self._workspace_group is _UNREAD:
            self._workspace_group = self.uow.attribution.current_workspace_group()
        return self._workspace_group

    # --- writing ---------------------------------------------------------------------------------

    def flush(self) -> None:
        self._enrol()
        uow, now = self.uow, self.now
        uow.journeys.insert_runs(list(self.new_runs.values()), now)
        uow.journeys.update_runs([r for r in self.changed_runs.values() if r.id not in self.new_runs], now)
        uow.journeys.add_steps(self.steps)
        uow.attribution.assign(self.assignments)
        self.tasks = assign_tasks(uow, self.tasks, now)  # by the workspace's rules (J11)
        uow.journeys.enqueue([*self.outbox, *handoff_notices(uow, self.tasks, self.ids, now)])
        uow.journeys.add_tasks(self.tasks)
        if self.outbox:  # lifecycle: a message starts as an event of its contact (not routed: nothing waits on it)
            uow.events.insert([(EventInput(f"m_{m.id}_queued", "message_queued", (), now, "touchflow", {
                "message_id": m.id, "channel": m.channel, "journey_id": m.journey_id, "node_id": m.node_id,
                "template": m.template}), m.contact_id) for m in self.outbox], now)
        self._update_contacts()

    def _enrol(self) -> None:
        for _ in range(_MAX_ENROL_DEPTH):
            pending, self.enrolments = self.enrolments, []
            if not pending:
                return
            by_key = {r.key: r for r in self.uow.journeys.all() if r.status == "active" and r.current_version}
            targets = {e.journey_key for e in pending if e.journey_key in by_key}
            contact_ids = {e.contact_id for e in pending}
            facts = self.uow.journeys.load_facts(contact_ids, None, None)
            journey_ids = {by_key[k].id for k in targets}
            history: dict[tuple[str, str], list[tuple[datetime, RunStatus]]] = defaultdict(list)
            for run in [*self.uow.journeys.runs_of(contact_ids, journey_ids), *self.new_runs.values()]:
                history[(run.contact_id, run.journey_id)].append((run.entered_at, run.status))
            for effect in pending:
                record = by_key.get(effect.journey_key)
                if record is None or record.current_version is None:
                    continue
                definition = self.catalog.definition(self.uow, record.id, record.current_version)
                entered = self.enter(record, definition, facts[effect.contact_id],
                                     history[(effect.contact_id, record.id)])
                if entered is not None:
                    history[(effect.contact_id, record.id)].append((entered.entered_at, entered.status))

    def _update_contacts(self) -> None:
        if not self.updates:
            return
        states = self.uow.contacts.load({u.contact_id for u in self.updates})
        rules = self.uow.tag_rules.all()
        for update in self.updates:
            state = states.get(update.contact_id)
            if state is None:
                continue
            stamp = Stamp(f"journey:{update.run_id}", JOURNEY_PRIORITY, self.now)
            for name, value in update.set:
                state.offer(contact_field(name), value, stamp)
            if update.stage:
                state.offer("lifecycle_stage", update.stage, stamp)
            if update.score:
                current: Any = state.values.get("custom.score", 0)
                base = current if isinstance(current, int | float) and not isinstance(current, bool) else 0
                state.values["custom.score"] = base + update.score
                state.lineage["custom.score"] = stamp
            for tag in update.add_tags:
                state.tags.setdefault(tag, stamp.source)
            for tag in update.remove_tags:
                state.tags.pop(tag, None)
            apply_tag_rules(state, rules)
        self.uow.contacts.update(list(states.values()), self.now)
        self.uow.segments.mark_dirty([(cid, "*") for cid in states], self.now)  # journeys change segment facts
