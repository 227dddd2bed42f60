"""A contact's events are routed in inbox order, with several workers claiming on PostgreSQL (ADR 0005)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from touchflow.bootstrap import Application
from touchflow.store.routing_reads import inbox_rows
from touchflow.store.tables import event_inbox

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_claim_never_takes_a_contacts_event_before_an_earlier_one_left_behind(app: Application) -> None:
    rows = [("e1", "c1"), ("e2", "c2"), ("e3", "c1")]
    with app.engine.begin() as c:
        c.execute(insert(event_inbox), [{"event_id": e, "contact_id": who, "type": "page_view", "occurred_at": AT,
                                         "received_at": AT} for e, who in rows])
    # Another worker's claim holds e1's row while c1 itself is free: the state a scan meets when that worker
    # committed between the scan skipping e1 and reaching e3.
    other = app.engine.connect()
    try:
        with other.begin():
            other.exec_driver_sql("SELECT seq FROM event_inbox WHERE event_id = 'e1' FOR UPDATE")
            with app.services.uow() as uow:
                claimed = [e.event_id for e in uow.journeys.claim_inbox(10)]
            assert claimed == ["e2"]  # e3 waits behind e1, which is still in the inbox
    finally:
        other.close()
    with app.services.uow() as uow:
        assert [e.event_id for e in uow.journeys.claim_inbox(10)] == ["e1", "e2", "e3"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_order_guard_reads_the_inbox_head_whatever_the_statistics_say(app: Application) -> None:
    """A queue's statistics are always stale: the rows analyzed are long routed, today's have higher keys.
    Asked for the rows below the claim's last key with ``seq < top`` alone, PostgreSQL then expected most of the
    inbox and scanned all of it for every batch (a 60-minute soak: three parallel scans of 235k rows each time,
    the worker ever further behind). Read in key order, a page at a time, the guard stays on the key's range."""
    def rows(prefix: str, count: int) -> list[dict[str, object]]:
        return [{"event_id": f"{prefix}{n}", "contact_id": f"c{n % 700}", "type": "page_view", "occurred_at": AT,
                 "received_at": AT} for n in range(count)]

    with app.engine.begin() as c:
        c.execute(insert(event_inbox), rows("old", 30_000))
    with app.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("ANALYZE event_inbox")
    with app.engine.begin() as c:  # routed since; new rows arrived, none analyzed (autovacuum off, as here)
        c.exec_driver_sql("DELETE FROM event_inbox")
        c.execute(insert(event_inbox), rows("new", 30_000))
    with app.services.uow() as uow:
        connection = uow._connection
        assert connection is not None
        claimed = uow.journeys.claim_inbox(200)
        whole_scans = connection.exec_driver_sql(  # this transaction's own counts
            "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'event_inbox'").scalar_one()
    assert [e.event_id for e in claimed] == [f"new{n}" for n in range(200)]
    assert whole_scans == 0, f"the inbox was scanned whole {whole_scans} time(s)"


def test_a_claim_locks_the_contacts_of_its_rows_only_whatever_plan_the_connection_cached(app: Application) -> None:
    """A plan made while the inbox was nearly empty sorts a sequential scan; cached by the connection's prepared
    statement, it tried the contact lock on every row of the inbox once a backlog formed, until PostgreSQL's
    lock table ran out. The lock is tried on the picked rows alone."""
    if app.engine.dialect.name != "postgresql":
        return
    fill = ("INSERT INTO event_inbox (event_id, contact_id, type, occurred_at, received_at) "
            "SELECT 'e' || g, 'c' || g, 'page_view', now(), now() FROM generate_series(1, %s) g")
    with app.engine.connect() as c:
        c.exec_driver_sql("SET plan_cache_mode = force_generic_plan")  # what the plan cache picks after 5 runs
        c.exec_driver_sql(fill, (3,))
        c.commit()
        c.exec_driver_sql("ANALYZE event_inbox")
        c.commit()
        for _ in range(8):  # the driver prepares the statement after five runs; the plan is made then
            assert len(inbox_rows(c, 10)) == 3
            c.rollback()
        c.exec_driver_sql(fill, (5000,))
        c.commit()
        claimed = inbox_rows(c, 10)
        locks = c.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                  "AND pid = pg_backend_pid()").scalar_one()
        c.rollback()
    assert len(claimed) == 10
    assert locks <= 10
