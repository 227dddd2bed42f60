"""Rollups counted in SQL (ADR 0033): message dimensions as columns of ``events``, filled for stored rows and
by a trigger for rows written around the repository; ``xact`` (PostgreSQL) as the commit-order watermark.

The rollup watermark changes meaning (a sequence, not a time): the first refresh after this migration finds
the old cursor and recounts every rollup row from the raw rows.

Revision ID: 0024_rollup_columns
Revises: 0023_workspace_holdout
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.rollup_sql import fill_sql

revision = "0024_rollup_columns"
down_revision = "0023_workspace_holdout"
branch_labels = None
depends_on = None

_COLUMNS = (("msg_id", 64), ("msg_journey", 40), ("msg_node", 64), ("msg_template", 200), ("msg_channel", 32),
            ("msg_reason", 64))
_XACT = "pg_current_xact_id()::text::bigint"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    pg = dialect == "postgresql"
    for name, length in _COLUMNS:
        op.add_column("events", sa.Column(name, sa.String(length), nullable=True))
    op.add_column("events", sa.Column("msg_bucket", sa.BigInteger(), nullable=True))
    for table in ("events", "run_steps"):  # existing rows: the migration's own transaction (all settled)
        op.add_column(table, sa.Column("xact", sa.BigInteger(), nullable=True,
                                       server_default=sa.text(_XACT) if pg else None))
    for statement in fill_sql(dialect):
        op.execute(statement)
    messages = sa.text("msg_id IS NOT NULL")
    op.create_index("ix_events_rollup", "events", ["msg_journey", "msg_node", "msg_template", "msg_channel",
                                                   "msg_reason", "msg_bucket", "type", "msg_id", "received_at"],
                    sqlite_where=messages, postgresql_where=messages, postgresql_include=["id", "xact"])
    op.create_index("ix_events_msg_first", "events", ["msg_id", "type", "received_at", "id"], sqlite_where=messages,
                    postgresql_where=messages, postgresql_include=["xact"])
    op.create_index("ix_events_xact", "events", ["xact"], sqlite_where=sa.text("xact IS NOT NULL"))
    op.create_index("ix_run_steps_xact", "run_steps", ["xact"], sqlite_where=sa.text("xact IS NOT NULL"))


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.execute("DROP TRIGGER IF EXISTS events_msg_columns" + (" ON events" if pg else ""))
    if pg:
        op.execute("DROP FUNCTION IF EXISTS events_msg_columns()")
    for index, table in (("ix_run_steps_xact", "run_steps"), ("ix_events_xact", "events"),
                         ("ix_events_msg_first", "events"), ("ix_events_rollup", "events")):
        op.drop_index(index, table_name=table)
    with op.batch_alter_table("run_steps") as batch:
        batch.drop_column("xact")
    with op.batch_alter_table("events") as batch:
        for name in ("xact", "msg_bucket", *reversed([n for n, _ in _COLUMNS])):
            batch.drop_column(name)
