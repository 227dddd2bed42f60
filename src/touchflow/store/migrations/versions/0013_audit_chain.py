"""Tamper-evident audit log: hash chain, request id, IP, user agent, before/after digests (ADR 0024).

Rows already written are chained here, in id order, so a migrated database verifies
(``touchflow audit verify``). A trigger then makes the table append-only (``store/audit.py``; SQLite: UPDATE only).

Revision ID: 0013_audit_chain
Revises: 0012_key_owners
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from touchflow.domain.governance.audit_chain import GENESIS, AuditRow, normalise_json, row_hash
from touchflow.store.types import JSONDoc, UTCDateTime

revision = "0013_audit_chain"
down_revision = "0012_key_owners"
branch_labels = None
depends_on = None

_BATCH = 1000
_audit = sa.table("audit_log", sa.column("id", sa.BigInteger()), sa.column("at", UTCDateTime()),
                  sa.column("actor", sa.String()), sa.column("action", sa.String()),
                  sa.column("subject", sa.String()), sa.column("details", JSONDoc),
                  sa.column("prev_hash", sa.String()), sa.column("hash", sa.String()))


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        for name, width in (("before_digest", 64), ("after_digest", 64), ("request_id", 64), ("ip", 45),
                            ("user_agent", 300), ("prev_hash", 64), ("hash", 64)):
            batch.add_column(sa.Column(name, sa.String(width), nullable=True))
    _chain_existing_rows(op.get_bind())
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
        batch.create_index("ix_audit_log_actor", ["actor"])
        batch.create_index("ix_audit_log_subject", ["subject"])
        batch.create_index("ix_audit_log_request_id", ["request_id"])
    from touchflow.store.audit import GUARD_FUNCTION, GUARD_TRIGGER, SQLITE_GUARD_TRIGGER

    if op.get_bind().dialect.name == "postgresql":
        op.execute(GUARD_FUNCTION)
        op.execute(GUARD_TRIGGER)
    elif op.get_bind().dialect.name == "sqlite":
        op.execute(SQLITE_GUARD_TRIGGER)


def _chain_existing_rows(connection: sa.Connection) -> None:
    """Hash every row in id order; details are written back normalised (what the hash was computed over).
    One executemany per batch of rows."""
    fill = (sa.update(_audit).where(_audit.c.id == sa.bindparam("row_id"))
            .values(details=sa.bindparam("new_details", type_=JSONDoc), prev_hash=sa.bindparam("new_prev"),
                    hash=sa.bindparam("new_hash")))
    prev, after = GENESIS, 0
    while True:
        rows = connection.execute(sa.select(_audit).where(_audit.c.id > after).order_by(_audit.c.id)
                                  .limit(_BATCH)).all()
        if not rows:
            return
        changes = []
        for r in rows:
            row = AuditRow(r.id, r.at, r.actor, r.action, r.subject, normalise_json(r.details), prev_hash=prev)
            prev = row_hash(prev, row)
            changes.append({"row_id": r.id, "new_details": row.details, "new_prev": row.prev_hash, "new_hash": prev})
        connection.execute(fill, changes)
        after = rows[-1].id


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS touchflow_audit_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_log_request_id")
        batch.drop_index("ix_audit_log_subject")
        batch.drop_index("ix_audit_log_actor")
        for name in ("hash", "prev_hash", "user_agent", "ip", "request_id", "after_digest", "before_digest"):
            batch.drop_column(name)
