"""Reserved slot (no change yet).

Revision ID: 0032_console_scale
Revises: 0031_partitions_retention
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0032_console_scale"
down_revision = "0031_partitions_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
