"""Scale-out: channel rate limits and concurrency shared by every dispatcher process, and worker load reports.

``channel_buckets`` holds one token bucket per channel, updated under a row lock by whichever process sends;
``channel_slots`` holds a channel's concurrency as leased slots; ``worker_loads`` is each worker's last report of
its busy share and queue lag and ``capacity_samples`` the cluster's once a minute (``touchflow status``, the
capacity alert). ADR 0047.

Revision ID: 0030_shared_rate_limits
Revises: 0029_console_admin
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0030_shared_rate_limits"
down_revision = "0029_console_admin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_buckets",
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("channel", name="pk_channel_buckets"),
    )
    op.create_table(
        "channel_slots",
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "slot", name="pk_channel_slots"),
    )
    op.create_table(
        "worker_loads",
        sa.Column("worker_id", sa.String(80), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("reported_at", UTCDateTime(), nullable=False),
        sa.Column("busy_share", sa.Float(), nullable=False),
        sa.Column("queue_lag", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name="pk_worker_loads"),
    )
    op.create_index("ix_worker_loads_reported_at", "worker_loads", ["reported_at"])
    op.create_table(
        "capacity_samples",
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.Column("busy_share", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("at", name="pk_capacity_samples"),
    )


def downgrade() -> None:
    op.drop_table("capacity_samples")
    op.drop_index("ix_worker_loads_reported_at", table_name="worker_loads")
    op.drop_table("worker_loads")
    op.drop_table("channel_slots")
    op.drop_table("channel_buckets")
