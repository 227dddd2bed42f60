"""A contact as a person reads it in the console (D5, S5, J9): one call gathers what the API spreads over several
routes — masked identities, attributes with their lineage, tags with who set them, consent, freezes, stage
history, the score and its parts, segments, each journey's runs with their trace, and the recent timeline.

Identities are masked (``domain.masking``): the page lets a person recognise a contact, not copy its addresses.
An agent's scope (``assignee``) is enforced here, as in the API: a contact outside it is ``ContactNotFound``.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from touchflow.domain.contact_ports import StoredEvent
from touchflow.domain.contacts import Consent, Scalar
from touchflow.domain.errors import FieldError
from touchflow.domain.guardrails.ports import Freeze
from touchflow.domain.identities import IDENTITY_KINDS, Identity, make_identity, parse_identifier
from touchflow.domain.masking import mask_email, mask_phone
from touchflow.domain.scoring.ports import StageChange
from touchflow.services.contacts import (
    ContactLabel,
    contact_labels,
    get_contact_profile,
    search_contacts,
)
from touchflow.services.context import ServiceContext
from touchflow.services.journeys import RunTrace, trace_contact
from touchflow.services.lifecycle import stage_history
from touchflow.services.reach import ensure_reach, search_assigned
from touchflow.services.scoring import ContactScore, score_of

__all__ = ["AttributeLine", "ContactView", "IdentityLine", "JourneyLine", "contact_view", "find_contacts",
           "mask_identity"]


def mask_identity(kind: str, value: str) -> str:
    """Phones and emails as lists show them; any other identifier keeps its first 3 characters."""
    if kind == "phone":
        return mask_phone(value)
    if kind == "email":
        return mask_email(value)
    return f"{value[:3]}***" if len(value) > 3 else "***"


@dataclass(frozen=True)
class IdentityLine:
    kind: str
    masked: str
    source: str
    at: datetime


@dataclass(frozen=True)
class AttributeLine:
    name: str
    value: Scalar
    source: str  # the lineage: which source set it ("manual" for a person's hand edit)
    at: datetime | None


@dataclass(frozen=True)
class JourneyLine:
    key: str
    name: str
    traces: list[RunTrace]  # each run: its nodes, the deciding values and each message (sent, or why not)


@dataclass(frozen=True)
class ContactView:
    id: str
    label: ContactLabel
    created_at: datetime
    identities: list[IdentityLine]
    attributes: list[AttributeLine]
    tags: list[tuple[str, str]]  # (tag, who set it)
    consents: list[Consent]
    freeze: Freeze | None  # in force now
    freezes: list[Freeze]
    stage: str | None
    stages: list[StageChange]  # newest first
    score: ContactScore
    segments: list[str]
    journeys: list[JourneyLine]
    event_count: int
    timeline: list[StoredEvent]  # newest first


def _identities_in(text: str) -> list[Identity]:
    """What ``text`` could be as an identifier: ``kind:value``, an email, a phone (normalised: 13812341234 is
    +8613812341234), or any kind's raw value."""
    found: list[Identity] = []
    try:
        parsed = parse_identifier(text)
    except FieldError:
        parsed = None
    if parsed is not None:
        return [parsed]
    for kind in ("email", "phone") if "@" in text else ("phone",):
        with suppress(FieldError):  # not a usable email or phone: the other kinds are still tried
            found.append(make_identity(kind, text))
    found += [Identity(kind, text) for kind in IDENTITY_KINDS if kind not in ("email", "phone")]
    return found


def find_contacts(ctx: ServiceContext, text: str | None, *, assignee: str | None = None,
                  limit: int = 50) -> list[ContactLabel]:
    """Search by any identifier (exact, through the identity index) or else part of a name or company; masked
    for a list. An identifier answers from the index alone: no scan of every name (bench/bench_console.py)."""
    if assignee is not None:
        states = search_assigned(ctx, assignee, text or None, None, limit)
        ids = [s.id for s in states]
    else:
        with ctx.reader() as uow:
            ids = sorted(set(uow.contacts.lookup(_identities_in(text)).values())) if text else []
        if not ids:
            ids = [s.id for s in search_contacts(ctx, text or None, None, limit)]
    labels = contact_labels(ctx, ids[:limit])
    return [labels[i] for i in ids[:limit]]


def contact_view(ctx: ServiceContext, identifier: str, *, assignee: str | None = None,
                 recent: int = 30) -> ContactView:
    if assignee is not None:
        identifier = ensure_reach(ctx, identifier, assignee)
    profile = get_contact_profile(ctx, identifier, recent)
    state = profile.state
    cid = state.id
    _, stages = stage_history(ctx, cid, 50)
    with ctx.reader() as uow:
        segments = sorted(uow.segments.segments_of(cid))
        runs = uow.journeys.runs_of([cid])
        journeys = {j.id: j for j in uow.journeys.all()}
    journey_lines = [JourneyLine(journeys[jid].key, journeys[jid].name, trace_contact(ctx, journeys[jid].key, cid))
                     for jid in dict.fromkeys(r.journey_id for r in runs) if jid in journeys]
    attributes = [AttributeLine(name, value, state.lineage[name].source if name in state.lineage else "",
                                state.lineage[name].at if name in state.lineage else None)
                  for name, value in sorted(state.values.items())]
    live = [f for f in profile.freezes if f.lifted_at is None]
    return ContactView(
        cid, contact_labels(ctx, [cid])[cid], state.created_at,
        [IdentityLine(link.identity.kind, mask_identity(link.identity.kind, link.identity.value), link.source,
                      link.at) for link in profile.identities],
        attributes, sorted(state.tags.items()), sorted(state.consents.values(), key=lambda c: c.channel),
        live[-1] if live else None, profile.freezes, str(state.values.get("lifecycle_stage") or "") or None,
        sorted(stages, key=lambda s: s.at, reverse=True), score_of(ctx, cid), segments, journey_lines,
        profile.event_count, sorted(profile.recent_events, key=lambda e: e.occurred_at, reverse=True))
