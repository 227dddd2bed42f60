"""Four-eyes approvals (P4, G5): a sensitive operation is asked for by one person and carried out only after a
second person, with the permission the operation names, agreed.

The rules are here, pure: who may decide (never the requester, compared by authenticated ``Actor.id``, so a
local administrator approving their own CLI request is refused like anyone else), a request is decided once,
a pending request lapses after ``REQUEST_TTL``. What an approved request does is the kind's executor
(``services.approvals.register_kind``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.principals import Principal

__all__ = [
    "DECIDE_PERMISSION",
    "REQUEST_TTL",
    "STATES",
    "ApprovalRefused",
    "ApprovalRequest",
    "ApprovalState",
    "check_decider",
    "decide",
    "finish",
    "new_request",
]

ApprovalState = Literal["pending", "approved", "rejected", "expired", "executed", "failed"]
STATES: tuple[ApprovalState, ...] = ("pending", "approved", "rejected", "expired", "executed", "failed")
REQUEST_TTL = timedelta(days=7)  # a pending request nobody decided lapses
DECIDE_PERMISSION = "approvals.decide"
_REASON_MAX = 1000
_NOTE_MAX = 1000
_SUBJECT_MAX = 300


class ApprovalRefused(Exception):
    """A decision the rules refuse. ``code``: self_approval | permission | decided | expired | held (the kind
    is on hold, e.g. exports during an incident: decide later)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ApprovalRequest:
    id: str
    kind: str
    subject: str  # what it is about, for lists and the audit log ("contacts", "segment:vip", "user:a@b.cn")
    payload: Mapping[str, Any]
    requested_by: str  # the requester's Actor.id: what the four-eyes rule compares
    requested_by_label: str  # what lists and records show
    reason: str
    state: ApprovalState
    requested_at: datetime
    expires_at: datetime
    decided_by: str | None = None  # the decider's Actor.id
    decided_by_label: str | None = None
    decided_at: datetime | None = None
    note: str = ""
    finished_at: datetime | None = None  # when the executor ran (executed or failed)
    result: Mapping[str, Any] = field(default_factory=dict)  # what the executor returned, or {"error": …}

    def state_at(self, now: datetime) -> ApprovalState:
        """The state as of ``now``: a pending request past ``expires_at`` is expired even before a sweep."""
        return "expired" if self.state == "pending" and now >= self.expires_at else self.state

    def requested_by_actor(self, actor: Actor) -> bool:
        return actor.id == self.requested_by


def new_request(request_id: str, kind: str, subject: str, payload: Mapping[str, Any], actor: Actor, reason: str,
                now: datetime) -> ApprovalRequest:
    """A pending request; the reason is required (the approver decides on it, the audit log keeps it)."""
    reason = reason.strip()
    if not reason:
        raise FieldError("reason", "say why this is needed: the approver decides on it")
    if len(reason) > _REASON_MAX:
        raise FieldError("reason", f"at most {_REASON_MAX} characters")
    if not subject.strip() or len(subject) > _SUBJECT_MAX:
        raise FieldError("subject", f"1 to {_SUBJECT_MAX} characters")
    return ApprovalRequest(request_id, kind, subject.strip(), dict(payload), actor.id, actor.label, reason,
                           "pending", now, now + REQUEST_TTL)


def check_decider(request: ApprovalRequest, principal: Principal, kind_permission: str | None,
                  now: datetime) -> None:
    """Raise ``ApprovalRefused`` unless ``principal`` may decide ``request`` now.

    Order matters for the message only: a decided request says so before anything about the decider.
    """
    state = request.state_at(now)
    if state == "expired":
        raise ApprovalRefused("expired", f"request {request.id} expired at {request.expires_at.isoformat()}: "
                                         "ask again")
    if state != "pending":
        raise ApprovalRefused("decided", f"request {request.id} is already {state}")
    if principal.actor.id == request.requested_by:
        raise ApprovalRefused("self_approval", "four-eyes rule: the requester cannot decide their own request; "
                                               "another person must")
    for permission in (DECIDE_PERMISSION, kind_permission):
        if permission and not principal.can(permission):
            raise ApprovalRefused("permission", f"permission '{permission}' is needed to decide a "
                                                f"{request.kind} request (your role: {principal.role})")


def decide(request: ApprovalRequest, principal: Principal, *, approve: bool, note: str,
           kind_permission: str | None, now: datetime) -> ApprovalRequest:
    """The request approved or rejected by ``principal``, after ``check_decider``."""
    note = note.strip()
    if len(note) > _NOTE_MAX:
        raise FieldError("note", f"at most {_NOTE_MAX} characters")
    if not approve and not note:
        raise FieldError("note", "say why the request is rejected")
    check_decider(request, principal, kind_permission, now)
    return replace(request, state="approved" if approve else "rejected", decided_by=principal.actor.id,
                   decided_by_label=principal.actor.label, decided_at=now, note=note)


def finish(request: ApprovalRequest, result: Mapping[str, Any], *, ok: bool, now: datetime) -> ApprovalRequest:
    """An approved request after its executor ran: executed (with its result) or failed (with the error)."""
    if request.state != "approved":
        raise ApprovalRefused("decided", f"request {request.id} is {request.state}, not approved")
    return replace(request, state="executed" if ok else "failed", finished_at=now, result=dict(result))
