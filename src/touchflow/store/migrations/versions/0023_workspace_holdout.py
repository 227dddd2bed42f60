"""A workspace-wide control group and stratified split assignment.

Revision ID: 0023_workspace_holdout
Revises: 0022_alert_actions
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0023_workspace_holdout"
down_revision = "0022_alert_actions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
