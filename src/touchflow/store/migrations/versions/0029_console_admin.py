"""Reserved slot (no change yet).

Revision ID: 0029_console_admin
Revises: 0028_console_preferences
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0029_console_admin"
down_revision = "0028_console_preferences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
