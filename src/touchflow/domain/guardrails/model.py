"""Guardrails: may this message reach this contact now? Decisions only — no storage, no clock.

The dispatcher loads ``GuardFacts`` for the contacts of a claimed batch and asks ``decide`` once per
message, in order, passing what it has already allowed in the same batch (so 50 journeys reaching one
contact in one batch still meet a cap of 1). The same function answers at every attempt of a message:
guardrails are re-checked at dispatch, not only when the journey queued the message.

Checks, in order (the first that stops a message names itself in the outcome):
``complaint_freeze`` → ``no_address`` → ``invalid_address`` → ``suppressed`` → ``consent`` → ``quiet_hours`` (defer) →
``fatigue`` → ``frequency_cap`` (skip or defer, by policy). Transactional messages pass quiet hours,
fatigue and caps, never a freeze, a suppression or a denied consent.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from touchflow.domain.channel_names import alias_warning, canonical_channel
from touchflow.domain.errors import FieldError
from touchflow.domain.normalize import normalise_email, normalise_phone

__all__ = [
    "ADDRESS_KIND",
    "TOUCH_CHANNELS",
    "Allow",
    "Decision",
    "Defer",
    "EmailEngagement",
    "FatiguePolicy",
    "FrequencyCap",
    "GuardFacts",
    "GuardrailPolicy",
    "Purpose",
    "QuietHours",
    "Skip",
    "contact_zone",
    "decide",
    "fatigued_until",
    "local_day_start",
    "merge_policy_document",
    "policy_document",
    "policy_from_document",
]

# The identity kind that is a channel's address (the on-site inbox and webhooks have their own).
ADDRESS_KIND = {"email": "email", "sms": "phone", "wecom": "wecom", "wechat_mp": "openid", "wechat": "openid"}
# Channels that reach the contact and so count against caps; webhooks and tasks do not.
TOUCH_CHANNELS = frozenset({"email", "sms", "wecom", "wechat_mp", "wechat", "onsite", "capture"})
Purpose = Literal["marketing", "transactional"]


@dataclass(frozen=True)
class QuietHours:
    start: time = time(21, 0)
    end: time = time(8, 0)
    channels: frozenset[str] = frozenset({"sms", "wecom", "wechat"})

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True)
class FrequencyCap:
    per_day: int = 3  # every touch channel together, per calendar day in the contact's timezone
    per_channel: Mapping[str, int] = field(default_factory=dict)
    over_cap: Literal["skip", "defer"] = "skip"


@dataclass(frozen=True)
class FatiguePolicy:
    streak: int = 3  # emails in a row opened without a click
    pause: timedelta = timedelta(days=14)


@dataclass(frozen=True)
class GuardrailPolicy:
    cap: FrequencyCap = field(default_factory=FrequencyCap)
    quiet: QuietHours = field(default_factory=QuietHours)
    fatigue: FatiguePolicy = field(default_factory=FatiguePolicy)
    consent_required: frozenset[str] = frozenset()  # channels that need an explicit "granted"
    default_timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class EmailEngagement:
    """One email the contact received, and whether it was opened and clicked. Only marketing emails
    count towards fatigue: an order confirmation opened without a click says nothing about interest."""

    sent_at: datetime
    opened_at: datetime | None
    clicked: bool
    purpose: Purpose = "marketing"


@dataclass(frozen=True)
class GuardFacts:
    contact_id: str
    timezone: str | None = None
    addresses: Mapping[str, str] = field(default_factory=dict)  # channel -> address
    consents: Mapping[str, str] = field(default_factory=dict)  # channel -> "granted" | "denied"
    suppressed: frozenset[str] = frozenset()  # channels whose address is on the suppression list
    frozen: bool = False
    touches: Sequence[tuple[str, datetime]] = ()  # (channel, sent_at) of recent touches, any order
    emails: Sequence[EmailEngagement] = ()  # recent emails, any order (transactional ones are ignored)


@dataclass(frozen=True)
class Allow:
    address: str
    kind: Literal["allow"] = "allow"


@dataclass(frozen=True)
class Skip:
    guardrail: str
    detail: str
    kind: Literal["skip"] = "skip"


@dataclass(frozen=True)
class Defer:
    guardrail: str
    until: datetime
    detail: str
    kind: Literal["defer"] = "defer"


Decision = Allow | Skip | Defer


def contact_zone(name: str | None, default: str) -> ZoneInfo:
    """The zone a contact's days and quiet hours are counted in: theirs, else the workspace default."""
    return _zone(name, default)


def _zone(name: str | None, default: str) -> ZoneInfo:
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def local_day_start(now: datetime, zone: ZoneInfo) -> datetime:
    """Midnight of ``now``'s calendar day in ``zone``, as UTC."""
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), zone).astimezone(UTC)


def _next_local(now: datetime, zone: ZoneInfo, at: time) -> datetime:
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), at, zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, zone)
    return candidate.astimezone(UTC)


def fatigued_until(emails: Sequence[EmailEngagement], policy: FatiguePolicy) -> datetime | None:
    """When the fatigue pause ends, if the last ``streak`` marketing emails were all opened and none clicked."""
    marketing = [e for e in emails if e.purpose == "marketing"]
    if policy.streak <= 0 or len(marketing) < policy.streak:
        return None
    last = sorted(marketing, key=lambda e: e.sent_at)[-policy.streak:]
    if any(e.opened_at is None or e.clicked for e in last):
        return None
    return max(e.opened_at for e in last if e.opened_at is not None) + policy.pause


def decide(channel: str, purpose: Purpose, facts: GuardFacts, policy: GuardrailPolicy, now: datetime,
           allowed_in_batch: Sequence[tuple[str, datetime]] = ()) -> Decision:
    """The guardrail decision for one message to ``facts.contact_id`` on ``channel`` at ``now``."""
    if facts.frozen:
        return Skip("complaint_freeze", "the contact complained; automated touches are frozen until a person "
                                        "lifts the freeze")
    address = facts.addresses.get(channel)
    if not address:
        return Skip("no_address", f"the contact has no {channel} address")
    if not _valid_address(channel, address):
        return Skip("invalid_address", f"{channel} address {address!r} is not a valid address")
    if channel in facts.suppressed:
        return Skip("suppressed", f"{channel} address {address} is on the suppression list")
    consent = facts.consents.get(channel)
    if consent == "denied":
        return Skip("consent", f"the contact withdrew consent for {channel}")
    named = canonical_channel(channel)  # a row queued as wechat_mp keeps the policy of wechat
    if consent != "granted" and named in policy.consent_required and purpose == "marketing":
        return Skip("consent", f"{channel} needs explicit consent and the contact has not given it")
    if purpose == "transactional" or channel not in TOUCH_CHANNELS:
        return Allow(address)
    zone = _zone(facts.timezone, policy.default_timezone)
    if named in policy.quiet.channels and policy.quiet.contains(now.astimezone(zone).timetz().replace(tzinfo=None)):
        until = _next_local(now, zone, policy.quiet.end)
        return Defer("quiet_hours", until, f"quiet hours {policy.quiet.start:%H:%M}–{policy.quiet.end:%H:%M} "
                                           f"in {zone.key}; deferred to {until.astimezone(zone):%Y-%m-%d %H:%M}")
    if channel == "email":
        paused = fatigued_until(facts.emails, policy.fatigue)
        if paused is not None and now < paused:
            return Skip("fatigue", f"the last {policy.fatigue.streak} emails were opened without a click; "
                                   f"marketing email paused until {paused.astimezone(zone):%Y-%m-%d}")
    return _cap(channel, facts, policy, now, zone, allowed_in_batch, address)


def _valid_address(channel: str, address: str) -> bool:
    """Email and SMS addresses are checked again at send time: rows stored before validation, or a
    payload's ``to``, may hold something no provider can deliver to."""
    check = {"email": normalise_email, "sms": normalise_phone}.get(channel)
    if check is None:
        return True
    try:
        check(address)
    except FieldError:
        return False
    return True


def _cap(channel: str, facts: GuardFacts, policy: GuardrailPolicy, now: datetime, zone: ZoneInfo,
         allowed_in_batch: Sequence[tuple[str, datetime]], address: str) -> Decision:
    day_start = local_day_start(now, zone)
    today: list[str] = [c for c, at in (*facts.touches, *allowed_in_batch) if c in TOUCH_CHANNELS and at >= day_start]
    limit = policy.cap.per_channel.get(canonical_channel(channel))
    over: str | None = None
    if len(today) >= policy.cap.per_day:
        over = f"{len(today)} touches today, cap {policy.cap.per_day} per day"
    elif limit is not None and (same := sum(canonical_channel(c) == canonical_channel(channel)
                                            for c in today)) >= limit:
        over = f"{same} {channel} touches today, cap {limit} per day"
    if over is None:
        return Allow(address)
    local_day: date = now.astimezone(zone).date()
    if policy.cap.over_cap == "defer":
        until = datetime.combine(local_day + timedelta(days=1), time(0), zone).astimezone(UTC)
        return Defer("frequency_cap", until, f"{over}; deferred to the next day")
    return Skip("frequency_cap", over)


def policy_document(policy: GuardrailPolicy) -> dict[str, object]:
    return {
        "cap": {"per_day": policy.cap.per_day, "per_channel": dict(policy.cap.per_channel),
                "over_cap": policy.cap.over_cap},
        "quiet_hours": {"start": policy.quiet.start.strftime("%H:%M"), "end": policy.quiet.end.strftime("%H:%M"),
                        "channels": sorted(policy.quiet.channels)},
        "fatigue": {"streak": policy.fatigue.streak, "pause_days": policy.fatigue.pause / timedelta(days=1)},
        "consent_required": sorted(policy.consent_required),
        "default_timezone": policy.default_timezone,
    }


def _time(value: object, path: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"{path}: {value!r} is not a time of day like 21:00") from exc


def _int(value: object, path: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{path}: {value!r} must be a whole number ≥ {minimum}")
    return value


# The fields a policy document may have; a mapping value lists the fields of that part.
_FIELDS: Mapping[str, Mapping[str, None] | None] = {
    "cap": dict.fromkeys(("per_day", "per_channel", "over_cap")),
    "quiet_hours": dict.fromkeys(("start", "end", "channels")),
    "fatigue": dict.fromkeys(("streak", "pause_days")),
    "consent_required": None,
    "default_timezone": None,
}
_ALL_PATHS = [*_FIELDS, *(f"{part}.{name}" for part, names in _FIELDS.items() if names for name in names)]


def _suggest(key: str, siblings: Sequence[str], prefix: str) -> str:
    near = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6)
    if near:
        return f"{prefix}{near[0]}"
    anywhere = difflib.get_close_matches(key, [p.rsplit(".", 1)[-1] for p in _ALL_PATHS], n=1, cutoff=0.75)
    return next((p for p in _ALL_PATHS if anywhere and p.rsplit(".", 1)[-1] == anywhere[0]), "")


def _check_fields(doc: Mapping[str, object]) -> None:
    """Refuse a field the policy does not have (``per_dya``), naming it and the likely meant one."""
    for key, value in doc.items():
        if key not in _FIELDS:
            hint = _suggest(str(key), list(_FIELDS), "")
            raise FieldError(str(key), "unknown field" + (f"; did you mean {hint}? (是否应为 {hint}？)" if hint else
                                                          f" (known: {', '.join(_FIELDS)})"))
        names = _FIELDS[key]
        if names is not None and isinstance(value, Mapping):
            for inner in value:
                if inner not in names:
                    hint = _suggest(str(inner), list(names), f"{key}.")
                    raise FieldError(f"{key}.{inner}", "unknown field" + (
                        f"; did you mean {hint}? (是否应为 {hint}？)" if hint else f" (known: {', '.join(names)})"))


def _canonical_channels(doc: dict[str, Any], warnings: list[str]) -> None:
    """``wechat_mp`` → ``wechat`` in the places a policy names channels, with a warning each."""
    def rename(name: object, where: str) -> object:
        if isinstance(name, str) and (warning := alias_warning(name, where)):
            warnings.append(warning)
            return canonical_channel(name)
        return name

    cap = doc.get("cap")
    if isinstance(cap, dict) and isinstance(cap.get("per_channel"), Mapping):
        cap["per_channel"] = {rename(k, f"cap.per_channel.{k}"): v for k, v in cap["per_channel"].items()}
    quiet = doc.get("quiet_hours")
    if isinstance(quiet, dict) and isinstance(quiet.get("channels"), list | tuple):
        quiet["channels"] = [rename(c, f"quiet_hours.channels[{i}]") for i, c in enumerate(quiet["channels"])]
    if isinstance(doc.get("consent_required"), list | tuple):
        doc["consent_required"] = [rename(c, f"consent_required[{i}]") for i, c in enumerate(doc["consent_required"])]


def merge_policy_document(current: Mapping[str, object], change: Mapping[str, object], *,
                          replace: bool = False) -> tuple[dict[str, object], list[str]]:
    """The policy document after ``change``, and warnings. A change names only what it changes: other fields
    keep their ``current`` value (``replace``: the defaults). In ``cap.per_channel`` a channel set to null
    loses its limit. Unknown fields are refused (``FieldError``) before anything is merged."""
    _check_fields(change)
    base: dict[str, Any] = policy_document(GuardrailPolicy() if replace else policy_from_document(current))
    warnings: list[str] = []
    for key, value in change.items():
        if value is None:  # an empty part (``cap:`` with its lines commented out) changes nothing
            continue
        if _FIELDS[key] is not None and isinstance(value, Mapping):
            part = dict(base[key])
            for inner, inner_value in value.items():
                if inner == "per_channel" and isinstance(inner_value, Mapping):
                    limits = dict(part.get("per_channel") or {})
                    for channel, limit in inner_value.items():
                        if limit is None:
                            limits.pop(canonical_channel(str(channel)), None)
                        else:
                            limits[channel] = limit
                    inner_value = limits
                part[inner] = inner_value
            base[key] = part
        else:
            base[key] = value
    _canonical_channels(base, warnings)
    policy_from_document(base)  # raises naming the field
    return base, warnings


def policy_from_document(doc: Mapping[str, object]) -> GuardrailPolicy:
    """Parse a whole policy document; errors name the field. Missing parts are the defaults."""
    _check_fields(doc)
    base = GuardrailPolicy()
    cap_doc = doc.get("cap") or {}
    quiet_doc = doc.get("quiet_hours") or {}
    fatigue_doc = doc.get("fatigue") or {}
    if not isinstance(cap_doc, Mapping) or not isinstance(quiet_doc, Mapping) or not isinstance(fatigue_doc, Mapping):
        raise ValueError("cap, quiet_hours and fatigue must be mappings")
    per_channel = cap_doc.get("per_channel") or {}
    if not isinstance(per_channel, Mapping):
        raise ValueError("cap.per_channel must map a channel to a number")
    over_cap = cap_doc.get("over_cap", base.cap.over_cap)
    if over_cap not in ("skip", "defer"):
        raise ValueError(f"cap.over_cap: {over_cap!r} must be skip or defer")
    cap = FrequencyCap(_int(cap_doc.get("per_day", base.cap.per_day), "cap.per_day"),
                       {canonical_channel(str(k)): _int(v, f"cap.per_channel.{k}") for k, v in per_channel.items()},
                       over_cap)
    channels = quiet_doc.get("channels", sorted(base.quiet.channels))
    if not isinstance(channels, list | tuple):
        raise ValueError("quiet_hours.channels must be a list")
    quiet = QuietHours(_time(quiet_doc.get("start", "21:00"), "quiet_hours.start"),
                       _time(quiet_doc.get("end", "08:00"), "quiet_hours.end"),
                       frozenset(canonical_channel(str(c)) for c in channels))
    pause_days = fatigue_doc.get("pause_days", 14)
    if isinstance(pause_days, bool) or not isinstance(pause_days, int | float) or pause_days < 0:
        raise ValueError(f"fatigue.pause_days: {pause_days!r} must be a number of days ≥ 0")
    fatigue = FatiguePolicy(_int(fatigue_doc.get("streak", 3), "fatigue.streak"), timedelta(days=float(pause_days)))
    required = doc.get("consent_required", [])
    if not isinstance(required, list | tuple):
        raise ValueError("consent_required must be a list of channels")
    zone = str(doc.get("default_timezone", base.default_timezone))
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"default_timezone: {zone!r} is not a known time zone") from exc
    return GuardrailPolicy(cap, quiet, fatigue, frozenset(canonical_channel(str(c)) for c in required), zone)
