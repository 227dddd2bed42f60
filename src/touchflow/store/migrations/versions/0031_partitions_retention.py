"""Retention: indexes that let the purge find old finished rows without reading the whole table (ADR 0048).

``outbox.updated_at`` (messages in a final state are purged by when they last changed) and ``run_steps.at``.
Events are purged by ``occurred_at`` only when a person sets events' days; no index is added for it, so ingest
pays nothing (the purge then reads the table once per batch; see ADR 0048 for monthly partitions instead).

Revision ID: 0031_partitions_retention
Revises: 0030_shared_rate_limits
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0031_partitions_retention"
down_revision = "0030_shared_rate_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_updated_at", "outbox", ["updated_at"])
    op.create_index("ix_run_steps_at", "run_steps", ["at"])


def downgrade() -> None:
    op.drop_index("ix_run_steps_at", table_name="run_steps")
    op.drop_index("ix_outbox_updated_at", table_name="outbox")
