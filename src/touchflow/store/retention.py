"""Deleting finished rows past their retention, a batch at a time (domain/retention.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from touchflow.store import partitions
from touchflow.store.tables import (
    capacity_samples,
    events,
    journey_runs,
    outbox,
    run_steps,
    worker_loads,
    writeback_outbox,
)

__all__ = ["SqlRetentionRepository"]

_FINAL_MESSAGES = ("sent", "failed", "dead", "skipped")
_ENDED_RUNS = ("completed", "converted", "exited", "held_out")  # failed: a quarantined run may be released


class SqlRetentionRepository:
    def __init__(self, connection: Connection) -> None:
        self.c = connection

    def purge(self, kind: str, before: datetime, limit: int) -> int:
        if kind == "events" and self._partitioned:  # whole months go by drop_month; here the default partition
            return partitions.purge_default(self.c, before, limit)
        if kind == "events":
            ids = select(events.c.id).where(events.c.occurred_at < before).limit(limit)
            return self._gone(delete(events).where(events.c.id.in_(ids.scalar_subquery())))
        if kind == "outbox":
            ids = select(outbox.c.id).where(outbox.c.status.in_(_FINAL_MESSAGES),
                                            outbox.c.updated_at < before).limit(limit)
            return self._gone(delete(outbox).where(outbox.c.id.in_(ids.scalar_subquery())))
        if kind == "run_steps":
            # steps of runs that ended (a live run's trace stays whole); a run that no longer exists has ended
            live = select(journey_runs.c.id).where(journey_runs.c.status.not_in(_ENDED_RUNS))
            ids = select(run_steps.c.id).where(run_steps.c.at < before,
                                               run_steps.c.run_id.not_in(live)).limit(limit)
            return self._gone(delete(run_steps).where(run_steps.c.id.in_(ids.scalar_subquery())))
        if kind == "writeback":
            ids = select(writeback_outbox.c.id).where(writeback_outbox.c.status.in_(("sent", "discarded")),
                                                      writeback_outbox.c.created_at < before).limit(limit)
            return self._gone(delete(writeback_outbox).where(writeback_outbox.c.id.in_(ids.scalar_subquery())))
        if kind == "capacity":
            gone = self._gone(delete(capacity_samples).where(capacity_samples.c.at < before))
            return gone + self._gone(delete(worker_loads).where(worker_loads.c.reported_at < before))
        raise ValueError(f"unknown retention kind {kind!r}")

    @property
    def _partitioned(self) -> bool:
        return self.c.dialect.name == "postgresql"

    def prepare_months(self, now: datetime) -> list[str]:
        """PostgreSQL: create the monthly partitions of this month and the next ones (ADR 0054)."""
        return partitions.ensure_months(self.c, partitions.months_ahead(now)) if self._partitioned else []

    def detach_expired(self, before: datetime) -> list[str]:
        return partitions.detach_expired(self.c, before) if self._partitioned else []

    def detached_months(self) -> list[str]:
        return partitions.detached(self.c) if self._partitioned else []

    def forget_ids(self, table: str, after: str, limit: int) -> str | None:
        return partitions.forget_ids(self.c, table, after, limit)

    def drop_month(self, table: str) -> int:
        return partitions.drop_detached(self.c, table)

    def _gone(self, statement: object) -> int:
        return int(self.c.execute(statement).rowcount or 0)  # type: ignore[call-overload]
