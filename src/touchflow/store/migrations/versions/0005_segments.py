"""Segments: definitions, current members, membership history and the dirty-contact queue.

Revision ID: 0005_segments
Revises: 0004_content_library
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0005_segments"
down_revision = "0004_content_library"
branch_labels = None
depends_on = None

ID = sa.String(40)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("definition", JSONDoc, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("refresh_every_s", sa.Integer(), nullable=False),
        sa.Column("next_refresh_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_segments"),
        sa.UniqueConstraint("key", name="uq_segments_key"),
    )
    op.create_table(
        "segment_members",
        sa.Column("segment_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("segment_id", "contact_id", name="pk_segment_members"),
        sa.ForeignKeyConstraint(["segment_id"], ["segments.id"], name="fk_segment_members_segment_id_segments"),
    )
    op.create_index("ix_segment_members_contact_id", "segment_members", ["contact_id"])
    op.create_table(
        "segment_history",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("segment_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("entered_at", UTCDateTime(), nullable=False),
        sa.Column("left_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_segment_history"),
        sa.ForeignKeyConstraint(["segment_id"], ["segments.id"], name="fk_segment_history_segment_id_segments"),
    )
    op.create_index("ix_segment_history_contact_id_segment_id", "segment_history", ["contact_id", "segment_id"])
    op.create_index("ix_segment_history_segment_id_left_at", "segment_history", ["segment_id", "left_at"])
    op.create_table(
        "segment_dirty",
        sa.Column("seq", SERIAL, autoincrement=True, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("batch", sa.String(40), nullable=True),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_segment_dirty"),
    )
    op.create_index("ix_segment_dirty_batch", "segment_dirty", ["batch"])


def downgrade() -> None:
    for table in ("segment_dirty", "segment_history", "segment_members", "segments"):
        op.drop_table(table)
