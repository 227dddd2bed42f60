"""The console's list of journeys reads receipts from the metric rollups (issue 15): once the rollups are
refreshed, every number it shows equals ``journey_stats`` counted now from the outbox and the events — for sms
and for email alike (the rollups' ``receipts`` counter, migration 0034; email's rollup ``delivered`` means
sent − bounced)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import (
    JourneyStats,
    journey_stats,
    journeys_overview,
    publish_journey,
    set_journey_status,
)
from touchflow.services.metrics import refresh_rollups
from touchflow.services.tracking import delivery_receipt
from touchflow.store.tables import outbox

JOURNEY = """
key: {key}
name: 欢迎
trigger: {{event: signup}}
nodes:
  hello: {{kind: send, channel: email, template: welcome, next: text}}
  text: {{kind: send, channel: sms, template: welcome_sms}}
"""


def _send_and_receive(app: Application, clock: VirtualClock) -> None:
    publish_journey(app.services, JOURNEY.format(key="w_one"), actor="test")
    people = [(f"o{n}@overview.test", f"+8613900{n:06d}") for n in range(6)]
    upsert_contacts(app.services, "crm", [RawItem({"email": e, "phone": p}) for e, p in people])
    now = clock.now().isoformat()
    record_events(app.services, "web", [RawItem({"id": f"s{n}", "type": "signup", "email": e, "occurred_at": now})
                                        for n, (e, _) in enumerate(people)])
    runtime = JourneyRuntime(app.services)
    dispatcher = Dispatcher(app.services, batch_size=100, channels=ChannelRegistry.capture_all(("email", "sms")))
    try:
        for _ in range(3):
            runtime.tick()
            dispatcher.dispatch_all()
    finally:
        dispatcher.close()
    with app.engine.begin() as c:
        sent = [r.id for r in c.execute(select(outbox.c.id).where(outbox.c.status == "sent").order_by(outbox.c.id))]
        for n, message_id in enumerate(sent):
            c.execute(update(outbox).where(outbox.c.id == message_id).values(provider_id=f"prov-{n}"))
    assert len(sent) == 12  # six people, an email and a text each
    for n in range(len(sent)):  # most delivered, one in four without a receipt, one bounced
        if n % 4 != 1:
            assert delivery_receipt(app.services, f"prov-{n}", "delivered")
    assert delivery_receipt(app.services, "prov-1", "bounced", "mailbox full")
    for key in ("w_two", "w_old"):  # published after the sign-ups: no messages
        publish_journey(app.services, JOURNEY.format(key=key), actor="test")
    set_journey_status(app.services, "w_old", "archived", actor="test")


def _delivered(stats: list[JourneyStats]) -> dict[tuple[str, str], int]:
    return {(s.journey.key, ch): e["delivered"] for s in stats for ch, e in s.messages_by_status.items()}


def test_the_list_of_journeys_equals_the_counts_of_each_once_the_rollups_are_refreshed(
        app: Application, clock: VirtualClock) -> None:
    _send_and_receive(app, clock)
    now = [journey_stats(app.services, key) for key in ("w_one", "w_two")]
    assert {ch for (_, ch), n in _delivered(now).items() if n} == {"email", "sms"}, _delivered(now)
    stale = journeys_overview(app.services)  # the rollups have not counted the receipts yet: both lag
    assert not any(_delivered(stale).values())
    clock.advance(timedelta(minutes=2))  # past the rollups' settling time
    refresh_rollups(app.services)
    shown = journeys_overview(app.services)
    assert [s.journey.key for s in shown] == ["w_one", "w_two"]  # archived journeys are left out
    assert shown == now
