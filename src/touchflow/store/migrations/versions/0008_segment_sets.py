"""Set-wise segment recomputes: a covering (type, occurred_at, contact_id) index on events, replacing
(type, occurred_at), so "which contacts had ≥ 2 downloads in 30 days" is answered from the index alone;
room in ``segment_dirty.reason`` for ``+key`` / ``-key`` (a contact entered or left a nested segment); and
``left_at`` in the history's (contact_id, segment_id) index, so closing stays finds them through it (SQLite
preferred (segment_id, left_at) and walked every open stay of the segment for each chunk of leavers).

Revision ID: 0008_segment_sets
Revises: 0007_personas_assignment
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_segment_sets"
down_revision = "0007_personas_assignment"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_type_occurred_at_contact_id", "events", ["type", "occurred_at", "contact_id"])
    op.drop_index("ix_events_type_occurred_at", table_name="events")
    with op.batch_alter_table("segment_dirty") as batch:
        batch.alter_column("reason", existing_type=sa.String(64), type_=sa.String(80), existing_nullable=True)
    op.create_index("ix_segment_history_contact_id_segment_id_left_at", "segment_history",
                    ["contact_id", "segment_id", "left_at"])
    op.drop_index("ix_segment_history_contact_id_segment_id", table_name="segment_history")


def downgrade() -> None:
    op.create_index("ix_segment_history_contact_id_segment_id", "segment_history", ["contact_id", "segment_id"])
    op.drop_index("ix_segment_history_contact_id_segment_id_left_at", table_name="segment_history")
    with op.batch_alter_table("segment_dirty") as batch:
        batch.alter_column("reason", existing_type=sa.String(80), type_=sa.String(64), existing_nullable=True)
    op.create_index("ix_events_type_occurred_at", "events", ["type", "occurred_at"])
    op.drop_index("ix_events_type_occurred_at_contact_id", table_name="events")
