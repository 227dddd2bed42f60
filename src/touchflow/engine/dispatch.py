"""Outbox → channel. This issue ships ``capture``: the message is recorded as sent and nothing leaves.

Each message sent becomes a ``message_sent`` event of the contact (and enters the event inbox), so
journeys and the simulator see message lifecycle like any other behaviour. Issue 4 replaces the
capture step with real channels, guardrails re-checked in the claiming transaction, and retries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from touchflow.domain.events import EventInput
from touchflow.domain.ports import InboxEvent, OutboxMessage
from touchflow.services.context import ServiceContext

__all__ = ["Dispatcher", "OnSent", "lifecycle_event_id"]

OnSent = Callable[[Sequence[OutboxMessage], datetime], None]


def lifecycle_event_id(message_id: str, stage: str) -> str:
    return f"m_{message_id}_{stage}"


class Dispatcher:
    def __init__(self, ctx: ServiceContext, batch_size: int = 1000, on_sent: OnSent | None = None) -> None:
        self.ctx = ctx
        self.batch_size = batch_size
        self.on_sent = on_sent

    def dispatch_batch(self) -> int:
        now = self.ctx.clock.now()
        with self.ctx.uow() as uow:
            messages = uow.journeys.claim_outbox(now, self.batch_size)
            if not messages:
                return 0
            uow.journeys.mark_outbox([m.id for m in messages], "sent", now)
            sent = [(EventInput(lifecycle_event_id(m.id, "sent"), "message_sent", (), now, "touchflow",
                                {"message_id": m.id, "channel": m.channel, "journey_id": m.journey_id,
                                 "node_id": m.node_id, "template": m.template}), m.contact_id) for m in messages]
            uow.events.insert(sent, now)
            uow.journeys.add_inbox([InboxEvent(e.id, contact_id, e.type, now, now) for e, contact_id in sent])
            uow.commit()
        if self.on_sent is not None:
            self.on_sent(messages, now)
        return len(messages)

    def dispatch_all(self) -> int:
        total = 0
        while True:
            sent = self.dispatch_batch()
            total += sent
            if sent < self.batch_size:
                return total
