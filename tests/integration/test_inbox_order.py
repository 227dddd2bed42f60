"""A contact's events are routed in inbox order, with several workers claiming on PostgreSQL (ADR 0005)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from touchflow.bootstrap import Application
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
