"""Events: append-only facts about a contact, and the catalogue of standard event types.

Journeys, segments and scores later read these types; the catalogue documents the properties
each carries, and validation rejects a standard event that lacks a required one.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from touchflow.domain.contacts import Scalar
from touchflow.domain.errors import FieldError
from touchflow.domain.identities import Identity
from touchflow.domain.limits import json_problem

__all__ = [
    "EVENT_CATALOGUE",
    "EventInput",
    "EventType",
    "PropertySpec",
    "derive_event_id",
    "validate_event_type",
    "validate_properties",
]

JSONValue = Scalar | None | list["JSONValue"] | dict[str, "JSONValue"]


@dataclass(frozen=True)
class PropertySpec:
    name: str
    kind: str  # "string" | "number" | "integer" | "boolean"
    required: bool
    doc: str


@dataclass(frozen=True)
class EventType:
    name: str
    doc: str
    properties: tuple[PropertySpec, ...] = ()
    interaction: bool = True  # counts as "interaction" for inactivity triggers and dormancy


def _p(name: str, kind: str, doc: str, required: bool = False) -> PropertySpec:
    return PropertySpec(name, kind, required, doc)


_MESSAGE_PROPS = (
    _p("message_id", "string", "outbox message id", required=True),
    _p("channel", "string", "email, sms, wecom, wechat, webhook, onsite, task", required=True),
    _p("journey_id", "string", "journey that sent it"),
    _p("node_id", "string", "journey node that sent it"),
    _p("template", "string", "template key"),
)

_STANDARD: tuple[EventType, ...] = (
    EventType("page_view", "a website page was viewed", (
        _p("url", "string", "page URL", required=True), _p("title", "string", "page title"),
        _p("referrer", "string", "referrer URL"), _p("product_id", "string", "product on the page, if any"))),
    EventType("content_download", "a whitepaper, case study or other asset was downloaded", (
        _p("content_id", "string", "asset id", required=True), _p("title", "string", "asset title"),
        _p("content_type", "string", "whitepaper, case_study, datasheet …"))),
    EventType("form_submit", "a web form was submitted", (
        _p("form_id", "string", "form id", required=True), _p("page", "string", "page URL"))),
    EventType("signup", "the contact registered an account", (_p("method", "string", "email, phone, wechat"),)),
    EventType("consult", "the contact asked sales or service a question (咨询)", (
        _p("channel", "string", "phone, chat, wecom, form"), _p("topic", "string", "subject"),
        _p("converted", "boolean", "whether the consultation led to an order"))),
    EventType("quote_sent", "a sales quote was sent", (
        _p("quote_id", "string", "quote id", required=True), _p("amount", "number", "quoted amount (CNY)"))),
    EventType("quote_opened", "the contact opened a quote (tracked signal)", (
        _p("quote_id", "string", "quote id", required=True),)),
    EventType("order_paid", "an order was paid (transaction, synced in real time)", (
        _p("order_id", "string", "order id", required=True),
        _p("amount", "number", "amount paid (CNY)", required=True),
        _p("currency", "string", "ISO 4217, default CNY"), _p("items", "integer", "number of items"),
        _p("product_ids", "string", "comma-separated product ids"))),
    EventType("cart_abandoned", "a shopping cart was left without checkout", (
        _p("cart_id", "string", "cart id", required=True), _p("amount", "number", "cart value"))),
    EventType("coupon_claimed", "a coupon was claimed", (_p("coupon_id", "string", "coupon", required=True),)),
    EventType("coupon_redeemed", "a coupon was used in an order", (
        _p("coupon_id", "string", "coupon", required=True), _p("order_id", "string", "order"))),
    EventType("survey_response", "a satisfaction survey (NPS) was answered", (
        _p("survey_id", "string", "survey", required=True), _p("score", "integer", "0-10 NPS score"),
        _p("comment", "string", "free text"))),
    EventType("complaint", "the contact complained (投诉); freezes automated touches", (
        _p("reason", "string", "harassment, quality, billing …"), _p("channel", "string", "where it came in"))),
    EventType("unsubscribe", "the contact unsubscribed from a channel", (
        _p("channel", "string", "email, sms, wecom, wechat, all", required=True),)),
    EventType("offline_event_attended", "the contact attended an offline event (展会, 沙龙)", (
        _p("event_name", "string", "event", required=True), _p("city", "string", "city"))),
    EventType("enrolment_requested", "a person or system asked to enrol the contact in a journey", (
        _p("journey", "string", "journey key", required=True), _p("by", "string", "who asked")),
        interaction=False),
    EventType("message_queued", "a message was queued", _MESSAGE_PROPS, interaction=False),
    EventType("message_sent", "a message was handed to the provider", _MESSAGE_PROPS, interaction=False),
    EventType("message_delivered", "the provider confirmed delivery", _MESSAGE_PROPS, interaction=False),
    EventType("message_failed", "sending failed", (*_MESSAGE_PROPS, _p("reason", "string", "why")),
              interaction=False),
    EventType("message_bounced", "the address bounced", (*_MESSAGE_PROPS, _p("hard", "boolean", "hard bounce")),
              interaction=False),
    EventType("message_opened", "the message was opened", _MESSAGE_PROPS),
    EventType("message_clicked", "a link in the message was clicked", (*_MESSAGE_PROPS, _p("url", "string", "link"))),
    EventType("message_unsubscribed", "unsubscribed from the message", _MESSAGE_PROPS),
    EventType("message_complained", "marked as spam / complained about the message", _MESSAGE_PROPS),
    EventType("message_skipped", "a guardrail stopped the message",
              (*_MESSAGE_PROPS, _p("guardrail", "string", "which guardrail", required=True)), interaction=False),
    EventType("message_dismissed", "the contact closed a website pop-up without acting on it", _MESSAGE_PROPS),
    EventType("sms_replied", "the contact replied to an SMS (上行)", (
        _p("text", "string", "the reply"), _p("phone", "string", "from"),
        _p("opt_out", "boolean", "the reply asked to unsubscribe (TD, 退订)"))),
    EventType("visitor_identified", "an anonymous website visitor said who they are", (),
              interaction=False),
    EventType("identify_claimed", "a website visitor claimed an identity without the site's signed token "
              "(recorded on the anonymous visitor; never links or merges)",
              (_p("claimed", "string", "the identifier claimed, e.g. email:…"), _p("site", "string", "which site")),
              interaction=False),
    EventType("message_deferred", "a guardrail (quiet hours, frequency cap) moved the message later",
              (*_MESSAGE_PROPS, _p("guardrail", "string", "which guardrail", required=True),
               _p("until", "string", "when it will be tried again")), interaction=False),
    EventType("contact_frozen", "a complaint froze every automated touch to the contact",
              (_p("reason", "string", "why"),), interaction=False),
    EventType("contact_unfrozen", "a person lifted the complaint freeze", (
        _p("by", "string", "who", required=True), _p("reason", "string", "why", required=True)), interaction=False),
    EventType("task_completed", "a person handled a hand-off task", (
        _p("task_id", "string", "task", required=True), _p("queue", "string", "sales or service"),
        _p("by", "string", "who"), _p("within_sla", "boolean", "done before the deadline")), interaction=False),
    EventType("task_sla_breached", "a hand-off task passed its deadline without being done", (
        _p("task_id", "string", "task", required=True), _p("queue", "string", "sales or service"),
        _p("assignee", "string", "who had it")), interaction=False),
    EventType("stage_changed", "the contact moved to another lifecycle stage (S1)", (
        _p("stage", "string", "new stage key", required=True), _p("from", "string", "previous stage key"),
        _p("rule", "string", "the lifecycle rule that moved it")), interaction=False),
    EventType("lead_mql", "the lead score first reached the MQL threshold", (
        _p("score", "number", "score", required=True), _p("model_version", "integer", "scoring model"),
        _p("threshold", "number", "the threshold reached")), interaction=False),
    EventType("lead_sql", "the lead score first reached the SQL threshold", (
        _p("score", "number", "score", required=True), _p("model_version", "integer", "scoring model"),
        _p("threshold", "number", "the threshold reached")), interaction=False),
    EventType("lead_feedback", "sales judged a lead good or bad (calibrates the lead score)", (
        _p("verdict", "string", "good or bad", required=True), _p("by", "string", "who"),
        _p("note", "string", "why")), interaction=False),
    EventType("segment_entered", "the contact became a member of a segment",
              (_p("segment", "string", "segment key", required=True),), interaction=False),
    EventType("segment_left", "the contact stopped being a member of a segment",
              (_p("segment", "string", "segment key", required=True),), interaction=False),
)
EVENT_CATALOGUE: dict[str, EventType] = {t.name: t for t in _STANDARD}

_TYPE_NAME = re.compile(r"[a-z][a-z0-9_.]{0,63}")


def validate_event_type(name: str) -> str:
    name = name.strip()
    if not _TYPE_NAME.fullmatch(name):
        raise FieldError("type", f"must be snake_case, 1-64 characters, got {name!r}")
    return name


def _matches(kind: str, value: object) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scrub(value: JSONValue, path: str) -> JSONValue:
    """NUL characters out of text (PostgreSQL refuses them); non-finite numbers refused."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError(path, "must be a finite number")
    if isinstance(value, list):
        return [_scrub(v, path) for v in value]
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): _scrub(v, f"{path}.{k}") for k, v in value.items()}
    return value


def validate_properties(event_type: str, properties: dict[str, JSONValue]) -> dict[str, JSONValue]:
    """Check a standard event's documented properties; custom types pass as they are.

    Every event: nothing nested deeper than ``MAX_JSON_DEPTH`` levels, no integer beyond 64 bits.
    """
    problem = json_problem(properties, "properties")
    if problem is not None:
        raise FieldError(*problem)
    properties = {str(k).replace("\x00", ""): _scrub(v, f"properties.{k}") for k, v in properties.items()}
    spec = EVENT_CATALOGUE.get(event_type)
    if spec is None:
        return properties
    for prop in spec.properties:
        value = properties.get(prop.name)
        if value is None:
            if prop.required:
                raise FieldError(f"properties.{prop.name}", f"required for {event_type}")
            continue
        if not _matches(prop.kind, value):
            if prop.kind in ("number", "integer") and isinstance(value, str):
                try:
                    number = float(value)
                except ValueError:
                    pass
                else:
                    if not math.isfinite(number):
                        raise FieldError(f"properties.{prop.name}", f"must be a finite number, got {value!r}")
                    properties[prop.name] = int(number) if prop.kind == "integer" else number
                    continue
            raise FieldError(f"properties.{prop.name}", f"must be a {prop.kind}, got {value!r}")
    return properties


@dataclass
class EventInput:
    """A validated event, not yet tied to a stored contact."""

    id: str
    type: str
    identities: tuple[Identity, ...]
    occurred_at: datetime
    source: str
    properties: dict[str, JSONValue] = field(default_factory=dict)


def derive_event_id(source: str, payload: object) -> str:
    """A stable id for an event that came without one, so a re-import does not store it twice."""
    digest = hashlib.sha256(source.encode() + b"\0" + orjson.dumps(payload, option=orjson.OPT_SORT_KEYS))
    return "d_" + digest.hexdigest()[:30]
