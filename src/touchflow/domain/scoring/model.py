"""Lead scoring models as data, and the score as a pure function of events, attributes and *now* (S5).

A model gives points per event (optionally only events whose properties match, in the condition
language's ``where`` form), caps a rule's points per period (30 points per 7 days from page views),
gives points per attribute condition, takes points away (negative points), lets event points fade with a
half-life, and names the MQL and SQL thresholds. Because the score depends on nothing else, rescoring is
deterministic: the same events, attributes and *now* give the same score on any machine.

Cap periods are fixed buckets counted from Monday 2000-01-03 00:00 UTC, so ``per: 7d`` means calendar
weeks (UTC) and the same event always falls in the same bucket.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from touchflow.domain.conditions.parse import (
    condition_to_data,
    format_duration,
    parse_condition,
    parse_duration,
    parse_prop_filters,
)
from touchflow.domain.conditions.predicates import (
    Condition,
    ContactFacts,
    EvalContext,
    PropFilter,
    compare_value,
    evaluate,
    needs_events,
)
from touchflow.domain.errors import PathError

__all__ = [
    "CAP_EPOCH",
    "DEFAULT_MODEL",
    "LEVELS",
    "AttributeRule",
    "EventRule",
    "ScoreResult",
    "ScoringModel",
    "crossings",
    "model_document",
    "parse_model",
    "score_contact",
    "score_events",
    "score_with",
    "with_changes",
]

CAP_EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday: 7-day caps are calendar weeks
LEVELS = ("mql", "sql")  # thresholds, lowest first; each emits lead_<level> once when first reached


@dataclass(frozen=True)
class EventRule:
    name: str
    event_type: str
    points: float
    where: tuple[PropFilter, ...] = ()
    cap: float | None = None  # at most this many points (in absolute value) …
    per: timedelta | None = None  # … per period; no period: over the whole lookback


@dataclass(frozen=True)
class AttributeRule:
    name: str
    when: Condition
    points: float


@dataclass(frozen=True)
class ScoringModel:
    name: str
    events: tuple[EventRule, ...]
    attributes: tuple[AttributeRule, ...] = ()
    half_life: timedelta | None = None  # event points halve every half-life; None: no decay
    lookback: timedelta | None = None  # events older than this count for nothing; None: all history
    thresholds: tuple[tuple[str, float], ...] = ()  # ("mql", 50.0), ("sql", 100.0)
    floor: float | None = None  # the score never goes below this (e.g. 0)
    version: int = 0  # given by the store on save

    def threshold(self, level: str) -> float | None:
        return dict(self.thresholds).get(level)

    @cached_property
    def rules_by_type(self) -> dict[str, tuple[tuple[int, EventRule], ...]]:
        by_type: dict[str, list[tuple[int, EventRule]]] = {}
        for index, rule in enumerate(self.events):
            by_type.setdefault(rule.event_type, []).append((index, rule))
        return {t: tuple(rules) for t, rules in by_type.items()}

    def event_types(self) -> frozenset[str]:
        """Every event type the score reads (event rules and attribute conditions)."""
        types = {r.event_type for r in self.events}
        for rule in self.attributes:
            types.update(needs_events(rule.when) or ())
        return frozenset(types)

    def filtered_types(self) -> frozenset[str]:
        """Event types whose properties matter (a rule filters on them): only these need properties loaded."""
        types = {r.event_type for r in self.events if r.where}
        for rule in self.attributes:
            types.update(needs_events(rule.when) or ())
        return frozenset(types)


@dataclass(frozen=True)
class ScoreResult:
    score: float
    parts: dict[str, float] = field(default_factory=dict)  # rule name -> points it contributed


def score_events(model: ScoringModel, events: Iterable[tuple[str, datetime, Mapping[str, object] | None]],
                 now: datetime) -> dict[int, float]:
    """Points per event rule (by index) from ``(type, occurred_at, properties)``, with caps and decay.

    Events are taken in time order; within a rule's period, points beyond the cap are dropped (the event
    that reaches the cap contributes only what is left). Decay applies to the points that counted."""
    by_type = model.rules_by_type
    earliest = None if model.lookback is None else now - model.lookback
    half_life = model.half_life.total_seconds() if model.half_life else None
    totals: dict[int, float] = {}
    used: dict[tuple[int, int], float] = {}  # (rule, period) -> raw points counted so far
    for event_type, at, properties in sorted(((t, a, p) for t, a, p in events if t in by_type),
                                             key=lambda e: (e[1], e[0])):
        if at > now or (earliest is not None and at <= earliest):
            continue
        for index, rule in by_type[event_type]:
            if rule.where and not all(compare_value((properties or {}).get(f.prop), f.op, f.value)
                                      for f in rule.where):
                continue
            points = rule.points
            if rule.cap is not None:
                period = 0 if rule.per is None else int((at - CAP_EPOCH) // rule.per)
                so_far = used.get((index, period), 0.0)
                room = rule.cap - abs(so_far)
                if room <= 0:
                    continue
                if abs(points) > room:
                    points = math.copysign(room, points)
                used[(index, period)] = so_far + points
            if half_life is not None:
                points *= 0.5 ** ((now - at).total_seconds() / half_life)
            totals[index] = totals.get(index, 0.0) + points
    return totals


def score_contact(model: ScoringModel, facts: ContactFacts, now: datetime) -> ScoreResult:
    """The contact's score at ``now``: event points (capped, decayed) plus attribute points."""
    return score_with(model, ((e.type, e.occurred_at, e.properties) for e in facts.events), facts, now)


def score_with(model: ScoringModel, events: Iterable[tuple[str, datetime, Mapping[str, object] | None]],
               facts: ContactFacts, now: datetime) -> ScoreResult:
    """``score_contact`` with the events given apart (as loaded, without building an ``EventFact`` each);
    ``facts`` serve the attribute conditions only."""
    totals = score_events(model, events, now)
    parts = {model.events[i].name: round(p, 4) for i, p in sorted(totals.items())}
    ctx = EvalContext(now=now)
    for rule in model.attributes:
        if evaluate(rule.when, facts, ctx):
            parts[rule.name] = parts.get(rule.name, 0.0) + rule.points
    score = round(math.fsum(parts.values()), 2)
    if model.floor is not None:
        score = max(model.floor, score)
    return ScoreResult(score, parts)


def crossings(model: ScoringModel, score: float, reached: Mapping[str, object]) -> list[str]:
    """The levels (mql, sql) this score reaches that the contact had not reached before."""
    return [level for level, value in model.thresholds if score >= value and reached.get(level) is None]


# --- models as data -----------------------------------------------------------------------------------

DEFAULT_MODEL: dict[str, Any] = {
    "name": "default",
    "half_life": "90d",
    "lookback": "365d",
    "floor": 0,
    "events": [
        {"name": "page_views", "event": "page_view", "points": 1, "cap": 30, "per": "7d"},
        {"name": "downloads", "event": "content_download", "points": 10},
        {"name": "forms", "event": "form_submit", "points": 15},
        {"name": "signup", "event": "signup", "points": 10},
        {"name": "consults", "event": "consult", "points": 20},
        {"name": "offline_events", "event": "offline_event_attended", "points": 15},
        {"name": "email_clicks", "event": "message_clicked", "points": 3, "cap": 15, "per": "7d"},
        {"name": "unsubscribed", "event": "unsubscribe", "points": -20},
        {"name": "complained", "event": "complaint", "points": -30},
    ],
    "attributes": [
        {"name": "has_job_title", "when": {"attr": "job_title", "exists": True}, "points": 5},
        {"name": "has_company", "when": {"attr": "company", "exists": True}, "points": 5},
    ],
    "thresholds": {"mql": 50, "sql": 100},
}


def _number(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PathError(path, f"expected a number, got {value!r}")
    return float(value)


def _name(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise PathError(path, "expected a name (1-100 characters)")
    return value.strip()


def _optional_duration(data: Mapping[str, Any], key: str, path: str) -> timedelta | None:
    return None if data.get(key) is None else parse_duration(data[key], f"{path}.{key}" if path else key)


def _event_rule(raw: object, path: str) -> EventRule:
    if not isinstance(raw, Mapping):
        raise PathError(path, "expected {name, event, points, where, cap, per}")
    event_type = _name(raw.get("event"), f"{path}.event")
    where = parse_prop_filters(raw["where"], f"{path}.where") if raw.get("where") is not None else ()
    cap = None if raw.get("cap") is None else _number(raw["cap"], f"{path}.cap")
    if cap is not None and cap <= 0:
        raise PathError(f"{path}.cap", "a cap must be more than 0 points")
    per = _optional_duration(raw, "per", path)
    if per is not None and cap is None:
        raise PathError(f"{path}.per", "a period needs a cap (cap: 30, per: 7d)")
    return EventRule(_name(raw.get("name", event_type), f"{path}.name"), event_type,
                     _number(raw.get("points"), f"{path}.points"), where, cap, per)


def parse_model(data: object, version: int = 0) -> ScoringModel:
    """A model from YAML/JSON data; errors name the element (``events[2].cap: …``)."""
    if not isinstance(data, Mapping):
        raise PathError("model", "expected a mapping with name, events, attributes, thresholds")
    raw_events = data.get("events") or []
    raw_attributes = data.get("attributes") or []
    if not isinstance(raw_events, list) or not isinstance(raw_attributes, list):
        raise PathError("events" if not isinstance(raw_events, list) else "attributes", "expected a list")
    events = tuple(_event_rule(raw, f"events[{i}]") for i, raw in enumerate(raw_events))
    attributes: list[AttributeRule] = []
    for i, raw in enumerate(raw_attributes):
        if not isinstance(raw, Mapping):
            raise PathError(f"attributes[{i}]", "expected {name, when, points}")
        attributes.append(AttributeRule(_name(raw.get("name", f"attribute_{i + 1}"), f"attributes[{i}].name"),
                                        parse_condition(raw.get("when"), f"attributes[{i}].when"),
                                        _number(raw.get("points"), f"attributes[{i}].points")))
    names = [r.name for r in events] + [r.name for r in attributes]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise PathError("events", f"rule name {duplicate!r} is used twice; names label the score's parts")
    raw_thresholds = data.get("thresholds") or {}
    if not isinstance(raw_thresholds, Mapping):
        raise PathError("thresholds", "expected {mql: 50, sql: 100}")
    unknown = sorted(set(raw_thresholds) - set(LEVELS))
    if unknown:
        raise PathError(f"thresholds.{unknown[0]}", f"expected one of {', '.join(LEVELS)}")
    thresholds = tuple((level, _number(raw_thresholds[level], f"thresholds.{level}"))
                       for level in LEVELS if raw_thresholds.get(level) is not None)
    if len(thresholds) == 2 and thresholds[1][1] < thresholds[0][1]:
        raise PathError("thresholds.sql", "the SQL threshold must not be below the MQL threshold")
    half_life = _optional_duration(data, "half_life", "")
    floor = None if data.get("floor") is None else _number(data["floor"], "floor")
    return ScoringModel(_name(data.get("name", "default"), "name"), events, tuple(attributes), half_life,
                        _optional_duration(data, "lookback", ""), thresholds, floor, version)


def _rule_document(rule: EventRule) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": rule.name, "event": rule.event_type, "points": rule.points}
    if rule.where:
        doc["where"] = [{f.prop: {f.op: list(f.value) if isinstance(f.value, tuple) else f.value}}
                        for f in rule.where]
    if rule.cap is not None:
        doc["cap"] = rule.cap
    if rule.per is not None:
        doc["per"] = format_duration(rule.per)
    return doc


def model_document(model: ScoringModel) -> dict[str, Any]:
    """The inverse of ``parse_model`` (without the version), for storing and showing."""
    doc: dict[str, Any] = {"name": model.name}
    if model.half_life is not None:
        doc["half_life"] = format_duration(model.half_life)
    if model.lookback is not None:
        doc["lookback"] = format_duration(model.lookback)
    if model.floor is not None:
        doc["floor"] = model.floor
    doc["events"] = [_rule_document(r) for r in model.events]
    doc["attributes"] = [{"name": r.name, "when": condition_to_data(r.when), "points": r.points}
                         for r in model.attributes]
    doc["thresholds"] = dict(model.thresholds)
    return doc


def with_changes(model: ScoringModel, thresholds: Sequence[tuple[str, float]] = (),
                 points: Sequence[tuple[str, float]] = ()) -> ScoringModel:
    """A copy with some thresholds and rule points changed (what accepting a calibration proposal does)."""
    new_thresholds = dict(model.thresholds) | dict(thresholds)
    new_points = dict(points)
    events = tuple(replace(r, points=new_points[r.name]) if r.name in new_points else r for r in model.events)
    attributes = tuple(replace(r, points=new_points[r.name]) if r.name in new_points else r
                       for r in model.attributes)
    ordered = tuple((level, new_thresholds[level]) for level in LEVELS if level in new_thresholds)
    return replace(model, events=events, attributes=attributes, thresholds=ordered, version=0)
