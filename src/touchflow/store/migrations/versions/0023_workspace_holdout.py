"""A workspace-wide control group (ADR 0029): every group with its start and end, kept after it ends; and the
per-stratum entrant counters of stratified experiment splits (ADR 0031).

The running group is mirrored in ``workspace_settings`` (key ``holdout.workspace``) for the audit trail; the
engine and the uplift read this table.

Revision ID: 0023_workspace_holdout
Revises: 0022_alert_actions
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import UTCDateTime

revision = "0023_workspace_holdout"
down_revision = "0022_alert_actions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspace_holdouts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("set_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workspace_holdouts"),
    )
    op.create_index("ix_workspace_holdouts_started_at", "workspace_holdouts", ["started_at"])
    op.create_table(
        "experiment_strata",
        sa.Column("experiment_id", sa.String(40), nullable=False),
        sa.Column("stratum", sa.String(64), nullable=False),
        sa.Column("entrants", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "stratum", name="pk_experiment_strata"),
    )


def downgrade() -> None:
    op.drop_table("experiment_strata")
    op.drop_index("ix_workspace_holdouts_started_at", table_name="workspace_holdouts")
    op.drop_table("workspace_holdouts")
