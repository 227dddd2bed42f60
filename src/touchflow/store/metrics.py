"""MetricsRepository on SQL: raw rows counted by GROUP BY for the rollup (ADR 0033), and the rollup table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from touchflow.domain.measurement.metrics_ports import EventGroup, RollupKey, StepGroup, StoredRollup, Window
from touchflow.store import rollup_sql
from touchflow.store.tables import events, ingest_timings, journey_runs, metric_daily
from touchflow.store.types import UTCDateTime

__all__ = ["ROLLUP_COUNTERS", "SqlMetricsRepository"]

ROLLUP_COUNTERS = ("entered", "queued", "sent", "delivered", "bounced", "opened", "opened_unique", "clicked",
                   "clicked_unique", "converted", "unsubscribed", "complained", "skipped", "receipts")
_KEY = ("day", "journey_id", "node_id", "template", "channel", "segment", "reason")


class SqlMetricsRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def events_window(self, low: int, pending: Sequence[int], horizon: datetime) -> Window:
        return rollup_sql.window(self._c, "events", low, pending, horizon)

    def steps_window(self, low: int, pending: Sequence[int], horizon: datetime) -> Window:
        return rollup_sql.window(self._c, "run_steps", low, pending, horizon)

    def count_events(self, window: Window, zone: ZoneInfo, *,
                     occurred_from: datetime | None = None) -> list[EventGroup]:
        return list(rollup_sql.count_events(self._c, window, zone, occurred_from=occurred_from))

    def count_steps(self, window: Window, zone: ZoneInfo, *, at_from: datetime | None = None) -> list[StepGroup]:
        return list(rollup_sql.count_steps(self._c, window, zone, at_from=at_from))

    def add(self, deltas: Mapping[RollupKey, tuple[Mapping[str, int], float]]) -> None:
        if not deltas:
            return
        dialect = self._c.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(metric_daily)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(_KEY),
            set_={**{n: metric_daily.c[n] + stmt.excluded[n] for n in ROLLUP_COUNTERS},
                  "revenue": metric_daily.c.revenue + stmt.excluded.revenue})
        rows = [{**{k: getattr(key, k) for k in _KEY}, **{n: int(counts.get(n, 0)) for n in ROLLUP_COUNTERS},
                 "revenue": float(revenue)} for key, (counts, revenue) in sorted(deltas.items())]
        self._c.execute(stmt, rows)

    def delete_from(self, day: str) -> None:
        self._c.execute(delete(metric_daily).where(metric_daily.c.day >= day))

    def rows(self, start: str, end: str, journey_ids: Sequence[str] | None,
             group: Sequence[str] | None = None) -> list[StoredRollup]:
        c = metric_daily.c
        where = [c.day >= start, c.day <= end]
        if journey_ids is not None:
            where.append(c.journey_id.in_(list(journey_ids)))
        keys = list(_KEY) if group is None else [k for k in _KEY if k in group or k == "reason"]
        if group is None:
            query = select(*(c[k] for k in keys), *(c[n] for n in ROLLUP_COUNTERS), c.revenue).where(*where)
        else:
            query = (select(*(c[k] for k in keys), *(func.sum(c[n]) for n in ROLLUP_COUNTERS), func.sum(c.revenue))
                     .where(*where).group_by(*(c[k] for k in keys)))
        found: list[StoredRollup] = []
        width = len(keys)
        for r in self._c.execute(query):
            values = dict(zip(keys, r[:width], strict=True))
            found.append(StoredRollup(RollupKey(*(values.get(k, "") for k in _KEY)),
                                      dict(zip(ROLLUP_COUNTERS, (int(v or 0) for v in r[width:-1]), strict=True)),
                                      float(r[-1] or 0.0)))
        return found

    def add_ingest_timing(self, at: datetime, events: int, seconds: float) -> None:
        self._c.execute(ingest_timings.insert().values(at=at, events=events, seconds=seconds))

    def prune_ingest_timings(self, before: datetime) -> int:
        return int(self._c.execute(delete(ingest_timings).where(ingest_timings.c.at < before)).rowcount or 0)

    def ingest_timings(self, since: datetime) -> list[float]:
        query = select(ingest_timings.c.seconds).where(ingest_timings.c.at >= since)
        return [float(s) for s in self._c.execute(query).scalars()]

    def entry_lags(self, since: datetime, limit: int) -> list[float]:
        # the newest event of the contact that arrived at or before the entry: the one that let it in (or a
        # later one, so this is a lower bound on the lag; runs started by a schedule have no such event)
        latest = (select(func.max(events.c.received_at, type_=UTCDateTime()))
                  .where(events.c.contact_id == journey_runs.c.contact_id,
                         events.c.received_at <= journey_runs.c.entered_at)
                  .correlate(journey_runs).scalar_subquery())
        query = (select(journey_runs.c.entered_at, latest.label("arrived"))
                 .where(journey_runs.c.entered_at >= since).order_by(journey_runs.c.entered_at.desc()).limit(limit))
        lags: list[float] = []
        for entered_at, arrived in self._c.execute(query):
            if arrived is not None:
                lags.append(max(0.0, (entered_at - arrived).total_seconds()))
        return lags

    def survey_scores(self, start: datetime, end: datetime) -> list[tuple[str, Any]]:
        query = select(events.c.contact_id, events.c.properties).where(
            events.c.type == "survey_response", events.c.occurred_at >= start, events.c.occurred_at < end)
        return [(cid, (props or {}).get("score")) for cid, props in self._c.execute(query)]
