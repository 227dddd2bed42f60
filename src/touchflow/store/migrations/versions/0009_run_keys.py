"""Runs per key and dates from the data: ``journey_runs.entry_key`` (one run per order or appointment when a
journey says ``entry: {key: properties.order_id}``) and ``entry_data`` (the triggering event's properties that
waits read later: "until 1 day before properties.appointment_at").

Revision ID: 0009_run_keys
Revises: 0008_segment_sets
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc

revision = "0009_run_keys"
down_revision = "0008_segment_sets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("journey_runs") as batch:
        batch.add_column(sa.Column("entry_key", sa.String(300), nullable=True))
        batch.add_column(sa.Column("entry_data", JSONDoc, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("journey_runs") as batch:
        batch.drop_column("entry_data")
        batch.drop_column("entry_key")
