"""Reserved slot (no change yet).

Revision ID: 0035_event_partitions
Revises: 0034_receipts_rollup
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0035_event_partitions"
down_revision = "0034_receipts_rollup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
