"""PII encrypted at rest (AES-GCM) with HMAC blind indexes; wrapped data keys (ADR 0026).

Nothing is encrypted here: the migration has no key ring. ``touchflow keys rotate`` makes the data keys and
encrypts existing rows online, in batches; until then (``value_ct`` NULL) a row is plaintext and still read.

Revision ID: 0015_pii_encryption
Revises: 0014_approvals
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import UTCDateTime

revision = "0015_pii_encryption"
down_revision = "0014_approvals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(40), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_data_keys"),
    )
    with op.batch_alter_table("contact_identities") as batch:
        batch.add_column(sa.Column("value_ct", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("name_ct", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("name_ct")
    with op.batch_alter_table("contact_identities") as batch:
        batch.drop_column("value_ct")
    op.drop_table("data_keys")
