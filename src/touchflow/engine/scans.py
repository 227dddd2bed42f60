"""Triggers that are not events: a schedule with an audience, inactivity, and a date attribute.

Each is a condition over all contacts, compiled to SQL and evaluated as a set, then the usual
entry rules apply per contact. A scan runs when its journey's ``next_scan_at`` has come.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from touchflow.domain.events import EVENT_CATALOGUE
from touchflow.domain.journeys import JourneyDefinition, Trigger
from touchflow.domain.ports import JourneyRecord
from touchflow.domain.predicates import And, AttrCompare, Condition, EvalContext, EventCount, Not, Or
from touchflow.domain.transitions import RunStatus
from touchflow.engine.catalog import JourneyCatalog, event_needs
from touchflow.engine.steps import StepBatch
from touchflow.services.context import ServiceContext

__all__ = ["INTERACTION_TYPES", "SCAN_INTERVAL", "first_fire", "run_scans", "scan_condition"]

SCAN_INTERVAL = timedelta(hours=1)
SCAN_KINDS = ("schedule", "inactivity", "after_attribute")
SCHEDULE_TZ = ZoneInfo("Asia/Shanghai")
INTERACTION_TYPES: tuple[str, ...] = tuple(
    t.name for t in EVENT_CATALOGUE.values() if t.interaction and t.name not in ("unsubscribe", "complaint"))


def first_fire(trigger: Trigger, now: datetime) -> datetime:
    """The first time a schedule fires: the next ``at`` (Shanghai time), or now."""
    if trigger.at is None:
        return now
    local = now.astimezone(SCHEDULE_TZ)
    candidate = local.replace(hour=trigger.at.hour, minute=trigger.at.minute, second=0, microsecond=0)
    if candidate < local:
        candidate += timedelta(days=1)
    return candidate.astimezone(now.tzinfo)


def scan_condition(trigger: Trigger, now: datetime) -> Condition:
    if trigger.kind == "inactivity":
        assert trigger.inactive_for is not None
        # Quiet for the whole window, but not for longer than the window plus late_entry: a contact who went
        # quiet a year ago is not news today (nor is one who never interacted at all).
        recent = Or(tuple(EventCount(t, "gte", 1, trigger.inactive_for) for t in INTERACTION_TYPES))
        lately = Or(tuple(EventCount(t, "gte", 1, trigger.inactive_for + trigger.late_entry)
                          for t in INTERACTION_TYPES))
        return And((trigger.audience, lately, Not(recent)))
    if trigger.kind == "after_attribute":
        assert trigger.attribute is not None
        cutoff = (now - trigger.delay).astimezone(SCHEDULE_TZ).date().isoformat()
        earliest = (now - trigger.delay - trigger.late_entry).astimezone(SCHEDULE_TZ).date().isoformat()
        return And((trigger.audience, AttrCompare(trigger.attribute, "exists", None),
                    AttrCompare(trigger.attribute, "lte", cutoff), AttrCompare(trigger.attribute, "gte", earliest)))
    return trigger.audience


def run_scans(ctx: ServiceContext, catalog: JourneyCatalog, batch_size: int) -> int:
    """Run every scan that is due; returns the number of contacts evaluated for entry."""
    now = ctx.clock.now()
    due: list[tuple[JourneyRecord, JourneyDefinition]] = []
    with ctx.uow() as uow:
        active = catalog.active(uow)
        scheduled = uow.journeys.next_scans()
        for journey_id, (record, definition) in active.by_id.items():
            if definition.trigger.kind not in SCAN_KINDS:
                continue
            next_at = scheduled.get(journey_id)
            if next_at is None:
                next_at = first_fire(definition.trigger, now) if definition.trigger.kind == "schedule" else now
                uow.journeys.ensure_scan(journey_id, next_at)
            if next_at <= now:
                due.append((record, definition))
        uow.commit()
    scanned = 0
    for record, definition in due:
        trigger = definition.trigger
        step = trigger.every if trigger.kind == "schedule" and trigger.every else SCAN_INTERVAL
        with ctx.uow() as uow:  # claim it: with several workers, one runs each due scan
            claimed = uow.journeys.claim_scan(record.id, now, now + step)
            uow.commit()
        if claimed:
            scanned += _scan(ctx, catalog, record, definition, now, batch_size)
    return scanned


def _scan(ctx: ServiceContext, catalog: JourneyCatalog, record: JourneyRecord, definition: JourneyDefinition,
          now: datetime, batch_size: int) -> int:
    condition = scan_condition(definition.trigger, now)
    with ctx.reader() as uow:
        candidates = uow.journeys.matching_contacts(condition, EvalContext(now=now))
    for start in range(0, len(candidates), batch_size):
        chunk = candidates[start:start + batch_size]
        with ctx.uow() as uow:
            history: dict[str, list[tuple[datetime, RunStatus]]] = defaultdict(list)
            for run in uow.journeys.runs_of(chunk, [record.id]):
                history[run.contact_id].append((run.entered_at, run.status))
            facts = uow.journeys.load_facts(chunk, event_needs([definition]), None)
            batch = StepBatch(uow, catalog, ctx.ids, now)
            for contact_id in chunk:
                batch.enter(record, definition, facts[contact_id], history[contact_id])
            batch.flush()
            uow.commit()
    return len(candidates)
