"""Migration 0024 backfills the message columns of stored events (the version inherited from the send too), and
the first refresh after it recounts every rollup row under the new watermark (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from tests.integration.own_database import database_of_its_own
from touchflow.bootstrap import bootstrap
from touchflow.clock import VirtualClock
from touchflow.config import Settings
from touchflow.services.metrics import CURSOR_KEY, metric_rows, refresh_rollups
from touchflow.store import schema
from touchflow.store.tables import contacts, workspace_settings
from touchflow.store.types import JSONDoc, UTCDateTime

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
_old_events = sa.table("events", sa.column("id", sa.String()), sa.column("contact_id", sa.String()),
                       sa.column("type", sa.String()), sa.column("occurred_at", UTCDateTime()),
                       sa.column("received_at", UTCDateTime()), sa.column("source", sa.String()),
                       sa.column("properties", JSONDoc))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_of_its_own(request.param, tmp_path, "rollup_migration")


def test_the_migration_backfills_columns_and_the_rollups_recount(empty_database: str) -> None:
    clock = VirtualClock(AT)
    app = bootstrap(Settings(empty_database), clock=clock)
    try:
        config = Config()
        config.set_main_option("script_location", str(Path(schema.__file__).parent / "migrations"))
        with app.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0023_workspace_holdout")
        props = {"message_id": "m1", "channel": "email", "journey_id": "j1", "node_id": "hello",
                 "template": "welcome"}
        with app.engine.begin() as c:
            c.execute(sa.insert(contacts).values(id="c1", created_at=AT, updated_at=AT, custom={}, lineage={}))
            c.execute(sa.insert(_old_events), [
                {"id": f"m_m1_{stage}", "contact_id": "c1", "type": f"message_{stage}", "occurred_at": AT,
                 "received_at": AT, "source": "t", "properties": {**props, **extra}}
                for stage, extra in (("sent", {"template_version": 3}), ("opened", {}),
                                     ("skipped", {"guardrail": "quiet_hours"}))]
                + [{"id": "e1", "contact_id": "c1", "type": "page_view", "occurred_at": AT, "received_at": AT,
                    "source": "t", "properties": {}}])
            # a cursor of the old kind: (received_at, id) marks
            c.execute(sa.insert(workspace_settings).values(
                key=CURSOR_KEY, value={"events": ["2026-03-02T01:00:00+00:00", "m_m1_sent"]}, updated_at=AT,
                updated_by="test"))
        app.init_database()  # on to head: 0024 and later
        with app.engine.connect() as c:
            found = c.execute(text("SELECT id, msg_template || '|' || msg_reason || '|' || msg_id FROM events "
                                   "WHERE msg_id IS NOT NULL")).all()
        rows: dict[str, str] = {str(k): str(v) for k, v in found}
        assert rows == {"m_m1_sent": "welcome@3||m1", "m_m1_opened": "welcome@3||m1",
                        "m_m1_skipped": "welcome|quiet_hours|m1"}
        clock.advance(timedelta(minutes=5))
        assert refresh_rollups(app.services).events == 3
        (day,) = metric_rows(app.services, start=date(2026, 3, 2), end=date(2026, 3, 2))
        assert (day.sent, day.opened_unique, day.skipped) == (1, 1, {"quiet_hours": 1})
    finally:
        app.close()
