"""The sandbox (J10): the real engine on a throw-away SQLite database, in virtual time.

``simulate(journey_texts, scenario)`` publishes the journeys into a fresh database in a temporary
directory (never the user's), creates the scenario's persona contacts, and then jumps the clock
from one instant to the next — the next scripted or simulated reaction, run wake-up or trigger
scan — ingesting what is due and ticking the runtime. Messages are captured; each one sent may
draw the persona's reactions (open, click, reply, purchase, custom events) from a seeded hash,
so the same seed gives the same result. Afterwards the store is read back into per-persona
timelines, per-node counts, and the scenario's checks.
"""

from __future__ import annotations

import hashlib
import heapq
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import yaml

from touchflow.clock import Clock, VirtualClock
from touchflow.domain.ids import IdFactory
from touchflow.domain.journeys.model import JourneyDefinition
from touchflow.domain.journeys.parse import DefinitionError, parse_journey
from touchflow.domain.journeys.scenarios import Persona, Scenario, ScenarioError, format_offset, parse_scenario
from touchflow.domain.journeys.transitions import contact_field
from touchflow.domain.outbox import OutboxMessage
from touchflow.domain.safe_yaml import load_yaml
from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.runtime import JourneyRuntime
from touchflow.engine.sim_report import (
    PersonaResult,
    SimulationResult,
    check_references,
    collect,
    evaluate_checks,
    node_counts,
)
from touchflow.engine.sim_world import ActionDone, apply_action, prepare_world, sandbox_channels, seed_memberships
from touchflow.services.context import ServiceContext
from touchflow.services.guarding import guardrail_policy
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import JourneyError, load_definition, publish_journey
from touchflow.services.tracking import email_report

__all__ = ["OpenStore", "SandboxStore", "SimulationError", "SimulationResult", "load_scenario", "simulate"]

SOURCE = "simulator"
EMAIL_DOMAIN = "sim.touchflow.test"
CLICK_AFTER_OPEN = timedelta(minutes=5)
ACT_AFTER_OPEN = timedelta(hours=1)  # reply, purchase, unsubscribe
_MAX_SAME_INSTANT = 50


class SandboxStore(Protocol):
    """A wired store on the sandbox's own database (the composition root builds it: ``bootstrap.open_sandbox``)."""

    services: ServiceContext

    def init_database(self) -> str | None: ...
    def close(self) -> None: ...


# (path of the SQLite file to create, the virtual clock, batch size) -> the store on it
OpenStore = Callable[[Path, Clock, int], SandboxStore]


class SimulationError(ValueError):
    """The journeys cannot be simulated as given (invalid, or a check names what does not exist)."""


def load_scenario(text: str) -> Scenario:
    """YAML or JSON text → ``Scenario``; ``ScenarioError`` names the offending path."""
    try:
        data = load_yaml(text)  # YamlTooLarge goes to the caller
    except yaml.YAMLError as exc:
        raise ScenarioError("scenario", f"not valid YAML/JSON: {exc}") from None
    return parse_scenario(data)


class _SeededIds(IdFactory):
    """Time-ordered ids without the random parts, so a seed replays the same contacts and runs."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self._sequence = 0
        self._tail = f"{random.Random(seed).getrandbits(48):012x}"

    def new(self, now: datetime) -> str:
        self._sequence += 1
        return f"{int(now.timestamp() * 1000):012x}{self._sequence & 0xFFFFFFFF:08x}{self._tail}"


@dataclass
class _Contact:
    order: int
    persona: Persona
    email: str
    id: str = ""


@dataclass(frozen=True)
class _SandboxBounce:
    """A returned-mail report made by a scenario reaction (the shape ``services.tracking.email_report`` reads)."""

    hard: bool
    message_id: str | None
    status: str | None
    kind: str = "bounce"
    recipient: str = ""
    provider_message_id: str | None = None
    diagnostic: str | None = "sandbox reaction"


def _digest(*parts: object) -> str:
    return hashlib.blake2b("|".join(str(p) for p in parts).encode(), digest_size=16).hexdigest()


class _Sandbox:
    def __init__(self, scenario: Scenario, ctx: ServiceContext, clock: VirtualClock, batch_size: int) -> None:
        self.scenario = scenario
        self.ctx = ctx
        self.clock = clock
        self.batch_size = batch_size
        self.contacts: list[_Contact] = []
        self.by_id: dict[str, _Contact] = {}
        self.journey_keys: dict[str, str] = {}
        # (when, contact order, rank, tie-break, item): popped in an order independent of push order
        self.pending: list[tuple[datetime, int, int, str, dict[str, Any]]] = []
        self.actions = list(scenario.world.actions)  # in time order
        self.done: list[ActionDone] = []
        self.events = self.messages = self.instants = 0

    def who(self, contact_id: str) -> tuple[str, str, str] | None:
        """(persona, label, e-mail) of a persona contact."""
        contact = self.by_id.get(contact_id)
        return None if contact is None else (contact.persona.name, contact.email.partition("@")[0], contact.email)

    # --- setup -----------------------------------------------------------------------------------

    def create_contacts(self) -> None:
        for persona in self.scenario.personas:
            for index in range(1, persona.count + 1):
                email = f"{persona.name.lower()}-{index}@{EMAIL_DOMAIN}"
                self.contacts.append(_Contact(len(self.contacts), persona, email))
        for start in range(0, len(self.contacts), self.batch_size):
            chunk = self.contacts[start:start + self.batch_size]
            # Every sandbox contact is reachable on every channel, so guardrails, not missing
            # addresses, decide what it receives.
            items = [RawItem({"email": c.email, "phone": f"+86139{c.order:08d}", "wecom": f"wm-sim-{c.order}",
                              "openid": f"o-sim-{c.order}",
                              **{contact_field(k): v for k, v in c.persona.attributes.items()},
                              **{f"consent.{k}": v for k, v in c.persona.consent.items()},
                              "tags": ",".join(c.persona.tags)}) for c in chunk]
            report = upsert_contacts(self.ctx, SOURCE, items)
            if report.rejected:
                raise SimulationError(f"persona contact rejected: {report.rejected[0]}")
            for contact, contact_id in zip(chunk, report.contact_ids, strict=True):
                assert contact_id is not None
                contact.id = contact_id
                self.by_id[contact_id] = contact
        members: dict[str, list[str]] = {}
        for contact in self.contacts:
            for key in contact.persona.segments:
                members.setdefault(key, []).append(contact.id)
        seed_memberships(self.ctx, members, self.scenario.world)
        history: list[tuple[datetime, int, int, str, dict[str, Any]]] = []
        end = self.scenario.duration
        for contact in self.contacts:
            for number, scripted in enumerate(contact.persona.events):
                for offset in scripted.offsets(end):
                    item = self._item(contact, self.scenario.start + offset, scripted.type,
                                      dict(scripted.properties), _digest(contact.email, "script", number, offset))
                    entry = (self.scenario.start + offset, contact.order, 0, f"{number:04d}", item)
                    if offset < timedelta(0):
                        history.append(entry)
                    else:
                        heapq.heappush(self.pending, entry)
        history.sort(key=lambda e: e[:4])
        self._ingest([e[4] for e in history], route=False)  # the past: facts for conditions, no triggers

    def _item(self, contact: _Contact, at: datetime, event_type: str, properties: dict[str, Any],
              key: str) -> dict[str, Any]:
        return {"id": f"sim_{key}", "type": event_type, "email": contact.email, "occurred_at": at.isoformat(),
                "properties": properties}

    def _ingest(self, items: list[dict[str, Any]], route: bool = True) -> None:
        for start in range(0, len(items), self.batch_size):
            report = record_events(self.ctx, SOURCE, [RawItem(i) for i in items[start:start + self.batch_size]],
                                   route=route)
            if report.rejected:
                raise SimulationError(f"simulated event rejected: {report.rejected[0]}")
            self.events += report.accepted

    def _returned_mail(self, item: dict[str, Any]) -> bool:
        """An email bounce reaction arrives as the worker would see it, as returned mail for that message
        (suppression and the step's fallback follow), not as a bare event; True when handled so."""
        props = item.get("properties") or {}
        if item.get("type") != "message_bounced" or props.get("channel") != "email" or not props.get("message_id"):
            return False
        hard = bool(props.get("hard"))
        email_report(self.ctx, _SandboxBounce(hard=hard, message_id=str(props["message_id"]),
                                              status="5.1.1" if hard else "4.2.2"))
        return True

    # --- behaviour -------------------------------------------------------------------------------

    def on_sent(self, messages: Sequence[OutboxMessage], now: datetime) -> None:
        """Draw the reactions of each persona contact to each message just sent."""
        end = self.scenario.end
        for message in messages:
            self.messages += 1
            contact = self.by_id.get(message.contact_id)
            if contact is None or message.channel == "webhook":
                continue
            behaviour = contact.persona.behaviour
            journey = self.journey_keys.get(message.journey_id or "", message.journey_id or "")
            key = (self.scenario.seed, contact.email, journey, message.node_id, int(now.timestamp()))
            rng = random.Random(_digest(*key))
            props = {"message_id": message.id, "channel": message.channel, "journey_id": message.journey_id,
                     "node_id": message.node_id, "template": message.template}
            opened = now + behaviour.delay
            draw, reply, purchase, unsubscribe = rng.random(), rng.random(), rng.random(), rng.random()
            planned: list[tuple[datetime, str, dict[str, Any]]] = []
            if draw < behaviour.open:
                planned.append((opened, "message_opened", props))
            if draw < behaviour.click:
                planned.append((opened + CLICK_AFTER_OPEN, "message_clicked", props))
            if reply < behaviour.reply:
                planned.append((opened + ACT_AFTER_OPEN, "message_replied", props))
            if purchase < behaviour.purchase:
                planned.append((opened + ACT_AFTER_OPEN, "order_paid", {
                    **props, "order_id": f"sim-{_digest(*key)[:12]}", "amount": behaviour.amount}))
            if unsubscribe < behaviour.unsubscribe:
                planned.append((opened + ACT_AFTER_OPEN, "unsubscribe", {**props, "channel": message.channel}))
            for reaction in behaviour.reactions:
                chance = rng.random()
                if chance < reaction.probability and reaction.to.matches(message.channel, message.template,
                                                                         journey, message.node_id):
                    # the message's identity wins: a reaction is about the message it reacts to
                    planned.append((now + (reaction.after if reaction.after is not None else behaviour.delay),
                                    reaction.event, {**props, **reaction.properties, **{
                                        k: props[k] for k in ("message_id", "journey_id", "node_id")}}))
            if unsubscribe < behaviour.unsubscribe:  # as tracking records it: the message's own event too (last,
                # so the ranks — and ids — of the reactions above stay what they were)
                planned.append((opened + ACT_AFTER_OPEN, "message_unsubscribed", props))
            for rank, (at, event_type, properties) in enumerate(planned, start=1):
                if at <= end:
                    tie = f"{journey}|{message.node_id}|{int(now.timestamp()):012d}"
                    item = self._item(contact, at, event_type, properties, _digest(*key, rank, event_type))
                    heapq.heappush(self.pending, (at, contact.order, rank, tie, item))

    # --- the loop --------------------------------------------------------------------------------

    def run(self, runtime: JourneyRuntime) -> None:
        """From instant to instant: the person's actions due, the events due, one engine tick — the same
        ``JourneyRuntime.tick`` the worker runs — then on to the earliest of the next scripted or drawn
        event, the next action and ``runtime.next_due()`` (wake-ups, deferred sends and retries, task
        deadlines, scans, segment refreshes): the clock stops wherever a worker would act."""
        start, end = self.scenario.start, self.scenario.end
        contacts = {c.id: (c.persona.name, c.email.partition("@")[0], c.email) for c in self.contacts}
        instant, repeats = start, 0
        while True:
            self.clock.set(instant)
            while self.actions and start + self.actions[0].at <= instant:
                action = self.actions.pop(0)
                try:
                    self.done.append(apply_action(self.ctx, action, contacts))
                except JourneyError as exc:  # e.g. the new version does not publish
                    raise ScenarioError(f"{action.path}.{action.kind}", str(exc)) from None
            due: list[dict[str, Any]] = []
            while self.pending and self.pending[0][0] <= instant:
                due.append(heapq.heappop(self.pending)[4])
            self._ingest([item for item in due if not self._returned_mail(item)])
            runtime.tick()
            self.instants += 1
            if instant >= end:
                return
            candidates = [end]
            if (engine_due := runtime.next_due()) is not None:
                candidates.append(engine_due)
            if self.pending:
                candidates.append(self.pending[0][0])
            if self.actions:
                candidates.append(start + self.actions[0].at)
            following = max(min(candidates), instant)
            if following == instant:  # work the tick left due now (what it just did made more): again
                repeats += 1
                if repeats > _MAX_SAME_INSTANT:
                    raise SimulationError(f"the journeys do not settle at {instant.isoformat()} (a loop?)")
            else:
                repeats = 0
            instant = following


def _publish(ctx: ServiceContext, texts: Sequence[str]) -> list[tuple[str, JourneyDefinition]]:
    """Publish every journey; one that enrols into another may need the other first."""
    definitions: list[tuple[str, JourneyDefinition]] = []
    for index, text in enumerate(texts):
        try:
            _, definition = load_definition(text)
        except DefinitionError as exc:
            raise SimulationError(f"journey {index + 1}: {exc}") from None
        if any(d.key == definition.key for _, d in definitions):
            raise SimulationError(f"journey {definition.key} is given twice")
        definitions.append((text, definition))
    pending = list(definitions)
    while pending:
        failed: list[tuple[str, JourneyDefinition]] = []
        error: JourneyError | None = None
        for text, definition in pending:
            try:
                publish_journey(ctx, text, actor="simulator")
            except JourneyError as exc:
                failed.append((text, definition))
                error = exc
        if len(failed) == len(pending):
            raise SimulationError(f"journey {failed[0][1].key}: {error}")
        pending = failed
    return definitions


def simulate(journey_texts: Sequence[str], scenario: Scenario, *, open_store: OpenStore,
             database_dir: Path | None = None, batch_size: int = 1000, pace_scans: bool = True,
             inspect: Callable[[ServiceContext], None] | None = None) -> SimulationResult:
    """Run ``scenario`` through the journeys (YAML/JSON texts) and check its expectations.

    ``open_store`` wires the store on the sandbox file (``touchflow.bootstrap.open_sandbox``: the engine
    does not compose itself). The database is a fresh ``sim.db`` in a temporary directory, removed
    afterwards; with ``database_dir`` it is created there instead and kept (it must not hold one yet).
    ``pace_scans=False`` runs every hourly inactivity scan (as a worker does; the result is the same).
    ``inspect`` reads the sandbox store after the run, before it is closed (the dry run's trace).
    """
    began = time.perf_counter()
    if not journey_texts:
        raise SimulationError("no journey to simulate")
    with tempfile.TemporaryDirectory(prefix="touchflow-sim-") as tmp:
        directory = Path(tmp) if database_dir is None else database_dir
        path = directory / "sim.db"
        if path.exists():
            raise SimulationError(f"{path} exists: the sandbox always starts from an empty database")
        directory.mkdir(parents=True, exist_ok=True)
        clock = VirtualClock(scenario.start)
        app = open_store(path, clock, batch_size)
        dispatcher: Dispatcher | None = None
        try:
            app.services.ids = _SeededIds(scenario.seed)
            app.init_database()
            prepare_world(app.services, scenario.world)
            published = _publish(app.services, journey_texts)
            definitions = [d for _, d in published]
            later = _later_versions(scenario)
            check_references(scenario, [*definitions, *later])
            _check_actions(scenario, [d.key for d in definitions])
            sandbox = _Sandbox(scenario, app.services, clock, batch_size)
            with app.services.reader() as uow:
                sandbox.journey_keys = {r.id: r.key for r in uow.journeys.all()}
            sandbox.create_contacts()
            dispatcher = Dispatcher(app.services, batch_size, on_sent=sandbox.on_sent,
                                    channels=sandbox_channels(scenario.world, sandbox.who))
            sandbox.run(JourneyRuntime(app.services, batch_size, dispatcher=dispatcher,
                                       contact_pass=scenario.contact_pass, pace_scans=pace_scans))
            with app.services.reader() as uow:  # a version published by an action may add a journey
                sandbox.journey_keys = {r.id: r.key for r in uow.journeys.all()}
                policy = guardrail_policy(uow)
            if inspect is not None:
                inspect(app.services)
            observed = collect(app.services, scenario, {
                c.id: (c.persona.name, c.order, c.email.partition("@")[0]) for c in sandbox.contacts},
                sandbox.journey_keys, policy)
        finally:
            if dispatcher is not None:
                dispatcher.close()
            app.close()
    personas = [PersonaResult.of(p, observed) for p in scenario.personas]
    checks = evaluate_checks(scenario, observed)
    stats = {"contacts": len(sandbox.contacts), "events": sandbox.events, "messages": sandbox.messages,
             "instants": sandbox.instants}
    keys = [d.key for d in definitions]
    actions = [done.to_json(format_offset(done.action.at)) for done in sandbox.done]
    return SimulationResult(scenario, keys, personas, node_counts([*definitions, *later], observed), checks, stats,
                            time.perf_counter() - began, actions)


def _check_actions(scenario: Scenario, keys: list[str]) -> None:
    """An action on a journey none of the given ones is (a typo) is an error at its path, before the run."""
    for action in scenario.world.actions:
        if action.kind in ("pause", "resume") and action.target not in keys:
            raise ScenarioError(f"{action.path}.{action.kind}", f"no journey {action.target!r} is simulated "
                                f"({', '.join(keys)})")
        if action.kind == "publish" and action.target not in keys:
            raise ScenarioError(f"{action.path}.publish.key", f"publishes a new version of a simulated journey; "
                                f"{action.target!r} is not one ({', '.join(keys)})")


def _later_versions(scenario: Scenario) -> list[JourneyDefinition]:
    """The versions the scenario's actions publish (already validated by the parser)."""
    found = []
    for path, data in scenario.world.published():
        try:
            found.append(parse_journey(data))
        except DefinitionError as exc:  # pragma: no cover - parse_scenario checked it
            raise ScenarioError(f"{path}.publish", exc.reason) from None
    return found
