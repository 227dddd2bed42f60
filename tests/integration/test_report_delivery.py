"""Scheduled report delivery: once the week has closed (and the hour has come) the worker's report pass sends the
weekly report, PDF attached, to every recipient through the configured email channel — once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from tests.fakes.smtp_server import FakeSmtpServer
from tests.integration.reports_support import Scenario, local
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.actors import Actor
from touchflow.engine.report_pass import ReportPass, channel_sender
from touchflow.services.channels import save_channel
from touchflow.services.report_delivery import deliver_due_reports, set_report_schedule
from touchflow.store.tables import audit_log, report_deliveries

TO = ("boss@example.cn", "ops@example.cn")


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


def _deliver(app: Application) -> int:
    """One delivery check with the channels as configured now (closed after: no socket left open)."""
    channels = app.channels()
    try:
        return deliver_due_reports(app.services, channel_sender(channels))
    finally:
        channels.close()


def _email_channel(app: Application, server: FakeSmtpServer) -> None:
    save_channel(app.services, "email", "smtp", {"host": "127.0.0.1", "port": server.port, "security": "none",
                                                 "from_address": "reports@touchflow.example.cn",
                                                 "from_name": "触达 报表", "timeout_s": 5.0},
                 None, None, 2, True, actor="test")


def test_the_weekly_report_is_emailed_with_its_pdf_once(app: Application, clock: VirtualClock,
                                                         smtp: FakeSmtpServer) -> None:
    scenario = Scenario(app)
    scenario.runs(local(24), entered=10, converted=3)
    scenario.messages(local(24), sent=8, delivered=6, opened=4)
    _email_channel(app, smtp)
    set_report_schedule(app.services, {"recipients": list(TO), "kinds": ["weekly"], "hour": 8},
                        actor=Actor.os_user("alice"))
    channels = app.channels()
    chore = ReportPass(app.services, channel_sender(channels))

    clock.set(local(2, hour=7, month=3))  # Monday 07:00 local: the week has closed, the 08:00 hour not come
    chore()
    assert smtp.messages() == []
    clock.set(local(2, hour=9, month=3))
    try:
        assert chore() >= 1
    finally:
        channels.close()

    mails = smtp.messages()
    assert sorted(m.rcpt_tos[0] for m in mails) == sorted(TO)
    message = mails[0].message
    assert message["Subject"] == "营销自动化周报 2026-W09 (02-23–03-01)"
    assert message.get_content_type() == "multipart/mixed"
    [attachment] = list(message.iter_attachments())
    assert isinstance(attachment, EmailMessage)
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "touchflow-weekly-2026-02-23.pdf"
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF") and 10_000 < len(pdf) < 1_500_000
    body = message.get_body(("plain",))
    assert body is not None and "发送量: 8" in body.get_content()

    clock.advance(timedelta(hours=2))
    assert _deliver(app) == 0  # sent once per period
    assert len(smtp.messages()) == 2
    with app.engine.connect() as conn:
        [row] = conn.execute(select(report_deliveries)).all()
        assert (row.kind, row.period_start, row.status) == ("weekly", "2026-02-23", "sent")
        actions = [r.action for r in conn.execute(select(audit_log.c.action))]
    assert "reports.schedule" in actions and "report.sent" in actions


def test_a_failed_send_is_recorded_and_tried_again_later(app: Application, clock: VirtualClock,
                                                         smtp: FakeSmtpServer) -> None:
    set_report_schedule(app.services, {"recipients": ["boss@example.cn"], "kinds": ["daily"]},
                        actor=Actor.os_user("alice"))
    clock.set(local(2, hour=9, month=3))
    assert _deliver(app) == 0  # no email channel configured: capture only
    with app.engine.connect() as conn:
        row = conn.execute(select(report_deliveries)).one()
    assert row.status == "failed" and "no 'email' channel is configured" in row.detail

    _email_channel(app, smtp)
    clock.advance(timedelta(minutes=30))
    assert _deliver(app) == 0  # not before an hour
    clock.advance(timedelta(minutes=31))
    assert _deliver(app) == 1
    assert [m.rcpt_tos for m in smtp.messages()] == [("boss@example.cn",)]


def test_a_bad_schedule_names_the_field(app: Application) -> None:
    with pytest.raises(ValueError, match="recipients"):
        set_report_schedule(app.services, {"recipients": ["not an address"], "kinds": ["weekly"]},
                            actor=Actor.os_user("alice"))
    with pytest.raises(ValueError, match="kinds"):
        set_report_schedule(app.services, {"recipients": ["a@example.cn"], "kinds": ["hourly"]},
                            actor=Actor.os_user("alice"))
