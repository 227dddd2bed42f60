"""The capacity sample keeps the worst queue lag of its minute: the capacity rule fires only while the workers are
both busy and behind (ADR 0069).

Revision ID: 0037_capacity_behind
Revises: 0036_event_ids_setwise
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0037_capacity_behind"
down_revision = "0036_event_ids_setwise"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("capacity_samples") as batch:
        batch.add_column(sa.Column("queue_lag_s", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("capacity_samples") as batch:
        batch.drop_column("queue_lag_s")
