"""Metric rollups counted in SQL (ADR 0033): one GROUP BY per pass over the message columns of ``events`` and
over ``run_steps``, on SQLite and PostgreSQL; and the SQL twin of ``message_columns`` for the migration's
backfill and the trigger that fills rows written around the repository.

Progress is a commit-order sequence, not a time: SQLite's rowid (one writer at a time, so rowids are handed out
in commit order) and on PostgreSQL ``xact``, the id of the transaction that wrote the row. A watermark ``N``
means "every row with sequence < N is counted". On PostgreSQL a pass counts up to the oldest transaction still
running (``pg_snapshot_xmin``), so a long transaction that commits late is counted late, never missed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from touchflow.domain.measurement.metrics_ports import EventGroup, StepGroup
from touchflow.domain.measurement.rollup_columns import AFTER_SEND, MESSAGE_TYPES

__all__ = ["count_events", "count_steps", "events_high", "fill_sql", "steps_high"]


def _in(values: frozenset[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in sorted(values)) + ")"


def _columns_sql(dialect: str, props: str, ident: str, kind: str) -> dict[str, str]:
    """Column → SQL expression of ``message_columns`` over a row's properties, id and type."""
    if dialect == "postgresql":
        def field(name: str) -> str:
            return f"COALESCE({props}->>'{name}', '')"
        msg_id = f"left(COALESCE(NULLIF({props}->>'message_id', ''), {ident}), 64)"
        own = f"jsonb_typeof({props}->'template_version') IS NOT NULL"
        own_value = f"{props}->>'template_version'"
        sent = f"(SELECT s.properties->>'template_version' FROM events s WHERE s.id = 'm_' || {msg_id} || '_sent')"
        cut = "left"
    else:
        def field(name: str) -> str:
            return f"COALESCE(CAST(json_extract({props}, '$.{name}') AS TEXT), '')"
        msg_id = f"substr(COALESCE(NULLIF(CAST(json_extract({props}, '$.message_id') AS TEXT), ''), {ident}), 1, 64)"
        own = f"json_type({props}, '$.template_version') IS NOT NULL"
        own_value = f"CAST(json_extract({props}, '$.template_version') AS TEXT)"
        sent = (f"(SELECT CAST(json_extract(s.properties, '$.template_version') AS TEXT) FROM events s "
                f"WHERE s.id = 'm_' || {msg_id} || '_sent')")
        cut = "substr"

    def trim(expr: str, n: int) -> str:
        return f"left({expr}, {n})" if cut == "left" else f"substr({expr}, 1, {n})"

    version = f"(CASE WHEN {own} THEN {own_value} WHEN {kind} IN {_in(AFTER_SEND)} THEN {sent} END)"
    name = field("template")
    template = f"(CASE WHEN {name} <> '' AND {version} IS NOT NULL THEN {name} || '@' || {version} ELSE {name} END)"
    guardrail = f"COALESCE(NULLIF({field('guardrail')}, ''), 'unknown')"
    reason = f"(CASE WHEN {kind} = 'message_skipped' THEN {trim(guardrail, 64)} ELSE '' END)"
    return {"msg_id": msg_id, "msg_journey": trim(field("journey_id"), 40), "msg_node": trim(field("node_id"), 64),
            "msg_template": trim(template, 200), "msg_channel": trim(field("channel"), 32), "msg_reason": reason}


def fill_sql(dialect: str) -> list[str]:
    """Statements that backfill the message columns of stored events and install the trigger that fills them
    on insert when the writer did not (raw SQL, old tools); the repository fills them itself."""
    types = _in(MESSAGE_TYPES)
    if dialect == "postgresql":
        own = _columns_sql(dialect, "events.properties", "events.id", "events.type")
        new = _columns_sql(dialect, "NEW.properties", "NEW.id", "NEW.type")
        sets = ", ".join(f"{c} = {e}" for c, e in own.items())
        assigns = " ".join(f"NEW.{c} := {e};" for c, e in new.items())
        return [
            f"UPDATE events SET {sets} WHERE type IN {types}",
            "CREATE OR REPLACE FUNCTION events_msg_columns() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN "
            f"IF NEW.msg_id IS NULL AND NEW.type IN {types} THEN {assigns} END IF; RETURN NEW; END $fn$",
            "CREATE TRIGGER events_msg_columns BEFORE INSERT ON events FOR EACH ROW "
            "EXECUTE FUNCTION events_msg_columns()",
        ]
    # qualified: inside the version lookup's subquery a bare ``properties`` would be the sent event's own
    own = _columns_sql(dialect, "events.properties", "events.id", "events.type")
    new = _columns_sql(dialect, "NEW.properties", "NEW.id", "NEW.type")
    sets = ", ".join(f"{c} = {e}" for c, e in own.items())
    new_sets = ", ".join(f"{c} = {e}" for c, e in new.items())
    return [
        f"UPDATE events SET {sets} WHERE type IN {types}",
        f"CREATE TRIGGER events_msg_columns AFTER INSERT ON events FOR EACH ROW "
        f"WHEN NEW.msg_id IS NULL AND NEW.type IN {types} BEGIN "
        f"UPDATE events SET {new_sets} WHERE rowid = NEW.rowid; END",
    ]


# --- the watermark ---------------------------------------------------------------------------------------


def _high(c: Connection, table: str, stamp: str, seq: str, low: int, horizon: datetime) -> int:
    """The sequence up to which (exclusive) rows are settled: committed for good, and none stamped after
    ``horizon`` before it (a row stamped later waits, and so does everything after it)."""
    pg = c.dialect.name == "postgresql"
    if pg:
        top = int(c.exec_driver_sql("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").scalar_one())
        at: Any = horizon
    else:
        top = int(c.exec_driver_sql(f"SELECT COALESCE(max({seq}), 0) + 1 FROM {table}").scalar_one())
        at = horizon.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if top <= low:
        return low
    fresh = c.execute(text(f"SELECT min({seq}) FROM {table} WHERE {seq} >= :low AND {seq} < :top AND {stamp} > :at"),
                      {"low": low, "top": top, "at": at}).scalar()
    return top if fresh is None else int(fresh)


def events_high(c: Connection, low: int, horizon: datetime) -> int:
    return _high(c, "events", "received_at", "xact" if c.dialect.name == "postgresql" else "rowid", low, horizon)


def steps_high(c: Connection, low: int, horizon: datetime) -> int:
    return _high(c, "run_steps", "at", "xact" if c.dialect.name == "postgresql" else "id", low, horizon)


# --- counting --------------------------------------------------------------------------------------------

_EVENT_COUNTS = (("queued", "message_queued"), ("sent", "message_sent"), ("bounced", "message_bounced"),
                 ("opened", "message_opened"), ("clicked", "message_clicked"),
                 ("unsubscribed", "message_unsubscribed"), ("complained", "message_complained"),
                 ("skipped", "message_skipped"))
NO_RECEIPTS = ("email", "onsite")


def _bucket_sql(dialect: str, column: str, quarter: bool) -> str:
    if dialect == "postgresql":
        width = "15 minutes" if quarter else "1 hour"
        return f"date_bin('{width}', {column}, TIMESTAMPTZ '2000-01-01')"
    # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): the hour is a prefix; a quarter adds its first minute
    if quarter:
        return (f"substr({column}, 1, 14) || substr('00153045', "
                f"(CAST(substr({column}, 15, 2) AS INTEGER) / 15) * 2 + 1, 2)")
    return f"substr({column}, 1, 13) || '\\:00'"  # (a backslash: not a bind parameter)


def _bucket_value(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _first_sql(dialect: str, kind: str) -> str:
    """1 when this open (click) is the first of its message: no other counted before the window, and none in
    the window before it in arrival order (received_at, id)."""
    seq = "xact" if dialect == "postgresql" else "rowid"
    return (f"(CASE WHEN e.type = '{kind}' AND NOT EXISTS (SELECT 1 FROM events p WHERE p.msg_id = e.msg_id "
            f"AND p.type = e.type AND p.id <> e.id AND p.{seq} < :high AND (p.{seq} < :first_low "
            f"OR p.received_at < e.received_at OR (p.received_at = e.received_at AND p.id < e.id))) "
            f"THEN 1 ELSE 0 END)")


def count_events(c: Connection, low: int, high: int, *, quarter: bool = False,
                 occurred_from: datetime | None = None) -> Iterator[EventGroup]:
    """Counts of the message events with sequence in [low, high), by UTC hour (``quarter``: quarter hour) and
    the message columns. A rebuild passes ``occurred_from`` (and ``low`` 0): it counts only what occurred
    since, but judges first opens against every event counted."""
    dialect = c.dialect.name
    seq = "xact" if dialect == "postgresql" else "rowid"
    flag = "::int" if dialect == "postgresql" else ""
    sums = [f"sum((e.type = '{t}'){flag}) AS {n}" for n, t in _EVENT_COUNTS]
    receipts = ", ".join(f"'{ch}'" for ch in NO_RECEIPTS)
    delivered = (f"sum(CASE WHEN e.msg_channel IN ({receipts}) THEN (e.type = 'message_sent'){flag} - "
                 f"(e.type = 'message_bounced'){flag} ELSE (e.type = 'message_delivered'){flag} END) AS delivered")
    where = f"e.msg_id IS NOT NULL AND e.{seq} >= :low AND e.{seq} < :high"
    params: dict[str, Any] = {"low": low, "high": high, "first_low": low if occurred_from is None else 0}
    if occurred_from is not None:
        where += " AND e.occurred_at >= :since"
        params["since"] = (occurred_from if dialect == "postgresql"
                           else occurred_from.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds"))
    sql = (f"SELECT {_bucket_sql(dialect, 'e.occurred_at', quarter)} AS bucket, e.msg_journey, e.msg_node, "
           f"e.msg_template, e.msg_channel, e.msg_reason, count(*) AS n, {', '.join(sums)}, {delivered}, "
           f"sum({_first_sql(dialect, 'message_opened')}) AS opened_unique, "
           f"sum({_first_sql(dialect, 'message_clicked')}) AS clicked_unique "
           f"FROM events e WHERE {where} GROUP BY e.msg_journey, e.msg_node, e.msg_template, e.msg_channel, "
           f"e.msg_reason, 1")
    names = [n for n, _ in _EVENT_COUNTS] + ["delivered", "opened_unique", "clicked_unique"]
    for r in c.execute(text(sql), params):
        yield EventGroup(_bucket_value(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6]),
                         {n: int(v or 0) for n, v in zip(names, r[7:], strict=True)})


def count_steps(c: Connection, low: int, high: int, *, quarter: bool = False,
                at_from: datetime | None = None) -> Iterator[StepGroup]:
    """Entries and goals (with the goal's numeric ``amount``) of run steps with sequence in [low, high)."""
    dialect = c.dialect.name
    seq = "xact" if dialect == "postgresql" else "id"
    if dialect == "postgresql":
        amount = ("CASE WHEN s.kind = 'goal' AND jsonb_typeof(s.detail->'amount') = 'number' "
                  "THEN (s.detail->>'amount')::float8 ELSE 0 END")
        flag = "::int"
    else:
        amount = ("CASE WHEN s.kind = 'goal' AND json_type(s.detail, '$.amount') IN ('integer', 'real') "
                  "THEN json_extract(s.detail, '$.amount') ELSE 0 END")
        flag = ""
    where = f"s.kind IN ('entry', 'goal') AND s.{seq} >= :low AND s.{seq} < :high"
    params: dict[str, Any] = {"low": low, "high": high}
    if at_from is not None:
        where += " AND s.at >= :since"
        params["since"] = (at_from if dialect == "postgresql"
                           else at_from.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds"))
    sql = (f"SELECT {_bucket_sql(dialect, 's.at', quarter)} AS bucket, s.journey_id, s.node_id, count(*), "
           f"sum((s.kind = 'entry'){flag}), sum((s.kind = 'goal'){flag}), sum({amount}) "
           f"FROM run_steps s WHERE {where} GROUP BY s.journey_id, s.node_id, 1")
    for r in c.execute(text(sql), params):
        yield StepGroup(_bucket_value(r[0]), r[1], r[2], int(r[3]), int(r[4] or 0), int(r[5] or 0),
                        float(r[6] or 0.0))
