"""Journey definitions: a trigger and a graph of nodes (J1, J2, J7), as plain frozen data.

``journey_parse`` builds them from YAML/JSON; ``transitions`` gives them their meaning.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any, Literal

from touchflow.domain.conditions.predicates import Always, Condition, PropFilter, segments_used
from touchflow.domain.measurement.holdouts import Holdout

__all__ = [
    "CHANNELS",
    "DEFAULT_FALLBACK_WINDOW",
    "EVENT_PROPERTY",
    "Branch",
    "DateRef",
    "Enrol",
    "EntryRules",
    "Exit",
    "JourneyDefinition",
    "Node",
    "RetryPolicy",
    "Send",
    "Split",
    "Task",
    "Trigger",
    "UpdateContact",
    "Wait",
    "WaitEvent",
    "Webhook",
    "node_edges",
]

CHANNELS = ("email", "sms", "wecom", "wechat", "webhook", "onsite", "capture")


# --- triggers ---------------------------------------------------------------------------------

TriggerKind = Literal["event", "after_event", "after_attribute", "inactivity", "schedule", "manual", "segment"]


DEFAULT_LATE_ENTRY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Trigger:
    """How contacts enter. One dataclass with a ``kind`` keeps storage and the builder simple."""

    kind: TriggerKind
    event: str | None = None  # event, after_event
    properties: tuple[PropFilter, ...] = ()  # filter on the triggering event's properties
    audience: Condition = field(default_factory=Always)  # who may enter (all kinds)
    delay: timedelta = timedelta(0)  # after_event, after_attribute
    attribute: str | None = None  # after_attribute: a date attribute
    inactive_for: timedelta | None = None  # inactivity
    every: timedelta | None = None  # schedule
    at: time | None = None  # schedule: time of day (Asia/Shanghai unless the contact says otherwise)
    segment: str | None = None  # segment (hook: segments arrive with issue 5)
    on: Literal["enter", "exit"] = "enter"
    # How late an entry may still start: an imported event from last month, or a contact dormant for a
    # year, is history, not a reason to send today (everything but manual and schedule triggers).
    late_entry: timedelta = DEFAULT_LATE_ENTRY


@dataclass(frozen=True, slots=True)
class EntryRules:
    max_entries: int = 1
    cooldown: timedelta | None = None  # re-entry allowed this long after the last entry
    # One run per value of this trigger-event property (an order, an appointment) instead of one per
    # contact: the rules above then count runs of that value.
    key: str | None = None


EVENT_PROPERTY = "properties."  # a date or key read from the event that started the run


@dataclass(frozen=True, slots=True)
class DateRef:
    """A moment taken from the data: ``properties.appointment_at`` of the triggering event, or a contact
    attribute (``custom.coupon_expires_at``), moved by ``offset`` (negative: before)."""

    source: str
    offset: timedelta = timedelta(0)

    @property
    def event_property(self) -> str | None:
        return self.source.removeprefix(EVENT_PROPERTY) if self.source.startswith(EVENT_PROPERTY) else None


DEFAULT_FALLBACK_WINDOW = timedelta(hours=24)  # a send's hard bounce reported later than this falls back no more


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    backoff: timedelta = timedelta(minutes=5)  # doubled after each failed attempt


# --- nodes --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    id: str
    channel: str
    template: str
    next: str | None
    fallback: tuple[str, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_error: str | None = None
    purpose: Literal["marketing", "transactional"] = "marketing"  # transactional: no caps, quiet hours, fatigue
    # a hard bounce reported this long after the send still tries the fallback chain; later, the run has moved on
    fallback_window: timedelta = DEFAULT_FALLBACK_WINDOW
    kind: Literal["send"] = "send"


@dataclass(frozen=True, slots=True)
class UpdateContact:
    id: str
    next: str | None
    set: tuple[tuple[str, Any], ...] = ()
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    stage: str | None = None
    score: int = 0
    on_error: str | None = None
    kind: Literal["update_contact"] = "update_contact"


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    queue: Literal["sales", "service"]
    title: str
    next: str | None
    sla: timedelta = timedelta(hours=2)
    assignee: str | None = None
    on_error: str | None = None
    kind: Literal["task"] = "task"


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    next: str | None
    payload: tuple[tuple[str, Any], ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_error: str | None = None
    kind: Literal["webhook"] = "webhook"


@dataclass(frozen=True, slots=True)
class Enrol:
    id: str
    journey: str
    next: str | None
    on_error: str | None = None
    kind: Literal["enrol"] = "enrol"


@dataclass(frozen=True, slots=True)
class Wait:
    """A duration, or until a time of day in the contact's timezone (optionally on given weekdays)."""

    id: str
    next: str | None
    duration: timedelta | None = None
    until: time | None = None
    weekdays: tuple[int, ...] = ()  # 0 = Monday; empty = any day
    until_date: DateRef | None = None  # "1 day before the appointment", "2 days before the coupon expires"
    kind: Literal["wait"] = "wait"


@dataclass(frozen=True, slots=True)
class WaitEvent:
    """Until one of ``events`` happens (leaves by ``on_event``) or ``timeout`` passes (``on_timeout``)."""

    id: str
    events: tuple[str, ...]
    timeout: timedelta | None
    on_event: str | None
    on_timeout: str | None
    properties: tuple[PropFilter, ...] = ()
    of_message: str | None = None  # only engagement with the message this node of the run sent
    kind: Literal["wait_event"] = "wait_event"


@dataclass(frozen=True, slots=True)
class Branch:
    id: str
    cases: tuple[tuple[Condition, str | None], ...]
    otherwise: str | None
    has_else: bool = True
    kind: Literal["branch"] = "branch"


@dataclass(frozen=True, slots=True)
class Split:
    """Random split by percentages, deterministic per contact (experiments)."""

    id: str
    paths: tuple[tuple[float, str | None], ...]
    salt: str
    kind: Literal["split"] = "split"


@dataclass(frozen=True, slots=True)
class Exit:
    id: str
    outcome: Literal["completed", "exited"] = "completed"
    kind: Literal["exit"] = "exit"


Node = Send | UpdateContact | Task | Webhook | Enrol | Wait | WaitEvent | Branch | Split | Exit
ACTION_KINDS = ("send", "update_contact", "task", "webhook", "enrol")


def node_edges(node: Node) -> Iterator[tuple[str, str | None]]:
    """(edge name, target) for every way out of ``node``; target None ends the run."""
    if isinstance(node, Exit):
        return
    if isinstance(node, WaitEvent):
        yield "on_event", node.on_event
        if node.timeout is not None:
            yield "on_timeout", node.on_timeout
        return
    if isinstance(node, Branch):
        for index, (_, target) in enumerate(node.cases):
            yield f"case[{index}]", target
        if node.has_else:
            yield "else", node.otherwise
        return
    if isinstance(node, Split):
        for index, (_, target) in enumerate(node.paths):
            yield f"path[{index}]", target
        return
    yield "next", node.next
    on_error = getattr(node, "on_error", None)
    if on_error is not None:
        yield "on_error", on_error


@dataclass(frozen=True, slots=True)
class Goal:
    event: str
    properties: tuple[PropFilter, ...] = ()


@dataclass(frozen=True)
class JourneyDefinition:
    key: str
    name: str
    trigger: Trigger
    nodes: Mapping[str, Node]
    start: str
    entry: EntryRules = field(default_factory=EntryRules)
    goal: Goal | None = None
    exit_events: tuple[str, ...] = ()
    exit_when: Condition | None = None
    description: str = ""
    holdout: Holdout | None = None  # a control group: this share of entrants gets no message

    def segments_read(self) -> frozenset[str]:
        """The segments this journey depends on: its segment trigger and ``in_segment`` in its conditions."""
        found = {self.trigger.segment} if self.trigger.kind == "segment" and self.trigger.segment else set()
        conditions = [self.trigger.audience, *([self.exit_when] if self.exit_when is not None else [])]
        conditions.extend(c for node in self.nodes.values() if isinstance(node, Branch) for c, _ in node.cases)
        return frozenset(found | {key for c in conditions for key in segments_used(c)})

    def entry_properties(self) -> frozenset[str]:
        """Properties of the triggering event a run keeps for later: its entry key and the dates waits read."""
        names = {self.entry.key} if self.entry.key else set()
        for node in self.nodes.values():
            if isinstance(node, Wait) and node.until_date is not None and node.until_date.event_property:
                names.add(node.until_date.event_property)
        return frozenset(names)

    def event_types(self) -> frozenset[str]:
        """Every event type that can move a run of this journey: triggers, waits, goal, exits."""
        types = set(self.exit_events)
        if self.trigger.event:
            types.add(self.trigger.event)
        if self.goal:
            types.add(self.goal.event)
        for node in self.nodes.values():
            if isinstance(node, WaitEvent):
                types.update(node.events)
        return frozenset(types)
