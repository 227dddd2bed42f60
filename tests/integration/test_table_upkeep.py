"""The worker vacuums queue tables that autovacuum left full of dead rows (PostgreSQL): their space is reused and
they stop growing. This CI machine's PostgreSQL runs with autovacuum off, as some servers do."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import Engine

from touchflow.bootstrap import Application
from touchflow.services.table_upkeep import TableUpkeepPass
from touchflow.store.table_upkeep import analyze_changed_tables, vacuum_dead_tables, vacuum_inserted_tables

ROWS = 30_000
FILL = ("INSERT INTO event_inbox (event_id, contact_id, type, occurred_at, received_at) "
        f"SELECT 'e' || g, 'c' || g, 'page_view', now(), now() FROM generate_series(1, {ROWS}) g")


def _fill_and_empty(engine: Engine) -> None:
    with engine.begin() as c:
        c.exec_driver_sql(FILL)
    with engine.begin() as c:
        c.exec_driver_sql("DELETE FROM event_inbox")
        c.exec_driver_sql("SELECT pg_stat_force_next_flush()")  # the statistics the pass reads, now
    deadline = time.monotonic() + 10
    while _dead(engine) < ROWS and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _dead(engine) >= ROWS


def _dead(engine: Engine) -> int:
    with engine.connect() as c:
        c.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        return int(c.exec_driver_sql("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'event_inbox' "
                                     "AND schemaname = current_schema()").scalar_one())


def _size(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.exec_driver_sql("SELECT pg_relation_size('event_inbox')").scalar_one())


def test_an_emptied_queue_is_vacuumed_and_its_space_reused(app: Application) -> None:
    assert any(isinstance(chore, TableUpkeepPass) for chore in app.worker().background)
    if app.engine.dialect.name != "postgresql":
        assert vacuum_dead_tables(app.engine) == []  # SQLite reuses freed pages by itself
        return
    _fill_and_empty(app.engine)
    full = _size(app.engine)
    assert "event_inbox" in vacuum_dead_tables(app.engine, quiet=timedelta(0))
    assert _dead(app.engine) == 0
    with app.engine.begin() as c:  # the same rows again fit in the space the dead ones left
        c.exec_driver_sql(FILL)
    assert _size(app.engine) <= full


def test_a_table_vacuumed_a_moment_ago_is_left_alone(app: Application) -> None:
    if app.engine.dialect.name != "postgresql":
        return
    _fill_and_empty(app.engine)
    assert "event_inbox" in vacuum_dead_tables(app.engine, quiet=timedelta(0))
    _fill_and_empty(app.engine)
    assert "event_inbox" not in vacuum_dead_tables(app.engine, quiet=timedelta(minutes=2))
    assert "event_inbox" not in vacuum_dead_tables(app.engine, min_dead=10 * ROWS, quiet=timedelta(0))
    assert "event_inbox" in vacuum_dead_tables(app.engine, quiet=timedelta(0))


def _planned_rows(engine: Engine) -> float:
    with engine.connect() as c:
        return float(c.exec_driver_sql("SELECT reltuples FROM pg_class WHERE relname = 'event_inbox' "
                                       "AND relnamespace = current_schema()::regnamespace").scalar_one())


def test_a_table_analyzed_empty_is_analyzed_again_once_its_rows_changed(app: Application) -> None:
    """The hour-long soak: this month's events partition kept the statistics of its creation (empty), and the
    planner read a few contacts' events by scanning the whole partition. The pass analyzes past autovacuum's
    analyze trigger; the planner's row count is then the table's."""
    assert any(isinstance(chore, TableUpkeepPass) for chore in app.worker().background)
    if app.engine.dialect.name != "postgresql":
        assert analyze_changed_tables(app.engine) == []
        return
    with app.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("ANALYZE event_inbox")  # empty, as a partition is when it is made
    assert _planned_rows(app.engine) <= 0
    with app.engine.begin() as c:
        c.exec_driver_sql(FILL)
        c.exec_driver_sql("SELECT pg_stat_force_next_flush()")
    assert "event_inbox" not in analyze_changed_tables(app.engine, min_changed=10 * ROWS, quiet=timedelta(0))
    assert "event_inbox" not in analyze_changed_tables(app.engine, quiet=timedelta(minutes=2))  # analyzed just now
    assert "event_inbox" in analyze_changed_tables(app.engine, quiet=timedelta(0))
    assert _planned_rows(app.engine) == ROWS
    assert "event_inbox" not in analyze_changed_tables(app.engine, quiet=timedelta(0))  # nothing changed since



def _all_visible_pages(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.exec_driver_sql("SELECT relallvisible FROM pg_class WHERE relname = 'event_inbox' "
                                     "AND relnamespace = current_schema()::regnamespace").scalar_one())


def test_a_table_that_only_grows_is_vacuumed_for_its_inserts(app: Application) -> None:
    """An append-only table has no dead rows, so the dead-row trigger never vacuums it, and its visibility map
    stays unset: every index-only scan reads the heap too. Past autovacuum's insert trigger the pass vacuums it."""
    if app.engine.dialect.name != "postgresql":
        assert vacuum_inserted_tables(app.engine) == []
        return
    with app.engine.begin() as c:
        c.exec_driver_sql(FILL)
        c.exec_driver_sql("SELECT pg_stat_force_next_flush()")
    assert vacuum_dead_tables(app.engine, quiet=timedelta(0)) == []  # nothing dead
    assert _all_visible_pages(app.engine) == 0
    assert "event_inbox" not in vacuum_inserted_tables(app.engine, min_inserted=10 * ROWS, quiet=timedelta(0))
    assert "event_inbox" in vacuum_inserted_tables(app.engine, quiet=timedelta(0))
    assert _all_visible_pages(app.engine) > 0
    assert "event_inbox" not in vacuum_inserted_tables(app.engine, quiet=timedelta(0))  # none inserted since
