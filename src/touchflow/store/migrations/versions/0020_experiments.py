"""Experiments bound to splits or journey versions: arms, assignments, analyses, roll-outs.

Revision ID: 0020_experiments
Revises: 0019_alerts
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0020_experiments"
down_revision = "0019_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
