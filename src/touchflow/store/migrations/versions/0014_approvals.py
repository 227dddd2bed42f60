"""Four-eyes approval requests and approved exports.

Revision ID: 0014_approvals
Revises: 0013_audit_chain
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0014_approvals"
down_revision = "0013_audit_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
