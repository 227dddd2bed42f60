"""``journey show`` and ``GET /v1/journeys/{key}``: messages by channel *and* status, so skipped messages are
not counted as messages sent (issue 11, item 10)."""

from __future__ import annotations

import warnings

import orjson
from sqlalchemy import select, update
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.guarding import freeze_contact
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import publish_journey
from touchflow.services.tracking import delivery_receipt
from touchflow.store.tables import outbox

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

JOURNEY = """
key: welcome_counts
name: 欢迎邮件
trigger: {event: signup}
nodes:
  hello: {kind: send, channel: email, template: welcome_counts}
"""


def test_skipped_messages_are_shown_as_skipped_not_as_messages(app: Application, client: TestClient) -> None:
    publish_journey(app.services, JOURNEY, actor="test")
    emails = [f"w{n}@counts.test" for n in range(5)]
    upsert_contacts(app.services, "crm", [RawItem({"email": e}) for e in emails])
    for e in emails[3:]:  # two complained by phone: their welcome email is skipped
        freeze_contact(app.services, f"email:{e}", "电话投诉", actor="test")
    now = app.services.clock.now().isoformat()
    record_events(app.services, "web", [RawItem({"id": f"s{n}", "type": "signup", "email": e, "occurred_at": now})
                                        for n, e in enumerate(emails)])
    JourneyRuntime(app.services).tick()
    dispatcher = Dispatcher(app.services, batch_size=50, channels=ChannelRegistry.capture_all(("email",)))
    try:
        dispatcher.dispatch_all()
    finally:
        dispatcher.close()
    with app.engine.begin() as c:
        rows = list(c.execute(select(outbox.c.id, outbox.c.status, outbox.c.reason).order_by(outbox.c.id)))
        sent = [r.id for r in rows if r.status == "sent"]
        assert len(sent) == 3 and sum(r.status == "skipped" for r in rows) == 2, rows
        c.execute(update(outbox).where(outbox.c.id == sent[0]).values(provider_id="prov-1"))
    assert delivery_receipt(app.services, "prov-1", "delivered") == sent[0]

    expected = {"email": {"total": 5, "sent": 3, "delivered": 1, "skipped": {"complaint_freeze": 2},
                          "deferred": {}, "failed": {}, "pending": 0}}
    result = CliRunner().invoke(cli, ["journey", "show", "welcome_counts", "--json"],
                                env={"TOUCHFLOW_DATABASE_URL": app.settings.database_url})
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["messages_by_status"] == expected
    result = CliRunner().invoke(cli, ["journey", "show", "welcome_counts"],
                                env={"TOUCHFLOW_DATABASE_URL": app.settings.database_url})
    assert "email: 5 messages: sent 3 (delivered 1), skipped 2 (complaint_freeze 2)" in result.output
    shown = client.get("/v1/journeys/welcome_counts").json()
    assert shown["messages_by_status"] == expected
    result = CliRunner().invoke(cli, ["journey", "trace", "welcome_counts", f"email:{emails[0]}"],
                                env={"TOUCHFLOW_DATABASE_URL": app.settings.database_url})
    assert result.exit_code == 0, result.output
    assert "+08:00" in result.output and "Asia/Shanghai" in result.output  # times with their zone
