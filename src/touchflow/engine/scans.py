"""Triggers that are not events: a schedule with an audience, inactivity, and a date attribute.

Each is a condition over all contacts, compiled to SQL and evaluated as a set, then the usual
entry rules apply per contact. A scan runs when its journey's ``next_scan_at`` has come.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from touchflow.domain.conditions.predicates import (
    Always,
    And,
    AttrCompare,
    Condition,
    EvalContext,
    EventCount,
    EventSum,
    Not,
    Or,
    walk,
)
from touchflow.domain.events import EVENT_CATALOGUE
from touchflow.domain.journeys.model import JourneyDefinition, Trigger
from touchflow.domain.journeys.ports import JourneyRecord
from touchflow.domain.journeys.transitions import RunStatus
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.engine.catalog import JourneyCatalog, event_needs
from touchflow.engine.quarantine import is_transient, quarantine_note
from touchflow.engine.steps import StepBatch
from touchflow.services.context import ServiceContext
from touchflow.services.pacing import store_pacer

__all__ = ["INTERACTION_TYPES", "SCAN_INTERVAL", "ScanPacing", "ScanReport", "first_fire", "run_scans",
           "scan_condition"]

log = logging.getLogger(__name__)
SCAN_INTERVAL = timedelta(hours=1)
SCAN_KINDS = ("schedule", "inactivity", "after_attribute")
SCHEDULE_TZ = ZoneInfo("Asia/Shanghai")
_ANY_TIME = datetime(2000, 1, 1, tzinfo=SCHEDULE_TZ)
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


@dataclass(frozen=True)
class ScanReads:
    """What an inactivity scan reads: event types by window (0: an event's arrival counts at once)."""

    windows: Mapping[timedelta, frozenset[str]]
    arrivals: frozenset[str]  # read types that are not interactions
    inactive_for: timedelta


class ScanPacing:
    """Skips the hourly inactivity scans that provably enter nobody — for the sandbox, where virtual time
    makes idle scans its main cost (a worker scans every hour; this is off there).

    A scan that entered nobody is repeated exactly by the next one unless, in between, something it
    reads changed: an event of a type it reads that is not an interaction (an interaction makes its
    contact active, so it can only matter once it leaves a window — unless it is already that old),
    a merge, a run of the journey that ended — or time carried a stored event into or out of one of the
    condition's windows, or ended a cooldown. ``plan`` reads those from the store and moves the
    journey's next scan to the first hour of its grid (the last scan plus whole hours) at which one of
    them can matter, so entries happen at exactly the times hourly scans give (a test runs scenarios
    both ways). Only conditions of event counts and sums are paced.
    """

    def __init__(self) -> None:
        self.last: dict[str, datetime] = {}  # journey id -> when it was last scanned (by this runtime)
        self._reads: dict[int, ScanReads | None] = {}

    def reads(self, definition: JourneyDefinition) -> ScanReads | None:
        """What an inactivity scan reads; None when it reads more (attributes, tags, segments …)."""
        if id(definition) not in self._reads:
            self._reads[id(definition)] = _reads(definition)
        return self._reads[id(definition)]

    def plan(self, uow: UnitOfWork, journey_id: str, definition: JourneyDefinition, scheduled: datetime,
             now: datetime) -> datetime:
        """When the journey's next scan is worth running (``scheduled`` when it cannot be paced)."""
        last = self.last.get(journey_id)
        reads = self.reads(definition)
        if last is None or reads is None:
            return scheduled
        interactions = frozenset(t for ts in reads.windows.values() for t in ts) - reads.arrivals
        if uow.journeys.scan_inputs_changed(journey_id, last, reads.arrivals, interactions,
                                           now - reads.inactive_for):
            return min(scheduled, _grid(last, now))
        crossing = uow.journeys.next_window_crossing(journey_id, last, reads.windows, definition.entry.cooldown)
        return _grid(last, crossing if crossing is not None else last + timedelta(days=3650))


def _reads(definition: JourneyDefinition) -> ScanReads | None:
    trigger = definition.trigger
    if trigger.kind != "inactivity" or trigger.inactive_for is None:
        return None
    windows: dict[timedelta, set[str]] = defaultdict(set)
    read: set[str] = set()
    for node in walk(scan_condition(trigger, _ANY_TIME)):  # an inactivity condition is the same at any time
        if isinstance(node, EventCount | EventSum):
            read.add(node.event_type)
            if node.within is not None:
                windows[node.within].add(node.event_type)
        elif not isinstance(node, And | Or | Not | Always):
            return None
    arrivals = frozenset(read - set(INTERACTION_TYPES))
    if arrivals:
        windows[timedelta(0)] |= arrivals
    return ScanReads({w: frozenset(t) for w, t in windows.items()}, arrivals, trigger.inactive_for)


def _grid(anchor: datetime, target: datetime) -> datetime:
    """The first ``anchor + k × SCAN_INTERVAL`` (k ≥ 1) that is not before ``target``."""
    steps = max(1, -((anchor - target) // SCAN_INTERVAL))
    return anchor + steps * SCAN_INTERVAL


def run_scans(ctx: ServiceContext, catalog: JourneyCatalog, batch_size: int, pacing: ScanPacing | None = None
              ) -> ScanReport:
    """Run every scan that is due; returns the contacts evaluated for entry and those that entered."""
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
            elif pacing is not None and (paced := pacing.plan(uow, journey_id, definition, next_at, now)) != next_at:
                uow.journeys.set_next_scan(journey_id, paced)
                next_at = paced
            if next_at <= now:
                due.append((record, definition))
        uow.commit()
    report = ScanReport()
    for record, definition in due:
        trigger = definition.trigger
        step = trigger.every if trigger.kind == "schedule" and trigger.every else SCAN_INTERVAL
        with ctx.uow() as uow:  # claim it: with several workers, one runs each due scan
            claimed = uow.journeys.claim_scan(record.id, now, now + step)
            uow.commit()
        if not claimed:
            continue
        try:
            evaluated, entered = _scan(ctx, catalog, record, definition, now, batch_size)
            report = ScanReport(report.evaluated + evaluated, report.entered + entered)
            if pacing is not None:
                pacing.last[record.id] = now
        except Exception as exc:  # one journey's bad audience must not stop the others, nor the rest of the tick
            if is_transient(exc):
                raise
            log.exception("scan of journey %s failed; it is tried again at its next scan", record.key)
            with ctx.uow() as uow:
                uow.audit.record("worker", "journey.scan_failed", record.key, {"error": quarantine_note(exc)}, now)
                uow.commit()
    return report


@dataclass(frozen=True)
class ScanReport:
    evaluated: int = 0  # contacts the scans' conditions matched
    entered: int = 0  # of those, the ones the entry rules and audiences let in


def _scan(ctx: ServiceContext, catalog: JourneyCatalog, record: JourneyRecord, definition: JourneyDefinition,
          now: datetime, batch_size: int) -> tuple[int, int]:
    condition = scan_condition(definition.trigger, now)
    with ctx.reader() as uow:
        candidates = uow.journeys.matching_contacts(condition, EvalContext(now=now))
    # entries in short write transactions, at most batch_size contacts each (ADR 0021)
    pacer = store_pacer(ctx, start=min(100, batch_size), low=1, high=batch_size)
    entered = 0
    for chunk in pacer.chunks(candidates):
        with ctx.uow() as uow:
            uow.journeys.lock_contacts(chunk)  # as the inbox claim does: a hand enrolment cannot enter twice
            history: dict[str, list[tuple[datetime, RunStatus]]] = defaultdict(list)
            for run in uow.journeys.runs_of(chunk, [record.id]):
                history[run.contact_id].append((run.entered_at, run.status))
            facts = uow.journeys.load_facts(chunk, event_needs([definition]), None)
            batch = StepBatch(uow, catalog, ctx.ids, now)
            for contact_id in chunk:
                batch.enter(record, definition, facts[contact_id], history[contact_id])
            batch.flush()
            uow.commit()
            entered += batch.entered
    return len(candidates), entered
