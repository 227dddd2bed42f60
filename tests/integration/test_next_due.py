"""The runtime's one tick and its "next due" query: what the worker acts on next, and `worker --once`."""

from __future__ import annotations

import json
from datetime import timedelta

from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.clock import VirtualClock
from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import publish_journey

SMS_AT_SIGNUP = """
key: sms_now
trigger: {event: signup}
nodes:
  text: {kind: send, channel: sms, template: hello_sms, next: call}
  call: {kind: task, queue: sales, title: 回电, sla: 2h, next: done}
  done: {kind: exit}
"""


def signup(app: Application, who: str) -> None:
    upsert_contacts(app.services, "test", [RawItem({"email": who, "phone": "+8613900000001"})])
    record_events(app.services, "test", [RawItem({"type": "signup", "email": who})])


def test_next_due_is_the_deferred_send_and_the_task_deadline(app: Application, clock: VirtualClock) -> None:
    """22:30 China time: quiet hours defer the SMS to 08:00, the task is due at 00:30; the runtime says so."""
    clock.set(clock.now().replace(hour=14, minute=30))  # 22:30 in Shanghai
    publish_journey(app.services, SMS_AT_SIGNUP, actor="test")
    runtime = JourneyRuntime(app.services, dispatcher=Dispatcher(app.services), contact_pass=False)
    signup(app, "night@example.cn")
    assert runtime.next_due() == clock.now()  # an event waits in the inbox
    runtime.tick()
    deadline = clock.now() + timedelta(hours=2)
    morning = clock.now().replace(hour=0, minute=0) + timedelta(days=1)  # 08:00 Shanghai
    assert runtime.next_due() == deadline
    clock.set(deadline)
    report = runtime.tick()
    assert report.events >= 1  # task_sla_breached, at its deadline
    assert runtime.next_due() == morning
    clock.set(morning)
    assert runtime.tick().dispatched == 1
    assert runtime.next_due() is None  # nothing left that time alone would move
    runtime.dispatcher.close()  # type: ignore[union-attr]


def test_worker_once_does_what_is_due_and_says_so(app: Application) -> None:
    from touchflow.clock import SystemClock

    publish_journey(app.services, SMS_AT_SIGNUP.replace("channel: sms", "channel: email"), actor="test")
    # The command runs on the real clock: the signup happens now (an event of months ago would be history that
    # enters nothing: late_entry, ADR 0019).
    upsert_contacts(app.services, "test", [RawItem({"email": "once@example.cn", "phone": "+8613900000001"})])
    record_events(app.services, "test", [RawItem({"type": "signup", "email": "once@example.cn",
                                                  "occurred_at": SystemClock().now().isoformat()})])
    env = {"TOUCHFLOW_DATABASE_URL": app.settings.database_url}
    result = CliRunner().invoke(cli, ["worker", "--once", "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["entered"] == 1 and data["dispatched"] == 1 and data["ticks"] >= 1 and data["errors"] == []
    assert data["next_due_at"] is not None  # the task's deadline
    again = json.loads(CliRunner().invoke(cli, ["worker", "--once", "--json"], env=env).stdout)
    assert again["entered"] == 0 and again["dispatched"] == 0
    refused = CliRunner().invoke(cli, ["worker", "--json"], env=env)
    assert refused.exit_code == 2 and "--once" in refused.output
