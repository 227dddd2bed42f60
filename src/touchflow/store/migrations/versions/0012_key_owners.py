"""API keys owned by an account or service account, with a role or scopes and their last use; tasks by
assignee (an agent reads only their own tasks and those tasks' contacts).

Keys made before this revision get the role ``admin`` (the server default): they could already do everything,
and taking that away on upgrade would break every integration at once. Narrow them by making new keys.

Revision ID: 0012_key_owners
Revises: 0011_accounts
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0012_key_owners"
down_revision = "0011_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("owner_user_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("service_account", sa.String(100), nullable=True))
        batch.add_column(sa.Column("role", sa.String(32), nullable=False, server_default="admin"))
        batch.add_column(sa.Column("scopes", JSONDoc, nullable=True))
        batch.add_column(sa.Column("last_used_at", UTCDateTime(), nullable=True))
        batch.create_index("ix_api_keys_owner_user_id", ["owner_user_id"])
    op.create_index("ix_tasks_assignee_contact_id", "tasks", ["assignee", "contact_id"])


def downgrade() -> None:
    op.drop_index("ix_tasks_assignee_contact_id", table_name="tasks")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_owner_user_id")
        batch.drop_column("last_used_at")
        batch.drop_column("scopes")
        batch.drop_column("role")
        batch.drop_column("service_account")
        batch.drop_column("owner_user_id")
