"""Two transactions that bring the same new identities, in opposite orders, both commit: each identity gets
one contact, the one the first transaction created, with no deadlock, no unique-key error and no retry of the
batch (ADR 0060). PostgreSQL only: SQLite has one writer at a time, so the two never overlap there.

Both batches run with ``retries=0``: a clash that is resolved by failing and running the batch again fails
the test, as it did before identities were claimed in key order with ``ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from touchflow.bootstrap import Application
from touchflow.domain.identities import Identity
from touchflow.services.context import in_transaction
from touchflow.services.ingest import EventBatchReport, RawItem, event_batch_work, record_events
from touchflow.store.tables import contact_identities, contacts, events

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _batch(tag: str, emails: list[str]) -> list[RawItem]:
    return [RawItem({"id": f"{tag}-{n}", "type": "page_view", "email": email,
                     "properties": {"url": "https://shop.example.cn/"},
                     "occurred_at": "2026-03-01T10:00:00Z"}) for n, email in enumerate(emails)]


def _write(app: Application, tag: str, emails: list[str], out: dict[str, EventBatchReport | BaseException]) -> None:
    try:
        out[tag] = in_transaction(app.services, event_batch_work(app.services, "app", _batch(tag, emails)),
                                  retries=0)
    except BaseException as exc:  # reported by the main thread
        out[tag] = exc


def _waiting_on_a_lock(app: Application) -> bool:
    with app.engine.connect() as c:
        return bool(c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                   "AND datname = current_database()")).scalar_one())


def _assert_one_contact_each(app: Application, emails: list[str], events_per_email: int) -> None:
    with app.services.uow() as uow:  # through the blind index too, when personal data is encrypted
        owners = {i.value: cid for i, cid in uow.contacts.lookup([Identity("email", e) for e in emails]).items()}
    with app.engine.connect() as c:
        identities = c.execute(select(func.count()).select_from(contact_identities)).scalar_one()
        live = c.execute(select(func.count()).select_from(contacts)
                         .where(contacts.c.merged_into.is_(None))).scalar_one()
        stored = {r[0]: r[1] for r in c.execute(select(events.c.contact_id, func.count())
                                                .group_by(events.c.contact_id))}
    assert sorted(owners) == sorted(emails) and identities == len(emails) + 1
    assert live == len(emails) + 1  # one contact per identity, and the warm-up's
    assert all(stored[owners[e]] == events_per_email for e in emails)  # nothing acknowledged is lost


def test_a_batch_meeting_identities_another_is_writing_waits_and_joins_its_contacts(app: Application) -> None:
    record_events(app.services, "app", _batch("warm", ["warm@claims.test"]))  # the source exists already
    emails = [f"p{n}@claims.test" for n in range(5)]
    out: dict[str, EventBatchReport | BaseException] = {}
    second = threading.Thread(target=_write, args=(app, "second", emails[::-1], out))
    first_thread = threading.current_thread()
    held, waited = threading.Event(), threading.Event()

    def before_commit(_conn: Any) -> None:
        if threading.current_thread() is not first_thread or held.is_set():
            return
        held.set()  # the first batch wrote its contacts and identities and has not committed: the second runs
        second.start()
        deadline = time.monotonic() + 5
        while second.is_alive() and time.monotonic() < deadline:
            if _waiting_on_a_lock(app):
                waited.set()  # on the first shared identity: the keys go in, in key order
                break
            time.sleep(0.02)

    event.listen(app.engine, "commit", before_commit)
    try:
        _write(app, "first", emails, out)
    finally:
        event.remove(app.engine, "commit", before_commit)
    second.join(30)
    assert held.is_set() and waited.is_set() and not second.is_alive()
    first, other = out["first"], out["second"]
    assert isinstance(first, EventBatchReport), first
    assert isinstance(other, EventBatchReport), other  # before: UniqueViolation on contact_identities
    assert first.contacts_created == 5 and other.contacts_created == 0
    assert first.statuses == other.statuses == ["stored"] * 5
    _assert_one_contact_each(app, emails, 2)


def test_opposite_orders_of_the_same_new_identities_neither_deadlock_nor_duplicate(app: Application) -> None:
    record_events(app.services, "app", _batch("warm", ["warm@claims.test"]))
    emails = [f"r{n:03d}@claims.test" for n in range(300)]
    out: dict[str, EventBatchReport | BaseException] = {}
    start = threading.Barrier(2)

    def run(tag: str, order: list[str]) -> None:
        start.wait()
        _write(app, tag, order, out)

    threads = [threading.Thread(target=run, args=("up", emails)),
               threading.Thread(target=run, args=("down", emails[::-1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    up, down = out["up"], out["down"]
    assert isinstance(up, EventBatchReport), up  # before: a deadlock (40P01) or a unique violation
    assert isinstance(down, EventBatchReport), down
    assert up.contacts_created + down.contacts_created == len(emails)
    assert up.accepted == down.accepted == len(emails)
    _assert_one_contact_each(app, emails, 2)
