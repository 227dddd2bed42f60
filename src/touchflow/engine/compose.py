"""Render claimed messages into ``Outgoing`` ones: the template from the asset library, the contact's data.

Loads what a batch needs in one read transaction (the newest approved version of each template,
contact states and identities, and recent events only when a template reads them) and renders in
Python. A message whose template is missing, unapproved or does not render fails with the reason (so
it goes to its fallback channel or the dead letters); on the ``capture_channels`` given (the sandbox) a
missing template is fine — it records the template's name. The worker gives none (bootstrap), so it never
records a message as sent whose template does not exist. Email gets tracked links, an open pixel and RFC 8058
List-Unsubscribe headers; SMS gets the "回复TD退订" suffix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from touchflow.channels.base import Outgoing
from touchflow.channels.sms import with_unsubscribe_suffix
from touchflow.content.email import RenderedEmail
from touchflow.content.links import Tracking
from touchflow.content.templates import ContentRenderer, PlainContext, TemplateError, contact_context
from touchflow.content.tokens import TokenSigner
from touchflow.domain.content.ports import TemplateVersion
from touchflow.domain.outbox import OutboxMessage
from touchflow.engine.guard_facts import BatchContacts
from touchflow.services.content import render_template_version, template_for_send
from touchflow.services.context import ServiceContext

__all__ = ["Composer", "RenderFailure"]

# Template text that reads the contact's history: only then are recent events loaded.
_READS_EVENTS = re.compile(r"recommendations|is_customer|is_new|high_value|total_spent|orders|last_order_at")
_EVENT_WINDOW = timedelta(days=90)
_EVENT_TYPES = ("product_viewed", "order_paid")


@dataclass(frozen=True)
class RenderFailure:
    reason: str


def _render_leaves(value: Any, render: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return render(value)
    if isinstance(value, dict):
        return {k: _render_leaves(v, render) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_leaves(v, render) for v in value]
    return value


def _plain(context: dict[str, Any]) -> PlainContext:
    """``contact_context`` builds plain data (JSON values from the store) but for one datetime; converting
    that one here spares walking the whole context again for every message."""
    contact = context.get("contact")
    if isinstance(contact, dict) and isinstance(contact.get("last_order_at"), datetime):
        contact["last_order_at"] = contact["last_order_at"].isoformat()
    return PlainContext(context)


class Composer:
    def __init__(self, ctx: ServiceContext, public_url: str, link_secret: str, capture_channels: Collection[str] = (),
                 provider_template_channels: Collection[str] = ()) -> None:
        self.ctx = ctx
        # Channels whose provider sends its own registered templates (Aliyun/Tencent SMS, WeChat official
        # account): the library template's body is a JSON object of provider fields, each string rendered.
        self.provider_template_channels = frozenset(provider_template_channels)
        self.public_url = public_url
        self.signer = TokenSigner(link_secret)
        self.renderer = ContentRenderer()
        self.capture_channels = frozenset(capture_channels)  # a missing template is fine on these

    def compose(self, messages: Sequence[OutboxMessage], now: datetime,
                contacts: BatchContacts | None = None) -> list[Outgoing | RenderFailure]:
        names = {m.template for m in messages if m.template and m.channel != "webhook"}
        with self.ctx.reader() as uow:
            templates = {name: template_for_send(uow, name) for name in sorted(names)}
            if contacts is None:
                contact_ids = {m.contact_id for m in messages if m.channel != "webhook"}
                contacts = BatchContacts(uow.messages.audience(contact_ids), uow.guards.addresses(contact_ids))
            wants_events = {m.contact_id for m in messages
                            if (t := templates.get(m.template or "")) is not None and _READS_EVENTS.search(t.body)}
            history = uow.messages.recent_events(wants_events, _EVENT_TYPES, now - _EVENT_WINDOW) \
                if wants_events else {}
        out: list[Outgoing | RenderFailure] = []
        for m in messages:
            if m.channel == "webhook":
                body = m.payload.get("body") or {}
                out.append(Outgoing(m.id, m.idempotency_key, m.contact_id, m.address or "", "",
                                    data={"body": {**body, "contact_id": m.contact_id, "message_id": m.id}}))
                continue
            template = templates.get(m.template or "")
            if template is None and not m.template and isinstance(m.payload.get("text"), str):
                out.append(Outgoing(m.id, m.idempotency_key, m.contact_id, m.address or "", m.payload["text"],
                                    data={"task_id": m.payload.get("task_id")}))  # a hand-off notice
                continue
            if template is None:
                out.append(self._untemplated(m))
                continue
            profile: dict[str, Any] = dict(contacts.profiles.get(m.contact_id) or {"id": m.contact_id})
            profile["identities"] = [{"kind": k, "value": v}
                                     for k, v in contacts.identities.get(m.contact_id, {}).items()]
            out.append(self._render(m, template, _plain(contact_context(profile, history.get(m.contact_id, []), now))))
        return out

    def _provider_fields(self, m: OutboxMessage, template: TemplateVersion,
                         context: PlainContext) -> Outgoing | RenderFailure:
        """E.g. ``{"template_code": "SMS_1", "template_param": {"name": "{{ contact.name }}"}}`` for Aliyun,
        ``{"template_id": "…", "fields": {"first": "…"}, "url": "…"}`` for a WeChat template message."""
        label = f"{template.name}@{template.version}"
        try:
            fields = json.loads(template.body)
        except ValueError as exc:
            return RenderFailure(f"{label}: channel {m.channel} sends provider templates; the body must be a JSON "
                                 f"object of provider fields ({exc})")
        if not isinstance(fields, dict):
            return RenderFailure(f"{label}: the body must be a JSON object of provider fields")
        try:
            data = _render_leaves(fields, lambda text: self.renderer.render(text, context, name=label))
        except TemplateError as exc:
            return RenderFailure(f"{label} does not render: {exc}")
        text = str(data.get("text") or template.subject)
        return Outgoing(m.id, m.idempotency_key, m.contact_id, m.address or "", text, subject=template.subject,
                        data={**data, "template": template.name, "version": template.version})

    def _untemplated(self, m: OutboxMessage) -> Outgoing | RenderFailure:
        if m.channel in self.capture_channels or (m.channel == "onsite" and not m.template):
            return Outgoing(m.id, m.idempotency_key, m.contact_id, m.address or "", m.template or "",
                            subject=m.template)
        return RenderFailure(f"template {m.template!r} has no approved version in the asset library")

    def _render(self, m: OutboxMessage, template: TemplateVersion, context: PlainContext) -> Outgoing | RenderFailure:
        tracking = Tracking(self.public_url, self.signer, m.id, m.contact_id) if m.channel == "email" else None
        if m.channel in self.provider_template_channels:
            return self._provider_fields(m, template, context)
        try:
            if tracking is None and m.channel != "email":  # SMS, WeCom, WeChat, pop-ups: the body is the message
                text = self.renderer.render(template.body, context, name=f"{template.name}@{template.version}")
                subject = template.subject if "{" not in template.subject else \
                    self.renderer.render(template.subject, context, name=f"{template.name}:subject")
                rendered = RenderedEmail(" ".join(subject.split()), None, text)
            else:
                rendered = render_template_version(template, context, tracking=tracking)
        except TemplateError as exc:
            return RenderFailure(f"{template.name}@{template.version} does not render: {exc}")
        headers: dict[str, str] = {}
        text = rendered.text
        if tracking is not None:
            headers = {"List-Unsubscribe": f"<{tracking.unsubscribe_url()}>",
                       "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        elif m.channel == "sms" and m.payload.get("purpose") != "transactional":
            text = with_unsubscribe_suffix(text)
        data: dict[str, Any] = {"template": template.name, "version": template.version}
        url = m.payload.get("url")
        if url:
            data["url"] = url
        return Outgoing(m.id, m.idempotency_key, m.contact_id, m.address or "", text, subject=rendered.subject,
                        html=rendered.html, headers=headers, data=data)
