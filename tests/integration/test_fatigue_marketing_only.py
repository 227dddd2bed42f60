"""G2 fatigue counts marketing emails only: transactional mail opened without a click never pauses marketing.

Runs on SQLite and on PostgreSQL (the ``app`` fixture), through the real dispatcher and the tracking service.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.outbox import OutboxMessage
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.dispatcher import Dispatcher
from touchflow.services.content import save_template
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.tracking import record_open
from touchflow.store.tables import outbox


def _send_email(app: Application, contact_id: str, n: int, purpose: str | None) -> str:
    now = app.services.clock.now()
    payload = {"purpose": purpose} if purpose else {}
    row = OutboxMessage(app.services.ids.new(now), f"fatigue:{n}", None, contact_id, None, f"n{n}", "email",
                        "t_mail", payload, "queued", 0, now, now)
    with app.services.uow() as uow:
        uow.messages.enqueue([row])
        uow.commit()
    dispatcher = Dispatcher(app.services, batch_size=50, channels=ChannelRegistry.capture_all(("email",)))
    try:
        dispatcher.dispatch_all()
    finally:
        dispatcher.close()
    return row.id


@pytest.mark.parametrize("earlier", ["transactional", "marketing"])
def test_opened_transactional_emails_do_not_pause_marketing_email(app: Application, clock: VirtualClock,
                                                                  earlier: str) -> None:
    save_template(app.services, "t_mail", "email", "订单通知", "{{ contact.email }}，您好。", "text", by="test")
    (contact_id,) = upsert_contacts(app.services, "crm", [RawItem({"email": "f1@fatigue.test"})]).contact_ids
    assert contact_id is not None
    for n in range(3):  # three emails, each opened an hour later and never clicked
        message_id = _send_email(app, contact_id, n, earlier)
        clock.advance(timedelta(hours=1))
        assert record_open(app.services, {"m": message_id, "c": contact_id})
        clock.advance(timedelta(days=1))
    last = _send_email(app, contact_id, 9, None)  # a marketing email
    with app.engine.connect() as c:
        status, reason = c.execute(select(outbox.c.status, outbox.c.reason).where(outbox.c.id == last)).one()
    if earlier == "transactional":
        assert (status, reason) == ("sent", None)
    else:
        assert (status, reason) == ("skipped", "fatigue")
