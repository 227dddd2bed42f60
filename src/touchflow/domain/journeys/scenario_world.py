"""The world a sandbox scenario runs in: guardrail policy, provider behaviour, segments, timed actions.

Personas say how people behave; this says how the workspace around them behaves — quiet hours
and caps (``guardrails``), a provider that rejects some contacts' messages (``channels``), the
segments journeys read (``segments``), and what a marketer does during the run: pause or resume
a journey, publish a new version, complete a task, lift a freeze (``actions``). Parsed here,
pure; the simulator (``touchflow.engine.simulator``) applies it. Errors name their path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from touchflow.domain.guardrails.model import ADDRESS_KIND, policy_document, policy_from_document
from touchflow.domain.journeys.parse import DefinitionError, parse_journey
from touchflow.domain.journeys.scenario_fields import (
    ScenarioError,
    parse_offset,
    read_integer,
    read_list,
    read_mapping,
    read_text,
)
from touchflow.domain.segments.model import SegmentError, parse_segment

__all__ = ["ActionKind", "ChannelRule", "ScenarioAction", "World", "parse_world"]

ActionKind = Literal["pause", "resume", "publish", "complete_task", "unfreeze"]
ACTION_KINDS: tuple[ActionKind, ...] = ("pause", "resume", "publish", "complete_task", "unfreeze")
SANDBOX_CHANNELS = (*ADDRESS_KIND, "webhook")
Failure = Literal["permanent", "transient"]


@dataclass(frozen=True, slots=True)
class ChannelRule:
    """The provider of ``channel`` fails for the contacts it selects: every persona when neither is given."""

    channel: str
    fail: Failure
    persona: str | None = None
    contact: str | None = None  # a persona contact: ``intent_a-2`` or its e-mail address
    times: int | None = None  # transient: fail this many attempts, then accept (default: every attempt)
    error: str = ""

    def selects(self, persona: str, label: str, email: str) -> bool:
        if self.persona is not None and self.persona != persona:
            return False
        return self.contact is None or self.contact.lower() in (label, email)


@dataclass(frozen=True, slots=True)
class ScenarioAction:
    """Something a person does at ``at``: ``target`` is a journey key (pause, resume, publish) or a persona
    (complete_task, unfreeze; ``contact`` narrows it to one of its contacts)."""

    at: timedelta
    kind: ActionKind
    path: str
    target: str
    contact: str | None = None
    queue: str | None = None  # complete_task: only tasks of this queue
    definition: Mapping[str, Any] | None = None  # publish: the new version, as journey YAML/JSON data


@dataclass(frozen=True, slots=True)
class World:
    guardrails: Mapping[str, object] | None = None  # a policy document, as ``touchflow guardrails set`` takes
    channels: tuple[ChannelRule, ...] = ()
    segments: tuple[Mapping[str, Any], ...] = ()
    actions: tuple[ScenarioAction, ...] = ()

    def published(self) -> list[tuple[str, Mapping[str, Any]]]:
        """(path, definition) of every version the actions publish."""
        return [(a.path, a.definition) for a in self.actions if a.definition is not None]


def _guardrails(data: object) -> Mapping[str, object]:
    raw = read_mapping(data, "guardrails", ("cap", "quiet_hours", "fatigue", "consent_required",
                                            "default_timezone"))
    try:
        return policy_document(policy_from_document(raw))
    except ValueError as exc:  # "cap.per_day: … must be …"
        where, _, reason = str(exc).partition(": ")
        if not reason or " " in where:
            where, reason = "", str(exc)
        raise ScenarioError(f"guardrails.{where}".rstrip("."), reason) from None


def _channels(data: object, personas: Sequence[str]) -> tuple[ChannelRule, ...]:
    rules: list[ChannelRule] = []
    for channel, entries in read_mapping(data, "channels").items():
        path = f"channels.{channel}"
        if channel not in SANDBOX_CHANNELS:
            raise ScenarioError(path, f"unknown channel (expected one of: {', '.join(SANDBOX_CHANNELS)})")
        for index, entry in enumerate(read_list(entries, path)):
            where = f"{path}[{index}]"
            raw = read_mapping(entry, where, ("fail", "persona", "contact", "times", "error"))
            fail = read_text(raw, "fail", where, required=True)
            if fail not in ("permanent", "transient"):
                raise ScenarioError(f"{where}.fail", f"expected permanent or transient, got {fail!r}")
            persona = read_text(raw, "persona", where)
            if persona is not None and persona not in personas:
                raise ScenarioError(f"{where}.persona", f"no persona named {persona!r} (personas: "
                                    f"{', '.join(personas)})")
            contact = read_text(raw, "contact", where)
            if contact is not None and not any(contact.lower().startswith(f"{p.lower()}-") for p in personas):
                raise ScenarioError(f"{where}.contact", f"expected a persona contact such as "
                                    f"{personas[0].lower()}-1 or its e-mail address, got {contact!r}")
            times = read_integer(raw, "times", where, 0, 1, 100) if "times" in raw else None
            if times is not None and fail != "transient":
                raise ScenarioError(f"{where}.times", "only for a transient failure (a permanent one never passes)")
            rules.append(ChannelRule(channel, "permanent" if fail == "permanent" else "transient", persona, contact,
                                     times, read_text(raw, "error", where) or f"sandbox: {fail} failure"))
    return tuple(rules)


def _segments(data: object) -> tuple[Mapping[str, Any], ...]:
    found: list[Mapping[str, Any]] = []
    keys: list[str] = []
    for index, entry in enumerate(read_list(data, "segments")):
        path = f"segments[{index}]"
        try:
            definition = parse_segment(entry, path, known=keys)
        except SegmentError as exc:
            raise ScenarioError(exc.path, exc.reason) from None
        if definition.key in keys:
            raise ScenarioError(f"{path}.key", f"{definition.key!r} is defined twice")
        keys.append(definition.key)
        found.append(read_mapping(entry, path))
    return tuple(found)


def _action(data: object, path: str, personas: Sequence[str]) -> ScenarioAction:
    raw = read_mapping(data, path, ("at", *ACTION_KINDS, "contact", "queue"))
    kinds = [k for k in ACTION_KINDS if k in raw]
    if len(kinds) != 1:
        raise ScenarioError(path, f"one action per entry, one of: {', '.join(ACTION_KINDS)}"
                            + (f" (found {' and '.join(kinds)})" if kinds else ""))
    kind = kinds[0]
    if "at" not in raw:
        raise ScenarioError(f"{path}.at", "required (an offset from the start, e.g. 2d)")
    at = parse_offset(raw["at"], f"{path}.at")
    if "contact" in raw and kind not in ("complete_task", "unfreeze"):
        raise ScenarioError(f"{path}.contact", f"not used by {kind}")
    if "queue" in raw and kind != "complete_task":
        raise ScenarioError(f"{path}.queue", f"not used by {kind}")
    if kind == "publish":
        definition = raw["publish"]
        try:
            parsed = parse_journey(definition)
        except DefinitionError as exc:
            inner = exc.path.removeprefix("journey").lstrip(".")
            raise ScenarioError(f"{path}.publish" + (f".{inner}" if inner else ""), exc.reason) from None
        return ScenarioAction(at, kind, path, parsed.key, definition=read_mapping(definition, f"{path}.publish"))
    target = read_text(raw, kind, path, required=True)
    assert target is not None
    contact = read_text(raw, "contact", path)
    if kind in ("complete_task", "unfreeze"):
        if target not in personas:
            raise ScenarioError(f"{path}.{kind}", f"expected a persona name (personas: {', '.join(personas)}), "
                                f"got {target!r}")
        if contact is not None and not contact.lower().startswith(f"{target.lower()}-"):
            raise ScenarioError(f"{path}.contact", f"expected one of {target}'s contacts, e.g. {target.lower()}-1")
    return ScenarioAction(at, kind, path, target, contact, read_text(raw, "queue", path))


def parse_world(raw: Mapping[str, Any], personas: Sequence[str], duration: timedelta) -> World:
    """The ``guardrails``, ``channels``, ``segments`` and ``actions`` keys of a scenario."""
    actions = tuple(_action(a, f"actions[{i}]", personas)
                    for i, a in enumerate(read_list(raw.get("actions", []), "actions")))
    for action in actions:
        if action.at > duration:
            raise ScenarioError(f"{action.path}.at", "after the end of the scenario")
    return World(_guardrails(raw["guardrails"]) if raw.get("guardrails") is not None else None,
                 _channels(raw.get("channels") or {}, personas), _segments(raw.get("segments") or []),
                 tuple(sorted(actions, key=lambda a: a.at)))
