"""What contacts and providers tell us after a message left: opens, clicks, unsubscribes, receipts, reports.

Every signal becomes a lifecycle event of the message's contact, stored with a deterministic id (a repeated
open, a re-delivered receipt or a second one-click POST stores nothing twice) and routed to the journey
inbox, with its guardrail effects in the same transaction: an unsubscribe withdraws consent and suppresses
the address, a hard bounce suppresses the address that bounced, a complaint freezes the contact and opens a
service task due in 2 h (``services.guarding.apply_guard_events``).

Token payloads come from ``content.links.Tracking``: ``{"m": message id, "c": contact id, "u": url}``;
the HTTP layer checks the signature, this module only trusts what a valid token says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from touchflow.domain.contacts import Consent
from touchflow.domain.errors import FieldError
from touchflow.domain.events import EventInput, JSONValue
from touchflow.domain.guardrails.model import ADDRESS_KIND
from touchflow.domain.guardrails.ports import Suppression
from touchflow.domain.identities import make_identity
from touchflow.domain.measurement.devices import device_class
from touchflow.domain.messaging.delivery import after_hard_bounce
from touchflow.domain.outbox import OutboxMessage
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext, emit_events
from touchflow.services.guarding import apply_guard_events

__all__ = [
    "ALL_CHANNELS",
    "TRACKING_SOURCE",
    "BadTrackingPayload",
    "ChannelPreference",
    "MailReport",
    "Receipt",
    "ReportOutcome",
    "Unsubscribed",
    "click_target",
    "delivery_receipt",
    "delivery_receipts",
    "email_report",
    "inbound_sms",
    "lifecycle_id",
    "preferences",
    "record_click",
    "record_for_contact",
    "record_open",
    "save_preferences",
    "set_consents",
    "unsubscribe",
]

TRACKING_SOURCE = "tracking"
ALL_CHANNELS = ("email", "sms", "wecom", "wechat", "wechat_mp")  # what "all" withdraws
ReceiptStatus = Literal["delivered", "failed", "bounced"]


class BadTrackingPayload(ValueError):
    """A validly signed token whose payload does not name a message and a contact (or a usable URL)."""


@dataclass(frozen=True)
class Unsubscribed:
    contact_id: str
    channel: str
    changed: bool  # False when consent was already withdrawn (a repeated click)


@dataclass(frozen=True)
class Receipt:
    """A provider's delivery report for one message, in the provider-neutral shape."""

    provider_id: str
    status: ReceiptStatus
    error: str | None = None
    hard: bool = False  # for "bounced": the address is bad (an empty number, say)


class MailReport(Protocol):
    """A returned bounce or complaint (``channels.bounces.BounceReport`` has this shape)."""

    @property
    def kind(self) -> str: ...  # "bounce" | "complaint"
    @property
    def hard(self) -> bool: ...
    @property
    def recipient(self) -> str: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def provider_message_id(self) -> str | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def diagnostic(self) -> str | None: ...


@dataclass(frozen=True)
class ReportOutcome:
    contact_id: str
    message_id: str | None
    event_type: str
    stored: bool  # False when the same report was seen before
    found_by: str  # message_id | provider_id | recipient


def lifecycle_id(message_id: str, stage: str) -> str:
    """The same ids the dispatcher uses (``m_<message>_<stage>``), so each stage is stored once."""
    return f"m_{message_id}_{stage}"


def _digest(*parts: str, size: int = 12) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:size]


def _message_props(message: OutboxMessage | None, message_id: str, channel: str = "email",
                   extra: Mapping[str, JSONValue] | None = None) -> dict[str, JSONValue]:
    props: dict[str, JSONValue] = {"message_id": message_id, "channel": message.channel if message else channel}
    if message is not None:
        props.update({"journey_id": message.journey_id, "node_id": message.node_id, "template": message.template})
    props.update({k: v for k, v in (extra or {}).items() if v is not None})
    return {k: v for k, v in props.items() if v is not None}


def record_for_contact(uow: UnitOfWork, ctx: ServiceContext, contact_id: str, events: Sequence[EventInput],
                       now: datetime) -> list[EventInput]:
    """Store events of a known contact (merged ids follow to the survivor); returns those not seen before.

    Fresh events enter the journey inbox and take their guardrail effects — except hard bounces, which
    callers suppress by the exact address that bounced (``apply_guard_events`` would pick the contact's
    first address of the kind).
    """
    survivor = uow.contacts.resolve_id(contact_id) or contact_id
    seen = uow.events.existing_ids([e.id for e in events])
    fresh: list[EventInput] = []
    for event in events:
        if event.id not in seen:
            seen.add(event.id)
            fresh.append(event)
    if not fresh:
        return []
    written = [(e, survivor) for e in fresh]
    emit_events(uow, written, now)
    apply_guard_events(uow, ctx.ids, [(e, c) for e, c in written if e.type != "message_bounced"], now)
    return fresh


def set_consents(uow: UnitOfWork, contact_id: str, statuses: Mapping[str, Literal["granted", "denied"]],
                 source: str, now: datetime) -> bool:
    """Record the contact's own statement of consent per channel; True when something changed."""
    survivor = uow.contacts.resolve_id(contact_id) or contact_id
    state = uow.contacts.load([survivor]).get(survivor)
    if state is None:
        return False
    changed = False
    for channel, status in statuses.items():
        changed = state.offer_consent(Consent(channel, status, source, now)) or changed
    if changed:
        uow.contacts.update([state], now)
    return changed


def _event(event_id: str, event_type: str, now: datetime, properties: dict[str, JSONValue],
           source: str = TRACKING_SOURCE) -> EventInput:
    return EventInput(event_id, event_type, (), now, source, properties)


def _ids(payload: Mapping[str, Any]) -> tuple[str, str]:
    message_id, contact_id = payload.get("m"), payload.get("c")
    if not isinstance(message_id, str) or not isinstance(contact_id, str) or not message_id or not contact_id:
        raise BadTrackingPayload("the token names no message and contact")
    return message_id, contact_id


def _live_contact(uow: UnitOfWork, contact_id: str) -> str | None:
    return uow.contacts.resolve_id(contact_id)


def record_open(ctx: ServiceContext, token_payload: Mapping[str, Any], user_agent: str | None = None) -> bool:
    """The open pixel was loaded. Only the first open of a message is an event; True when it was. The request's
    user agent is kept only as a coarse device class (``device``), never itself."""
    message_id, contact_id = _ids(token_payload)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        if _live_contact(uow, contact_id) is None:
            return False
        message = uow.messages.get(message_id)
        event = _event(lifecycle_id(message_id, "opened"), "message_opened", now,
                       _message_props(message, message_id, extra={"device": device_class(user_agent)}))
        fresh = record_for_contact(uow, ctx, contact_id, [event], now)
        uow.commit()
    return bool(fresh)


def click_target(token_payload: Mapping[str, Any]) -> str:
    """The original URL of a click token; only http(s), so a token can never redirect to ``javascript:``."""
    url = token_payload.get("u")
    if not isinstance(url, str) or urlsplit(url).scheme.lower() not in ("http", "https") or \
            not urlsplit(url).hostname:
        raise BadTrackingPayload("the click token carries no http(s) URL")
    return url


def record_click(ctx: ServiceContext, token_payload: Mapping[str, Any], user_agent: str | None = None) -> str:
    """A tracked link was followed: one ``message_clicked`` per (message, URL), and the open it implies
    (images are often blocked, the click proves the message was read). Returns the URL to redirect to."""
    url = click_target(token_payload)
    device = device_class(user_agent)
    message_id, contact_id = _ids(token_payload)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        if _live_contact(uow, contact_id) is not None:
            message = uow.messages.get(message_id)
            events = [
                _event(lifecycle_id(message_id, "opened"), "message_opened", now,
                       _message_props(message, message_id, extra={"implied_by": "click", "device": device})),
                _event(lifecycle_id(message_id, f"clicked_{_digest(url)}"), "message_clicked", now,
                       _message_props(message, message_id, extra={"url": url[:2000], "device": device})),
            ]
            record_for_contact(uow, ctx, contact_id, events, now)
            uow.commit()
    return url


def _suppress_exact(uow: UnitOfWork, channel: str, address: str | None, reason: str, source: str,
                    now: datetime) -> None:
    if address:
        uow.guards.suppress([Suppression(channel, address, reason, source, now)])


def _withdraw(uow: UnitOfWork, ctx: ServiceContext, contact_id: str, channel: str, method: str,
              message: OutboxMessage | None, message_id: str | None, event_key: str, now: datetime) -> bool:
    """Consent denied, the address suppressed, ``unsubscribe`` (and ``message_unsubscribed``) stored."""
    channels = ALL_CHANNELS if channel == "all" else (channel,)
    changed = set_consents(uow, contact_id, dict.fromkeys(channels, "denied"), TRACKING_SOURCE, now)
    props: dict[str, JSONValue] = {"channel": channel, "method": method}
    if message_id:
        props["message_id"] = message_id
    unsubscribe_event = _event(f"u_{event_key}_{channel}"[:64], "unsubscribe", now, props)
    events = [unsubscribe_event]
    if message_id:
        events.append(_event(lifecycle_id(message_id, "unsubscribed"), "message_unsubscribed", now,
                             _message_props(message, message_id, channel, {"method": method})))
    fresh = record_for_contact(uow, ctx, contact_id, events, now)
    if unsubscribe_event not in fresh:  # unsubscribed again after opting back in: suppress again
        apply_guard_events(uow, ctx.ids, [(unsubscribe_event, uow.contacts.resolve_id(contact_id) or contact_id)],
                           now)
    if message is not None and message.channel in channels:
        _suppress_exact(uow, message.channel, message.address, "unsubscribed", TRACKING_SOURCE, now)
    return changed or bool(fresh)


def unsubscribe(ctx: ServiceContext, token_payload: Mapping[str, Any], *, method: str,
                channel: str | None = None) -> Unsubscribed:
    """The contact asked to stop (RFC 8058 one-click, the confirmation page, a reply). ``channel`` defaults
    to the message's own channel; ``"all"`` withdraws every channel."""
    message_id, contact_id = _ids(token_payload)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        survivor = _live_contact(uow, contact_id)
        if survivor is None:
            raise BadTrackingPayload("the contact of this link no longer exists")
        message = uow.messages.get(message_id)
        chosen = channel or (message.channel if message is not None else "email")
        changed = _withdraw(uow, ctx, survivor, chosen, method, message, message_id, message_id, now)
        uow.commit()
    return Unsubscribed(survivor, chosen, changed)


def inbound_sms(ctx: ServiceContext, from_phone: str, text: str, received_at: datetime | None = None, *,
                opt_out: bool, provider_id: str | None = None) -> tuple[str | None, bool]:
    """A reply to our SMS. ``opt_out`` is the caller's reading of the text (``channels.sms.is_unsubscribe_reply``:
    the rule lives with the channel). Stores ``sms_replied``; an opt-out also unsubscribes SMS.
    Returns (contact id or None when the number is unknown, whether it unsubscribed)."""
    now = ctx.clock.now()
    at = received_at or now
    try:
        phone = make_identity("phone", from_phone)
    except FieldError as exc:
        raise BadTrackingPayload(f"from: {exc.reason}") from None
    key = provider_id or _digest(phone.value, text, at.isoformat(), size=24)
    with ctx.uow() as uow:
        contact_id = uow.contacts.lookup([phone]).get(phone)
        if contact_id is None:
            return None, False
        reply = EventInput(f"sms_in_{_digest(key, size=32)}", "sms_replied", (), at, "sms",
                           {"text": text[:1000], "phone": phone.value, "opt_out": opt_out})
        record_for_contact(uow, ctx, contact_id, [reply], now)
        if opt_out:
            _withdraw(uow, ctx, contact_id, "sms", "sms_reply", None, None, f"sms_{_digest(key, size=32)}", now)
            _suppress_exact(uow, "sms", phone.value, "unsubscribed", "sms", now)
        uow.commit()
    return contact_id, opt_out


def delivery_receipts(ctx: ServiceContext, receipts: Sequence[Receipt]) -> list[str | None]:
    """Providers' delivery reports, one transaction; per receipt the message id, or None when unknown."""
    now = ctx.clock.now()
    found: list[str | None] = []
    with ctx.uow() as uow:
        for receipt in receipts:
            message = uow.messages.by_provider_id(receipt.provider_id) if receipt.provider_id else None
            found.append(message.id if message is not None else None)
            if message is None:
                continue
            stage, extra = {"delivered": ("delivered", {}),
                            "bounced": ("bounced", {"hard": receipt.hard, "reason": receipt.error}),
                            }.get(receipt.status, ("undelivered", {"reason": receipt.error or "undelivered"}))
            event_type = {"delivered": "message_delivered", "bounced": "message_bounced"}.get(stage, "message_failed")
            event = _event(lifecycle_id(message.id, stage), event_type, now,
                           _message_props(message, message.id, extra=extra), source="touchflow")
            fresh = record_for_contact(uow, ctx, message.contact_id, [event], now)
            if fresh and receipt.status == "bounced" and receipt.hard:
                _suppress_exact(uow, message.channel, message.address, "hard_bounce", "touchflow", now)
                _fall_back_after_bounce(uow, ctx, message, receipt.error, now)
        uow.commit()
    return found


def delivery_receipt(ctx: ServiceContext, provider_id: str, status: ReceiptStatus, error: str | None = None,
                     *, hard: bool = False) -> str | None:
    return delivery_receipts(ctx, [Receipt(provider_id, status, error, hard)])[0]


def _fall_back_after_bounce(uow: UnitOfWork, ctx: ServiceContext, message: OutboxMessage, error: str | None,
                            now: datetime) -> None:
    """A hard bounce within the step's fallback window hands the message to its fallback chain (J8)."""
    outcome = after_hard_bounce(message, error, now, ctx.ids.new(now))
    if outcome is None or outcome.fallback is None:
        return
    survivor = uow.contacts.resolve_id(message.contact_id) or message.contact_id
    uow.messages.apply([outcome.update], now)
    uow.messages.enqueue([replace(outcome.fallback, contact_id=survivor)])
    emit_events(uow, [(_event(lifecycle_id(message.id, "failed_bounce"), outcome.event_type, now,
                              dict(outcome.event_properties), source="touchflow"), survivor)], now)


def _find_reported(uow: UnitOfWork, report: MailReport) -> tuple[OutboxMessage | None, str | None, str]:
    if report.message_id:
        message = uow.messages.get(report.message_id)
        if message is not None:
            return message, message.contact_id, "message_id"
    if report.provider_message_id:
        message = uow.messages.by_provider_id(report.provider_message_id)
        if message is not None:
            return message, message.contact_id, "provider_id"
    if report.recipient:
        try:
            identity = make_identity("email", report.recipient)
        except FieldError:
            return None, None, "recipient"
        return None, uow.contacts.lookup([identity]).get(identity), "recipient"
    return None, None, "recipient"


def email_report(ctx: ServiceContext, report: MailReport) -> ReportOutcome | None:
    """A returned bounce or complaint: ``message_bounced`` (a hard one suppresses the address that bounced)
    or ``message_complained`` (freezes the contact; a person takes it within 2 h). The message is found by
    our id (``X-Touchflow-Message``), then the provider's (``Message-ID``), then the recipient address.
    None when nothing identifies a contact."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        message, contact_id, found_by = _find_reported(uow, report)
        if contact_id is None:
            return None
        complaint = report.kind == "complaint"
        extra: dict[str, JSONValue] = {"status": report.status, "diagnostic": (report.diagnostic or "")[:500] or None,
                                       "recipient": report.recipient or None}
        if complaint:
            extra["reason"] = report.diagnostic or "complaint"
        else:
            extra["hard"] = report.hard
        if message is not None:
            stage = "complained" if complaint else "bounced"
            event = _event(lifecycle_id(message.id, stage), f"message_{stage}", now,
                           _message_props(message, message.id, extra=extra), source="touchflow")
        else:
            key = _digest(report.kind, report.recipient, report.provider_message_id or "", report.status or "",
                          size=24)
            event = _event(f"r_{key}", "complaint" if complaint else "message_bounced", now,
                           {"channel": "email", **{k: v for k, v in extra.items() if v is not None}},
                           source="touchflow")
        fresh = record_for_contact(uow, ctx, contact_id, [event], now)
        if fresh and not complaint and report.hard:
            address = report.recipient or (message.address if message is not None else None)
            _suppress_exact(uow, "email", address, "hard_bounce", "touchflow", now)
            if message is not None:
                _fall_back_after_bounce(uow, ctx, message, report.diagnostic or report.status, now)
        uow.commit()
    return ReportOutcome(contact_id, message.id if message else None, event.type, bool(fresh), found_by)


# --- the preference page ----------------------------------------------------------------------

PREFERENCE_CHANNELS = ("email", "sms", "wecom", "wechat_mp")


@dataclass(frozen=True)
class ChannelPreference:
    channel: str
    address: str  # masked: the page shows which address, not the whole of it
    status: str | None  # granted | denied | None (never said)


def _mask(address: str) -> str:
    name, at, domain = address.partition("@")
    if at:
        return f"{name[:1]}***{name[-1:] if len(name) > 2 else ''}@{domain}"
    return f"{address[:-8]}****{address[-4:]}" if len(address) > 8 else f"{address[:2]}***"


def _preferences(uow: UnitOfWork, contact_id: str) -> list[ChannelPreference]:
    state = uow.contacts.load([contact_id]).get(contact_id)
    if state is None:
        raise BadTrackingPayload("the contact of this link no longer exists")
    addresses = uow.guards.addresses([contact_id]).get(contact_id, {})
    found: list[ChannelPreference] = []
    for channel in PREFERENCE_CHANNELS:
        address = addresses.get(ADDRESS_KIND[channel])
        if not address:
            continue
        consent = state.consents.get(channel) or (state.consents.get("wechat") if channel == "wechat_mp" else None)
        found.append(ChannelPreference(channel, _mask(address), consent.status if consent else None))
    return found


def preferences(ctx: ServiceContext, contact_id: str) -> list[ChannelPreference]:
    """The channels the contact can be reached on, with what they said about each."""
    with ctx.reader() as uow:
        survivor = _live_contact(uow, contact_id)
        if survivor is None:
            raise BadTrackingPayload("the contact of this link no longer exists")
        return _preferences(uow, survivor)


def _hard_bounced(uow: UnitOfWork, contact_id: str, channel: str) -> bool:
    return any(e.type == "message_bounced" and e.properties.get("hard") is True
               and e.properties.get("channel", "email") == channel for e in uow.events.recent(contact_id, 200))


def save_preferences(ctx: ServiceContext, contact_id: str, choices: Mapping[str, str]) -> list[ChannelPreference]:
    """The contact's own choice per channel. Denied works as an unsubscribe; granted restores consent and
    lifts an unsubscribe suppression (never one left by a recent hard bounce: that address does not work)."""
    for channel, status in choices.items():
        if channel not in PREFERENCE_CHANNELS:
            raise FieldError(channel, f"unknown channel (known: {', '.join(PREFERENCE_CHANNELS)})")
        if status not in ("granted", "denied"):
            raise FieldError(channel, f"must be granted or denied, got {status!r}")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        survivor = _live_contact(uow, contact_id)
        if survivor is None:
            raise BadTrackingPayload("the contact of this link no longer exists")
        before = {p.channel: p.status for p in _preferences(uow, survivor)}
        addresses = uow.guards.addresses([survivor]).get(survivor, {})
        changes: dict[str, JSONValue] = {}
        for channel, status in choices.items():
            if before.get(channel, "absent") == status or channel not in before:
                continue
            changes[channel] = status
            if status == "denied":
                _withdraw(uow, ctx, survivor, channel, "preferences", None, None,
                          f"p_{_digest(survivor, channel, now.isoformat(), size=24)}", now)
                continue
            granted: dict[str, Literal["granted", "denied"]] = {channel: "granted"}
            if channel == "wechat_mp":
                granted["wechat"] = "granted"
            set_consents(uow, survivor, granted, TRACKING_SOURCE, now)
            address = addresses.get(ADDRESS_KIND[channel])
            if address and not _hard_bounced(uow, survivor, channel):
                uow.guards.unsuppress(channel, address)
        if changes:
            uow.audit.record(f"contact:{survivor}", "preferences.save", survivor, changes, now)
        found = _preferences(uow, survivor)
        uow.commit()
    return found
