"""Worker load reports, capacity samples and queue lag (domain/capacity.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from touchflow.domain.capacity import CapacitySample, WorkerLoad
from touchflow.store.tables import capacity_samples, event_inbox, journey_runs, outbox, worker_loads

__all__ = ["SqlCapacityRepository"]


class SqlCapacityRepository:
    def __init__(self, connection: Connection) -> None:
        self.c = connection

    def report(self, load: WorkerLoad) -> None:
        self.c.execute(delete(worker_loads).where(worker_loads.c.worker_id == load.worker_id))
        self.c.execute(insert(worker_loads).values(
            worker_id=load.worker_id, host=load.host[:255], pid=load.pid, started_at=load.started_at,
            reported_at=load.reported_at, busy_share=load.busy_share, queue_lag=dict(load.queue_lag)))

    def loads(self, since: datetime) -> list[WorkerLoad]:
        t = worker_loads.c
        rows = self.c.execute(select(worker_loads).where(t.reported_at >= since).order_by(t.host, t.pid))
        return [WorkerLoad(r.worker_id, r.host, r.pid, r.started_at, r.reported_at, r.busy_share,
                           dict(r.queue_lag or {})) for r in rows]

    def queue_lag(self, now: datetime) -> dict[str, float]:
        """Seconds the oldest due item of each queue has waited (0 when none is due)."""
        oldest = {
            "outbox": self.c.execute(select(func.min(outbox.c.next_attempt_at))
                                     .where(outbox.c.status == "queued", outbox.c.next_attempt_at <= now)).scalar(),
            "timers": self.c.execute(select(func.min(journey_runs.c.wake_at))
                                     .where(journey_runs.c.status.in_(("waiting", "active")),
                                            journey_runs.c.wake_at <= now)
                                     ).scalar(),
            # the inbox is drained in seq order: its first row is the oldest (the primary key finds it)
            "inbox": self.c.execute(select(event_inbox.c.received_at).where(
                event_inbox.c.seq == select(func.min(event_inbox.c.seq)).scalar_subquery())).scalar(),
        }
        return {name: max(0.0, (now - at).total_seconds()) if at is not None else 0.0 for name, at in oldest.items()}

    def add_sample(self, sample: CapacitySample) -> bool:
        """Keep one sample per minute (the first worker to take it); False when that minute has one."""
        try:
            with self.c.begin_nested():
                self.c.execute(insert(capacity_samples).values(at=sample.at, workers=sample.workers,
                                                               busy_share=sample.busy_share,
                                                               queue_lag_s=sample.queue_lag_s))
        except IntegrityError:
            return False
        return True

    def samples(self, since: datetime) -> list[CapacitySample]:
        t = capacity_samples.c
        return [CapacitySample(r.at, r.workers, r.busy_share, r.queue_lag_s)
                for r in self.c.execute(select(capacity_samples).where(t.at >= since).order_by(t.at))]
