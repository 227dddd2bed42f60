"""The journey definition format as a JSON Schema (Draft 2020-12), and validation against it.

The schema describes what ``journey_parse`` accepts, for editors (YAML language servers), the
visual builder and API clients. It is deliberately a little stricter than the parser in two
ways that only ever catch mistakes: unknown keys are rejected (the parser ignores them, so a typo
such as ``timout`` would silently drop a timeout), and event names must be event-type names
(which no recorded event could otherwise match). Keys starting with ``x-`` are free for tools.
Conditions are described permissively; ``predicate_parse`` checks them in full.

docs/journey.schema.json is this schema as published; regenerate it with
``python -m touchflow.domain.journeys.schema > docs/journey.schema.json`` (a test compares them).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from touchflow.domain.channel_names import CHANNEL_ALIASES
from touchflow.domain.conditions.parse import CONDITION_HEADS
from touchflow.domain.journeys.model import CHANNELS

__all__ = ["SchemaProblem", "journey_json_schema", "schema_json", "validate_against_schema"]

Schema = dict[str, Any]

DURATION_PATTERN = r"^\s*(?=[^1-9]*[1-9])(?:\d+\s*d)?\s*(?:\d+\s*h)?\s*(?:\d+\s*m)?\s*(?:\d+\s*s)?\s*$"
TIME_PATTERN = r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$"
EVENT_PATTERN = r"^[a-z][a-z0-9_.]{0,63}$"
NODE_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$"
_EXTENSION: Schema = {"^x-": {}}


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    path: str
    message: str


def _ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


def _text(description: str) -> Schema:
    return {"type": "string", "pattern": r"\S", "description": description}


def _object(properties: Mapping[str, Schema], required: tuple[str, ...] = (), description: str = "",
            **extra: Any) -> Schema:
    """A closed object: only the listed keys (and ``x-…`` keys for tools)."""
    schema: Schema = {"type": "object"}
    if description:
        schema["description"] = description
    schema["properties"] = dict(properties)
    if required:
        schema["required"] = list(required)
    schema["patternProperties"] = dict(_EXTENSION)
    schema["additionalProperties"] = False
    schema.update(extra)
    return schema


def _node(kind: str, description: str, properties: Mapping[str, Schema], required: tuple[str, ...] = (),
          **extra: Any) -> Schema:
    return _object({"kind": {"const": kind}, **properties}, ("kind", *required), description, **extra)


def _trigger(key: str, value: Schema, description: str, others: Mapping[str, Schema] | None = None,
             required: tuple[str, ...] = ()) -> Schema:
    return _object({key: value, **(others or {}), "audience": _ref("condition")}, (key, *required), description)


def _triggers() -> list[Schema]:
    late = {"late_entry": {**_ref("duration"), "description": (
        "How late an entry may still start (default 1d): an event that arrives, or a contact that qualifies, "
        "longer ago than this is history (an import of last month, a contact dormant for a year) and enters "
        "nothing.")}}
    props = {"properties": _ref("properties"), **late}
    return [
        _trigger("event", _ref("event_type"), "When an event happens (J2 behaviour/event triggers).", props),
        _trigger("after_event", _ref("event_type"), "A delay after an event (30 days after order_paid).",
                 {**props, "delay": _ref("duration")}, ("delay",)),
        _trigger("after_attribute", _text("A date attribute of the contact."),
                 "A delay after a date attribute (a subscription start).", {"delay": _ref("duration"), **late}),
        _trigger("inactive_for", _ref("duration"), "No interaction for this long (90 days: dormant).", late),
        _trigger("schedule", _object({"every": _ref("duration"), "at": _ref("time_of_day")}, ("every",)),
                 "Every contact in the audience, on a schedule."),
        _trigger("manual", {"const": True}, "Only by an explicit enrolment (API, enrol node, a person)."),
        _trigger("segment", _text("Segment key."), "When a contact enters or leaves a segment.",
                 {"on": {"enum": ["enter", "exit"], "default": "enter"}, **late}),
    ]


def _action(extra: Mapping[str, Schema]) -> Schema:
    return {**extra, "next": _ref("target"), "on_error": _ref("target")}


def _nodes() -> dict[str, Schema]:
    retry = _object({"attempts": {"type": "integer", "minimum": 1, "maximum": 20, "default": 3},
                     "backoff": _ref("duration")}, description="Retries of a failed send or call; backoff doubles.")
    channel: Schema = {"type": "string", "enum": [*CHANNELS, *CHANNEL_ALIASES],
                       "description": "wechat_mp is the old name of wechat (accepted, with a warning)"}
    text_list: Schema = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    event_list: Schema = {"anyOf": [_ref("event_type"), {"type": "array", "items": _ref("event_type"),
                                                            "minItems": 1}]}
    return {
        "send": _node("send", "Send a message from a template (J8: retry, fallback channels).", _action({
            "channel": channel, "template": _text("Template key."), "retry": retry,
            "fallback": {"anyOf": [channel, {"type": "array", "items": channel}],
                         "description": "Channels tried in order, in the same step, when the channel cannot "
                                        "deliver to the contact: the send fails, or there is no address, it is "
                                        "suppressed or invalid, or a hard bounce comes within fallback_window. "
                                        "Never when a guardrail (cap, quiet hours, consent, fatigue, freeze) "
                                        "says not now."},
            "fallback_window": {**_ref("duration"), "default": "24h",
                                "description": "How long after the send a hard bounce still tries the "
                                               "fallback (0 to 30d)."},
            "purpose": {"enum": ["marketing", "transactional"], "default": "marketing",
                        "description": "Transactional messages (order, password) skip caps, quiet hours and "
                                       "fatigue; never consent, suppression or a complaint freeze."}}),
            ("channel", "template")),
        "update_contact": _node("update_contact", "Set attributes, tags, stage or score.", _action({
            "set": {"type": "object", "description": "Attribute name → value."},
            "add_tags": text_list, "remove_tags": text_list, "stage": _text("Lifecycle stage."),
            "score": {"type": "integer", "description": "Points to add (negative: subtract)."}})),
        "task": _node("task", "Hand the contact to a person (J11).", _action({
            "queue": {"enum": ["sales", "service"]}, "title": _text("What the person should do."),
            "sla": _ref("duration"), "assignee": _text("User who gets the task.")}), ("queue", "title")),
        "webhook": _node("webhook", "Call an external system (CRM, ERP).", _action({
            "url": {"type": "string", "pattern": r"^\s*https?://"}, "payload": {"type": "object"},
            "retry": retry}), ("url",)),
        "enrol": _node("enrol", "Enrol the contact into another journey.", _action({
            "journey": _text("Key of the journey.")}), ("journey",)),
        "wait": _node("wait", "Wait a duration, until a time of day (optionally on weekdays), or until a date "
                              "from the data.", {
            "duration": _ref("duration"), "until": _ref("time_of_day"), "next": _ref("target"),
            "weekdays": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 6},
                         "description": "0 = Monday … 6 = Sunday; empty = any day."},
            "until_date": _object({
                "date": _text("properties.<name> of the triggering event, or a contact attribute "
                              "(custom.coupon_expires_at); ISO date or date-time, a date alone is midnight in "
                              "the contact's time zone."),
                "before": _ref("duration"), "after": _ref("duration")}, ("date",),
                "Until a moment taken from the data, moved earlier (before) or later (after); a moment already "
                "past continues at once, a missing or unreadable one ends the run (exited, with the reason).")},
            oneOf=[{"required": ["duration"]}, {"required": ["until"]}, {"required": ["until_date"]}],
            errorMessage="a wait needs exactly one of duration (e.g. 1d), until (e.g. '09:00') or until_date"),
        "wait_event": _node("wait_event", "Wait for an event (on_event) or a timeout (on_timeout).", {
            "events": event_list, "event": event_list, "timeout": _ref("duration"),
            "on_event": _ref("target"), "on_timeout": _ref("target"), "properties": _ref("properties"),
            "of_message": _text("Only engagement with the message this send node of the run sent.")},
            anyOf=[{"required": ["events"]}, {"required": ["event"]}],
            errorMessage="required: events (the event type(s) to wait for)"),
        "branch": _node("branch", "The first case whose condition holds; else otherwise.", {
            "cases": {"type": "array", "minItems": 1, "items": _object(
                {"if": _ref("condition"), "next": _ref("target")}, ("if",))},
            "else": _ref("target")}, ("cases",)),
        "split": _node("split", "A random split by percentages, stable per contact (experiments).", {
            "paths": {"type": "array", "minItems": 2, "items": _object(
                {"percent": {"type": "number", "exclusiveMinimum": 0, "maximum": 100}, "next": _ref("target")},
                ("percent",)), "description": "Percentages add up to 100."},
            "salt": {"type": "string"}}, ("paths",)),
        "exit": _node("exit", "End the run.", {"outcome": {"enum": ["completed", "exited"], "default": "completed"}}),
    }


def _condition() -> Schema:
    conditions = {"type": "array", "items": _ref("condition"), "minItems": 1}
    text: Schema = {"type": "string"}
    return {
        "description": "A condition (docs/subsystems/conditions.md): exactly one of " + ", ".join(CONDITION_HEADS)
                       + ", with its modifiers; a list means all.",
        "type": ["object", "array"], "items": _ref("condition"), "minItems": 1, "minProperties": 1,
        "properties": {
            "all": conditions, "any": conditions, "not": _ref("condition"), "always": {"const": True},
            "attr": {**text, "description": "A standard field or custom.<name>, with one operator key."},
            "tag": text, "stage": {"anyOf": [text, {"type": "array", "items": text}]},
            "event": {**text, "description": "Event type; with count ('>= 2'), within, where."},
            "no": {**text, "description": "No event of this type (within, where)."},
            "sum": {**text, "description": "<event>.<property>, with one comparison key."},
            "first": {**text, "description": "The earliest matching event: <event>.<property> with one comparison "
                                             "key, or <event> with before/after."},
            "last": {**text, "description": "The latest matching event: <event>.<property> with one comparison "
                                            "key, or <event> with before/after."},
            "before": {**_ref("duration"), "description": "first/last: it occurred at least this long ago."},
            "after": {**_ref("duration"), "description": "first/last: it occurred less than this long ago."},
            "opened": {**text, "description": "A send node of this journey whose message was opened."},
            "clicked": {**text, "description": "A send node of this journey whose message was clicked."},
            "random": {"type": "object", "properties": {"salt": text, "below": {"type": "number"}}},
            "in_segment": {**text, "description": "Key of a segment the contact is a member of."},
            "count": {**text, "description": "A comparison such as '>= 2' or '= 0'."},
            "within": _ref("duration"), "where": {"type": ["object", "array"]},
        },
    }


def journey_json_schema() -> dict[str, Any]:
    """The JSON Schema of a journey definition document."""
    nodes = _nodes()
    exit_item: Schema = {"anyOf": [{"type": "string", "enum": ["unsubscribed", "complained"]},
                                   {"type": "object", "$ref": "#/$defs/condition"}],
                         "description": "unsubscribed, complained, {event: type}, or a condition.",
                         "errorMessage": "use unsubscribed, complained, {event: type} or a condition"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Touchflow journey definition",
        "description": "A trigger and a graph of nodes (SPEC J1–J11). See docs/subsystems/journeys.md.",
        **_object({
            "key": {"type": "string", "pattern": r"^[a-z][a-z0-9_\-]{0,63}$",
                    "errorMessage": "a key of lower-case letters, digits, _ or -, starting with a letter"},
            "name": _text("Display name."),
            "description": {"type": "string"},
            "start": {"type": "string", "pattern": NODE_ID_PATTERN, "description": "Defaults to the first node."},
            "trigger": {"oneOf": _triggers(), "errorMessage": "needs one of: event, after_event, after_attribute, "
                                                               "inactive_for, schedule, manual: true, segment"},
            "entry": _object({"max_entries": {"type": "integer", "minimum": 1, "default": 1},
                              "cooldown": _ref("duration"),
                              "key": {"type": "string", "pattern": r"^properties\.\S+$", "description": (
                                  "One run per value of this property of the triggering event (an order, an "
                                  "appointment); max_entries and cooldown then count runs of that value.")}},
                             description="Re-entry rules."),
            "goal": _object({"event": _ref("event_type"), "properties": _ref("properties")}, ("event",),
                            "The conversion event: a run that sees it ends as converted."),
            "exit_when": {"type": "array", "items": exit_item},
            "holdout": _object({"share": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5,
                                          "errorMessage": "a share above 0 and at most 0.5 (0.1 = 10 %)"},
                                "key": {"type": "string", "pattern": r"^[A-Za-z0-9_\-]{1,64}$", "description": (
                                    "Names the control group: the same key keeps the same contacts out across "
                                    "versions; a new key draws a new group.")},
                                "window": _ref("duration")}, ("share",),
                               "A control group: this share of entrants (stable per contact) gets no message; "
                               "reports compare it with the rest (uplift)."),
            "layout": {"type": "object", "description": (
                "The builder's canvas: node id → {x, y} in pixels, and its sticky notes under _notes. The engine "
                "and the rules ignore it (docs/subsystems/builder.md)."),
                       "properties": {"_notes": {
                           "type": "object", "description": "Sticky notes: note id → {x, y, text}.",
                           "additionalProperties": {"type": "object", "required": ["x", "y", "text"],
                                                    "properties": {"x": {"type": "number"}, "y": {"type": "number"},
                                                                   "text": {"type": "string", "maxLength": 2000}},
                                                    "additionalProperties": False}}},
                       "additionalProperties": {"type": "object", "required": ["x", "y"],
                                                "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                                                "additionalProperties": False}},
            "nodes": {"type": "object", "minProperties": 1,
                      "propertyNames": {"pattern": NODE_ID_PATTERN, "not": {"const": "end"}},
                      "additionalProperties": _ref("node")},
        }, ("key", "trigger", "nodes")),
        "$defs": {
            "duration": {"type": "string", "pattern": DURATION_PATTERN,
                         "description": "90d, 24h, 30m, 45s or combinations in that order (1d12h); above zero.",
                         "errorMessage": "a duration such as 90d, 24h, 30m, 45s or 1d12h (above zero)"},
            "time_of_day": {"type": "string", "pattern": TIME_PATTERN,
                            "description": "HH:MM, quoted in YAML ('09:00').",
                            "errorMessage": "a time of day such as '09:00' (quoted in YAML)"},
            "event_type": {"type": "string", "pattern": EVENT_PATTERN,
                           "errorMessage": "an event type: snake_case, such as order_paid"},
            "target": {"type": ["string", "null"], "pattern": f"^(end|{NODE_ID_PATTERN[1:-1]})$",
                       "description": "A node id, or end (also null or absent) to end the run.",
                       "errorMessage": "a node id or end"},
            "properties": {"type": "object", "description": "Event property filters: a value, or a list (any of).",
                           "additionalProperties": {"type": ["string", "number", "boolean", "array"],
                                                    "items": {"type": ["string", "number", "boolean"]}}},
            "condition": _condition(),
            "node": {"oneOf": [_ref(f"{kind}_node") for kind in nodes],
                     "errorMessage": f"kind must be one of {', '.join(nodes)}"},
            **{f"{kind}_node": schema for kind, schema in nodes.items()},
        },
    }


def schema_json() -> str:
    """The schema as published in docs/journey.schema.json."""
    return json.dumps(journey_json_schema(), indent=2, ensure_ascii=False) + "\n"


# --- validation --------------------------------------------------------------------------------
# Problems are reported at the path journey_parse would name, so the builder can show both the same way.

_ROOT_SCALARS = ("key", "name", "start", "description")  # the parser names these journey.<field>
_JSON_TYPES: Mapping[type, tuple[str, ...]] = {dict: ("object",), list: ("array",), str: ("string",),
                                               bool: ("boolean",), int: ("integer", "number"),
                                               float: ("number",), type(None): ("null",)}


def _join(parts: tuple[Any, ...]) -> str:
    if parts and parts[0] in _ROOT_SCALARS:
        parts = ("journey", *parts)
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "journey"


def _resolve(schema: object, root: Schema) -> Mapping[str, Any]:
    if not isinstance(schema, Mapping):
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and "type" not in schema:
        resolved: Schema = root["$defs"][ref.removeprefix("#/$defs/")]
        return resolved
    return schema


def _type_fits(branch: Mapping[str, Any], instance: object) -> bool:
    declared = branch.get("type")
    if declared is None:
        return True
    declared = [declared] if isinstance(declared, str) else declared
    return any(t in declared for t in _JSON_TYPES.get(type(instance), ()))


def _pick_branch(branches: list[Mapping[str, Any]], instance: object) -> int | None:
    """The oneOf/anyOf branch the parser would take: by ``kind``, by a trigger's key, else by JSON type."""
    for index, branch in enumerate(branches):
        kind = branch.get("properties", {}).get("kind", {}).get("const")
        if kind is not None and isinstance(instance, Mapping) and instance.get("kind") == kind:
            return index
        key = (branch.get("required") or [None])[0]
        if kind is None and key in branch.get("properties", {}) and isinstance(instance, Mapping) and key in instance:
            return index
    fitting = [i for i, b in enumerate(branches) if _type_fits(b, instance)]
    return fitting[0] if len(fitting) == 1 and len(branches) > 1 else None


def _problems(error: ValidationError, root: Schema, base: tuple[Any, ...]) -> Iterator[SchemaProblem]:
    here = (*base, *error.path)
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    hint = schema.get("errorMessage")
    if error.validator in ("oneOf", "anyOf") and isinstance(error.validator_value, list):
        branches = [_resolve(b, root) for b in error.validator_value]
        chosen = _pick_branch(branches, error.instance) if error.context else None
        if chosen is not None:
            for sub in error.context:
                if sub.relative_schema_path and sub.relative_schema_path[0] == chosen:
                    yield from _problems(sub, root, here)
            return
        if branches and all("kind" in b.get("properties", {}) for b in branches):
            yield SchemaProblem(_join((*here, "kind")), str(hint))
            return
        if error.validator == "anyOf" and branches and all(set(b) == {"required"} for b in branches):
            here = (*here, branches[0]["required"][0])
        yield SchemaProblem(_join(here), str(hint or error.message))
        return
    if "propertyNames" in error.schema_path:
        yield SchemaProblem(_join((*here, str(error.instance))), "node ids are letters, digits, _ or - "
                                                                 "(at most 64, starting with a letter) and not 'end'")
        return
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        for name in missing:
            yield SchemaProblem(_join((*here, name)), "required")
        if missing:
            return
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
        for name in error.instance:
            if name not in known and not any(re.search(p, str(name)) for p in patterns):
                yield SchemaProblem(_join((*here, name)), "unknown key (a typo?)")
        return
    if hint and error.validator in ("pattern", "type"):
        yield SchemaProblem(_join(here), f"expected {hint}, got {error.instance!r}")
        return
    yield SchemaProblem(_join(here), error.message)


def _text_keys(data: object, path: tuple[Any, ...], problems: list[SchemaProblem]) -> object:
    """A copy of YAML data without keys that are not text (JSON has none), each reported.

    YAML 1.1 reads unquoted ``on``, ``off``, ``yes`` and ``no`` as true/false, also as keys:
    ``on: exit`` in a segment trigger arrives as ``{True: "exit"}``.
    """
    if isinstance(data, Mapping):
        kept: dict[str, object] = {}
        for key, value in data.items():
            if isinstance(key, str):
                kept[key] = _text_keys(value, (*path, key), problems)
            else:
                shown = json.dumps(key) if isinstance(key, bool | int | float | None) else repr(key)
                problems.append(SchemaProblem(_join((*path, shown)), f"a key must be text, got {shown}; quote it "
                                              "(YAML reads unquoted on/off/yes/no as true/false)"))
        return kept
    if isinstance(data, list):
        return [_text_keys(item, (*path, index), problems) for index, item in enumerate(data)]
    return data


_NODE: Schema = {"$ref": "#/$defs/node"}
_NODE_CACHE_SIZE = 4096


@functools.cache
def _validators() -> tuple[Draft202012Validator, Draft202012Validator]:
    """The compiled validators, built once per process (the schema is code): the whole schema, and the
    same schema with the node values left out, which ``validate_against_schema`` checks one by one."""
    full = journey_json_schema()
    shallow = journey_json_schema()
    shallow["properties"]["nodes"]["additionalProperties"] = True
    return Draft202012Validator(full), Draft202012Validator(shallow)


_node_problems: dict[tuple[str, str], list[SchemaProblem]] = {}


def _problems_of_node(validator: Draft202012Validator, node_id: str, node: object) -> list[SchemaProblem]:
    """What the schema says about one node, remembered by its id and value: an edit on the canvas changes
    one node, and the other nodes' verdicts are the same as for the previous text."""
    key = (node_id, repr(node))
    found = _node_problems.get(key)
    if found is None:
        root = cast(Schema, validator.schema)
        found = [problem for error in validator.descend(node, _NODE, path=node_id)
                 for problem in _problems(error, root, ("nodes",))]
        if len(_node_problems) >= _NODE_CACHE_SIZE:
            _node_problems.clear()
        _node_problems[key] = found
    return found


def validate_against_schema(data: object) -> list[SchemaProblem]:
    """Every problem the schema finds in ``data``, sorted by path; [] when it conforms.

    The same problems, in the same order, as one pass of the whole schema: the document without its node
    values first (the ``nodes`` map's own checks, such as node ids, come before its values there too),
    then each node value against ``#/$defs/node``."""
    full, shallow = _validators()
    root = cast(Schema, full.schema)
    problems: list[SchemaProblem] = []
    data = _text_keys(data, (), problems)
    found: list[SchemaProblem] = [problem for error in shallow.iter_errors(data)
                                  for problem in _problems(error, root, ())]
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if isinstance(nodes, dict):
        for node_id, node in nodes.items():
            found += _problems_of_node(full, node_id, node)
    for problem in found:
        if problem not in problems:
            problems.append(problem)
    return sorted(problems, key=lambda p: p.path)


if __name__ == "__main__":
    print(schema_json(), end="")
