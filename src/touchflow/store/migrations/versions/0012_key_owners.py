"""API keys owned by an account or service account, with a role or scopes and their last use.

Revision ID: 0012_key_owners
Revises: 0011_accounts
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0012_key_owners"
down_revision = "0011_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
