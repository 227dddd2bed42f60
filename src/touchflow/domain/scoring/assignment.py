"""Who takes a new hand-off task (J11): rules as data, first match wins.

Rules read the contact: its owner (a custom attribute, ``custom.owner`` by default), its territory
(city, then province → person), its industry, or fall through to a round-robin over a team. A rule
may carry ``when:`` in the one condition language. Round-robin turns are counted by a cursor the
store keeps in one row updated in the task's own transaction, so several workers share one rotation.

    queues: [sales]
    rules:
      - owner: custom.owner
      - territory: {上海: 张三, 江苏: 李四}
      - industry: {制造业: 王五}
        when: {stage: [intent, customer]}
      - round_robin: [小王, 小李, 小张]
        name: east
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from touchflow.domain.conditions.parse import condition_to_data, parse_condition
from touchflow.domain.conditions.predicates import (
    Condition,
    ContactFacts,
    EvalContext,
    evaluate,
    needs_events,
    uses_run_context,
)
from touchflow.domain.errors import PathError

__all__ = [
    "QUEUES",
    "AssignmentError",
    "AssignmentPolicy",
    "AssignmentRule",
    "IndustryRule",
    "OwnerRule",
    "RoundRobinRule",
    "TerritoryRule",
    "decide",
    "policy_event_types",
    "policy_from_document",
    "policy_to_document",
    "round_robin_turns",
]

QUEUES = ("sales", "service")
_HEADS = ("owner", "territory", "industry", "round_robin")
_KEYS = {"owner": ("when",), "territory": ("when", "fields"), "industry": ("when",),
         "round_robin": ("when", "name")}
_PLACE_FIELDS = ("city", "province")


class AssignmentError(PathError):
    """An assignment policy is unusable; ``path`` names the element (``rules[2].territory``)."""


@dataclass(frozen=True)
class OwnerRule:
    field: str = "custom.owner"
    when: Condition | None = None


@dataclass(frozen=True)
class TerritoryRule:
    people: Mapping[str, str]  # place → person
    fields: tuple[str, ...] = _PLACE_FIELDS  # looked at in this order
    when: Condition | None = None


@dataclass(frozen=True)
class IndustryRule:
    people: Mapping[str, str]  # industry → person
    when: Condition | None = None


@dataclass(frozen=True)
class RoundRobinRule:
    team: tuple[str, ...]
    name: str = "default"  # the cursor's name: rules sharing it share one rotation
    when: Condition | None = None


AssignmentRule = OwnerRule | TerritoryRule | IndustryRule | RoundRobinRule


@dataclass(frozen=True)
class AssignmentPolicy:
    queues: tuple[str, ...] = ("sales",)
    rules: tuple[AssignmentRule, ...] = ()


def _person(value: object, path: str) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise AssignmentError(path, "a person (a user id or a name)")
    person = str(value).strip()
    if len(person) > 100:
        raise AssignmentError(path, "at most 100 characters")
    return person


def _people(value: object, path: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not value:
        raise AssignmentError(path, "a mapping of value → person")
    return {str(k).strip(): _person(v, f"{path}.{k}") for k, v in value.items()}


def _rule(data: object, path: str) -> AssignmentRule:
    if not isinstance(data, Mapping):
        raise AssignmentError(path, f"a mapping with one of {', '.join(_HEADS)}")
    heads = [h for h in _HEADS if h in data]
    if len(heads) != 1:
        raise AssignmentError(path, f"a rule has exactly one of {', '.join(_HEADS)}")
    head = heads[0]
    extra = sorted(set(map(str, data)) - {head, *_KEYS[head]})
    if extra:
        raise AssignmentError(f"{path}.{extra[0]}", f"unknown field for a {head} rule")
    when = parse_condition(data["when"], f"{path}.when") if data.get("when") is not None else None
    if when is not None and uses_run_context(when):
        raise AssignmentError(f"{path}.when", "message engagement only makes sense inside a journey")
    body = data[head]
    if head == "owner":
        field = "custom.owner" if body is True or body is None else body
        if not isinstance(field, str) or not field.strip():
            raise AssignmentError(f"{path}.owner", "true, or the field holding the owner (custom.owner)")
        return OwnerRule(field.strip(), when)
    if head == "territory":
        fields = data.get("fields", list(_PLACE_FIELDS))
        if not isinstance(fields, list) or not fields or any(f not in _PLACE_FIELDS for f in fields):
            raise AssignmentError(f"{path}.fields", "a list of city, province")
        return TerritoryRule(_people(body, f"{path}.territory"), tuple(fields), when)
    if head == "industry":
        return IndustryRule(_people(body, f"{path}.industry"), when)
    if not isinstance(body, list) or not body:
        raise AssignmentError(f"{path}.round_robin", "a list of people (the team)")
    team = tuple(_person(p, f"{path}.round_robin[{i}]") for i, p in enumerate(body))
    if len(set(team)) != len(team):
        raise AssignmentError(f"{path}.round_robin", "someone is in the team twice")
    name = data.get("name", "default")
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise AssignmentError(f"{path}.name", "a name of at most 64 characters")
    return RoundRobinRule(team, name.strip(), when)


def policy_from_document(document: Mapping[str, Any]) -> AssignmentPolicy:
    """The policy from a YAML/JSON mapping; errors name the element."""
    extra = sorted(set(map(str, document)) - {"queues", "rules"})
    if extra:
        raise AssignmentError(extra[0], "unknown field; a policy has queues and rules")
    queues = document.get("queues", ["sales"])
    if isinstance(queues, str):
        queues = [queues]
    if not isinstance(queues, list) or any(q not in QUEUES for q in queues):
        raise AssignmentError("queues", f"a list of {', '.join(QUEUES)}")
    raw = document.get("rules", [])
    if not isinstance(raw, list):
        raise AssignmentError("rules", "a list of rules, first match wins")
    rules = tuple(_rule(item, f"rules[{i}]") for i, item in enumerate(raw))
    teams: dict[str, tuple[str, ...]] = {}
    for i, rule in enumerate(rules):
        if isinstance(rule, RoundRobinRule) and teams.setdefault(rule.name, rule.team) != rule.team:
            raise AssignmentError(f"rules[{i}].name", f"another round_robin with other people is named "
                                                      f"{rule.name!r}; give each team its own name")
    return AssignmentPolicy(tuple(dict.fromkeys(queues)), rules)


def policy_to_document(policy: AssignmentPolicy) -> dict[str, Any]:
    """The document ``policy_from_document`` reads back as an equal policy."""
    rules: list[dict[str, Any]] = []
    for rule in policy.rules:
        item: dict[str, Any]
        if isinstance(rule, OwnerRule):
            item = {"owner": rule.field}
        elif isinstance(rule, TerritoryRule):
            item = {"territory": dict(rule.people), "fields": list(rule.fields)}
        elif isinstance(rule, IndustryRule):
            item = {"industry": dict(rule.people)}
        else:
            item = {"round_robin": list(rule.team), "name": rule.name}
        if rule.when is not None:
            item["when"] = condition_to_data(rule.when)
        rules.append(item)
    return {"queues": list(policy.queues), "rules": rules}


def policy_event_types(policy: AssignmentPolicy) -> frozenset[str]:
    """The event types the rules' ``when`` conditions read (to load only those)."""
    types: set[str] = set()
    for rule in policy.rules:
        if rule.when is not None:
            types |= needs_events(rule.when) or frozenset()
    return frozenset(types)


def _text(value: object) -> str | None:
    return None if value is None or (isinstance(value, str) and not value.strip()) else str(value).strip()


def decide(policy: AssignmentPolicy, queue: str, facts: ContactFacts, now: datetime) -> str | RoundRobinRule | None:
    """The person for a new task of ``queue`` about this contact, a round-robin still to turn, or None."""
    if queue not in policy.queues:
        return None
    for rule in policy.rules:
        if rule.when is not None and not evaluate(rule.when, facts, EvalContext(now=now)):
            continue
        if isinstance(rule, RoundRobinRule):
            return rule
        if isinstance(rule, OwnerRule):
            person = _text(facts.values.get(rule.field))
            if person is not None:
                return person
            continue
        places = [_text(facts.values.get(f)) for f in rule.fields] if isinstance(rule, TerritoryRule) \
            else [_text(facts.values.get("industry"))]
        for place in places:
            if place is not None and place in rule.people:
                return rule.people[place]
    return None


def round_robin_turns(rule: RoundRobinRule, start: int, count: int) -> list[str]:
    """The next ``count`` people of the rotation when ``start`` turns have been taken already."""
    return [rule.team[(start + i) % len(rule.team)] for i in range(count)]
