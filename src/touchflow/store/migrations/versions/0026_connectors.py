"""Connectors: their settings, cursors, schedules and runs.

Revision ID: 0026_connectors
Revises: 0025_experiment_versions
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0026_connectors"
down_revision = "0025_experiment_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
