"""Metric rollups (A1): maintained incrementally from the events table and run steps, read by dashboards.

``refresh_rollups`` reads what arrived since its watermark (``metrics.cursor``, a workspace setting: the last
(received_at, id) of events and (at, id) of run steps it counted), adds the counts to ``metric_daily`` and moves
the watermark in the same short transaction, chunk by chunk — so a crash or a second worker never counts a
row twice. Rows younger than ``settle`` are left for the next pass: a transaction stamped earlier may still be
committing (ADR 0028). ``rebuild_rollups`` recomputes from raw rows with the same code, so the incremental
rollup and a recomputation agree by construction (and a property test checks it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from touchflow.domain.errors import FieldError
from touchflow.domain.followup import TimelinessLine
from touchflow.domain.measurement.metrics import (
    DIMENSIONS,
    MESSAGE_EVENT_COUNTER,
    Dimension,
    MetricRow,
    group_rows,
    nearest_rank,
)
from touchflow.domain.measurement.metrics_ports import RawEvent, RawStep, RollupKey, StoredRollup
from touchflow.domain.measurement.nps import NpsResult, net_promoter_score
from touchflow.domain.ports import UnitOfWork
from touchflow.services.assignment import timeliness_report
from touchflow.services.channels import current_guardrail_policy
from touchflow.services.context import ServiceContext
from touchflow.services.periodic import Every

__all__ = ["CURSOR_KEY", "EVENT_TYPES", "NO_RECEIPTS", "SETTLE", "STEP_KINDS", "RefreshReport", "ResponseTimes",
           "RollupSweeper", "event_deltas", "local_today", "metric_rows", "nps", "raw_counts", "rebuild_rollups",
           "refresh_rollups",
           "response_times", "step_deltas", "workspace_zone"]

CURSOR_KEY = "metrics.cursor"
SETTLE = timedelta(seconds=60)  # longer than any write transaction that stamps events before it commits
CHUNK = 5000
EVENT_TYPES = frozenset({*MESSAGE_EVENT_COUNTER, "message_skipped"})
UNIQUE_TYPES = ("message_opened", "message_clicked")  # counted once per message as well
STEP_KINDS = frozenset({"entry", "goal"})
# channels without delivery receipts: SMTP (and on-site pop-ups) report only what came back, so a message sent
# and not bounced counts as delivered (Mailchimp's "successful deliveries"); the others count receipts
NO_RECEIPTS = frozenset({"email", "onsite"})

Counts = dict[str, int]
Deltas = dict[RollupKey, tuple[Counts, float]]


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


def _mark(value: Any) -> tuple[datetime, Any] | None:
    return (datetime.fromisoformat(value[0]), value[1]) if value else None


def _store_mark(mark: tuple[datetime, Any] | None) -> list[Any] | None:
    return [mark[0].isoformat(), mark[1]] if mark else None


class _Dimensions:
    """Per pass: the local day of a time and each journey's entry segment (read once)."""

    def __init__(self, uow: UnitOfWork, zone: ZoneInfo) -> None:
        self.zone = zone
        self._uow = uow
        self._segments: dict[str, str] = {}
        self._days: dict[int, str] = {}

    def day(self, at: datetime) -> str:
        # every zone's offset is a multiple of 15 minutes: one conversion per quarter hour seen
        quarter = int(at.timestamp()) // 900
        found = self._days.get(quarter)
        if found is None:
            found = self._days[quarter] = at.astimezone(self.zone).date().isoformat()
        return found

    def segment(self, journey_id: str) -> str:
        if not journey_id:
            return ""
        if journey_id not in self._segments:
            record = self._uow.journeys.get(journey_id)
            definition = (self._uow.journeys.version(record.id, record.current_version)
                          if record is not None and record.current_version else None) or {}
            trigger = definition.get("trigger")
            segment = trigger.get("segment") if isinstance(trigger, dict) else None
            self._segments[journey_id] = str(segment)[:64] if segment else ""
        return self._segments[journey_id]


def _add(deltas: Deltas, key: RollupKey, counter: str, n: int = 1, revenue: float = 0.0) -> None:
    found = deltas.get(key)
    if found is None:
        deltas[key] = ({counter: n}, revenue)
        return
    counts = found[0]
    counts[counter] = counts.get(counter, 0) + n
    if revenue:
        deltas[key] = (counts, found[1] + revenue)


def _message_id(event: RawEvent) -> str:
    value = event.properties.get("message_id")
    return str(value) if value else event.id


def _template(props: Mapping[str, Any], version: Any = None) -> str:
    name = str(props.get("template") or "")
    version = props.get("template_version", version)
    return (f"{name}@{version}" if name and version is not None else name)[:200]


def event_deltas(events: Iterable[RawEvent], seen: set[tuple[str, str]], dims: _Dimensions, deltas: Deltas,
                 versions: Mapping[str, Any] | None = None) -> None:
    """Add the counts of ``events`` (in arrival order); ``seen`` holds (type, message id) of opens and clicks
    counted before, and grows: the first open (click) of a message is its unique open (click). ``versions``:
    message id → the template version its ``message_sent`` event recorded (later events inherit it)."""
    versions = versions or {}
    for event in events:
        props = event.properties
        journey_id = str(props.get("journey_id") or "")[:40]
        reason = str(props.get("guardrail") or "unknown")[:64] if event.type == "message_skipped" else ""
        version = versions.get(_message_id(event)) if event.type in AFTER_SEND else None
        key = RollupKey(dims.day(event.occurred_at), journey_id, str(props.get("node_id") or "")[:64],
                        _template(props, version), str(props.get("channel") or "")[:32], dims.segment(journey_id),
                        reason)
        if event.type == "message_skipped":
            _add(deltas, key, "skipped")
            continue
        if key.channel in NO_RECEIPTS:  # delivered = sent − bounced: the provider confirms nothing else
            if event.type == "message_delivered":
                continue
            if event.type in ("message_sent", "message_bounced"):
                _add(deltas, key, "delivered", 1 if event.type == "message_sent" else -1)
        _add(deltas, key, MESSAGE_EVENT_COUNTER[event.type])
        if event.type in UNIQUE_TYPES:
            first = (event.type, _message_id(event))
            if first not in seen:
                seen.add(first)
                _add(deltas, key, "opened_unique" if event.type == "message_opened" else "clicked_unique")


def _amount(detail: Mapping[str, Any]) -> float:
    value = detail.get("amount")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def step_deltas(steps: Iterable[RawStep], dims: _Dimensions, deltas: Deltas) -> None:
    """Entries and conversions (the journey's goal reached) of runs; no channel or template: they belong to the
    journey and the node the run was at."""
    for step in steps:
        key = RollupKey(dims.day(step.at), step.journey_id, step.node_id, "", "", dims.segment(step.journey_id), "")
        if step.kind == "entry":
            _add(deltas, key, "entered")
        else:
            _add(deltas, key, "converted", revenue=_amount(step.detail))


AFTER_SEND = frozenset(EVENT_TYPES - {"message_queued", "message_skipped", "message_sent"})


def _sent_versions(uow: UnitOfWork, batch: Sequence[RawEvent]) -> dict[str, Any]:
    """The template version of each message whose later events are in ``batch`` (from its sent event)."""
    wanted = {_message_id(e) for e in batch if e.type in AFTER_SEND and "template_version" not in e.properties}
    if not wanted:
        return {}
    sent = uow.events.properties_of([f"m_{m}_sent" for m in wanted])
    return {key[2:-5]: props["template_version"] for key, props in sent.items() if "template_version" in props}


def _seen_before(uow: UnitOfWork, batch: Sequence[RawEvent]) -> set[tuple[str, str]]:
    contacts = {e.contact_id for e in batch if e.type in UNIQUE_TYPES}
    if not contacts:
        return set()
    earlier = uow.metrics.earlier_events(contacts, UNIQUE_TYPES, (batch[0].received_at, batch[0].id))
    return {(e.type, _message_id(e)) for e in earlier}


def _pass(ctx: ServiceContext, horizon: datetime, chunk: int, zone: ZoneInfo, *, rebuild_from: datetime | None = None,
          through: Mapping[str, Any] | None = None) -> RefreshReport:
    """Chunks until nothing is left. Each chunk is read and counted in a read transaction, then written in a
    short write transaction that adds the counts and moves the progress mark only if the mark is still the
    one read (compare-and-set: a second worker's chunk is never counted twice); ADR 0021 keeps SQLite's write
    lock for the upserts only.

    A refresh keeps progress in ``events``/``steps``; a rebuild in ``rebuild_events``/``rebuild_steps`` and
    stops at the refresh marks it found (``through``), which stay where they were."""
    report = RefreshReport()
    ev_field, st_field = ("rebuild_events", "rebuild_steps") if through is not None else ("events", "steps")
    ev_through = _mark(through.get("events")) if through is not None else None
    st_through = _mark(through.get("steps")) if through is not None else None
    done_events = through is not None and ev_through is None
    done_steps = through is not None and st_through is None
    while True:
        with ctx.reader() as r:
            read = r.guards.setting(CURSOR_KEY) or {}
            cursor = dict(read)
            dims = _Dimensions(r, zone)
            deltas: Deltas = {}
            batch = [] if done_events else r.metrics.events_after(
                _mark(cursor.get(ev_field)), horizon, EVENT_TYPES, chunk, occurred_from=rebuild_from,
                through=ev_through)
            steps = [] if done_steps else r.metrics.steps_after(
                cast("tuple[datetime, int] | None", _mark(cursor.get(st_field))), horizon, STEP_KINDS, chunk,
                at_from=rebuild_from, through=cast("tuple[datetime, int] | None", st_through))
            if not batch and not steps:
                return report
            if batch:
                event_deltas(batch, _seen_before(r, batch), dims, deltas, _sent_versions(r, batch))
                cursor[ev_field] = _store_mark((batch[-1].received_at, batch[-1].id))
            if steps:
                step_deltas(steps, dims, deltas)
                cursor[st_field] = _store_mark((steps[-1].at, steps[-1].id))
        with ctx.uow() as uow:
            if (uow.guards.lock_setting(CURSOR_KEY) or {}) != read:
                continue  # another pass counted this chunk meanwhile: read again from its mark
            uow.metrics.add(deltas)
            uow.guards.set_setting(CURSOR_KEY, cursor, "touchflow", ctx.clock.now())
            uow.commit()
        report.events += len(batch)
        report.steps += len(steps)


def refresh_rollups(ctx: ServiceContext, *, settle: timedelta = SETTLE, chunk: int = CHUNK,
                    quiescent: bool = False) -> RefreshReport:
    """Count what arrived since the watermark (up to ``settle`` ago); idempotent. A read first, so an idle
    workspace costs no write transaction. ``quiescent``: nothing else writes (a finished sandbox replay, whose
    virtual clock may run ahead of this one), so everything stored counts now."""
    horizon = datetime(9999, 1, 1, tzinfo=UTC) if quiescent else ctx.clock.now() - settle
    with ctx.reader() as probe:
        cursor = probe.guards.setting(CURSOR_KEY) or {}
        pending = probe.metrics.events_after(_mark(cursor.get("events")), horizon, EVENT_TYPES, 1) or \
            probe.metrics.steps_after(cast("tuple[datetime, int] | None", _mark(cursor.get("steps"))), horizon,
                                      STEP_KINDS, 1)
    if not pending:
        return RefreshReport()
    return _pass(ctx, horizon, chunk, workspace_zone(ctx))


class RollupSweeper:
    """What the worker's tick calls: at most every ``every``, ``refresh_rollups``."""

    def __init__(self, ctx: ServiceContext, every: timedelta = timedelta(minutes=1)) -> None:
        self.ctx = ctx
        self.gate = Every(ctx.clock, every)

    def __call__(self) -> int:
        if self.gate.due() is None:
            return 0
        report = refresh_rollups(self.ctx)
        return report.events + report.steps


def rebuild_rollups(ctx: ServiceContext, since: date | None = None, *, chunk: int = CHUNK) -> RefreshReport:
    """Recompute the rollup rows of ``since`` (a local day) and later — every row when ``since`` is None — from
    the raw events and run steps up to the watermark. Interrupted, it is simply run again."""
    zone = workspace_zone(ctx)
    with ctx.uow() as uow:
        cursor = dict(uow.guards.lock_setting(CURSOR_KEY) or {})
        uow.metrics.delete_from(since.isoformat() if since else "")
        through = {"events": cursor.get("events"), "steps": cursor.get("steps")}
        cursor.pop("rebuild_events", None)
        cursor.pop("rebuild_steps", None)
        uow.guards.set_setting(CURSOR_KEY, cursor, "touchflow", ctx.clock.now())
        uow.commit()
    start = datetime.combine(since, time(), zone) if since else None
    horizon = max([_mark(v)[0] for v in through.values() if v] or [ctx.clock.now()])  # type: ignore[index]
    return _pass(ctx, horizon, chunk, zone, rebuild_from=start, through=through)


# --- reading -------------------------------------------------------------------------------------------


def _check_by(by: Sequence[str]) -> tuple[Dimension, ...]:
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise FieldError("by", f"unknown dimension {unknown[0]!r}; use {', '.join(DIMENSIONS)}")
    return tuple(cast("Dimension", d) for d in dict.fromkeys(by))


def _to_row(stored: StoredRollup, keys: Mapping[str, str]) -> MetricRow:
    k, counts = stored.key, stored.counts
    skipped = {k.reason: counts["skipped"]} if k.reason and counts["skipped"] else {}
    return MetricRow(day=date.fromisoformat(k.day) if k.day else None, journey=keys.get(k.journey_id, k.journey_id),
                     step=k.node_id,
                     template=k.template, channel=k.channel, segment=k.segment,
                     **{n: counts[n] for n in counts if n != "skipped"}, skipped=skipped, revenue=stored.revenue)


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
    return group_rows([_to_row(s, keys) for s in stored], dims)


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
