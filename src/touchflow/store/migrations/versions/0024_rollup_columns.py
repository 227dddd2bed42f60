"""Rollups counted in SQL: message dimensions as columns.

Revision ID: 0024_rollup_columns
Revises: 0023_workspace_holdout
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0024_rollup_columns"
down_revision = "0023_workspace_holdout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
