"""Channels and guardrails: outbox delivery columns, channel configs, suppressions, freezes, on-site inbox.

Revision ID: 0003_channels_guardrails
Revises: 0002_journeys
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0003_channels_guardrails"
down_revision = "0002_journeys"
branch_labels = None
depends_on = None

ID = sa.String(40)


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("address", sa.String(320), nullable=True))
        batch.add_column(sa.Column("sent_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("provider_id", sa.String(200), nullable=True))
        batch.add_column(sa.Column("reason", sa.String(64), nullable=True))
    op.create_index("ix_outbox_contact_id_sent_at", "outbox", ["contact_id", "sent_at"])
    op.create_index("ix_outbox_provider_id", "outbox", ["provider_id"])
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("breached_at", UTCDateTime(), nullable=True))
    op.create_table(
        "channel_configs",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("settings", JSONDoc, nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("rate_per_s", sa.Float(), nullable=True),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_channel_configs"),
    )
    op.create_table(
        "suppressions",
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "address", name="pk_suppressions"),
    )
    op.create_table(
        "contact_freezes",
        sa.Column("id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("frozen_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("task_id", ID, nullable=True),
        sa.Column("lifted_at", UTCDateTime(), nullable=True),
        sa.Column("lifted_by", sa.String(100), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_contact_freezes"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_contact_freezes_contact_id_contacts"),
    )
    op.create_index("ix_contact_freezes_contact_id_lifted_at", "contact_freezes", ["contact_id", "lifted_at"])
    op.create_table(
        "workspace_settings",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", JSONDoc, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_workspace_settings"),
    )
    op.create_table(
        "onsite_messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("outbox_id", ID, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("shown_at", UTCDateTime(), nullable=True),
        sa.Column("acted_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_onsite_messages"),
        sa.UniqueConstraint("outbox_id", name="uq_onsite_messages_outbox_id"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_onsite_messages_contact_id_contacts"),
    )
    op.create_index("ix_onsite_messages_contact_id_status", "onsite_messages", ["contact_id", "status"])


def downgrade() -> None:
    for table in ("onsite_messages", "workspace_settings", "contact_freezes", "suppressions", "channel_configs"):
        op.drop_table(table)
    op.drop_index("ix_outbox_provider_id", "outbox")
    op.drop_index("ix_outbox_contact_id_sent_at", "outbox")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("breached_at")
    with op.batch_alter_table("outbox") as batch:
        for column in ("reason", "provider_id", "sent_at", "address"):
            batch.drop_column(column)
