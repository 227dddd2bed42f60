"""Segments: who belongs to a named group, written in the one condition language (DESIGN principle 7).

A *dynamic* segment is a condition (``domain/conditions/predicates.py``) kept true of its members as facts
change; a *static* segment is a list of contacts that only people change (imported or hand-picked).
This module is pure: the definition and its checks, the order in which nested segments must be
evaluated, and what entering and leaving mean (a diff, and the events it emits).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from touchflow.domain.conditions.parse import condition_to_data, format_duration, parse_condition, parse_duration
from touchflow.domain.conditions.predicates import (
    And,
    Condition,
    ConditionError,
    EventCount,
    InSegment,
    Not,
    Or,
    RandomBucket,
    needs_events,
    segments_used,
    uses_run_context,
    walk,
)
from touchflow.domain.errors import PathError
from touchflow.domain.events import EventInput

__all__ = [
    "ANY_CHANGE",
    "DEFAULT_REFRESH",
    "ENTERED",
    "LEFT",
    "Direction",
    "MembershipChange",
    "SegmentDefinition",
    "SegmentError",
    "SegmentKind",
    "evaluation_order",
    "membership_diff",
    "membership_events",
    "parse_segment",
    "reactions",
    "segment_reason",
    "segment_to_data",
]

SegmentKind = Literal["dynamic", "static"]
Direction = Literal["enter", "leave"]
ANY_CHANGE = "*"  # the dirty reason for attribute, tag and stage changes: any segment may move either way
ENTERED = "segment_entered"
LEFT = "segment_left"
DEFAULT_REFRESH = timedelta(hours=1)
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_FIELDS = ("key", "name", "kind", "condition", "description", "refresh_every")


class SegmentError(PathError):
    """A segment definition cannot be used; ``path`` names the element (``segment.condition.all[0].tag``)."""


@dataclass(frozen=True, slots=True)
class SegmentDefinition:
    key: str
    name: str
    kind: SegmentKind
    condition: Condition | None = None  # dynamic only
    description: str = ""
    refresh_every: timedelta = DEFAULT_REFRESH  # the safety-net full recompute (time passing moves windows)

    def __post_init__(self) -> None:
        if (self.kind == "dynamic") != (self.condition is not None):
            raise ValueError("a dynamic segment has a condition and a static one has none")

    @property
    def nested(self) -> frozenset[str]:
        """Keys of the segments this one reads (``in_segment``)."""
        return segments_used(self.condition) if self.condition is not None else frozenset()

    @property
    def has_random(self) -> bool:
        return self.condition is not None and any(isinstance(n, RandomBucket) for n in walk(self.condition))


def _text(data: Mapping[str, object], name: str, path: str, *, required: bool = True, limit: int = 200) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise SegmentError(f"{path}.{name}", f"expected a text of 1-{limit} characters, got {value!r}")
    return value.strip()


def parse_segment(data: object, path: str = "segment", *, known: Collection[str] | None = None) -> SegmentDefinition:
    """A segment from YAML/JSON data. ``known``: when given, ``in_segment`` must name one of these keys."""
    if not isinstance(data, Mapping):
        raise SegmentError(path, "expected a mapping with key, name, kind and (for dynamic) condition")
    body = cast(Mapping[str, object], data)
    for name in body:
        if name not in _FIELDS:
            raise SegmentError(f"{path}.{name}", f"unknown field; expected {', '.join(_FIELDS)}")
    key = _text(body, "key", path, limit=64)
    if not _KEY.fullmatch(key):
        raise SegmentError(f"{path}.key", "lower-case letters, digits and _ (starting with a letter), at most 64")
    name = _text(body, "name", path)
    kind = body.get("kind", "dynamic" if "condition" in body else "static")
    if kind not in ("dynamic", "static"):
        raise SegmentError(f"{path}.kind", f"expected dynamic or static, got {kind!r}")
    description = _text(body, "description", path, required=False, limit=2000)
    refresh = (parse_duration(body["refresh_every"], f"{path}.refresh_every") if "refresh_every" in body
               else DEFAULT_REFRESH)
    if kind == "static":
        if "condition" in body:
            raise SegmentError(f"{path}.condition", "a static segment has no condition; its members are listed")
        return SegmentDefinition(key, name, "static", None, description, refresh)
    if "condition" not in body:
        raise SegmentError(f"{path}.condition", "a dynamic segment needs a condition")
    try:
        condition = parse_condition(body["condition"], f"{path}.condition")
    except ConditionError as exc:
        raise SegmentError(exc.path, exc.reason) from exc
    if uses_run_context(condition):
        raise SegmentError(f"{path}.condition", "opened/clicked read a journey run; a segment has none")
    nested = segments_used(condition)
    if key in nested:
        raise SegmentError(f"{path}.condition", f"the segment {key!r} cannot contain itself")
    if known is not None and (unknown := sorted(nested - set(known))):
        raise SegmentError(f"{path}.condition", f"unknown segment(s): {', '.join(unknown)}")
    return SegmentDefinition(key, name, "dynamic", condition, description, refresh)


def segment_to_data(segment: SegmentDefinition) -> dict[str, object]:
    """The data ``parse_segment`` reads back as an equal definition."""
    data: dict[str, object] = {"key": segment.key, "name": segment.name, "kind": segment.kind}
    if segment.condition is not None:
        data["condition"] = condition_to_data(segment.condition)
    if segment.description:
        data["description"] = segment.description
    if segment.refresh_every != DEFAULT_REFRESH:
        data["refresh_every"] = format_duration(segment.refresh_every)
    return data


def evaluation_order(segments: Iterable[SegmentDefinition]) -> list[SegmentDefinition]:
    """Segments ordered so that each comes after the segments it nests (``in_segment``).

    A cycle (a in b, b in a) raises ``SegmentError``; nesting an unknown key is allowed here
    (the membership is empty) because the definitions were checked when they were saved.
    """
    by_key = {s.key: s for s in segments}
    ordered: list[SegmentDefinition] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(key: str, trail: tuple[str, ...]) -> None:
        if state.get(key) == 2 or key not in by_key:
            return
        if state.get(key) == 1:
            raise SegmentError(f"segment.{key}", f"nested segments form a cycle: {' → '.join((*trail, key))}")
        state[key] = 1
        for inner in sorted(by_key[key].nested):
            visit(inner, (*trail, key))
        state[key] = 2
        ordered.append(by_key[key])

    for key in sorted(by_key):
        visit(key, ())
    return ordered


@dataclass(frozen=True, slots=True)
class MembershipChange:
    entered: frozenset[str]
    left: frozenset[str]

    @property
    def empty(self) -> bool:
        return not self.entered and not self.left


def membership_diff(before: Collection[str], after: Collection[str]) -> MembershipChange:
    """Who entered and who left, from the members before and after an evaluation."""
    old, new = set(before), set(after)
    return MembershipChange(frozenset(new - old), frozenset(old - new))


def _event_id(segment_key: str, contact_id: str, kind: str, now: datetime) -> str:
    """Time first (milliseconds, hex), then a digest: a drain's events land together at the end of the event
    id index instead of on a random page each — at ten million events that is most of the write's cost."""
    digest = hashlib.sha256(f"{segment_key}\0{contact_id}\0{kind}\0{now.isoformat()}".encode()).hexdigest()
    return f"seg_{int(now.timestamp() * 1000):012x}_{digest[:32]}"


def membership_events(segment_key: str, change: MembershipChange, now: datetime) -> list[tuple[EventInput, str]]:
    """One ``segment_entered`` / ``segment_left`` event per contact, ready for the event store and inbox.

    Ids are derived from (segment, contact, kind, time), so writing the same change twice stores it once.
    """
    found: list[tuple[EventInput, str]] = []
    for kind, ids in ((ENTERED, change.entered), (LEFT, change.left)):
        for contact_id in sorted(ids):
            found.append((EventInput(_event_id(segment_key, contact_id, kind, now), kind, (), now, "touchflow",
                                     {"segment": segment_key}), contact_id))
    return found


# --- which way a change can move a contact --------------------------------------------------------------------

_BOTH: frozenset[Direction] = frozenset(("enter", "leave"))


def segment_reason(key: str, entered: bool) -> str:
    """The dirty reason for "this contact entered (``+key``) or left (``-key``) segment ``key``": the segments
    nesting ``key`` recheck it. Event type names cannot start with + or -, so the two never collide."""
    return f"{'+' if entered else '-'}{key}"


def _more_is_truer(leaf: EventCount) -> bool | None:
    """One more matching event makes the leaf truer (True), falser (False), or either (None)."""
    if leaf.op in ("gt", "gte"):
        return True
    if leaf.op in ("lt", "lte") or (leaf.op == "eq" and leaf.count == 0):  # "no …" is "exactly 0"
        return False
    if leaf.op == "ne" and leaf.count == 0:
        return True
    return None


def reactions(condition: Condition) -> dict[str, frozenset[Direction]]:
    """For each dirty reason this condition reads, whether that change can make a contact *enter* the
    segment, *leave* it, or both; reasons it does not read are absent (they cannot move anyone).

    A new event only ever adds to a count, so "≥ 2 downloads" can only let non-members in and "no
    purchase" can only push members out: the incremental pass then evaluates non-members or members
    alone, not both. Sums (amounts can be negative) and other aggregates move either way. Time passing
    moves windows in both directions too; that is the scheduled full recompute's job, not this one's.
    """
    found: dict[str, set[Direction]] = {ANY_CHANGE: set(_BOTH)}

    def add(reason: str, directions: frozenset[Direction]) -> None:
        found.setdefault(reason, set()).update(directions)

    def visit(cond: Condition, positive: bool) -> None:
        if isinstance(cond, And | Or):
            for item in cond.items:
                visit(item, positive)
        elif isinstance(cond, Not):
            visit(cond.item, not positive)
        elif isinstance(cond, InSegment):
            add(segment_reason(cond.segment, True), frozenset(("enter" if positive else "leave",)))
            add(segment_reason(cond.segment, False), frozenset(("leave" if positive else "enter",)))
        elif isinstance(cond, EventCount) and (truer := _more_is_truer(cond)) is not None:
            add(cond.event_type, frozenset(("enter" if truer == positive else "leave",)))
        else:
            for event_type in needs_events(cond) or ():
                add(event_type, _BOTH)

    visit(condition, True)
    return {reason: frozenset(directions) for reason, directions in found.items()}
