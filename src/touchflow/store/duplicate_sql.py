"""Triggers that queue a contact for the stored duplicate suggestions (migration 0033, ADR 0049) when it is created,
deleted, merged or unmerged, or its name, company or city changes — whoever writes it."""

from __future__ import annotations

__all__ = ["backfill_sql", "drop_sql", "trigger_sql"]

_WATCHED = ("name", "name_ct", "company", "city", "merged_into")
_TRIGGERS = (("contacts_dup_ins", "AFTER INSERT", "NEW"), ("contacts_dup_upd", "AFTER UPDATE", "NEW"),
             ("contacts_dup_del", "AFTER DELETE", "OLD"))


def _queue(row: str) -> str:
    return f"INSERT INTO duplicate_dirty (contact_id) VALUES ({row}.id) ON CONFLICT (contact_id) DO NOTHING"


def trigger_sql(dialect: str) -> list[str]:
    found: list[str] = []
    for name, event, row in _TRIGGERS:
        changed = ""
        if event == "AFTER UPDATE":
            op = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
            changed = " OR ".join(f"OLD.{c} {op} NEW.{c}" for c in _WATCHED)
        if dialect == "postgresql":
            found.append(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN "
                         f"{_queue(row)}; RETURN {row}; END $fn$")
            when = f" WHEN ({changed})" if changed else ""
            found.append(f"CREATE TRIGGER {name} {event} ON contacts FOR EACH ROW{when} EXECUTE FUNCTION {name}()")
        else:
            when = f" WHEN {changed}" if changed else ""
            found.append(f"CREATE TRIGGER {name} {event} ON contacts FOR EACH ROW{when} BEGIN {_queue(row)}; END")
    return found


def drop_sql(dialect: str) -> list[str]:
    found: list[str] = []
    for name, _event, _row in _TRIGGERS:
        if dialect == "postgresql":
            found += [f"DROP TRIGGER IF EXISTS {name} ON contacts", f"DROP FUNCTION IF EXISTS {name}()"]
        else:
            found.append(f"DROP TRIGGER IF EXISTS {name}")
    return found


def backfill_sql() -> list[str]:
    """Every live contact with a name and a city waits for its first comparison (the worker's pass)."""
    return ["INSERT INTO duplicate_dirty (contact_id) SELECT id FROM contacts WHERE merged_into IS NULL "
            "AND city IS NOT NULL AND (name IS NOT NULL OR name_ct IS NOT NULL)"]
