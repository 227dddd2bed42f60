"""Reserved slot (no change yet).

Revision ID: 0030_shared_rate_limits
Revises: 0029_console_admin
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0030_shared_rate_limits"
down_revision = "0029_console_admin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
