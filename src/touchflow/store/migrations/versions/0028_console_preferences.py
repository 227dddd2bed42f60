"""Console preferences: each user's language, time zone and theme.

Revision ID: 0028_console_preferences
Revises: 0027_connector_writeback
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0028_console_preferences"
down_revision = "0027_connector_writeback"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
