"""Wire shapes of the HTTP API: request models, response documentation, and domain-to-JSON renderers.

The events endpoint parses its body with orjson (speed); ``EventBatchIn`` documents that shape in
OpenAPI only. Contact bodies are validated per item with ``ContactIn`` so one bad item in a list
does not sink the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from touchflow.domain.contacts import ContactState
from touchflow.domain.limits import INT64_MAX, INT64_MIN

__all__ = [
    "BASE64",
    "INT32_MAX",
    "INT64",
    "MAX_BATCH",
    "MEDIA_TYPE",
    "VISIBLE",
    "ContactBatchOut",
    "ContactIn",
    "ContactOut",
    "ContactSummary",
    "ContactUpsertOut",
    "ErrorOut",
    "EventBatchIn",
    "EventBatchOut",
    "Int64",
    "Offset",
    "PatchIn",
    "SearchOut",
    "Version",
    "contact_payload",
    "readable_reason",
    "summary_json",
]

MAX_BATCH = 1000
Scalar = str | int | float | bool

# Column widths of the standard attributes; longer input is refused here rather than by the database.
FIELD_LIMITS: dict[str, int] = {
    "name": 200, "gender": 16, "city": 100, "province": 100, "industry": 100, "company": 300,
    "job_title": 200, "timezone": 64, "locale": 32, "lifecycle_stage": 32,
}
TAG_LIMIT = 100
INT64 = range(INT64_MIN, INT64_MAX + 1)  # what JSON parsers and the database agree on
INT32_MAX = 2**31 - 1  # PostgreSQL's integer column: versions and row counts are stored as one

# Every integer the API reads has one of these types (or its own tighter ge/le), so a number beyond
# what the database stores is a 422 naming the field, never an OverflowError from the driver.
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
Version = Annotated[int, Field(ge=1, le=INT32_MAX, description="a version number (1, 2, …)")]
Offset = Annotated[int, Field(ge=0, le=INT32_MAX, description="how many items to skip")]


_NUL = "text must not contain NUL (\\u0000) characters"


def _storable(value: Scalar | None) -> Scalar | None:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(_NUL)
    if isinstance(value, int) and value not in INT64:
        raise ValueError("integer out of the 64-bit range")
    return value


AttributeValue = Annotated[Scalar | None, AfterValidator(_storable), WithJsonSchema({"anyOf": [
    {"type": "string", "pattern": "^[^\\x00]*$"}, {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX},
    {"type": "number"}, {"type": "boolean"}, {"type": "null"}]})]  # what _storable checks, said in the document
VISIBLE = r"^[^\x00]*[^\s\x00][^\x00]*$"  # not blank, no NUL
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"
MEDIA_TYPE = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(?: *;[ -~]*)?$"
_PATTERN_REASONS = {VISIBLE: "must hold a visible character and no NUL (\\u0000)", BASE64: "not valid base64",
                    MEDIA_TYPE: "not a media type such as image/png or text/plain; charset=utf-8"}


def readable_reason(error: Mapping[str, Any]) -> str:
    """A pydantic error's message as a person reads it (a pattern says what it means, not its regex)."""
    if error.get("type") == "string_pattern_mismatch":
        known = _PATTERN_REASONS.get(str((error.get("ctx") or {}).get("pattern")))
        if known is not None:
            return known
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")
Tag = Annotated[str, StringConstraints(max_length=TAG_LIMIT, pattern=VISIBLE)]
AttributeName = Annotated[str, StringConstraints(max_length=64, pattern=VISIBLE)]


def names_by_pattern(schema: dict[str, Any]) -> None:
    """pydantic documents a pattern on dict keys as ``patternProperties``, which lets any other name through;
    say it as ``propertyNames`` so the document refuses what the server refuses."""
    patterns = schema.pop("patternProperties", None)
    if patterns:
        [(pattern, values)] = patterns.items()
        schema["propertyNames"] = {**schema.get("propertyNames", {}), "pattern": pattern}
        schema["additionalProperties"] = values


class Problem(BaseModel):
    field: str | None = Field(description="the offending field (dotted path), if one")
    in_: Literal["path", "query", "header", "cookie", "body"] | None = Field(
        None, alias="in", description="where the field is, when the request's shape is at fault")
    reason: str


class ErrorOut(BaseModel):
    """Every 4xx answer: a readable sentence and, where it applies, the fields at fault."""

    detail: str
    errors: list[Problem] = []


# --- events ---------------------------------------------------------------------------------------------

class ContactRef(BaseModel):
    model_config = ConfigDict(extra="allow")
    email: str | None = None
    phone: str | None = None
    crm_id: str | None = None
    anonymous_id: str | None = Field(None, description="also accepted as `anon`")
    openid: str | None = None
    unionid: str | None = None
    wecom: str | None = None


class EventIn(ContactRef):
    """One event. Identities sit at the top level or under ``contact``; at least one is required."""

    id: str | None = Field(None, max_length=64, description="client id; re-sending it is acknowledged, "
                                                            "not stored twice (derived from content if absent)")
    type: str = Field(description="snake_case event type, e.g. page_view, form_submit, order_paid")
    occurred_at: str | None = Field(None, description="ISO-8601; default: when received")
    properties: dict[str, Any] = Field(default_factory=dict)
    contact: ContactRef | None = None


class EventBatchIn(BaseModel):
    """``{"events": [...]}``, or the bare JSON list of events; at most 1,000 per request."""

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class ItemRejection(BaseModel):
    index: int
    field: str | None
    reason: str


class EventResult(BaseModel):
    index: int
    status: Literal["stored", "duplicate", "rejected"]
    id: str | None


class EventBatchOut(BaseModel):
    accepted: int = Field(description="events stored by this request")
    duplicates: int = Field(description="events whose id was already stored (acknowledged, not stored again)")
    contacts_created: int
    merged: int
    rejected: list[ItemRejection]
    results: list[EventResult]


# --- contacts -------------------------------------------------------------------------------------------

Identifier = Annotated[str, StringConstraints(max_length=255)]


def _text_or_number(value: object) -> str | int:
    """An identifier or number given as text or a whole number; one readable reason when it is neither.

    (A plain ``str | int`` union would read "000…" too long for text as the number 0, take ``true`` as 1,
    and name its members in the error: ``crm_id.constrained-str``.)
    """
    if isinstance(value, float) and value.is_integer():
        if abs(value) >= 2**53:  # past 2**53 a JSON number has lost digits (orjson reads >64 bits as floats)
            raise ValueError("integer out of the 64-bit range, or too large to be exact: send it as text")
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in INT64:
            raise ValueError("integer out of the 64-bit range")
        return value
    if isinstance(value, str):
        if len(value) > 255:
            raise ValueError("longer than 255 characters")
        return value
    raise ValueError("must be text or a whole number")


TextOrNumber = Annotated[str | int, PlainValidator(_text_or_number), WithJsonSchema({"anyOf": [
    {"type": "string", "maxLength": 255}, {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}]})]


class ContactIn(BaseModel):
    """One contact, matched and merged by any of its identities."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    email: Identifier | None = None
    phone: TextOrNumber | None = None
    crm_id: TextOrNumber | None = None
    anon: Identifier | None = Field(None, description="anonymous website visitor id")
    anonymous_id: Identifier | None = Field(None, description="same as anon")
    openid: Identifier | None = None
    unionid: Identifier | None = None
    wecom: Identifier | None = None
    identities: dict[str, Identifier] = Field(default_factory=dict,
                                              description="more identities by kind, including custom x_* kinds")
    name: str | None = None
    gender: str | None = None
    age: TextOrNumber | None = None
    city: str | None = None
    province: str | None = None
    industry: str | None = None
    company: str | None = None
    job_title: str | None = None
    timezone: str | None = None
    locale: str | None = None
    lifecycle_stage: str | None = None
    tags: list[str] | str | None = Field(None, description="a list, or one comma-separated string")
    attributes: dict[AttributeName, AttributeValue] = Field(
        default_factory=dict, max_length=200, description="custom attributes, stored as custom.<name>",
        json_schema_extra=names_by_pattern)
    consent: dict[str, Literal["granted", "denied"] | bool] = Field(
        default_factory=dict, description="channel (email, sms, wecom, wechat …) → granted/denied")
    observed_at: str | None = Field(None, description="when the source observed these values; default now")

    @field_validator(*FIELD_LIMITS)
    @classmethod
    def _fits_column(cls, value: str | None, info: Any) -> str | None:
        limit = FIELD_LIMITS[info.field_name]
        if value is not None and len(value) > limit:
            raise ValueError(f"longer than {limit} characters")
        return value

    @field_validator("tags")
    @classmethod
    def _tags_fit(cls, value: list[str] | str | None) -> list[str] | str | None:
        for tag in [value] if isinstance(value, str) else value or []:
            if any(len(t.strip()) > TAG_LIMIT for t in tag.split(",")):
                raise ValueError(f"a tag is longer than {TAG_LIMIT} characters")
        return value

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, value: dict[str, Scalar | None]) -> dict[str, Scalar | None]:
        for name in value:
            if not 0 < len(name.strip()) <= 64 or "\x00" in name:
                raise ValueError(f"attribute names are 1-64 characters, got {name!r}")
        return value


def contact_payload(contact: ContactIn) -> dict[str, object]:
    """The canonical keys ``upsert_contacts`` reads."""
    payload: dict[str, object] = {}
    for key in ("email", "phone", "crm_id", "anon", "anonymous_id", "openid", "unionid", "wecom",
                *FIELD_LIMITS, "age", "observed_at"):
        value = getattr(contact, key)
        if value is not None:
            payload[key] = str(value) if key in ("phone", "crm_id") else value
    for kind, value in contact.identities.items():
        payload[kind.strip().lower()] = value
    if contact.tags is not None:
        payload["tags"] = contact.tags if isinstance(contact.tags, str) else ",".join(contact.tags)
    for name, value in contact.attributes.items():
        name = name.strip()
        if value is not None:
            payload[name if name.startswith("custom.") else f"custom.{name}"] = value
    for channel, status in contact.consent.items():
        payload[f"consent.{channel.strip().lower()}"] = (
            ("granted" if status else "denied") if isinstance(status, bool) else status)
    return payload


class ContactUpsertOut(BaseModel):
    id: str
    created: int
    updated: int
    merged: int
    warnings: list[Problem] = Field(description="fields that were not usable and were skipped")


class ContactResult(BaseModel):
    index: int
    id: str | None
    warnings: list[Problem]


class ContactBatchOut(BaseModel):
    created: int
    updated: int
    merged: int
    rejected: list[ItemRejection]
    results: list[ContactResult]




class PatchIn(BaseModel):
    """An edit by hand (D5): its values outrank every source, and it is audited."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    attributes: dict[AttributeName, AttributeValue] = Field(
        default_factory=dict, max_length=200, description="standard or custom attributes; null clears one",
        json_schema_extra=names_by_pattern)
    add_tags: list[Tag] = Field(default_factory=list, max_length=100)
    remove_tags: list[Tag] = Field(default_factory=list, max_length=100)
    reason: str = Field("", max_length=1000)

    @field_validator("add_tags", "remove_tags")
    @classmethod
    def _tags_fit(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not 0 < len(tag.strip()) <= TAG_LIMIT:
                raise ValueError(f"tags are 1-{TAG_LIMIT} characters, got {tag!r}")
            if "\x00" in tag:
                raise ValueError(_NUL)
        return value

    @field_validator("reason")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError(_NUL)
        return value

    def problems(self) -> list[tuple[str, str]]:
        """(field, reason) for values too long for their column or names unusable as attributes."""
        found: list[tuple[str, str]] = []
        for name, item in self.attributes.items():
            limit = FIELD_LIMITS.get(name.strip())
            if "\x00" in name:
                found.append((f"attributes.{name}", "attribute names must not contain NUL characters"))
            elif limit is not None and isinstance(item, str) and len(item) > limit:
                found.append((f"attributes.{name}", f"longer than {limit} characters"))
        return found


class IdentityOut(BaseModel):
    kind: str
    value: str
    source: str
    since: str


class Stamped(BaseModel):
    source: str
    at: str


class TagOut(BaseModel):
    tag: str
    set_by: str = Field(description="the source, 'manual', or 'rule:<name>'")


class ConsentOut(Stamped):
    status: Literal["granted", "denied"]


class EventOut(BaseModel):
    id: str
    type: str
    occurred_at: str
    received_at: str
    source: str
    properties: dict[str, Any]


class MergeOut(BaseModel):
    merged: str
    into: str
    linked_by: str
    source: str
    at: str
    conflicts: list[dict[str, Any]]
    undone_at: str | None = None  # unmerged by a person: then this contact is its own again
    undone_by: str | None = None


class ContactOut(BaseModel):
    id: str
    created_at: str
    identities: list[IdentityOut]
    attributes: dict[str, Scalar]
    custom: dict[str, Scalar]
    lineage: dict[str, Stamped]
    tags: list[TagOut]
    consent: dict[str, ConsentOut]
    lifecycle_stage: str | None
    event_count: int
    recent_events: list[EventOut]
    merges: list[MergeOut]


class ContactSummary(BaseModel):
    id: str
    name: str | None
    company: str | None
    city: str | None
    lifecycle_stage: str | None
    tags: list[str]


class SearchOut(BaseModel):
    items: list[ContactSummary]
    limit: int
    offset: Offset


def summary_json(state: ContactState) -> dict[str, Any]:
    return {"id": state.id, **{f: state.values.get(f) for f in ("name", "company", "city", "lifecycle_stage")},
            "tags": sorted(state.tags)}
