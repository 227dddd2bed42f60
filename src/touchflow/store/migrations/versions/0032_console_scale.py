"""Console at 1M contacts: a journey's messages by channel and status from an index (the journeys page).

Revision ID: 0032_console_scale
Revises: 0031_partitions_retention
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0032_console_scale"
down_revision = "0031_partitions_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_journey_channel_status", "outbox", ["journey_id", "channel", "status", "reason"])


def downgrade() -> None:
    op.drop_index("ix_outbox_journey_channel_status", table_name="outbox")
