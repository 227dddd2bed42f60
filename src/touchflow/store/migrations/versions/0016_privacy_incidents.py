"""PIPL requests, erasure tombstones, consent ledger, incidents.

``consent_ledger``: every consent statement a contact's record took (append-only; ``contact_consents`` keeps only
the one in force). ``erasure_tombstones``: HMAC blind indexes of erased identifiers, so an import cannot bring an
erased person back. ``incidents`` and ``incident_steps``: a breach response and its three clocks (P7).

Revision ID: 0016_privacy_incidents
Revises: 0015_pii_encryption
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0016_privacy_incidents"
down_revision = "0015_pii_encryption"
branch_labels = None
depends_on = None

ID = sa.String(40)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "consent_ledger",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_consent_ledger"),
    )
    op.create_index("ix_consent_ledger_contact_id_channel_status_source_at", "consent_ledger",
                    ["contact_id", "channel", "status", "source", "at"], unique=True)
    # what the contacts already hold becomes the ledger's first rows
    op.execute("INSERT INTO consent_ledger (contact_id, channel, status, source, at) "
               "SELECT contact_id, channel, status, source, at FROM contact_consents")
    op.create_table(
        "erasure_tombstones",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("erased_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_erasure_tombstones"),
    )
    op.create_table(
        "incidents",
        sa.Column("id", ID, nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("opened_by", sa.String(100), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("segment", sa.String(64), nullable=True),
        sa.Column("details", JSONDoc, nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_table(
        "incident_steps",
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("done_by", sa.String(100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name="fk_incident_steps_incident_id_incidents"),
        sa.PrimaryKeyConstraint("incident_id", "step", name="pk_incident_steps"),
    )


def downgrade() -> None:
    op.drop_table("incident_steps")
    op.drop_index("ix_incidents_status", table_name="incidents")
    op.drop_table("incidents")
    op.drop_table("erasure_tombstones")
    op.drop_index("ix_consent_ledger_contact_id_channel_status_source_at", table_name="consent_ledger")
    op.drop_table("consent_ledger")
