"""Attribution of revenue to touches, channel costs, control groups (holdouts).

Revision ID: 0018_attribution
Revises: 0017_metrics
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0018_attribution"
down_revision = "0017_metrics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
