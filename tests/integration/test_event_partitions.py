"""Events by month on PostgreSQL (ADR 0054): each event lands in its month's partition (or the default one), a
duplicate id is refused across months exactly as the primary key refused it, retention drops an expired month
whole and frees its ids. The duplicate rules run on SQLite too, where ``events`` stays one table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from tests.integration.test_dispatcher import make_contacts
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.events import EventInput
from touchflow.services.retention import purge, set_retention_policy
from touchflow.store.events import SqlEventRepository
from touchflow.store.partitions import months_ahead, partition_name
from touchflow.store.tables import events

MARCH = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
APRIL = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
LONG_AGO = datetime(1999, 1, 1, tzinfo=UTC)  # outside every month that has a partition: the default one


def _store(app: Application, contact: str, *batch: tuple[str, datetime]) -> None:
    with app.services.uow() as uow:
        uow.events.insert([(EventInput(i, "page_view", (), at, "web", {"n": i}), contact) for i, at in batch],
                          app.services.clock.now())
        uow.commit()


def _where(app: Application) -> dict[str, tuple[str, datetime]]:
    """Event id → (the table holding it, occurred_at); on SQLite the table is always ``events``."""
    table = "tableoid::regclass::text" if app.engine.dialect.name == "postgresql" else "'events'"
    with app.engine.connect() as c:
        rows = c.execute(text(f"SELECT id, {table}, occurred_at FROM events")).all()
    return {str(i): (str(t), at if isinstance(at, datetime) else datetime.fromisoformat(at).replace(tzinfo=UTC))
            for i, t, at in rows}


def _pg_only(app: Application) -> None:
    if app.engine.dialect.name != "postgresql":
        pytest.skip("monthly partitions are PostgreSQL's")


def _tables(app: Application) -> set[str]:
    with app.engine.connect() as c:
        return set(c.execute(text("SELECT relname FROM pg_class WHERE relkind IN ('r', 'p')")).scalars())


def test_the_migration_makes_this_month_and_the_next_two(app: Application) -> None:
    _pg_only(app)
    with app.engine.connect() as c:
        parts = set(c.execute(text("SELECT inhrelid::regclass::text FROM pg_inherits "
                                   "WHERE inhparent = 'events'::regclass")).scalars())
    assert {"events_default", *(partition_name(m) for m in months_ahead(datetime.now(UTC)))} <= parts


def test_events_land_in_their_month_and_a_late_partition_takes_its_rows(app: Application,
                                                                         clock: VirtualClock) -> None:
    _pg_only(app)
    contact = make_contacts(app, 1)[0]
    _store(app, contact, ("old", LONG_AGO), ("may", datetime(2026, 5, 31, 23, 59, tzinfo=UTC)))
    with app.services.uow() as uow:  # the worker's pass: the virtual clock's month and the next two
        uow.retention.prepare_months(clock.now())
        uow.commit()
    assert {"events_p202603", "events_p202604", "events_p202605"} <= _tables(app)
    _store(app, contact, ("mar", MARCH), ("apr", APRIL), ("jun", datetime(2026, 6, 1, tzinfo=UTC)))
    where = {k: v[0] for k, v in _where(app).items()}
    assert where == {"old": "events_default", "may": "events_p202605", "mar": "events_p202603",
                     "apr": "events_p202604", "jun": "events_default"}
    clock.advance(timedelta(days=31))  # April now: June gets its partition and takes its row from the default
    with app.services.uow() as uow:
        uow.retention.prepare_months(clock.now())
        uow.commit()
    assert _where(app)["jun"][0] == "events_p202606"
    _store(app, contact, ("jun", datetime(2026, 6, 2, tzinfo=UTC)))  # its id moved with it: still refused
    assert _where(app)["jun"][1] == datetime(2026, 6, 1, tzinfo=UTC)


def test_a_duplicate_id_is_refused_in_any_month_by_every_writer(app: Application) -> None:
    contact = make_contacts(app, 1)[0]
    _store(app, contact, ("d1", MARCH), ("d1", APRIL))  # twice in one batch
    _store(app, contact, ("d1", LONG_AGO), ("d2", APRIL))  # again later, in another month
    with app.engine.begin() as c:  # a writer around the repository (raw SQL), as group commit and imports are not
        c.execute(insert(events).values(id="d2", contact_id=contact, type="page_view", occurred_at=MARCH,
                                        received_at=MARCH, source="raw", properties={})
                  .prefix_with("OR IGNORE", dialect="sqlite"))  # PostgreSQL: the trigger drops it
    stored = _where(app)
    assert sorted(stored) == ["d1", "d2"]
    assert stored["d1"][1] == MARCH and stored["d2"][1] == APRIL  # the first one written stays
    with app.services.uow() as uow:
        assert uow.events.existing_ids(["d1", "d2", "d3"]) == {"d1", "d2"}
    with app.engine.begin() as c:  # moved to another month, the row keeps its id (no duplicate, no loss)
        c.execute(update(events).where(events.c.id == "d1").values(occurred_at=LONG_AGO))
    _store(app, contact, ("d1", APRIL))
    assert _where(app)["d1"][1] == LONG_AGO
    with app.engine.begin() as c:  # a deleted event frees its id, as a deleted row freed its primary key
        c.execute(delete(events).where(events.c.id == "d1"))
    _store(app, contact, ("d1", APRIL))
    assert _where(app)["d1"][1] == APRIL


def test_retention_drops_an_expired_month_whole_and_keeps_the_rest(app: Application, clock: VirtualClock) -> None:
    _pg_only(app)
    contact = make_contacts(app, 1)[0]
    with app.services.uow() as uow:
        uow.retention.prepare_months(clock.now())  # March, April, May 2026
        uow.commit()
    _store(app, contact, ("m1", MARCH), ("m2", MARCH + timedelta(days=20)), ("a1", APRIL), ("old", LONG_AGO))
    set_retention_policy(app.services, {"events": 365}, actor="user:ops")
    clock.advance(timedelta(days=396))  # 2027-04-02: March 2026 ended more than 365 days ago, April has not
    gone = purge(app.services, batch=1)  # batch 1: the ids of the month are freed over several transactions
    assert gone["events"] == 3  # March's two rows (its partition) and the old one of the default partition
    assert set(_where(app)) == {"a1"}
    tables = _tables(app)
    assert "events_p202603" not in tables and {"events_p202604", "events_p202705"} <= tables
    _store(app, contact, ("m1", MARCH), ("a1", APRIL + timedelta(days=1)))  # m1's id is free again, a1's is not
    assert {k: v[1] for k, v in _where(app).items()} == {"m1": MARCH, "a1": APRIL}
    with app.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM event_ids")).scalar_one() == 2


def test_a_month_detached_by_a_pass_that_stopped_is_dropped_by_the_next(app: Application,
                                                                          clock: VirtualClock) -> None:
    _pg_only(app)
    contact = make_contacts(app, 1)[0]
    with app.services.uow() as uow:
        uow.retention.prepare_months(clock.now())
        uow.commit()
    _store(app, contact, ("m1", MARCH), ("a1", APRIL))
    with app.engine.begin() as c:  # the pass detached March, then stopped before freeing its ids
        c.execute(text("ALTER TABLE events DETACH PARTITION events_p202603"))
    _store(app, contact, ("m1", MARCH))  # still refused: its id waits in event_ids
    assert set(_where(app)) == {"a1"}
    assert purge(app.services) == {"outbox": 0, "run_steps": 0, "writeback": 0, "capacity": 0}
    with app.engine.connect() as c:  # dropped, and March (this month) made again, empty
        assert c.execute(select(func.count()).select_from(text("event_ids"))).scalar_one() == 1
        assert c.execute(text("SELECT count(*) FROM events_p202603")).scalar_one() == 0
    _store(app, contact, ("m1", MARCH))  # its id is free again
    assert _where(app)["m1"][0] == "events_p202603"


def test_the_repository_claims_ids_set_wise_and_other_writers_still_meet_the_trigger(app: Application) -> None:
    """Migration 0036: the repository writes ``event_ids`` in one statement and skips the per-row trigger for its
    own rows only; a raw insert later in the same transaction is still checked, and a repeat in a batch is dropped."""
    _pg_only(app)
    contact = make_contacts(app, 1)[0]
    _store(app, contact, ("s1", MARCH))
    with app.engine.begin() as c:
        repo = SqlEventRepository(c)
        repo.insert([(EventInput(i, "page_view", (), at, "web", {}), contact)
                     for i, at in (("s1", APRIL), ("s2", APRIL), ("s2", MARCH), ("s3", MARCH))], MARCH)
        assert c.execute(text("SELECT current_setting('touchflow.event_ids_claimed', true)")).scalar() == "off"
        for event_id in ("s3", "s4", "s4"):  # around the repository, after it, in its transaction
            c.execute(insert(events).values(id=event_id, contact_id=contact, type="page_view", occurred_at=APRIL,
                                            received_at=APRIL, source="raw", properties={}))
    stored = _where(app)
    assert sorted(stored) == ["s1", "s2", "s3", "s4"]
    assert stored["s1"][1] == MARCH and stored["s2"][1] == APRIL and stored["s3"][1] == MARCH
    with app.engine.connect() as c:
        ids = c.execute(text("SELECT count(*) FROM event_ids WHERE id LIKE 's%'")).scalar()
        whens = dict(c.execute(text("SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = "
                                    "'events'::regclass AND tgname IN ('events_dedupe', 'events_msg_columns')")).all())
    assert ids == 4
    assert "event_ids_claimed" in whens["events_dedupe"] and "msg_id IS NULL" in whens["events_msg_columns"]
