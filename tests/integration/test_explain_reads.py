"""What "explain this drop" reads (``AlertRepository.sent_between``, by journey and send time on
``ix_outbox_journey_id_sent_at``, migration 0034), on SQLite and PostgreSQL: one journey's messages of the period
only (not another journey's, not a message sent before or at the end), each with exactly its own outcomes — a
hard bounce, the first open's device and user agent, a click — and an outcome later than ``within`` dropped only
when ``within`` is asked for (the alerts' window; explain reads no time)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.explain import explain
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.store.tables import events, journeys, outbox


def test_one_journeys_messages_of_the_period_with_their_own_outcomes(app: Application,
                                                                     clock: VirtualClock) -> None:
    now = clock.now()
    report = upsert_contacts(app.services, "t", [RawItem({"email": f"e{n}@explain.test"}) for n in range(2)])
    who = [c for c in report.contact_ids if c is not None]
    messages: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []

    def message(mid: str, journey: str, sent_minutes_ago: int, template: str, *happened: tuple[str, int, dict]) -> None:
        at = now - timedelta(minutes=sent_minutes_ago)
        messages.append({"id": mid, "idempotency_key": mid, "contact_id": who[len(messages) % 2], "journey_id": journey,
                         "node_id": "mail", "channel": "email", "template": template, "payload": {},
                         "status": "sent", "attempts": 1, "created_at": at, "updated_at": at, "next_attempt_at": at,
                         "sent_at": at, "address": f"{mid}@qq.com"})
        for n, (kind, minutes_after, extra) in enumerate(happened):
            outcomes.append({"id": f"m_{mid}_{kind}_{n}", "contact_id": who[0], "type": f"message_{kind}",
                             "occurred_at": at + timedelta(minutes=minutes_after), "received_at": now, "source": "t",
                             "properties": {"message_id": mid, "journey_id": journey, "channel": "email", **extra}})

    message("a1", "ja", 30, "t1", ("delivered", 1, {}), ("opened", 5, {"device": "mobile", "user_agent": "UA-1"}),
            ("opened", 6, {"device": "desktop", "user_agent": "UA-2"}), ("clicked", 7, {}))
    message("a2", "ja", 40, "t1", ("bounced", 1, {"hard": True}))
    message("a3", "ja", 50, "t2", ("delivered", 1, {}), ("opened", 300, {}))  # opened five hours later
    message("a4", "ja", 60 * 30, "t2", ("delivered", 1, {}), ("opened", 2, {}))  # before the period
    message("b1", "jb", 30, "t1", ("delivered", 1, {}), ("opened", 2, {}))  # another journey
    with app.engine.begin() as c:
        c.execute(insert(journeys), [{"id": j, "key": j, "name": j, "status": "active", "current_version": None,
                                      "created_at": now, "updated_at": now} for j in ("ja", "jb")])
        c.execute(insert(outbox), messages)
        c.execute(insert(events), outcomes)

    start, end = now - timedelta(hours=2), now + timedelta(minutes=1)
    with app.services.reader() as uow:
        read = {m.id: m for m in uow.alerts.sent_between(start, end, "ja")}
        timed = {m.id: m for m in uow.alerts.sent_between(start, end, "ja", within=timedelta(hours=1))}
    assert sorted(read) == ["a1", "a2", "a3"]
    a1, a2, a3 = read["a1"], read["a2"], read["a3"]
    assert (a1.delivered, a1.opened, a1.clicked, a1.device, a1.user_agent) == (True, True, True, "mobile", "UA-1")
    assert (a2.bounced, a2.hard_bounced, a2.delivered, a2.opened) == (True, True, False, False)
    assert (a3.delivered, a3.opened, a3.address, a3.template) == (True, True, "a3@qq.com", "t2")
    assert timed["a3"].opened is False and timed["a1"] == a1

    found = explain(app.services, "open_rate", "ja", now - timedelta(hours=1), end, by="template",
                    base_start=now - timedelta(days=2), base_end=now - timedelta(hours=1))
    cells = {s.key: (s.successes0, s.trials0, s.successes1, s.trials1) for s in found.result.segments}
    # a2 bounced: no trial for a rate over delivered; a4 is the base period's
    assert cells == {"t1": (0, 0, 1, 1), "t2": (1, 1, 1, 1)}
