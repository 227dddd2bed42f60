"""Monthly partitions of ``events`` on PostgreSQL (ADR 0054); SQLite keeps one plain table.

``events`` is ``PARTITION BY RANGE (occurred_at)``: one partition per UTC month (``events_p202612``) and a
default partition (``events_default``) for anything outside them, so no insert ever fails. A partitioned table's
unique keys must include the partition key, so the primary key is ``(id, occurred_at)`` and the duplicate check
of ingest moved to ``event_ids (id primary key)``: a ``BEFORE INSERT`` trigger writes the id there in the writing
transaction and drops the row when the id is already stored (what ``ON CONFLICT DO NOTHING`` did), for every
writer (the repository, group commit, imports, raw SQL). A ``BEFORE DELETE`` trigger frees the id again, as a
deleted row freed its primary key; it also fires before the insert half of an update that moves a row to
another month, so such a row keeps its id.

Retention drops whole months: an expired partition is detached (a short lock), its ids are deleted from
``event_ids`` a batch at a time, then the table is dropped. A detached table not yet dropped (a pass that
stopped half-way) is found by its name and finished by the next pass.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import Connection

__all__ = ["AHEAD", "DEFAULT", "PG_ONLY_TABLES", "TABLE", "attached_months", "dedupe_sql", "detach_expired",
           "detached", "drop_detached", "ensure_months", "forget_ids", "is_partition_table", "month_of", "months_ahead",
           "partition_name", "purge_default"]

TABLE = "events"
DEFAULT = "events_default"
AHEAD = 2  # months created ahead of the current one
PG_ONLY_TABLES = ("event_ids",)  # not in the shared metadata: SQLite's ``events`` keeps its primary key
_NAME = re.compile(r"^events_p(\d{4})(\d{2})$")
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('touchflow.events.partitions', 0))"


def month_of(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def _add(month: datetime, n: int) -> datetime:
    index = month.year * 12 + month.month - 1 + n
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def months_ahead(now: datetime, ahead: int = AHEAD) -> list[datetime]:
    first = month_of(now)
    return [_add(first, n) for n in range(ahead + 1)]


def partition_name(month: datetime) -> str:
    return f"events_p{month:%Y%m}"


def _literal(at: datetime) -> str:
    return f"'{at.astimezone(UTC):%Y-%m-%d %H:%M:%S}+00'"


def _month_of_name(name: str) -> datetime | None:
    found = _NAME.match(name)
    return datetime(int(found[1]), int(found[2]), 1, tzinfo=UTC) if found else None


def dedupe_sql() -> list[str]:
    """The ``event_ids`` table and the two triggers that keep it (run by the migration)."""
    return [
        "CREATE TABLE IF NOT EXISTS event_ids (id varchar(64) NOT NULL, CONSTRAINT pk_event_ids PRIMARY KEY (id))",
        "CREATE OR REPLACE FUNCTION events_dedupe() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN "
        "INSERT INTO event_ids (id) VALUES (NEW.id) ON CONFLICT DO NOTHING; "
        "IF NOT FOUND THEN RETURN NULL; END IF; RETURN NEW; END $fn$",
        "CREATE OR REPLACE FUNCTION events_forget_id() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN "
        "DELETE FROM event_ids WHERE id = OLD.id; RETURN OLD; END $fn$",
        # named so that it fires before events_msg_columns (alphabetical): a duplicate costs no column work
        "CREATE TRIGGER events_dedupe BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION events_dedupe()",
        "CREATE TRIGGER events_forget_id BEFORE DELETE ON events FOR EACH ROW EXECUTE FUNCTION events_forget_id()",
    ]


def is_partition_table(name: str) -> bool:
    """A table PostgreSQL has and the shared metadata does not declare: a month, the default, ``event_ids``."""
    return name in PG_ONLY_TABLES or name == DEFAULT or _NAME.match(name) is not None


def _partitions(c: Connection) -> list[str]:
    return [str(r) for r in c.exec_driver_sql(
        "SELECT k.relname FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid "
        "WHERE i.inhparent = 'events'::regclass ORDER BY k.relname").scalars()]


def attached_months(c: Connection) -> list[datetime]:
    return sorted(m for m in (_month_of_name(n) for n in _partitions(c)) if m is not None)


def ensure_months(c: Connection, months: list[datetime]) -> list[str]:
    """Create the partitions of ``months`` that do not exist yet; rows the default partition holds for such a
    month move into it (in this transaction, their ids kept). Returns the partitions created."""
    c.exec_driver_sql(_LOCK)
    have = {*_partitions(c), *detached(c)}  # a detached month not yet dropped keeps its name until it is
    made: list[str] = []
    for month in months:
        name = partition_name(month)
        if name in have:
            continue
        low, high = _literal(month), _literal(_add(month, 1))
        bounds = f"FOR VALUES FROM ({low}) TO ({high})"
        stray = c.exec_driver_sql(f"SELECT 1 FROM {DEFAULT} WHERE occurred_at >= {low} AND occurred_at < {high} "
                                  "LIMIT 1").first()
        if stray is None:
            c.exec_driver_sql(f"CREATE TABLE {name} PARTITION OF events {bounds}")
        else:  # the default partition may not keep rows of a month that gets its own partition: move them
            c.exec_driver_sql(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
            c.exec_driver_sql(f"WITH moved AS (DELETE FROM {DEFAULT} WHERE occurred_at >= {low} AND occurred_at < "
                              f"{high} RETURNING *) INSERT INTO {name} SELECT * FROM moved")
            c.exec_driver_sql(f"ALTER TABLE events ATTACH PARTITION {name} {bounds}")
            # the delete freed their ids (events_forget_id); the rows are stored again, so are their ids
            c.exec_driver_sql(f"INSERT INTO event_ids (id) SELECT id FROM {name} ON CONFLICT DO NOTHING")
        made.append(name)
    return made


def detach_expired(c: Connection, before: datetime) -> list[str]:
    """Detach every monthly partition that ends at or before ``before`` (its rows stop being events now)."""
    c.exec_driver_sql(_LOCK)
    gone = [partition_name(m) for m in attached_months(c) if _add(m, 1) <= before]
    for name in gone:
        c.exec_driver_sql(f"ALTER TABLE events DETACH PARTITION {name}")
    return gone


def detached(c: Connection) -> list[str]:
    """Monthly tables that are no longer partitions of ``events``: detached by retention, not yet dropped."""
    names = c.exec_driver_sql(
        "SELECT k.relname FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace "
        "WHERE n.nspname = current_schema() AND k.relkind = 'r' AND starts_with(k.relname, 'events_p') "
        "AND NOT k.relispartition ORDER BY k.relname").scalars()
    return [str(n) for n in names if _NAME.match(str(n))]


def forget_ids(c: Connection, table: str, after: str, limit: int) -> str | None:
    """Delete from ``event_ids`` the next ``limit`` ids of a detached table (by id, after ``after``); the last
    id handled, or None when there were none left."""
    if not _NAME.match(table):
        raise ValueError(f"not a monthly events table: {table!r}")
    ids = [str(i) for i in c.exec_driver_sql(
        f"SELECT id FROM {table} WHERE id > %(after)s ORDER BY id LIMIT %(limit)s",
        {"after": after, "limit": limit}).scalars()]
    if not ids:
        return None
    c.exec_driver_sql("DELETE FROM event_ids WHERE id = ANY(%(ids)s)", {"ids": ids})
    return ids[-1]


def drop_detached(c: Connection, table: str) -> int:
    """Drop a detached monthly table (its ids already forgotten); the rows it held."""
    if table not in detached(c):
        raise ValueError(f"not a detached monthly events table: {table!r}")
    rows = int(c.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
    c.exec_driver_sql(f"DROP TABLE {table}")
    return rows


def purge_default(c: Connection, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` rows older than ``before`` from the default partition (events outside every
    month that has a partition); their ids are freed by the delete trigger."""
    return int(c.exec_driver_sql(
        f"DELETE FROM {DEFAULT} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {DEFAULT} WHERE occurred_at < %(before)s "
        "LIMIT %(limit)s))", {"before": before, "limit": limit}).rowcount or 0)
