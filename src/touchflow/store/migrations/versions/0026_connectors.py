"""Connectors: their settings, cursors, schedules and runs.

``connectors`` holds each connector's definition, its committed cursor (moved only with committed batches) and
its run lease (one run at a time per connector across workers); ``connector_runs`` records every run.

Revision ID: 0026_connectors
Revises: 0025_experiment_versions
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0026_connectors"
down_revision = "0025_experiment_versions"
branch_labels = None
depends_on = None

ID = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "connectors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("settings", JSONDoc, nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("secret_names", JSONDoc, nullable=False),
        sa.Column("record_kind", sa.String(16), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=True),
        sa.Column("mapping", JSONDoc, nullable=False),
        sa.Column("cursor_field", sa.String(128), nullable=True),
        sa.Column("cursor_value", JSONDoc, nullable=True),
        sa.Column("schedule", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("next_run_at", UTCDateTime(), nullable=True),
        sa.Column("columns", JSONDoc, nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_connectors"),
    )
    op.create_index("ix_connectors_status_next_run_at", "connectors", ["status", "next_run_at"])
    op.create_table(
        "connector_runs",
        sa.Column("id", ID, nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("read", sa.BigInteger(), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("retried", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("warnings", JSONDoc, nullable=False),
        sa.Column("cursor_before", JSONDoc, nullable=True),
        sa.Column("cursor_after", JSONDoc, nullable=True),
        sa.Column("details", JSONDoc, nullable=False),
        sa.ForeignKeyConstraint(["connector"], ["connectors.name"], name="fk_connector_runs_connector_connectors"),
        sa.PrimaryKeyConstraint("id", name="pk_connector_runs"),
    )
    op.create_index("ix_connector_runs_connector_started_at", "connector_runs", ["connector", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_connector_runs_connector_started_at", table_name="connector_runs")
    op.drop_table("connector_runs")
    op.drop_index("ix_connectors_status_next_run_at", table_name="connectors")
    op.drop_table("connectors")
