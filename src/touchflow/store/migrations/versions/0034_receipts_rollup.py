"""Reserved slot (no change yet).

Revision ID: 0034_receipts_rollup
Revises: 0033_console_aggregates
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0034_receipts_rollup"
down_revision = "0033_console_aggregates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
