"""Lifecycle stages as data: the stages, the rules that move a contact between them, and dormancy (S1).

The machine is a pure function of the configuration, the contact's current stage, what we know of the
contact and *now*: ``next_stage`` answers one move (or None), ``advance_stage`` follows moves until the
contact settles (a dormant prospect who pays comes back to prospect, then becomes a customer).

Rules are conditions in the one condition language (``domain/conditions/predicates.py``); dormancy is not a condition
(it needs "any interaction", which the language has no word for) but two numbers: how long without an
interaction, and where a returning contact goes back to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.conditions.lookback import event_lookback
from touchflow.domain.conditions.parse import condition_to_data, format_duration, parse_condition, parse_duration
from touchflow.domain.conditions.predicates import Condition, ContactFacts, EvalContext, evaluate, needs_events
from touchflow.domain.errors import PathError

__all__ = [
    "DEFAULT_LIFECYCLE",
    "LifecycleConfig",
    "LifecycleFacts",
    "Stage",
    "StageRule",
    "advance_stage",
    "lifecycle_document",
    "next_stage",
    "parse_lifecycle",
]

MAX_MOVES = 8  # a chain longer than the stage list would be a cycle in the configuration


@dataclass(frozen=True)
class Stage:
    key: str
    label: str


@dataclass(frozen=True)
class StageRule:
    """Move to ``to`` when ``when`` holds and the contact is in one of ``sources`` (empty: any active stage)."""

    name: str
    to: str
    when: Condition
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class LifecycleConfig:
    stages: tuple[Stage, ...]
    initial: str
    rules: tuple[StageRule, ...]
    dormant_stage: str
    dormant_after: timedelta
    dormant_from: tuple[str, ...]  # empty: every active stage
    return_to: str  # "previous" or a stage key
    return_fallback: str

    def stage_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.stages)

    def label(self, key: str | None) -> str:
        return next((s.label for s in self.stages if s.key == key), key or "-")

    def event_types(self) -> frozenset[str]:
        """The event types the rules read (dormancy reads the last interaction instead)."""
        return frozenset(t for r in self.rules for t in (needs_events(r.when) or ()))

    def lookback(self) -> dict[str, timedelta]:
        """How far back the rules read each event type; the types not named need all history."""
        return {t: w for t, w in event_lookback(r.when for r in self.rules).items() if w is not None}


@dataclass(frozen=True)
class LifecycleFacts:
    """What the machine looks at: the contact for conditions, its last interaction and dormancy history."""

    contact: ContactFacts
    created_at: datetime
    last_interaction_at: datetime | None = None
    dormant_since: datetime | None = None  # when it last became dormant
    previous_stage: str | None = None  # the stage it was in before that


def next_stage(config: LifecycleConfig, current: str | None, facts: LifecycleFacts,
               now: datetime) -> tuple[str, str] | None:
    """The one move the contact makes now, as ``(stage, rule name)``, or None when it stays."""
    move = _next_move(config, current, facts, now)
    return None if move is None else (move[0], move[1])


def _next_move(config: LifecycleConfig, current: str | None, facts: LifecycleFacts,
               now: datetime) -> tuple[str, str, datetime] | None:
    """``next_stage`` with the moment the move became due: the qualifying event, not the pass that noticed it."""
    if current is None or current == "":
        return config.initial, "initial", min(facts.created_at, now)
    if current == config.dormant_stage:
        since = facts.dormant_since
        seen = facts.last_interaction_at
        if seen is not None and since is not None and since <= seen <= now:
            back = facts.previous_stage if config.return_to == "previous" else config.return_to
            if back is None or back == config.dormant_stage or back not in config.stage_keys():
                back = config.return_fallback
            return back, "returned", seen
        return None
    if current not in config.stage_keys():
        return None  # a stage set by hand or by an import that the configuration does not know: left alone
    ctx = EvalContext(now=now)
    for rule in config.rules:
        if rule.to == current or (rule.sources and current not in rule.sources):
            continue
        if evaluate(rule.when, facts.contact, ctx):
            return rule.to, rule.name, _qualified_at(rule.when, facts.contact, now)
    if not config.dormant_from or current in config.dormant_from:
        anchor = facts.last_interaction_at or facts.created_at
        if now - anchor >= config.dormant_after:
            return config.dormant_stage, "dormancy", anchor + config.dormant_after
    return None


_QUALIFY_LOOKBACK = 200  # events replayed to find when a rule first held; older history: the oldest of these


def _qualified_at(when: Condition, contact: ContactFacts, now: datetime) -> datetime:
    """The first event time at which ``when`` held with only the events known by then (windows measured from
    that time); ``now`` when no event explains it (an attribute alone, e.g. a score set by hand)."""
    past = sorted((e for e in contact.events if e.occurred_at <= now), key=lambda e: e.occurred_at)
    past = past[-_QUALIFY_LOOKBACK:]
    for i, event in enumerate(past):
        if i + 1 < len(past) and past[i + 1].occurred_at == event.occurred_at:
            continue  # events of one instant are judged together
        known = ContactFacts(contact.contact_id, contact.values, contact.tags, past[:i + 1], contact.segments)
        if evaluate(when, known, EvalContext(now=event.occurred_at)):
            return event.occurred_at
    return now


def advance_stage(config: LifecycleConfig, current: str | None, facts: LifecycleFacts,
                  now: datetime) -> list[tuple[str | None, str, str, datetime]]:
    """Every move until the contact settles: ``[(from, to, rule, at), …]`` (empty when it stays).

    ``at`` is when the move became due (never before the previous move, never after ``now``)."""
    moves: list[tuple[str | None, str, str, datetime]] = []
    stage = current
    dormant_since, previous = facts.dormant_since, facts.previous_stage
    floor: datetime | None = None
    for _ in range(MAX_MOVES):
        step_facts = LifecycleFacts(facts.contact, facts.created_at, facts.last_interaction_at, dormant_since,
                                    previous)
        move = _next_move(config, stage, step_facts, now)
        if move is None or move[0] == stage:
            break
        to, rule, at = move
        at = min(max(at, floor) if floor is not None else at, now)
        floor = at
        if to == config.dormant_stage:
            dormant_since, previous = at, stage
        moves.append((stage, to, rule, at))
        stage = to
    return moves


# --- configuration as data ----------------------------------------------------------------------------

DEFAULT_LIFECYCLE: dict[str, Any] = {
    "stages": [
        {"key": "new_visitor", "label": "新访客"},
        {"key": "prospect", "label": "潜在客户"},
        {"key": "intent", "label": "意向客户"},
        {"key": "customer", "label": "成交客户"},
        {"key": "dormant", "label": "沉睡客户"},
    ],
    "initial": "new_visitor",
    "rules": [  # the first rule that applies moves the contact; moves chain, so history shows each step
        {"name": "signup", "to": "prospect", "from": ["new_visitor"], "when": {"event": "signup"}},
        {"name": "downloads_or_score", "to": "intent", "from": ["new_visitor", "prospect"],
         "when": {"any": [{"event": "content_download", "count": ">= 2"},
                          {"attr": "custom.lead_score", "gte": 50}]}},
        {"name": "order_paid", "to": "customer", "from": ["new_visitor", "prospect", "intent"],
         "when": {"event": "order_paid"}},
    ],
    "dormancy": {"stage": "dormant", "after": "90d", "from": [], "return_to": "previous", "fallback": "prospect"},
}


def _text(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PathError(path, "expected a non-empty text")
    return value.strip()


def _keys(value: object, path: str, known: Sequence[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PathError(path, "expected a list of stage keys")
    return tuple(_key(v, f"{path}[{i}]", known) for i, v in enumerate(value))


def _key(value: object, path: str, known: Sequence[str]) -> str:
    key = _text(value, path)
    if key not in known:
        raise PathError(path, f"unknown stage {key!r}; stages are {', '.join(known)}")
    return key


def parse_lifecycle(data: object) -> LifecycleConfig:
    """A configuration from YAML/JSON data; errors name the element (``rules[1].when.count: …``)."""
    if not isinstance(data, Mapping):
        raise PathError("lifecycle", "expected a mapping with stages, initial, rules and dormancy")
    raw_stages = data.get("stages")
    if not isinstance(raw_stages, list) or len(raw_stages) < 2:
        raise PathError("stages", "expected a list of at least two stages ({key, label})")
    stages: list[Stage] = []
    for i, raw in enumerate(raw_stages):
        if not isinstance(raw, Mapping):
            raise PathError(f"stages[{i}]", "expected {key: …, label: …}")
        key = _text(raw.get("key"), f"stages[{i}].key")
        if any(s.key == key for s in stages):
            raise PathError(f"stages[{i}].key", f"stage {key!r} appears twice")
        stages.append(Stage(key, str(raw.get("label") or key)))
    known = [s.key for s in stages]
    initial = _key(data.get("initial", known[0]), "initial", known)
    rules: list[StageRule] = []
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        raise PathError("rules", "expected a list of rules ({name, to, from, when})")
    for i, raw in enumerate(raw_rules):
        path = f"rules[{i}]"
        if not isinstance(raw, Mapping):
            raise PathError(path, "expected {name, to, from, when}")
        to = _key(raw.get("to"), f"{path}.to", known)
        rules.append(StageRule(_text(raw.get("name", f"rule_{i + 1}"), f"{path}.name"), to,
                               parse_condition(raw.get("when"), f"{path}.when"),
                               _keys(raw.get("from"), f"{path}.from", known)))
    dormancy = data.get("dormancy") or {}
    if not isinstance(dormancy, Mapping):
        raise PathError("dormancy", "expected {stage, after, from, return_to, fallback}")
    dormant = _key(dormancy.get("stage", known[-1]), "dormancy.stage", known)
    return_to = str(dormancy.get("return_to", "previous"))
    if return_to != "previous":
        _key(return_to, "dormancy.return_to", known)
    fallback = _key(dormancy.get("fallback", initial), "dormancy.fallback", known)
    if fallback == dormant:
        raise PathError("dormancy.fallback", "a returning contact cannot fall back to the dormant stage")
    return LifecycleConfig(tuple(stages), initial, tuple(rules), dormant,
                           parse_duration(dormancy.get("after", "90d"), "dormancy.after"),
                           _keys(dormancy.get("from"), "dormancy.from", known), return_to, fallback)


def lifecycle_document(config: LifecycleConfig) -> dict[str, Any]:
    """The inverse of ``parse_lifecycle``, for storing and showing."""
    return {
        "stages": [{"key": s.key, "label": s.label} for s in config.stages],
        "initial": config.initial,
        "rules": [{"name": r.name, "to": r.to, "from": list(r.sources), "when": condition_to_data(r.when)}
                  for r in config.rules],
        "dormancy": {"stage": config.dormant_stage, "after": format_duration(config.dormant_after),
                     "from": list(config.dormant_from), "return_to": config.return_to,
                     "fallback": config.return_fallback},
    }
