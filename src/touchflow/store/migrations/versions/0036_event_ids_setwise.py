"""PostgreSQL: the per-row triggers on ``events`` fire only when they have work (ADR 0054, "Costs").

``events_dedupe`` is skipped while the repository has already claimed the batch's ids in ``event_ids`` with one
set-wise statement (the transaction-local setting ``touchflow.event_ids_claimed``); every other writer (raw SQL,
old tools) still goes through it. ``events_msg_columns`` fires only for rows whose message columns are empty
and whose type starts with ``message_``; its body checks the exact types. SQLite unchanged.

Revision ID: 0036_event_ids_setwise
Revises: 0035_event_partitions
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0036_event_ids_setwise"
down_revision = "0035_event_partitions"
branch_labels = None
depends_on = None


def _replace(dedupe_when: str, columns_when: str) -> None:
    op.execute("DROP TRIGGER IF EXISTS events_dedupe ON events")
    op.execute(f"CREATE TRIGGER events_dedupe BEFORE INSERT ON events FOR EACH ROW {dedupe_when}"
               "EXECUTE FUNCTION events_dedupe()")
    op.execute("DROP TRIGGER IF EXISTS events_msg_columns ON events")
    op.execute(f"CREATE TRIGGER events_msg_columns BEFORE INSERT ON events FOR EACH ROW {columns_when}"
               "EXECUTE FUNCTION events_msg_columns()")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _replace("WHEN (current_setting('touchflow.event_ids_claimed', true) IS DISTINCT FROM 'on') ",
             # a superset of the function's own test (its exact list of message types), which it still makes
             "WHEN (NEW.msg_id IS NULL AND NEW.type LIKE 'message\\_%') ")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _replace("", "")
