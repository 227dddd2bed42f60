"""Metric rollups counted in SQL (ADR 0033): one GROUP BY per pass over the message columns of ``events`` and
over ``run_steps``, on SQLite and PostgreSQL; and the SQL twin of ``message_columns`` for the migration's
backfill and the trigger that fills rows written around the repository.

Progress is a commit-order sequence, not a time: SQLite's rowid (one writer at a time, so rowids are handed out
in commit order) and on PostgreSQL ``xact``, the id of the transaction that wrote the row. A watermark ``N``
means "every row with sequence < N is counted". On PostgreSQL a pass counts up to the oldest transaction still
running (``pg_snapshot_xmin``), so a long transaction that commits late is counted late, never missed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from touchflow.domain.measurement.local_days import QUARTER, offset_spans
from touchflow.domain.measurement.metrics_ports import EventGroup, StepGroup, Window
from touchflow.domain.measurement.rollup_columns import AFTER_SEND, MESSAGE_TYPES

__all__ = ["count_events", "count_steps", "fill_sql", "window"]


def _in(values: frozenset[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in sorted(values)) + ")"


def _columns_sql(dialect: str, props: str, ident: str, kind: str, occurred: str) -> dict[str, str]:
    """Column → SQL expression of ``message_columns`` over a row's properties, id, type and occurrence."""
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
            "msg_template": trim(template, 200), "msg_channel": trim(field("channel"), 32), "msg_reason": reason,
            "msg_bucket": _quarter_sql(dialect, occurred)}


def _quarter_sql(dialect: str, column: str) -> str:
    """``local_days.quarter_of`` in SQL: the UTC quarter hour (epoch seconds // 900)."""
    if dialect == "postgresql":
        return f"floor(extract(epoch FROM {column}) / {QUARTER})::bigint"
    return f"(CAST(strftime('%s', {column}) AS INTEGER) / {QUARTER})"


def fill_sql(dialect: str) -> list[str]:
    """Statements that backfill the message columns of stored events and install the trigger that fills them
    on insert when the writer did not (raw SQL, old tools); the repository fills them itself."""
    types = _in(MESSAGE_TYPES)
    if dialect == "postgresql":
        own = _columns_sql(dialect, "events.properties", "events.id", "events.type", "events.occurred_at")
        new = _columns_sql(dialect, "NEW.properties", "NEW.id", "NEW.type", "NEW.occurred_at")
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
    own = _columns_sql(dialect, "events.properties", "events.id", "events.type", "events.occurred_at")
    new = _columns_sql(dialect, "NEW.properties", "NEW.id", "NEW.type", "NEW.occurred_at")
    sets = ", ".join(f"{c} = {e}" for c, e in own.items())
    new_sets = ", ".join(f"{c} = {e}" for c, e in new.items())
    return [
        f"UPDATE events SET {sets} WHERE type IN {types}",
        f"CREATE TRIGGER events_msg_columns AFTER INSERT ON events FOR EACH ROW "
        f"WHEN NEW.msg_id IS NULL AND NEW.type IN {types} BEGIN "
        f"UPDATE events SET {new_sets} WHERE rowid = NEW.rowid; END",
    ]


# --- the watermark ---------------------------------------------------------------------------------------


_SEQ = {("events", False): "rowid", ("events", True): "xact", ("run_steps", False): "id", ("run_steps", True): "xact"}
_STAMP = {"events": "received_at", "run_steps": "at"}


def window(c: Connection, table: str, low: int, pending: Sequence[int], horizon: datetime) -> Window:
    """What a pass may count after ``low``: committed rows, up to the first one stamped after ``horizon`` (it
    and everything after it wait). PostgreSQL: up to the next transaction id, leaving out the transactions
    still open (they come back as ``carry``, and are counted by the pass that finds them finished)."""
    pg = c.dialect.name == "postgresql"
    seq = _SEQ[table, pg]
    running: set[int] = set()
    if pg:
        top, xip = c.exec_driver_sql(
            "SELECT pg_snapshot_xmax(s)::text::bigint, ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) x) "
            "FROM pg_current_snapshot() s").one()
        top, running = int(top), {int(x) for x in xip}
    else:
        top = int(c.exec_driver_sql(f"SELECT COALESCE(max({seq}), 0) + 1 FROM {table}").scalar_one())
    high = low
    if top > low:
        fresh = c.execute(text(f"SELECT min({seq}) FROM {table} WHERE {seq} >= :low AND {seq} < :top "
                               f"AND {_STAMP[table]} > :at"), {"low": low, "top": top, "at": _stamp(pg, horizon)})
        first_fresh = fresh.scalar()
        high = top if first_fresh is None else int(first_fresh)
    skip = tuple(sorted(x for x in running if low <= x < high))
    extra = tuple(sorted(x for x in pending if x not in running))
    carry = tuple(sorted({*(x for x in pending if x in running), *skip}))
    return Window(low, max(high, low), skip, extra, low, tuple(sorted(pending)), carry)


def _in_window(pg: bool, alias: str, seq: str, w: Window, prefix: str, params: dict[str, Any]) -> str:
    """SQL: the row ``alias`` is in window ``w`` (parameters named with ``prefix``)."""
    params.update({f"{prefix}low": w.low, f"{prefix}high": w.high})
    sql = f"({alias}.{seq} >= :{prefix}low AND {alias}.{seq} < :{prefix}high"
    if pg and w.skip:
        params[f"{prefix}skip"] = list(w.skip)
        sql += f" AND {alias}.{seq} <> ALL(CAST(:{prefix}skip AS bigint[]))"
    sql += ")"
    if pg and w.extra:
        params[f"{prefix}extra"] = list(w.extra)
        sql = f"({sql} OR {alias}.{seq} = ANY(CAST(:{prefix}extra AS bigint[])))"
    return sql


def _counted_before(pg: bool, alias: str, seq: str, w: Window, params: dict[str, Any]) -> str:
    params["counted_low"] = w.counted_low
    sql = f"{alias}.{seq} < :counted_low"
    if pg and w.uncounted:
        params["uncounted"] = list(w.uncounted)
        sql += f" AND {alias}.{seq} <> ALL(CAST(:uncounted AS bigint[]))"
    return f"({sql})"


# --- counting --------------------------------------------------------------------------------------------

_EVENT_COUNTS = (("queued", "message_queued"), ("sent", "message_sent"), ("bounced", "message_bounced"),
                 ("opened", "message_opened"), ("clicked", "message_clicked"),
                 ("unsubscribed", "message_unsubscribed"), ("complained", "message_complained"),
                 ("skipped", "message_skipped"))
_COUNTERS = (*(n for n, _ in _EVENT_COUNTS), "delivered", "opened_unique", "clicked_unique", "receipts")
NO_RECEIPTS = ("email", "onsite")


def _day_sql(dialect: str, quarter: str, zone: ZoneInfo) -> str:
    """The local day (YYYY-MM-DD) of a UTC quarter hour: its offset found by a binary tree of comparisons."""
    spans = offset_spans(zone)

    def offset(lo: int, hi: int) -> str:
        if hi - lo == 1:
            return str(spans[lo][1])
        middle = (lo + hi) // 2
        return f"CASE WHEN {quarter} < {spans[middle][0]} THEN {offset(lo, middle)} ELSE {offset(middle, hi)} END"

    seconds = f"({quarter} * {QUARTER} + ({offset(0, len(spans))}))"
    if dialect == "postgresql":
        return f"to_char(to_timestamp({seconds}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return f"date({seconds}, 'unixepoch')"


def _stamp(pg: bool, at: datetime) -> Any:
    return at if pg else at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def count_events(c: Connection, w: Window, zone: ZoneInfo, *, occurred_from: datetime | None = None,
                 types: Sequence[str] | None = None) -> Iterator[EventGroup]:
    """Counts of the message events in window ``w``, by local day and message columns. A rebuild passes
    ``occurred_from``: it counts only what occurred since, but judges first opens against every event counted;
    ``types`` counts those event types only (migration 0034 backfills the receipts with it).

    The inner query groups by the columns of ``ix_events_rollup`` in its order (journey … quarter hour, type),
    so a full count reads that index once without sorting; the outer one turns quarters into days and types
    into counters over the few rows left. An open (click) is its message's first when no other one was counted
    before the window, nor comes before it in the window in arrival order (received_at, id)."""
    dialect = c.dialect.name
    pg = dialect == "postgresql"
    seq = "xact" if pg else "rowid"
    # SQLite: a full count walks the covering index in GROUP BY order; a window is a rowid range
    hint = " INDEXED BY ix_events_rollup" if w.low == 0 and not pg else ""
    params: dict[str, Any] = {}
    where = f"e.msg_id IS NOT NULL AND {_in_window(pg, 'e', seq, w, 'e_', params)}"
    before = _counted_before(pg, "p", seq, w, params)
    earlier = (f"({_in_window(pg, 'p', seq, w, 'p_', params)} AND (p.received_at < e.received_at "
               f"OR (p.received_at = e.received_at AND p.id < e.id)))")
    first = (f"CASE WHEN e.type IN ('message_opened', 'message_clicked') AND NOT EXISTS (SELECT 1 FROM events p "
             f"WHERE p.msg_id = e.msg_id AND p.type = e.type AND ({before} OR {earlier})) THEN 1 ELSE 0 END")
    if occurred_from is not None:
        where += " AND e.occurred_at >= :since"
        params["since"] = _stamp(pg, occurred_from)
    if types is not None:
        where += f" AND e.type IN {_in(frozenset(types))}"
    keys = "e.msg_journey, e.msg_node, e.msg_template, e.msg_channel, e.msg_reason, e.msg_bucket, e.type"
    inner = (f"SELECT {keys}, count(*) AS n, sum({first}) AS firsts FROM events e{hint} WHERE {where} "
             f"GROUP BY {keys}")

    def of(kind: str, column: str = "n") -> str:
        return f"sum(CASE WHEN g.type = '{kind}' THEN g.{column} ELSE 0 END)"

    no_receipts = ", ".join(f"'{ch}'" for ch in NO_RECEIPTS)
    delivered = (f"sum(CASE WHEN g.msg_channel IN ({no_receipts}) THEN (CASE g.type WHEN 'message_sent' THEN g.n "
                 f"WHEN 'message_bounced' THEN -g.n ELSE 0 END) WHEN g.type = 'message_delivered' THEN g.n ELSE 0 END)")
    sql = (f"SELECT {_day_sql(dialect, 'g.msg_bucket', zone)} AS day, g.msg_journey, g.msg_node, g.msg_template, "
           f"g.msg_channel, g.msg_reason, sum(g.n), {', '.join(of(t) for _, t in _EVENT_COUNTS)}, {delivered}, "
           f"{of('message_opened', 'firsts')}, {of('message_clicked', 'firsts')}, {of('message_delivered')} "
           f"FROM ({inner}) g "
           f"GROUP BY 1, g.msg_journey, g.msg_node, g.msg_template, g.msg_channel, g.msg_reason")
    for r in c.execute(text(sql), params):
        yield EventGroup(str(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6]),
                         {n: int(v or 0) for n, v in zip(_COUNTERS, r[7:], strict=True)})


def count_steps(c: Connection, w: Window, zone: ZoneInfo, *,
                at_from: datetime | None = None) -> Iterator[StepGroup]:
    """Entries and goals (with the goal's numeric ``amount``) of the run steps in window ``w``."""
    dialect = c.dialect.name
    pg = dialect == "postgresql"
    seq = "xact" if pg else "id"
    if pg:
        amount = ("CASE WHEN s.kind = 'goal' AND jsonb_typeof(s.detail->'amount') = 'number' "
                  "THEN (s.detail->>'amount')::float8 ELSE 0 END")
        flag = "::int"
    else:
        amount = ("CASE WHEN s.kind = 'goal' AND json_type(s.detail, '$.amount') IN ('integer', 'real') "
                  "THEN json_extract(s.detail, '$.amount') ELSE 0 END")
        flag = ""
    params: dict[str, Any] = {}
    where = f"s.kind IN ('entry', 'goal') AND {_in_window(pg, 's', seq, w, 's_', params)}"
    if at_from is not None:
        where += " AND s.at >= :since"
        params["since"] = _stamp(pg, at_from)
    inner = (f"SELECT s.journey_id, s.node_id, {_quarter_sql(dialect, 's.at')} AS q, count(*) AS n, "
             f"sum((s.kind = 'entry'){flag}) AS entered, sum((s.kind = 'goal'){flag}) AS converted, "
             f"sum({amount}) AS revenue FROM run_steps s WHERE {where} GROUP BY 1, 2, 3")
    sql = (f"SELECT {_day_sql(dialect, 'g.q', zone)} AS day, g.journey_id, g.node_id, sum(g.n), sum(g.entered), "
           f"sum(g.converted), sum(g.revenue) FROM ({inner}) g GROUP BY 1, 2, 3")
    for r in c.execute(text(sql), params):
        yield StepGroup(str(r[0]), r[1], r[2], int(r[3]), int(r[4] or 0), int(r[5] or 0), float(r[6] or 0.0))
