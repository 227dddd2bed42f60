"""Experiments on journey versions, drafts and continuous metrics.

Drafts, version arms and revenue settings live in the experiment's spec document (no new column); what the
schema needs is a way to read an experiment's assignments without scanning every run step: an index on
run_steps (journey_id, kind, at), used for split passes and for entries on a version alike.

Revision ID: 0025_experiment_versions
Revises: 0024_rollup_columns
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0025_experiment_versions"
down_revision = "0024_rollup_columns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_run_steps_journey_id_kind_at", "run_steps", ["journey_id", "kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_run_steps_journey_id_kind_at", table_name="run_steps")
