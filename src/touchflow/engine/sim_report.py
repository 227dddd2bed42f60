"""What a simulation produced, read back from the sandbox store: timelines, node counts, checks.

``collect`` reads every persona contact's events, runs, trace and messages once; the rest is pure:
per-persona timelines (identical entries of a persona's contacts are counted, not repeated),
per-node counts (entered, left by each edge, still there) and the scenario's checks.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from touchflow.domain.guardrails.model import TOUCH_CHANNELS, GuardrailPolicy, contact_zone
from touchflow.domain.journeys.model import JourneyDefinition, Send
from touchflow.domain.journeys.scenarios import (
    Expectation,
    MessageFilter,
    Persona,
    Scenario,
    ScenarioError,
    format_offset,
)
from touchflow.services.context import ServiceContext

__all__ = [
    "CheckResult",
    "Collected",
    "Observed",
    "PersonaResult",
    "SimulationResult",
    "check_references",
    "collect",
    "evaluate_checks",
    "node_counts",
]

# A message's status changes, as lifecycle events: the timeline shows each as a message entry at its time.
STATUS_EVENTS = {"message_queued": "queued", "message_deferred": "deferred", "message_sent": "sent",
                 "message_skipped": "skipped", "message_failed": "failed", "message_bounced": "bounced",
                 "message_delivered": "delivered"}
_STATUS_ORDER = {"queued": 0, "deferred": 1, "skipped": 1, "sent": 2, "failed": 2, "dead": 2, "delivered": 3,
                 "bounced": 4}  # within one instant (events of one instant come back in no set order)
_CHUNK = 500
SortKey = tuple[datetime, int, int] | tuple[datetime, int, int, int]


@dataclass(frozen=True, slots=True)
class Message:
    at: datetime
    journey: str | None
    node: str | None
    channel: str
    template: str | None


@dataclass(eq=False)
class Observed:
    """One persona contact after the run."""

    persona: str
    order: int
    label: str
    timeline: list[tuple[SortKey, tuple[tuple[str, Any], ...]]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    reached: list[tuple[str, str, datetime]] = field(default_factory=list)  # journey, node, when
    runs: list[tuple[str, str]] = field(default_factory=list)  # journey, final status
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))  # as the guardrails count days


@dataclass
class Collected:
    contacts: list[Observed]
    left: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    waiting: Counter[tuple[str, str]] = field(default_factory=Counter)


@dataclass
class CheckResult:
    name: str
    kind: str
    passed: bool
    detail: str


@dataclass
class PersonaResult:
    name: str
    contacts: int
    timeline: list[dict[str, Any]]
    runs: dict[str, dict[str, int]]

    @classmethod
    def of(cls, persona: Persona, collected: Collected) -> PersonaResult:
        counts: Counter[tuple[tuple[str, Any], ...]] = Counter()
        first: dict[tuple[tuple[str, Any], ...], SortKey] = {}
        runs: dict[str, Counter[str]] = defaultdict(Counter)
        for contact in collected.contacts:
            if contact.persona != persona.name:
                continue
            for key, entry in contact.timeline:
                counts[entry] += 1
                first[entry] = min(first.get(entry, key), key)
            for journey, status in contact.runs:
                runs[journey][status] += 1
        timeline = [{**dict(entry), "contacts": counts[entry]} for entry in sorted(counts, key=first.__getitem__)]
        return cls(persona.name, persona.count, timeline,
                   {j: dict(sorted(c.items())) for j, c in sorted(runs.items())})

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "contacts": self.contacts, "runs": self.runs, "timeline": self.timeline}


@dataclass
class SimulationResult:
    scenario: Scenario
    journeys: list[str]
    personas: list[PersonaResult]
    nodes: list[dict[str, Any]]
    checks: list[CheckResult]
    stats: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0  # wall-clock seconds; not part of ``to_json`` (the output is deterministic)
    actions: list[dict[str, Any]] = field(default_factory=list)  # the scenario's actions, as done

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        s = self.scenario
        return {
            "scenario": {"name": s.name, "seed": s.seed, "start": s.start.isoformat(),
                         "end": s.end.isoformat(), "journeys": self.journeys},
            "personas": [p.to_json() for p in self.personas],
            "nodes": self.nodes,
            "actions": self.actions,
            "checks": [{"name": c.name, "kind": c.kind, "passed": c.passed, "detail": c.detail} for c in self.checks],
            "summary": {**self.stats, "checks_passed": sum(c.passed for c in self.checks),
                        "checks_failed": sum(not c.passed for c in self.checks), "passed": self.passed},
        }


def _entry(start: datetime, at: datetime, kind: str, journey: str | None = None, node: str | None = None,
           edge: str | None = None, channel: Any = None, template: Any = None, event: str | None = None,
           status: str | None = None) -> tuple[tuple[str, Any], ...]:
    found: list[tuple[str, Any]] = [("at", format_offset(at - start)), ("journey", journey), ("node", node),
                                    ("kind", kind), ("edge", edge), ("channel", channel), ("template", template),
                                    ("event", event)]
    if status is not None:
        found.append(("status", status))
    return tuple(found)


def collect(ctx: ServiceContext, scenario: Scenario, contacts: Mapping[str, tuple[str, int, str]],
            journey_keys: Mapping[str, str], policy: GuardrailPolicy | None = None) -> Collected:
    """Read back each contact (id → persona, order, label): events, runs, steps and messages."""
    start = scenario.start
    default_zone = (policy or GuardrailPolicy()).default_timezone
    result = Collected([])
    ids = sorted(contacts)
    with ctx.reader() as uow:
        for offset in range(0, len(ids), _CHUNK):
            chunk = ids[offset:offset + _CHUNK]
            facts = uow.journeys.load_facts(chunk, None, None)
            runs = uow.journeys.runs_of(chunk)
            run_ids = [r.id for r in runs]
            steps = [s for i in range(0, len(run_ids), _CHUNK) for s in uow.journeys.steps_of(run_ids[i:i + _CHUNK])]
            outbox = uow.journeys.messages_of(chunk)
            by_key = {m.idempotency_key: m for m in outbox}
            run_of = {r.id: r for r in runs}
            # where a message's entries sit among the same instant's steps: at its send step (a fallback
            # at the step of the message it replaces)
            place: dict[str, int] = {}
            for seq, step in enumerate(steps):
                message = by_key.get(str(step.detail.get("message_key"))) if step.kind in ("send", "webhook") \
                    else None
                if message is not None:
                    place[message.id] = seq
            for m in sorted(outbox, key=lambda m: m.created_at):
                origin = m.payload.get("fallback_of")
                if m.id not in place and origin is not None and str(origin) in place:
                    place[m.id] = place[str(origin)]
            observed: dict[str, Observed] = {}
            for contact_id in chunk:
                persona, order, label = contacts[contact_id]
                contact = observed[contact_id] = Observed(persona, order, label)
                zone = facts[contact_id].values.get("timezone")
                contact.zone = contact_zone(str(zone) if zone else None, default_zone)
                changes: dict[str, list[tuple[datetime, int, str, tuple[tuple[str, Any], ...]]]] = defaultdict(list)
                for seq, event in enumerate(facts[contact_id].events):
                    props = event.properties
                    journey = journey_keys.get(str(props.get("journey_id")))
                    status = STATUS_EVENTS.get(event.type)
                    if status is None:
                        contact.timeline.append(((event.occurred_at, 0, seq), _entry(
                            start, event.occurred_at, "event", journey, _str(props.get("node_id")),
                            channel=props.get("channel"), template=props.get("template"), event=event.type)))
                        continue
                    if event.type == "message_sent":
                        contact.messages.append(Message(event.occurred_at, journey, _str(props.get("node_id")),
                                                        str(props.get("channel")), _str(props.get("template"))))
                    if status == "failed" and props.get("dead") is True:
                        status = "dead"
                    channel = props.get("channel")
                    changes[str(props.get("message_id"))].append((event.occurred_at, seq, status, _entry(
                        start, event.occurred_at, "webhook" if channel == "webhook" else "message", journey,
                        _str(props.get("node_id")), channel=channel, template=props.get("template"), status=status)))
                for message_id, found in changes.items():
                    found.sort(key=lambda c: (c[0], _STATUS_ORDER[c[2]], c[1]))
                    if len(found) > 1 and found[0][2] == "queued" and found[1][0] == found[0][0]:
                        found = found[1:]  # queued and decided at once: show the decision
                    where = place.get(message_id, len(steps))
                    for number, (at, _, _, entry) in enumerate(found):
                        contact.timeline.append(((at, 1, where, number), entry))
            for run in runs:
                journey = journey_keys.get(run.journey_id, run.journey_id)
                observed[run.contact_id].runs.append((journey, run.status))
                if run.status in ("active", "waiting", "paused"):
                    result.waiting[(journey, run.node_id)] += 1
            for seq, step in enumerate(steps):
                run = run_of[step.run_id]
                journey = journey_keys.get(run.journey_id, run.journey_id)
                contact = observed[run.contact_id]
                edge = step.edge or ("end" if step.kind == "end" else None)
                if step.kind != "entry" and edge is not None:
                    result.left[(journey, step.node_id)][edge] += 1
                if step.kind != "entry":
                    contact.reached.append((journey, step.node_id, step.at))
                if step.kind in ("send", "webhook") and by_key.get(str(step.detail.get("message_key"))):
                    continue  # shown by its status changes
                contact.timeline.append(((step.at, 1, seq, 0), _entry(start, step.at, step.kind, journey,
                                                                      step.node_id, step.edge)))
            result.contacts.extend(observed.values())
    result.contacts.sort(key=lambda c: c.order)
    for contact in result.contacts:
        contact.timeline.sort(key=lambda item: item[0])
        contact.messages.sort(key=lambda m: m.at)
    return result


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def node_counts(definitions: Sequence[JourneyDefinition], collected: Collected) -> list[dict[str, Any]]:
    """Per node of every journey: runs that entered it, left it by each edge, and are still there."""
    rows = []
    seen: set[tuple[str, str]] = set()
    for definition in definitions:  # a later version of a journey adds the nodes the first lacked
        for node_id, node in definition.nodes.items():
            if (definition.key, node_id) in seen:
                continue
            seen.add((definition.key, node_id))
            left = collected.left.get((definition.key, node_id), Counter())
            waiting = collected.waiting[(definition.key, node_id)]
            rows.append({"journey": definition.key, "node": node_id, "kind": node.kind,
                         "entered": sum(left.values()) + waiting, "left": dict(sorted(left.items())),
                         "waiting": waiting})
    return rows


# --- checks ---------------------------------------------------------------------------------------


def check_references(scenario: Scenario, definitions: Sequence[JourneyDefinition]) -> None:
    """A check that names a journey, node or template none of the journeys has is a typo: say so."""
    keys = [d.key for d in definitions]
    templates = {n.template for d in definitions for n in d.nodes.values() if isinstance(n, Send)}
    for e in scenario.expectations:
        journey = e.messages.journey
        if journey is not None and journey not in keys:
            raise ScenarioError(f"{e.path}.journey", f"no journey {journey!r} is simulated ({', '.join(keys)})")
        scope = [d for d in definitions if journey is None or d.key == journey]
        if e.node is not None and not any(e.node in d.nodes for d in scope):
            raise ScenarioError(f"{e.path}.node", f"no node {e.node!r} in {', '.join(d.key for d in scope)}")
        if e.messages.template is not None and e.messages.template not in templates:
            raise ScenarioError(f"{e.path}.template", f"no send node uses template {e.messages.template!r} "
                                f"(templates: {', '.join(sorted(templates))})")




def evaluate_checks(scenario: Scenario, collected: Collected) -> list[CheckResult]:
    return [_check(scenario, e, collected.contacts) for e in scenario.expectations]


def _window(e: Expectation) -> str:
    return f" between {format_offset(e.between[0])} and {format_offset(e.between[1])}" if e.between else ""


def _inside(e: Expectation, start: datetime, at: datetime) -> bool:
    return e.between is None or e.between[0] <= at - start <= e.between[1]


def _matches(f: MessageFilter, m: Message) -> bool:
    return f.matches(m.channel, m.template, m.journey, None)


def _summary(items: Sequence[tuple[str, timedelta]], limit: int = 6) -> str:
    counts = Counter((what, format_offset(at)) for what, at in items)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{what} at {at}" + (f" ({n})" if n > 1 else "") for (what, at), n in ordered[:limit])
    return text + (f", … {len(ordered) - limit} more" if len(ordered) > limit else "")


def _what(m: Message) -> str:
    return f"{m.channel}/{m.template}" if m.template else m.channel


def _check(scenario: Scenario, e: Expectation, everyone: list[Observed]) -> CheckResult:
    start = scenario.start
    group = [c for c in everyone if e.persona is None or c.persona == e.persona]
    n = len(group)
    who = f"{e.persona} contact(s)" if e.persona else "contact(s)"
    need = math.ceil(e.share * n - 1e-9)
    window = _window(e)

    def result(passed: bool, detail: str) -> CheckResult:
        return CheckResult(e.name, e.kind, passed, detail)

    if e.kind in ("message", "no_message"):
        desc = e.messages.describe() if e.messages != MessageFilter() else "a message"
        hits = [c for c in group if any(_matches(e.messages, m) and _inside(e, start, m.at) for m in c.messages)]
        if e.kind == "no_message":
            if not hits:
                return result(True, f"none of {n} {who} got {desc}{window}")
            got = [(_what(m), m.at - start) for c in hits for m in c.messages
                   if _matches(e.messages, m) and _inside(e, start, m.at)]
            return result(False, f"{len(hits)} of {n} {who} got {desc}{window}: {_summary(got)}")
        detail = f"{len(hits)} of {n} {who} got {desc}{window}" + (f" (need {need})" if need != n else "")
        if len(hits) >= need:
            return result(True, detail)
        hit_ids = {id(c) for c in hits}
        missed = [c for c in group if id(c) not in hit_ids]
        got = [(_what(m), m.at - start) for c in missed for m in c.messages]
        return result(False, detail + ("; the others got " + _summary(got) if got else "; the others got no message"))
    if e.kind == "max_per_day":
        worst: tuple[int, str, str, Counter[str]] = (0, "", "", Counter())
        over = 0
        for c in group:
            days: dict[str, Counter[str]] = defaultdict(Counter)
            for m in c.messages:
                if m.channel in TOUCH_CHANNELS and (e.messages.channel is None or m.channel == e.messages.channel):
                    days[m.at.astimezone(c.zone).date().isoformat()][m.channel] += 1
            for day, channels in sorted(days.items()):
                total = sum(channels.values())
                worst = max(worst, (total, c.label, day, channels), key=lambda w: w[0])
            over += any(sum(ch.values()) > e.max_per_day for ch in days.values())
        count, label, day, channels = worst
        detail = f"the most in one calendar day (in the contact's time zone) was {count}"
        if count:
            detail += f": {label} on {day} (" + ", ".join(f"{k} {v}" for k, v in sorted(channels.items())) + ")"
        if over:
            detail += f"; {over} of {n} {who} got more than {e.max_per_day}"
        return result(count <= e.max_per_day, detail)
    if e.kind == "reached":
        where = f"{e.messages.journey}.{e.node}" if e.messages.journey else str(e.node)
        times = {c.label: [at for j, node, at in c.reached if node == e.node and _inside(e, start, at)
                           and (e.messages.journey is None or j == e.messages.journey)] for c in group}
        hits = [c for c in group if times[c.label]]
        first = Counter(format_offset(min(times[c.label]) - start) for c in hits)
        shown = ", ".join(f"{at} ({k})" for at, k in sorted(first.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
        detail = f"{len(hits)} of {n} {who} reached {where}{window}" + (f"; first at {shown}" if hits else "")
        if e.reached:
            return result(len(hits) >= need, detail + (f"; need {need}" if len(hits) < need else ""))
        return result(not hits, detail)
    statuses: Counter[str] = Counter()
    hits_count, never = 0, 0
    for c in group:
        mine = [s for j, s in c.runs if e.messages.journey is None or j == e.messages.journey]
        statuses.update(mine)
        never += not mine
        hits_count += e.status in mine
    scope = e.messages.journey or "any journey"
    detail = (f"{hits_count} of {n} {who} have a {e.status} run in {scope}" + (f" (need {need})" if need != n else "")
              + "; runs: " + (", ".join(f"{k} {v}" for k, v in sorted(statuses.items())) or "none")
              + (f"; {never} never entered" if never else ""))
    return result(hits_count >= need, detail)
