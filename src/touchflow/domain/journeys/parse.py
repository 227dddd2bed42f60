"""Parsing journey definitions from plain YAML/JSON data.

Every error names the path of the offending element (``nodes.wait_open.timeout``) so that the
person who wrote the YAML, or the visual builder that generated it, can point at it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import time, timedelta
from typing import Any

from touchflow.domain.channel_names import canonical_channel
from touchflow.domain.conditions.parse import parse_condition, parse_duration
from touchflow.domain.conditions.predicates import Always, Condition, ConditionError, Or, PropFilter
from touchflow.domain.errors import PathError
from touchflow.domain.journeys.model import (
    CHANNELS,
    DEFAULT_FALLBACK_WINDOW,
    EVENT_PROPERTY,
    Branch,
    DateRef,
    Enrol,
    EntryRules,
    Exit,
    Goal,
    JourneyDefinition,
    Node,
    RetryPolicy,
    Send,
    Split,
    Task,
    Trigger,
    UpdateContact,
    Wait,
    WaitEvent,
    Webhook,
    node_edges,
)
from touchflow.domain.measurement.holdouts import MAX_SHARE, Holdout

__all__ = ["DefinitionError", "parse_journey"]

EXIT_SHORTHANDS = {"unsubscribed": "unsubscribe", "complained": "complaint"}
_KEY = re.compile(r"[a-z][a-z0-9_\-]{0,63}")
_NODE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,63}")
_HOLDOUT_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_TIME_OF_DAY = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


class DefinitionError(PathError):
    """A journey definition cannot be used; ``path`` names the offending element."""


def _mapping(data: object, path: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise DefinitionError(path, f"must be a mapping, got {type(data).__name__}")
    bad = next((k for k in data if not isinstance(k, str)), None)
    if bad is not None:
        raise DefinitionError(f"{path}.{str(bad).lower()}",
                              "a key must be text; quote it (YAML reads unquoted on/off/yes/no as true/false)")
    return data


def _text(data: Mapping[str, Any], key: str, path: str, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise DefinitionError(f"{path}.{key}", "required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError(f"{path}.{key}", "must be non-empty text")
    return value.strip()


def _duration(data: Mapping[str, Any], key: str, path: str, required: bool = False) -> timedelta | None:
    value = data.get(key)
    if value is None:
        if required:
            raise DefinitionError(f"{path}.{key}", "required (e.g. 3d, 24h, 30m)")
        return None
    try:
        return parse_duration(value, f"{path}.{key}")
    except ConditionError as exc:
        raise DefinitionError(exc.path, exc.reason) from None


def _condition(data: object, path: str) -> Condition:
    try:
        return parse_condition(data, path)
    except ConditionError as exc:
        raise DefinitionError(exc.path, exc.reason) from None


def _properties(data: object, path: str) -> tuple[PropFilter, ...]:
    if data is None:
        return ()
    filters: list[PropFilter] = []
    for name, expected in _mapping(data, path).items():
        if isinstance(expected, list):
            filters.append(PropFilter(str(name), "in", tuple(expected)))
        elif isinstance(expected, str | int | float | bool):
            filters.append(PropFilter(str(name), "eq", expected))
        else:
            raise DefinitionError(f"{path}.{name}", "must be a value or a list of values")
    return tuple(filters)


def _time_of_day(value: object, path: str) -> time:
    match = _TIME_OF_DAY.fullmatch(str(value).strip())
    if not match:
        raise DefinitionError(path, f"must be a time of day like 09:00, got {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


def _target(data: Mapping[str, Any], key: str, path: str) -> str | None:
    value = data.get(key)
    if value is None or value == "end":
        return None
    if not isinstance(value, str):
        raise DefinitionError(f"{path}.{key}", "must be a node id or 'end'")
    return value


def _entry_key(entry: Mapping[str, Any], trigger: Trigger) -> str | None:
    key = _text(entry, "key", "entry", required=False)
    if key is None:
        return None
    if not key.startswith(EVENT_PROPERTY) or not key.removeprefix(EVENT_PROPERTY):
        raise DefinitionError("entry.key", "must name a property of the triggering event: properties.<name>")
    if trigger.kind not in ("event", "after_event"):
        raise DefinitionError("entry.key", "needs an event or after_event trigger (the event carries the key)")
    return key.removeprefix(EVENT_PROPERTY)


def _date_ref(data: object, path: str) -> DateRef:
    raw = _mapping(data, path)
    source = _text(raw, "date", path)
    assert source is not None
    if source.startswith(EVENT_PROPERTY) and not source.removeprefix(EVENT_PROPERTY):
        raise DefinitionError(f"{path}.date", "name the property: properties.<name>")
    before, after = _duration(raw, "before", path), _duration(raw, "after", path)
    if before is not None and after is not None:
        raise DefinitionError(path, "before or after, not both")
    unknown = sorted(set(raw) - {"date", "before", "after"})
    if unknown:
        raise DefinitionError(f"{path}.{unknown[0]}", "unknown key (date, before, after)")
    return DateRef(source, -before if before is not None else (after or timedelta(0)))


def _trigger(data: object, path: str) -> Trigger:
    trigger = _trigger_kind(data, path)
    raw = _mapping(data, path)
    if "late_entry" in raw:
        if trigger.kind in ("manual", "schedule"):
            raise DefinitionError(f"{path}.late_entry", f"a {trigger.kind} trigger enters on time: no late_entry")
        late = _duration(raw, "late_entry", path)
        assert late is not None
        return replace(trigger, late_entry=late)
    return trigger


def _trigger_kind(data: object, path: str) -> Trigger:
    raw = _mapping(data, path)
    audience = _condition(raw["audience"], f"{path}.audience") if "audience" in raw else Always()
    props = _properties(raw.get("properties"), f"{path}.properties")
    if "event" in raw:
        return Trigger("event", event=_text(raw, "event", path), properties=props, audience=audience)
    if "after_event" in raw:
        return Trigger("after_event", event=_text(raw, "after_event", path), properties=props, audience=audience,
                       delay=_duration(raw, "delay", path, required=True) or timedelta(0))
    if "after_attribute" in raw:
        return Trigger("after_attribute", attribute=_text(raw, "after_attribute", path), audience=audience,
                       delay=_duration(raw, "delay", path) or timedelta(0))
    if "inactive_for" in raw:
        return Trigger("inactivity", inactive_for=_duration(raw, "inactive_for", path, required=True),
                       audience=audience)
    if "schedule" in raw:
        schedule = _mapping(raw["schedule"], f"{path}.schedule")
        every = _duration(schedule, "every", f"{path}.schedule", required=True)
        at = _time_of_day(schedule["at"], f"{path}.schedule.at") if "at" in schedule else None
        return Trigger("schedule", every=every, at=at, audience=audience)
    if raw.get("manual") is True:
        return Trigger("manual", audience=audience)
    if "segment" in raw:
        on = raw.get("on", "enter")
        if on not in ("enter", "exit"):
            raise DefinitionError(f"{path}.on", "must be enter or exit")
        return Trigger("segment", segment=_text(raw, "segment", path), on=on, audience=audience)
    raise DefinitionError(path, "needs one of: event, after_event, after_attribute, inactive_for, schedule, "
                                "manual: true, segment")


def _retry(data: object, path: str) -> RetryPolicy:
    if data is None:
        return RetryPolicy()
    raw = _mapping(data, path)
    attempts = raw.get("attempts", 3)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 20:
        raise DefinitionError(f"{path}.attempts", "must be a whole number from 1 to 20")
    return RetryPolicy(attempts, _duration(raw, "backoff", path) or timedelta(minutes=5))


def _channel(value: object, path: str) -> str:
    """A channel's one name; ``wechat_mp`` reads as ``wechat`` (``journey_lint.alias_findings`` warns)."""
    if isinstance(value, str):
        value = canonical_channel(value)
    if value not in CHANNELS:
        raise DefinitionError(path, f"unknown channel {value!r} (one of {', '.join(CHANNELS)})")
    return str(value)


def _pairs(data: object, path: str) -> tuple[tuple[str, Any], ...]:
    if data is None:
        return ()
    return tuple((str(k), v) for k, v in _mapping(data, path).items())


def _strings(data: object, path: str) -> tuple[str, ...]:
    if data is None:
        return ()
    if isinstance(data, str):
        return (data,)
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise DefinitionError(path, "must be a list of text")
    return tuple(data)


def _node(node_id: str, data: object, key: str, path: str) -> Node:
    raw = _mapping(data, path)
    kind = raw.get("kind")
    on_error = _target(raw, "on_error", path)
    if kind == "send":
        fallback = tuple(_channel(c, f"{path}.fallback[{i}]") for i, c in
                         enumerate(_strings(raw.get("fallback"), f"{path}.fallback")))
        purpose = raw.get("purpose", "marketing")
        if purpose not in ("marketing", "transactional"):
            raise DefinitionError(f"{path}.purpose", f"must be marketing or transactional, not {purpose!r}")
        window = _duration(raw, "fallback_window", path)
        if window is not None and not timedelta(0) <= window <= timedelta(days=30):
            raise DefinitionError(f"{path}.fallback_window", "must be from 0 to 30d (e.g. 24h)")
        return Send(node_id, _channel(raw.get("channel"), f"{path}.channel"),
                    _text(raw, "template", path) or "", _target(raw, "next", path), fallback,
                    _retry(raw.get("retry"), f"{path}.retry"), on_error, purpose,
                    DEFAULT_FALLBACK_WINDOW if window is None else window)
    if kind == "update_contact":
        score = raw.get("score", 0)
        if not isinstance(score, int):
            raise DefinitionError(f"{path}.score", "must be a whole number (points to add or subtract)")
        return UpdateContact(node_id, _target(raw, "next", path), _pairs(raw.get("set"), f"{path}.set"),
                             _strings(raw.get("add_tags"), f"{path}.add_tags"),
                             _strings(raw.get("remove_tags"), f"{path}.remove_tags"),
                             _text(raw, "stage", path, required=False), score, on_error)
    if kind == "task":
        queue = raw.get("queue")
        if queue not in ("sales", "service"):
            raise DefinitionError(f"{path}.queue", "must be sales or service")
        return Task(node_id, queue, _text(raw, "title", path) or "", _target(raw, "next", path),
                    _duration(raw, "sla", path) or timedelta(hours=2), _text(raw, "assignee", path, False), on_error)
    if kind == "webhook":
        url = _text(raw, "url", path) or ""
        if not url.startswith(("http://", "https://")):
            raise DefinitionError(f"{path}.url", "must be an http(s) URL")
        return Webhook(node_id, url, _target(raw, "next", path), _pairs(raw.get("payload"), f"{path}.payload"),
                       _retry(raw.get("retry"), f"{path}.retry"), on_error)
    if kind == "enrol":
        return Enrol(node_id, _text(raw, "journey", path) or "", _target(raw, "next", path), on_error)
    if kind == "wait":
        duration = _duration(raw, "duration", path)
        until = _time_of_day(raw["until"], f"{path}.until") if "until" in raw else None
        until_date = _date_ref(raw["until_date"], f"{path}.until_date") if "until_date" in raw else None
        if sum(x is not None for x in (duration, until, until_date)) != 1:
            raise DefinitionError(path, "a wait needs exactly one of duration (e.g. 1d), until (e.g. 09:00) or "
                                        "until_date (e.g. {date: properties.appointment_at, before: 1d})")
        if until_date is not None:
            if raw.get("weekdays"):
                raise DefinitionError(f"{path}.weekdays", "only with until (a time of day)")
            return Wait(node_id, _target(raw, "next", path), until_date=until_date)
        weekdays = raw.get("weekdays", [])
        if not isinstance(weekdays, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in weekdays):
            raise DefinitionError(f"{path}.weekdays", "must be a list of 0 (Monday) to 6 (Sunday)")
        return Wait(node_id, _target(raw, "next", path), duration, until, tuple(weekdays))
    if kind == "wait_event":
        events = _strings(raw.get("events", raw.get("event")), f"{path}.events")
        if not events:
            raise DefinitionError(f"{path}.events", "required: the event type(s) to wait for")
        return WaitEvent(node_id, events, _duration(raw, "timeout", path), _target(raw, "on_event", path),
                         _target(raw, "on_timeout", path), _properties(raw.get("properties"), f"{path}.properties"),
                         _text(raw, "of_message", path, required=False))
    if kind == "branch":
        cases_raw = raw.get("cases")
        if not isinstance(cases_raw, list) or not cases_raw:
            raise DefinitionError(f"{path}.cases", "required: a list of {if: condition, next: node}")
        cases = []
        for index, case in enumerate(cases_raw):
            case_path = f"{path}.cases[{index}]"
            case_map = _mapping(case, case_path)
            if "if" not in case_map:
                raise DefinitionError(f"{case_path}.if", "required")
            cases.append((_condition(case_map["if"], f"{case_path}.if"), _target(case_map, "next", case_path)))
        return Branch(node_id, tuple(cases), _target(raw, "else", path), "else" in raw)
    if kind == "split":
        paths_raw = raw.get("paths")
        if not isinstance(paths_raw, list) or len(paths_raw) < 2:
            raise DefinitionError(f"{path}.paths", "required: at least two {percent: N, next: node}")
        paths = []
        for index, entry in enumerate(paths_raw):
            entry_path = f"{path}.paths[{index}]"
            entry_map = _mapping(entry, entry_path)
            percent = entry_map.get("percent")
            if not isinstance(percent, int | float) or not 0 < percent <= 100:
                raise DefinitionError(f"{entry_path}.percent", "must be a number above 0 and at most 100")
            paths.append((float(percent), _target(entry_map, "next", entry_path)))
        if abs(sum(p for p, _ in paths) - 100) > 1e-6:
            raise DefinitionError(f"{path}.paths", f"percentages add up to {sum(p for p, _ in paths):g}, not 100")
        return Split(node_id, tuple(paths), str(raw.get("salt") or f"{key}:{node_id}"))
    if kind == "exit":
        outcome = raw.get("outcome", "completed")
        if outcome not in ("completed", "exited"):
            raise DefinitionError(f"{path}.outcome", "must be completed or exited")
        return Exit(node_id, outcome)
    raise DefinitionError(f"{path}.kind", f"unknown node kind {kind!r} (one of send, update_contact, task, "
                                          "webhook, enrol, wait, wait_event, branch, split, exit)")


def parse_journey(data: object) -> JourneyDefinition:
    """A journey from YAML/JSON data; ``DefinitionError`` names the first problem's path."""
    raw = _mapping(data, "journey")
    key = _text(raw, "key", "journey") or ""
    if not _KEY.fullmatch(key):
        raise DefinitionError("journey.key", "lower-case letters, digits, _ or -, starting with a letter")
    nodes_raw = _mapping(raw.get("nodes"), "nodes")
    if not nodes_raw:
        raise DefinitionError("nodes", "a journey needs at least one node")
    nodes: dict[str, Node] = {}
    for node_id, node_data in nodes_raw.items():
        if not isinstance(node_id, str) or not _NODE_ID.fullmatch(node_id) or node_id == "end":
            raise DefinitionError(f"nodes.{node_id}", "node ids are letters, digits, _ or - (and not 'end')")
        nodes[node_id] = _node(node_id, node_data, key, f"nodes.{node_id}")
    for node in nodes.values():
        for edge, target in node_edges(node):
            if target is not None and target not in nodes:
                raise DefinitionError(f"nodes.{node.id}.{_edge_field(edge)}", f"no node named {target!r}")
        if isinstance(node, WaitEvent) and node.of_message is not None:
            sender = nodes.get(node.of_message)
            if not isinstance(sender, Send):
                raise DefinitionError(f"nodes.{node.id}.of_message", f"{node.of_message!r} is not a send node")
    start = _text(raw, "start", "journey", required=False) or next(iter(nodes))
    if start not in nodes:
        raise DefinitionError("journey.start", f"no node named {start!r}")
    entry_raw = _mapping(raw.get("entry", {}), "entry")
    max_entries = entry_raw.get("max_entries", 1)
    if not isinstance(max_entries, int) or max_entries < 1:
        raise DefinitionError("entry.max_entries", "must be a whole number ≥ 1")
    goal = None
    if "goal" in raw:
        goal_raw = _mapping(raw["goal"], "goal")
        goal = Goal(_text(goal_raw, "event", "goal") or "", _properties(goal_raw.get("properties"), "goal.properties"))
    exit_events: list[str] = []
    exit_conditions: list[Condition] = []
    exit_raw = raw.get("exit_when", [])
    if not isinstance(exit_raw, list):
        raise DefinitionError("exit_when", "must be a list (unsubscribed, complained, or {event: type})")
    for index, item in enumerate(exit_raw):
        if isinstance(item, str) and item in EXIT_SHORTHANDS:
            exit_events.append(EXIT_SHORTHANDS[item])
        elif isinstance(item, Mapping) and set(item) == {"event"} and isinstance(item["event"], str):
            exit_events.append(item["event"])
        elif isinstance(item, Mapping):
            exit_conditions.append(_condition(item, f"exit_when[{index}]"))
        else:
            raise DefinitionError(f"exit_when[{index}]", "use unsubscribed, complained, {event: type} or a condition")
    exit_when = (None if not exit_conditions else exit_conditions[0] if len(exit_conditions) == 1
                 else Or(tuple(exit_conditions)))
    trigger = _trigger(raw.get("trigger"), "trigger")
    for node in nodes.values():
        if (isinstance(node, Wait) and node.until_date is not None and node.until_date.event_property
                and trigger.kind not in ("event", "after_event")):
            raise DefinitionError(f"nodes.{node.id}.until_date.date",
                                  "properties.… needs an event or after_event trigger (the event carries the date)")
    holdout = _holdout(raw["holdout"]) if raw.get("holdout") is not None else None
    return JourneyDefinition(
        key=key, name=_text(raw, "name", "journey", required=False) or key,
        trigger=trigger, nodes=nodes, start=start,
        entry=EntryRules(max_entries, _duration(entry_raw, "cooldown", "entry"), _entry_key(entry_raw, trigger)),
        goal=goal, exit_events=tuple(exit_events), exit_when=exit_when,
        description=str(raw.get("description", "")),
        holdout=holdout,
    )


def _holdout(data: object) -> Holdout:
    """``holdout: {share: 0.1, key: q1, window: 14d}``: 0 < share ≤ 0.5 of entrants get no message."""
    raw = _mapping(data, "holdout")
    unknown = {k for k in raw if k not in ("share", "key", "window") and not str(k).startswith("x-")}
    if unknown:
        raise DefinitionError(f"holdout.{sorted(map(str, unknown))[0]}", "unknown field (use share, key, window)")
    share = raw.get("share")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= MAX_SHARE:
        raise DefinitionError("holdout.share", f"a share of entrants above 0 and at most {MAX_SHARE} (0.1 = 10 %)")
    key = raw.get("key", "default")
    if not isinstance(key, str) or not _HOLDOUT_KEY.fullmatch(key):
        raise DefinitionError("holdout.key", "letters, digits, _ or -, at most 64")
    return Holdout(float(share), key, _duration(raw, "window", "holdout"))


def _edge_field(edge: str) -> str:
    if edge.startswith("case["):
        return "cases" + edge[4:] + ".next"
    if edge.startswith("path["):
        return "paths" + edge[4:] + ".next"
    return edge
