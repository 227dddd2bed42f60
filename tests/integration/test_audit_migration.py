"""Migration 0013 chains the audit rows written before it, so a migrated database verifies (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tests.integration.own_database import database_of_its_own
from touchflow.bootstrap import bootstrap
from touchflow.config import Settings
from touchflow.services.audit import verify_chain
from touchflow.store import schema
from touchflow.store.types import JSONDoc, UTCDateTime

_old_audit = sa.table("audit_log", sa.column("id", sa.Integer()), sa.column("at", UTCDateTime()),
                      sa.column("actor", sa.String()), sa.column("action", sa.String()),
                      sa.column("subject", sa.String()), sa.column("details", JSONDoc))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_of_its_own(request.param, tmp_path, "audit_migration")


def test_rows_written_before_the_chain_verify_after_the_migration(empty_database: str) -> None:
    app = bootstrap(Settings(empty_database))
    try:
        config = Config()
        config.set_main_option("script_location", str(Path(schema.__file__).parent / "migrations"))
        with app.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0012_key_owners")
        at = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
        with app.engine.begin() as c:  # as the old repository wrote them (ids with a gap: a rolled-back insert)
            old = [{"reason": "x", "f": 1.5, "whole": 3.0}, {}, {"nested": {"b": 1, "a": [1e16]}}]
            for i, details in enumerate(old):
                c.execute(sa.insert(_old_audit).values(id=i * 2 + 1, at=at + timedelta(minutes=i), actor="os:old",
                                                      action="contact.patch", subject=f"c{i}", details=details))
        app.init_database()
        report = verify_chain(app.services)
        assert report.ok and report.checked == 3 and report.last_id == 5
        with app.services.uow() as uow:  # and new rows continue the chain
            uow.audit.record("os:new", "contact.patch", "c9", {"reason": "after"}, at + timedelta(days=1))
            uow.commit()
        report = verify_chain(app.services)
        assert report.ok and report.checked == 4 and report.last_id == 6
    finally:
        app.close()
