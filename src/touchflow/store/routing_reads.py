"""The router's hot reads through the driver: inbox rows, runs of contacts, event properties.

Every routing batch reads a thousand inbox rows, the runs of their contacts and the properties of their events.
Through SQLAlchemy each row's times went through ``UTCDateTime`` (and SQLite's own date parsing) and each JSON
document through the ``JSON`` type, and every ``IN`` list was compiled anew: in a profile of ``route_events``
that was more than the work on the rows. Here the same statements go to the driver, and the values become what
the column types would give: aware UTC datetimes, decoded JSON (ADR 0059).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from touchflow.domain.journeys.ports import InboxEvent
from touchflow.domain.journeys.transitions import Run

__all__ = ["RUN_COLUMNS", "delete_inbox_rows", "inbox_rows", "json_doc", "run_of", "run_rows", "stored_properties",
           "utc"]

RUN_COLUMNS = ("id", "journey_id", "version", "contact_id", "node_id", "status", "entered_at", "wake_at",
               "waiting_for", "waiting_since", "timeout_at", "step_no", "attempts", "error", "entry_key",
               "entry_data")
_CHUNK = 500


def utc(value: Any) -> datetime | None:
    """A stored time as ``UTCDateTime`` reads it: SQLite's text (naive UTC) or PostgreSQL's aware value."""
    if value is None:
        return None
    if isinstance(value, str):
        value = _parse(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_parse = datetime.fromisoformat


def _rows(c: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """All rows of a read, as the driver's tuples (no result processing, no ``Row`` per row)."""
    cursor = c.connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def json_doc(value: Any) -> Any:
    """A stored JSON document as the ``JSON`` type reads it (psycopg decodes JSONB itself; SQLite gives text)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _is_pg(c: Connection) -> bool:
    return c.dialect.name == "postgresql"


def _in(c: Connection, column: str, chunk: Sequence[Any]) -> tuple[str, list[Any]]:
    """``column`` is one of ``chunk``, as SQL text and driver parameters."""
    if _is_pg(c):
        return f"{column} = ANY(%s)", [list(chunk)]
    return f"{column} IN ({', '.join('?' * len(chunk))})", list(chunk)


# The head's rows are picked and row-locked first, then the contact lock is tried on those alone (as
# ``store/claims.py``): with the lock as a filter of the scan, a plan made while the inbox was nearly empty (a
# sort of a sequential scan, cached by the connection's prepared statement) tried it on every row of the inbox,
# and behind a backlog of 40,000 rows PostgreSQL's lock table ran out ("out of shared memory") in a soak.
_PG_HEAD = ("WITH picked AS MATERIALIZED (SELECT seq, contact_id FROM event_inbox ORDER BY seq LIMIT %s "
            "FOR UPDATE SKIP LOCKED), "
            "locked AS MATERIALIZED (SELECT seq FROM picked WHERE pg_try_advisory_xact_lock(hashtextextended("
            "contact_id, 0))) "
            "SELECT i.seq, i.event_id, i.contact_id, i.type, i.occurred_at, i.received_at "
            "FROM event_inbox i JOIN locked ON locked.seq = i.seq ORDER BY i.seq")


def inbox_rows(c: Connection, limit: int) -> list[InboxEvent]:
    """The inbox's head; on PostgreSQL locked (rows and their contacts) against other workers (ADR 0005). A row
    whose contact another worker holds stays locked by this transaction, unclaimed, until it ends."""
    if _is_pg(c):
        sql = _PG_HEAD
    else:
        sql = "SELECT seq, event_id, contact_id, type, occurred_at, received_at FROM event_inbox ORDER BY seq LIMIT ?"
    found: list[InboxEvent] = []
    for seq, event_id, contact_id, kind, occurred_at, received_at in _rows(c, sql, (limit,)):
        occurred = utc(occurred_at)
        received = utc(received_at)
        assert occurred is not None and received is not None
        found.append(InboxEvent(event_id, contact_id, kind, occurred, received, seq))
    return found


def delete_inbox_rows(c: Connection, seqs: Sequence[int]) -> None:
    """Remove routed inbox rows."""
    for start in range(0, len(seqs), _CHUNK):
        who, params = _in(c, "seq", seqs[start:start + _CHUNK])
        c.exec_driver_sql(f"DELETE FROM event_inbox WHERE {who}", tuple(params))


def run_rows(c: Connection, contact_ids: Sequence[str], lock: bool) -> Iterator[tuple[Any, ...]]:
    """Rows (``RUN_COLUMNS``) of every run of these contacts, by entry time then id within each chunk of
    contacts; ``lock``: PostgreSQL locks them for the transaction (live runs about to move)."""
    pg = _is_pg(c)
    for start in range(0, len(contact_ids), _CHUNK):
        who, params = _in(c, "contact_id", contact_ids[start:start + _CHUNK])
        sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM journey_runs WHERE {who} ORDER BY entered_at, id"
        if pg and lock:
            sql += " FOR UPDATE OF journey_runs"
        yield from _rows(c, sql, params)


def run_of(row: Sequence[Any]) -> Run:
    """A ``run_rows`` row as the domain's run."""
    (run_id, journey_id, version, contact_id, node_id, status, entered_at, wake_at, waiting_for, waiting_since,
     timeout_at, step_no, attempts, error, entry_key, entry_data) = row
    entered = utc(entered_at)
    assert entered is not None
    return Run(id=run_id, journey_id=journey_id, version=version, contact_id=contact_id, node_id=node_id,
               status=status, entered_at=entered, wake_at=utc(wake_at),
               waiting_for=tuple(waiting_for.split(",")) if waiting_for else (), waiting_since=utc(waiting_since),
               timeout_at=utc(timeout_at), step_no=step_no, attempts=attempts, error=error, entry_key=entry_key,
               entry_data=json_doc(entry_data))


def stored_properties(c: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The properties of these stored events (``{}`` for none), by event id."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        who, params = _in(c, "id", ids[start:start + _CHUNK])
        for event_id, props in _rows(c, f"SELECT id, properties FROM events WHERE {who}", params):
            found[event_id] = json_doc(props) or {}
    return found
