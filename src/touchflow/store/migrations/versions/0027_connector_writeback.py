"""Write-back to CRMs: the outbox of changes (scores, MQL/SQL, stages, task outcomes, consent) per connector.

A row is written in the transaction that made the change and shipped later by the worker's write-back pass;
``idempotency_key`` is unique, so a change captured twice is one row, and it travels with the request so the CRM
dedupes a retried delivery. Rows that run out of attempts become ``dead`` (the dead-letter list).

Revision ID: 0027_connector_writeback
Revises: 0026_connectors
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0027_connector_writeback"
down_revision = "0026_connectors"
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "writeback_outbox",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("contact_id", sa.String(40), nullable=False),
        sa.Column("field", sa.String(16), nullable=False),
        sa.Column("value", JSONDoc, nullable=True),
        sa.Column("idempotency_key", sa.String(80), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_writeback_outbox"),
        sa.UniqueConstraint("idempotency_key", name="uq_writeback_outbox_idempotency_key"),
    )
    op.create_index("ix_writeback_outbox_status_next_attempt_at", "writeback_outbox", ["status", "next_attempt_at"])
    op.create_index("ix_writeback_outbox_connector_status", "writeback_outbox", ["connector", "status"])


def downgrade() -> None:
    op.drop_index("ix_writeback_outbox_connector_status", table_name="writeback_outbox")
    op.drop_index("ix_writeback_outbox_status_next_attempt_at", table_name="writeback_outbox")
    op.drop_table("writeback_outbox")
