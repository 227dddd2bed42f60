"""PIPL requests: a person's data as one document (access, Art. 45), erasure after a second person's approval
(Art. 47), the consent ledger, and the opt-out of personalised marketing (Art. 24).

Erasure keeps what aggregates count — the contact row (a random id, no attributes), its events (type, time,
journey, amounts) and its messages (channel, status, no address) — and removes what names the person. Its
identifiers survive only as HMAC tombstones (``services/privacy_index.py``) that make ingest refuse them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.events import JSONValue
from touchflow.domain.governance.privacy import ERASED_NAME, OPT_OUT_FIELD, OPTED_OUT, is_opted_out
from touchflow.domain.governance.privacy_ports import ConsentEntry, ErasureCounts
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.approvals import ApprovalRequest, request_approval
from touchflow.services.contacts import (
    get_contact_profile,
    patch_contact,
    profile_document,
    resolve_contact_id,
)
from touchflow.services.context import ServiceContext, in_transaction
from touchflow.services.incident_state import ExportsFrozen, exports_frozen
from touchflow.services.privacy_index import blind_key, digests_of

__all__ = [
    "ERASE_KIND",
    "Erasure",
    "consent_document",
    "consent_history",
    "erase_person",
    "execute_erase",
    "export_person",
    "request_erasure",
    "set_personalisation",
]

ERASE_KIND = "privacy_erase"


@dataclass(frozen=True)
class Erasure:
    contact_id: str
    request_id: str
    tombstones: int
    counts: ErasureCounts


def consent_document(entries: list[ConsentEntry]) -> list[dict[str, Any]]:
    return [{"channel": e.channel, "status": e.status, "source": e.source, "at": e.at, "recorded_at": e.recorded_at}
            for e in entries]


def consent_history(ctx: ServiceContext, identifier: str) -> list[ConsentEntry]:
    """Every consent statement of the contact (and of the contacts merged into it), oldest first."""
    with ctx.reader() as uow:
        contact_id = resolve_contact_id(uow, identifier)
        return uow.privacy.consent_history([contact_id, *uow.privacy.merged_into(contact_id)])


def export_person(ctx: ServiceContext, identifier: str, *, actor: Actor) -> dict[str, Any]:
    """Everything held about one person (PIPL Art. 45): the profile (identities, attributes and their sources,
    tags, merges, freezes), the consent ledger, every event, message, task, journey run and score. Audited;
    refused while an incident freezes exports."""
    if exports_frozen(ctx):
        raise ExportsFrozen()
    profile = profile_document(get_contact_profile(ctx, identifier, recent=0))
    contact_id = str(profile["id"])
    now = ctx.clock.now()
    with ctx.uow() as uow:
        ids = [contact_id, *uow.privacy.merged_into(contact_id)]
        data = uow.privacy.person_data(ids)
        consents = uow.privacy.consent_history(ids)
        uow.audit.record(actor.label, "privacy.export", contact_id,
                         {"events": len(data.events), "messages": len(data.messages)}, now)
        uow.commit()
    profile.pop("recent_events", None)
    return {"contact": profile, "personalisation": OPTED_OUT if is_opted_out(
                {"personalisation": (profile.get("custom") or {}).get("personalisation")}) else "allowed",
            "consent_history": consent_document(consents), "events": data.events, "messages": data.messages,
            "tasks": data.tasks, "journeys": data.journeys, "scores": data.scores, "exported_at": now,
            "merged_ids": ids[1:]}


def erase_person(ctx: ServiceContext, contact_id: str, *, actor: Actor | str, request_id: str) -> Erasure:
    """The executor of an approved ``privacy_erase`` request: one transaction, one audit row."""
    who = Actor.of(actor)
    now = ctx.clock.now()

    def work(uow: UnitOfWork) -> Erasure:
        survivor = resolve_contact_id(uow, contact_id)  # ContactNotFound: the request fails, nothing changes
        ids = [survivor, *uow.privacy.merged_into(survivor)]
        identities = [link.identity for cid in ids for link in uow.contacts.identities_of(cid)]
        key = blind_key(ctx, uow, create=True)
        assert key is not None
        digests = digests_of(key, identities)
        uow.privacy.add_tombstones(digests, request_id, now)
        counts = uow.privacy.erase(ids, {"erased": request_id}, now)
        uow.segments.mark_dirty([(cid, "*") for cid in ids], now)
        uow.audit.record(who.label, "privacy.erase", survivor, {
            "request": request_id, "identities": counts.identities, "events_anonymised": counts.events,
            "messages": counts.messages, "tasks": counts.tasks, "runs_ended": counts.runs,
            "merged_ids": list[JSONValue](ids[1:]), "name": ERASED_NAME}, now)
        return Erasure(survivor, request_id, len(digests), counts)

    return in_transaction(ctx, work)


def set_personalisation(ctx: ServiceContext, identifier: str, *, opted_out: bool, actor: Actor) -> bool:
    """PIPL Art. 24: the person refuses (or accepts again) marketing based on profiling. Stored as the attribute
    ``personalisation`` (a manual value outranks every source); returns whether the contact is now opted out."""
    state = patch_contact(ctx, identifier, actor=actor.label,
                          attributes={OPT_OUT_FIELD: OPTED_OUT if opted_out else None},
                          reason="PIPL Art. 24 opt-out of personalised marketing" if opted_out
                          else "personalised marketing accepted again")
    return is_opted_out(state.values)


# --- approvals: the kind is registered in services/privacy_kinds.py (listed in approvals.KIND_MODULES) -------


def execute_erase(ctx: ServiceContext, request: ApprovalRequest) -> dict[str, Any]:
    """What approving a ``privacy_erase`` request runs (after the decision committed; safe to run again)."""
    approver = Actor(request.decided_by or "approver")  # recorded as its id (the label carries the id too)
    done = erase_person(ctx, str(request.payload["contact_id"]), actor=approver, request_id=request.id)
    return {"contact_id": done.contact_id, "tombstones": done.tombstones, "events_anonymised": done.counts.events}


def request_erasure(ctx: ServiceContext, identifier: str, *, actor: Actor, reason: str) -> ApprovalRequest:
    """Ask for an erasure; a second person (not ``actor``) with ``privacy.manage`` approves it, then
    ``erase_person`` runs. Returns the pending approval request."""
    if not reason.strip():
        raise FieldError("reason", "an erasure needs a reason (the request it answers)")
    with ctx.reader() as uow:
        contact_id = resolve_contact_id(uow, identifier)
    return request_approval(ctx, actor, ERASE_KIND, contact_id, {"contact_id": contact_id}, reason=reason.strip())
