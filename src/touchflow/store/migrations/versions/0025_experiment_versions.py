"""Experiments on journey versions, drafts and continuous metrics.

Revision ID: 0025_experiment_versions
Revises: 0024_rollup_columns
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0025_experiment_versions"
down_revision = "0024_rollup_columns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
