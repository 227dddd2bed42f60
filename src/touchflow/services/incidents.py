"""Breach response (P7): open an incident (kill switch on, optionally every API key and session revoked), its
three clocks, who is affected, notices drafted per channel and sent only after a second person approves, the
timeline (every step is an audit row with subject ``incident:<id>``), resume and close."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.events import JSONValue
from touchflow.domain.governance.incidents import (
    KILL_SWITCH_KEY,
    NOTICE_TEMPLATES,
    STEPS,
    Clock,
    clock_of,
    kill_switch_document,
    kill_switch_on,
)
from touchflow.domain.governance.privacy_ports import IncidentRecord, IncidentStepRecord
from touchflow.domain.outbox import OutboxMessage
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.approvals import ApprovalRequest, request_approval
from touchflow.services.context import ServiceContext, in_transaction

__all__ = [
    "NOTIFY_KIND",
    "IncidentNotFound",
    "IncidentView",
    "affected_contacts",
    "close_incident",
    "draft_notifications",
    "execute_notify",
    "get_incident",
    "incident_timeline",
    "list_incidents",
    "mark_step_done",
    "open_incident",
    "record_drill",
    "resume_sending",
    "send_notifications",
]

NOTIFY_KIND = "incident_notify"
MAX_SUMMARY = 2000


class IncidentNotFound(LookupError):
    def __init__(self, incident_id: str) -> None:
        super().__init__(f"no incident {incident_id!r}")


@dataclass(frozen=True)
class IncidentView:
    incident: IncidentRecord
    clocks: list[Clock]
    kill_switch: bool
    revoked: dict[str, int] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        i = self.incident
        return {"id": i.id, "summary": i.summary, "status": i.status, "drill": i.drill, "opened_at": i.opened_at,
                "opened_by": i.opened_by, "window_start": i.window_start, "segment": i.segment,
                "closed_at": i.closed_at, "closed_by": i.closed_by, "kill_switch": self.kill_switch,
                "details": i.details, "clocks": [c.document() for c in self.clocks], **(
                    {"revoked": self.revoked} if self.revoked else {})}


def subject(incident_id: str) -> str:
    return f"incident:{incident_id}"


def _audit(uow: UnitOfWork, actor: Actor, action: str, incident_id: str, details: dict[str, JSONValue],
           now: datetime) -> None:
    uow.audit.record(actor.label, action, subject(incident_id), details, now)


def open_incident(ctx: ServiceContext, *, actor: Actor, summary: str, revoke_access: bool = False,
                  since: datetime | None = None, segment: str | None = None, drill: bool = False) -> IncidentView:
    """Open an incident: in one transaction the record and its three clocks, the kill switch (no batch is
    claimed after this commits), and with ``revoke_access`` every API key and session revoked."""
    summary = summary.strip()
    if not summary:
        raise FieldError("summary", "say what happened (one line)")
    if len(summary) > MAX_SUMMARY:
        raise FieldError("summary", f"at most {MAX_SUMMARY} characters")
    now = ctx.clock.now()
    if since is not None and since > now:
        raise FieldError("since", "the breach cannot begin in the future")
    incident_id = ctx.ids.new(now)

    def work(uow: UnitOfWork) -> IncidentView:
        record = IncidentRecord(incident_id, summary, "open", drill, now, actor.label,
                                since or now - timedelta(days=1), segment, {})
        steps = [IncidentStepRecord(incident_id, step, now + after) for step, (after, _) in STEPS.items()]
        uow.incidents.add(record, steps)
        _audit(uow, actor, "incident.open", incident_id, {"summary": summary, "drill": drill,
                                                          "window_start": record.window_start.isoformat()}, now)
        uow.guards.set_setting(KILL_SWITCH_KEY, kill_switch_document(True, incident_id, now, actor.label),
                               actor.label, now)
        _audit(uow, actor, "incident.kill_switch", incident_id, {"on": True}, now)
        revoked: dict[str, int] = {}
        if revoke_access:
            revoked["api_keys"] = uow.incidents.revoke_api_keys(now)
            revoked["sessions"] = uow.incidents.revoke_sessions(now)
            _audit(uow, actor, "incident.revoke_access", incident_id, dict(revoked), now)
        return IncidentView(record, [clock_of(s.step, s.due_at, None, now) for s in steps], True, revoked)

    return in_transaction(ctx, work)


def _view(uow: UnitOfWork, record: IncidentRecord, now: datetime) -> IncidentView:
    steps = uow.incidents.steps([record.id])
    switch = uow.guards.setting(KILL_SWITCH_KEY)
    return IncidentView(record, [clock_of(s.step, s.due_at, s.done_at, now) for s in steps],
                        kill_switch_on(switch) and (switch or {}).get("incident") == record.id)


def _get(uow: UnitOfWork, incident_id: str) -> IncidentRecord:
    record = uow.incidents.get(incident_id.strip())
    if record is None:
        raise IncidentNotFound(incident_id)
    return record


def get_incident(ctx: ServiceContext, incident_id: str) -> IncidentView:
    with ctx.reader() as uow:
        return _view(uow, _get(uow, incident_id), ctx.clock.now())


def list_incidents(ctx: ServiceContext, status: str | None = None) -> list[IncidentView]:
    now = ctx.clock.now()
    with ctx.reader() as uow:
        return [_view(uow, r, now) for r in uow.incidents.all(status)]


def mark_step_done(ctx: ServiceContext, incident_id: str, step: str, *, actor: Actor,
                   note: str | None = None) -> IncidentView:
    if step not in STEPS:
        raise FieldError("step", f"one of {', '.join(STEPS)}")
    now = ctx.clock.now()

    def work(uow: UnitOfWork) -> IncidentView:
        record = _get(uow, incident_id)
        if not uow.incidents.mark_step(record.id, step, now, actor.label, note):
            raise FieldError("step", f"{step!r} is already done")
        _audit(uow, actor, f"incident.step.{step}", record.id, {"note": note}, now)
        return _view(uow, record, now)

    return in_transaction(ctx, work)


def close_incident(ctx: ServiceContext, incident_id: str, *, actor: Actor) -> IncidentView:
    """Close: the clocks stop where they are (a step not done stays on the record as not done)."""
    now = ctx.clock.now()

    def work(uow: UnitOfWork) -> IncidentView:
        record = _get(uow, incident_id)
        if not uow.incidents.close(record.id, now, actor.label):
            raise FieldError("incident", "already closed")
        open_steps = [s.step for s in uow.incidents.steps([record.id]) if s.done_at is None]
        _audit(uow, actor, "incident.close", record.id, {"steps_not_done": list(open_steps)}, now)
        return _view(uow, _get(uow, record.id), now)

    return in_transaction(ctx, work)


def resume_sending(ctx: ServiceContext, *, actor: Actor) -> str | None:
    """Lift the kill switch (sending and exports resume). Returns the incident it belonged to, None if off."""
    now = ctx.clock.now()

    def work(uow: UnitOfWork) -> str | None:
        switch = uow.guards.setting(KILL_SWITCH_KEY)
        if not kill_switch_on(switch):
            return None
        incident_id = str((switch or {}).get("incident") or "")
        uow.guards.set_setting(KILL_SWITCH_KEY, kill_switch_document(False, incident_id or None, now, actor.label),
                               actor.label, now)
        _audit(uow, actor, "incident.resume", incident_id, {"on": False}, now)
        return incident_id or None

    return in_transaction(ctx, work)


def affected_contacts(ctx: ServiceContext, incident_id: str) -> list[str]:
    """Contacts whose data was read, exported or changed from the incident's window start to its close (or now),
    plus the members of its segment."""
    with ctx.reader() as uow:
        record = _get(uow, incident_id)
        until = record.closed_at or ctx.clock.now()
        return uow.incidents.touched_contacts(record.window_start, until, record.segment)


def incident_timeline(ctx: ServiceContext, incident_id: str) -> list[dict[str, Any]]:
    with ctx.reader() as uow:
        record = _get(uow, incident_id)
        return [{"at": at, "actor": who, "action": action, "details": details}
                for at, who, action, details in uow.incidents.timeline(record.id)]


# --- notices: drafted per channel, sent after a second person approves ---------------------------


def notice_text(channel: str, record: IncidentRecord, zone_offset: timedelta = timedelta(hours=8)) -> str:
    opened = (record.opened_at + zone_offset).strftime("%Y-%m-%d %H:%M") + " (UTC+8)"
    return NOTICE_TEMPLATES[channel].format(opened=opened, summary=record.summary[:200])


def draft_notifications(ctx: ServiceContext, incident_id: str, *, actor: Actor,
                        channels: Sequence[str] = ("sms", "email")) -> ApprovalRequest:
    """Ask for approval to notify everyone affected; the request carries each channel's text and the count."""
    unknown = sorted(set(channels) - set(NOTICE_TEMPLATES))
    if unknown or not channels:
        raise FieldError("channels", f"one or more of {', '.join(NOTICE_TEMPLATES)}")
    with ctx.reader() as uow:
        record = _get(uow, incident_id)
    affected = affected_contacts(ctx, record.id)
    drafts = {c: notice_text(c, record) for c in channels}
    request = request_approval(ctx, actor, NOTIFY_KIND, subject(record.id),
                                         {"incident_id": record.id, "channels": list(channels),
                                          "affected": len(affected), "drafts": drafts},
                                         reason=f"notify {len(affected)} affected people of incident {record.id}")
    with ctx.uow() as uow:
        _audit(uow, actor, "incident.notify.drafted", record.id, {"channels": list(channels),
                                                                  "affected": len(affected)}, ctx.clock.now())
        uow.commit()
    return request


def send_notifications(ctx: ServiceContext, incident_id: str, channels: Sequence[str], *, actor: Actor | str,
                       request_id: str | None = None) -> int:
    """Queue the notice to every affected person on each channel (transactional; the guardrails still apply:
    no address, no message). The dispatcher sends them once the kill switch is lifted. Idempotent."""
    who = Actor.of(actor)
    affected = affected_contacts(ctx, incident_id)
    now = ctx.clock.now()

    def work(uow: UnitOfWork) -> int:
        record = _get(uow, incident_id)
        messages = [OutboxMessage(ctx.ids.new(now), f"incident:{record.id}:{channel}:{cid}"[:120], None, cid, None,
                                  None, channel, None, {"text": notice_text(channel, record), "purpose":
                                                        "transactional", "incident": record.id},
                                  "queued", 0, now, now)
                    for channel in channels for cid in affected]
        uow.messages.enqueue(messages)
        _audit(uow, who, "incident.notify.queued", record.id, {"messages": len(messages), "request": request_id,
                                                               "channels": list(channels)}, now)
        return len(messages)

    return in_transaction(ctx, work)


def record_drill(ctx: ServiceContext, *, actor: Actor, document: dict[str, Any]) -> None:
    """The real workspace's record of a drill run in a sandbox (P7: monthly drills, each step timed)."""
    now = ctx.clock.now()
    steps: list[JSONValue] = [{"step": s["step"], "ok": s["ok"], "seconds": s["seconds"], "detail": s["detail"]}
                              for s in document.get("steps", [])]
    with ctx.uow() as uow:
        uow.audit.record(actor.label, "incident.drill", "incident:drill", {"ok": bool(document.get("ok")),
                                                                             "steps": steps}, now)
        uow.commit()


def execute_notify(ctx: ServiceContext, request: ApprovalRequest) -> dict[str, Any]:
    """What approving an ``incident_notify`` request runs: the notices queued (idempotent)."""
    approver = Actor(request.decided_by or "approver")  # recorded as its id (the label carries the id too)
    queued = send_notifications(ctx, str(request.payload["incident_id"]), list(request.payload["channels"]),
                                actor=approver, request_id=request.id)
    return {"queued": queued}
