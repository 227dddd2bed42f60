"""Dry run (issue 16): one real contact through a journey's draft, in the sandbox, in virtual time.

No second engine: the contact is copied into a one-persona scenario (its attributes, tags and past events, and
the trigger event now) and ``simulate`` runs the draft on its throw-away database. The real store is only
read; nothing is sent (the sandbox's channels capture) and nothing is written to it. The path comes back from
the sandbox through the same ``trace_contact`` that ``journey trace`` uses: each node with its virtual time,
the values that decided it, and each message with its status or the guardrail that skipped it (the workspace's
guardrail policy is copied in) and a preview rendered from the real template library for the real contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.errors import FieldError
from touchflow.domain.guardrails.model import policy_document
from touchflow.domain.journeys.dry_reactions import DryReaction, parse_reactions, placeholder_properties, scenario_parts
from touchflow.domain.journeys.parse import DefinitionError
from touchflow.domain.journeys.scenarios import ScenarioError, format_offset, parse_scenario
from touchflow.engine.simulator import EMAIL_DOMAIN, OpenStore, SimulationError, load_scenario, simulate
from touchflow.services.contacts import find_contact_id
from touchflow.services.content import preview_template
from touchflow.services.context import ServiceContext
from touchflow.services.guarding import guardrail_policy
from touchflow.services.journey_drafts import read_draft
from touchflow.services.journey_live import canvas_edge
from touchflow.services.journeys import load_definition, trace_contact

__all__ = ["MAX_HISTORY", "MAX_SCENARIO_CONTACTS", "DryRun", "dry_run", "scenario_run"]

PREVIEW_CHARS = 600
MAX_HISTORY = 200  # the contact's most recent events copied into the sandbox (conditions look back)
_PERSONA = "contact"
_SKIPPED_TYPES = ("message_", "journey_", "enrolment_")  # the engine's own records, not the person's behaviour


@dataclass(frozen=True)
class DryRun:
    key: str
    contact: str
    start: datetime
    duration: timedelta
    steps: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    status: str | None
    copied: dict[str, Any]  # what of the real contact the branches and guardrails saw: consent, segments, tags, stage
    reactions: tuple[DryReaction, ...] = ()

    def nodes(self) -> dict[str, dict[str, Any]]:
        """Per node, the outcome the canvas draws as a badge (the last visit wins)."""
        found: dict[str, dict[str, Any]] = {}
        for step in self.steps:
            found[step["node"]] = {"kind": step["kind"], "at": step["at"], "offset": step["offset"],
                                   "edge": step["edge"], "detail": step["detail"], "badge": _badge(step)}
        for message in self.messages:
            node = found.setdefault(str(message["node"]), {"kind": "send", "edge": None, "detail": {}})
            node.setdefault("messages", []).append(message)
            reason = f" ({message['reason']})" if message.get("reason") else ""
            created, sent = message.get("created_at"), message.get("sent_at")
            if created and sent and sent != created:  # quiet hours, a cap or a retry held it back
                held = datetime.fromisoformat(sent) - self.start
                reason += f" @ +{format_offset(held - timedelta(seconds=held.seconds % 60))}"
            node["badge"] = f"{message['channel']}: {message['status']}{reason}"
        return found

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "contact": self.contact, "start": self.start.isoformat(),
                "duration": format_offset(self.duration), "status": self.status, "sent": 0, "written": 0,
                "entered": bool(self.steps),  # False: the trigger, audience or entry rules kept the contact out
                "steps": self.steps, "messages": self.messages, "nodes": self.nodes(), "copied": self.copied,
                "reactions": [r.as_json() for r in self.reactions]}


def _preview(ctx: ServiceContext, message: dict[str, Any], contact_id: str) -> dict[str, Any]:
    """The message as this contact would get it, rendered from the real library (read only, untracked)."""
    if not message.get("template") or message.get("channel") == "webhook":
        return {}
    try:
        shown = preview_template(ctx, str(message["template"]), contact_id)
    except (LookupError, ValueError) as exc:  # no such template, or it does not render
        return {"preview": None, "preview_error": str(exc)}
    return {"preview": {"subject": shown.subject, "text": shown.text[:PREVIEW_CHARS], "version": shown.version,
                        "template_status": shown.status, "undefined": list(shown.undefined)}}


def _badge(step: dict[str, Any]) -> str:
    kind, edge = step["kind"], step["edge"]
    if kind == "entry":
        return "entered"
    if kind in ("wait", "wait_event") and edge:
        return f"{edge} @ +{step['offset']}"
    return f"{kind} → {edge}" if edge else kind


def _scenario_data(definition_trigger: Any, values: dict[str, Any], tags: list[str],
                   events: list[tuple[str, datetime, dict[str, Any]]], start: datetime,
                   duration: timedelta, persona: dict[str, Any]) -> dict[str, Any]:
    attributes = {}
    for name, value in values.items():
        if value is None or name in ("email", "phone", "wecom", "openid", "timezone_source") \
                or not isinstance(value, str | int | float | bool):
            continue
        attributes[name.removeprefix("custom.")] = value
    history = [{"at": format_offset(at - start), "type": kind, "properties": props}
               for kind, at, props in events[-MAX_HISTORY:] if at < start and not kind.startswith(_SKIPPED_TYPES)]
    if definition_trigger.kind == "event" and definition_trigger.event:
        props = placeholder_properties(definition_trigger.event,  # a stand-in for what the filter leaves open
                                       {f.prop: f.value for f in definition_trigger.properties if f.op == "eq"})
        history.append({"at": "0d", "type": definition_trigger.event, "properties": props})
    history += persona.pop("events", [])
    return {"name": "dry run", "start": start.isoformat(), "duration": format_offset(duration),
            "personas": [{"name": _PERSONA, "attributes": attributes, "tags": sorted(tags), "events": history,
                          **persona}]}


def dry_run(ctx: ServiceContext, key: str, identifier: str, *, open_store: OpenStore, text: str | None = None,
            duration: timedelta = timedelta(days=30), reactions: object = None) -> DryRun:
    """The path ``identifier`` would take through ``text`` (default: the saved draft) from now.

    The contact's attributes, tags, lifecycle stage, consent per channel and segment memberships are copied
    into the sandbox (memberships as static segments, fixed for the run); ``reactions`` (see
    ``domain.journeys.dry_reactions``) say what the contact does. Raises ``FieldError`` naming ``contact``,
    ``definition`` (with the document's path), ``duration`` or ``reactions[i].<field>``.
    """
    if not timedelta(0) < duration <= timedelta(days=366):
        raise FieldError("duration", "must be between 1 second and 366 days")
    source = read_draft(ctx, key).text if text is None else text
    try:
        _, definition = load_definition(source)
    except DefinitionError as exc:
        raise FieldError(f"definition.{exc.path}", exc.reason) from None
    if definition.key != key:
        raise FieldError("definition.key", f"is {definition.key!r}, but this is journey {key!r}")
    chosen = parse_reactions(reactions, definition)
    ref = f"email:{identifier.strip()}" if "@" in identifier and ":" not in identifier else identifier
    try:
        contact_id = find_contact_id(ctx, ref)  # kind:value, an id, or (a convenience) a bare e-mail
    except LookupError:
        raise FieldError("contact", f"no contact matches {identifier!r}") from None
    start = ctx.clock.now()
    with ctx.reader() as uow:
        facts = uow.journeys.load_facts([contact_id], None, None)[contact_id]
        consent = {str(c): str(s) for c, s in (uow.messages.audience([contact_id]).get(contact_id) or {})
                   .get("consent", {}).items()}
        policy = policy_document(guardrail_policy(uow))
    events = sorted(((e.type, e.occurred_at, dict(e.properties)) for e in facts.events), key=lambda e: e[1])
    behaviour, scripted = scenario_parts(chosen, definition)
    persona: dict[str, Any] = {"consent": consent, "segments": sorted(facts.segments), "events": scripted,
                               "behaviour": {"reactions": behaviour}}
    data = _scenario_data(definition.trigger, dict(facts.values), list(facts.tags), events, start, duration,
                          persona)
    copied = {"consent": dict(sorted(consent.items())), "segments": sorted(facts.segments),
              "tags": sorted(facts.tags), "stage": facts.values.get("lifecycle_stage")}
    data["guardrails"] = policy  # the workspace's caps and quiet hours decide what would be skipped
    try:
        scenario = parse_scenario(data)
    except ScenarioError as exc:
        raise FieldError("contact", f"cannot be copied into the sandbox: {exc}") from None
    traces: list[dict[str, Any]] = []

    def read_back(sandbox: ServiceContext) -> None:
        for trace in trace_contact(sandbox, key, f"email:{_PERSONA}-1@{EMAIL_DOMAIN}"):
            traces.append(trace.document())

    try:
        simulate([source], scenario, open_store=open_store, inspect=read_back)
    except SimulationError as exc:
        raise FieldError("definition", str(exc)) from None
    steps: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    status = None
    for trace in traces[:1]:  # one entry: the trigger now
        status = trace["status"]
        for step in trace["steps"]:
            at = datetime.fromisoformat(step["at"])
            steps.append({**step, "offset": format_offset(at - start)})
        messages = [{**m, **_preview(ctx, m, contact_id)} for m in trace["messages"]]
    return DryRun(key, identifier, start, duration, steps, messages, status, copied, chosen)


MAX_SCENARIO_CONTACTS = 2000  # a scenario from the canvas runs inside a request


def scenario_run(ctx: ServiceContext, key: str, scenario_text: str, *, open_store: OpenStore,
                 text: str | None = None) -> dict[str, Any]:
    """The canvas's scenario run: ``journey simulate`` of the draft (or ``text``) with a scenario, per-node counts
    and the checks. Nothing of the real store is read but the draft; ``FieldError`` names ``scenario.<path>``."""
    source = read_draft(ctx, key).text if text is None else text
    try:
        _, definition = load_definition(source)
    except DefinitionError as exc:
        raise FieldError(f"definition.{exc.path}", exc.reason) from None
    if definition.key != key:
        raise FieldError("definition.key", f"is {definition.key!r}, but this is journey {key!r}")
    try:
        scenario = load_scenario(scenario_text)
    except ScenarioError as exc:
        raise FieldError(f"scenario.{exc.path}", exc.reason) from None
    if sum(p.count for p in scenario.personas) > MAX_SCENARIO_CONTACTS:
        raise FieldError("scenario.personas", f"more than {MAX_SCENARIO_CONTACTS} contacts: run it with "
                         "`touchflow journey simulate`")
    try:
        result = simulate([source], scenario, open_store=open_store)
    except ScenarioError as exc:
        raise FieldError(f"scenario.{exc.path}", exc.reason) from None
    except SimulationError as exc:
        raise FieldError("definition", str(exc)) from None
    document = result.to_json()
    document["counts"] = {row["node"]: row for row in document["nodes"] if row["journey"] == key}
    # per edge as the canvas names it (``from:edge``, the live numbers' key): the runs that took it
    document["edges"] = {f"{row['node']}:{canvas_edge(edge)}": count for row in document["nodes"]
                         if row["journey"] == key for edge, count in row["left"].items() if edge != "end"}
    return document
