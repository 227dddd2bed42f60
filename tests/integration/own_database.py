"""A database of a test's own, on SQLite or PostgreSQL, for tests that migrate it down and up again."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from touchflow.config import normalise_database_url


def database_of_its_own(kind: str, tmp_path: Path, label: str) -> Iterator[str]:
    """Yield the URL of an empty database (``kind`` "sqlite" or "postgresql"), dropped afterwards; PostgreSQL
    is skipped without TOUCHFLOW_TEST_POSTGRES_URL. Use as ``yield from database_of_its_own(request.param, …)``."""
    if kind == "sqlite":
        yield f"sqlite:///{(tmp_path / f'{label}.db').as_posix()}"
        return
    admin = os.environ.get("TOUCHFLOW_TEST_POSTGRES_URL")
    if not admin:
        pytest.skip("PostgreSQL tests skipped: set TOUCHFLOW_TEST_POSTGRES_URL")
    admin = normalise_database_url(admin)
    name = f"touchflow_{label}_{os.getpid()}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"{admin.rpartition('/')[0]}/{name}"
    with engine.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
