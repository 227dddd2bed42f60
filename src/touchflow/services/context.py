"""What every use case is handed: a way to open a unit of work, the clock and the id factory."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from touchflow.clock import Clock
from touchflow.domain.events import EventInput
from touchflow.domain.ids import IdFactory
from touchflow.domain.journeys.ports import InboxEvent
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.security.crypto import SecretBox
from touchflow.services.writeback_capture import capture_events

__all__ = ["ServiceContext", "emit_events", "in_transaction"]

T = TypeVar("T")


@dataclass
class ServiceContext:
    uow: Callable[[], UnitOfWork]
    clock: Clock
    read_uow: Callable[[], UnitOfWork] | None = None  # a read-only transaction where the store has one
    ids: IdFactory = field(default_factory=IdFactory)
    # one write lock for the whole store (SQLite) shared with other processes: background passes leave gaps
    # between their write transactions so that ingest is not starved (services/pacing.py, ADR 0021)
    single_writer: bool = False
    # SQLite: this thread's seconds holding the write lock so far, so pacers size chunks by their holds (ADR 0061)
    write_lock_seconds: Callable[[], float] | None = None
    # the database's key ring as a box (bootstrap wires ``Application.secret_box``): services that keep
    # ciphertext (approved exports, secrets waiting for pickup) seal their data keys with it
    secret_box: Callable[[], SecretBox] | None = None

    def reader(self) -> UnitOfWork:
        return (self.read_uow or self.uow)()


def in_transaction(ctx: ServiceContext, work: Callable[[UnitOfWork], T], retries: int = 5) -> T:
    """Run ``work`` in one transaction, again from the start if a concurrent writer clashed with it
    (a unique key taken meanwhile, a serialization failure, a deadlock)."""
    for attempt in range(retries + 1):
        with ctx.uow() as uow:
            try:
                result = work(uow)
                uow.commit()
                return result
            except Exception as exc:
                if attempt < retries and uow.is_conflict(exc):
                    continue
                raise
    raise AssertionError("unreachable")


def save_setting(ctx: ServiceContext, key: str, document: Mapping[str, Any], *, actor: str, action: str) -> None:
    """Store a validated workspace setting (guardrail policy, lifecycle stages, tier thresholds, assignment rules)
    and its audit row, in one transaction."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        before = uow.guards.setting(key)
        uow.guards.set_setting(key, document, actor, now)
        uow.audit.record(actor, action, key, dict(document), now, before=before, after=dict(document))
        uow.commit()


def emit_events(uow: UnitOfWork, events: Sequence[tuple[EventInput, str]], now: datetime) -> None:
    """Store events of known contacts (the engine's own: lifecycle, stages, segments, tasks) and put them in
    the journey inbox, in the caller's transaction, so journeys can wait on them and be triggered by them."""
    if events:
        uow.events.insert(events, now)
        uow.journeys.add_inbox([InboxEvent(e.id, cid, e.type, e.occurred_at, now) for e, cid in events])
        capture_events(uow, events, now)  # write-back to CRMs: same transaction (issue 14)
