"""The lifecycle page's stored aggregate (migration 0033, ADR 0049): each contact's latest stage change
(``stage_latest``) and the live ones counted by stage, previous stage and UTC day (``stage_totals``).

Database triggers keep both current in the transaction that changes the data they follow — a stage change
(``stage_history`` insert or delete), a merge or unmerge (``contacts.merged_into``), a contact created or
deleted — whoever writes it: the repositories, a bulk import, raw SQL. So the page's numbers are the ones the
old query over every latest change gave, at every moment, not after a refresh.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, and_, func, select

from touchflow.store.tables import stage_latest, stage_totals

__all__ = ["backfill_sql", "drop_sql", "read_totals", "trigger_sql"]

_COLUMNS = "contact_id, history_id, stage, from_stage, at, live"


def _day(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return f"substr({column}, 1, 10)"  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)


def _live(contact: str) -> str:
    return f"CASE WHEN EXISTS (SELECT 1 FROM contacts WHERE id = {contact} AND merged_into IS NULL) THEN 1 ELSE 0 END"


def _latest_of(contact: str) -> str:
    """Re-insert a contact's latest remaining change (after its latest one was deleted)."""
    return (f"INSERT INTO stage_latest ({_COLUMNS}) SELECT h.contact_id, h.id, h.stage, h.from_stage, h.at, "
            f"{_live('h.contact_id')} FROM stage_history h WHERE h.id = (SELECT max(id) FROM stage_history "
            f"WHERE contact_id = {contact}) AND NOT EXISTS (SELECT 1 FROM stage_latest WHERE contact_id = {contact})")


def _upsert_latest() -> str:
    return (f"INSERT INTO stage_latest ({_COLUMNS}) VALUES (NEW.contact_id, NEW.id, NEW.stage, NEW.from_stage, "
            f"NEW.at, {_live('NEW.contact_id')}) ON CONFLICT (contact_id) DO UPDATE SET "
            "history_id = excluded.history_id, stage = excluded.stage, from_stage = excluded.from_stage, "
            "at = excluded.at, live = excluded.live WHERE excluded.history_id > stage_latest.history_id")


def _add(dialect: str, row: str, sign: str) -> str:
    """Add one (sign '+') or take one away (sign '-') from ``row``'s (stage, from stage, day) when it is live."""
    key = f"{row}.stage, COALESCE({row}.from_stage, ''), {_day(dialect, f'{row}.at')}"
    if sign == "+":
        return (f"INSERT INTO stage_totals (stage, from_stage, day, n) SELECT {key}, 1 WHERE {row}.live = 1 "
                "ON CONFLICT (stage, from_stage, day) DO UPDATE SET n = stage_totals.n + 1")
    return (f"UPDATE stage_totals SET n = n - 1 WHERE {row}.live = 1 AND stage = {row}.stage "
            f"AND from_stage = COALESCE({row}.from_stage, '') AND day = {_day(dialect, f'{row}.at')}")


def _set_live(contact: str, live: str) -> str:
    return f"UPDATE stage_latest SET live = {live} WHERE contact_id = {contact} AND live <> {live}"


# (name, table, timing and event, statements); a PostgreSQL trigger runs a function of the same name
_MERGED = "CASE WHEN NEW.merged_into IS NULL THEN 1 ELSE 0 END"


def _triggers(dialect: str) -> list[tuple[str, str, str, list[str]]]:
    return [
        ("stage_history_latest_ins", "stage_history", "AFTER INSERT", [_upsert_latest()]),
        ("stage_history_latest_del", "stage_history", "AFTER DELETE",
         ["DELETE FROM stage_latest WHERE contact_id = OLD.contact_id AND history_id = OLD.id",
          _latest_of("OLD.contact_id")]),
        ("contacts_stage_live_ins", "contacts", "AFTER INSERT", [_set_live("NEW.id", _MERGED)]),
        ("contacts_stage_live_upd", "contacts", "AFTER UPDATE OF merged_into", [_set_live("NEW.id", _MERGED)]),
        ("contacts_stage_live_del", "contacts", "AFTER DELETE", [_set_live("OLD.id", "0")]),
        ("stage_latest_totals_ins", "stage_latest", "AFTER INSERT", [_add(dialect, "NEW", "+")]),
        ("stage_latest_totals_upd", "stage_latest", "AFTER UPDATE",
         [_add(dialect, "OLD", "-"), _add(dialect, "NEW", "+")]),
        ("stage_latest_totals_del", "stage_latest", "AFTER DELETE", [_add(dialect, "OLD", "-")]),
    ]


def trigger_sql(dialect: str) -> list[str]:
    """The triggers, once the tables are filled (``backfill_sql``)."""
    found: list[str] = []
    for name, table, event, statements in _triggers(dialect):
        if dialect == "postgresql":
            body = " ".join(f"{s};" for s in statements)
            result = "OLD" if event.endswith("DELETE") else "NEW"
            found.append(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN "
                         f"{body} RETURN {result}; END $fn$")
            found.append(f"CREATE TRIGGER {name} {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()")
        else:
            body = " ".join(f"{s};" for s in statements)
            found.append(f"CREATE TRIGGER {name} {event} ON {table} FOR EACH ROW BEGIN {body} END")
    return found


def drop_sql(dialect: str) -> list[str]:
    found: list[str] = []
    for name, table, _event, _statements in _triggers(dialect):
        if dialect == "postgresql":
            found += [f"DROP TRIGGER IF EXISTS {name} ON {table}", f"DROP FUNCTION IF EXISTS {name}()"]
        else:
            found.append(f"DROP TRIGGER IF EXISTS {name}")
    return found


def backfill_sql(dialect: str) -> list[str]:
    """Fill both tables from the stored history, set-wise (before the triggers exist)."""
    return [
        f"INSERT INTO stage_latest ({_COLUMNS}) SELECT h.contact_id, h.id, h.stage, h.from_stage, h.at, "
        f"{_live('h.contact_id')} FROM stage_history h "
        "WHERE h.id IN (SELECT max(id) FROM stage_history GROUP BY contact_id)",
        f"INSERT INTO stage_totals (stage, from_stage, day, n) SELECT stage, COALESCE(from_stage, ''), "
        f"{_day(dialect, 'at')}, count(*) FROM stage_latest WHERE live = 1 GROUP BY stage, "
        f"COALESCE(from_stage, ''), {_day(dialect, 'at')}",
    ]


def read_totals(connection: Connection, since: datetime) -> list[tuple[str, str | None, bool, int]]:
    """(stage, from stage, at or after ``since``, live contacts) of the latest changes: whole days from
    ``stage_totals``; the day ``since`` falls in is split exactly by the latest changes of that day alone."""
    since = since.astimezone(UTC)
    day = since.date().isoformat()
    found: dict[tuple[str, str, bool], int] = {}
    t = stage_totals.c
    later = (t.day > day).label("later")
    for r in connection.execute(select(t.stage, t.from_stage, later, func.sum(t.n).label("n"))
                                .group_by(t.stage, t.from_stage, later)):
        key = (r.stage, r.from_stage, bool(r.later))
        found[key] = found.get(key, 0) + int(r.n)
    midnight = datetime(since.year, since.month, since.day, tzinfo=UTC) + timedelta(days=1)
    s = stage_latest.c
    before = func.coalesce(s.from_stage, "")
    partial = (select(s.stage, before.label("from_stage"), func.count().label("n"))
               .where(and_(s.at >= since, s.at < midnight, s.live == 1)).group_by(s.stage, before))
    for r in connection.execute(partial):  # counted above as earlier: move them to the recent side
        found[(r.stage, r.from_stage, False)] = found.get((r.stage, r.from_stage, False), 0) - int(r.n)
        found[(r.stage, r.from_stage, True)] = found.get((r.stage, r.from_stage, True), 0) + int(r.n)
    return [(stage, from_stage or None, recent, n) for (stage, from_stage, recent), n in sorted(found.items())
            if n > 0]
