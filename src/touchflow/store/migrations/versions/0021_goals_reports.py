"""Goals (the goal decomposition table), report schedules and flow reviews.

Revision ID: 0021_goals_reports
Revises: 0020_experiments
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0021_goals_reports"
down_revision = "0020_experiments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
