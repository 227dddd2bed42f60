"""Goals (recorded key-result values for the trend), report deliveries and quarterly flow reviews.

Revision ID: 0021_goals_reports
Revises: 0020_experiments
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0021_goals_reports"
down_revision = "0020_experiments"
branch_labels = None
depends_on = None

ID = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "goal_values",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", "day", name="pk_goal_values"),
    )
    op.create_table(
        "report_deliveries",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period_start", sa.String(10), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("recipients", JSONDoc, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "period_start", name="pk_report_deliveries"),
    )
    op.create_table(
        "flow_reviews",
        sa.Column("id", ID, nullable=False),
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("journey_key", sa.String(64), nullable=False),
        sa.Column("quarter", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_flow_reviews"),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], name="fk_flow_reviews_journey_id_journeys"),
        sa.UniqueConstraint("journey_id", "quarter", name="uq_flow_reviews_journey_id_quarter"),
    )
    op.create_index("ix_flow_reviews_quarter", "flow_reviews", ["quarter"])


def downgrade() -> None:
    op.drop_index("ix_flow_reviews_quarter", table_name="flow_reviews")
    op.drop_table("flow_reviews")
    op.drop_table("report_deliveries")
    op.drop_table("goal_values")
