"""Metric rollups (A1): maintained incrementally from the events table and run steps, read by dashboards.

``refresh_rollups`` counts the rows committed since its watermark (``metrics.cursor``, a workspace setting:
``{"version": 2, "events": N, "steps": M}``, every row of a commit sequence below N/M is counted) with one
``GROUP BY`` each over events and run steps (store/rollup_sql.py, ADR 0033), adds the counts to
``metric_daily`` and moves the watermark in one short write transaction — only if the watermark is still the
one it read (compare-and-set), so a second worker never counts a row twice. The sequence is commit order
(SQLite's rowid; on PostgreSQL the writing transaction's id, up to the oldest still open), so a transaction that
commits late is counted late, not missed. Rows stamped less than ``settle`` ago wait for the next pass, as
before. ``rebuild_rollups`` recomputes with the same queries, so the incremental rollup and a recomputation
agree by construction (and a property test checks it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from touchflow.domain.errors import FieldError
from touchflow.domain.measurement.metrics import (
    DIMENSIONS,
    Dimension,
    MetricRow,
    group_rows,
    nearest_rank,
)
from touchflow.domain.measurement.metrics_ports import EventGroup, RollupKey, StepGroup, StoredRollup, Window
from touchflow.domain.measurement.nps import NpsResult, net_promoter_score
from touchflow.domain.measurement.rollup_columns import MESSAGE_TYPES, entry_segment
from touchflow.domain.messaging.followup import TimelinessLine
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.assignment import timeliness_report
from touchflow.services.channels import current_guardrail_policy
from touchflow.services.context import ServiceContext
from touchflow.services.periodic import Every

__all__ = ["CURSOR_KEY", "EVENT_TYPES", "NO_RECEIPTS", "SETTLE", "STEP_KINDS", "RefreshReport", "ResponseTimes",
           "RollupSweeper", "event_deltas", "local_today", "metric_rows", "nps", "prune_ingest_timings", "raw_counts",
           "rebuild_rollups",
           "refresh_rollups",
           "response_times", "step_deltas", "workspace_zone"]

CURSOR_KEY = "metrics.cursor"
CURSOR_VERSION = 2  # 1 (no "version"): (received_at, id) marks, counted in Python (ADR 0028)
SETTLE = timedelta(seconds=60)  # longer than any write transaction that stamps events before it commits
TIMINGS_KEPT = timedelta(days=90)  # ingest acknowledgement timings: response_times reads the last days
CHUNK = 5000  # kept for callers: a pass is one GROUP BY now, whatever its size
EVENT_TYPES = MESSAGE_TYPES
STEP_KINDS = frozenset({"entry", "goal"})
# channels without delivery receipts: SMTP (and on-site pop-ups) report only what came back, so a message sent
# and not bounced counts as delivered (Mailchimp's "successful deliveries"); the others count receipts
# (store/rollup_sql.py applies it in SQL)
NO_RECEIPTS = frozenset({"email", "onsite"})
_FAR = datetime(9999, 1, 1, tzinfo=UTC)

Deltas = dict[RollupKey, tuple[dict[str, int], float]]


@dataclass
class RefreshReport:
    events: int = 0
    steps: int = 0


def workspace_zone(ctx: ServiceContext) -> ZoneInfo:
    """Days are local days of the workspace zone (the guardrail policy's default time zone)."""
    return ZoneInfo(current_guardrail_policy(ctx).default_timezone)


def local_today(ctx: ServiceContext) -> date:
    """Today in the workspace zone (the default end of a metrics window)."""
    return ctx.clock.now().astimezone(workspace_zone(ctx)).date()


class _Segments:
    """Per pass: each journey's entry segment (read once)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._segments: dict[str, str] = {}

    def __call__(self, journey_id: str) -> str:
        if not journey_id:
            return ""
        if journey_id not in self._segments:
            record = self._uow.journeys.get(journey_id)
            definition = (self._uow.journeys.version(record.id, record.current_version)
                          if record is not None and record.current_version else None)
            self._segments[journey_id] = entry_segment(definition)
        return self._segments[journey_id]


def _add(deltas: Deltas, key: RollupKey, counts: Mapping[str, int], revenue: float = 0.0) -> None:
    kept = {n: v for n, v in counts.items() if v}
    if not kept and not revenue:
        return
    found = deltas.get(key)
    if found is None:
        deltas[key] = (kept, revenue)
        return
    summed = dict(found[0])
    for n, v in kept.items():
        summed[n] = summed.get(n, 0) + v
    deltas[key] = (summed, found[1] + revenue)


def event_deltas(groups: Iterable[EventGroup], segment: _Segments, deltas: Deltas) -> int:
    """Add the counted groups of message events to ``deltas`` under their entry segment; returns how many events
    they hold."""
    events = 0
    for g in groups:
        key = RollupKey(g.day, g.journey_id, g.node_id, g.template, g.channel, segment(g.journey_id), g.reason)
        _add(deltas, key, g.counts)
        events += g.events
    return events


def step_deltas(groups: Iterable[StepGroup], segment: _Segments, deltas: Deltas) -> int:
    """Entries and conversions (the journey's goal reached) of runs; no channel or template: they belong to the
    journey and the node the run was at."""
    steps = 0
    for g in groups:
        key = RollupKey(g.day, g.journey_id, g.node_id, "", "", segment(g.journey_id), "")
        _add(deltas, key, {"entered": g.entered, "converted": g.converted}, g.revenue)
        steps += g.steps
    return steps


def _current(cursor: Mapping[str, Any]) -> bool:
    return cursor.get("version") == CURSOR_VERSION


def _reset_old_cursor(ctx: ServiceContext) -> None:
    """Rows counted under the old watermark (a time) cannot be continued by sequence: count them all again."""
    with ctx.uow() as uow:
        cursor = uow.guards.lock_setting(CURSOR_KEY) or {}
        if cursor and not _current(cursor):
            uow.metrics.delete_from("")
            uow.guards.set_setting(CURSOR_KEY, {"version": CURSOR_VERSION, "events": 0, "steps": 0}, "touchflow",
                                   ctx.clock.now())
            uow.commit()


def _pass(ctx: ServiceContext, horizon: datetime, zone: ZoneInfo) -> RefreshReport:
    """One read transaction counts what settled since the watermark; one short write transaction adds it and
    moves the watermark if nobody moved it meanwhile (else read again). ADR 0021 keeps SQLite's write lock for
    the upserts only."""
    while True:
        with ctx.reader() as r:
            read = r.guards.setting(CURSOR_KEY) or {}
            events_w = r.metrics.events_window(int(read.get("events", 0)), read.get("events_pending", []), horizon)
            steps_w = r.metrics.steps_window(int(read.get("steps", 0)), read.get("steps_pending", []), horizon)
            if events_w.empty and steps_w.empty:
                return RefreshReport()
            segment = _Segments(r)
            deltas: Deltas = {}
            counted = RefreshReport()
            if not events_w.empty:
                counted.events = event_deltas(r.metrics.count_events(events_w, zone), segment, deltas)
            if not steps_w.empty:
                counted.steps = step_deltas(r.metrics.count_steps(steps_w, zone), segment, deltas)
        with ctx.uow() as uow:
            if (uow.guards.lock_setting(CURSOR_KEY) or {}) != read:
                continue  # another pass counted these rows meanwhile: read again from its watermark
            uow.metrics.add(deltas)
            uow.guards.set_setting(CURSOR_KEY, _cursor(events_w, steps_w), "touchflow", ctx.clock.now())
            uow.commit()
        return counted


def _cursor(events_w: Window, steps_w: Window) -> dict[str, Any]:
    cursor: dict[str, Any] = {"version": CURSOR_VERSION, "events": events_w.high, "steps": steps_w.high}
    if events_w.carry:
        cursor["events_pending"] = list(events_w.carry)
    if steps_w.carry:
        cursor["steps_pending"] = list(steps_w.carry)
    return cursor


def refresh_rollups(ctx: ServiceContext, *, settle: timedelta = SETTLE, chunk: int = CHUNK,
                    quiescent: bool = False) -> RefreshReport:
    """Count what committed since the watermark (stamped up to ``settle`` ago); idempotent. Reads first, so an
    idle workspace costs no write transaction. ``quiescent``: nothing else writes (a finished sandbox replay,
    whose virtual clock may run ahead of this one), so everything stored counts now. ``chunk`` is ignored."""
    del chunk
    horizon = _FAR if quiescent else ctx.clock.now() - settle
    with ctx.reader() as probe:
        cursor = probe.guards.setting(CURSOR_KEY) or {}
    if cursor and not _current(cursor):
        _reset_old_cursor(ctx)
    return _pass(ctx, horizon, workspace_zone(ctx))


def prune_ingest_timings(ctx: ServiceContext, keep: timedelta = TIMINGS_KEPT) -> int:
    """Retention of ``ingest_timings`` (one row per ingest batch, read for the last days' p50/p95 only)."""
    with ctx.uow() as uow:
        pruned = uow.metrics.prune_ingest_timings(ctx.clock.now() - keep)
        uow.commit()
    return pruned


class RollupSweeper:
    """What the worker's tick calls: at most every ``every``, ``refresh_rollups``; hourly, the timings' retention."""

    def __init__(self, ctx: ServiceContext, every: timedelta = timedelta(minutes=1)) -> None:
        self.ctx = ctx
        self.gate = Every(ctx.clock, every)
        self.retention = Every(ctx.clock, timedelta(hours=1))

    def __call__(self) -> int:
        if self.gate.due() is None:
            return 0
        report = refresh_rollups(self.ctx)
        if self.retention.due() is not None:
            prune_ingest_timings(self.ctx)
        return report.events + report.steps


def rebuild_rollups(ctx: ServiceContext, since: date | None = None, *, chunk: int = CHUNK) -> RefreshReport:
    """Recompute the rollup rows of ``since`` (a local day) and later — every row when ``since`` is None — from
    the raw events and run steps up to the watermark, in one transaction (readers never see the rows gone).
    ``chunk`` is ignored."""
    del chunk
    zone = workspace_zone(ctx)
    start = datetime.combine(since, time(), zone) if since else None
    with ctx.uow() as uow:
        cursor = uow.guards.lock_setting(CURSOR_KEY) or {}
        if not _current(cursor):  # nothing counted under the sequence watermark yet: the refresh counts it all
            cursor = {"version": CURSOR_VERSION, "events": 0, "steps": 0}
            uow.metrics.delete_from("")
            uow.guards.set_setting(CURSOR_KEY, cursor, "touchflow", ctx.clock.now())
        uow.metrics.delete_from(since.isoformat() if since else "")
        segment = _Segments(uow)
        deltas: Deltas = {}
        report = RefreshReport()
        # what the refreshes counted: below the watermark, except the transactions still pending
        events_w = Window(0, int(cursor["events"]), skip=tuple(cursor.get("events_pending", ())))
        steps_w = Window(0, int(cursor["steps"]), skip=tuple(cursor.get("steps_pending", ())))
        if not events_w.empty:
            report.events = event_deltas(uow.metrics.count_events(events_w, zone, occurred_from=start), segment,
                                         deltas)
        if not steps_w.empty:
            report.steps = step_deltas(uow.metrics.count_steps(steps_w, zone, at_from=start), segment, deltas)
        uow.metrics.add(deltas)
        uow.commit()
    return report


# --- reading -------------------------------------------------------------------------------------------


def _check_by(by: Sequence[str]) -> tuple[Dimension, ...]:
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise FieldError("by", f"unknown dimension {unknown[0]!r}; use {', '.join(DIMENSIONS)}")
    return tuple(cast("Dimension", d) for d in dict.fromkeys(by))


# kept in the rollup for the journeys list only (provider receipts of every channel): not a metric of a row
_NOT_METRICS = frozenset({"skipped", "receipts"})


def _to_row(stored: StoredRollup, keys: Mapping[str, str]) -> MetricRow:
    k, counts = stored.key, stored.counts
    skipped = {k.reason: counts["skipped"]} if k.reason and counts["skipped"] else {}
    return MetricRow(day=date.fromisoformat(k.day) if k.day else None, journey=keys.get(k.journey_id, k.journey_id),
                     step=k.node_id,
                     template=k.template, channel=k.channel, segment=k.segment,
                     **{n: counts[n] for n in counts if n not in _NOT_METRICS}, skipped=skipped,
                     revenue=stored.revenue)


def _shown(stored: StoredRollup) -> bool:
    """A row that counts something besides receipts (an email receipt alone, e.g. one delivered the day after its
    send, makes a row that counts receipts only: the metrics never showed it)."""
    return bool(stored.revenue) or any(v for n, v in stored.counts.items() if n != "receipts")


def metric_rows(ctx: ServiceContext, *, start: date, end: date, journey: str | None = None,
                by: Sequence[str] = ("day",)) -> list[MetricRow]:
    """Counts for local days ``start``..``end`` (inclusive), grouped by ``by`` (⊆ DIMENSIONS); ``journey`` is
    a key or id. Reads the rollups only (call ``refresh_rollups`` first for the latest minute)."""
    dims = _check_by(by)
    if end < start:
        raise FieldError("to", "is before from")
    with ctx.reader() as uow:
        keys = {r.id: r.key for r in uow.journeys.all()}
        journey_ids: list[str] | None = None
        if journey is not None:
            record = uow.journeys.get(journey)
            if record is None:
                raise FieldError("journey", f"no journey {journey!r}")
            journey_ids = [record.id]
        group = [{"journey": "journey_id", "step": "node_id"}.get(d, d) for d in dims]
        stored = uow.metrics.rows(start.isoformat(), end.isoformat(), journey_ids, group)
    return group_rows([_to_row(s, keys) for s in stored if _shown(s)], dims)


def raw_counts(rows: Iterable[StoredRollup]) -> dict[RollupKey, tuple[dict[str, int], float]]:
    """Stored rows as a comparable mapping (tests compare incremental and rebuilt rollups with it)."""
    return {r.key: ({n: v for n, v in r.counts.items() if v}, round(r.revenue, 6)) for r in rows}




# --- NPS and response times ----------------------------------------------------------------------------


def _local_range(ctx: ServiceContext, start: date, end: date) -> tuple[datetime, datetime]:
    zone = workspace_zone(ctx)
    return datetime.combine(start, time(), zone), datetime.combine(end + timedelta(days=1), time(), zone)


def nps(ctx: ServiceContext, *, start: date, end: date) -> NpsResult:
    """NPS of ``survey_response`` events that occurred on local days ``start``..``end``."""
    if end < start:
        raise FieldError("to", "is before from")
    low, high = _local_range(ctx, start, end)
    with ctx.reader() as uow:
        scores = uow.metrics.survey_scores(low, high)
    return net_promoter_score(score for _, score in scores)


@dataclass(frozen=True)
class ResponseTimes:
    """System response (ingest acknowledgement, event → journey entry) and people's (lead follow-up)."""

    ingest_batches: int
    ingest_p50_s: float | None
    ingest_p95_s: float | None
    entries: int
    entry_lag_p50_s: float | None
    entry_lag_p95_s: float | None
    followup: list[TimelinessLine]  # per team and per person: share within SLA, response p50/p90


ENTRY_SAMPLE = 10_000


def response_times(ctx: ServiceContext, *, days: int = 7) -> ResponseTimes:
    if days < 1:
        raise FieldError("days", "at least 1")
    since = ctx.clock.now() - timedelta(days=days)
    with ctx.reader() as uow:
        acks = uow.metrics.ingest_timings(since)
        lags = uow.metrics.entry_lags(since, ENTRY_SAMPLE)
    return ResponseTimes(len(acks), nearest_rank(acks, 0.5), nearest_rank(acks, 0.95), len(lags),
                         nearest_rank(lags, 0.5), nearest_rank(lags, 0.95), timeliness_report(ctx, days))
