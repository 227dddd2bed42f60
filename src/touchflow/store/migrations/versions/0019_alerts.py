"""Alert rules, alert state and decisions; journeys paused by a metric keep the reason.

Revision ID: 0019_alerts
Revises: 0018_attribution
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0019_alerts"
down_revision = "0018_attribution"
branch_labels = None
depends_on = None

ID = sa.String(40)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("journeys") as batch:
        batch.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])
    op.create_table(
        "alert_rules",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("document", JSONDoc, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_alert_rules"),
    )
    op.create_table(
        "alert_state",
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("armed", sa.Boolean(), nullable=False),
        sa.Column("consecutive", sa.Integer(), nullable=False),
        sa.Column("last_fired", UTCDateTime(), nullable=True),
        sa.Column("cooldown_until", UTCDateTime(), nullable=True),
        sa.Column("counts_from", sa.String(10), nullable=True),
        sa.Column("last_day", sa.String(10), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("rule", "journey_id", name="pk_alert_state"),
    )
    op.create_table(
        "alert_history",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("acted", sa.Boolean(), nullable=False),
        sa.Column("suppressed", sa.String(16), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_history"),
    )
    op.create_index("ix_alert_history_journey_id_at", "alert_history", ["journey_id", "at"])
    op.create_index("ix_alert_history_at", "alert_history", ["at"])


def downgrade() -> None:
    op.drop_table("alert_history")
    op.drop_table("alert_state")
    op.drop_table("alert_rules")
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
    with op.batch_alter_table("journeys") as batch:
        batch.drop_column("status_reason")
