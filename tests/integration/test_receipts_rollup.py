"""The rollups count providers' receipts (migration 0034, ADR 0050), so the console's list of journeys reads the
rollups only and shows what ``journey_stats`` counts from the outbox and the events — on SQLite and PostgreSQL,
for email (whose rollup ``delivered`` is sent − bounced) and sms, receipts arriving the local day after the send,
bounces, messages without a receipt, a journey with an entry segment: once refreshed, after the migration's
backfill of rollups counted before it, and after incremental refreshes that follow it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, or_, select, update

from tests.integration.own_database import database_of_its_own
from touchflow.bootstrap import Application, bootstrap
from touchflow.clock import VirtualClock
from touchflow.config import Settings
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import journey_stats, journeys_overview, publish_journey
from touchflow.services.metrics import metric_rows, raw_counts, rebuild_rollups, refresh_rollups
from touchflow.services.segments import create_segment
from touchflow.services.tracking import delivery_receipt
from touchflow.store import schema
from touchflow.store.tables import outbox

# 23:30 in Shanghai: receipts an hour later fall on the next local day
AT = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
JOURNEY = """
key: {key}
name: 收据
trigger: {trigger}
nodes:
  hello: {{kind: send, channel: email, template: {key}_mail, next: text}}
  text: {{kind: send, channel: sms, template: {key}_sms}}
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own: the test migrates it down and up again."""
    yield from database_of_its_own(request.param, tmp_path, "receipts")


def _send(app: Application, clock: VirtualClock, first: int, people: int) -> list[str]:
    """Sign ``people`` up (both journeys take them), run and dispatch; the provider ids of the messages sent."""
    who = [(f"r{n}@receipts.test", f"+8613700{n:06d}") for n in range(first, first + people)]
    upsert_contacts(app.services, "crm", [RawItem({"email": e, "phone": p, "city": "上海"}) for e, p in who])
    record_events(app.services, "web", [RawItem({"id": f"s{n}", "type": "signup", "email": e,
                                                 "occurred_at": clock.now().isoformat()})
                                        for n, (e, _) in enumerate(who, start=first)])
    runtime = JourneyRuntime(app.services)
    dispatcher = Dispatcher(app.services, batch_size=100, channels=ChannelRegistry.capture_all(("email", "sms")))
    try:
        for _ in range(3):
            runtime.tick()
            dispatcher.dispatch_all()
    finally:
        dispatcher.close()
    with app.engine.begin() as c:
        fresh = [r.id for r in c.execute(select(outbox.c.id).where(
            outbox.c.status == "sent", or_(outbox.c.provider_id.is_(None), outbox.c.provider_id.not_like("p-%")))
            .order_by(outbox.c.id))]
        for message_id in fresh:
            c.execute(update(outbox).where(outbox.c.id == message_id).values(provider_id=f"p-{message_id}"))
    assert fresh  # some are skipped by the frequency cap (four messages a person)
    return [f"p-{m}" for m in fresh]


def _receive(app: Application, clock: VirtualClock, providers: list[str]) -> None:
    """Most delivered (some an hour later: the next local day), one in five without a receipt, one bounced."""
    for n, provider in enumerate(providers):
        if n % 5 == 1:
            continue
        if n % 5 == 3:
            clock.advance(timedelta(minutes=20))
        if n == 6:
            assert delivery_receipt(app.services, provider, "bounced", "mailbox full")
        else:
            assert delivery_receipt(app.services, provider, "delivered")


def _refresh(app: Application, clock: VirtualClock) -> None:
    clock.advance(timedelta(minutes=2))  # past the rollups' settling time
    refresh_rollups(app.services)


def _migrations() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(schema.__file__).parent / "migrations"))
    return config


def _check(app: Application) -> None:
    expected = [journey_stats(app.services, key) for key in ("rc_a", "rc_b")]  # counted now, from the events
    assert journeys_overview(app.services) == expected
    delivered = {(s.journey.key, ch): e["delivered"] for s in expected for ch, e in s.messages_by_status.items()}
    assert {ch for (_, ch), n in delivered.items() if n} == {"email", "sms"}, delivered


def _rollups(app: Application) -> dict[object, object]:
    with app.services.reader() as uow:
        return dict(raw_counts(uow.metrics.rows("0000", "9999", None)))


def test_the_list_reads_receipts_from_the_rollups_before_and_after_the_migration(own_database: str) -> None:
    clock = VirtualClock(AT)
    app = bootstrap(Settings(own_database), clock=clock)
    try:
        app.init_database()
        with app.services.uow() as uow:  # texts at 23:30 too: receipts an hour later fall on the next local day
            uow.guards.set_setting("guardrails", {"quiet_hours": {"channels": []}}, "test", clock.now())
            uow.commit()
        create_segment(app.services, {"key": "shanghai", "name": "上海", "condition": {"attr": "city", "eq": "上海"}},
                       actor="test")
        publish_journey(app.services, JOURNEY.format(key="rc_a", trigger="{event: signup}"), actor="test")
        publish_journey(app.services, JOURNEY.format(key="rc_b", trigger='{segment: shanghai, "on": enter}'),
                        actor="test")
        _receive(app, clock, _send(app, clock, 0, 6))
        _refresh(app, clock)
        _check(app)
        counted = _rollups(app)
        days = metric_rows(app.services, start=date(2026, 2, 1), end=date(2026, 3, 5), by=("day", "channel"))
        assert {r.day for r in days} == {date(2026, 3, 1), date(2026, 3, 2)}
        assert any(counts.get("receipts") and not counts.get("sent") for counts, _ in counted.values())  # type: ignore[attr-defined]

        # the rollups as they were before migration 0034, then the migration's backfill
        with app.engine.begin() as connection:
            config = _migrations()
            config.attributes["connection"] = connection
            command.downgrade(config, "0033_console_aggregates")
        with app.engine.connect() as c:
            assert "receipts" not in {col["name"] for col in inspect(c).get_columns("metric_daily")}
        app.init_database()
        assert _rollups(app) == counted
        assert metric_rows(app.services, start=date(2026, 2, 1), end=date(2026, 3, 5), by=("day", "channel")) == days
        _check(app)

        # incremental refreshes after it, and a rebuild, agree
        _receive(app, clock, _send(app, clock, 6, 5))
        _refresh(app, clock)
        _check(app)
        counted = _rollups(app)
        rebuild_rollups(app.services)
        assert _rollups(app) == counted
    finally:
        app.close()
