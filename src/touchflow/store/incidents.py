"""Incident storage (P7): the incident, its three clocks, revoking every API key at once, who was touched in
a time window, and the incident's timeline read back from the audit log."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, union, update

from touchflow.domain.governance.privacy_ports import IncidentRecord, IncidentStepRecord
from touchflow.store.tables import (
    api_keys,
    audit_log,
    contacts,
    incident_steps,
    incidents,
    segment_members,
    segments,
    sessions,
)

__all__ = ["SqlIncidentRepository", "incident_subject"]


def incident_subject(incident_id: str) -> str:
    """The audit subject of every step of an incident: its timeline is ``WHERE subject = …``."""
    return f"incident:{incident_id}"


def _incident(r: Any) -> IncidentRecord:
    return IncidentRecord(r.id, r.summary, r.status, bool(r.drill), r.opened_at, r.opened_by, r.window_start,
                          r.segment, dict(r.details or {}), r.closed_at, r.closed_by)


class SqlIncidentRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, incident: IncidentRecord, steps: Sequence[IncidentStepRecord]) -> None:
        self._c.execute(insert(incidents).values(
            id=incident.id, summary=incident.summary, status=incident.status, drill=incident.drill,
            opened_at=incident.opened_at, opened_by=incident.opened_by, window_start=incident.window_start,
            segment=incident.segment, details=incident.details))
        if steps:
            self._c.execute(insert(incident_steps), [
                {"incident_id": s.incident_id, "step": s.step, "due_at": s.due_at} for s in steps])

    def get(self, incident_id: str) -> IncidentRecord | None:
        row = self._c.execute(select(incidents).where(incidents.c.id == incident_id)).first()
        return _incident(row) if row is not None else None

    def all(self, status: str | None = None) -> list[IncidentRecord]:
        query = select(incidents).order_by(incidents.c.opened_at.desc(), incidents.c.id.desc())
        if status is not None:
            query = query.where(incidents.c.status == status)
        return [_incident(r) for r in self._c.execute(query)]

    def steps(self, incident_ids: Collection[str]) -> list[IncidentStepRecord]:
        rows = self._c.execute(select(incident_steps).where(incident_steps.c.incident_id.in_(list(incident_ids)))
                               .order_by(incident_steps.c.incident_id, incident_steps.c.due_at))
        return [IncidentStepRecord(r.incident_id, r.step, r.due_at, r.done_at, r.done_by, r.note) for r in rows]

    def mark_step(self, incident_id: str, step: str, at: datetime, by: str, note: str | None) -> bool:
        done = self._c.execute(update(incident_steps).where(
            incident_steps.c.incident_id == incident_id, incident_steps.c.step == step,
            incident_steps.c.done_at.is_(None)).values(done_at=at, done_by=by[:100], note=note))
        return done.rowcount > 0

    def close(self, incident_id: str, at: datetime, by: str) -> bool:
        done = self._c.execute(update(incidents).where(incidents.c.id == incident_id, incidents.c.status == "open")
                               .values(status="closed", closed_at=at, closed_by=by[:100]))
        return done.rowcount > 0

    def update_details(self, incident_id: str, details: dict[str, Any]) -> None:
        self._c.execute(update(incidents).where(incidents.c.id == incident_id).values(details=details))

    def revoke_api_keys(self, at: datetime) -> int:
        return self._c.execute(update(api_keys).where(api_keys.c.revoked_at.is_(None)).values(revoked_at=at)).rowcount

    def revoke_sessions(self, at: datetime) -> int:
        """Every browser session: each person signs in again (with their second factor) after the incident."""
        return self._c.execute(update(sessions).where(sessions.c.revoked_at.is_(None)).values(revoked_at=at)).rowcount

    def touched_contacts(self, since: datetime, until: datetime, segment: str | None) -> list[str]:
        """Contacts whose data was changed in the window (``updated_at``), or read or exported (an audit row
        naming them), or the members of ``segment``: a superset the responders narrow, never a guess short."""
        changed = select(contacts.c.id.label("id")).where(contacts.c.updated_at >= since,
                                                          contacts.c.updated_at <= until,
                                                          contacts.c.merged_into.is_(None))
        audited = (select(contacts.c.id.label("id")).join(audit_log, audit_log.c.subject == contacts.c.id)
                   .where(audit_log.c.at >= since, audit_log.c.at <= until))
        parts = [changed, audited]
        if segment is not None:
            parts.append(select(segment_members.c.contact_id.label("id"))
                         .join(segments, segments.c.id == segment_members.c.segment_id)
                         .where(segments.c.key == segment))
        found = union(*parts).subquery()
        return [r[0] for r in self._c.execute(select(found.c.id).order_by(found.c.id))]

    def timeline(self, incident_id: str) -> list[tuple[datetime, str, str, dict[str, Any]]]:
        rows = self._c.execute(select(audit_log.c.at, audit_log.c.actor, audit_log.c.action, audit_log.c.details)
                               .where(audit_log.c.subject == incident_subject(incident_id))
                               .order_by(audit_log.c.id))
        return [(r.at, r.actor, r.action, dict(r.details or {})) for r in rows]

    def count_open(self) -> int:
        return int(self._c.execute(select(func.count()).select_from(incidents)
                                   .where(incidents.c.status == "open")).scalar() or 0)
