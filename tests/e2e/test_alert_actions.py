"""What a triggered alert does besides pausing (SQLite and PostgreSQL): a Chinese notification to staff sent by the
worker's pass through the configured email channel — once, a failure retried — and a journey-level task listed by
the CLI and the API that an SLA pass copes with; the tracking route keeps a device class that ``explain`` splits by.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from tests.e2e.test_alerts import cli_run, send, setup, status
from tests.fakes.smtp_server import FakeSmtpServer
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.content.tokens import TokenSigner
from touchflow.domain.measurement.alert_rules import DEFAULT_RULES
from touchflow.engine.report_pass import AlertNotifyPass, channel_sender
from touchflow.services.alert_actions import deliver_alert_notifications
from touchflow.services.alerts import evaluate_alerts, set_rule
from touchflow.services.channels import save_channel
from touchflow.services.explain import explain
from touchflow.services.tasks import complete_task, report_sla_breaches
from touchflow.store.tables import alert_notifications, audit_log, outbox, tasks

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

RULE = {**DEFAULT_RULES[1], "actions": ["pause", "notify", "task"],
        "notify": {"channel": "email", "to": "ops@example.cn"}, "assignee": "wang"}


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


def _email_channel(app: Application, server: FakeSmtpServer) -> None:
    save_channel(app.services, "email", "smtp", {"host": "127.0.0.1", "port": server.port, "security": "none",
                                                 "from_address": "alerts@touchflow.example.cn",
                                                 "from_name": "触达 告警", "timeout_s": 5.0},
                 None, None, 2, True, actor="test")


def _deliver(app: Application) -> int:
    channels = app.channels()
    try:
        return deliver_alert_notifications(app.services, lambda name: channel_sender(channels, name))
    finally:
        channels.close()


def _fire(app: Application) -> None:
    set_rule(app.services, RULE, actor="ops")
    journey_id, people = setup(app)
    send(app, journey_id, people, complaints=20)
    evaluate_alerts(app.services, daily=False)
    assert status(app)[0] == "paused"


def test_notify_sends_one_chinese_email_through_the_worker_pass(app: Application, clock: VirtualClock,
                                                                smtp: FakeSmtpServer) -> None:
    _email_channel(app, smtp)
    _fire(app)
    with app.engine.connect() as c:
        [row] = c.execute(select(alert_notifications)).all()
    assert row.status == "queued" and row.recipients == ["ops@example.cn"]
    channels = app.channels()
    chore = AlertNotifyPass(app.services, lambda name: channel_sender(channels, name))
    try:
        assert chore() == 1
        clock.advance(timedelta(minutes=5))
        assert chore() == 0  # never twice
    finally:
        channels.close()
    [mail] = smtp.messages()
    assert mail.rcpt_tos == ("ops@example.cn",)
    subject = str(mail.message["Subject"])
    assert subject.startswith("【Touchflow 告警】旅程") and "投诉率" in subject
    body = mail.message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "p 值" in text and "旅程已自动暂停" in text and "touchflow journey resume promo" in text
    assert list(mail.message.iter_attachments()) == []
    with app.engine.connect() as c:
        [row] = c.execute(select(alert_notifications)).all()
        actions = [r.action for r in c.execute(select(audit_log.c.action))]
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    assert "alert.notify_sent" in actions
    code, out = cli_run(app, "alert", "notifications", "--json")
    assert code == 0 and json.loads(out)[0]["status"] == "sent"


def test_a_failed_notification_is_retried_later(app: Application, clock: VirtualClock,
                                                smtp: FakeSmtpServer) -> None:
    _fire(app)
    assert _deliver(app) == 0  # no email channel yet: failed, kept
    with app.engine.connect() as c:
        row = c.execute(select(alert_notifications)).one()
    assert row.status == "failed" and "no 'email' channel" in row.error and row.attempts == 1
    _email_channel(app, smtp)
    clock.advance(timedelta(minutes=10))
    assert _deliver(app) == 0  # not before the retry delay
    clock.advance(timedelta(minutes=21))
    assert _deliver(app) == 1
    assert _deliver(app) == 0
    assert len(smtp.messages()) == 1
    with app.engine.connect() as c:
        row = c.execute(select(alert_notifications)).one()
    assert row.status == "sent" and row.attempts == 2


def test_the_task_action_opens_a_journey_task_the_cli_api_and_sla_pass_handle(app: Application,
                                                                               client: TestClient,
                                                                               clock: VirtualClock) -> None:
    _fire(app)
    code, out = cli_run(app, "task", "list", "--json")
    assert code == 0, out
    [listed] = [t for t in json.loads(out) if t["contact_id"] is None]
    assert listed["assignee"] == "wang" and "投诉率" in listed["title"]
    response = client.get("/v1/tasks")
    assert response.status_code == 200, response.text
    [item] = [t for t in response.json()["items"] if t["contact_id"] is None]
    assert item["id"] == listed["id"] and item["queue"] == "marketing" and item["journey_id"] is not None
    clock.advance(timedelta(hours=25))
    assert report_sla_breaches(app.services) == 1  # marked, no contact event, no crash
    assert report_sla_breaches(app.services) == 0
    with app.engine.connect() as c:
        row = c.execute(select(tasks).where(tasks.c.id == item["id"])).one()
    assert row.breached_at is not None
    done = complete_task(app.services, item["id"], by="ops")
    assert done.status == "done"


def test_an_open_through_the_route_with_a_mobile_agent_explains_as_mobile(app: Application, client: TestClient,
                                                                          clock: VirtualClock) -> None:
    journey_id, people = setup(app)
    now = clock.now()
    at = now - timedelta(minutes=30)
    with app.engine.begin() as c:
        c.execute(insert(outbox), [{"id": f"mm{i}", "idempotency_key": f"mm{i}", "contact_id": contact,
                                    "journey_id": journey_id, "node_id": "mail", "channel": "email",
                                    "template": "promo_a", "payload": {}, "status": "sent", "attempts": 1,
                                    "created_at": at, "updated_at": at, "next_attempt_at": at, "sent_at": at,
                                    "address": f"x{i}@qq.com"} for i, contact in enumerate(people[:4])])
    signer = TokenSigner(app.token_secret())
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
    token = signer.make_token("open", {"m": "mm0", "c": people[0]})
    assert client.get(f"/t/o/{token}", headers={"User-Agent": iphone}).status_code == 200
    token = signer.make_token("open", {"m": "mm1", "c": people[1]})
    assert client.get(f"/t/o/{token}", headers={"User-Agent": "Mozilla/5.0"}).status_code == 200  # Apple MPP
    found = explain(app.services, "open_rate", "promo", now - timedelta(hours=1), now + timedelta(hours=1),
                    by="device", base_start=now - timedelta(days=2), base_end=now - timedelta(days=1))
    shares = {s.key: s for s in found.result.segments}
    assert shares["mobile"].successes1 == 1 and shares["proxy"].successes1 == 1
