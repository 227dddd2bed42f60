"""The engine's semantics as one pure function: ``advance(journey, run, facts, wake, now)``.

It walks a run through its journey until the run waits or ends, and returns the new run state,
the effects to carry out (messages, contact updates, tasks, webhooks, enrolments) and a trace of
every step with the values that decided it. The runtime only loads facts, calls this, and writes
what it returns in one transaction; the simulator and the tests call it the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from touchflow.domain.conditions.explain import explain
from touchflow.domain.conditions.predicates import (
    ContactFacts,
    EvalContext,
    EventFact,
    PropFilter,
    compare_value,
    evaluate,
    random_bucket,
)
from touchflow.domain.contacts import STANDARD_FIELDS
from touchflow.domain.governance.privacy import targeting
from touchflow.domain.journeys.model import (
    DEFAULT_FALLBACK_WINDOW,
    Branch,
    DateRef,
    Enrol,
    Exit,
    JourneyDefinition,
    Node,
    RetryPolicy,
    Send,
    Split,
    Task,
    UpdateContact,
    Wait,
    WaitEvent,
    Webhook,
)

__all__ = [
    "ACTIVE_STATUSES",
    "Advance",
    "ArmAssigner",
    "CallWebhook",
    "CreateTask",
    "Effect",
    "EnrolContact",
    "Entered",
    "EventArrived",
    "Run",
    "RunStatus",
    "SendMessage",
    "StepRecord",
    "TimerDue",
    "UpdateContactEffect",
    "Wake",
    "advance",
    "contact_field",
    "date_from_data",
    "fail_step",
    "may_enter",
    "props_match",
]

# held_out: the entrant fell in the journey's control group and ended at entry without a message
RunStatus = Literal["active", "waiting", "paused", "completed", "converted", "exited", "failed", "held_out"]
ACTIVE_STATUSES: tuple[RunStatus, ...] = ("active", "waiting", "paused")
MAX_STEPS_PER_ADVANCE = 100
# Who picks a split's path when an experiment runs on it (stratified blocks, ADR 0031): the path index and what
# to record on the step, or None for the plain hash. Without one, every split hashes.
ArmAssigner = Callable[["Run", Split, ContactFacts], tuple[int, Mapping[str, Any]] | None]
DEFAULT_TZ = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    journey_id: str
    version: int
    contact_id: str
    node_id: str
    status: RunStatus
    entered_at: datetime
    wake_at: datetime | None = None
    waiting_for: tuple[str, ...] = ()
    waiting_since: datetime | None = None
    timeout_at: datetime | None = None  # when an event wait gives up; wake_at may come earlier (a recheck)
    step_no: int = 0
    attempts: int = 0
    error: str | None = None
    entry_key: str | None = None  # the value of the journey's entry.key this run is for (an order id)
    entry_data: Mapping[str, Any] | None = None  # the triggering event's properties that waits read later


@dataclass(frozen=True, slots=True)
class Entered:
    pass


@dataclass(frozen=True, slots=True)
class TimerDue:
    pass


@dataclass(frozen=True, slots=True)
class EventArrived:
    event: EventFact


Wake = Entered | TimerDue | EventArrived


@dataclass(frozen=True, slots=True)
class StepRecord:
    node_id: str
    kind: str
    at: datetime
    edge: str | None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SendMessage:
    run_id: str
    contact_id: str
    journey_id: str
    node_id: str
    channel: str
    template: str
    fallback: tuple[str, ...]
    retry: RetryPolicy
    idempotency_key: str
    purpose: str = "marketing"
    fallback_window: timedelta = DEFAULT_FALLBACK_WINDOW


@dataclass(frozen=True, slots=True)
class CallWebhook:
    run_id: str
    contact_id: str
    journey_id: str
    node_id: str
    url: str
    payload: tuple[tuple[str, Any], ...]
    retry: RetryPolicy
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class UpdateContactEffect:
    run_id: str
    contact_id: str
    node_id: str
    set: tuple[tuple[str, Any], ...]
    add_tags: tuple[str, ...]
    remove_tags: tuple[str, ...]
    stage: str | None
    score: int


@dataclass(frozen=True, slots=True)
class CreateTask:
    run_id: str
    contact_id: str
    journey_id: str
    node_id: str
    queue: str
    title: str
    due_at: datetime
    assignee: str | None
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class EnrolContact:
    run_id: str
    contact_id: str
    journey_key: str


Effect = SendMessage | CallWebhook | UpdateContactEffect | CreateTask | EnrolContact


@dataclass
class Advance:
    run: Run
    effects: list[Effect] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.steps)


def may_enter(journey: JourneyDefinition, previous: Sequence[tuple[datetime, RunStatus]], now: datetime) -> bool:
    """Entry rules: one active run at a time, at most ``max_entries``, and the re-entry cooldown."""
    if any(status in ACTIVE_STATUSES for _, status in previous):
        return False
    if len(previous) >= journey.entry.max_entries:
        return False
    if previous and journey.entry.cooldown is not None:
        last = max(at for at, _ in previous)
        if now < last + journey.entry.cooldown:
            return False
    return True


def contact_field(name: str) -> str:
    """Where an attribute named in a journey lives: a standard field, or ``custom.<name>``."""
    return name if name in STANDARD_FIELDS or name.startswith("custom.") else f"custom.{name}"


def props_match(filters: Sequence[PropFilter], properties: Mapping[str, Any]) -> bool:
    return all(compare_value(properties.get(f.prop), f.op, f.value) for f in filters)


def _happened(facts: ContactFacts, types: Sequence[str], filters: Sequence[PropFilter], since: datetime,
              now: datetime) -> EventFact | None:
    for event in facts.events:
        if event.type in types and since <= event.occurred_at <= now and props_match(filters, event.properties):
            return event
    return None


def _wait_matches(node: WaitEvent, run: Run, event: EventFact, now: datetime) -> bool:
    if event.type not in node.events or event.occurred_at > now:
        return False
    if run.waiting_since is not None and event.occurred_at < run.waiting_since:
        return False
    if node.of_message is not None and (event.properties.get("node_id") != node.of_message
                                        or event.properties.get("journey_id") != run.journey_id):
        return False
    return props_match(node.properties, event.properties)


def date_from_data(ref: DateRef, entry_data: Mapping[str, Any], values: Mapping[str, Any],
                   tz_name: str) -> datetime | str:
    """The moment ``ref`` names, or why there is none. A date alone is midnight in the contact's zone."""
    prop = ref.event_property
    raw = entry_data.get(prop) if prop is not None else values.get(contact_field(ref.source))
    if raw is None or raw == "":
        return f"no {ref.source}"
    try:
        moment = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
    except ValueError:
        return f"{ref.source} is not a date: {str(raw)[:40]!r}"
    if moment.tzinfo is None:
        try:
            zone = ZoneInfo(tz_name)
        except (KeyError, ValueError):
            zone = ZoneInfo(DEFAULT_TZ)
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC) + ref.offset


def _next_time_of_day(node: Wait, tz_name: str, now: datetime) -> datetime:
    assert node.until is not None
    try:
        zone = ZoneInfo(tz_name)
    except (KeyError, ValueError):
        zone = ZoneInfo(DEFAULT_TZ)
    local = now.astimezone(zone)
    candidate = local.replace(hour=node.until.hour, minute=node.until.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    while node.weekdays and candidate.weekday() not in node.weekdays:
        candidate += timedelta(days=1)
    return candidate.astimezone(now.tzinfo)


class _Walk:
    """One advance: mutable scratch state around the immutable run."""

    def __init__(self, journey: JourneyDefinition, run: Run, facts: ContactFacts, now: datetime,
                 arms: ArmAssigner | None = None) -> None:
        self.journey = journey
        self.arms = arms
        self.run = run
        self.now = now
        self.facts = facts
        self.result = Advance(run)
        self.ctx = EvalContext(now=now, journey_id=run.journey_id, run_entered_at=run.entered_at)

    def step(self, node: Node, edge: str | None, **detail: Any) -> None:
        self.result.steps.append(StepRecord(node.id, node.kind, self.now, edge, detail))

    def finish(self, status: RunStatus, node_id: str, kind: str, edge: str | None, **detail: Any) -> Advance:
        self.result.steps.append(StepRecord(node_id, kind, self.now, edge, detail))
        self.result.run = replace(self.run, status=status, node_id=node_id, wake_at=None, waiting_for=(),
                                  waiting_since=None, timeout_at=None, attempts=0)
        return self.result

    def ended_by_journey_rules(self) -> Advance | None:
        """Goal (converted) and journey-wide exits are checked before every step."""
        journey, run = self.journey, self.run
        if journey.goal is not None:
            hit = _happened(self.facts, (journey.goal.event,), journey.goal.properties, run.entered_at, self.now)
            if hit is not None:
                amount = hit.properties.get("amount")  # the conversion's revenue, for the metric rollups
                money = {"amount": amount} if isinstance(amount, int | float) and not isinstance(amount, bool) \
                    else {}
                return self.finish("converted", run.node_id, "goal", "converted", event=hit.type,
                                   occurred_at=hit.occurred_at.isoformat(), **money)
        if journey.exit_events:
            hit = _happened(self.facts, journey.exit_events, (), run.entered_at, self.now)
            if hit is not None:
                return self.finish("exited", run.node_id, "exit_rule", "exited", event=hit.type)
        if journey.exit_when is not None and evaluate(journey.exit_when, self.facts, self.ctx):
            return self.finish("exited", run.node_id, "exit_rule", "exited", condition="exit_when")
        return None

    def apply_update(self, node: UpdateContact) -> None:
        values = dict(self.facts.values)
        for name, value in node.set:
            values[contact_field(name)] = value
        if node.stage:
            values["lifecycle_stage"] = node.stage
        tags = (set(self.facts.tags) | set(node.add_tags)) - set(node.remove_tags)
        self.facts = replace(self.facts, values=values, tags=frozenset(tags))

    def walk(self, target: str | None, retrying: bool = False) -> Advance:
        """Execute nodes from ``target`` until a wait or the end; a failing node goes to ``fail_step``."""
        run = self.run
        attempts = run.attempts if retrying else 0
        for _ in range(MAX_STEPS_PER_ADVANCE):
            if target is None:
                return self.finish("completed", run.node_id, "end", None)
            node = self.journey.nodes[target]
            run = self.run = replace(run, node_id=node.id, step_no=run.step_no + 1, status="active",
                                     attempts=attempts, wake_at=None, waiting_for=(), waiting_since=None,
                                     timeout_at=None)
            attempts = 0
            self.result.run = run
            try:
                outcome = self.execute(node, run)
            except Exception as exc:  # a defect in data or definition must not stop other runs
                failed, record, again = fail_step(self.journey, run, f"{type(exc).__name__}: {exc}", self.now)
                self.result.steps.append(record)
                self.result.run = self.run = run = failed
                if again:
                    target = failed.node_id
                    continue
                return self.result
            if isinstance(outcome, Advance):
                return outcome
            target = outcome
            run = self.run
        return self.finish("failed", run.node_id, "engine", "failed",
                           reason=f"more than {MAX_STEPS_PER_ADVANCE} steps without a wait (a loop?)")

    def execute(self, node: Node, run: Run) -> Advance | str | None:
        """One node: its effects and trace; returns the next node id, or the finished Advance."""
        ended = self.ended_by_journey_rules()
        if ended is not None:
            return ended
        key = f"{run.id}:{run.step_no}"
        if isinstance(node, Send):
            self.result.effects.append(SendMessage(run.id, run.contact_id, run.journey_id, node.id, node.channel,
                                                   node.template, node.fallback, node.retry, key, node.purpose,
                                                   node.fallback_window))
            self.step(node, "next", channel=node.channel, template=node.template, message_key=key)
            return node.next
        elif isinstance(node, UpdateContact):
            self.result.effects.append(UpdateContactEffect(run.id, run.contact_id, node.id, node.set,
                                                           node.add_tags, node.remove_tags, node.stage,
                                                           node.score))
            self.apply_update(node)
            self.step(node, "next", add_tags=list(node.add_tags), stage=node.stage)
            return node.next
        elif isinstance(node, Task):
            due = self.now + node.sla
            self.result.effects.append(CreateTask(run.id, run.contact_id, run.journey_id, node.id, node.queue,
                                                  node.title, due, node.assignee, key))
            self.step(node, "next", queue=node.queue, due_at=due.isoformat())
            return node.next
        elif isinstance(node, Webhook):
            self.result.effects.append(CallWebhook(run.id, run.contact_id, run.journey_id, node.id, node.url,
                                                   node.payload, node.retry, key))
            self.step(node, "next", url=node.url, message_key=key)
            return node.next
        elif isinstance(node, Enrol):
            self.result.effects.append(EnrolContact(run.id, run.contact_id, node.journey))
            self.step(node, "next", journey=node.journey)
            return node.next
        elif isinstance(node, Wait):
            zone = str(self.facts.values.get("timezone") or DEFAULT_TZ)
            if node.until_date is not None:
                moment = date_from_data(node.until_date, run.entry_data or {}, self.facts.values, zone)
                if isinstance(moment, str):  # no date to wait for: a reminder without its date would mislead
                    return self.finish("exited", node.id, node.kind, "exited", reason=moment)
                if moment <= self.now:
                    self.step(node, "next", until=moment.isoformat(), passed=True)
                    return node.next
                wake = moment
            elif node.duration is not None:
                wake = self.now + node.duration
            else:
                wake = _next_time_of_day(node, zone, self.now)
            self.step(node, None, until=wake.isoformat())
            self.result.run = replace(run, status="waiting", wake_at=wake)
            return self.result
        elif isinstance(node, WaitEvent):
            wake_at = None if node.timeout is None else self.now + node.timeout
            self.step(node, None, events=list(node.events),
                      timeout_at=wake_at.isoformat() if wake_at else None)
            self.result.run = replace(run, status="waiting", wake_at=wake_at, waiting_for=node.events,
                                      waiting_since=self.now, timeout_at=wake_at)
            return self.result
        elif isinstance(node, Branch):
            values = []
            chosen: tuple[str, str | None] | None = None
            for index, (condition, case_target) in enumerate(node.cases):
                outcome = evaluate(targeting(condition), self.facts, self.ctx)  # PIPL Art. 24 opt-out
                values.append(outcome)
                if outcome:
                    chosen = (f"case[{index}]", case_target)
                    break
            if chosen is None:
                if not node.has_else:
                    return self.finish("completed", node.id, node.kind, "no case matched", conditions=values,
                                       why=[explain(c, self.facts, self.ctx) for c, _ in node.cases])
                chosen = ("else", node.otherwise)
            self.step(node, chosen[0], conditions=values,
                      why=[explain(c, self.facts, self.ctx) for c, _ in node.cases[:len(values)]])
            return chosen[1]
        elif isinstance(node, Split):
            assigned = self.arms(run, node, self.facts) if self.arms is not None else None
            if assigned is not None and 0 <= assigned[0] < len(node.paths):
                self.step(node, f"path[{assigned[0]}]", **assigned[1])
                return node.paths[assigned[0]][1]
            bucket = random_bucket(node.salt, run.contact_id) / 100  # 0 ≤ bucket < 100
            cumulative = 0.0
            edge, chosen_path = f"path[{len(node.paths) - 1}]", node.paths[-1][1]
            for index, (percent, path_target) in enumerate(node.paths):
                cumulative += percent
                if bucket < cumulative:
                    edge, chosen_path = f"path[{index}]", path_target
                    break
            self.step(node, edge, bucket=bucket)
            return chosen_path
        elif isinstance(node, Exit):
            return self.finish(node.outcome, node.id, node.kind, node.outcome)
        raise AssertionError(f"unknown node kind {node.kind}")


def advance(journey: JourneyDefinition, run: Run, facts: ContactFacts, wake: Wake, now: datetime,
            arms: ArmAssigner | None = None) -> Advance:
    """Move ``run`` as far as it can go at ``now``; a run that cannot move comes back unchanged.
    ``arms``: the engine's stratified assigner for splits with a running experiment (else the plain hash)."""
    if run.status not in ("active", "waiting"):
        return Advance(run)
    walk = _Walk(journey, run, facts, now, arms)
    node = journey.nodes.get(run.node_id)
    if node is None:
        return walk.finish("failed", run.node_id, "engine", "failed", reason=f"node {run.node_id!r} not in version")
    if isinstance(wake, Entered) or run.status == "active":
        return walk.walk(run.node_id)
    ended = walk.ended_by_journey_rules()
    if ended is not None:
        return ended
    if isinstance(node, WaitEvent):
        hit: EventFact | None = None
        if isinstance(wake, EventArrived) and _wait_matches(node, run, wake.event, now):
            hit = wake.event
        else:  # an event may have arrived while no one was looking: the facts are the record
            hit = next((e for e in walk.facts.events if _wait_matches(node, run, e, now)), None)
        if hit is not None:
            walk.step(node, "on_event", event=hit.type, occurred_at=hit.occurred_at.isoformat())
            return walk.walk(node.on_event)
        if run.timeout_at is not None and run.timeout_at <= now:
            walk.step(node, "on_timeout")
            return walk.walk(node.on_timeout)
        return Advance(replace(run, wake_at=run.timeout_at))  # a recheck found nothing: sleep until the timeout
    if isinstance(node, Wait):
        if run.wake_at is not None and run.wake_at <= now:
            walk.step(node, "next")
            return walk.walk(node.next)
        return Advance(run)
    # Any other node that waits is waiting to retry after a failure.
    if run.wake_at is not None and run.wake_at <= now:
        return walk.walk(node.id, retrying=True)
    return Advance(run)


def fail_step(journey: JourneyDefinition, run: Run, error: str, now: datetime) -> tuple[Run, StepRecord, bool]:
    """A step raised: retry with backoff, then take ``on_error``, else park the run as failed (J8).

    Returns the new run, a trace record, and whether the run should be advanced again at once
    (it moved to its on_error node).
    """
    node = journey.nodes.get(run.node_id)
    policy = getattr(node, "retry", None) or RetryPolicy()
    attempts = run.attempts + 1
    if attempts < policy.attempts:
        wake = now + policy.backoff * (2 ** (attempts - 1))
        record = StepRecord(run.node_id, "retry", now, None,
                            {"error": error, "attempt": attempts, "retry_at": wake.isoformat()})
        return replace(run, status="waiting", wake_at=wake, attempts=attempts, error=error), record, False
    on_error = getattr(node, "on_error", None)
    if on_error is not None:
        record = StepRecord(run.node_id, "error", now, "on_error", {"error": error, "attempts": attempts})
        return replace(run, node_id=on_error, status="active", attempts=0, error=error), record, True
    record = StepRecord(run.node_id, "error", now, "failed", {"error": error, "attempts": attempts})
    return replace(run, status="failed", wake_at=None, attempts=attempts, error=error), record, False
