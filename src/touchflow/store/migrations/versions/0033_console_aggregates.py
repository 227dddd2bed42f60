"""Reserved slot (no change yet).

Revision ID: 0033_console_aggregates
Revises: 0032_console_scale
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0033_console_aggregates"
down_revision = "0032_console_scale"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
