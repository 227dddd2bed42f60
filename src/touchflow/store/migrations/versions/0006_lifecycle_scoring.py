"""Lifecycle stages, tiers and lead scoring: stage history, scoring models, scores and their history,
calibration proposals; an index on events.received_at for the touched-contacts cursor.

Revision ID: 0006_lifecycle_scoring
Revises: 0005_segments
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0006_lifecycle_scoring"
down_revision = "0005_segments"
branch_labels = None
depends_on = None

ID = sa.String(40)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_index("ix_events_received_at", "events", ["received_at"])
    op.create_table(
        "stage_history",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("from_stage", sa.String(32), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stage_history"),
    )
    op.create_index("ix_stage_history_contact_id_id", "stage_history", ["contact_id", "id"])
    op.create_table(
        "scoring_models",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("document", JSONDoc, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_scoring_models"),
    )
    op.create_table(
        "lead_scores",
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("mql_at", UTCDateTime(), nullable=True),
        sa.Column("sql_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("contact_id", name="pk_lead_scores"),
    )
    op.create_table(
        "score_history",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_score_history"),
    )
    op.create_index("ix_score_history_contact_id_id", "score_history", ["contact_id", "id"])
    op.create_table(
        "scoring_proposals",
        sa.Column("id", ID, nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("current", sa.Float(), nullable=False),
        sa.Column("proposed", sa.Float(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("accepted_version", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scoring_proposals"),
    )


def downgrade() -> None:
    op.drop_table("scoring_proposals")
    op.drop_index("ix_score_history_contact_id_id", table_name="score_history")
    op.drop_table("score_history")
    op.drop_table("lead_scores")
    op.drop_table("scoring_models")
    op.drop_index("ix_stage_history_contact_id_id", table_name="stage_history")
    op.drop_table("stage_history")
    op.drop_index("ix_events_received_at", table_name="events")
