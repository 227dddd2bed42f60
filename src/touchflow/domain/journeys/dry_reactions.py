"""What the dry run's contact does (issue 16): opens, clicks or a named event, chosen per message or per wait.

A dry-run contact otherwise never reacts, so every ``wait_event`` times out. A person picks, per node, what the
contact does and when, and this turns the choice into the sandbox scenario's own terms, so the same engine
walks the ``on_event`` edge:

* on a **send** node — a reaction to that node's message, ``at`` after it is sent;
* on a **wait_event** node with ``of_message`` — a reaction to the message of that send node, ``at`` after it
  is sent (the event carries the message's identity, which the wait requires);
* on a **wait_event** node without ``of_message`` — the event itself, ``at`` after the contact entered (the
  start of the dry run); the wait sees it only if the contact is waiting by then.

``open`` is ``message_opened``; ``click`` is an open and a click at the same instant (a click needs an open);
``event`` is the named event. Pure: errors are ``FieldError`` naming ``reactions[i].<field>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from touchflow.domain.errors import FieldError
from touchflow.domain.events import EVENT_CATALOGUE, validate_event_type
from touchflow.domain.journeys.model import JourneyDefinition, Send, WaitEvent
from touchflow.domain.journeys.scenario_fields import ScenarioError, format_offset, parse_offset

__all__ = ["MAX_REACTIONS", "DryReaction", "parse_reactions", "placeholder_properties", "scenario_parts"]

MAX_REACTIONS = 50
Does = Literal["open", "click", "event"]
_DOES: tuple[Does, ...] = ("open", "click", "event")
_EVENT_OF: dict[str, str] = {"open": "message_opened", "click": "message_clicked"}
_PLACEHOLDER: dict[str, Any] = {"number": 0, "integer": 0, "boolean": False}


@dataclass(frozen=True, slots=True)
class DryReaction:
    node: str  # the send or wait_event node the choice was made on
    does: Does
    at: timedelta
    event: str | None = None  # does == "event": its type

    def as_json(self) -> dict[str, Any]:
        return {"node": self.node, "does": self.does, "at": format_offset(self.at), "event": self.event}


def placeholder_properties(event_type: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` plus a stand-in for each property the catalogue requires and ``given`` leaves open."""
    props = dict(given)
    spec = EVENT_CATALOGUE.get(event_type)
    for prop in spec.properties if spec is not None else ():
        if prop.required and prop.name not in props:
            props[prop.name] = _PLACEHOLDER.get(prop.kind, "dry-run")
    return props


def _one(raw: object, path: str, definition: JourneyDefinition) -> DryReaction:
    if not isinstance(raw, Mapping):
        raise FieldError(path, "expected an object with node, does and at")
    unknown = [k for k in raw if k not in ("node", "does", "at", "event")]
    if unknown:
        raise FieldError(f"{path}.{unknown[0]}", "unknown key (expected node, does, at, event)")
    node_id = raw.get("node")
    node = definition.nodes.get(node_id) if isinstance(node_id, str) else None
    if node is None:
        raise FieldError(f"{path}.node", f"no node {node_id!r} in the journey")
    if not isinstance(node, Send | WaitEvent):
        raise FieldError(f"{path}.node", f"{node_id} is a {node.kind} node: a reaction goes on a send or a "
                         "wait_event node")
    does = raw.get("does")
    if does not in _DOES:
        raise FieldError(f"{path}.does", f"expected one of {', '.join(_DOES)}, got {does!r}")
    try:
        at = parse_offset(raw.get("at", "1h"), f"{path}.at")
    except ScenarioError as exc:
        raise FieldError(exc.path, exc.reason) from None
    if at > timedelta(days=366):
        raise FieldError(f"{path}.at", "at most 366d")
    event = None
    if does == "event":
        if not isinstance(raw.get("event"), str):
            raise FieldError(f"{path}.event", "required when does is event (the event's type)")
        try:
            event = validate_event_type(str(raw["event"]))
        except FieldError as exc:
            raise FieldError(f"{path}.event", exc.reason) from None
    elif raw.get("event") is not None:
        raise FieldError(f"{path}.event", f"only when does is event (does is {does})")
    if isinstance(node, WaitEvent):
        kinds = [_EVENT_OF[does]] if does in _EVENT_OF else [str(event)]
        if does == "click":
            kinds = ["message_opened", "message_clicked"]
        if not any(k in node.events for k in kinds):
            raise FieldError(f"{path}.{'event' if does == 'event' else 'does'}",
                             f"{node.id} waits for {', '.join(node.events)}")
    if isinstance(node, Send) and does != "event" and node.channel == "webhook":
        raise FieldError(f"{path}.does", "a webhook is not opened or clicked")
    return DryReaction(str(node_id), does, at, event)


def parse_reactions(data: object, definition: JourneyDefinition) -> tuple[DryReaction, ...]:
    """The person's choices (a list of ``{node, does, at, event}``) checked against the journey."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise FieldError("reactions", "expected a list")
    if len(data) > MAX_REACTIONS:
        raise FieldError("reactions", f"at most {MAX_REACTIONS}")
    found = tuple(_one(raw, f"reactions[{i}]", definition) for i, raw in enumerate(data))
    seen: dict[str, int] = {}
    for index, reaction in enumerate(found):
        if reaction.node in seen:
            raise FieldError(f"reactions[{index}].node",
                             f"{reaction.node} already has reactions[{seen[reaction.node]}]")
        seen[reaction.node] = index
    return found


def scenario_parts(reactions: tuple[DryReaction, ...], definition: JourneyDefinition
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(behaviour reactions, scripted events) of the sandbox persona, as scenario data."""
    behaviour: list[dict[str, Any]] = []
    scripted: list[dict[str, Any]] = []
    for reaction in reactions:
        node = definition.nodes[reaction.node]
        message = node.id if isinstance(node, Send) else (node.of_message if isinstance(node, WaitEvent) else None)
        types = ["message_opened", "message_clicked"] if reaction.does == "click" else \
            [_EVENT_OF.get(reaction.does) or str(reaction.event)]
        at = format_offset(reaction.at)
        if message is not None:
            behaviour += [{"event": t, "journey": definition.key, "node": message, "after": at} for t in types]
            continue
        assert isinstance(node, WaitEvent)
        given = {f.prop: f.value for f in node.properties if f.op == "eq"}
        scripted += [{"at": at, "type": t, "properties": placeholder_properties(t, given)} for t in types]
    return behaviour, scripted
