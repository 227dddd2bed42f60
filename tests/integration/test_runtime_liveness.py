"""A tick ends under a steady feed: it routes the inbox it found (at most ``tick_limit`` events), then timers fire.

Under a continuous feed each inbox batch came back full, so the routing loop never ended and the worker's first
tick never reached timers, scans or dispatch. Here a feeder ingests more events after every routed batch.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.engine.runtime import JourneyRuntime, TickReport
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import journey_runs

JOURNEY = """
key: liveness
name: Liveness
trigger:
  event: signup
nodes:
  pause: {kind: wait, duration: 1h, next: done}
  done: {kind: exit}
"""
FEED_CAP = 40  # the feeder stops after this many batches, so a tick that keeps routing still ends (and fails)


def ingest(app: Application, kind: str, n: int, start: int = 0) -> None:
    record_events(app.services, "website", [RawItem({
        "id": f"{kind}-{start + k}", "type": kind, "email": f"p{start + k}@x.cn",
        "occurred_at": app.services.clock.now().isoformat(),
        "properties": {"url": "https://shop.example.cn/"} if kind == "page_view" else {}}) for k in range(n)])


class FedRuntime(JourneyRuntime):
    """The runtime while ingest keeps writing: every routed batch is followed by a new batch of page views."""

    def __init__(self, app: Application, batch_size: int) -> None:
        super().__init__(app.services, batch_size, tick_limit=1000)  # only the inbox at tick start bounds it
        self.app, self.feeding, self.fed = app, False, 0

    def route_events(self, limit: int | None = None) -> TickReport:
        report = super().route_events(limit)
        if self.feeding and self.fed < FEED_CAP:
            ingest(self.app, "page_view", self.batch_size, start=1000 + self.fed * self.batch_size)
            self.fed += 1
        return report


def statuses(app: Application) -> list[str]:
    with app.engine.connect() as c:
        return [r[0] for r in c.execute(select(journey_runs.c.status))]


def inbox(app: Application) -> int:
    with app.services.reader() as uow:
        return uow.journeys.inbox_size()


def test_a_tick_routes_the_inbox_it_found_and_then_fires_due_timers(app: Application, clock: VirtualClock) -> None:
    publish_journey(app.services, JOURNEY, actor="test")
    runtime = FedRuntime(app, batch_size=3)
    ingest(app, "signup", 1)
    assert runtime.tick().entered == 1 and statuses(app) == ["waiting"]
    clock.advance(timedelta(hours=2))  # the wait is over
    ingest(app, "page_view", 3)

    runtime.feeding = True
    report = runtime.tick()

    assert report.events == 3  # the three waiting at tick start, not the ones fed meanwhile
    assert report.timers == 1 and statuses(app) == ["completed"]  # the timer fired in the same tick
    waiting = inbox(app)  # what arrived meanwhile waits for the next tick, which again routes only that much
    assert runtime.fed >= 1 and waiting == 3 * runtime.fed
    assert runtime.tick().events == waiting and inbox(app) == 3 * runtime.fed - waiting


def test_a_backlog_is_routed_tick_limit_events_per_tick(app: Application, clock: VirtualClock) -> None:
    publish_journey(app.services, JOURNEY, actor="test")
    # without the contact pass, whose lifecycle events for the new contacts would join the inbox
    runtime = JourneyRuntime(app.services, batch_size=2, tick_limit=4, contact_pass=False)
    ingest(app, "signup", 10)

    assert [runtime.tick().events for _ in range(4)] == [4, 4, 2, 0]
    assert statuses(app) == ["waiting"] * 10
    clock.advance(timedelta(hours=2))
    assert [runtime.tick().timers for _ in range(4)] == [4, 4, 2, 0]  # due runs likewise
    assert statuses(app) == ["completed"] * 10
