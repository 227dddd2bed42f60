"""Contact use cases: look one up, edit by hand (D5), search, confirm a suggested duplicate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from touchflow.domain.contact_ports import IdentityLink, MergeRecord, StoredEvent
from touchflow.domain.contacts import (
    MANUAL_PRIORITY,
    STANDARD_FIELDS,
    ContactState,
    Scalar,
    Stamp,
    merge_into,
    pick_winner,
)
from touchflow.domain.duplicates import STORED_THRESHOLD, DuplicateSuggestion
from touchflow.domain.duplicates import suggest_duplicates as _suggest
from touchflow.domain.errors import FieldError
from touchflow.domain.events import JSONValue
from touchflow.domain.guardrails.ports import Freeze
from touchflow.domain.identities import parse_identifier
from touchflow.domain.masking import mask_email, mask_phone
from touchflow.domain.records import standard_value
from touchflow.domain.tagging import apply_tag_rules
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext
from touchflow.services.duplicate_index import stored_duplicates

__all__ = [
    "ContactLabel",
    "ContactNotFound",
    "ContactProfile",
    "contact_labels",
    "find_contact_id",
    "get_contact_profile",
    "merge_contacts",
    "patch_contact",
    "profile_document",
    "resolve_contact_id",
    "search_contacts",
    "state_document",
    "suggest_duplicates",
]


class ContactNotFound(LookupError):
    def __init__(self, identifier: str) -> None:
        super().__init__(f"no contact matches {identifier!r}")
        self.identifier = identifier


@dataclass
class ContactProfile:
    state: ContactState
    identities: list[IdentityLink]
    event_count: int
    recent_events: list[StoredEvent]
    merges: list[MergeRecord] = field(default_factory=list)
    freezes: list[Freeze] = field(default_factory=list)  # complaint freezes, oldest first; lifted ones too


@dataclass(frozen=True)
class ContactLabel:
    """How a list shows a contact to a person: the id to copy, a name, masked phone and email."""

    id: str
    name: str | None
    phone: str | None  # masked: 138****1234
    email: str | None  # masked: z***@example.cn

    def document(self) -> dict[str, str | None]:
        return {"contact_id": self.id, "name": self.name, "phone": self.phone, "email": self.email}


def resolve_contact_id(uow: UnitOfWork, identifier: str) -> str:
    """A contact id from ``kind:value`` or an id (a merged-away id resolves to the survivor)."""
    try:
        identity = parse_identifier(identifier)
    except FieldError as exc:
        raise ContactNotFound(identifier) from exc
    if identity is not None:
        found = uow.contacts.lookup([identity]).get(identity)
        if found is None:
            raise ContactNotFound(identifier)
        return found
    contact_id = uow.contacts.resolve_id(identifier.strip())
    if contact_id is None:
        raise ContactNotFound(identifier)
    return contact_id


def find_contact_id(ctx: ServiceContext, identifier: str) -> str:
    with ctx.reader() as uow:
        return resolve_contact_id(uow, identifier)


def get_contact_profile(ctx: ServiceContext, identifier: str, recent: int = 10) -> ContactProfile:
    with ctx.reader() as uow:
        contact_id = resolve_contact_id(uow, identifier)
        state = uow.contacts.load([contact_id])[contact_id]
        return ContactProfile(state, uow.contacts.identities_of(contact_id), uow.events.count_for(contact_id),
                              uow.events.recent(contact_id, recent), uow.contacts.merges_of(contact_id),
                              uow.guards.freezes_of(contact_id))


def contact_labels(ctx: ServiceContext, contact_ids: Sequence[str]) -> dict[str, ContactLabel]:
    """Name and masked phone/email of each contact, in two reads for the whole page."""
    wanted = list(dict.fromkeys(contact_ids))
    with ctx.reader() as uow:
        states = uow.contacts.load(wanted)
        addresses = uow.guards.addresses(wanted)
    labels: dict[str, ContactLabel] = {}
    for contact_id in wanted:
        state = states.get(contact_id)
        name = state.values.get("name") if state is not None else None
        found = addresses.get(contact_id, {})
        phone, email = found.get("phone"), found.get("email")
        labels[contact_id] = ContactLabel(contact_id, str(name) if name is not None else None,
                                          mask_phone(phone) if phone else None, mask_email(email) if email else None)
    return labels


def search_contacts(ctx: ServiceContext, text: str | None = None, tag: str | None = None, limit: int = 50,
                    offset: int = 0) -> list[ContactState]:
    """Contacts whose identifier equals ``text`` or whose name/company contains it, optionally by tag."""
    with ctx.reader() as uow:
        ids = uow.contacts.search(text, tag, min(max(limit, 1), 500), max(offset, 0))
        states = uow.contacts.load(ids)
        return [states[i] for i in ids]


def patch_contact(ctx: ServiceContext, identifier: str, *, actor: str,
                  attributes: Mapping[str, Scalar | None] | None = None,
                  add_tags: Sequence[str] = (), remove_tags: Sequence[str] = (),
                  reason: str = "") -> ContactState:
    """A person edits tags and attributes by hand (D5 人工干预). Their values outrank every source.

    ``None`` clears an attribute. One transaction, one audit row.
    """
    now = ctx.clock.now()
    with ctx.uow() as uow:
        contact_id = resolve_contact_id(uow, identifier)
        state = uow.contacts.load([contact_id])[contact_id]
        before = {"values": dict(state.values), "tags": dict(state.tags)}
        stamp = Stamp("manual", MANUAL_PRIORITY, now)
        changes: dict[str, object] = {}
        for name, value in (attributes or {}).items():
            key = _attribute_key(name)
            if value is None:
                if key in state.values:
                    changes[key] = {"from": state.values.pop(key), "to": None}
                    state.lineage[key] = stamp
                continue
            clean = standard_value(key, value) if key in STANDARD_FIELDS else value
            if state.values.get(key) != clean:
                changes[key] = {"from": state.values.get(key), "to": clean}
                state.values[key] = clean
                state.lineage[key] = stamp
        for tag in add_tags:
            tag = tag.strip()
            if tag and state.tags.get(tag) != "manual":
                state.tags[tag] = "manual"
                changes[f"tag+{tag}"] = True
        for tag in remove_tags:
            if state.tags.pop(tag.strip(), None) is not None:
                changes[f"tag-{tag.strip()}"] = True
        apply_tag_rules(state, uow.tag_rules.all())
        if changes:
            uow.contacts.update([state], now)
            uow.segments.mark_dirty([(state.id, "*")], now)  # its segment memberships need a look
            uow.audit.record(actor, "contact.patch", contact_id,
                             {"changes": {k: _json(v) for k, v in changes.items()}, "reason": reason}, now,
                             before=before, after={"values": dict(state.values), "tags": dict(state.tags)})
        uow.commit()
        return state


def _attribute_key(name: str) -> str:
    name = name.strip()
    if name in STANDARD_FIELDS or name.startswith("custom."):
        return name
    if not name or len(name) > 64:
        raise FieldError(name or "attribute", "attribute names are 1-64 characters")
    return f"custom.{name}"


def _json(value: object) -> JSONValue:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return str(value)


def suggest_duplicates(ctx: ServiceContext, limit: int = 100, threshold: float = 88.0) -> list[DuplicateSuggestion]:
    """Likely duplicates (same city, similar name and company) for a person to confirm: the stored pairs
    (services/duplicate_index.py) at the default threshold or above, the pairwise computation below it."""
    if threshold >= STORED_THRESHOLD:
        return stored_duplicates(ctx, limit, threshold)
    with ctx.reader() as uow:
        return _suggest(uow.contacts.duplicate_candidates(), threshold=threshold, limit=limit)


def merge_contacts(ctx: ServiceContext, keep: str, other: str, *, actor: str, reason: str = "") -> str:
    """A person confirms that two contacts are one; the older survives. Returns the survivor's id."""
    now: datetime = ctx.clock.now()
    with ctx.uow() as uow:
        first, second = resolve_contact_id(uow, keep), resolve_contact_id(uow, other)
        if first == second:
            return first
        states = uow.contacts.load([first, second])
        winner = pick_winner(states.values())
        loser = states[second if winner.id == first else first]
        conflicts = merge_into(winner, loser)
        apply_tag_rules(winner, uow.tag_rules.all())
        uow.contacts.merge([MergeRecord(winner.id, loser.id, f"manual: {reason}"[:300], "manual", now,
                                        tuple(conflicts))])
        uow.contacts.update([winner], now)
        uow.segments.mark_dirty([(winner.id, "*")], now)
        uow.audit.record(actor, "contact.merge", winner.id, {"merged": loser.id, "reason": reason}, now)
        uow.commit()
        return winner.id


def state_document(state: ContactState) -> dict[str, Any]:
    """A contact as plain data (datetimes stay datetimes; the caller's JSON encoder formats them)."""
    return {
        "id": state.id,
        "created_at": state.created_at,
        "attributes": {k: v for k, v in state.values.items() if not k.startswith("custom.")},
        "custom": {k[len("custom."):]: v for k, v in state.values.items() if k.startswith("custom.")},
        "lineage": {k: {"source": s.source, "at": s.at} for k, s in sorted(state.lineage.items())},
        "tags": [{"tag": t, "set_by": by} for t, by in sorted(state.tags.items())],
        "consent": {c: {"status": v.status, "source": v.source, "at": v.at}
                    for c, v in sorted(state.consents.items())},
        "lifecycle_stage": state.values.get("lifecycle_stage"),
    }


def profile_document(profile: ContactProfile) -> dict[str, Any]:
    """The whole profile as plain data: the one shape the API and `contact show --json` print."""
    data = state_document(profile.state)
    data["identities"] = [{"kind": i.identity.kind, "value": i.identity.value, "source": i.source,
                           "since": i.at} for i in profile.identities]
    data["event_count"] = profile.event_count
    data["recent_events"] = [{"id": e.id, "type": e.type, "occurred_at": e.occurred_at,
                              "received_at": e.received_at, "source": e.source, "properties": e.properties}
                             for e in profile.recent_events]
    data["merges"] = [{"merged": m.loser_id, "into": m.winner_id, "linked_by": m.linked_by, "source": m.source,
                       "at": m.at, "conflicts": [{"field": c.field, "kept": c.kept, "kept_source": c.kept_source,
                                                  "dropped": c.dropped, "dropped_source": c.dropped_source}
                                                 for c in m.conflicts],
                       "undone_at": m.undone_at, "undone_by": m.undone_by} for m in profile.merges]
    data["freezes"] = [{"frozen_at": f.frozen_at, "reason": f.reason, "task_id": f.task_id, "event_id": f.event_id,
                        "lifted_at": f.lifted_at, "lifted_by": f.lifted_by, "lift_reason": f.lift_reason}
                       for f in profile.freezes]
    active = [f for f in data["freezes"] if f["lifted_at"] is None]
    data["frozen"] = active[-1] if active else None
    return data
