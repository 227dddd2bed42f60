"""PIPL requests, erasure tombstones, consent ledger, incidents.

Revision ID: 0016_privacy_incidents
Revises: 0015_pii_encryption
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0016_privacy_incidents"
down_revision = "0015_pii_encryption"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
