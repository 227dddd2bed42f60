"""Routing reads ahead: what a batch of inbox events needs, read in a snapshot before the write lock.

On SQLite (one write lock for the whole database) a routing batch first reads, without the lock, the inbox's
head, the events' properties, which triggers match and the facts of the contacts they may enter — about two
thirds of a batch's time. The write transaction uses them only if the inbox head is still those events and the
event types needed are the same; what decides entries and moves runs (live runs, entry history) is read under
the lock, and so are the facts of contacts whose live runs hear an event (docs/decisions/0021, 0059).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.conditions.predicates import ContactFacts, EventFact
from touchflow.domain.journeys.model import JourneyDefinition
from touchflow.domain.journeys.ports import InboxEvent
from touchflow.domain.journeys.transitions import props_match
from touchflow.engine.catalog import ENROLMENT_EVENT, ActiveJourneys, JourneyCatalog, event_needs
from touchflow.services.context import ServiceContext

__all__ = ["ENROLMENT_EVENT", "ReadAhead", "entry_of", "entry_targets", "read_ahead", "trigger_matches"]

log = logging.getLogger(__name__)


@dataclass
class ReadAhead:
    inbox: list[InboxEvent]
    needs: frozenset[str]
    facts: dict[str, ContactFacts]  # of the contacts an event may enter (the others' are read if needed)
    properties: dict[str, dict[str, Any]]
    matches: dict[tuple[str, str, int | None], bool]  # (event, journey, version) -> the trigger matches (candidates)


def read_ahead(ctx: ServiceContext, catalog: JourneyCatalog, limit: int, now: datetime) -> ReadAhead | None:
    """The inbox's head and what routing it needs, from a read snapshot; None when the inbox is empty or
    something could not be read (the write transaction then reads everything itself, as before)."""
    try:
        with ctx.reader() as uow:
            inbox = uow.journeys.claim_inbox(limit)  # SQLite: a plain read
            if not inbox:
                return None
            active = catalog.active(uow)
            routed = active.routable(inbox)  # the events no journey hears are only taken out (ADR 0065)
            properties = uow.events.properties_of([e.event_id for e in routed]) if routed else {}
            matches: dict[tuple[str, str, int | None], bool] = {}
            entering: set[str] = set()  # contacts an event may enter: their facts are read here
            for item in routed:
                if item.type == ENROLMENT_EVENT:
                    entering.add(item.contact_id)
                    continue
                fact = EventFact(item.type, item.occurred_at, properties.get(item.event_id, {}), item.event_id)
                for journey_id in active.triggers.candidates(item.type, fact.properties):
                    record, definition = active.by_id[journey_id]
                    hit = matches[(item.event_id, journey_id, record.current_version)] = trigger_matches(
                        definition, fact, now)
                    if hit:
                        entering.add(item.contact_id)
            # the current versions' needs: runs on an older version that needs other types are rare,
            # and then the write transaction reads the facts again; contacts whose live runs hear an event
            # are known only under the lock, which reads their facts then
            needs = event_needs(d for _, d in active.by_id.values())
            facts = uow.journeys.load_facts(entering, needs, None) if entering else {}
    except Exception:  # e.g. a version that no longer parses: the write transaction deals with it
        log.debug("routing read-ahead failed; reading under the lock", exc_info=True)
        return None
    return ReadAhead(inbox, needs, facts, properties, matches)


def trigger_matches(definition: JourneyDefinition, fact: EventFact, now: datetime) -> bool:
    trigger = definition.trigger
    due = fact.occurred_at + (trigger.delay if trigger.kind == "after_event" else timedelta(0))
    if now - due > trigger.late_entry:  # history (an import of last month's events), not a reason to send now
        return False
    if trigger.kind == "segment":  # a segment_entered / segment_left event of that segment
        return fact.properties.get("segment") == trigger.segment
    return props_match(trigger.properties, fact.properties)


def entry_targets(item: InboxEvent, properties: Mapping[str, Any], active: ActiveJourneys,
                  matches: Mapping[tuple[str, str, int | None], bool], now: datetime) -> list[str]:
    """The journeys this event would enter, before entry rules and audience: the one an enrolment names, else
    those whose trigger matches, tested only among the trigger index's candidates (read ahead when known)."""
    if item.type == ENROLMENT_EVENT:  # enrolment by API/CLI, into any active journey
        wanted = active.by_key.get(str(properties.get("journey", "")))
        return [wanted] if wanted is not None else []
    found: list[str] = []
    fact: EventFact | None = None
    for journey_id in active.triggers.candidates(item.type, properties):
        record, definition = active.by_id[journey_id]
        matched = matches.get((item.event_id, journey_id, record.current_version))
        if matched is None:
            fact = fact or EventFact(item.type, item.occurred_at, properties, item.event_id)
            matched = trigger_matches(definition, fact, now)
        if matched:
            found.append(journey_id)
    return found


def entry_of(definition: JourneyDefinition, fact: EventFact) -> tuple[str | None, dict[str, Any]]:
    """The run's entry key (text, or None when the event lacks it) and the event properties it keeps."""
    data = {name: fact.properties[name] for name in definition.entry_properties() if name in fact.properties}
    if definition.entry.key is None:
        return None, data
    raw = fact.properties.get(definition.entry.key)
    key = None if raw is None or isinstance(raw, (dict, list)) or str(raw).strip() == "" else str(raw).strip()[:300]
    return key, data
