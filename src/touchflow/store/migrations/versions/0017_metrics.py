"""Daily metric rollups (journey × step × template version × channel × segment) and their watermark
(a workspace setting, ``metrics.cursor``); ingest acknowledgement timings for the system response time.

Revision ID: 0017_metrics
Revises: 0016_privacy_incidents
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import UTCDateTime

revision = "0017_metrics"
down_revision = "0016_privacy_incidents"
branch_labels = None
depends_on = None

COUNTERS = ("entered", "queued", "sent", "delivered", "bounced", "opened", "opened_unique", "clicked",
            "clicked_unique", "converted", "unsubscribed", "complained", "skipped")


def upgrade() -> None:
    op.create_table(
        "metric_daily",
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("journey_id", sa.String(40), nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("segment", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        *[sa.Column(name, sa.BigInteger(), nullable=False) for name in COUNTERS],
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "journey_id", "node_id", "template", "channel", "segment", "reason",
                                name="pk_metric_daily"),
    )
    op.create_index("ix_metric_daily_journey_id_day", "metric_daily", ["journey_id", "day"])
    op.create_table(
        "ingest_timings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_timings"),
    )
    op.create_index("ix_ingest_timings_at", "ingest_timings", ["at"])


def downgrade() -> None:
    op.drop_index("ix_ingest_timings_at", table_name="ingest_timings")
    op.drop_table("ingest_timings")
    op.drop_index("ix_metric_daily_journey_id_day", table_name="metric_daily")
    op.drop_table("metric_daily")
