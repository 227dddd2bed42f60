"""Customer data hub: contacts, identities, tags, consents, merges, events, sources, rejects, audit.

Revision ID: 0001_customer_data_hub
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0001_customer_data_hub"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(40)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", ID, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("merged_into", ID, nullable=True),
        *(sa.Column(name, sa.String(size)) for name, size in (
            ("name", 200), ("gender", 16))),
        sa.Column("age", sa.Integer()),
        *(sa.Column(name, sa.String(size)) for name, size in (
            ("city", 100), ("province", 100), ("industry", 100), ("company", 300), ("job_title", 200),
            ("timezone", 64), ("locale", 32), ("lifecycle_stage", 32))),
        sa.Column("custom", JSONDoc, nullable=False),
        sa.Column("lineage", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
    )
    op.create_index("ix_contacts_merged_into", "contacts", ["merged_into"])
    op.create_index("ix_contacts_city", "contacts", ["city"])

    op.create_table(
        "contact_identities",
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", name="pk_contact_identities"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_contact_identities_contact_id_contacts"),
    )
    op.create_index("ix_contact_identities_contact_id", "contact_identities", ["contact_id"])

    op.create_table(
        "contact_tags",
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("tag", sa.String(100), nullable=False),
        sa.Column("set_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("contact_id", "tag", name="pk_contact_tags"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_contact_tags_contact_id_contacts"),
    )
    op.create_index("ix_contact_tags_tag", "contact_tags", ["tag"])

    op.create_table(
        "contact_consents",
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("contact_id", "channel", name="pk_contact_consents"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_contact_consents_contact_id_contacts"),
    )

    op.create_table(
        "contact_merges",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("winner_id", ID, nullable=False),
        sa.Column("loser_id", ID, nullable=False),
        sa.Column("linked_by", sa.String(300), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("conflicts", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contact_merges"),
    )
    op.create_index("ix_contact_merges_winner_id", "contact_merges", ["winner_id"])
    op.create_index("ix_contact_merges_loser_id", "contact_merges", ["loser_id"])

    op.create_table(
        "events",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("properties", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_events_contact_id_contacts"),
    )
    op.create_index("ix_events_contact_id_type_occurred_at", "events", ["contact_id", "type", "occurred_at"])
    op.create_index("ix_events_type_occurred_at", "events", ["type", "occurred_at"])

    op.create_table(
        "sources",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("sync_mode", sa.String(16), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("last_sync_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_sources"),
    )

    op.create_table(
        "rejects",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("payload", JSONDoc, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rejects"),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("details", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )

    op.create_table(
        "tag_rules",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("field", sa.String(100), nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("value", JSONDoc, nullable=True),
        sa.Column("tag", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_tag_rules"),
    )


def downgrade() -> None:
    for table in ("tag_rules", "api_keys", "audit_log", "rejects", "sources", "events", "contact_merges",
                  "contact_consents", "contact_tags", "contact_identities", "contacts"):
        op.drop_table(table)
