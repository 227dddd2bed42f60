"""Four-eyes approvals (P4): ``request_approval`` → a second person ``approve``s or ``reject``s → the kind's
executor carries the operation out and the request records executed or failed with its result.

A kind is registered once (``register_kind``) with the permission its approver needs besides
``approvals.decide``, its labels and its executor. The built-in kinds (exports, bulk contact deletion, API keys
with the export scope, role change to administrator) live in ``services/approval_kinds.py`` and are loaded on
first use, as is every module named in ``KIND_MODULES`` (other areas add theirs there).

The decision commits first (with its audit row); the executor runs after it, in its own transaction(s), and
the outcome is recorded in a following transaction with its audit row. An executor must therefore be safe to
run again on the same request (the export executor produces its file once: a second run finds it).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.approvals import (
    STATES,
    ApprovalRefused,
    ApprovalRequest,
    decide,
    finish,
    new_request,
)
from touchflow.domain.governance.permissions import PERMISSIONS
from touchflow.domain.governance.principals import Principal
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext

__all__ = [
    "KIND_MODULES",
    "ApprovalKind",
    "ApprovalNotFound",
    "ApprovalRefused",
    "ApprovalRequest",
    "Executor",
    "approve",
    "execute_approved",
    "expire_requests",
    "get_request",
    "kind_of",
    "kinds",
    "list_requests",
    "record_approval",
    "register_kind",
    "reject",
    "request_approval",
]

Executor = Callable[[ServiceContext, ApprovalRequest], dict[str, Any]]
Validator = Callable[[ServiceContext, Mapping[str, Any]], dict[str, Any]]
Hold = Callable[[UnitOfWork], str | None]  # why requests of a kind may not be approved now, or None

# Modules whose import registers approval kinds; loaded on first use of the registry.
KIND_MODULES: list[str] = ["touchflow.services.approval_kinds", "touchflow.services.privacy_kinds"]


class ApprovalNotFound(LookupError):
    def __init__(self, request_id: str) -> None:
        super().__init__(f"no approval request {request_id!r}")
        self.request_id = request_id


@dataclass(frozen=True)
class ApprovalKind:
    name: str
    permission: str  # what the approver needs besides approvals.decide (e.g. users.manage for role_admin)
    label_zh: str
    label_en: str
    execute: Executor
    validate: Validator | None = None  # normalises the payload at request time; raises FieldError
    hold: Hold | None = None  # e.g. exports while the incident kill switch is on: approval waits, stays pending


_KINDS: dict[str, ApprovalKind] = {}
_loaded = False
_lock = threading.Lock()


def register_kind(kind: str, *, permission: str, label_zh: str, label_en: str, execute: Executor,
                  validate: Validator | None = None, hold: Hold | None = None) -> ApprovalKind:
    """Register (or replace: tests register fakes) what approving a ``kind`` request does."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    if not kind or len(kind) > 40:
        raise ValueError(f"a kind name is 1 to 40 characters, got {kind!r}")
    entry = ApprovalKind(kind, permission, label_zh, label_en, execute, validate, hold)
    _KINDS[kind] = entry
    return entry


def _load() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if not _loaded:
            for module in KIND_MODULES:
                importlib.import_module(module)
            _loaded = True


def kinds() -> dict[str, ApprovalKind]:
    _load()
    return dict(_KINDS)


def kind_of(kind: str) -> ApprovalKind:
    _load()
    if kind not in _KINDS:
        raise FieldError("kind", f"unknown approval kind {kind!r}: one of {', '.join(sorted(_KINDS))}")
    return _KINDS[kind]


def _audit(uow: UnitOfWork, label: str, action: str, request: ApprovalRequest, details: Mapping[str, Any],
           ctx: ServiceContext) -> None:
    uow.audit.record(label, action, f"approval:{request.id}",
                     {"kind": request.kind, "subject": request.subject, **details}, ctx.clock.now())


def request_approval(ctx: ServiceContext, actor: Actor, kind: str, subject: str, payload: Mapping[str, Any], *,
                     reason: str) -> ApprovalRequest:
    """A pending request (audited). Nothing happens until another person approves it."""
    entry = kind_of(kind)
    clean = entry.validate(ctx, payload) if entry.validate else dict(payload)
    now = ctx.clock.now()
    request = new_request(ctx.ids.new(now), kind, subject, clean, actor, reason, now)
    with ctx.uow() as uow:
        uow.approvals.add(request)
        _audit(uow, actor.label, "approval.request", request,
               {"reason": request.reason, "payload": _summary(request.payload)}, ctx)
        uow.commit()
    return request


def approve(ctx: ServiceContext, principal: Principal, request_id: str, *, note: str = "") -> ApprovalRequest:
    """Approve (refused for the requester, a decider without the permissions, a decided or expired request),
    then run the kind's executor and record its outcome. Returns the request as executed or failed."""
    request = record_approval(ctx, principal, request_id, note=note)
    return execute_approved(ctx, request.id, by=principal.actor)


def record_approval(ctx: ServiceContext, principal: Principal, request_id: str, *, note: str = "") -> ApprovalRequest:
    """The decision alone (state ``approved``), for an entry point that runs ``execute_approved`` outside its
    write queue: an export reads for seconds, and other writers need not wait for it."""
    return _decide(ctx, principal, request_id, approve=True, note=note)


def reject(ctx: ServiceContext, principal: Principal, request_id: str, *, note: str) -> ApprovalRequest:
    return _decide(ctx, principal, request_id, approve=False, note=note)


def _decide(ctx: ServiceContext, principal: Principal, request_id: str, *, approve: bool,
            note: str) -> ApprovalRequest:
    now = ctx.clock.now()
    with ctx.uow() as uow:
        request = uow.approvals.get(request_id, lock=True)
        if request is None:
            raise ApprovalNotFound(request_id)
        entry = kind_of(request.kind)
        try:
            decided = decide(request, principal, approve=approve, note=note, kind_permission=entry.permission,
                             now=now)
        except ApprovalRefused as refused:
            if refused.code == "expired" and request.state == "pending":
                uow.approvals.save(replace(request, state="expired"))
                uow.commit()
            elif refused.code in ("self_approval", "permission"):  # attempts are evidence too (P5)
                _audit(uow, principal.actor.label, "approval.refused", request,
                       {"code": refused.code, "requested_by": request.requested_by_label}, ctx)
                uow.commit()
            raise
        why = entry.hold(uow) if approve and entry.hold else None
        if why:
            raise ApprovalRefused("held", why)
        uow.approvals.save(decided)
        _audit(uow, principal.actor.label, "approval.approve" if approve else "approval.reject", decided,
               {"note": decided.note, "requested_by": decided.requested_by_label}, ctx)
        uow.commit()
    return decided


def execute_approved(ctx: ServiceContext, request_id: str, *, by: Actor) -> ApprovalRequest:
    """Run the executor of an approved request and record executed or failed (with the audit row). Also what
    an operator calls again when a crash left a request approved but not finished."""
    with ctx.reader() as uow:
        request = uow.approvals.get(request_id)
    if request is None:
        raise ApprovalNotFound(request_id)
    if request.state != "approved":
        raise ApprovalRefused("decided", f"request {request_id} is {request.state}, not approved")
    entry = kind_of(request.kind)
    try:
        result, ok = entry.execute(ctx, request), True
    except Exception as exc:  # any failure is the request's outcome, recorded and shown)
        result, ok = {"error": f"{type(exc).__name__}: {exc}"[:1000]}, False
    now = ctx.clock.now()
    with ctx.uow() as uow:
        current = uow.approvals.get(request_id, lock=True)
        if current is None:
            raise ApprovalNotFound(request_id)
        if current.state != "approved":  # someone else recorded the outcome meanwhile
            return current
        done = finish(current, result, ok=ok, now=now)
        uow.approvals.save(done)
        _audit(uow, by.label, "approval.execute" if ok else "approval.fail", done, {"result": dict(result)}, ctx)
        uow.commit()
    return done


def list_requests(ctx: ServiceContext, *, state: str | None = None, kind: str | None = None,
                  limit: int = 200) -> list[ApprovalRequest]:
    """Newest first; a pending request past its time shows as expired (``expire_requests`` stores that)."""
    if state is not None and state not in STATES:
        raise FieldError("state", f"one of {', '.join(STATES)}")
    now = ctx.clock.now()
    stored: tuple[str, ...] | None = None
    if state is not None:
        stored = ("pending", "expired") if state == "expired" else (state,)
    with ctx.reader() as uow:
        found = uow.approvals.find(states=stored, kind=kind, limit=max(1, min(limit, 1000)))
    shown = [replace(r, state=r.state_at(now)) for r in found]
    return [r for r in shown if state is None or r.state == state]


def get_request(ctx: ServiceContext, request_id: str) -> ApprovalRequest:
    with ctx.reader() as uow:
        request = uow.approvals.get(request_id)
    if request is None:
        raise ApprovalNotFound(request_id)
    return replace(request, state=request.state_at(ctx.clock.now()))


def expire_requests(ctx: ServiceContext) -> list[str]:
    """Store the expiry of pending requests past their time (the worker or ``touchflow approval purge``)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        expired = uow.approvals.expire_pending(now)
        for request_id in expired:
            uow.audit.record("system", "approval.expire", f"approval:{request_id}", {}, now)
        uow.commit()
    return expired


def _summary(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload as the audit log keeps it: scalars and short lists, never a secret."""
    kept: dict[str, Any] = {}
    for key, value in payload.items():
        if any(word in key.lower() for word in ("secret", "password", "token")):
            continue
        kept[key] = value if isinstance(value, str | int | float | bool) or value is None else str(value)[:300]
    return kept
