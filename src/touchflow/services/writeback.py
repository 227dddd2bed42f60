"""Write-back use cases: claim and settle outbox rows for the sender, the per-connector error report, and the
dead-letter list with its retry and discard (each an audited change). Capture lives in ``writeback_capture``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from touchflow.domain.connectors.writeback import OutboxRow, WritebackConfig, backoff
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext
from touchflow.services.writeback_capture import writeback_targets

__all__ = [
    "Recipient",
    "WritebackReport",
    "claim_writebacks",
    "dead_letters",
    "discard_dead_letters",
    "retry_dead_letters",
    "settle_writebacks",
    "writeback_report",
]

_IDENTITY_KINDS = ("email", "phone", "crm", "unionid", "openid", "wecom")


@dataclass(frozen=True)
class Recipient:
    """Who a change is about, as the CRM knows them: identifiers by kind (the first of each)."""

    contact_id: str
    identifiers: dict[str, str]


def claim_writebacks(ctx: ServiceContext, limit: int = 500, lease: timedelta = timedelta(minutes=5)
                     ) -> tuple[list[OutboxRow], dict[str, WritebackConfig], dict[str, Recipient]]:
    """Due rows (leased), the configs of their connectors and who each contact is; one transaction."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        rows = uow.writeback.claim_due(now, limit, lease)
        configs = {c.connector: c for c in writeback_targets(uow)}
        recipients = _recipients(uow, {r.contact_id for r in rows})
        uow.commit()
    return rows, configs, recipients


def _recipients(uow: UnitOfWork, contact_ids: set[str]) -> dict[str, Recipient]:
    states = uow.contacts.load(contact_ids) if contact_ids else {}
    found: dict[str, Recipient] = {}
    for cid in contact_ids:
        state = states.get(cid)
        owner = state.merged_into if state is not None and state.merged_into else cid
        identifiers: dict[str, str] = {}
        for link in uow.contacts.identities_of(owner):
            kind, value = link.identity.kind, link.identity.value
            if kind in _IDENTITY_KINDS and kind not in identifiers:
                identifiers[kind] = value
        found[cid] = Recipient(owner, identifiers)
    return found


def settle_writebacks(ctx: ServiceContext, sent: Sequence[int], failed: Sequence[tuple[Sequence[int], str, bool,
                      float | None]], attempts: dict[int, int], max_attempts: int) -> None:
    """Record what the sender did: ``failed`` items are (row ids, error, permanent, retry_after)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.writeback.mark_sent(sent, now)
        for ids, error, permanent, retry_after in failed:
            for row_id in ids:
                tried = attempts.get(row_id, 0) + 1
                final = permanent or tried >= max_attempts
                uow.writeback.mark_failed([row_id], error, None if final else now + backoff(tried, retry_after))
        uow.commit()


@dataclass(frozen=True)
class WritebackReport:
    connector: str
    counts: dict[str, int]
    recent_errors: list[OutboxRow]

    def to_json(self) -> dict[str, Any]:
        return {"connector": self.connector, "counts": self.counts,
                "recent_errors": [_row_json(r) for r in self.recent_errors]}


def _row_json(r: OutboxRow) -> dict[str, Any]:
    return {"id": r.id, "contact_id": r.contact_id, "field": r.field, "value": r.value, "status": r.status,
            "attempts": r.attempts, "last_error": r.last_error, "idempotency_key": r.idempotency_key,
            "created_at": r.created_at.isoformat(),
            "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None}


def writeback_report(ctx: ServiceContext, connector: str, limit: int = 20) -> WritebackReport:
    """The per-connector error report: rows by status and the latest failures (pending retries and dead)."""
    with ctx.reader() as uow:
        counts = uow.writeback.counts(connector)
        failing = [r for r in uow.writeback.rows(connector, None, 500) if r.last_error][:limit]
    return WritebackReport(connector, counts, failing)


def dead_letters(ctx: ServiceContext, connector: str, limit: int = 100) -> list[dict[str, Any]]:
    with ctx.reader() as uow:
        return [_row_json(r) for r in uow.writeback.rows(connector, "dead", limit)]


def retry_dead_letters(ctx: ServiceContext, connector: str, ids: Sequence[int] | None, *, actor: str) -> int:
    now = ctx.clock.now()
    with ctx.uow() as uow:
        count = uow.writeback.requeue(connector, ids, now)
        uow.audit.record(actor, "connector.writeback.retry", connector,
                         {"ids": list(ids) if ids is not None else "all", "requeued": count}, now)
        uow.commit()
    return count


def discard_dead_letters(ctx: ServiceContext, connector: str, ids: Sequence[int] | None, *, actor: str) -> int:
    now = ctx.clock.now()
    with ctx.uow() as uow:
        count = uow.writeback.discard(connector, ids)
        uow.audit.record(actor, "connector.writeback.discard", connector,
                         {"ids": list(ids) if ids is not None else "all", "discarded": count}, now)
        uow.commit()
    return count
