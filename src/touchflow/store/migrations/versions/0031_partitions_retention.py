"""Reserved slot (no change yet).

Revision ID: 0031_partitions_retention
Revises: 0030_shared_rate_limits
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0031_partitions_retention"
down_revision = "0030_shared_rate_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
