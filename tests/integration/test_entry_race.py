"""A hand enrolment racing a scan into the same journey enters the contact once (SQLite and PostgreSQL).

The enrolment is routed from the event inbox, whose claim holds the contact's lock; the scan must wait for
the same lock before it reads whether the contact is already in. The test holds the enrolment's
transaction open (a hook on its commit) while the scan runs on another connection, then lets it commit.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import event, select, text

from touchflow.bootstrap import Application
from touchflow.engine.runtime import JourneyRuntime
from touchflow.engine.scans import run_scans
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.journeys import enrol_contact, publish_journey
from touchflow.store.tables import journey_runs

WEEKLY = """
key: weekly_digest
name: 每周精选
trigger: {schedule: {every: 7d}}
start: tag
nodes:
  tag: {kind: update_contact, add_tags: [digest], next: done}
  done: {kind: exit}
"""


def _scan_is_waiting(app: Application, scan: threading.Thread) -> bool:
    if app.engine.dialect.name != "postgresql":
        return False  # SQLite: the scan waits for the one writer; nothing to see but time
    with app.engine.connect() as c:
        return bool(c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                   "AND datname = current_database()")).scalar_one())


def test_a_hand_enrolment_racing_a_scan_enters_once(app: Application) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "race@entry.test"})])
    publish_journey(app.services, WEEKLY, actor="test")
    enrol_contact(app.services, "weekly_digest", "email:race@entry.test", actor="marketer")
    runtime = JourneyRuntime(app.services)
    scan_errors: list[BaseException] = []

    def scan() -> None:
        try:
            run_scans(app.services, runtime.catalog, 100)
        except BaseException as exc:  # reported by the main thread
            scan_errors.append(exc)

    scanner = threading.Thread(target=scan)
    router = threading.current_thread()
    held = threading.Event()

    def before_commit(_conn: Any) -> None:
        if threading.current_thread() is not router or held.is_set():
            return  # only the routing batch (one transaction) that enters the contact is held
        held.set()
        scanner.start()  # the enrolment is decided and not committed: the scan runs now
        deadline = time.monotonic() + (3 if app.engine.dialect.name == "postgresql" else 0.5)
        while scanner.is_alive() and time.monotonic() < deadline and not _scan_is_waiting(app, scanner):
            time.sleep(0.02)

    event.listen(app.engine, "commit", before_commit)
    try:
        report = runtime.route_events()
    finally:
        event.remove(app.engine, "commit", before_commit)
    scanner.join(30)
    assert held.is_set() and not scanner.is_alive() and not scan_errors
    assert report.entered == 1
    with app.engine.connect() as c:
        entered = c.execute(select(journey_runs.c.contact_id)).scalars().all()
    assert len(entered) == 1  # before the fix, PostgreSQL entered the contact twice
