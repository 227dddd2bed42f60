"""Alert actions: staff notifications and journey-level tasks an alert opens.

``alert_notifications`` is the small outbox of alert messages to staff (no contact: the contact outbox needs one);
``tasks.contact_id`` becomes nullable so an alert can open a task about a journey.

Revision ID: 0022_alert_actions
Revises: 0021_goals_reports
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0022_alert_actions"
down_revision = "0021_goals_reports"
branch_labels = None
depends_on = None

ID = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "alert_notifications",
        sa.Column("id", ID, nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("recipients", JSONDoc, nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_notifications"),
    )
    op.create_index("ix_alert_notifications_status_next_attempt_at", "alert_notifications",
                    ["status", "next_attempt_at"])
    with op.batch_alter_table("tasks") as batch:
        batch.alter_column("contact_id", existing_type=ID, nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM tasks WHERE contact_id IS NULL")
    with op.batch_alter_table("tasks") as batch:
        batch.alter_column("contact_id", existing_type=ID, nullable=False)
    op.drop_index("ix_alert_notifications_status_next_attempt_at", table_name="alert_notifications")
    op.drop_table("alert_notifications")
