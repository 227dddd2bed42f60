"""The journey runtime: claim batches of due work, advance them with the pure core, write in bulk.

Three kinds of work, each claimed in batches and done in one transaction per batch:

* **events** from the inbox: enter contacts into journeys whose trigger matches, and wake their
  runs that wait for that event type (or whose goal or exit rule it is);
* **timers**: runs whose ``wake_at`` has come (waits, event-wait timeouts, retries, delayed starts);
* **scans**: schedule, inactivity and date-attribute triggers, evaluated as SQL over all contacts.

A crash loses nothing: a batch either commits whole (runs moved, outbox rows written, inbox rows
deleted) or not at all and is claimed again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from touchflow.domain.conditions.predicates import ContactFacts, EventFact
from touchflow.domain.journeys.transitions import (
    EventArrived,
    Run,
    RunStatus,
    TimerDue,
    advance,
)
from touchflow.engine.catalog import JourneyCatalog, event_needs, needs_facts
from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.quarantine import (
    bisect,
    failed_entry,
    is_transient,
    park_run,
    parked,
    quarantine_note,
    quarantined,
)
from touchflow.engine.read_ahead import ENROLMENT_EVENT, ReadAhead, entry_of, entry_targets, read_ahead
from touchflow.engine.scans import SCAN_KINDS, ScanPacing, run_scans
from touchflow.engine.steps import StepBatch
from touchflow.engine.tick_report import TickReport, part_name
from touchflow.services.alerts import AlertSweeper
from touchflow.services.approval_files import ApprovalSweeper
from touchflow.services.context import ServiceContext
from touchflow.services.experiments import ExperimentSweeper
from touchflow.services.lifecycle_pass import contact_pass_due_at, refresh_due
from touchflow.services.metrics import RollupSweeper
from touchflow.services.pacing import Pacer, store_pacer
from touchflow.services.segment_drain import drain_rounds
from touchflow.services.segments import segments_due_at, update_segments
from touchflow.services.tasks import report_sla_breaches

__all__ = ["JourneyRuntime", "TickReport"]

log = logging.getLogger(__name__)
PASS_SHARE = 0.05  # seconds of a tick the contact pass and the segment drain each get while they have a backlog
TICK_BATCHES = 2  # a tick routes and wakes at most this many full batches of each (the rest: the next tick)


class JourneyRuntime:
    def __init__(self, ctx: ServiceContext, batch_size: int = 1000, dispatcher: Dispatcher | None = None,
                 contact_pass: bool = True, pace_scans: bool = False, tick_limit: int | None = None,
                 scheduled_refresh: bool = True) -> None:
        # at most this many inbox events and this many due runs per tick (and never events that arrived after
        # the tick began): a steady feed cannot keep one tick routing while timers and dispatch wait
        self.tick_limit = tick_limit or TICK_BATCHES * batch_size
        self.contact_pass = contact_pass  # scores, tiers, stages each tick (the sandbox may leave it out)
        # segments' scheduled full recomputes in the tick (the sandbox); a worker runs them beside it (ADR 0066)
        self.scheduled_refresh = scheduled_refresh
        # the sandbox skips inactivity scans that provably enter nobody (see ScanPacing); a worker does not
        self.pacing = ScanPacing() if pace_scans else None
        self.ctx = ctx
        self.batch_size = batch_size
        self.catalog = JourneyCatalog()
        self.dispatcher = dispatcher
        self._claimed_events: list[str] = []  # the last inbox claim: what a quarantine may take out
        self._claimed_runs: list[str] = []  # the last timer claim: what a quarantine may park
        # each kind of work learns how much fits in one write transaction: short on SQLite, longer on PostgreSQL,
        # whose row locks block no one (services/pacing.py)
        self._route_pacer = store_pacer(ctx, start=min(100, batch_size), low=1, high=batch_size)
        self._due_pacer = store_pacer(ctx, start=min(100, batch_size), low=1, high=batch_size)
        self._segment_pacer = store_pacer(ctx, start=200, high=50_000)
        # the drain's rounds (rows evaluated per read snapshot), sized by their evaluating time (ADR 0062)
        self._segment_rounds = drain_rounds()
        self._contact_pacer = store_pacer(ctx)
        self._sweep_approvals = ApprovalSweeper(ctx)  # lapsed requests, export files past 24 h (P4)
        self._sweep_alerts = AlertSweeper(ctx)  # circuit breakers, daily metric rules (A4)
        self.passes: list[Callable[[], int]] = []  # periodic chores the composition root adds (reports, goals)
        self._refresh_metrics = RollupSweeper(ctx)  # metric rollups (A1), at most once a minute
        self._check_experiments = ExperimentSweeper(ctx)  # guardrail metrics stop experiments (A5), daily

    # --- events ----------------------------------------------------------------------------------

    def route_events(self, limit: int | None = None) -> TickReport:
        """One batch (``batch_size`` events unless ``limit`` says fewer) from the event inbox; a poison batch is
        bisected to the bad event (engine/quarantine)."""
        return bisect(self._route, limit or self.batch_size, self._route_alone, "inbox events")

    def _route_alone(self, error: BaseException) -> TickReport:
        """The first inbox event fails alone: route it with each run and entry on its own, parking the
        ones that raise; if even that fails, take the event out of the inbox with an audit row."""
        self._claimed_events = []
        try:
            return self._route(1, isolate=True)
        except Exception as exc:
            if is_transient(exc):
                raise
            error = exc
        failed = set(self._claimed_events)
        now = self.ctx.clock.now()
        with self.ctx.uow() as uow:  # only the event that failed (another worker may have taken it meanwhile)
            inbox = [e for e in uow.journeys.claim_inbox(1) if e.event_id in failed]
            for item in inbox:
                uow.audit.record("worker", "journey.event_quarantined", item.event_id,
                                 {"contact_id": item.contact_id, "type": item.type, "error": quarantine_note(error)},
                                 now)
            uow.journeys.delete_inbox([e.seq for e in inbox])
            uow.commit()
        log.error("inbox event %s dropped from routing: %s", [e.event_id for e in inbox], quarantine_note(error))
        return TickReport(events=len(inbox), errors=[quarantine_note(error)])

    def _prefetch(self, limit: int, now: datetime) -> ReadAhead | None:
        """SQLite: the batch's reads, before the write lock (engine/read_ahead.py)."""
        return read_ahead(self.ctx, self.catalog, limit, now)

    def _route(self, limit: int, isolate: bool = False) -> TickReport:
        now = self.ctx.clock.now()
        report = TickReport()
        pre = self._prefetch(limit, now) if self.ctx.single_writer and not isolate else None
        with self.ctx.uow() as uow:
            # the events read ahead, if still the inbox's head (more may have arrived: they wait for the next batch)
            if pre is not None and uow.journeys.inbox_head(len(pre.inbox)) == [e.seq for e in pre.inbox]:
                inbox = pre.inbox
            else:
                pre = None
                inbox = uow.journeys.claim_inbox(limit)
            self._claimed_events = [e.event_id for e in inbox]
            if not inbox:
                return report
            active = self.catalog.active(uow)
            # events no journey can act on (page views, sends nobody waits for: most of a busy inbox) are taken
            # out without reading their contacts' runs, facts or properties (ADR 0065)
            claimed, inbox = inbox, active.routable(inbox)
            if not inbox:
                uow.journeys.delete_inbox([e.seq for e in claimed])
                uow.commit()
                report.events = len(claimed)
                return report
            contact_ids = {e.contact_id for e in inbox}
            live_runs = uow.journeys.runs_of(contact_ids, statuses=("active", "waiting"))
            if isolate:  # a run whose version cannot be loaded is parked below
                definitions = {}
                for run in live_runs:
                    try:
                        definitions.update(self.catalog.for_runs(uow, [run]))
                    except Exception as exc:
                        park_run(uow, run, exc, now)
                live_runs = [r for r in live_runs if (r.journey_id, r.version) in definitions]
            else:
                definitions = self.catalog.for_runs(uow, live_runs)
            definitions.update({(jid, rec.current_version): d for jid, (rec, d) in active.by_id.items()
                                if rec.current_version is not None})
            batch = StepBatch(uow, self.catalog, self.ctx.ids, now)
            for jid, version in batch.arms.experiment_versions():  # entrants may run another version (ADR 0034)
                if jid in active.by_id:
                    definitions[(jid, version)] = self.catalog.definition(uow, jid, version)
            needs = event_needs(definitions.values())
            facts: dict[str, ContactFacts] = {}
            if pre is not None and pre.needs == needs:
                facts, properties, matches = dict(pre.facts), pre.properties, pre.matches
            else:
                properties = uow.events.properties_of([e.event_id for e in inbox])
                matches = {}
            runs_by_contact: dict[str, list[Run]] = defaultdict(list)
            for run in live_runs:
                runs_by_contact[run.contact_id].append(run)
            heard: dict[tuple[str, int], frozenset[str]] = {}  # (journey, version) -> event types it hears
            for its_version in definitions:
                heard[its_version] = definitions[its_version].event_types()
            # which journeys each event enters (the trigger index narrows the candidates; ADR 0059), and whose
            # facts are read: contacts an event may enter or whose live runs hear it, not the whole batch
            targets_of = [entry_targets(item, properties.get(item.event_id, {}), active, matches, now)
                          for item in inbox]
            wanted = {item.contact_id for item, targets in zip(inbox, targets_of, strict=True) if targets}
            wanted |= {item.contact_id for item in inbox
                       if any(run.journey_id in active.by_id and item.type in heard[(run.journey_id, run.version)]
                              for run in runs_by_contact.get(item.contact_id, ()))}
            if missing := wanted - facts.keys():
                facts.update(uow.journeys.load_facts(missing, needs, None))
            entry_journeys = {jid for ids in active.entry_by_type.values() for jid in ids}
            if any(e.type == ENROLMENT_EVENT for e in inbox):
                entry_journeys |= set(active.by_id)
            # Entry rules count runs per contact, journey and entry key (one run per order with entry.key).
            history: dict[tuple[str, str, str | None], list[tuple[datetime, RunStatus]]] = defaultdict(list)
            entering = {item.contact_id for item, targets in zip(inbox, targets_of, strict=True) if targets}
            for run in uow.journeys.runs_of(entering, entry_journeys) if entry_journeys and entering else []:
                history[(run.contact_id, run.journey_id, run.entry_key)].append((run.entered_at, run.status))
            for item, targets in zip(inbox, targets_of, strict=True):
                fact = EventFact(item.type, item.occurred_at, properties.get(item.event_id, {}), item.event_id)
                contact_facts = facts.get(item.contact_id) or ContactFacts(item.contact_id)
                moved: list[Run] = []
                for run in runs_by_contact[item.contact_id]:
                    # a run hears what its own version listens for: running contacts finish on their version
                    its_version = (run.journey_id, run.version)
                    if run.journey_id in active.by_id and run.status in ("active", "waiting") \
                            and item.type in heard[its_version]:
                        definition = definitions[its_version]
                        try:
                            result = advance(definition, run, contact_facts, EventArrived(fact), now, batch.arms)
                        except Exception as exc:
                            if not isolate:
                                raise
                            result = quarantined(run, exc, now)
                        run = batch.record(result, run)
                    moved.append(run)
                runs_by_contact[item.contact_id] = moved
                for journey_id in targets:
                    record, definition = active.by_id[journey_id]
                    start_at = (item.occurred_at + definition.trigger.delay
                                if definition.trigger.kind == "after_event" else None)
                    entry_key, entry_data = entry_of(definition, fact) if item.type != ENROLMENT_EVENT else (None, {})
                    if definition.entry.key and item.type != ENROLMENT_EVENT and entry_key is None:
                        continue  # keyed journey, event without the key: nothing to run for
                    runs_so_far = history[(item.contact_id, journey_id, entry_key)]
                    try:
                        entered = batch.enter(record, definition, contact_facts, runs_so_far, start_at,
                                              entry_key=entry_key, entry_data=entry_data)
                    except Exception as exc:
                        if not isolate:
                            raise
                        entered = failed_entry(batch, record.id, record.current_version or 0, definition.start,
                                                item.contact_id, exc, now, self.ctx.ids.new(now))
                    if entered is not None:
                        runs_so_far.append((entered.entered_at, entered.status))
                        runs_by_contact[item.contact_id].append(entered)
            batch.flush()
            uow.journeys.delete_inbox([e.seq for e in claimed])
            uow.commit()
        report.events, report.entered, report.advanced = len(claimed), batch.entered, batch.advanced
        return report

    # --- timers ----------------------------------------------------------------------------------

    def run_due(self, limit: int | None = None) -> TickReport:
        """One batch of runs whose wake-up time has come; a poison batch is bisected to the bad run."""
        return bisect(self._run_due, limit or self.batch_size, self._park_due, "due runs")

    def _park_due(self, error: BaseException) -> TickReport:
        failed = set(self._claimed_runs)  # the run that failed alone (another worker may have taken it meanwhile)
        now = self.ctx.clock.now()
        with self.ctx.uow() as uow:
            runs = [r for r in uow.journeys.claim_due(now, 1) if r.id in failed]
            for run in runs:
                park_run(uow, run, error, now)
            uow.commit()
        return TickReport(timers=len(runs), errors=[quarantine_note(error)])

    def _run_due(self, limit: int) -> TickReport:
        now = self.ctx.clock.now()
        report = TickReport()
        with self.ctx.uow() as uow:
            runs = uow.journeys.claim_due(now, limit)
            self._claimed_runs = [r.id for r in runs]
            if not runs:
                return report
            definitions = self.catalog.for_runs(uow, runs)
            contact_ids = {r.contact_id for r in runs}
            if needs_facts(definitions.values()):
                facts = uow.journeys.load_facts(contact_ids, event_needs(definitions.values()), None)
            else:  # e.g. wait → send → exit: nothing about the contact is read
                facts = {cid: ContactFacts(cid) for cid in contact_ids}
            batch = StepBatch(uow, self.catalog, self.ctx.ids, now)
            for run in runs:
                result = advance(definitions[(run.journey_id, run.version)], run, facts[run.contact_id], TimerDue(),
                                 now, batch.arms)
                if not result.changed and result.run.wake_at is not None and result.run.wake_at <= now:
                    # Nothing could move it (e.g. a definition changed under it): park it instead of spinning.
                    result.run = parked(result.run, "woke but could not move")
                batch.record(result, run)
            batch.flush()
            uow.commit()
        report.timers, report.entered, report.advanced = len(runs), batch.entered, batch.advanced
        return report

    # --- the loop --------------------------------------------------------------------------------

    def tick(self) -> TickReport:
        """Drain what is due now: events, timers, scans and (if wired) the outbox. ``spent`` says where the
        tick's time went, part by part."""
        total = TickReport()
        if self.contact_pass:  # scores, tiers, stages of touched contacts (a backlog: a share per tick); daily: all
            with total.timed("contacts"):
                total.scanned += refresh_due(self.ctx, self._contact_pacer, time.perf_counter() + PASS_SHARE)
        # before routing, so entries route in this tick; a backlog drains a share per tick
        with total.timed("segments"):
            total.scanned += update_segments(self.ctx, pacer=self._segment_pacer, rounds=self._segment_rounds,
                                             deadline=time.perf_counter() + PASS_SHARE,
                                             scheduled=self.scheduled_refresh)
        # the inbox as it is now (entries the segment drain just queued included), not what arrives meanwhile
        with total.timed("routing"):
            routed = self._drain(self.route_events, self._route_pacer, self._inbox_size(self.tick_limit))
        total.add(routed)
        with total.timed("timers"):
            total.add(self._drain(self.run_due, self._due_pacer, self.tick_limit))
        with total.timed("scans"):
            scans = run_scans(self.ctx, self.catalog, self.batch_size, self.pacing)
        total.scanned += scans.evaluated
        total.entered += scans.entered  # entries by scans count as entries (worker --once says so)
        with total.timed("deadlines"):
            total.events += report_sla_breaches(self.ctx, self.batch_size)
        with total.timed("approvals"):
            self._sweep_approvals()
        for chore in self.passes:
            with total.timed(part_name(chore)):
                total.scanned += chore()
        with total.timed("rollups"):
            self._refresh_metrics()
        with total.timed("alerts"):
            try:
                self._sweep_alerts()
            except Exception:  # a failing alert pass must not stop journeys; it is tried again on the next tick
                log.exception("alert pass failed")
        with total.timed("experiments"):
            try:
                self._check_experiments()
            except Exception:  # likewise: an experiment's analysis must not stop journeys
                log.exception("experiment pass failed")
        if self.dispatcher is not None:
            with total.timed("dispatch"):
                total.dispatched += self.dispatcher.dispatch_all(self.tick_limit)
            # messages just sent may be waited for by runs (message_sent); route them in the same tick, within
            # what is left of the tick's ``tick_limit`` (behind a backlog they wait for the next tick)
            left = self.tick_limit - routed.events
            if left > 0:
                with total.timed("routing"):
                    total.add(self._drain(self.route_events, self._route_pacer, self._inbox_size(left)))
        return total

    def _inbox_size(self, at_most: int) -> int:
        """The inbox's rows now, up to ``at_most`` (a full count read a backlog of millions every tick)."""
        with self.ctx.reader() as uow:
            return uow.journeys.inbox_size(at_most)

    def _drain(self, step: Callable[[int | None], TickReport], pacer: Pacer, budget: int) -> TickReport:
        """Batches of ``step`` sized to the write budget (ADR 0021), so ingest never waits long behind one, until
        one comes back short or ``budget`` items are done: a tick works on a bounded amount, then yields."""
        total = TickReport()
        while budget > 0:
            if total.events or total.timers:
                pacer.pause()
            size = min(pacer.size, budget)
            report = self._paced(step, pacer, size)
            total.add(report)
            done = report.events + report.timers
            budget -= done
            if done < size:
                break
        return total

    def _paced(self, step: Callable[[int | None], TickReport], pacer: Pacer, size: int) -> TickReport:
        """One batch of ``size``, timed for the pacer."""
        started = pacer.mark()
        report = step(size)
        pacer.took(report.events + report.timers, pacer.mark() - started)
        return report

    def next_due(self) -> datetime | None:
        """The earliest time ``tick`` has work: now while events or changed contacts wait, else the first
        run wake-up, outbox attempt (deferred send, retry, lease), task deadline, trigger scan, segment
        refresh or (with the contact pass) daily pass. None: nothing will ever be due without new input.

        The sandbox moves its virtual clock to this time, so it acts exactly when a worker would.
        """
        now = self.ctx.clock.now()
        found: list[datetime] = []
        with self.ctx.reader() as uow:
            if uow.journeys.inbox_size(1):
                return now
            found.extend(at for at in (uow.journeys.next_wake_at(), uow.tasks.next_deadline()) if at is not None)
            if self.dispatcher is not None and (at := uow.messages.next_attempt_at()) is not None:
                found.append(at)
            scheduled = uow.journeys.next_scans()
            for journey_id, (_, definition) in self.catalog.active(uow).by_id.items():
                if definition.trigger.kind not in SCAN_KINDS:
                    continue
                at = scheduled.get(journey_id, now)  # not scheduled yet: the next tick schedules it
                if self.pacing is not None and journey_id in scheduled:
                    at = self.pacing.plan(uow, journey_id, definition, at, now)
                found.append(at)
        if (at := segments_due_at(self.ctx, self.scheduled_refresh)) is not None:
            found.append(at)
        if self.contact_pass:
            found.append(contact_pass_due_at(self.ctx))
        if (at := self._sweep_alerts.next_due()) is not None:
            found.append(at)
        return min(found, default=None)

    def run_forever(self, stop: threading.Event, idle_sleep: float = 0.05) -> None:
        """Work until ``stop`` is set; sleep briefly only when there was nothing to do."""
        while not stop.is_set():
            try:
                report = self.tick()
            except Exception:  # keep the worker alive; the batch rolled back and will be claimed again
                log.exception("journey runtime tick failed")
                stop.wait(1.0)
                continue
            if report.work == 0:
                stop.wait(idle_sleep)
