"""The circuit breaker's window counted by the database (the soak: the message-by-message read grew with the
hour's sends inside the worker's tick). Same counts as reading every message of the window, on SQLite and
PostgreSQL, over messages of three journeys in and out of the window, every status, complaints of both kinds,
hard bounces written three ways and outcomes dated before the window."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, insert

from touchflow.bootstrap import Application
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.store.tables import events, journeys, outbox

STATUSES = ("sent", "sent", "sending", "failed", "dead", "queued", "skipped")
START = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _workspace(app: Application, messages: int, seed: int) -> None:
    rng = random.Random(seed)
    report = upsert_contacts(app.services, "t", [RawItem({"email": f"c{n}@breaker.test"}) for n in range(5)])
    who = [c for c in report.contact_ids if c is not None]
    rows: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    for n in range(messages):
        mid = f"m{n:05d}"
        at = START + timedelta(seconds=rng.randrange(-1800, 5400))  # half an hour either side of [9:00, 10:00)
        rows.append({"id": mid, "idempotency_key": mid, "contact_id": rng.choice(who),
                     "journey_id": rng.choice(("ja", "jb", "jc", None)), "node_id": "mail", "channel": "email",
                     "template": "t", "payload": {}, "status": rng.choice(STATUSES), "attempts": 1,
                     "created_at": at, "updated_at": at, "next_attempt_at": at, "sent_at": at})
        if rng.random() < 0.9:
            continue
        kind, props = rng.choice((("message_complained", {}), ("complaint", {}), ("message_bounced", {"hard": True}),
                                  ("message_bounced", {"hard": "true"}), ("message_bounced", {"hard": False}),
                                  ("message_bounced", {}), ("message_opened", {})))
        later = at + timedelta(minutes=rng.choice((-60, 1, 5, 30)))  # -60: dated before the send, maybe the window
        outcomes.append({"id": f"e{len(outcomes)}", "contact_id": who[0], "type": kind, "occurred_at": later,
                         "received_at": later, "source": "t", "properties": {"message_id": mid, **props}})
        if rng.random() < 0.2:  # a second complaint of the same message counts once
            outcomes.append({**outcomes[-1], "id": f"e{len(outcomes)}", "type": "complaint"})
    outcomes.append({"id": "bare", "contact_id": who[0], "type": "complaint", "occurred_at": START,
                     "received_at": START, "source": "t", "properties": {}})  # names no message
    with app.engine.begin() as c:
        c.execute(insert(journeys), [{"id": j, "key": j, "name": j, "status": "active", "current_version": None,
                                      "created_at": START, "updated_at": START} for j in ("ja", "jb", "jc")])
        c.execute(insert(outbox), rows)
        c.execute(insert(events), outcomes)


def _message_by_message(app: Application, start: datetime, end: datetime) -> dict[str, tuple[int, int, int]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    with app.services.reader() as uow:
        for message in uow.alerts.sent_between(start, end):
            counts[message.journey_id][0] += 1
            counts[message.journey_id][1] += message.complained
            counts[message.journey_id][2] += message.hard_bounced
    return {k: (v[0], v[1], v[2]) for k, v in counts.items()}


def test_the_window_counts_what_reading_every_message_counted(app: Application) -> None:
    _workspace(app, 2_000, seed=17)
    for start, end in ((START, START + timedelta(hours=1)), (START + timedelta(minutes=20), START + timedelta(
            minutes=35)), (START - timedelta(hours=2), START + timedelta(hours=3)), (START + timedelta(days=1),
                                                                                     START + timedelta(days=2))):
        wanted = _message_by_message(app, start, end)
        with app.services.reader() as uow:
            assert uow.alerts.window_outcomes(start, end) == wanted
    with app.services.reader() as uow:
        found = uow.alerts.window_outcomes(START, START + timedelta(hours=1))
    assert sum(n for n, _, _ in found.values()) > 400 and sum(c for _, c, _ in found.values()) > 10, found
    assert sum(b for _, _, b in found.values()) > 5


def test_the_window_is_read_in_a_few_statements_however_many_messages(app: Application) -> None:
    """Message by message, 1,500 sends in the window were five statements and every row in Python; now the
    sends are counted by the database and only the messages a complaint or a bounce names are read."""
    _workspace(app, 6_000, seed=5)
    statements: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(app.engine, "before_cursor_execute", note)
    try:
        with app.services.reader() as uow:
            found = uow.alerts.window_outcomes(START, START + timedelta(hours=1))
    finally:
        event.remove(app.engine, "before_cursor_execute", note)
    assert sum(n for n, _, _ in found.values()) > 1_500
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) <= 3, statements
