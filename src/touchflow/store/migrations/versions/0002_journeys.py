"""Journeys: definitions and versions, runs, step trace, outbox, tasks, event inbox, scan schedule.

Revision ID: 0002_journeys
Revises: 0001_customer_data_hub
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0002_journeys"
down_revision = "0001_customer_data_hub"
branch_labels = None
depends_on = None

ID = sa.String(40)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "journeys",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_journeys"),
        sa.UniqueConstraint("key", name="uq_journeys_key"),
    )
    op.create_table(
        "journey_versions",
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", JSONDoc, nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("published_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("journey_id", "version", name="pk_journey_versions"),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], name="fk_journey_versions_journey_id_journeys"),
    )
    op.create_table(
        "journey_runs",
        sa.Column("id", ID, nullable=False),
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("entered_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("wake_at", UTCDateTime(), nullable=True),
        sa.Column("waiting_for", sa.String(300), nullable=True),
        sa.Column("waiting_since", UTCDateTime(), nullable=True),
        sa.Column("timeout_at", UTCDateTime(), nullable=True),
        sa.Column("step_no", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_journey_runs"),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], name="fk_journey_runs_journey_id_journeys"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_journey_runs_contact_id_contacts"),
    )
    op.create_index("ix_journey_runs_status_wake_at", "journey_runs", ["status", "wake_at"])
    op.create_index("ix_journey_runs_contact_id_journey_id", "journey_runs", ["contact_id", "journey_id"])
    op.create_index("ix_journey_runs_journey_id_status", "journey_runs", ["journey_id", "status"])
    op.create_table(
        "run_steps",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("edge", sa.String(64), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("detail", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_steps"),
    )
    op.create_index("ix_run_steps_run_id_id", "run_steps", ["run_id", "id"])
    op.create_index("ix_run_steps_contact_id", "run_steps", ["contact_id"])
    op.create_table(
        "outbox",
        sa.Column("id", ID, nullable=False),
        sa.Column("idempotency_key", sa.String(120), nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("journey_id", ID, nullable=True),
        sa.Column("node_id", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("template", sa.String(200), nullable=True),
        sa.Column("payload", JSONDoc, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_outbox_contact_id_contacts"),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_contact_id", "outbox", ["contact_id"])
    op.create_table(
        "tasks",
        sa.Column("id", ID, nullable=False),
        sa.Column("idempotency_key", sa.String(120), nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("journey_id", ID, nullable=True),
        sa.Column("node_id", sa.String(64), nullable=True),
        sa.Column("queue", sa.String(16), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("assignee", sa.String(100), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        sa.UniqueConstraint("idempotency_key", name="uq_tasks_idempotency_key"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_tasks_contact_id_contacts"),
    )
    op.create_index("ix_tasks_status_due_at", "tasks", ["status", "due_at"])
    op.create_index("ix_tasks_contact_id", "tasks", ["contact_id"])
    op.create_table(
        "event_inbox",
        sa.Column("seq", SERIAL, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_event_inbox"),
    )
    op.create_table(
        "journey_schedules",
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("next_scan_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("journey_id", name="pk_journey_schedules"),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], name="fk_journey_schedules_journey_id_journeys"),
    )


def downgrade() -> None:
    for table in ("journey_schedules", "event_inbox", "tasks", "outbox", "run_steps", "journey_runs",
                  "journey_versions", "journeys"):
        op.drop_table(table)
