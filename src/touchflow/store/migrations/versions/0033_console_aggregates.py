"""Console at 1M contacts: the lifecycle page's stored aggregate and stored duplicate suggestions (ADR 0049).

``stage_latest`` holds each contact's latest stage change and ``stage_totals`` counts the live ones by stage,
previous stage and UTC day; triggers (``store/stage_totals_sql.py``) keep both current in the writing
transaction. Filled here from the stored history, set-wise, before the triggers exist.

``duplicate_keys`` / ``duplicate_pairs`` hold blocking keys and suggested pairs; triggers queue changed contacts
in ``duplicate_dirty`` (``store/duplicate_sql.py``). Every live contact is queued here: names may be encrypted,
so the first comparison is the worker's (``services/duplicate_index.py``), not SQL's.

Revision ID: 0033_console_aggregates
Revises: 0032_console_scale
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store import duplicate_sql, stage_totals_sql
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
    for statement in stage_totals_sql.backfill_sql(dialect):
        op.execute(statement)
    op.create_index("ix_stage_latest_at", "stage_latest", ["at"])
    for statement in stage_totals_sql.trigger_sql(dialect):
        op.execute(statement)
    _duplicates(dialect)


def _duplicates(dialect: str) -> None:
    contact = sa.String(40)
    ordered = sa.String(40).with_variant(sa.String(40, collation="C"), "postgresql")
    op.create_table("duplicate_dirty", sa.Column("contact_id", contact, nullable=False),
                    sa.PrimaryKeyConstraint("contact_id", name="pk_duplicate_dirty"))
    op.create_table(
        "duplicate_keys",
        sa.Column("contact_id", contact, nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("name_key", sa.String(64), nullable=False),
        sa.Column("name_len", sa.Integer(), nullable=False),
        sa.Column("company", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("contact_id", name="pk_duplicate_keys"),
    )
    op.create_index("ix_duplicate_keys_city_name_key", "duplicate_keys", ["city", "name_key"])
    op.create_index("ix_duplicate_keys_city_name_len", "duplicate_keys", ["city", "name_len"])
    op.create_table(
        "duplicate_pairs",
        sa.Column("first", ordered, nullable=False),
        sa.Column("second", ordered, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("name_score", sa.Float(), nullable=False),
        sa.Column("company_score", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(400), nullable=False),
        sa.PrimaryKeyConstraint("first", "second", name="pk_duplicate_pairs"),
    )
    op.create_index("ix_duplicate_pairs_second", "duplicate_pairs", ["second"])
    op.create_index("ix_duplicate_pairs_rank_first_second", "duplicate_pairs", ["rank", "first", "second"])
    for statement in duplicate_sql.backfill_sql() + duplicate_sql.trigger_sql(dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in duplicate_sql.drop_sql(dialect) + stage_totals_sql.drop_sql(dialect):
        op.execute(statement)
    for table in ("duplicate_pairs", "duplicate_keys", "duplicate_dirty"):
        op.drop_table(table)
    op.drop_index("ix_stage_latest_at", table_name="stage_latest")
    op.drop_table("stage_totals")
    op.drop_table("stage_latest")
