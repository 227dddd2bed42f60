"""Tamper-evident audit log: hash chain, request id, IP, user agent, before/after digests.

Revision ID: 0013_audit_chain
Revises: 0012_key_owners
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0013_audit_chain"
down_revision = "0012_key_owners"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
