"""Four-eyes approval requests and what an executed request leaves for its requester (an export's ciphertext,
a new key's sealed secret), kept until picked up or 24 h.

Revision ID: 0014_approvals
Revises: 0013_audit_chain
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0014_approvals"
down_revision = "0013_audit_chain"
branch_labels = None
depends_on = None

ID = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("payload", JSONDoc, nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_by_label", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_by_label", sa.String(100), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("result", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approval_requests"),
    )
    op.create_index("ix_approval_requests_state_expires_at", "approval_requests", ["state", "expires_at"])
    op.create_index("ix_approval_requests_requested_at", "approval_requests", ["requested_at"])
    op.create_table(
        "approval_artifacts",
        sa.Column("request_id", ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("produced_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("sealed_key", sa.Text(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("purged_at", UTCDateTime(), nullable=True),
        sa.Column("one_time", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["approval_requests.id"],
                                name="fk_approval_artifacts_request_id_approval_requests"),
        sa.PrimaryKeyConstraint("request_id", name="pk_approval_artifacts"),
    )
    op.create_index("ix_approval_artifacts_expires_at", "approval_artifacts", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_approval_artifacts_expires_at", table_name="approval_artifacts")
    op.drop_table("approval_artifacts")
    op.drop_index("ix_approval_requests_requested_at", table_name="approval_requests")
    op.drop_index("ix_approval_requests_state_expires_at", table_name="approval_requests")
    op.drop_table("approval_requests")
