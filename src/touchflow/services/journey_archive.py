"""Archived journeys (J9): who archived each one, when and why — read back from the audit row the archive wrote —
and restoring one (ADR 0051).

Archiving stops every run and takes the journey out of the list (``set_journey_status``). Restoring brings it back
*paused*, never running: its runs stay exited (each contact's history keeps why), no new contact enters until a
person resumes it on purpose, and publishing a new version works again. A reason is required and the restore is
one transaction with one audit row, ``journey.restore``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from touchflow.domain.governance.audit_ports import AuditQuery
from touchflow.domain.journeys.ports import JourneyRecord
from touchflow.services.context import ServiceContext
from touchflow.services.journeys import JourneyError

__all__ = ["ArchivedJourney", "archived_journeys", "restore_journey"]

MAX_REASON = 500


@dataclass(frozen=True)
class ArchivedJourney:
    journey: JourneyRecord
    archived_at: datetime  # from the archive's audit row (the record's own updated_at when none is found)
    archived_by: str  # the actor's label as the audit row holds it ("" when none is found)
    reason: str


def archived_journeys(ctx: ServiceContext) -> list[ArchivedJourney]:
    """Every archived journey, the most recently archived first."""
    out: list[ArchivedJourney] = []
    with ctx.reader() as uow:
        for record in (j for j in uow.journeys.all() if j.status == "archived"):
            rows = uow.audit.search(AuditQuery(action="journey.archive", subject=record.key), 1000)
            last = rows[-1] if rows else None
            reason = str(last.details.get("reason") or "") if last is not None else ""
            out.append(ArchivedJourney(record, last.at if last is not None else record.updated_at,
                                       last.actor if last is not None else "", reason or record.status_reason))
    return sorted(out, key=lambda a: a.archived_at, reverse=True)


def restore_journey(ctx: ServiceContext, key: str, *, actor: str, reason: str) -> JourneyRecord:
    """Bring an archived journey back, paused (see the module's note); ``JourneyError`` naming the field when the
    journey is missing, not archived, or no reason is given."""
    reason = reason.strip()
    if not reason:
        raise JourneyError("reason: say why the journey is restored")
    if len(reason) > MAX_REASON:
        raise JourneyError(f"reason: at most {MAX_REASON} characters")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        record = uow.journeys.get(key)
        if record is None:
            raise JourneyError(f"no journey {key!r}")
        if record.status != "archived":
            raise JourneyError(f"journey: {key} is not archived")
        record = replace(record, status="paused", updated_at=now, status_reason=reason)
        uow.journeys.save(record)
        uow.audit.record(actor, "journey.restore", key, {"reason": reason, "status": "paused"}, now)
        uow.commit()
        return record
