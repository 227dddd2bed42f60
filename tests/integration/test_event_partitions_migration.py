"""Migration 0035 on a database that already holds events (ADR 0054): every row is kept with its columns and its
commit-order stamp, each month that holds rows gets its partition, the duplicate check holds from the first insert
after it; its downgrade gives the plain table back with every row (PostgreSQL; SQLite: nothing changes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from tests.integration.own_database import database_of_its_own
from touchflow.bootstrap import bootstrap
from touchflow.clock import VirtualClock
from touchflow.config import Settings
from touchflow.store import schema
from touchflow.store.tables import contacts

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
_COLUMNS = "id, contact_id, type, occurred_at, received_at, source, properties, identity, msg_id, msg_template, xact"


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_of_its_own(request.param, tmp_path, "partition_migration")


def _migrate(engine: sa.Engine, target: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(schema.__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, target)


def _at(engine: sa.Engine, at: datetime) -> datetime | str:
    """As the column type stores it: PostgreSQL takes the aware value, SQLite naive UTC text."""
    return at if engine.dialect.name == "postgresql" else at.replace(tzinfo=None).isoformat(" ", "microseconds")


def _rows(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(f"SELECT {_COLUMNS} FROM events ORDER BY id"))]


def test_upgrading_keeps_every_event_and_the_duplicate_check(old_database: str) -> None:
    app = bootstrap(Settings(old_database), clock=VirtualClock(AT))
    try:
        _migrate(app.engine, "0032_console_scale")
        props = {"message_id": "m1", "channel": "email", "journey_id": "j1", "node_id": "hello",
                 "template": "welcome", "template_version": 3}
        with app.engine.begin() as c:
            c.execute(sa.insert(contacts).values(id="c1", created_at=AT, updated_at=AT, custom={}, lineage={}))
            # three years of events, one every 11 days, a message event among them, one from 1990
            for n in range(100):
                c.execute(text("INSERT INTO events (id, contact_id, type, occurred_at, received_at, source, "
                               "properties, identity) VALUES (:id, 'c1', :type, :at, :at, 'web', :props, 'email:x')"),
                          {"id": f"e{n:03d}", "type": "message_sent" if n == 7 else "page_view",
                           "at": _at(app.engine, AT - timedelta(days=11 * n)),
                           "props": json.dumps(props if n == 7 else {})})
            c.execute(text("INSERT INTO events (id, contact_id, type, occurred_at, received_at, source, properties) "
                           "VALUES ('ancient', 'c1', 'page_view', :at, :at, 'web', '{}')"),
                      {"at": _at(app.engine, datetime(1990, 1, 1, tzinfo=UTC))})
        _migrate(app.engine, "0034_receipts_rollup")
        before = _rows(app.engine)
        assert len(before) == 101 and any(r[8] == "m1" for r in before)  # 0024's columns filled
        app.init_database()  # 0035 and on
        assert _rows(app.engine) == before  # every row, every column, the same commit stamp (xact)
        with app.services.uow() as uow:
            assert uow.events.existing_ids(["e000", "e099", "ancient", "nope"]) == {"e000", "e099", "ancient"}
        with app.engine.begin() as c:  # a duplicate in another month than the stored one is still refused
            c.execute(text("INSERT INTO events (id, contact_id, type, occurred_at, received_at, source, properties) "
                           "VALUES ('e050', 'c1', 'page_view', :at, :at, 'web', '{}') ON CONFLICT DO NOTHING"),
                      {"at": _at(app.engine, AT)})
        assert _rows(app.engine) == before
        if app.engine.dialect.name != "postgresql":
            return
        with app.engine.connect() as c:
            where = dict(c.execute(text("SELECT id, tableoid::regclass::text FROM events")).all())
            assert c.execute(text("SELECT count(*) FROM event_ids")).scalar_one() == 101
        assert where["e000"] == "events_p202603" and where["e099"] == "events_p202303"
        assert where["ancient"] == "events_default"  # more than ten years old: the default partition
        _migrate(app.engine, "0034_receipts_rollup", down=True)  # and back: the plain table, every row
        assert _rows(app.engine) == before
        with app.engine.connect() as c:
            assert c.execute(text("SELECT relkind FROM pg_class WHERE relname = 'events'")).scalar_one() == "r"
    finally:
        app.close()
