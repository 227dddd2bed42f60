"""Turning one raw record (a file row or an API body) into validated domain input.

Bad fields become warnings that name the field; a record without a usable identifier is
rejected with the reason. Nothing here touches storage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Literal

from touchflow.domain.contacts import STANDARD_FIELDS, Consent, ContactRecord, Scalar, is_empty
from touchflow.domain.errors import FieldError, RecordRejected
from touchflow.domain.events import EventInput, JSONValue, derive_event_id, validate_event_type, validate_properties
from touchflow.domain.identities import IDENTITY_KINDS, Identity, make_identity
from touchflow.domain.limits import fits_int64
from touchflow.domain.normalize import (
    STANDARD_INDUSTRIES,
    clean_text,
    normalise_age,
    normalise_datetime,
    normalise_gender,
    normalise_industry,
    normalise_name,
    normalise_timezone,
)

__all__ = ["IDENTITY_FIELDS", "contact_record_from", "event_input_from", "standard_value"]

# Canonical field name -> identity kind.
IDENTITY_FIELDS: dict[str, str] = {kind: kind for kind in IDENTITY_KINDS} | {
    "crm_id": "crm", "anonymous_id": "anon", "wechat_openid": "openid", "wechat_unionid": "unionid",
    "wecom_external_userid": "wecom", "mobile": "phone",
}
_MULTI = re.compile(r"[;,，；、|/]\s*")
_TAG_SPLIT = re.compile(r"[;,，；、|]\s*")
_STAGES = {"new_visitor", "prospect", "intent", "customer", "dormant"}
_STAGE_ALIASES = {"新访客": "new_visitor", "潜在客户": "prospect", "意向客户": "intent",
                  "成交客户": "customer", "沉睡客户": "dormant"}
_OBSERVED_KEYS = ("updated_at", "observed_at")


def _add_identities(found: list[Identity], key: str, kind: str, value: object,
                    warnings: list[FieldError]) -> None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        warnings.append(FieldError(key, f"an identifier must be text, got {type(value).__name__}"))
        return
    text = str(value)
    parts = _MULTI.split(text) if kind in ("email", "phone") and _MULTI.search(text) else (text,)
    for part in parts:
        if not part.strip():
            continue
        try:
            identity = make_identity(kind, part)
        except FieldError as exc:
            warnings.append(FieldError(key, exc.reason))
            continue
        if identity not in found:
            found.append(identity)


def _identities(raw: Mapping[str, object], warnings: list[FieldError]) -> list[Identity]:
    found: list[Identity] = []
    for key, value in raw.items():
        if _blank(value):
            continue
        kind = IDENTITY_FIELDS.get(key)
        if kind is not None or key.startswith("x_"):
            _add_identities(found, key, kind or key, value, warnings)
    return found


def standard_value(name: str, raw: object) -> Scalar:
    """One standard attribute, normalised and checked against its column's width."""
    if type(raw) is str and name in _REPEATING:  # a file repeats a few cities, industries, titles: normalise each once
        return _repeating_value(name, raw)
    return _standard_value(name, raw)


# Fields whose values repeat across rows; names, companies and ages are mostly distinct and skip the memo.
_REPEATING = frozenset({"gender", "city", "province", "industry", "job_title", "timezone", "locale",
                        "lifecycle_stage"})


@lru_cache(maxsize=8192)
def _repeating_value(name: str, raw: str) -> Scalar:
    """Pure, and values are immutable: a memo changes nothing but the time (a rejected value is not kept)."""
    return _standard_value(name, raw)


def _standard_value(name: str, raw: object) -> Scalar:
    if name == "age":
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise FieldError(name, f"must be a number, got {type(raw).__name__}")
        return normalise_age(raw)
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise FieldError(name, f"must be text, got {type(raw).__name__}")
    text = clean_text(str(raw))
    value: str
    if name == "gender":
        value = normalise_gender(text)
    elif name in ("name", "company"):
        value = normalise_name(text)
    elif name == "industry":
        value, standard = normalise_industry(text)
        if not standard:  # one data standard (D1): an unknown industry is reported, not stored as if it were one
            raise FieldError(name, f"not a standard industry: {text!r} (one of {', '.join(STANDARD_INDUSTRIES)})")
    elif name == "timezone":
        value = normalise_timezone(text)
    elif name == "lifecycle_stage":
        value = _STAGE_ALIASES.get(text, text.lower())
        if value not in _STAGES:
            raise FieldError(name, f"unknown stage {text!r} (one of {', '.join(sorted(_STAGES))})")
    else:
        value = text
    limit = _WIDTHS.get(name, 300)
    if len(value) > limit:
        raise FieldError(name, f"longer than {limit} characters")
    return value


_STANDARD = frozenset(STANDARD_FIELDS)
_WIDTHS = {"name": 200, "gender": 16, "city": 100, "province": 100, "industry": 100, "company": 300,
           "job_title": 200, "timezone": 64, "locale": 32, "lifecycle_stage": 32}


def _blank(value: object) -> bool:
    return value is None or (type(value) is str and (not value or value.isspace()))


def contact_record_from(raw: Mapping[str, object], source: str, priority: int, now: datetime,
                        file_row: tuple[str, int] | None = None) -> ContactRecord:
    """A contact observation from canonical keys; raises ``RecordRejected`` with no usable identifier.

    ``file_row`` (a file's digest and the row number) marks a file row: when it gives no time of its own,
    its values are stamped with their place in the file, so the file's order decides (ADR 0013).

    One pass over the keys that are present: this runs for every row of every import.
    """
    warnings: list[FieldError] = []
    identities: list[Identity] = []
    values: dict[str, Scalar] = {}
    tags: frozenset[str] = frozenset()
    observed_raw: object = None
    consent_raw: list[tuple[str, object]] = []
    for key, value in raw.items():
        if _blank(value):
            continue
        kind = IDENTITY_FIELDS.get(key)
        if kind is not None or key.startswith("x_"):
            _add_identities(identities, key, kind or key, value, warnings)
        elif key in _STANDARD:
            try:
                values[key] = standard_value(key, value)
            except FieldError as exc:
                warnings.append(exc)
        elif key.startswith("custom."):
            if isinstance(value, int) and not isinstance(value, bool) and not fits_int64(value):
                warnings.append(FieldError(key, "integer out of the 64-bit range"))
            elif isinstance(value, str | int | float | bool):
                values[key] = clean_text(value) if isinstance(value, str) else value
            else:
                warnings.append(FieldError(key, "custom attributes hold text, numbers or booleans"))
        elif key == "tags":
            found_tags = {t for t in (clean_text(x) for x in _TAG_SPLIT.split(str(value))) if t}
            too_long = {t for t in found_tags if len(t) > 100}
            if too_long:
                warnings.append(FieldError("tags", "a tag is longer than 100 characters"))
            tags = frozenset(found_tags - too_long)
        elif key in _OBSERVED_KEYS:
            observed_raw = observed_raw or value
        elif key.startswith("consent."):
            consent_raw.append((key, value))
    if not identities:
        detail = "; ".join(str(w) for w in warnings)
        raise RecordRejected("no usable identifier (email, phone, crm_id, openid, unionid, wecom, anon)"
                             + (f": {detail}" if detail else ""))
    observed = now
    place = file_row
    if observed_raw is not None:
        try:
            observed = normalise_datetime(observed_raw)  # type: ignore[arg-type]
            place = None  # its own time orders it, the same on every import
        except FieldError as exc:
            warnings.append(FieldError("updated_at", exc.reason))
    consents: list[Consent] = []
    for key, value in consent_raw:
        status = _consent_status(str(value))
        if status is None:
            warnings.append(FieldError(key, f"consent must be granted/denied (是/否), got {value!r}"))
        else:
            consents.append(Consent(key[len("consent."):], status, source, observed))
    return ContactRecord(tuple(identities), source, priority, observed, values, tags, tuple(consents),
                         tuple(warnings), *(place or ()))


def _consent_status(value: str) -> Literal["granted", "denied"] | None:
    text = clean_text(value).lower()
    if text in ("granted", "yes", "y", "true", "1", "是", "同意", "opt-in", "opt_in"):
        return "granted"
    if text in ("denied", "no", "n", "false", "0", "否", "拒绝", "opt-out", "opt_out"):
        return "denied"
    return None


_EVENT_META = {"id", "event_id", "type", "event", "event_type", "occurred_at", "timestamp", "time",
               "properties", "contact", "source"}


def event_input_from(raw: Mapping[str, object], source: str, now: datetime) -> EventInput:
    """An event from an API item or a file row; identities may sit at the top or under ``contact``."""
    type_raw = raw.get("type") or raw.get("event") or raw.get("event_type")
    if is_empty(type_raw):
        raise FieldError("type", "required")
    event_type = validate_event_type(str(type_raw))
    contact = raw.get("contact")
    id_source: Mapping[str, object] = contact if isinstance(contact, Mapping) else raw
    warnings: list[FieldError] = []
    identities = _identities(id_source, warnings)
    if not identities:
        detail = "; ".join(str(w) for w in warnings)
        raise FieldError("contact", "no usable identifier (email, phone, crm_id, anon, openid …)"
                         + (f": {detail}" if detail else ""))
    when_raw = raw.get("occurred_at") or raw.get("timestamp") or raw.get("time")
    try:
        occurred = now if is_empty(when_raw) else normalise_datetime(when_raw)  # type: ignore[arg-type]
    except FieldError as exc:
        raise FieldError("occurred_at", exc.reason) from None
    properties: dict[str, JSONValue]
    props = raw.get("properties")
    if props is None:
        properties = {k: v for k, v in raw.items()  # type: ignore[misc]
                      if k not in _EVENT_META and k not in IDENTITY_FIELDS and not is_empty(v)}
    elif isinstance(props, dict):
        properties = dict(props)
    else:
        raise FieldError("properties", "must be an object")
    properties = validate_properties(event_type, properties)
    supplied = raw.get("id") or raw.get("event_id")
    if not is_empty(supplied):
        event_id = str(supplied).strip()
        if len(event_id) > 64:
            raise FieldError("id", "longer than 64 characters")
    else:
        event_id = derive_event_id(source, {"type": event_type, "at": occurred.isoformat(),
                                            "who": sorted(str(i) for i in identities), "p": properties})
    return EventInput(event_id, event_type, tuple(identities), occurred, source, properties)
