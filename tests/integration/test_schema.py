"""The Alembic migrations produce exactly the tables the code declares, and init is idempotent."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from touchflow.bootstrap import Application
from touchflow.store.schema import current_revision, head_revision
from touchflow.store.tables import metadata


def test_migrations_match_table_definitions(app: Application) -> None:
    with app.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []


def test_init_is_idempotent(app: Application) -> None:
    assert app.init_database() == head_revision()
    assert app.init_database() == head_revision()
    assert current_revision(app.engine) == head_revision()


def test_sqlite_runs_in_wal_with_foreign_keys(app: Application) -> None:
    if app.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas only")
    with app.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
