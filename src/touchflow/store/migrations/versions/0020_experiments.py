"""Experiments bound to splits or journey versions: arms, assignments, analyses, roll-outs.

Revision ID: 0020_experiments
Revises: 0019_alerts
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0020_experiments"
down_revision = "0019_alerts"
branch_labels = None
depends_on = None


ID = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("split_node", sa.String(64), nullable=False),
        sa.Column("spec", JSONDoc, nullable=False),
        sa.Column("plan", JSONDoc, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("winner", sa.String(40), nullable=True),
        sa.Column("rolled_out_version", sa.Integer(), nullable=True),
        sa.Column("last_analysis", JSONDoc, nullable=True),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], name="fk_experiments_journey_id_journeys"),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
        sa.UniqueConstraint("key", name="uq_experiments_key"),
    )
    op.create_index("ix_experiments_journey_id", "experiments", ["journey_id"])


def downgrade() -> None:
    op.drop_index("ix_experiments_journey_id", table_name="experiments")
    op.drop_table("experiments")
