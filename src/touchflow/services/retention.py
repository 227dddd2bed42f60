"""Retention (ADR 0048): the policy a person sets, and the pass that deletes finished rows past it.

Each batch is its own short transaction (on SQLite the write lock is held for one batch, not the whole pass).
The worker runs the pass every ``EVERY``; ``touchflow retention run`` runs it now. On PostgreSQL the pass also
creates the monthly partitions of events ahead, and expired events go a whole month at a time (ADR 0054).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.retention import KINDS, RetentionPolicy, parse_policy
from touchflow.services.context import ServiceContext

__all__ = ["EVERY", "RETENTION_KEY", "RetentionPass", "drop_months", "purge", "retention_policy",
           "set_retention_policy"]

RETENTION_KEY = "retention"
EVERY = timedelta(hours=6)
BATCH = 5000


def retention_policy(ctx: ServiceContext) -> RetentionPolicy:
    with ctx.reader() as uow:
        stored = uow.guards.setting(RETENTION_KEY)
    return parse_policy(stored or {})


def set_retention_policy(ctx: ServiceContext, document: Mapping[str, Any], *, actor: str) -> RetentionPolicy:
    """Replace the policy (kinds not named keep their current value); an audit row says before and after."""
    current = retention_policy(ctx)
    policy = parse_policy({**current.to_json(), **document})
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.guards.set_setting(RETENTION_KEY, policy.to_json(), actor, now)
        uow.audit.record(actor, "retention.set", RETENTION_KEY, {"before": current.to_json(),
                                                                 "after": policy.to_json()}, now)
        uow.commit()
    return policy


def purge(ctx: ServiceContext, policy: RetentionPolicy | None = None, batch: int = BATCH) -> dict[str, int]:
    """Delete every finished row past the policy, batch by batch; rows deleted per kind."""
    policy = policy or retention_policy(ctx)
    now = ctx.clock.now()
    if policy.events is not None:
        with ctx.uow() as uow:
            uow.retention.detach_expired(now - timedelta(days=policy.events))
            uow.commit()
    months = drop_months(ctx, batch)
    with ctx.uow() as uow:  # after the drops: a month's name is free again only once its old table is gone
        uow.retention.prepare_months(now)
        uow.commit()
    gone: dict[str, int] = {}
    for kind in KINDS:
        days = getattr(policy, kind)
        if days is None:
            continue
        before = now - timedelta(days=days)
        total = months if kind == "events" else 0
        while True:
            with ctx.uow() as uow:
                deleted = uow.retention.purge(kind, before, batch)
                uow.commit()
            total += deleted
            if deleted < batch or kind == "capacity":
                break
        gone[kind] = total
    return gone


def drop_months(ctx: ServiceContext, batch: int = BATCH) -> int:
    """Drop the months of events that were detached (PostgreSQL): their ids leave the duplicate check a batch
    at a time, then the table goes. A pass stopped half-way is finished by the next. Rows dropped."""
    with ctx.uow() as uow:  # the primary: a replica may lag behind a detach
        tables = uow.retention.detached_months()
    rows = 0
    for table in tables:
        after: str | None = ""
        while after is not None:
            with ctx.uow() as uow:
                after = uow.retention.forget_ids(table, after, batch)
                uow.commit()
        with ctx.uow() as uow:
            rows += uow.retention.drop_month(table)
            uow.commit()
    return rows


class RetentionPass:
    """A worker pass: purge at most every ``EVERY`` (by the context's clock); returns rows deleted."""

    def __init__(self, ctx: ServiceContext, every: timedelta = EVERY) -> None:
        self.ctx = ctx
        self.every = every
        self._next: datetime | None = None

    def __call__(self) -> int:
        now = self.ctx.clock.now()
        if self._next is not None and now < self._next:
            return 0
        self._next = now + self.every
        return sum(purge(self.ctx).values())
