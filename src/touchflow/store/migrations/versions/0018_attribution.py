"""Attribution of revenue to touches, channel costs, control groups (holdouts).

Channel costs and the attribution window are a workspace setting (``workspace_settings``, key ``attribution``);
this revision adds the control groups: one row per journey version that holds entrants out, and each run's arm.

Revision ID: 0018_attribution
Revises: 0017_metrics
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import UTCDateTime

revision = "0018_attribution"
down_revision = "0017_metrics"
branch_labels = None
depends_on = None

ID = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "holdouts",
        sa.Column("id", ID, nullable=False),
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], name="fk_holdouts_journey_id_journeys"),
        sa.PrimaryKeyConstraint("id", name="pk_holdouts"),
    )
    op.create_index("ix_holdouts_journey_id_version", "holdouts", ["journey_id", "version"], unique=True)
    op.create_table(
        "holdout_runs",
        sa.Column("run_id", ID, nullable=False),
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("held_out", sa.Boolean(), nullable=False),
        sa.Column("entered_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_holdout_runs"),
    )
    op.create_index("ix_holdout_runs_journey_id_version_held_out", "holdout_runs",
                    ["journey_id", "version", "held_out"])


def downgrade() -> None:
    op.drop_index("ix_holdout_runs_journey_id_version_held_out", table_name="holdout_runs")
    op.drop_table("holdout_runs")
    op.drop_index("ix_holdouts_journey_id_version", table_name="holdouts")
    op.drop_table("holdouts")
