"""Accounts, TOTP, recovery codes, browser sessions, login throttling.

Revision ID: 0011_accounts
Revises: 0010_unmerge
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0011_accounts"
down_revision = "0010_unmerge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
