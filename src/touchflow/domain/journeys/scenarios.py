"""Sandbox scenarios (J10): personas, their scripted and probabilistic behaviour, and expectations.

A scenario is plain data, parsed from YAML/JSON by ``parse_scenario``; every error is a
``ScenarioError`` whose ``path`` names the element (``personas[1].events[0].at``). The simulator
(``touchflow.engine.simulator``) gives it its meaning; the format is documented in
docs/subsystems/simulator.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

from touchflow.domain.contacts import Scalar
from touchflow.domain.errors import FieldError
from touchflow.domain.events import JSONValue, validate_event_type, validate_properties
from touchflow.domain.journeys.scenario_fields import (
    ScenarioError,
    format_offset,
    parse_offset,
    read_consent,
    read_keys,
)
from touchflow.domain.journeys.scenario_fields import read_integer as _integer
from touchflow.domain.journeys.scenario_fields import read_list as _list
from touchflow.domain.journeys.scenario_fields import read_mapping as _mapping
from touchflow.domain.journeys.scenario_fields import read_number as _number
from touchflow.domain.journeys.scenario_fields import read_text as _text
from touchflow.domain.journeys.scenario_world import World, parse_world

__all__ = [
    "DEFAULT_START",
    "RUN_STATUSES",
    "Behaviour",
    "CheckKind",
    "Expectation",
    "MessageFilter",
    "Persona",
    "Reaction",
    "Scenario",
    "ScenarioError",
    "ScriptedEvent",
    "format_offset",
    "parse_offset",
    "parse_scenario",
]

CHINA = timezone(timedelta(hours=8))
DEFAULT_START = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA)
RUN_STATUSES = ("active", "waiting", "paused", "completed", "converted", "exited", "failed", "held_out")
CheckKind = Literal["message", "no_message", "max_per_day", "reached", "status"]
MAX_CONTACTS = 100_000
_PERSONA = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,39}")


# --- the model ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScriptedEvent:
    at: timedelta  # from the scenario start; below zero: history, stored before the start and never routed
    type: str
    properties: Mapping[str, JSONValue] = field(default_factory=dict)
    every: timedelta | None = None  # repeat …
    until: timedelta | None = None  # … up to this offset (default: the end)

    def offsets(self, end: timedelta) -> list[timedelta]:
        if self.every is None:
            return [self.at]
        last = min(self.until if self.until is not None else end, end)
        found, at = [], self.at
        while at <= last:
            found.append(at)
            at += self.every
        return found


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """Which messages a reaction or a check is about; an empty filter matches every message."""

    channel: str | None = None
    template: str | None = None
    journey: str | None = None
    node: str | None = None

    def matches(self, channel: str | None, template: str | None, journey: str | None, node: str | None) -> bool:
        return ((self.channel is None or self.channel == channel) and (self.template is None
                or self.template == template) and (self.journey is None or self.journey == journey)
                and (self.node is None or self.node == node))

    def describe(self) -> str:
        parts = [p for p in (self.journey, self.node, self.channel, self.template) if p]
        return "/".join(parts) or "any"


@dataclass(frozen=True, slots=True)
class Reaction:
    """A custom response to matching messages: ``survey_response`` to the survey, for example."""

    event: str
    to: MessageFilter = field(default_factory=MessageFilter)
    properties: Mapping[str, JSONValue] = field(default_factory=dict)
    probability: float = 1.0
    after: timedelta | None = None  # default: the behaviour's delay


@dataclass(frozen=True, slots=True)
class Behaviour:
    """Probabilities per message received. ``click`` ≤ ``open``: a click always comes with an open."""

    open: float = 0.0
    click: float = 0.0
    reply: float = 0.0
    purchase: float = 0.0
    unsubscribe: float = 0.0
    delay: timedelta = timedelta(hours=2)  # message → open; click 5 min later; the rest 1 h after the open
    amount: float = 1000.0  # of a purchase (CNY)
    reactions: tuple[Reaction, ...] = ()


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    count: int = 1
    attributes: Mapping[str, Scalar] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    events: tuple[ScriptedEvent, ...] = ()
    behaviour: Behaviour = field(default_factory=Behaviour)
    consent: Mapping[str, str] = field(default_factory=dict)  # channel -> granted | denied (guardrails read it)
    segments: tuple[str, ...] = ()  # static memberships the sandbox gives every contact of the persona


@dataclass(frozen=True, slots=True)
class Expectation:
    name: str
    kind: CheckKind
    path: str  # where it was written, for errors the simulator finds (an unknown node)
    persona: str | None = None  # None: every persona
    messages: MessageFilter = field(default_factory=MessageFilter)
    between: tuple[timedelta, timedelta] | None = None
    share: float = 1.0  # message, reached, status: at least this share of the persona's contacts
    max_per_day: int = 0
    node: str | None = None
    reached: bool = True
    status: str | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    personas: tuple[Persona, ...]
    expectations: tuple[Expectation, ...] = ()
    seed: int = 1
    start: datetime = DEFAULT_START
    duration: timedelta = timedelta(days=30)
    name: str = ""
    description: str = ""
    contact_pass: bool = False  # run scores, tiers and lifecycle stages each tick (slower; for stage-based flows)
    world: World = field(default_factory=World)  # guardrails, provider behaviour, segments, timed actions

    @property
    def end(self) -> datetime:
        return self.start + self.duration


def _properties(data: object, event_type: str, path: str) -> dict[str, JSONValue]:
    raw = _mapping({} if data is None else data, path)
    try:
        return validate_properties(event_type, dict(raw))
    except FieldError as exc:
        raise ScenarioError(f"{path.rpartition('.')[0]}.{exc.field}", exc.reason) from None


def _event_type(data: Mapping[str, Any], key: str, path: str) -> str:
    text = _text(data, key, path, required=True)
    assert text is not None
    try:
        return validate_event_type(text)
    except FieldError as exc:
        raise ScenarioError(f"{path}.{key}", exc.reason) from None


def _start(value: object, path: str) -> datetime:
    if value is None:
        return DEFAULT_START
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ScenarioError(path, f"expected an ISO date-time such as 2026-03-02T09:00+08:00, got {value!r}"
                                ) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=CHINA)
    if not isinstance(value, datetime):
        raise ScenarioError(path, f"expected an ISO date-time, got {value!r}")
    return value if value.tzinfo is not None else value.replace(tzinfo=CHINA)  # China time unless stated


def _event(data: object, path: str) -> ScriptedEvent:
    raw = _mapping(data, path, ("at", "type", "properties", "every", "until"))
    if "at" not in raw:
        raise ScenarioError(f"{path}.at", "required (an offset from the start, e.g. 0d or 3d2h)")
    event_type = _event_type(raw, "type", path)
    every = parse_offset(raw["every"], f"{path}.every") if "every" in raw else None
    if every is not None and every <= timedelta(0):
        raise ScenarioError(f"{path}.every", "must be longer than zero")
    until = parse_offset(raw["until"], f"{path}.until") if "until" in raw else None
    if until is not None and every is None:
        raise ScenarioError(f"{path}.until", "only with every")
    return ScriptedEvent(parse_offset(raw["at"], f"{path}.at", negative=True), event_type,
                         _properties(raw.get("properties"), event_type, f"{path}.properties"), every, until)


def _filter(raw: Mapping[str, Any], path: str) -> MessageFilter:
    return MessageFilter(_text(raw, "channel", path), _text(raw, "template", path), _text(raw, "journey", path),
                         _text(raw, "node", path))


# What a reaction is about is the message it reacts to: the sandbox sets these from that message.
MESSAGE_IDENTITY = ("message_id", "journey_id", "node_id")


def _reaction(data: object, path: str) -> Reaction:
    raw = _mapping(data, path, ("event", "properties", "probability", "after", "channel", "template",
                                "journey", "node"))
    event_type = _event_type(raw, "event", path)
    after = parse_offset(raw["after"], f"{path}.after") if "after" in raw else None
    given = _mapping({} if raw.get("properties") is None else raw["properties"], f"{path}.properties")
    for key in MESSAGE_IDENTITY:
        if key in given:
            raise ScenarioError(f"{path}.properties.{key}", "set by the sandbox: a reaction is about the message "
                                "it reacts to (narrow which messages with channel, template, journey, node)")
    # validated as sent: with the message reacted to filled in (message_clicked requires its id …)
    implicit = dict.fromkeys((*MESSAGE_IDENTITY, "channel", "template"), "sandbox")
    checked = _properties({**implicit, **given}, event_type, f"{path}.properties")
    properties = {k: v for k, v in checked.items() if k in given}
    return Reaction(event_type, _filter(raw, path), properties, _number(raw, "probability", path, 1.0, 0.0, 1.0),
                    after)


def _behaviour(data: object, path: str) -> Behaviour:
    raw = _mapping({} if data is None else data, path, ("open", "click", "reply", "purchase", "unsubscribe",
                                                         "delay", "amount", "reactions"))
    p = {k: _number(raw, k, path, 0.0, 0.0, 1.0) for k in ("open", "click", "reply", "purchase", "unsubscribe")}
    if p["click"] > p["open"]:
        raise ScenarioError(f"{path}.click", f"a click needs an open: click ({p['click']:g}) must not exceed "
                            f"open ({p['open']:g})")
    delay = parse_offset(raw["delay"], f"{path}.delay") if "delay" in raw else timedelta(hours=2)
    reactions = tuple(_reaction(r, f"{path}.reactions[{i}]")
                      for i, r in enumerate(_list(raw.get("reactions", []), f"{path}.reactions")))
    return Behaviour(p["open"], p["click"], p["reply"], p["purchase"], p["unsubscribe"], delay,
                     _number(raw, "amount", path, 1000.0), reactions)


def _persona(data: object, path: str) -> Persona:
    raw = _mapping(data, path, ("name", "count", "attributes", "tags", "events", "behaviour", "behavior",
                                "description", "consent", "segments"))
    name = _text(raw, "name", path, required=True)
    assert name is not None
    if not _PERSONA.fullmatch(name):
        raise ScenarioError(f"{path}.name", f"letters, digits, _ or -, starting with a letter (≤ 40), got {name!r}")
    attributes: dict[str, Scalar] = {}
    for key, value in _mapping(raw.get("attributes", {}), f"{path}.attributes").items():
        if isinstance(value, date):  # YAML reads 2024-05-01 as a date
            value = value.isoformat()
        if not isinstance(value, str | int | float | bool):
            raise ScenarioError(f"{path}.attributes.{key}", f"expected a text, number or boolean, got {value!r}")
        attributes[key] = value
    tags = _list(raw.get("tags", []), f"{path}.tags")
    for index, tag in enumerate(tags):
        if not isinstance(tag, str) or not tag.strip() or "," in tag:
            raise ScenarioError(f"{path}.tags[{index}]", f"expected a tag without commas, got {tag!r}")
    events = tuple(_event(e, f"{path}.events[{i}]")
                   for i, e in enumerate(_list(raw.get("events", []), f"{path}.events")))
    behaviour = _behaviour(raw.get("behaviour", raw.get("behavior")), f"{path}.behaviour")
    return Persona(name, _integer(raw, "count", path, 1, 1, MAX_CONTACTS), attributes,
                   tuple(t.strip() for t in tags), events, behaviour,
                   read_consent(raw.get("consent"), f"{path}.consent"),
                   read_keys(raw.get("segments"), f"{path}.segments"))


_CHECK_KEYS = ("name", "persona", "channel", "template", "journey", "between", "share", "no_message",
               "max_per_day", "node", "reached", "status")
_NOT_USED: dict[CheckKind, tuple[str, ...]] = {"max_per_day": ("journey", "template", "between"),
                                                "reached": ("channel", "template"),
                                                "status": ("channel", "template", "between")}
_KIND_KEYS: tuple[tuple[CheckKind, str], ...] = (("no_message", "no_message"), ("max_per_day", "max_per_day"),
                                                 ("reached", "node"), ("status", "status"))


def _kind(raw: Mapping[str, Any], path: str) -> CheckKind:
    kinds = [kind for kind, key in _KIND_KEYS if key in raw]
    if len(kinds) > 1:
        raise ScenarioError(path, f"one check per entry: found {' and '.join(kinds)}")
    if kinds:
        return kinds[0]
    if "channel" in raw or "template" in raw:
        return "message"
    raise ScenarioError(path, "say what to check: channel/template (a message), no_message, max_per_day, "
                              "node (reached) or status")


def _expectation(data: object, path: str, personas: Sequence[str]) -> Expectation:
    raw = _mapping(data, path, _CHECK_KEYS)
    kind = _kind(raw, path)
    persona = _text(raw, "persona", path)
    if persona is not None and persona not in personas:
        raise ScenarioError(f"{path}.persona", f"no persona named {persona!r} (personas: {', '.join(personas)})")
    if persona is None and kind != "max_per_day":
        raise ScenarioError(f"{path}.persona", f"required for a {kind} check")
    between = None
    if "between" in raw:
        pair = _list(raw["between"], f"{path}.between")
        if len(pair) != 2:
            raise ScenarioError(f"{path}.between", "expected [from, to], e.g. [3d, 3d1h]")
        low, high = (parse_offset(v, f"{path}.between[{i}]") for i, v in enumerate(pair))
        if high < low:
            raise ScenarioError(f"{path}.between[1]", "must not be before between[0]")
        between = (low, high)
    allows_share = kind in ("message", "status") or (kind == "reached" and raw.get("reached", True) is True)
    if "share" in raw and not allows_share:
        raise ScenarioError(f"{path}.share", f"not used by a {kind} check (it must hold for every contact)")
    share = _number(raw, "share", path, 1.0, 0.0, 1.0)
    messages = _filter({k: raw[k] for k in ("channel", "template", "journey") if k in raw}, path)
    name = _text(raw, "name", path)
    for key in _NOT_USED.get(kind, ()):
        if key in raw:
            raise ScenarioError(f"{path}.{key}", f"not used by a {kind} check")
    found = Expectation(name or "", kind, path, persona, messages, between, share)
    if kind == "no_message" and raw["no_message"] is not True:
        raise ScenarioError(f"{path}.no_message", "expected true (narrow it with channel, template, between)")
    if kind == "max_per_day":
        found = replace(found, max_per_day=_integer(raw, "max_per_day", path, 0, 0, 1000))
    elif kind == "reached":
        reached = raw.get("reached", True)
        if not isinstance(reached, bool):
            raise ScenarioError(f"{path}.reached", f"expected true or false, got {reached!r}")
        found = replace(found, node=_text(raw, "node", path, required=True), reached=reached)
    elif kind == "status":
        status = _text(raw, "status", path, required=True)
        if status not in RUN_STATUSES:
            raise ScenarioError(f"{path}.status", f"expected one of {', '.join(RUN_STATUSES)}, got {status!r}")
        found = replace(found, status=status)
    return found if name else replace(found, name=_default_name(found))


def _default_name(e: Expectation) -> str:
    who = e.persona or "every persona"
    window = f" between {format_offset(e.between[0])} and {format_offset(e.between[1])}" if e.between else ""
    if e.kind == "message":
        return f"{who} gets {e.messages.describe()}{window}"
    if e.kind == "no_message":
        return f"{who} gets no {e.messages.describe() if e.messages != MessageFilter() else 'message'}{window}"
    if e.kind == "max_per_day":
        return f"{who}: at most {e.max_per_day} message(s) a day"
    if e.kind == "reached":
        return f"{who} {'reaches' if e.reached else 'never reaches'} {e.node}{window}"
    return f"{who} ends {e.status}" + (f" in {e.messages.journey}" if e.messages.journey else "")


def parse_scenario(data: object) -> Scenario:
    """YAML/JSON data → ``Scenario``; raises ``ScenarioError`` naming the offending path."""
    raw = _mapping(data, "scenario", ("name", "description", "seed", "start", "duration", "personas", "expect",
                                      "contact_pass", "guardrails", "channels", "segments", "actions"))
    contact_pass = raw.get("contact_pass", False)
    if not isinstance(contact_pass, bool):
        raise ScenarioError("contact_pass", f"expected true or false, got {contact_pass!r}")
    seed = raw.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ScenarioError("seed", f"expected a whole number, got {seed!r}")
    duration = parse_offset(raw.get("duration", "30d"), "duration")
    if not timedelta(0) < duration <= timedelta(days=3650):
        raise ScenarioError("duration", "must be above zero and at most 3650d")
    personas = tuple(_persona(p, f"personas[{i}]") for i, p in enumerate(_list(raw.get("personas"), "personas")))
    if not personas:
        raise ScenarioError("personas", "at least one persona is needed")
    seen: dict[str, int] = {}
    for index, persona in enumerate(personas):
        if persona.name.lower() in seen:
            raise ScenarioError(f"personas[{index}].name", f"{persona.name!r} is already personas"
                                f"[{seen[persona.name.lower()]}] (names are compared ignoring case)")
        seen[persona.name.lower()] = index
    if sum(p.count for p in personas) > MAX_CONTACTS:
        raise ScenarioError("personas", f"at most {MAX_CONTACTS} contacts in all")
    names = [p.name for p in personas]
    expectations = tuple(_expectation(e, f"expect[{i}]", names)
                         for i, e in enumerate(_list(raw.get("expect", []), "expect")))
    return Scenario(personas, expectations, seed, _start(raw.get("start"), "start"), duration,
                    _text(raw, "name", "scenario") or "", _text(raw, "description", "scenario") or "", contact_pass,
                    parse_world(raw, names, duration))
