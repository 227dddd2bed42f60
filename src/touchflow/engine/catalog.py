"""Published journeys as the runtime sees them: parsed once per (journey, version) and cached."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from touchflow.domain.conditions.predicates import Always, Condition, needs_events
from touchflow.domain.journeys.model import Branch, JourneyDefinition, Wait, WaitEvent
from touchflow.domain.journeys.parse import parse_journey
from touchflow.domain.journeys.ports import InboxEvent, JourneyRecord
from touchflow.domain.journeys.transitions import Run
from touchflow.domain.segments.model import ENTERED, LEFT
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.engine.trigger_index import TriggerIndex

__all__ = ["ENROLMENT_EVENT", "ActiveJourneys", "JourneyCatalog", "conditions_of", "event_needs", "needs_facts"]


log = logging.getLogger(__name__)
SEGMENT_EVENTS = {"enter": ENTERED, "exit": LEFT}  # a segment trigger is routed as its membership event
ENROLMENT_EVENT = "enrolment_requested"  # enrolment by API/CLI: into the journey it names, whatever its trigger


@dataclass
class ActiveJourneys:
    """The journeys taking entries now, indexed the ways the router needs them."""

    by_id: dict[str, tuple[JourneyRecord, JourneyDefinition]] = field(default_factory=dict)
    entry_by_type: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_key: dict[str, str] = field(default_factory=dict)
    triggers: TriggerIndex = field(default_factory=TriggerIndex)  # entry_by_type, narrowed by property values
    # every event type routing can act on (None: unknown, route everything); the rest leave the inbox unread
    heard: frozenset[str] | None = None

    def routable(self, inbox: list[InboxEvent]) -> list[InboxEvent]:
        """The events some journey can act on (ADR 0065)."""
        heard = self.heard
        return inbox if heard is None else [e for e in inbox if e.type in heard]


class JourneyCatalog:
    def __init__(self) -> None:
        self._versions: dict[tuple[str, int], JourneyDefinition] = {}
        self._broken: set[tuple[str, int]] = set()  # current versions that do not load, logged once
        # the last answer of ``active`` and the journey records it was built from: most batches find the same
        self._active: tuple[list[JourneyRecord], ActiveJourneys] | None = None

    def definition(self, uow: UnitOfWork, journey_id: str, version: int) -> JourneyDefinition:
        key = (journey_id, version)
        found = self._versions.get(key)
        if found is None:
            data = uow.journeys.version(journey_id, version)
            if data is None:
                raise LookupError(f"journey {journey_id} has no version {version}")
            found = self._versions[key] = parse_journey(data)
        return found

    def for_runs(self, uow: UnitOfWork, runs: Iterable[Run]) -> dict[tuple[str, int], JourneyDefinition]:
        return {(r.journey_id, r.version): self.definition(uow, r.journey_id, r.version) for r in runs}

    def active(self, uow: UnitOfWork) -> ActiveJourneys:
        """The journeys taking entries now (read-only for callers: the same answer serves while no record
        changes)."""
        records = uow.journeys.all()
        if self._active is not None and self._active[0] == records:
            return self._active[1]
        result = ActiveJourneys()
        for record in records:
            if record.status != "active" or record.current_version is None:
                continue
            try:
                definition = self.definition(uow, record.id, record.current_version)
            except Exception:  # a stored version that no longer loads takes no entries; it must not stop the rest
                if (record.id, record.current_version) not in self._broken:
                    self._broken.add((record.id, record.current_version))
                    log.exception("journey %s version %s does not load: it takes no entries", record.key,
                                  record.current_version)
                continue
            result.by_id[record.id] = (record, definition)
            result.by_key[record.key] = record.id
            trigger = definition.trigger
            event_type = trigger.event if trigger.kind in ("event", "after_event") else (
                SEGMENT_EVENTS[trigger.on] if trigger.kind == "segment" and trigger.segment else None)
            if event_type:
                result.entry_by_type[event_type].append(record.id)
                result.triggers.add(event_type, record.id, definition)
        result.heard = self._heard(uow, result)
        self._active = (records, result)
        return result

    def _heard(self, uow: UnitOfWork, active: ActiveJourneys) -> frozenset[str] | None:
        """What any published version of the active journeys hears (a run finishes on its own version, so an
        earlier version's waits count), their entry types and enrolments; None when a version does not load."""
        types: set[str] = {*active.entry_by_type, ENROLMENT_EVENT}
        for record, _ in active.by_id.values():
            for version in range(1, (record.current_version or 0) + 1):
                try:
                    types |= self.definition(uow, record.id, version).event_types()
                except LookupError:
                    continue  # a version number never published
                except Exception:
                    return None  # its runs are parked when they are routed; until then hear everything
        return frozenset(types)


def conditions_of(definition: JourneyDefinition) -> list[Condition]:
    found: list[Condition] = [definition.trigger.audience]
    if definition.exit_when is not None:
        found.append(definition.exit_when)
    for node in definition.nodes.values():
        if isinstance(node, Branch):
            found.extend(c for c, _ in node.cases)
    return found


def event_needs(definitions: Iterable[JourneyDefinition]) -> frozenset[str]:
    """The event types the definitions read from a contact's history: waits, goals, exits, conditions.

    The triggering event itself comes with the inbox row, so trigger types are not loaded here.
    """
    types: set[str] = set()
    for definition in definitions:
        types |= set(definition.exit_events)
        if definition.goal is not None:
            types.add(definition.goal.event)
        for node in definition.nodes.values():
            if isinstance(node, WaitEvent):
                types.update(node.events)
        for condition in conditions_of(definition):
            types |= needs_events(condition) or frozenset()
    return frozenset(types)


def needs_facts(definitions: Iterable[JourneyDefinition]) -> bool:
    """Whether advancing runs of these journeys reads anything about the contact at all."""
    for definition in definitions:
        if event_needs([definition]):
            return True
        if any(not isinstance(c, Always) for c in conditions_of(definition)):
            return True
        if any(isinstance(n, Wait) and n.until is not None for n in definition.nodes.values()):
            return True  # the contact's timezone
    return False
