"""Poison batches: one bad run or event is found by bisection and parked; the rest of the batch goes on.

Each test runs on SQLite and on PostgreSQL (the ``app`` fixture).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.journeys import publish_journey, trace_contact
from touchflow.store.tables import audit_log, event_inbox, journey_runs, journey_versions, journeys

WAITING = """
key: nurture
name: {name}
trigger: {{event: signup}}
start: wait
nodes:
  wait: {{kind: wait, duration: 1h, next: tag}}
  tag: {{kind: update_contact, add_tags: [nurtured], next: done}}
  done: {{kind: exit}}
"""


def signups(app: Application, emails: list[str]) -> None:
    record_events(app.services, "website", [RawItem({"id": f"s-{e}", "type": "signup", "email": e})
                                            for e in emails])


def runs(app: Application, key: str) -> list[Any]:
    with app.engine.connect() as c:
        return list(c.execute(select(journey_runs).join(journeys, journeys.c.id == journey_runs.c.journey_id)
                              .where(journeys.c.key == key).order_by(journey_runs.c.entered_at)))


def corrupt(app: Application, key: str, version: int, change: Any) -> None:
    """Edit a stored version behind the publisher's back (an old row, a hand edit, a bug elsewhere)."""
    with app.engine.begin() as c:
        journey_id = c.execute(select(journeys.c.id).where(journeys.c.key == key)).scalar_one()
        where = (journey_versions.c.journey_id == journey_id) & (journey_versions.c.version == version)
        data = c.execute(select(journey_versions.c.definition).where(where)).scalar_one()
        change(data)
        c.execute(update(journey_versions).where(where).values(definition=data))


def tick_until_idle(runtime: JourneyRuntime, times: int = 30) -> int:
    ticks = 0
    for ticks in range(1, times + 1):  # noqa: B007  (the count is the answer)
        if runtime.tick().work == 0:
            break
    return ticks


def test_a_run_whose_stored_version_breaks_is_parked_and_the_batch_goes_on(app: Application,
                                                                           clock: VirtualClock) -> None:
    publish_journey(app.services, WAITING.format(name="v1"), actor="test")
    signups(app, ["a@q.test", "b@q.test"])
    JourneyRuntime(app.services).tick()
    publish_journey(app.services, WAITING.format(name="v2"), actor="test")
    signups(app, ["c@q.test", "d@q.test", "e@q.test"])
    JourneyRuntime(app.services).tick()
    corrupt(app, "nurture", 1, lambda d: d["nodes"]["wait"].update(duration="soon"))
    clock.advance(timedelta(hours=2))
    runtime = JourneyRuntime(app.services)  # a fresh worker: nothing cached
    tick_until_idle(runtime)
    by_version = {(r.version, r.status) for r in runs(app, "nurture")}
    assert by_version == {(1, "failed"), (2, "completed")}
    parked = [r for r in runs(app, "nurture") if r.version == 1]
    assert len(parked) == 2 and all(r.error.startswith("quarantined: DefinitionError") for r in parked)
    assert all(r.wake_at is None for r in parked)
    (trace,) = trace_contact(app.services, "nurture", "email:a@q.test")
    assert trace.steps[-1].detail["quarantined"] is True
    with app.engine.connect() as c:
        actions = c.execute(select(audit_log.c.action)).scalars().all()
    assert actions.count("run.quarantined") == 2
    assert runtime.tick().work == 0  # nothing spins


BAD_AUDIENCE = """
key: vip_only
name: 只给会员
trigger: {event: signup}
start: mail
nodes:
  mail: {kind: update_contact, add_tags: [vip_welcomed], next: done}
  done: {kind: exit}
"""


def test_an_entry_whose_stored_audience_raises_is_parked_and_the_others_enter(app: Application) -> None:
    publish_journey(app.services, WAITING.format(name="good"), actor="test")
    publish_journey(app.services, BAD_AUDIENCE, actor="test")
    # an engagement condition needs a run: evaluated at entry, it raises (outside advance)
    corrupt(app, "vip_only", 1, lambda d: d["trigger"].update(audience={"opened": "mail"}))
    emails = [f"u{n}@q.test" for n in range(5)]
    signups(app, emails)
    runtime = JourneyRuntime(app.services, batch_size=4)
    ticks = tick_until_idle(runtime)
    assert ticks < 30
    with app.engine.connect() as c:
        assert c.execute(select(event_inbox)).first() is None  # every event was routed
    assert len(runs(app, "nurture")) == 5  # the good journey took every contact
    bad = runs(app, "vip_only")
    assert len(bad) == 5 and {r.status for r in bad} == {"failed"}
    assert all("MissingRunContext" in r.error for r in bad)
    (trace,) = trace_contact(app.services, "vip_only", "email:u3@q.test")
    assert trace.run.status == "failed" and trace.steps[0].detail["quarantined"] is True


SCHEDULED = """
key: {key}
name: {key}
trigger: {{schedule: {{every: 1d}}}}
start: tag
nodes:
  tag: {{kind: update_contact, add_tags: [{key}], next: done}}
  done: {{kind: exit}}
"""


def test_a_scan_whose_stored_audience_raises_does_not_stop_the_others_or_the_tick(app: Application) -> None:
    signups(app, ["s1@q.test", "s2@q.test"])
    for key in ("a_broken", "b_fine"):
        publish_journey(app.services, SCHEDULED.format(key=key), actor="test")
    corrupt(app, "a_broken", 1, lambda d: d["trigger"].update(audience={"opened": "tag"}))
    report = JourneyRuntime(app.services).tick()  # before: the exception ended the tick (and the dispatch in it)
    assert report.scanned >= 2
    assert len(runs(app, "b_fine")) == 2 and runs(app, "a_broken") == []
    with app.engine.connect() as c:
        (failed,) = c.execute(select(audit_log).where(audit_log.c.action == "journey.scan_failed")).all()
    assert failed.subject == "a_broken" and "quarantined" in failed.details["error"]
