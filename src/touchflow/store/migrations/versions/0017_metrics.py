"""Daily metric rollups (journey × step × template version × channel × segment) and their watermark.

Revision ID: 0017_metrics
Revises: 0016_privacy_incidents
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0017_metrics"
down_revision = "0016_privacy_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
