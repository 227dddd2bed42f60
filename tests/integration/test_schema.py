"""The Alembic migrations produce exactly the tables the code declares, and init is idempotent."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from touchflow.bootstrap import Application
from touchflow.store.partitions import is_partition_table
from touchflow.store.schema import current_revision, head_revision
from touchflow.store.tables import metadata


def _declared(name: str | None, kind: str, parents: dict[str, str | None]) -> bool:
    """Partitions of events and event_ids exist on PostgreSQL only (ADR 0054): the metadata declares the parent."""
    table = name if kind == "table" else parents.get("table_name")
    return not (table and is_partition_table(table))


def test_migrations_match_table_definitions(app: Application) -> None:
    with app.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": _declared})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_events_are_partitioned_by_month_on_postgresql_only(app: Application) -> None:
    with app.engine.connect() as connection:
        if app.engine.dialect.name == "sqlite":
            names = set(connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars())
            assert "events" in names and not {n for n in names if is_partition_table(n)}
            return
        kind = connection.exec_driver_sql("SELECT relkind FROM pg_class WHERE relname = 'events'").scalar_one()
        parts = set(connection.exec_driver_sql("SELECT inhrelid::regclass::text FROM pg_inherits "
                                               "WHERE inhparent = 'events'::regclass").scalars())
    assert kind == "p"
    assert "events_default" in parts and len(parts) >= 4  # the default, this month and the next two


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
