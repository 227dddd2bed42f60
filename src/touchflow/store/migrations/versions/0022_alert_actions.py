"""Alert actions: staff notifications and journey-level tasks an alert opens.

Revision ID: 0022_alert_actions
Revises: 0021_goals_reports
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0022_alert_actions"
down_revision = "0021_goals_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
