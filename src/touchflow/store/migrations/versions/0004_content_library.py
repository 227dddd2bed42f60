"""Content library: template versions, assets (素材库) and the compliance review queue.

Revision ID: 0004_content_library
Revises: 0003_channels_guardrails
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0004_content_library"
down_revision = "0003_channels_guardrails"
branch_labels = None
depends_on = None

ID = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=True),
        sa.Column("layout", sa.String(16), nullable=False),
        sa.Column("tags", JSONDoc, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("findings", JSONDoc, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name="pk_templates"),
    )
    op.create_index("ix_templates_status", "templates", ["status"])
    op.create_table(
        "assets",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("metadata", JSONDoc, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_assets"),
        sa.UniqueConstraint("name", "version", name="uq_assets_name_version"),
    )
    op.create_table(
        "content_reviews",
        sa.Column("id", ID, nullable=False),
        sa.Column("template_name", sa.String(120), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("reviewer", sa.String(100), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_content_reviews"),
        sa.ForeignKeyConstraint(["template_name", "template_version"], ["templates.name", "templates.version"],
                                name="fk_content_reviews_template_name_templates"),
    )
    op.create_index("ix_content_reviews_status", "content_reviews", ["status"])
    op.create_index("ix_content_reviews_template_name_template_version", "content_reviews",
                    ["template_name", "template_version"])


def downgrade() -> None:
    for table in ("content_reviews", "assets", "templates"):
        op.drop_table(table)
