"""Load what the guardrails need for the contacts of one claimed batch: a fixed number of queries per batch."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.channel_names import CHANNEL_ALIASES, canonical_channel
from touchflow.domain.guardrails.model import ADDRESS_KIND, EmailEngagement, GuardFacts
from touchflow.domain.outbox import OutboxMessage
from touchflow.domain.unit_of_work import UnitOfWork

__all__ = ["BatchContacts", "address_for", "load_guard_facts"]

_TOUCH_LOOKBACK = timedelta(days=2)  # covers "today" in every time zone
_FATIGUE_LOOKBACK = timedelta(days=60)


def _names(channel: str) -> set[str]:
    """Every name a channel's suppressions may be stored under (wechat and its old name wechat_mp)."""
    canonical = canonical_channel(channel)
    return {channel, canonical, *(old for old, new in CHANNEL_ALIASES.items() if new == canonical)}


def address_for(message: OutboxMessage, identities: dict[str, str]) -> str | None:
    payload = message.payload if isinstance(message.payload, dict) else {}  # a mangled row fails in decide, alone
    if message.channel == "webhook":
        url = payload.get("url")
        return str(url) if url else None
    if message.channel in ("onsite", "capture"):  # the contact's own inbox; the sandbox's recorder
        return message.contact_id
    override = payload.get("to")
    if isinstance(override, str) and override:
        return override
    kind = ADDRESS_KIND.get(message.channel)
    if kind is None:  # a custom channel named like an identity kind (x_line, ...)
        kind = message.channel
    return identities.get(kind)


@dataclass
class BatchContacts:
    """The contacts of one claimed batch, loaded once: guardrails read them, then templates."""

    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    identities: dict[str, dict[str, str]] = field(default_factory=dict)


def load_guard_facts(uow: UnitOfWork, messages: Sequence[OutboxMessage], now: datetime,
                     claimed: Collection[str]) -> tuple[dict[str, GuardFacts], BatchContacts]:
    contact_ids = {m.contact_id for m in messages}
    profiles = uow.messages.audience(contact_ids)
    identities = uow.guards.addresses(contact_ids)
    frozen = uow.guards.frozen_among(contact_ids)
    addresses: dict[str, dict[str, str]] = {c: {} for c in contact_ids}
    for m in messages:
        address = address_for(m, identities.get(m.contact_id, {}))
        if address:
            addresses[m.contact_id][m.channel] = address
    pairs = {(name, a) for per in addresses.values() for channel, a in per.items() for name in _names(channel)}
    suppressed = uow.guards.suppressed(pairs)
    touches = uow.messages.touches_since(contact_ids, now - _TOUCH_LOOKBACK)
    emails: dict[str, list[EmailEngagement]] = {}
    email_contacts = {m.contact_id for m in messages if m.channel == "email"}
    if email_contacts:
        sent = uow.messages.emails_since(email_contacts, now - _FATIGUE_LOOKBACK)
        engagement = uow.messages.engagement_since(email_contacts, now - _FATIGUE_LOOKBACK)
        for contact_id, rows in sent.items():
            emails[contact_id] = [EmailEngagement(at, *engagement.get(mid, (None, False)),
                                                  purpose="transactional" if purpose == "transactional"
                                                  else "marketing")
                                  for mid, purpose, at in rows if mid not in claimed]
    facts: dict[str, GuardFacts] = {}
    for contact_id in contact_ids:
        profile = profiles.get(contact_id) or {}
        zone = (profile.get("attributes") or {}).get("timezone")
        consents = dict(profile.get("consent") or {})
        if "wechat" in consents and "wechat_mp" not in consents:
            consents["wechat_mp"] = consents["wechat"]
        facts[contact_id] = GuardFacts(
            contact_id=contact_id,
            timezone=str(zone) if zone else None,
            addresses=addresses[contact_id],
            consents=consents,
            suppressed=frozenset(c for c, a in addresses[contact_id].items()
                                 if any((name, a) in suppressed for name in _names(c))),
            frozen=contact_id in frozen,
            touches=[(channel, at) for mid, channel, at in touches.get(contact_id, []) if mid not in claimed],
            emails=emails.get(contact_id, []),
        )
    return facts, BatchContacts(profiles, identities)
