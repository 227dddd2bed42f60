"""Scan pacing for the sandbox: skip the hourly inactivity scans that provably find nobody new.

``ScanPacer`` is driven by the simulator around the scans of each engine tick; see its docstring
and docs/subsystems/simulator.md. A test runs scenarios paced and hourly and compares the results.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from touchflow.domain.journeys import JourneyDefinition
from touchflow.domain.ports import UnitOfWork
from touchflow.domain.predicates import AttrCompare, EventCount, EventSum, HasTag, MessageEngagement, walk
from touchflow.domain.transitions import ACTIVE_STATUSES
from touchflow.engine.runtime import TickReport
from touchflow.engine.scans import INTERACTION_TYPES, SCAN_INTERVAL, scan_condition
from touchflow.services.context import ServiceContext

__all__ = ["ScanPacer"]


@dataclass
class Watch:
    """What an inactivity scan reads: event types and windows, attributes or not, and its entry cooldown."""

    definition: JourneyDefinition
    types: frozenset[str]
    windows: tuple[timedelta, ...]
    attributes: bool
    ended: int = 0  # runs that ended (their end may let a contact in again)
    last_scan: datetime | None = None

    @property
    def arrivals(self) -> frozenset[str]:
        """Event types whose arrival may let a contact in. Not the interactions: one of those makes the
        contact active, so it can only let them in once it leaves the window (a threshold)."""
        return self.types - frozenset(INTERACTION_TYPES)


class ScanPacer:
    """Skips inactivity scans that provably find nobody new, so months pass in few instants.

    The engine scans an inactivity journey every hour. After a scan, the next one can only enter
    someone new if, in between, data it reads changed (an event of a non-interaction type it reads,
    an attribute or tag it reads, a run of the journey ended) or time moved an event across one of
    its windows or ended a cooldown. The sandbox sees all of these, so after a scan it moves the
    next one to the first hour of the same grid at or after the next such moment, and brings it
    forward whenever something changes — before the scans of a tick (the engine's scan at that
    instant would see it) or after them (it would not). Entries happen at exactly the times hourly
    scans give. A journey whose condition reads attributes or tags is paced only when it is the
    only scanned journey (another's entries could change them between two scans of one instant).
    """

    def __init__(self, ctx: ServiceContext, journeys: dict[str, JourneyDefinition], start: datetime) -> None:
        self.ctx = ctx
        self.watched: dict[str, Watch] = {}
        scanned = sum(d.trigger.kind in ("inactivity", "schedule", "after_attribute") for d in journeys.values())
        for journey_id, definition in journeys.items():
            if definition.trigger.kind != "inactivity":
                continue
            nodes = list(walk(scan_condition(definition.trigger, start)))
            windows = {n.within for n in nodes if isinstance(n, EventCount | EventSum | MessageEngagement)
                       and n.within is not None}
            types = {n.event_type for n in nodes if isinstance(n, EventCount | EventSum)}
            attributes = any(isinstance(n, AttrCompare | HasTag) for n in nodes)
            if not (attributes and scanned > 1):
                self.watched[journey_id] = Watch(definition, frozenset(types), tuple(sorted(windows)), attributes)
        self.times: dict[str, list[datetime]] = defaultdict(list)  # event type -> when (ascending)
        self.seen: list[tuple[str, datetime]] = []  # events since the last look

    def saw(self, event_type: str, at: datetime) -> None:
        if self.watched:
            bisect.insort(self.times[event_type], at)
            self.seen.append((event_type, at))

    def before_scans(self, instant: datetime, report: TickReport) -> dict[str, datetime]:
        """Changes the scans of this instant see; returns the schedule they run by."""
        return self._absorb(instant, report, instant)

    def after_tick(self, instant: datetime, report: TickReport) -> None:
        """Changes after the scans (messages sent, and what they moved): the next hour sees them."""
        self._absorb(instant, report, instant + timedelta(microseconds=1))

    def after_scans(self, instant: datetime, before: dict[str, datetime]) -> None:
        with self.ctx.uow() as uow:
            schedules = uow.journeys.next_scans()
            for journey_id, watch in self.watched.items():
                if (journey_id in before and before[journey_id] > instant) or journey_id not in schedules:
                    continue  # not scanned now
                watch.last_scan = instant
                watch.ended = ended_runs(uow.journeys.count_runs(journey_id))  # its own entries let no one in
                later = self._grid(instant, self._next_change(uow, journey_id, watch, instant))
                if later > schedules[journey_id]:
                    uow.journeys.set_next_scan(journey_id, later)
            uow.commit()

    def _absorb(self, instant: datetime, report: TickReport, earliest: datetime) -> dict[str, datetime]:
        touched = bool(self.seen or report.events or report.timers or report.dispatched or report.advanced
                       or report.entered)
        with self.ctx.uow() as uow:
            schedules = uow.journeys.next_scans()
            for journey_id, watch in self.watched.items():
                ended = ended_runs(uow.journeys.count_runs(journey_id))
                targets = [at + w for event_type, at in self.seen if event_type in watch.types
                           for w in watch.windows]
                if ended > watch.ended or any(t in watch.arrivals for t, _ in self.seen) or (
                        watch.attributes and touched):
                    targets.append(earliest)
                watch.ended = ended
                scheduled = schedules.get(journey_id)
                if targets and scheduled is not None and watch.last_scan is not None:
                    due = self._grid(watch.last_scan, max(min(targets), earliest))
                    if due < scheduled:
                        uow.journeys.set_next_scan(journey_id, due)
                        schedules[journey_id] = due
            uow.commit()
        self.seen = []
        return schedules

    @staticmethod
    def _grid(anchor: datetime, target: datetime) -> datetime:
        """The first time ``anchor + k × SCAN_INTERVAL`` (k ≥ 0) that is not before ``target``."""
        steps = max(0, -((anchor - target) // SCAN_INTERVAL))
        return anchor + steps * SCAN_INTERVAL

    def _next_change(self, uow: UnitOfWork, journey_id: str, watch: Watch, instant: datetime) -> datetime:
        found = [instant + timedelta(days=3650)]
        for window in watch.windows:
            for event_type in watch.types:
                times = self.times.get(event_type, [])
                index = bisect.bisect_right(times, instant - window)
                if index < len(times):
                    found.append(times[index] + window)  # this event leaves the window then
        cooldown = watch.definition.entry.cooldown
        if cooldown is not None:
            found.extend(r.entered_at + cooldown for r in uow.journeys.runs_by_journey(journey_id)
                         if r.entered_at + cooldown > instant)
        return max(min(found), instant + SCAN_INTERVAL)


def ended_runs(runs: dict[str, int]) -> int:
    return sum(n for status, n in runs.items() if status not in ACTIVE_STATUSES)
