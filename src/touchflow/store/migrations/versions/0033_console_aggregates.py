"""Console at 1M contacts: the lifecycle page's stored aggregate (ADR 0049).

``stage_latest`` holds each contact's latest stage change and ``stage_totals`` counts the live ones by stage,
previous stage and UTC day; triggers (``store/stage_totals_sql.py``) keep both current in the writing
transaction. Filled here from the stored history, set-wise, before the triggers exist.

Revision ID: 0033_console_aggregates
Revises: 0032_console_scale
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.stage_totals_sql import backfill_sql, drop_sql, trigger_sql
from touchflow.store.types import UTCDateTime

revision = "0033_console_aggregates"
down_revision = "0032_console_scale"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "stage_latest",
        sa.Column("contact_id", sa.String(40), nullable=False),
        sa.Column("history_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("from_stage", sa.String(32), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("live", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("contact_id", name="pk_stage_latest"),
    )
    op.create_table(
        "stage_totals",
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("from_stage", sa.String(32), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("stage", "from_stage", "day", name="pk_stage_totals"),
    )
    for statement in backfill_sql(dialect):
        op.execute(statement)
    op.create_index("ix_stage_latest_at", "stage_latest", ["at"])
    for statement in trigger_sql(dialect):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_sql(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_index("ix_stage_latest_at", table_name="stage_latest")
    op.drop_table("stage_totals")
    op.drop_table("stage_latest")
