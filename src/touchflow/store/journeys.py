"""Journey storage: definitions, runs, trace, outbox, tasks, the event inbox.

Versions (``store/journey_versions.py``) and the counts of a journey's messages (``store/journey_messages.py``)
live in their own modules; ``SqlJourneyRepository`` takes both in, so it stays the one ``JourneyRepository``.

Every method is set-based: the runtime claims and writes whole batches. On PostgreSQL claims use
``FOR UPDATE SKIP LOCKED`` plus a transaction-scoped advisory lock per contact, so several workers
share the work and two steps of one contact never run at the same time (ADR 0005).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update

from touchflow.domain.conditions.predicates import (
    Condition,
    ContactFacts,
    EvalContext,
    EventFact,
    evaluate,
    needs_events,
)
from touchflow.domain.governance.privacy import targeting
from touchflow.domain.journeys.ports import InboxEvent, JourneyRecord, StoredStep
from touchflow.domain.journeys.transitions import Run, RunStatus, StepRecord
from touchflow.domain.outbox import OutboxMessage, TaskRecord
from touchflow.security.pii import PiiCodec
from touchflow.store.bulk import bulk_insert
from touchflow.store.claims import locked_claims, queue_size
from touchflow.store.compile import compile_condition
from touchflow.store.journey_messages import JourneyMessageCounts
from touchflow.store.journey_versions import JourneyVersionQueries
from touchflow.store.messages import message_from
from touchflow.store.pii_fields import open_name
from touchflow.store.routing_reads import delete_inbox_rows, inbox_rows, run_of, run_rows
from touchflow.store.sql_functions import CodePointOrder
from touchflow.store.tables import (
    contact_tags,
    contacts,
    event_inbox,
    events,
    journey_runs,
    journey_schedules,
    journeys,
    outbox,
    run_steps,
    segment_members,
    segments,
    tasks,
)

__all__ = ["SqlJourneyRepository"]

_RUN_COLUMNS = ("id", "journey_id", "version", "contact_id", "node_id", "status", "entered_at", "updated_at",
                "wake_at", "waiting_for", "waiting_since", "timeout_at", "step_no", "attempts", "error",
                "entry_key", "entry_data")
_CHUNK = 500


def _run_from(row: Any) -> Run:
    return Run(id=row.id, journey_id=row.journey_id, version=row.version, contact_id=row.contact_id,
               node_id=row.node_id, status=row.status, entered_at=row.entered_at, wake_at=row.wake_at,
               waiting_for=tuple(row.waiting_for.split(",")) if row.waiting_for else (),
               waiting_since=row.waiting_since, timeout_at=row.timeout_at, step_no=row.step_no,
               attempts=row.attempts, error=row.error, entry_key=row.entry_key, entry_data=row.entry_data)


def _run_row(run: Run, now: datetime) -> tuple[Any, ...]:
    return (run.id, run.journey_id, run.version, run.contact_id, run.node_id, run.status, run.entered_at, now,
            run.wake_at, ",".join(run.waiting_for) or None, run.waiting_since, run.timeout_at, run.step_no,
            run.attempts, run.error, run.entry_key, dict(run.entry_data) if run.entry_data else None)


def _journey_from(row: Any) -> JourneyRecord:
    return JourneyRecord(row.id, row.key, row.name, row.status, row.current_version, row.created_at, row.updated_at,
                         row.status_reason or "")


class SqlJourneyRepository(JourneyVersionQueries, JourneyMessageCounts):
    def __init__(self, connection: Connection, pii: PiiCodec | None = None) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"
        self._pii = pii  # decrypts personal fields when encryption is enabled (ADR 0026)

    # --- definitions -----------------------------------------------------------------------------

    def get(self, key_or_id: str) -> JourneyRecord | None:
        row = self._c.execute(select(journeys).where((journeys.c.key == key_or_id) | (journeys.c.id == key_or_id))
                              ).first()
        return None if row is None else _journey_from(row)

    def all(self) -> list[JourneyRecord]:
        return [_journey_from(r) for r in self._c.execute(select(journeys).order_by(journeys.c.key))]

    def add(self, record: JourneyRecord) -> None:
        self._c.execute(insert(journeys).values(id=record.id, key=record.key, name=record.name,
                                                status=record.status, current_version=record.current_version,
                                                created_at=record.created_at, updated_at=record.updated_at))

    def save(self, record: JourneyRecord) -> None:
        self._c.execute(update(journeys).where(journeys.c.id == record.id).values(
            name=record.name, status=record.status, current_version=record.current_version,
            updated_at=record.updated_at, status_reason=record.status_reason or None))

    def next_scans(self) -> dict[str, datetime]:
        return {r.journey_id: r.next_scan_at for r in self._c.execute(select(journey_schedules))}

    def claim_scan(self, journey_id: str, now: datetime, next_at: datetime) -> bool:
        """Compare-and-set: move a due scan to ``next_at``; True for the one worker that did it."""
        result = self._c.execute(update(journey_schedules).where(
            journey_schedules.c.journey_id == journey_id, journey_schedules.c.next_scan_at <= now
        ).values(next_scan_at=next_at))
        return result.rowcount == 1

    def ensure_scan(self, journey_id: str, at: datetime) -> None:
        """Schedule a journey's first scan unless a concurrent worker already did."""
        bulk_insert(self._c, journey_schedules, ("journey_id", "next_scan_at"), [(journey_id, at)],
                    ignore_conflicts=True)

    def set_next_scan(self, journey_id: str, at: datetime) -> None:
        self._c.execute(delete(journey_schedules).where(journey_schedules.c.journey_id == journey_id))
        self._c.execute(insert(journey_schedules).values(journey_id=journey_id, next_scan_at=at))

    # --- runs ------------------------------------------------------------------------------------

    def insert_runs(self, runs: Sequence[Run], now: datetime) -> None:
        bulk_insert(self._c, journey_runs, _RUN_COLUMNS, [_run_row(r, now) for r in runs])

    def update_runs(self, runs: Sequence[Run], now: datetime) -> None:
        if not runs:
            return
        stmt = update(journey_runs).where(journey_runs.c.id == bindparam("b_id")).values(
            node_id=bindparam("b_node"), status=bindparam("b_status"), updated_at=bindparam("b_now"),
            wake_at=bindparam("b_wake"), waiting_for=bindparam("b_for"), waiting_since=bindparam("b_since"),
            timeout_at=bindparam("b_timeout"),
            step_no=bindparam("b_step"), attempts=bindparam("b_attempts"), error=bindparam("b_error"))
        self._c.execute(stmt, [{"b_id": r.id, "b_node": r.node_id, "b_status": r.status, "b_now": now,
                                "b_wake": r.wake_at, "b_for": ",".join(r.waiting_for) or None,
                                "b_since": r.waiting_since, "b_timeout": r.timeout_at, "b_step": r.step_no,
                                "b_attempts": r.attempts,
                                "b_error": r.error} for r in runs])

    def claim_due(self, now: datetime, limit: int) -> list[Run]:
        """Runs whose wake-up time has come, in journeys that are not paused; locked for this transaction.

        On PostgreSQL the candidate rows are picked and row-locked first (SKIP LOCKED, LIMIT), and only
        those take the per-contact advisory lock: taking it in the outer WHERE would lock every due row.
        """
        live = select(journeys.c.id).where(journeys.c.status == "active")
        found: list[Run] = []
        for status in ("waiting", "active"):
            if len(found) >= limit:
                break
            due = (select(journey_runs.c.id, journey_runs.c.contact_id)
                   .where(journey_runs.c.status == status, journey_runs.c.wake_at <= now,
                          journey_runs.c.journey_id.in_(live))
                   .order_by(journey_runs.c.wake_at).limit(limit - len(found)))
            if self._pg:
                locked = locked_claims(due.with_for_update(skip_locked=True, of=journey_runs))
                query = (select(journey_runs).join(locked, locked.c.id == journey_runs.c.id)
                         .order_by(journey_runs.c.wake_at))
            else:
                due = due.with_only_columns(journey_runs.c.id)
                query = (select(journey_runs).where(journey_runs.c.id.in_(due.scalar_subquery()))
                         .order_by(journey_runs.c.wake_at))
            found.extend(_run_from(r) for r in self._c.execute(query))
        return found

    def runs_of(self, contact_ids: Collection[str], journey_ids: Collection[str] | None = None,
                statuses: Collection[RunStatus] | None = None) -> list[Run]:
        """Runs of these contacts. Only ``contact_id`` goes to SQL: with more conditions SQLite's planner
        (without statistics) picks the (journey, status) index and reads every live run of the journey."""
        ids = sorted(set(contact_ids))
        journeys_wanted = None if journey_ids is None else set(journey_ids)
        statuses_wanted = None if statuses is None else set(statuses)
        return [run_of(row) for row in run_rows(self._c, ids, lock=statuses is not None)  # driver rows (hot path)
                if (journeys_wanted is None or row[1] in journeys_wanted)
                and (statuses_wanted is None or row[5] in statuses_wanted)]

    def runs_by_journey(self, journey_id: str) -> list[Run]:
        query = select(journey_runs).where(journey_runs.c.journey_id == journey_id).order_by(journey_runs.c.id)
        return [_run_from(r) for r in self._c.execute(query)]

    def runs_page(self, journey_id: str, status: str | None, offset: int, limit: int) -> list[Run]:
        """Runs of the journey (in ``status`` when given), newest entry first, ties by id in code-point order."""
        r = journey_runs.c
        query = select(journey_runs).where(r.journey_id == journey_id, *([r.status == status] if status else []))
        query = query.order_by(r.entered_at.desc(), CodePointOrder(r.id).desc()).offset(offset).limit(limit)
        return [_run_from(row) for row in self._c.execute(query)]

    def next_wake_at(self) -> datetime | None:
        """The earliest wake-up of any run in a live journey (the simulator jumps the clock to it)."""
        live = select(journeys.c.id).where(journeys.c.status == "active")
        found: datetime | None = self._c.execute(select(func.min(journey_runs.c.wake_at)).where(
            journey_runs.c.status.in_(("active", "waiting")), journey_runs.c.journey_id.in_(live))).scalar_one()
        return found

    def get_run(self, run_id: str) -> Run | None:
        row = self._c.execute(select(journey_runs).where(journey_runs.c.id == run_id)).first()
        return None if row is None else _run_from(row)

    def count_runs(self, journey_id: str) -> dict[str, int]:
        rows = self._c.execute(select(journey_runs.c.status, func.count()).where(
            journey_runs.c.journey_id == journey_id).group_by(journey_runs.c.status))
        return {status: int(n) for status, n in rows}

    def waiting_at_nodes(self, journey_id: str) -> dict[str, int]:
        rows = self._c.execute(select(journey_runs.c.node_id, func.count()).where(
            journey_runs.c.journey_id == journey_id, journey_runs.c.status.in_(("waiting", "active", "paused")))
            .group_by(journey_runs.c.node_id))
        return {node: int(n) for node, n in rows}

    def running_at_nodes(self, journey_id: str, running: Collection[str]) -> list[tuple[int, str, str, int]]:
        """(version, node, status, runs) of the runs in one of the ``running`` statuses: where they are now."""
        rows = self._c.execute(select(journey_runs.c.version, journey_runs.c.node_id, journey_runs.c.status,
                                      func.count()).where(journey_runs.c.journey_id == journey_id,
                                                          journey_runs.c.status.in_(sorted(running)))
                               .group_by(journey_runs.c.version, journey_runs.c.node_id, journey_runs.c.status))
        return sorted((int(v), str(n), str(s), int(c)) for v, n, s, c in rows)

    # --- trace, outbox, tasks --------------------------------------------------------------------

    def add_steps(self, rows: Sequence[tuple[Run, StepRecord]]) -> None:
        bulk_insert(self._c, run_steps, ("run_id", "contact_id", "journey_id", "node_id", "kind", "edge", "at",
                                         "detail"),
                    [(run.id, run.contact_id, run.journey_id, s.node_id, s.kind, s.edge, s.at, dict(s.detail))
                     for run, s in rows])

    def steps_of(self, run_ids: Collection[str]) -> list[StoredStep]:
        query = select(run_steps).where(run_steps.c.run_id.in_(sorted(run_ids))).order_by(run_steps.c.id)
        return [StoredStep(r.run_id, r.node_id, r.kind, r.edge, r.at, r.detail) for r in self._c.execute(query)]

    def enqueue(self, messages: Sequence[OutboxMessage]) -> None:
        bulk_insert(self._c, outbox, ("id", "idempotency_key", "run_id", "contact_id", "journey_id", "node_id",
                                      "channel", "template", "payload", "status", "attempts", "created_at",
                                      "updated_at", "next_attempt_at", "last_error"),
                    [(m.id, m.idempotency_key, m.run_id, m.contact_id, m.journey_id, m.node_id, m.channel,
                      m.template, m.payload, m.status, m.attempts, m.created_at, m.created_at, m.next_attempt_at,
                      None) for m in messages], ignore_conflicts=True)

    def messages_of(self, contact_ids: Collection[str]) -> list[OutboxMessage]:
        query = select(outbox).where(outbox.c.contact_id.in_(sorted(contact_ids))).order_by(outbox.c.created_at,
                                                                                            outbox.c.id)
        return [message_from(r) for r in self._c.execute(query)]

    def add_tasks(self, records: Sequence[TaskRecord]) -> None:
        bulk_insert(self._c, tasks, ("id", "idempotency_key", "contact_id", "run_id", "journey_id", "node_id",
                                     "queue", "title", "assignee", "status", "created_at", "due_at"),
                    [(t.id, t.idempotency_key, t.contact_id, t.run_id, t.journey_id, t.node_id, t.queue, t.title,
                      t.assignee, t.status, t.created_at, t.due_at) for t in records], ignore_conflicts=True)

    # --- the event inbox -------------------------------------------------------------------------

    def add_inbox(self, rows: Sequence[InboxEvent]) -> None:
        bulk_insert(self._c, event_inbox, ("event_id", "contact_id", "type", "occurred_at", "received_at"),
                    [(r.event_id, r.contact_id, r.type, r.occurred_at, r.received_at) for r in rows])

    def claim_inbox(self, limit: int) -> list[InboxEvent]:
        claimed = inbox_rows(self._c, limit)  # through the driver: every routing batch reads a thousand of these
        return self._in_contact_order(claimed) if self._pg and claimed else claimed

    def _in_contact_order(self, claimed: list[InboxEvent]) -> list[InboxEvent]:
        """Leave out a claimed event whose contact has an earlier event still in the inbox (ADR 0005: a contact's
        events are routed in inbox order). With several workers a scan can skip a contact's event while another
        worker holds that contact, and reach its next one after that worker committed; routing that one first
        would reorder the contact's events. It stays in the inbox, behind the earlier one.

        The rows below the claim's last one are the claim itself and what other workers hold: few. They are
        read in key order, a page at a time, so the plan is the primary key's range whatever the statistics say
        (a queue's are always stale: with ``seq < top`` alone PostgreSQL chose a parallel scan of the whole inbox
        for every batch, and a worker behind a backlog fell further behind)."""
        top = max(e.seq for e in claimed)
        mine = {e.seq for e in claimed}
        wanted = {e.contact_id for e in claimed}
        first_left: dict[str, int] = {}
        page, after = 2 * len(claimed) + 100, 0
        while True:
            rows = self._c.execute(select(event_inbox.c.seq, event_inbox.c.contact_id)
                                   .where(event_inbox.c.seq > after, event_inbox.c.seq < top)
                                   .order_by(event_inbox.c.seq).limit(page)).all()
            for seq, contact_id in rows:
                if seq not in mine and contact_id in wanted:
                    first_left.setdefault(contact_id, seq)
            if len(rows) < page:
                break
            after = rows[-1][0]
        if not first_left:
            return claimed
        return [e for e in claimed if e.seq < first_left.get(e.contact_id, top + 1)]

    def inbox_head(self, limit: int) -> list[int]:
        return list(self._c.execute(select(event_inbox.c.seq).order_by(event_inbox.c.seq).limit(limit)).scalars())

    def lock_contacts(self, contact_ids: Collection[str]) -> None:
        if not self._pg or not contact_ids:
            return  # SQLite: one writer at a time, and every entry is decided inside a write transaction
        # The claims' key (hashtextextended(contact_id, 0)); taken in ascending order so two scans never wait
        # on each other in a cycle (the claims only try, they never wait).
        self._c.exec_driver_sql(
            "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT DISTINCT hashtextextended(x, 0) AS k "
            "FROM unnest(%s::text[]) AS x ORDER BY 1) AS keys", (sorted(set(contact_ids)),))

    def delete_inbox(self, seqs: Sequence[int]) -> None:
        delete_inbox_rows(self._c, seqs)

    def inbox_size(self, at_most: int | None = None) -> int:
        return queue_size(self._c, event_inbox.c.seq, at_most)

    # --- what a scan reads, for the sandbox's scan pacing -----------------------------------------

    def scan_inputs_changed(self, journey_id: str, since: datetime, arrivals: Collection[str],
                            interactions: Collection[str], stale_before: datetime) -> bool:
        """Whether something stored since ``since`` can let a contact into an inactivity journey now: an
        event of an ``arrivals`` type, an interaction that happened before ``stale_before`` (one after it
        keeps its contact active until it crosses a window), a merge of two contacts, or a run of the
        journey that ended (ending frees its contact for another entry)."""
        probes = [select(contacts.c.id).where(contacts.c.updated_at >= since, contacts.c.merged_into.is_not(None)),
                  select(journey_runs.c.id).where(journey_runs.c.journey_id == journey_id,
                                                  journey_runs.c.updated_at >= since,
                                                  journey_runs.c.status.not_in(("active", "waiting", "paused")))]
        if arrivals:
            probes.append(select(events.c.id).where(events.c.received_at >= since, events.c.type.in_(list(arrivals))))
        if interactions:
            probes.append(select(events.c.id).where(events.c.received_at >= since,
                                                    events.c.type.in_(list(interactions)),
                                                    events.c.occurred_at <= stale_before))
        return any(self._c.execute(probe.limit(1)).first() is not None for probe in probes)

    def next_window_crossing(self, journey_id: str, after: datetime, windows: Mapping[timedelta, Collection[str]],
                             cooldown: timedelta | None) -> datetime | None:
        """The first moment after ``after`` at which time alone changes what a scan sees: a stored event of
        one of the types a window reads comes into it (window 0) or leaves it, or a run's cooldown ends."""
        found: list[datetime] = []
        for window, types in windows.items():
            first = self._c.execute(select(func.min(events.c.occurred_at)).where(
                events.c.type.in_(list(types)), events.c.occurred_at > after - window)).scalar_one()
            if first is not None:
                found.append(first + window)
        if cooldown is not None:
            entered = self._c.execute(select(func.min(journey_runs.c.entered_at)).where(
                journey_runs.c.journey_id == journey_id, journey_runs.c.entered_at > after - cooldown)).scalar_one()
            if entered is not None:
                found.append(entered + cooldown)
        return min(found, default=None)

    # --- facts for conditions --------------------------------------------------------------------

    def load_facts(self, contact_ids: Collection[str], event_types: Collection[str] | None,
                   since: Mapping[str, datetime] | None) -> dict[str, ContactFacts]:
        """Attributes, tags and the events (of the given types; per type in ``since``, from that time on) of each
        contact."""
        ids = sorted(set(contact_ids))
        values: dict[str, dict[str, Any]] = {}
        tag_sets: dict[str, set[str]] = defaultdict(set)
        event_lists: dict[str, list[EventFact]] = defaultdict(list)
        segment_sets: dict[str, set[str]] = defaultdict(set)
        standard = [c for c in contacts.c if c.name not in ("id", "created_at", "updated_at", "merged_into",
                                                            "custom", "lineage", "name_ct")]
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            for row in self._c.execute(select(contacts.c.id, contacts.c.custom, contacts.c.name_ct, *standard)
                                       .where(contacts.c.id.in_(chunk))).mappings():
                vals = {str(c.name): row[c.name] for c in standard if row[c.name] is not None}
                if row["name_ct"] is not None:
                    vals["name"] = open_name(self._pii, row["id"], None, row["name_ct"])
                vals.update({f"custom.{k}": v for k, v in (row["custom"] or {}).items()})
                values[row["id"]] = vals
            for contact_id, tag in self._c.execute(select(contact_tags.c.contact_id, contact_tags.c.tag)
                                                   .where(contact_tags.c.contact_id.in_(chunk))):
                tag_sets[contact_id].add(tag)
            for contact_id, key in self._c.execute(  # in_segment conditions evaluated in Python read these
                    select(segment_members.c.contact_id, segments.c.key)
                    .join(segments, segments.c.id == segment_members.c.segment_id)
                    .where(segment_members.c.contact_id.in_(chunk))):
                segment_sets[contact_id].add(key)
            if event_types is None or event_types:
                query = select(events.c.contact_id, events.c.type, events.c.occurred_at, events.c.properties,
                               events.c.id).where(events.c.contact_id.in_(chunk))
                if event_types is not None:
                    query = query.where(events.c.type.in_(sorted(event_types)))
                bounded = sorted((t, at) for t, at in (since or {}).items()
                                 if event_types is None or t in event_types)
                if bounded:  # a type read only so far back: its older events are not loaded
                    query = query.where(or_(events.c.type.not_in([t for t, _ in bounded]),
                                            *(and_(events.c.type == t, events.c.occurred_at >= at)
                                              for t, at in bounded)))
                for contact_id, etype, at, props, event_id in self._c.execute(query.order_by(events.c.occurred_at)):
                    event_lists[contact_id].append(EventFact(etype, at, props or {}, event_id))  # id: first/last ties
        return {cid: ContactFacts(cid, values.get(cid, {}), frozenset(tag_sets.get(cid, ())),
                                  tuple(event_lists.get(cid, ())), frozenset(segment_sets.get(cid, ())))
                for cid in ids}

    def matching_contacts(self, condition: Condition, ctx: EvalContext) -> list[str]:
        """Live contacts for which ``condition`` holds: SQL first, then any Python-only residual."""
        compiled = compile_condition(targeting(condition), ctx)  # scores: opted-out contacts excluded
        query = (select(contacts.c.id).where(contacts.c.merged_into.is_(None), compiled.where)
                 .order_by(contacts.c.id))
        ids = [r[0] for r in self._c.execute(query)]
        if compiled.residual is None:
            return ids
        needed = needs_events(compiled.residual)
        facts = self.load_facts(ids, needed or (), None)
        return [cid for cid in ids if evaluate(compiled.residual, facts[cid], ctx)]
