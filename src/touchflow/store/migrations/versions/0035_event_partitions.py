"""Events partitioned by month on PostgreSQL, the duplicate check in ``event_ids`` (ADR 0054); SQLite unchanged.

The table is rebuilt: the old one is renamed, a partitioned ``events`` with the same columns (primary key
``(id, occurred_at)``) gets a default partition and one partition per month that holds rows (the last ten
years) and for this month and the next two; every row is copied with its ``xact`` (the rollup watermark keeps
its meaning), every id goes to ``event_ids``, and the old table is dropped only when both tables hold the same
number of rows (otherwise the migration fails and its transaction rolls back). Then the indexes, the trigger
that fills the message columns (0024) and the two triggers that keep ``event_ids``.

Revision ID: 0035_event_partitions
Revises: 0034_receipts_rollup
Create Date: 2026-12-06
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import op
from sqlalchemy import Connection

from touchflow.store.partitions import DEFAULT, dedupe_sql, ensure_months, month_of, months_ahead

revision = "0035_event_partitions"
down_revision = "0034_receipts_rollup"
branch_labels = None
depends_on = None

_MSG_TRIGGER = ("CREATE TRIGGER events_msg_columns BEFORE INSERT ON events FOR EACH ROW "
                "EXECUTE FUNCTION events_msg_columns()")
_KEEP_MONTHS = 120  # rows older than this (or later than the months made ahead) go to the default partition


def _index_definitions(c: Connection) -> list[tuple[str, str]]:
    rows = c.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                             "AND tablename = 'events' AND indexname <> 'pk_events' ORDER BY indexname").all()
    return [(str(name), str(sql).replace(" ON ONLY ", " ON ")) for name, sql in rows]


def _count(c: Connection, table: str) -> int:
    return int(c.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def _set_aside(c: Connection, old: str) -> list[tuple[str, str]]:
    """Rename ``events`` to ``old`` and free the names its indexes and key use; the index definitions."""
    indexes = _index_definitions(c)
    c.exec_driver_sql("DROP TRIGGER IF EXISTS events_msg_columns ON events")
    c.exec_driver_sql("DROP TRIGGER IF EXISTS events_dedupe ON events")
    c.exec_driver_sql("DROP TRIGGER IF EXISTS events_forget_id ON events")
    c.exec_driver_sql(f"ALTER TABLE events RENAME TO {old}")
    for name, _ in indexes:
        c.exec_driver_sql(f"DROP INDEX {name}")
    c.exec_driver_sql(f"ALTER TABLE {old} RENAME CONSTRAINT pk_events TO pk_{old}")
    return indexes


def _copy_and_check(c: Connection, old: str) -> None:
    c.exec_driver_sql(f"INSERT INTO events SELECT * FROM {old}")
    kept, had = _count(c, "events"), _count(c, old)
    if kept != had:  # never drop rows: the whole migration rolls back
        raise RuntimeError(f"events: {had} rows before, {kept} after the copy; nothing changed")


def upgrade() -> None:
    c = op.get_bind()
    if c.dialect.name != "postgresql":
        return
    old = "events_unpartitioned"
    indexes = _set_aside(c, old)
    c.exec_driver_sql(f"CREATE TABLE events (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
                      "PARTITION BY RANGE (occurred_at)")
    c.exec_driver_sql("ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY (id, occurred_at)")
    c.exec_driver_sql("ALTER TABLE events ADD CONSTRAINT fk_events_contact_id_contacts FOREIGN KEY (contact_id) "
                      "REFERENCES contacts (id)")
    c.exec_driver_sql(f"CREATE TABLE {DEFAULT} PARTITION OF events DEFAULT")
    ahead = months_ahead(datetime.now(UTC))
    oldest = ahead[0].replace(year=ahead[0].year - _KEEP_MONTHS // 12)
    stored = [month_of(m) for m in c.exec_driver_sql(
        f"SELECT DISTINCT date_trunc('month', occurred_at, 'UTC') FROM {old}").scalars()]
    ensure_months(c, sorted({*ahead, *(m for m in stored if oldest <= m <= ahead[-1])}))
    _copy_and_check(c, old)
    for statement in dedupe_sql()[:3]:  # the table and the functions; triggers after the copy
        c.exec_driver_sql(statement)
    c.exec_driver_sql(f"INSERT INTO event_ids (id) SELECT id FROM {old}")
    c.exec_driver_sql(f"DROP TABLE {old}")
    for _, sql in indexes:
        c.exec_driver_sql(sql)
    c.exec_driver_sql(_MSG_TRIGGER)
    for statement in dedupe_sql()[3:]:
        c.exec_driver_sql(statement)
    c.exec_driver_sql("ANALYZE events")


def downgrade() -> None:
    c = op.get_bind()
    if c.dialect.name != "postgresql":
        return
    old = "events_partitioned"
    indexes = _set_aside(c, old)
    c.exec_driver_sql(f"CREATE TABLE events (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    _copy_and_check(c, old)
    c.exec_driver_sql("ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY (id)")
    c.exec_driver_sql("ALTER TABLE events ADD CONSTRAINT fk_events_contact_id_contacts FOREIGN KEY (contact_id) "
                      "REFERENCES contacts (id)")
    c.exec_driver_sql(f"DROP TABLE {old}")  # and its partitions
    c.exec_driver_sql("DROP TABLE event_ids")
    c.exec_driver_sql("DROP FUNCTION events_dedupe()")
    c.exec_driver_sql("DROP FUNCTION events_forget_id()")
    for _, sql in indexes:
        c.exec_driver_sql(sql)
    c.exec_driver_sql(_MSG_TRIGGER)
