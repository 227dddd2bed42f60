"""A send to a template that does not exist: ``journey publish`` refuses it, and the worker never records such
a message as sent (one whose template vanished fails with the reason). SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, select
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.content import save_template
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import journeys, outbox, templates

JOURNEY = """
key: spring_sale
name: 春季上新
trigger: {event: signup}
start: mail
nodes:
  mail: {kind: send, channel: email, template: spring_sale_mail, next: done}
  done: {kind: exit}
"""


def test_journey_publish_refuses_a_template_that_does_not_exist(app: Application, tmp_path: Path) -> None:
    path = tmp_path / "spring.yaml"
    path.write_text(JOURNEY, encoding="utf-8")
    env = {"TOUCHFLOW_DATABASE_URL": app.settings.database_url}
    result = CliRunner().invoke(cli, ["journey", "publish", str(path)], env=env)
    assert result.exit_code == 1, result.output
    assert "nodes.mail.template" in result.output and "spring_sale_mail" in result.output
    with app.engine.connect() as c:
        assert c.execute(select(journeys)).first() is None  # nothing was published
    save_template(app.services, "spring_sale_mail", "email", "春季上新", "新品已上市。", "text", by="editor")
    result = CliRunner().invoke(cli, ["journey", "publish", str(path)], env=env)
    assert result.exit_code == 0 and "published as version 1" in result.output, result.output


def test_the_worker_fails_a_message_whose_template_vanished(app: Application) -> None:
    save_template(app.services, "spring_sale_mail", "email", "春季上新", "新品已上市。", "text", by="editor")
    publish_journey(app.services, JOURNEY, actor="test", templates_required=True)
    with app.engine.begin() as c:  # the template is gone by the time the message is sent
        c.execute(delete(templates).where(templates.c.name == "spring_sale_mail"))
    record_events(app.services, "website", [RawItem({"id": "s1", "type": "signup", "email": "li@shop.test"})])
    dispatcher = app.dispatcher()  # what `touchflow worker` runs: no channels configured, so every one captures
    try:
        JourneyRuntime(app.services, dispatcher=dispatcher).tick()
    finally:
        dispatcher.close()
    with app.engine.connect() as c:
        (message,) = c.execute(select(outbox)).all()
    assert message.status == "dead" and message.sent_at is None and message.provider_id is None
    assert "spring_sale_mail" in message.last_error and message.reason == "provider_rejected"
