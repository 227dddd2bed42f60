"""Unmerge: what a merge moved, kept so a person can undo it. ``events.identity`` is the identifier an event
arrived with (events after a merge go back to the person whose identifier they carried);
``contact_merges.undo`` lists what moved (identities, events, tags, consents, re-pointed contacts, static
memberships) and the survivor as it was before; ``undone_at`` / ``undone_by`` record the unmerge.

Revision ID: 0010_unmerge
Revises: 0009_run_keys
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0010_unmerge"
down_revision = "0009_run_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("identity", sa.String(300), nullable=True))
    with op.batch_alter_table("contact_merges") as batch:
        batch.add_column(sa.Column("undo", JSONDoc, nullable=True))
        batch.add_column(sa.Column("undone_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("undone_by", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact_merges") as batch:
        batch.drop_column("undone_by")
        batch.drop_column("undone_at")
        batch.drop_column("undo")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("identity")
