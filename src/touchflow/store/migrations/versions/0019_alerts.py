"""Alert rules, alert state and decisions; journeys paused by a metric.

Revision ID: 0019_alerts
Revises: 0018_attribution
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0019_alerts"
down_revision = "0018_attribution"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
