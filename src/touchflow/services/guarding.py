"""Guardrail use cases: complaint freezes and who lifts them, suppressions, the workspace policy.

``apply_guard_events`` runs inside the ingest transaction, so a complaint freezes its contact in the
same commit that stores it. The freeze takes the send gate exclusively before it is written: it commits
only when no send to that contact is in flight, and every send that starts later sees it (ADR 0007).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.events import EventInput
from touchflow.domain.guardrails.model import (
    ADDRESS_KIND,
    GuardrailPolicy,
    merge_policy_document,
    policy_document,
    policy_from_document,
)
from touchflow.domain.guardrails.ports import Freeze, Suppression
from touchflow.domain.ids import IdFactory
from touchflow.domain.outbox import TaskRecord
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.assignment import assign_tasks
from touchflow.services.contacts import resolve_contact_id
from touchflow.services.context import ServiceContext, emit_events
from touchflow.services.tasks import handoff_notices

__all__ = [
    "COMPLAINT_TASK_SLA",
    "COMPLAINT_TYPES",
    "PolicyChange",
    "apply_guard_events",
    "freeze_contact",
    "guardrail_policy",
    "lift_freeze",
    "message_outcomes",
    "policy_changes",
    "set_guardrail_policy",
    "suppress_address",
    "unsuppress_address",
]

COMPLAINT_TYPES = frozenset({"complaint", "message_complained"})
_UNSUBSCRIBE_TYPES = frozenset({"unsubscribe", "message_unsubscribed"})
COMPLAINT_TASK_SLA = timedelta(hours=2)  # G3/J11: a person takes a complaint within 2 h
POLICY_KEY = "guardrails"


class NotFrozen(Exception):
    pass


def _freeze(uow: UnitOfWork, ids: IdFactory, contact_id: str, reason: str, event_id: str | None,
            now: datetime) -> Freeze | None:
    """Freeze one contact (if not frozen already) and open a customer-service task due in 2 h."""
    if uow.guards.active_freeze(contact_id) is not None:
        return None
    task = TaskRecord(ids.new(now), f"complaint:{event_id or ids.new(now)}", contact_id, None, None, None,
                      "service", f"投诉处理 complaint: {reason}"[:300], None, "open", now, now + COMPLAINT_TASK_SLA)
    (task,) = assign_tasks(uow, [task], now)  # service tasks too, when the rules cover that queue
    uow.journeys.add_tasks([task])
    uow.journeys.enqueue(handoff_notices(uow, [task], ids, now))
    freeze = Freeze(ids.new(now), contact_id, now, reason, event_id, task.id)
    uow.guards.freeze(freeze)
    marker = EventInput(f"frz_{freeze.id}", "contact_frozen", (), now, "touchflow", {"reason": reason})
    emit_events(uow, [(marker, contact_id)], now)
    return freeze


def apply_guard_events(uow: UnitOfWork, ids: IdFactory, written: Sequence[tuple[EventInput, str]],
                       now: datetime) -> None:
    """What stored events mean for guardrails: complaints freeze, unsubscribes and hard bounces suppress."""
    complaints = [(e, c) for e, c in written if e.type in COMPLAINT_TYPES]
    if complaints:
        uow.guards.hold_send_gate({c for _, c in complaints}, exclusive=True)
        for event, contact_id in complaints:
            reason = str(event.properties.get("reason") or event.type)
            _freeze(uow, ids, contact_id, reason, event.id, now)
    suppress: list[Suppression] = []
    wanted = [(e, c) for e, c in written if e.type in _UNSUBSCRIBE_TYPES or
              (e.type == "message_bounced" and e.properties.get("hard") is True)]
    if not wanted:
        return
    addresses = uow.guards.addresses({c for _, c in wanted})
    for event, contact_id in wanted:
        channel = str(event.properties.get("channel") or "email")
        channels = list(ADDRESS_KIND) if channel == "all" else [channel]
        reason = "hard_bounce" if event.type == "message_bounced" else "unsubscribed"
        for name in channels:
            kind = ADDRESS_KIND.get(name)
            address = addresses.get(contact_id, {}).get(kind) if kind else None
            if address:
                suppress.append(Suppression(name, address, reason, event.source, now))
    uow.guards.suppress(suppress)


def freeze_contact(ctx: ServiceContext, contact_ref: str, reason: str, *, actor: str) -> Freeze | None:
    """Freeze a contact by hand (a complaint by phone, say). None when already frozen."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        contact_id = resolve_contact_id(uow, contact_ref)
        uow.guards.hold_send_gate({contact_id}, exclusive=True)
        freeze = _freeze(uow, ctx.ids, contact_id, reason, None, now)
        uow.audit.record(actor, "contact.freeze", contact_id, {"reason": reason, "done": freeze is not None}, now)
        uow.commit()
    return freeze


def lift_freeze(ctx: ServiceContext, contact_ref: str, *, by: str, reason: str) -> Freeze:
    """Only a person lifts a freeze, and says why; the reason is kept with the freeze and in the audit log."""
    if not by.strip() or not reason.strip():
        raise ValueError("lifting a freeze needs the person's name (by) and a reason")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        contact_id = resolve_contact_id(uow, contact_ref)
        lifted = uow.guards.lift(contact_id, by.strip(), reason.strip(), now)
        if lifted is None:
            raise NotFrozen(f"contact {contact_ref} is not frozen")
        marker = EventInput(f"unfrz_{lifted.id}", "contact_unfrozen", (), now, "touchflow",
                            {"by": by.strip(), "reason": reason.strip()})
        uow.events.insert([(marker, contact_id)], now)
        uow.audit.record(by.strip(), "contact.unfreeze", contact_id, {"reason": reason.strip(),
                                                                      "freeze": lifted.id}, now)
        uow.commit()
    return lifted


def suppress_address(ctx: ServiceContext, channel: str, address: str, reason: str, *, actor: str) -> None:
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.guards.suppress([Suppression(channel, address, reason, actor, now)])
        uow.audit.record(actor, "suppression.add", f"{channel}:{address}", {"reason": reason}, now)
        uow.commit()


def unsuppress_address(ctx: ServiceContext, channel: str, address: str, *, actor: str) -> bool:
    now = ctx.clock.now()
    with ctx.uow() as uow:
        removed = uow.guards.unsuppress(channel, address)
        uow.audit.record(actor, "suppression.remove", f"{channel}:{address}", {"removed": removed}, now)
        uow.commit()
    return removed


def message_outcomes(ctx: ServiceContext) -> dict[str, dict[str, int]]:
    """Messages by status, and within it by the guardrail or reason that decided (``-`` for none)."""
    found: dict[str, dict[str, int]] = {}
    with ctx.reader() as uow:
        for status, reason, n in uow.messages.outcome_counts():
            found.setdefault(status, {})[reason or "-"] = n
    return found


def guardrail_policy(uow: UnitOfWork) -> GuardrailPolicy:
    stored = uow.guards.setting(POLICY_KEY)
    return GuardrailPolicy() if stored is None else policy_from_document(stored)


@dataclass(frozen=True)
class PolicyChange:
    policy: GuardrailPolicy  # the policy in force now
    changed: dict[str, tuple[object, object]]  # field path -> (before, after)
    warnings: list[str]  # e.g. a channel alias that was renamed


def _flat(document: Mapping[str, Any], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in document.items():
        if isinstance(value, Mapping) and key != "per_channel":
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def policy_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[object, object]]:
    """Field path -> (before, after) for each field two policy documents disagree on (``per_channel`` is one
    field: its channels are compared as a whole). The audit row and the preview name the same fields."""
    old, new = _flat(before), _flat(after)
    return {k: (old.get(k), new[k]) for k in new if old.get(k) != new[k]}


def set_guardrail_policy(ctx: ServiceContext, document: Mapping[str, Any], *, actor: str,
                         replace: bool = False) -> PolicyChange:
    """Change the fields ``document`` names and keep the rest (``replace``: the rest are the defaults).
    An unknown or bad field raises ``FieldError``/``ValueError`` naming it, and nothing changes."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        stored = uow.guards.lock_setting(POLICY_KEY) or {}
        before = policy_document(policy_from_document(stored))
        after, warnings = merge_policy_document(stored, document, replace=replace)
        after = policy_document(policy_from_document(after))
        changed = policy_changes(before, after)
        uow.guards.set_setting(POLICY_KEY, after, actor, now)
        details: dict[str, Any] = {"policy": after, "replace": replace, "changed": sorted(changed)}
        uow.audit.record(actor, "guardrails.set", POLICY_KEY, details, now, before=before, after=after)
        uow.commit()
    return PolicyChange(policy_from_document(after), changed, warnings)
