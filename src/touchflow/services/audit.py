"""Audit log use cases (P5): verify the chain, anchor it outside the database, search, export, purge.

Retention: rows stay at least two years (``RETENTION_YEARS``); ``purge_audit`` refuses a later cut-off and
purges only a prefix of the chain, leaving a purge row that says where the kept chain starts, so the rest
still verifies (ADR 0024).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from touchflow.domain.actors import Actor
from touchflow.domain.governance.audit_chain import Anchor, AuditRow, Break, ChainVerifier
from touchflow.domain.governance.audit_ports import AuditQuery
from touchflow.security.audit_anchors import append_anchor, read_anchors
from touchflow.services.context import ServiceContext, in_transaction

__all__ = ["RETENTION_YEARS", "PurgeResult", "RetentionRefused", "VerifyReport", "anchor_chain", "earliest_cutoff",
           "iter_audit", "purge_audit", "search_audit", "verify_chain", "verify_with_anchor_file"]

log = logging.getLogger("touchflow.audit")
RETENTION_YEARS = 2
BATCH = 1000


@dataclass(frozen=True)
class VerifyReport:
    checked: int  # rows whose link was checked
    first_id: int | None  # where the kept chain starts (after a purge: the checkpoint's next row)
    last_id: int
    last_hash: str
    anchors: int
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "first_id": self.first_id, "last_id": self.last_id,
                "last_hash": self.last_hash, "anchors": self.anchors,
                "broken": None if self.broken is None else self.broken.as_json()}


def verify_chain(ctx: ServiceContext, anchors: Sequence[Anchor] = (), batch: int = BATCH) -> VerifyReport:
    """Walk the chain in id order, ``batch`` rows at a time, in one read transaction; stop at the first break."""
    with ctx.reader() as uow:
        start = uow.audit.checkpoint()
        verifier = ChainVerifier(start, anchors)
        after = start.through_id if start is not None else 0
        first_id: int | None = None
        while verifier.broken is None:
            rows = uow.audit.rows_after(after, batch)
            if not rows:
                break
            first_id = rows[0].id if first_id is None else first_id
            verifier.feed(rows)
            after = rows[-1].id
    return VerifyReport(verifier.checked, first_id, verifier.last_id, verifier.last_hash, len(anchors),
                        verifier.finish())


def verify_with_anchor_file(ctx: ServiceContext, path: Path, batch: int = BATCH) -> VerifyReport:
    return verify_chain(ctx, read_anchors(path), batch)


def anchor_chain(ctx: ServiceContext, path: Path, *, once_a_day: bool = False) -> Anchor | None:
    """Append today's anchor (UTC date, last id, last hash) to ``path`` and log it. ``once_a_day``: not if the
    file's last anchor is of today already (the worker's daily pass). None: nothing written."""
    now = ctx.clock.now()
    with ctx.reader() as uow:
        last = uow.audit.last()
    if last is None:
        return None
    anchor = Anchor(now.astimezone(UTC).date(), last.id, last.hash)
    if once_a_day and path.exists():
        earlier = read_anchors(path)
        if earlier and earlier[-1].day >= anchor.day:
            return None
    append_anchor(path, anchor)
    log.info("audit anchor %s", anchor.line())
    return anchor


class RetentionRefused(ValueError):
    """A purge cut-off inside the retention period."""


def earliest_cutoff(now: datetime) -> datetime:
    """The latest cut-off a purge accepts: the same moment, ``RETENTION_YEARS`` calendar years ago."""
    try:
        return now.replace(year=now.year - RETENTION_YEARS)
    except ValueError:  # 29 February
        return now.replace(year=now.year - RETENTION_YEARS, day=28)


@dataclass(frozen=True)
class PurgeResult:
    deleted: int
    through_id: int | None
    through_hash: str | None

    def as_json(self) -> dict[str, Any]:
        return {"deleted": self.deleted, "through_id": self.through_id, "through_hash": self.through_hash}


def purge_audit(ctx: ServiceContext, before: datetime, by: Actor | str) -> PurgeResult:
    """Delete rows written before ``before`` (at least two years ago), keeping the rest verifiable; the purge
    itself is a row of the chain."""
    now = ctx.clock.now()
    limit = earliest_cutoff(now)
    if before > limit:
        raise RetentionRefused(f"--before: audit rows are kept at least {RETENTION_YEARS} years; the latest "
                               f"cut-off now is {limit:%Y-%m-%d %H:%M} UTC")
    actor = Actor.of(by).label
    done = in_transaction(ctx, lambda uow: uow.audit.purge_before(before, actor, now))
    if done is None:
        return PurgeResult(0, None, None)
    return PurgeResult(done[0], done[1].through_id, done[1].through_hash)


def search_audit(ctx: ServiceContext, query: AuditQuery, limit: int = 200) -> list[AuditRow]:
    with ctx.reader() as uow:
        return uow.audit.search(query, limit)


def iter_audit(ctx: ServiceContext, query: AuditQuery, batch: int = BATCH) -> Iterator[AuditRow]:
    """Every matching row in id order, read ``batch`` at a time (exports of any size)."""
    after = query.after_id
    while True:
        rows = search_audit(ctx, AuditQuery(query.actor, query.action, query.subject, query.since, query.until,
                                            query.request_id, after), batch)
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].id
