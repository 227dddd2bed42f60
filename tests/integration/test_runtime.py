"""The durable runtime on a real database: events in, runs advanced in batches, outbox rows out."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import (
    enrol_contact,
    journey_stats,
    publish_journey,
    set_journey_status,
    set_run_status,
    trace_contact,
)
from touchflow.store.tables import journey_runs, outbox, tasks

EXAMPLES = Path(__file__).parents[2] / "examples" / "journeys"


def publish(app: Application, name: str) -> None:
    publish_journey(app.services, (EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"), actor="test")


def download(app: Application, who: str, content_type: str = "whitepaper", n: int = 1) -> None:
    record_events(app.services, "website", [RawItem({
        "type": "content_download", "email": who, "occurred_at": app.services.clock.now().isoformat(),
        "properties": {"content_id": f"wp-{n}", "content_type": content_type}})])


def opened(app: Application, who: str, message_id: str, journey_id: str) -> None:
    """``who`` opens the digest ``message_id`` of journey ``journey_id`` now."""
    record_events(app.services, "email", [RawItem({
        "type": "message_opened", "email": who, "occurred_at": app.services.clock.now().isoformat(),
        "properties": {"message_id": message_id, "channel": "email", "journey_id": journey_id,
                       "node_id": "send_digest"}})])


def outbox_rows(app: Application) -> list[tuple[str, str, str]]:
    with app.engine.connect() as c:
        return [tuple(r) for r in c.execute(select(outbox.c.contact_id, outbox.c.channel, outbox.c.template)
                                             .order_by(outbox.c.created_at, outbox.c.id))]


def test_rule_a_end_to_end_with_virtual_time(app: Application, clock: VirtualClock) -> None:
    publish(app, "rule_a_whitepaper")
    runtime = JourneyRuntime(app.services)
    download(app, "a@x.cn")
    download(app, "b@x.cn", content_type="case_study")  # not a whitepaper: no entry
    report = runtime.tick()
    assert report.events == 2 and report.entered == 1
    assert [(ch, tpl) for _, ch, tpl in outbox_rows(app)] == [("email", "whitepaper_digest")]

    clock.advance(timedelta(days=2, hours=23))
    runtime.tick()
    assert len(outbox_rows(app)) == 1  # still waiting
    clock.advance(timedelta(hours=1))
    report = runtime.tick()
    assert report.timers == 1
    assert [(ch, tpl) for _, ch, tpl in outbox_rows(app)] == [
        ("email", "whitepaper_digest"), ("wecom", "whitepaper_followup_cs")]
    with app.engine.connect() as c:
        task = c.execute(select(tasks.c.queue, tasks.c.due_at)).one()
    assert task.queue == "service" and task.due_at == clock.now() + timedelta(hours=2)

    traces = trace_contact(app.services, "rule_a_whitepaper", "email:a@x.cn")
    assert len(traces) == 1 and traces[0].run.status == "completed"
    assert [s.node_id for s in traces[0].steps][:3] == ["send_digest", "send_digest", "wait_engagement"]
    assert "on_timeout" in [s.edge for s in traces[0].steps]
    stats = journey_stats(app.services, "rule_a_whitepaper")
    assert stats.runs_by_status == {"completed": 1}
    assert stats.messages_by_channel == {"email": 1, "wecom": 1}


def test_opening_the_email_takes_the_engaged_branch(app: Application, clock: VirtualClock) -> None:
    publish(app, "rule_a_whitepaper")
    runtime = JourneyRuntime(app.services, dispatcher=Dispatcher(app.services))
    download(app, "a@x.cn")
    runtime.tick()
    assert len(outbox_rows(app)) == 1
    with app.engine.connect() as c:
        message_id, run_journey = c.execute(select(outbox.c.id, outbox.c.journey_id)).one()
    clock.advance(timedelta(hours=5))
    opened(app, "a@x.cn", message_id, run_journey)
    runtime.tick()
    traces = trace_contact(app.services, "rule_a_whitepaper", "email:a@x.cn")
    assert traces[0].run.status == "completed"
    assert "engaged" in [s.node_id for s in traces[0].steps]
    assert len(outbox_rows(app)) == 1  # no WeCom follow-up
    from touchflow.services.contacts import get_contact_profile

    assert "whitepaper_engaged" in get_contact_profile(app.services, "email:a@x.cn").state.tags


def test_a_run_on_an_earlier_version_hears_an_event_the_current_version_dropped(app: Application,
                                                                               clock: VirtualClock) -> None:
    """Running contacts finish on their version (J10): v2 stops waiting for opens, v1's waiting run still hears one."""
    publish(app, "rule_a_whitepaper")
    runtime = JourneyRuntime(app.services, dispatcher=Dispatcher(app.services))
    download(app, "a@x.cn")
    runtime.tick()
    with app.engine.connect() as c:
        message_id, journey_id = c.execute(select(outbox.c.id, outbox.c.journey_id)).one()
    v1 = (EXAMPLES / "rule_a_whitepaper.yaml").read_text(encoding="utf-8")
    v2 = v1.replace("events: [message_opened, message_clicked]", "events: [message_clicked]")
    assert v2 != v1 and "message_opened" not in v2
    publish_journey(app.services, v2, actor="test")
    clock.advance(timedelta(hours=5))
    opened(app, "a@x.cn", message_id, journey_id)
    runtime.tick()
    traces = trace_contact(app.services, "rule_a_whitepaper", "email:a@x.cn")
    assert traces[0].run.version == 1 and traces[0].run.status == "completed"
    assert "engaged" in [s.node_id for s in traces[0].steps]
    assert len(outbox_rows(app)) == 1  # no WeCom follow-up: the open was heard


def test_entry_rules_and_reentry(app: Application, clock: VirtualClock) -> None:
    publish(app, "rule_a_whitepaper")  # max 3 entries, cooldown 30 d
    runtime = JourneyRuntime(app.services)
    download(app, "a@x.cn", n=1)
    download(app, "a@x.cn", n=2)  # while the first run is active: ignored
    runtime.tick()
    with app.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(journey_runs)).scalar_one() == 1
    clock.advance(timedelta(days=10))
    runtime.tick()
    download(app, "a@x.cn", n=3)  # run finished, but within the cooldown
    runtime.tick()
    clock.advance(timedelta(days=25))
    download(app, "a@x.cn", n=4)
    runtime.tick()
    with app.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(journey_runs)).scalar_one() == 2


def test_pause_journey_holds_runs_and_resume_picks_up_events_seen_meanwhile(app: Application,
                                                                             clock: VirtualClock) -> None:
    publish(app, "rule_a_whitepaper")
    runtime = JourneyRuntime(app.services)
    download(app, "a@x.cn")
    runtime.tick()
    set_journey_status(app.services, "rule_a_whitepaper", "paused", actor="ops", reason="copy review")
    download(app, "b@x.cn")  # no entries while paused
    clock.advance(timedelta(hours=1))
    record_events(app.services, "email", [RawItem({"type": "message_clicked", "email": "a@x.cn",
                                                   "occurred_at": clock.now().isoformat(),
                                                   "properties": {"message_id": "m", "channel": "email",
                                                                  "journey_id": _journey_id(app),
                                                                  "node_id": "send_digest"}})])
    clock.advance(timedelta(days=4))  # the timeout passes during the pause: the run holds
    runtime.tick()
    assert len(outbox_rows(app)) == 1
    set_journey_status(app.services, "rule_a_whitepaper", "active", actor="ops")
    runtime.tick()
    traces = trace_contact(app.services, "rule_a_whitepaper", "email:a@x.cn")
    assert traces[0].run.status == "completed" and "engaged" in [s.node_id for s in traces[0].steps]
    assert len(outbox_rows(app)) == 1  # engaged: no WeCom message, even though the timeout had passed


def _journey_id(app: Application) -> str:
    return journey_stats(app.services, "rule_a_whitepaper").journey.id


def test_pause_and_remove_one_contact_and_enrol_by_hand(app: Application, clock: VirtualClock) -> None:
    publish(app, "rule_a_whitepaper")
    runtime = JourneyRuntime(app.services)
    upsert_contacts(app.services, "crm", [RawItem({"email": "c@x.cn"})])
    enrol_contact(app.services, "rule_a_whitepaper", "email:c@x.cn", actor="sales:li")
    runtime.tick()
    assert len(outbox_rows(app)) == 1
    set_run_status(app.services, "rule_a_whitepaper", "email:c@x.cn", "pause", actor="ops")
    clock.advance(timedelta(days=5))
    runtime.tick()
    assert len(outbox_rows(app)) == 1  # paused: no follow-up
    set_run_status(app.services, "rule_a_whitepaper", "email:c@x.cn", "resume", actor="ops")
    runtime.tick()
    assert len(outbox_rows(app)) == 2  # resumed: the overdue timeout fires
    download(app, "c@x.cn")
    runtime.tick()  # completed run, but the cooldown blocks re-entry


def test_reingesting_the_same_event_does_not_enter_twice(app: Application) -> None:
    publish(app, "rule_a_whitepaper")
    runtime = JourneyRuntime(app.services)
    item = RawItem({"id": "evt-1", "type": "content_download", "email": "a@x.cn",
                    "properties": {"content_id": "wp", "content_type": "whitepaper"}})
    record_events(app.services, "website", [item])
    record_events(app.services, "website", [item])
    runtime.tick()
    assert len(outbox_rows(app)) == 1
