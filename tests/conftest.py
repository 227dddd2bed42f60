"""Shared fixtures. Every test that touches storage runs on SQLite and on PostgreSQL.

PostgreSQL tests need ``TOUCHFLOW_TEST_POSTGRES_URL`` (CI sets it); without it they are skipped
with a message saying so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from touchflow.bootstrap import Application, bootstrap
from touchflow.clock import VirtualClock
from touchflow.config import Settings, normalise_database_url
from touchflow.store.partitions import PG_ONLY_TABLES
from touchflow.store.tables import metadata

POSTGRES_ENV = "TOUCHFLOW_TEST_POSTGRES_URL"
PII_ENV = "TOUCHFLOW_TEST_PII_ENCRYPTION"  # "1": every `app` has personal data encrypted (ADR 0026)
_PG_DB = f"touchflow_test_{os.getpid()}"


def _postgres_admin_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    return normalise_database_url(url) if url else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin = _postgres_admin_url()
    if admin is None:
        pytest.skip(f"PostgreSQL tests skipped: set {POSTGRES_ENV}=postgresql://postgres@127.0.0.1:5432/test")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{_PG_DB}"'))
        c.execute(text(f'CREATE DATABASE "{_PG_DB}"'))
    base, _, _ = admin.rpartition("/")
    url = f"{base}/{_PG_DB}"
    migrated = bootstrap(Settings(url))
    migrated.init_database()
    migrated.close()
    yield url
    with engine.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{_PG_DB}" WITH (FORCE)'))
    engine.dispose()


CONFIG_DIR = "touchflow-config"


@pytest.fixture(autouse=True)
def _own_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Key files of non-SQLite databases go to the test's own directory, never the real ~/.config; a key in
    the developer's environment never leaks into a test."""
    monkeypatch.setenv("TOUCHFLOW_CONFIG_DIR", str(tmp_path / CONFIG_DIR))
    monkeypatch.delenv("TOUCHFLOW_SECRET_KEY", raising=False)
    monkeypatch.delenv("TOUCHFLOW_SECRET_KEY_FILE", raising=False)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'touchflow.db').as_posix()}"
    url: str = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    with engine.begin() as c:
        # event_ids: PostgreSQL's duplicate check of events (ADR 0054), not in the shared metadata
        names = ", ".join(f'"{t}"' for t in (*(t.name for t in metadata.sorted_tables), *PG_ONLY_TABLES))
        c.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def app(database_url: str, clock: VirtualClock, tmp_path: Path) -> Iterator[Application]:
    """What ``touchflow init`` makes: the schema and the database's secret key (a key file, mode 0600)."""
    application = bootstrap(Settings(database_url, config_dir=str(tmp_path / CONFIG_DIR)), clock=clock)
    application.init_database()
    application.create_secret_key()
    if os.environ.get(PII_ENV) == "1":
        application.pii_keys.rotate(clock.now, actor="test")
    yield application
    application.close()
